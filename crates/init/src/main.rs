//! `berth-init`: the init that `run --init` puts at pid 1 of a container, in the place of
//! Docker's `docker-init` (tini). berthd bind-mounts it read-only at `/sbin/docker-init` and
//! makes the container's process `/sbin/docker-init -- CMD ARGS...`.
//!
//! Contract (tini's, which Docker users rely on):
//! - runs CMD as its only direct child, in a new process group that becomes the terminal's
//!   foreground group when stdin is a terminal (so ctrl-c reaches CMD, not the init);
//! - forwards every signal it receives (SIGTERM from `stop`, SIGINT, SIGHUP, SIGUSR1/2,
//!   SIGWINCH, real-time signals, ...) to CMD; `-g` forwards to CMD's whole process group;
//! - reaps every process that becomes its child (orphans are re-parented to pid 1), so no
//!   zombie is left behind;
//! - exits as soon as CMD exits, with CMD's exit status, or 128+N when CMD died of signal N;
//!   127 when CMD is not found and 126 when it cannot be executed (the shell's convention).
//!   Whatever CMD left running dies with the pid namespace when the init exits.
//!
//! Single-threaded, no tokio; statically linked (see build.rs) so that it runs in images
//! without a libc.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;
use nix::sys::signal::{
    sigaction, sigprocmask, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};
use nix::unistd::{getpgrp, getpid, setpgid, tcsetpgrp, Pid};

const NAME: &str = "berth-init";

const USAGE: &str = "usage: berth-init [-g] [-s] [--] COMMAND [ARG...]
Runs COMMAND as its child, forwards signals to it, reaps zombies, and exits with its status.
  -g         forward signals to COMMAND's process group instead of COMMAND alone
  -s         register as a child subreaper even when not pid 1 (automatic when not pid 1)
  --version  print the version and exit
  -h         print this help and exit";

/// Signals the init never blocks. Synchronous faults must kill a broken init rather than
/// leave it hanging; the terminal stop signals are ignored instead (see [`run`]).
const UNBLOCKED: [Signal; 9] = [
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGABRT,
    Signal::SIGTRAP,
    Signal::SIGSYS,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// The parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    /// Forward signals to the child's process group (`-g`).
    group: bool,
    /// Become a child subreaper even as pid 1 (`-s`; implied when not pid 1).
    subreaper: bool,
    /// The command and its arguments; never empty.
    command: Vec<OsString>,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Run(Options),
    /// `-h` or `--version`: print this and exit successfully.
    Print(String),
}

/// Parses `[-g] [-s] [--] COMMAND [ARG...]` (tini's syntax, which Docker uses as
/// `docker-init -- CMD`). Options stop at `--` or at the first non-option.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, String> {
    let mut args = args.into_iter().peekable();
    let mut group = false;
    let mut subreaper = false;
    while let Some(arg) = args.peek() {
        let Some(text) = arg.to_str() else { break };
        match text {
            "--" => {
                args.next();
                break;
            }
            "-g" => group = true,
            "-s" => subreaper = true,
            "-h" | "--help" => return Ok(Parsed::Print(USAGE.to_owned())),
            "--version" => {
                return Ok(Parsed::Print(format!(
                    "{NAME} version {}",
                    env!("CARGO_PKG_VERSION")
                )))
            }
            option if option.starts_with('-') && option.len() > 1 => {
                return Err(format!("unknown option {option}"))
            }
            _ => break,
        }
        args.next();
    }
    let command: Vec<OsString> = args.collect();
    if command.is_empty() {
        return Err("no command given".to_owned());
    }
    Ok(Parsed::Run(Options {
        group,
        subreaper,
        command,
    }))
}

/// The exit status the init reports for a wait status: the child's code, or 128+N when it
/// died of signal N.
fn exit_code(status: libc::c_int) -> Option<i32> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}

/// The shell's exit codes for a command that could not be started.
fn spawn_failure_code(errno: Option<i32>) -> i32 {
    match errno {
        Some(libc::ENOENT) => 127,
        Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EISDIR) => 126,
        _ => 1,
    }
}

fn warn(message: &str) {
    eprintln!("[{NAME}] {message}");
}

fn main() {
    let code = match parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(options)) => run(&options),
        Ok(Parsed::Print(text)) => {
            println!("{text}");
            0
        }
        Err(message) => {
            warn(&message);
            eprintln!("{USAGE}");
            1
        }
    };
    std::process::exit(code)
}

/// Blocks signals, starts the command, and supervises it until it exits. Returns the exit
/// status for the init.
fn run(options: &Options) -> i32 {
    let mut blocked = SigSet::all();
    for signal in UNBLOCKED {
        blocked.remove(signal);
    }
    // Every signal for the child is taken synchronously with sigwaitinfo. Why blocking works
    // for pid 1: the kernel drops signals that pid 1 of a namespace has no handler for, but
    // never a blocked one (it may get a handler before it is unblocked), so SIGTERM from
    // `stop` stays pending for us.
    let mut original_mask = SigSet::empty();
    if let Err(e) = sigprocmask(
        SigmaskHow::SIG_SETMASK,
        Some(&blocked),
        Some(&mut original_mask),
    ) {
        warn(&format!("blocking signals: {}", e.desc()));
        return 1;
    }
    // Handing the terminal to the child's process group (tcsetpgrp from a background group)
    // raises SIGTTOU unless it is ignored; a background read or write by the init would stop it.
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    let mut original_tty_actions = Vec::new();
    for signal in [Signal::SIGTTIN, Signal::SIGTTOU] {
        // SAFETY: installs SIG_IGN, which runs no code in this process.
        match unsafe { sigaction(signal, &ignore) } {
            Ok(old) => original_tty_actions.push((signal, old)),
            Err(e) => warn(&format!("ignoring {signal}: {}", e.desc())),
        }
    }
    // Orphans are re-parented to pid 1 anyway; anywhere else (a shared pid namespace, a test)
    // they come to us only as a registered subreaper.
    if options.subreaper || getpid() != Pid::from_raw(1) {
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            warn(&format!(
                "cannot register as a child subreaper ({}); orphans will not be reaped",
                e.desc()
            ));
        }
    }
    let child = match spawn(&options.command, original_mask, original_tty_actions) {
        Ok(child) => child,
        Err(code) => return code,
    };
    supervise(child, options.group, &blocked)
}

/// Forks and executes the command (PATH is searched with the container's environment).
/// Returns the child's pid, or the exit status for the init when the command cannot start.
fn spawn(
    command: &[OsString],
    original_mask: SigSet,
    original_tty_actions: Vec<(Signal, SigAction)>,
) -> Result<Pid, i32> {
    let Some((program, args)) = command.split_first() else {
        return Err(1);
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    let prepare = move || -> std::io::Result<()> {
        // A process group of its own, in the terminal's foreground when there is one.
        setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
        // SAFETY: fd 0 stays open (or is invalid, which tcsetpgrp reports as EBADF) for the
        // duration of the call.
        let stdin = unsafe { std::os::fd::BorrowedFd::borrow_raw(0) };
        match tcsetpgrp(stdin, getpgrp()) {
            // No terminal on stdin (or stdin closed): nothing to hand over.
            Ok(()) | Err(Errno::ENOTTY) | Err(Errno::ENXIO) | Err(Errno::EBADF) => {}
            Err(e) => return Err(e.into()),
        }
        for (signal, action) in &original_tty_actions {
            // SAFETY: restores the disposition this process inherited.
            unsafe { sigaction(*signal, action) }?;
        }
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&original_mask), None)?;
        Ok(())
    };
    // SAFETY: the closure runs in the forked child before exec and makes only
    // async-signal-safe system calls (setpgid, tcsetpgrp, sigaction, sigprocmask); it
    // allocates nothing (the Vec was built before the fork).
    unsafe { cmd.pre_exec(prepare) };
    match cmd.spawn() {
        Ok(child) => {
            let Ok(pid) = i32::try_from(child.id()) else {
                warn("child pid out of range");
                return Err(1);
            };
            // The child is reaped by `reap`, never through `Child` (dropping it does not wait).
            drop(child);
            Ok(Pid::from_raw(pid))
        }
        Err(e) => {
            let errno = e.raw_os_error();
            let reason = errno
                .map(|n| Errno::from_raw(n).desc().to_owned())
                .unwrap_or_else(|| e.to_string());
            warn(&format!(
                "exec {} failed: {reason}",
                program.to_string_lossy()
            ));
            Err(spawn_failure_code(errno))
        }
    }
}

/// Waits for signals: reaps on SIGCHLD, forwards everything else, and returns the child's
/// exit status once it is gone.
fn supervise(child: Pid, group: bool, blocked: &SigSet) -> i32 {
    loop {
        if let Some(code) = reap(child) {
            return code;
        }
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::uninit();
        // SAFETY: `blocked` is a valid sigset_t and `info` a writable siginfo_t.
        let signal = unsafe { libc::sigwaitinfo(blocked.as_ref(), info.as_mut_ptr()) };
        if signal < 0 {
            // EINTR (a stop/continue); nothing else can fail with a valid set.
            continue;
        }
        if signal == libc::SIGCHLD {
            continue;
        }
        forward(child, group, signal);
    }
}

/// Sends `signal` on to the child (or its process group).
fn forward(child: Pid, group: bool, signal: libc::c_int) {
    let target = if group {
        -child.as_raw()
    } else {
        child.as_raw()
    };
    // SAFETY: kill(2) with plain integers.
    if unsafe { libc::kill(target, signal) } != 0 {
        let errno = Errno::last();
        // ESRCH: the child is already gone; its SIGCHLD is on the way.
        if errno != Errno::ESRCH {
            warn(&format!(
                "forwarding signal {signal} to {target}: {}",
                errno.desc()
            ));
        }
    }
}

/// Reaps every exited child without blocking. Returns the init's exit status when the
/// command itself was among them.
fn reap(child: Pid) -> Option<i32> {
    let mut exited = None;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid out-pointer. Raw waitpid rather than nix's: nix cannot
        // represent deaths by real-time signals.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        // 0: children remain, none exited; -1 (ECHILD): no children at all.
        if pid <= 0 {
            return exited;
        }
        if pid == child.as_raw() {
            exited = exit_code(status).or(exited);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_dockers_command_line() {
        assert_eq!(
            parse(args(&["--", "sleep", "-x"])).unwrap(),
            Parsed::Run(Options {
                group: false,
                subreaper: false,
                command: args(&["sleep", "-x"]),
            })
        );
        assert_eq!(
            parse(args(&["-g", "-s", "sh", "-c", "true"])).unwrap(),
            Parsed::Run(Options {
                group: true,
                subreaper: true,
                command: args(&["sh", "-c", "true"]),
            })
        );
        // A command that looks like an option after `--` is the command.
        assert!(
            matches!(parse(args(&["--", "-weird"])), Ok(Parsed::Run(o)) if o.command == args(&["-weird"]))
        );
        assert!(matches!(
            parse(args(&["--version"])),
            Ok(Parsed::Print(v)) if v.starts_with("berth-init version")
        ));
        assert_eq!(parse(args(&["--"])).unwrap_err(), "no command given");
        assert_eq!(parse(args(&[])).unwrap_err(), "no command given");
        assert_eq!(
            parse(args(&["-x", "true"])).unwrap_err(),
            "unknown option -x"
        );
    }

    #[test]
    fn exit_statuses_follow_the_shell() {
        // Raw wait statuses: exit code in bits 8..16, terminating signal in the low 7 bits.
        assert_eq!(exit_code(3 << 8), Some(3));
        assert_eq!(exit_code(0), Some(0));
        assert_eq!(exit_code(libc::SIGTERM), Some(143));
        assert_eq!(exit_code(libc::SIGKILL), Some(137));
        assert_eq!(exit_code(0x7f | (libc::SIGSTOP << 8)), None);
        assert_eq!(spawn_failure_code(Some(libc::ENOENT)), 127);
        assert_eq!(spawn_failure_code(Some(libc::EACCES)), 126);
        assert_eq!(spawn_failure_code(None), 1);
    }
}
