//! Seccomp tests: the generated BPF is checked against a reference evaluation of the profile by
//! running it in a small BPF interpreter, and the default profile is loaded into a real forked
//! process. The kernel test needs root (CAP_SYS_ADMIN to load without no_new_privs); it skips
//! without it, except under `CI=true`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use oci_spec::runtime::{
    Capability, LinuxSeccomp, LinuxSeccompAction as Act, LinuxSeccompOperator as Op,
};

use super::bpf::run;
use super::*;
use crate::defaults::{default_capabilities, default_seccomp_profile};

fn nr(table: &[(&str, u32)], name: &str) -> u32 {
    lookup(table, name).unwrap_or_else(|| panic!("{name} not in table"))
}

fn args(a0: u64, a1: u64) -> [u64; 6] {
    [a0, a1, 0, 0, 0, 0]
}

/// What the profile says for `(nr, args)` on a section, evaluated directly on the OCI data.
fn reference(
    profile: &LinuxSeccomp,
    table: &[(&str, u32)],
    max: u32,
    x32_guard: bool,
    args32: bool,
    nr: u32,
    a: [u64; 6],
) -> u32 {
    // 32-bit ABIs: only the low words of arguments and rule values count.
    let word = |v: u64| if args32 { v & 0xffff_ffff } else { v };
    let a = a.map(word);
    if x32_guard && nr & X32_SYSCALL_BIT != 0 {
        return ret::ERRNO | ENOSYS;
    }
    let default = action_value(profile.default_action(), profile.default_errno_ret()).unwrap();
    if profile.default_action() == Act::ScmpActErrno && nr > max {
        return ret::ERRNO | ENOSYS;
    }
    let rules: Vec<_> = profile
        .syscalls()
        .iter()
        .flatten()
        .filter(|s| s.names().iter().any(|n| lookup(table, n) == Some(nr)))
        .collect();
    for r in rules
        .iter()
        .filter(|r| r.args().as_ref().is_some_and(|a| !a.is_empty()))
    {
        let all = r.args().iter().flatten().all(|c| {
            let (v, value) = (a[c.index()], word(c.value()));
            match c.op() {
                Op::ScmpCmpEq => v == value,
                Op::ScmpCmpNe => v != value,
                Op::ScmpCmpLt => v < value,
                Op::ScmpCmpLe => v <= value,
                Op::ScmpCmpGt => v > value,
                Op::ScmpCmpGe => v >= value,
                Op::ScmpCmpMaskedEq => v & value == word(c.value_two().unwrap_or(0)) & value,
            }
        });
        if all {
            return action_value(r.action(), r.errno_ret()).unwrap();
        }
    }
    rules
        .iter()
        .find(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
        .map_or(default, |r| {
            action_value(r.action(), r.errno_ret()).unwrap()
        })
}

/// Interesting argument values: the profile's constants, their neighbours, high-word variants.
const ARG_SAMPLES: &[u64] = &[
    0,
    1,
    7,
    8,
    9,
    17,
    39,
    40,
    41,
    0x20000,
    0x20008,
    0x0040_0000,
    0x1000_0000 | 17,
    0x7E02_0000,
    0xffff_fffe,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0028,
    0xffff_ffff_ffff_ffff,
];

fn check_section_matches_reference(
    profile: &LinuxSeccomp,
    prog: &[sock_filter],
    audit_arch: u32,
    table: &[(&str, u32)],
    max: u32,
    x32_guard: bool,
    args32: bool,
) {
    let mut nrs: Vec<u32> = (0..=max + 20).collect();
    nrs.extend([X32_SYSCALL_BIT, X32_SYSCALL_BIT | 1, u32::MAX]);
    for nr in nrs {
        for &a0 in ARG_SAMPLES {
            for &a1 in &ARG_SAMPLES[..4] {
                let a = args(a0, a1);
                let want = reference(profile, table, max, x32_guard, args32, nr, a);
                let got = run(prog, audit_arch, nr, a);
                assert_eq!(got, want, "arch {audit_arch:#x} nr {nr} args {a:x?}");
            }
        }
    }
}

#[test]
fn default_profile_matches_reference_on_every_syscall() {
    for caps in [
        default_capabilities(),
        vec![],
        crate::defaults::all_capabilities(),
    ] {
        let profile = default_seccomp_profile(&caps);
        let prog = compile_for(&profile, TargetArch::X86_64).unwrap();
        check_section_matches_reference(
            &profile,
            &prog,
            AUDIT_ARCH_X86_64,
            syscall_table::X86_64,
            syscall_table::X86_64_MAX,
            true,
            false,
        );
        check_section_matches_reference(
            &profile,
            &prog,
            AUDIT_ARCH_I386,
            syscall_table::X86,
            syscall_table::X86_MAX,
            false,
            true,
        );
        let arm = compile_for(&profile, TargetArch::Aarch64).unwrap();
        check_section_matches_reference(
            &profile,
            &arm,
            AUDIT_ARCH_AARCH64,
            syscall_table::AARCH64,
            syscall_table::AARCH64_MAX,
            false,
            false,
        );
        assert_eq!(run(&arm, AUDIT_ARCH_X86_64, 0, [0; 6]), ret::KILL_PROCESS);
    }
}

#[test]
fn default_profile_spot_checks() {
    let t = syscall_table::X86_64;
    let eperm = ret::ERRNO | EPERM;
    let p = compile_for(
        &default_seccomp_profile(&default_capabilities()),
        TargetArch::X86_64,
    )
    .unwrap();
    let x = |name: &str, a0: u64| run(&p, AUDIT_ARCH_X86_64, nr(t, name), args(a0, 0));
    assert_eq!(x("read", 0), ret::ALLOW);
    assert_eq!(x("mount", 0), eperm);
    assert_eq!(x("unshare", 0), eperm);
    assert_eq!(x("keyctl", 0), eperm);
    assert_eq!(x("clone", 17), ret::ALLOW);
    assert_eq!(x("clone", 0x1000_0000 | 17), eperm, "CLONE_NEWUSER");
    assert_eq!(x("clone3", 0), ret::ERRNO | ENOSYS);
    assert_eq!(x("personality", 0xffff_ffff), ret::ALLOW);
    assert_eq!(x("personality", 0x0040_0000), eperm, "ADDR_NO_RANDOMIZE");
    assert_eq!(x("socket", 1), ret::ALLOW);
    assert_eq!(x("socket", 40), eperm, "AF_VSOCK");
    assert_eq!(x("fchmodat2", 0), ret::ALLOW);
    assert_eq!(x("cachestat", 0), eperm);
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, 600, [0; 6]), ret::ERRNO | ENOSYS);
    assert_eq!(
        run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]),
        ret::ERRNO | ENOSYS
    );
    assert_eq!(run(&p, AUDIT_ARCH_AARCH64, 0, [0; 6]), ret::KILL_PROCESS);
    let i386 = |name: &str| run(&p, AUDIT_ARCH_I386, nr(syscall_table::X86, name), [0; 6]);
    assert_eq!(i386("socketcall"), ret::ALLOW);
    assert_eq!(i386("mount"), eperm);

    let mut caps = default_capabilities();
    caps.push(Capability::SysAdmin);
    let admin = compile_for(&default_seccomp_profile(&caps), TargetArch::X86_64).unwrap();
    let y = |name: &str, a0: u64| run(&admin, AUDIT_ARCH_X86_64, nr(t, name), args(a0, 0));
    assert_eq!(y("mount", 0), ret::ALLOW);
    assert_eq!(y("clone", 0x1000_0000 | 17), ret::ALLOW);
    assert_eq!(y("clone3", 0), ret::ALLOW);
    assert!(p.len() < MAX_INSTRUCTIONS);
}

fn profile_json(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).unwrap()
}

#[test]
fn operators_and_actions_match_reference() {
    let profile = profile_json(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
             "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_LT"}]},
            {"names": ["write"], "action": "SCMP_ACT_KILL_PROCESS",
             "args": [{"index": 2, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_GE"},
                      {"index": 0, "value": 2, "op": "SCMP_CMP_LE"}]},
            {"names": ["openat"], "action": "SCMP_ACT_TRAP",
             "args": [{"index": 1, "value": 0xff00_0000_00ffu64, "valueTwo": 0x1200_0000_0034u64,
                       "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["close"], "action": "SCMP_ACT_LOG",
             "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_GT"}]},
            {"names": ["close"], "action": "SCMP_ACT_KILL"},
            {"names": ["dup"], "action": "SCMP_ACT_TRACE", "errnoRet": 7,
             "args": [{"index": 5, "value": 3, "op": "SCMP_CMP_NE"}]},
            {"names": ["no_such_syscall", "getpid"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    let prog = compile_for(&profile, TargetArch::X86_64).unwrap();
    let t = syscall_table::X86_64;
    let values = [
        0u64,
        1,
        2,
        3,
        9,
        10,
        11,
        0x34,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0x1200_0000_0034,
        0x1234_5678_9a34,
        0x1200_0000_0035,
        u64::MAX,
    ];
    for name in [
        "read", "write", "openat", "close", "dup", "getpid", "getppid",
    ] {
        let n = nr(t, name);
        for &a in &values {
            for &b in &values {
                let a = [a, b, a, 0, 0, b];
                let want = reference(&profile, t, syscall_table::X86_64_MAX, true, false, n, a);
                assert_eq!(run(&prog, AUDIT_ARCH_X86_64, n, a), want, "{name} {a:x?}");
            }
        }
    }
    // Default ALLOW: numbers above the table are allowed too (no ENOSYS rewrite).
    assert_eq!(run(&prog, AUDIT_ARCH_X86_64, 999, [0; 6]), ret::ALLOW);
    assert_eq!(
        run(&prog, AUDIT_ARCH_X86_64, nr(t, "getpid"), [0; 6]),
        ret::ERRNO | EPERM
    );
    assert_eq!(
        run(&prog, AUDIT_ARCH_X86_64, nr(t, "close"), [5, 0, 0, 0, 0, 0]),
        ret::KILL_THREAD
    );
}

#[test]
fn far_jumps_get_trampolines() {
    // Many conditional rules make jump distances exceed the 255 a conditional jump can reach.
    let names: Vec<&str> = syscall_table::X86_64
        .iter()
        .map(|(n, _)| *n)
        .take(300)
        .collect();
    let syscalls: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            serde_json::json!({"names": [n], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": i % 6, "value": i as u64 * 3, "op": "SCMP_CMP_GE"},
                         {"index": (i + 1) % 6, "value": 0xf0, "valueTwo": 0x10,
                          "op": "SCMP_CMP_MASKED_EQ"}]})
        })
        .collect();
    let profile = profile_json(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO", "syscalls": syscalls
    }));
    let prog = compile_for(&profile, TargetArch::X86_64).unwrap();
    assert!(prog.len() > 3000, "{}", prog.len());
    for &(name, n) in syscall_table::X86_64.iter().take(320) {
        for a in [
            [0, 0x10, 0x10, 0x10, 0x10, 0x10],
            [900, 0x1f, 0x1f, 0x1f, 0x1f, 0x1f],
            [5; 6],
        ] {
            let want = reference(
                &profile,
                syscall_table::X86_64,
                syscall_table::X86_64_MAX,
                true,
                false,
                n,
                a,
            );
            assert_eq!(run(&prog, AUDIT_ARCH_X86_64, n, a), want, "{name}");
        }
    }
}

#[test]
fn unknown_names_are_skipped_and_bad_input_rejected() {
    let p = profile_json(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["not_a_syscall", "arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let prog = compile(&p).unwrap();
    assert!(!prog.is_empty());
    let bad_index = profile_json(serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                      "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
    }));
    assert!(matches!(compile(&bad_index), Err(Error::ArgIndex { .. })));
    let notify = profile_json(serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(matches!(
        compile(&notify),
        Err(Error::UnsupportedAction { .. })
    ));
    assert!(matches!(apply(&[]), Err(Error::Empty)));
}

#[test]
fn name_index_agrees_with_the_table() {
    for table in [
        syscall_table::X86_64,
        syscall_table::X86,
        syscall_table::AARCH64,
    ] {
        let index = NameIndex::new(table);
        for (name, nr) in table {
            assert_eq!(index.get(name), Some(*nr), "{name}");
            assert_eq!(lookup(table, name), Some(*nr), "{name}");
        }
        assert_eq!(index.get("not_a_syscall"), None);
        assert_eq!(index.get(""), None);
        assert!(
            table.windows(2).all(|w| w[0].0 < w[1].0),
            "table sorted and unique"
        );
    }
}

#[test]
fn compile_time_report() {
    // Not an assertion (timings belong in benchmarks): printed for the record with --nocapture.
    let caps = default_capabilities();
    let profile = default_seccomp_profile(&caps);
    let mut times = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let prog = compile(&profile).unwrap();
        times.push(start.elapsed());
        std::hint::black_box(prog);
    }
    times.sort();
    let start = Instant::now();
    for _ in 0..200 {
        std::hint::black_box(default_seccomp_profile(&caps));
    }
    let gen = start.elapsed() / 200;
    let prog = compile(&profile).unwrap();
    eprintln!(
        "seccomp: default profile -> {} instructions; compile median {:?}, min {:?}; profile build {:?}",
        prog.len(),
        times[times.len() / 2],
        times[0],
        gen
    );
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Whether /proc/self/status says `Seccomp:\t2`, without allocating (runs after fork).
fn status_says_filtered() -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: a NUL-terminated path literal; the fd is closed below.
    let fd = unsafe { libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY) };
    if fd < 0 {
        return false;
    }
    let mut len = 0usize;
    loop {
        // SAFETY: reading into the unused tail of a stack buffer we own.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
        if len == buf.len() {
            break;
        }
    }
    // SAFETY: closing the fd opened above.
    unsafe { libc::close(fd) };
    let needle = b"Seccomp:\t2\n";
    buf[..len].windows(needle.len()).any(|w| w == needle)
}

/// Runs in the forked child: loads the filter, then probes syscalls. Returns 0 or the number of
/// the first failed check. Only raw syscalls: no allocation after fork.
fn child_checks(prog: &[sock_filter]) -> i32 {
    if apply(prog).is_err() {
        return 1;
    }
    if !status_says_filtered() {
        return 2;
    }
    // SAFETY (all blocks below): plain syscalls with integer or null arguments.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != -1 || last_errno() != libc::EPERM {
        return 3;
    }
    if unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) } != -1
        || last_errno() != libc::EPERM
    {
        return 4;
    }
    if unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) } != -1
        || last_errno() != libc::ENOSYS
    {
        return 5;
    }
    if unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) } != -1
        || last_errno() != libc::EPERM
    {
        return 6;
    }
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return 7;
    }
    unsafe { libc::close(fd) };
    if unsafe { libc::getpid() } <= 0 {
        return 8;
    }
    if unsafe { libc::personality(0xffff_ffff) } < 0 {
        return 9;
    }
    let mount = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/tmp".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if mount != -1 || last_errno() != libc::EPERM {
        return 10;
    }
    // fork = clone(SIGCHLD): no namespace flags, allowed.
    match unsafe { libc::fork() } {
        -1 => return 11,
        0 => unsafe { libc::_exit(0) },
        pid => {
            let mut status = 0;
            if unsafe { libc::waitpid(pid, &mut status, 0) } != pid || status != 0 {
                return 12;
            }
        }
    }
    0
}

#[test]
fn default_profile_blocks_and_allows_in_a_real_process() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(!in_ci(), "seccomp kernel test needs root under CI=true");
        eprintln!("skipping seccomp kernel test: not root");
        return;
    }
    let prog = compile(&default_seccomp_profile(&default_capabilities())).unwrap();
    // SAFETY: the child only makes raw syscalls (no allocation, no locks) and then _exits.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let code = child_checks(&prog);
            // SAFETY: terminating the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            assert_eq!(
                status,
                nix::sys::wait::WaitStatus::Exited(child, 0),
                "child check failed (see child_checks for the number)"
            );
        }
    }
}

#[test]
fn ordinary_programs_run_under_the_default_profile() {
    use std::os::unix::process::CommandExt as _;
    if !nix::unistd::Uid::effective().is_root() {
        assert!(!in_ci(), "seccomp kernel test needs root under CI=true");
        return;
    }
    let prog = compile(&default_seccomp_profile(&default_capabilities())).unwrap();
    // Pipes, fork/exec, threads (glibc's pthread_create tries clone3, gets ENOSYS, falls back to
    // clone), and a blocked syscall seen from a shell.
    let script = "grep -q '^Seccomp:.2$' /proc/self/status \
        && seq 200000 | sort -n -r --parallel=2 -S 1M | head -1 | grep -qx 200000 \
        && ls / >/dev/null && ! unshare -U true 2>/dev/null";
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", script]);
    // SAFETY: `apply` is async-signal-safe (no allocation, one syscall).
    unsafe {
        cmd.pre_exec(move || apply(&prog).map_err(|_| std::io::Error::last_os_error()));
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "{status:?}");
}
