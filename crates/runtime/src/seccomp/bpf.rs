//! Classic-BPF code generation for seccomp filters.
//!
//! The program is built backwards (last instruction first). Classic BPF only jumps forward, so
//! every jump target already exists when the jump is emitted and its distance is known: no
//! second pass, no label fix-ups. Conditional jumps reach at most 255 instructions; a farther
//! target gets a `ja` trampoline (32-bit offset) or, for a `ret`, a fresh copy of the `ret`.
//!
//! Layout (forward order):
//!
//! ```text
//!   ld arch; jeq ARCH_1 -> S1; jeq ARCH_2 -> S2; ret BAD_ARCH
//! S1: ld nr; [jge X32_BIT -> ret ENOSYS]; [jgt MAX_NR -> ret ENOSYS]
//!     binary search on nr (jge) down to runs of <= 4 `jeq nr -> rule chain | ret ACTION`
//!     rule chains: argument tests ending in `ret ACTION`, falling through to the next rule and
//!     finally to `ret DEFAULT`
//! S2: ...
//! ```
//!
//! A lookup costs about log2(n/4) + 4 comparisons (~11 for Docker's ~350 syscalls), against
//! up to n for a linear chain such as seccompiler's.

use oci_spec::runtime::LinuxSeccompOperator as Op;

use super::sock_filter;

const LD_W_ABS: u16 = 0x20;
const ALU_AND_K: u16 = 0x54;
const JMP_JA: u16 = 0x05;
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

/// Offsets in `struct seccomp_data` (little-endian: an argument's low word comes first).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

/// Longest run of syscalls tested one by one instead of split further.
const LEAF_RUN: usize = 4;

/// One argument comparison of a rule.
#[derive(Debug, Clone)]
pub(super) struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
    pub value_two: u64,
}

/// One rule of the profile (shared by all its syscall names and all sections).
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub conds: Vec<Cond>,
    pub action: u32,
}

/// Which rules apply to which syscall numbers in one section: `(nr, rule index)` pairs.
#[derive(Debug, Default)]
pub(super) struct Rules {
    entries: Vec<(u32, u32)>,
}

impl Rules {
    pub(super) fn add(&mut self, nr: u32, rule: u32) {
        self.entries.push((nr, rule));
    }
}

#[derive(Debug)]
struct Section {
    audit_arch: u32,
    rules: Rules,
    default: u32,
    too_new: Option<(u32, u32)>,
    x32: Option<(u32, u32)>,
    args32: bool,
}

/// A filter under construction: one section per audit architecture.
#[derive(Debug)]
pub(super) struct Program {
    rules: Vec<Rule>,
    sections: Vec<Section>,
}

impl Program {
    /// A program over `rules`, which sections refer to by index.
    pub(super) fn new(rules: Vec<Rule>) -> Program {
        Program {
            rules,
            sections: Vec::new(),
        }
    }

    /// Adds a section for `audit_arch`. `too_new`: (highest known nr, action for higher nrs);
    /// `x32`: (bit, action for nrs with the bit). `args32`: compare only low argument words.
    pub(super) fn add_section(
        &mut self,
        audit_arch: u32,
        rules: Rules,
        default: u32,
        too_new: Option<(u32, u32)>,
        x32: Option<(u32, u32)>,
        args32: bool,
    ) {
        self.sections.push(Section {
            audit_arch,
            rules,
            default,
            too_new,
            x32,
            args32,
        });
    }

    /// Generates the program; architectures without a section get `bad_arch`.
    pub(super) fn finish(mut self, bad_arch: u32) -> Vec<sock_filter> {
        let mut e = Emitter {
            rev: Vec::with_capacity(1024),
            rets: Vec::new(),
        };
        let mut entries = vec![0; self.sections.len()];
        for (i, s) in self.sections.iter_mut().enumerate().rev() {
            // Group by number, keeping profile order within a number.
            s.rules.entries.sort_unstable();
            entries[i] = e.section(s, &self.rules);
        }
        let mut next = Target::Ret(bad_arch);
        for (i, s) in self.sections.iter().enumerate().rev() {
            next = Target::Pos(e.jump(JMP_JEQ_K, s.audit_arch, Target::Pos(entries[i]), next));
        }
        e.place(next);
        e.stmt(LD_W_ABS, DATA_ARCH);
        e.rev.reverse();
        e.rev
    }
}

/// Where a jump goes: an emitted instruction (position counted from the program's end), or
/// "a `ret` with this action" (any copy will do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Pos(usize),
    Ret(u32),
}

#[derive(Debug)]
struct Emitter {
    /// Instructions in reverse order: `rev[i]` is the (i+1)-th from the end.
    rev: Vec<sock_filter>,
    /// Nearest (most recently emitted) `ret` of each action; a handful of actions at most.
    rets: Vec<(u32, usize)>,
}

impl Emitter {
    /// The position the next instruction will get.
    fn pos(&self) -> usize {
        self.rev.len()
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> usize {
        self.rev.push(sock_filter { code, jt, jf, k });
        self.rev.len() - 1
    }

    fn stmt(&mut self, code: u16, k: u32) -> usize {
        self.push(code, 0, 0, k)
    }

    fn ret(&mut self, action: u32) -> usize {
        let p = self.stmt(RET_K, action);
        match self.rets.iter_mut().find(|(a, _)| *a == action) {
            Some(slot) => slot.1 = p,
            None => self.rets.push((action, p)),
        }
        p
    }

    /// A position equivalent to `t` that a conditional jump emitted `slack` instructions from
    /// now can still reach (<= 255 ahead), emitting a `ret` copy or a `ja` if needed.
    fn reach(&mut self, t: Target, slack: usize) -> usize {
        let reachable = |e: &Emitter, q: usize| e.pos() + slack - q - 1 <= 255;
        match t {
            Target::Ret(a) => match self.rets.iter().find(|(x, _)| *x == a) {
                Some(&(_, q)) if reachable(self, q) => q,
                _ => self.ret(a),
            },
            Target::Pos(q) if reachable(self, q) => q,
            Target::Pos(q) => {
                let off = self.pos() - q - 1;
                self.stmt(JMP_JA, u32::try_from(off).unwrap_or(u32::MAX))
            }
        }
    }

    /// Emits `if (A <code> k) goto jt else goto jf`; returns its position.
    fn jump(&mut self, code: u16, k: u32, jt: Target, jf: Target) -> usize {
        // `jt` is resolved with one instruction of slack: resolving `jf` may emit a trampoline.
        let qt = self.reach(jt, 1);
        let qf = self.reach(jf, 0);
        let p = self.pos();
        let off = |q: usize| {
            debug_assert!(p - q - 1 <= 255);
            (p - q - 1) as u8
        };
        let (jt, jf) = (off(qt), off(qf));
        self.push(code, jt, jf, k)
    }

    /// Makes `t` the next instruction in forward order (the last emitted); returns its position.
    fn place(&mut self, t: Target) -> usize {
        match t {
            Target::Pos(p) if p + 1 == self.pos() => p,
            Target::Pos(p) => {
                let off = self.pos() - p - 1;
                self.stmt(JMP_JA, u32::try_from(off).unwrap_or(u32::MAX))
            }
            Target::Ret(a) => self.ret(a),
        }
    }

    /// Emits one architecture's section; returns its entry position.
    fn section(&mut self, s: &Section, rules: &[Rule]) -> usize {
        let default = Target::Ret(s.default);
        let mut keys = Vec::with_capacity(s.rules.entries.len());
        for chunk in s.rules.entries.chunk_by(|a, b| a.0 == b.0) {
            let chain = chunk.iter().filter_map(|(_, i)| rules.get(*i as usize));
            let t = self.rule_chain(chain, s.default, s.args32);
            if t != default {
                keys.push((chunk[0].0, t));
            }
        }
        let mut entry = if keys.is_empty() {
            default
        } else {
            Target::Pos(self.tree(&keys, default))
        };
        if let Some((max, action)) = s.too_new {
            entry = Target::Pos(self.jump(JMP_JGT_K, max, Target::Ret(action), entry));
        }
        if let Some((bit, action)) = s.x32 {
            entry = Target::Pos(self.jump(JMP_JGE_K, bit, Target::Ret(action), entry));
        }
        self.place(entry);
        self.stmt(LD_W_ABS, DATA_NR)
    }

    /// Binary search over `keys` (sorted by nr); misses go to `default`.
    fn tree(&mut self, keys: &[(u32, Target)], default: Target) -> usize {
        if keys.len() <= LEAF_RUN {
            let mut next = default;
            for (nr, t) in keys.iter().rev() {
                next = Target::Pos(self.jump(JMP_JEQ_K, *nr, *t, next));
            }
            return match next {
                Target::Pos(p) => p,
                // Unreachable: callers never pass an empty slice.
                Target::Ret(a) => self.ret(a),
            };
        }
        let mid = keys.len() / 2;
        let right = self.tree(&keys[mid..], default);
        let left = self.tree(&keys[..mid], default);
        self.jump(
            JMP_JGE_K,
            keys[mid].0,
            Target::Pos(right),
            Target::Pos(left),
        )
    }

    /// The rules of one syscall: conditional ones in order, then the first unconditional one,
    /// then the default.
    fn rule_chain<'r>(
        &mut self,
        rules: impl DoubleEndedIterator<Item = &'r Rule> + Clone,
        default: u32,
        args32: bool,
    ) -> Target {
        let fallback = rules
            .clone()
            .find(|r| r.conds.is_empty())
            .map_or(default, |r| r.action);
        let mut next = Target::Ret(fallback);
        for r in rules.rev().filter(|r| !r.conds.is_empty()) {
            if Target::Ret(r.action) == next {
                continue; // matching or not, the outcome is the same
            }
            let mut t = Target::Ret(r.action);
            for c in r.conds.iter().rev() {
                t = Target::Pos(self.cond(c, t, next, args32));
            }
            next = t;
        }
        next
    }

    /// Emits one argument test; returns its entry position.
    fn cond(&mut self, c: &Cond, t: Target, f: Target, args32: bool) -> usize {
        let lo_off = DATA_ARGS + 8 * u32::from(c.index);
        let hi_off = lo_off + 4;
        let split = |v: u64| (v as u32, (v >> 32) as u32);
        let (lo, hi) = split(c.value);
        match c.op {
            Op::ScmpCmpEq => self.eq(lo_off, hi_off, (lo, hi), None, t, f, args32),
            Op::ScmpCmpNe => self.eq(lo_off, hi_off, (lo, hi), None, f, t, args32),
            Op::ScmpCmpMaskedEq => {
                // OCI/libseccomp: `value` is the mask, `valueTwo` the expected masked value.
                let mask = split(c.value);
                let want = split(c.value_two & c.value);
                self.eq(lo_off, hi_off, want, Some(mask), t, f, args32)
            }
            Op::ScmpCmpGt => self.greater(JMP_JGT_K, lo_off, hi_off, (lo, hi), t, f, args32),
            Op::ScmpCmpGe => self.greater(JMP_JGE_K, lo_off, hi_off, (lo, hi), t, f, args32),
            // a < v  <=>  !(a >= v);  a <= v  <=>  !(a > v)
            Op::ScmpCmpLt => self.greater(JMP_JGE_K, lo_off, hi_off, (lo, hi), f, t, args32),
            Op::ScmpCmpLe => self.greater(JMP_JGT_K, lo_off, hi_off, (lo, hi), f, t, args32),
        }
    }

    /// `(arg & mask) == want`, word by word (high word first in forward order).
    #[allow(clippy::too_many_arguments)]
    fn eq(
        &mut self,
        lo_off: u32,
        hi_off: u32,
        want: (u32, u32),
        mask: Option<(u32, u32)>,
        t: Target,
        f: Target,
        args32: bool,
    ) -> usize {
        self.jump(JMP_JEQ_K, want.0, t, f);
        if let Some((m, _)) = mask {
            self.stmt(ALU_AND_K, m);
        }
        let lo_entry = self.stmt(LD_W_ABS, lo_off);
        if args32 {
            return lo_entry;
        }
        self.jump(JMP_JEQ_K, want.1, Target::Pos(lo_entry), f);
        if let Some((_, m)) = mask {
            self.stmt(ALU_AND_K, m);
        }
        self.stmt(LD_W_ABS, hi_off)
    }

    /// `arg > v` (`code` = jgt) or `arg >= v` (jge), unsigned 64-bit:
    /// `hi > v.hi || (hi == v.hi && lo <op> v.lo)`.
    #[allow(clippy::too_many_arguments)]
    fn greater(
        &mut self,
        code: u16,
        lo_off: u32,
        hi_off: u32,
        v: (u32, u32),
        t: Target,
        f: Target,
        args32: bool,
    ) -> usize {
        self.jump(code, v.0, t, f);
        let lo_entry = self.stmt(LD_W_ABS, lo_off);
        if args32 {
            return lo_entry;
        }
        let hi_eq = self.jump(JMP_JEQ_K, v.1, Target::Pos(lo_entry), f);
        self.jump(JMP_JGT_K, v.1, t, Target::Pos(hi_eq));
        self.stmt(LD_W_ABS, hi_off)
    }
}

/// A classic-BPF interpreter for seccomp programs, for tests: returns the action for
/// `(arch, nr, args)`.
#[cfg(test)]
pub(super) fn run(program: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let word = |off: u32| -> u32 {
        match off {
            0 => nr,
            4 => arch,
            o if (16..64).contains(&o) => {
                let i = ((o - 16) / 8) as usize;
                if (o - 16) % 8 == 0 {
                    args[i] as u32
                } else {
                    (args[i] >> 32) as u32
                }
            }
            _ => panic!("load from offset {off}"),
        }
    };
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = &program[pc];
        pc += 1;
        match ins.code {
            LD_W_ABS => a = word(ins.k),
            ALU_AND_K => a &= ins.k,
            JMP_JA => pc += ins.k as usize,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                let taken = match ins.code {
                    JMP_JEQ_K => a == ins.k,
                    JMP_JGT_K => a > ins.k,
                    _ => a >= ins.k,
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            RET_K => return ins.k,
            c => panic!("unknown opcode {c:#x} at {}", pc - 1),
        }
    }
}
