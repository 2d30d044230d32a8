//! `run`: create and start in one go; in the foreground, wait and clean up like `runc run`.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::{prepare, record};
use crate::launch::{launch, LaunchOptions, Stdio};
use crate::{Error, Result};

/// Options of [`run`].
#[derive(Debug, Default)]
pub struct RunOptions {
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Return right after the process started (state stays until `delete`).
    pub detach: bool,
}

/// Signals forwarded to the container in the foreground.
const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Runs container `id`. Detached: returns 0 once the process exec'd. Foreground: forwards
/// signals, waits, deletes the container and returns its exit code (128+signal if killed).
/// Must be called from a single-threaded process.
pub fn run(root: &Path, id: &str, bundle_dir: &Path, opts: RunOptions) -> Result<i32> {
    let (mut guard, bundle) = prepare(root, id, bundle_dir)?;
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if terminal && opts.console_socket.is_none() {
        return Err(Error::Unsupported(
            "a terminal without --console-socket is not supported".into(),
        ));
    }
    // Block the signals we forward (and SIGCHLD) before the child exists so none is lost; the
    // init restores an empty mask before exec.
    let mut set = SigSet::empty();
    if !opts.detach {
        for s in FORWARDED {
            set.add(s);
        }
        set.add(Signal::SIGCHLD);
        set.thread_block()
            .map_err(|e| Error::sys("sigprocmask", e))?;
    }
    let launched = launch(LaunchOptions {
        id,
        bundle: &bundle,
        stdio: Stdio::default(),
        exec_fifo: None,
    })?;
    let recorded = (|| {
        if let (Some(sock), Some(master)) = (&opts.console_socket, &launched.pty_master) {
            crate::tty::send_console(sock, master.as_fd())?;
        }
        record(root, id, &bundle, &launched, opts.pid_file.as_deref())
    })();
    if let Err(e) = recorded {
        let _ = nix::sys::signal::kill(Pid::from_raw(launched.pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(launched.pid), None);
        let _ = launched.cgroup.destroy();
        return Err(e);
    }
    if opts.detach {
        guard.0 = None;
        return Ok(0);
    }
    let code = wait_forwarding(launched.pid, &set)?;
    // The container is gone: like `runc run`, delete it (remaining processes, cgroup, state).
    let _ = launched.cgroup.kill_all(Signal::SIGKILL);
    let cg_res = launched.cgroup.destroy();
    drop(guard);
    cg_res.map_err(|e| Error::cgroup("destroy", e))?;
    Ok(code)
}

/// Blocks the signals forwarded to a foreground child (and SIGCHLD); call before creating it.
pub(crate) fn block_forwarded() -> Result<SigSet> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.add(Signal::SIGCHLD);
    set.thread_block()
        .map_err(|e| Error::sys("sigprocmask", e))?;
    Ok(set)
}

/// Waits for child `pid`, forwarding the signals in `set` to it (they must be blocked); returns
/// its exit code (128+signal when killed). Other children are reaped along the way.
pub(crate) fn wait_forwarding(pid: i32, set: &SigSet) -> Result<i32> {
    let pid = Pid::from_raw(pid);
    loop {
        let sig = set.wait().map_err(|e| Error::sys("sigwait", e))?;
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(pid, sig);
            continue;
        }
        let mut done = None;
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p == pid => done = Some(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p == pid => done = Some(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(c) = done {
            return Ok(c);
        }
    }
}
