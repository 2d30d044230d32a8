//! `run`: create and start in one go; in the foreground, wait and clean up like `runc run`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
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
    if terminal && opts.console_socket.is_none() && opts.detach {
        return Err(Error::InvalidArgument(
            "a detached container with a terminal needs --console-socket".into(),
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
    let code = match (&launched.pty_master, &opts.console_socket) {
        // Like `runc run` with a terminal: our stdio drives the container's pty.
        (Some(master), None) => tty_session(launched.pid, master.as_fd(), &set)?,
        _ => wait_forwarding(launched.pid, &set)?,
    };
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

/// Puts our terminal (if stdin is one) in raw mode and restores it on drop.
struct RawMode(Option<libc::termios>);

impl RawMode {
    fn enter() -> RawMode {
        // SAFETY: termios calls on fd 0 with structs we own.
        unsafe {
            if libc::isatty(0) != 1 {
                return RawMode(None);
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode(Some(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores the attributes saved in `enter`.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}

fn copy_winsize(master: BorrowedFd<'_>) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a struct we own.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Copies our stdin to the pty and the pty to our stdout until the container's init exits,
/// forwarding signals (SIGWINCH becomes a resize). Returns the init's exit code.
fn tty_session(pid: i32, master: BorrowedFd<'_>, set: &SigSet) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::sys("signalfd", e))?;
    let _raw = RawMode::enter();
    copy_winsize(master);
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    let mut master_open = true;
    let mut code = None;
    let io = |fd: i32, buf: &mut [u8]| -> isize {
        // SAFETY: read into our own buffer.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
    };
    let write_all = |fd: i32, mut data: &[u8]| {
        while !data.is_empty() {
            // SAFETY: write from our own buffer.
            let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
            if n <= 0 {
                return;
            }
            data = &data[n as usize..];
        }
    };
    while master_open {
        let stdin = std::io::stdin();
        let mut fds = vec![
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(master, PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        // Once the init is gone, only drain what the pty still holds.
        let timeout = if code.is_some() {
            PollTimeout::from(100u8)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) => break,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => loop {
                        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => code = Some(c),
                            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => {
                                code = Some(128 + s as i32)
                            }
                            Ok(WaitStatus::StillAlive) | Err(_) => break,
                            Ok(_) => {}
                        }
                    },
                    Ok(Signal::SIGWINCH) => copy_winsize(master),
                    Ok(s) => {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), s);
                    }
                    Err(_) => {}
                }
            }
        }
        if ready[1] {
            let n = io(master.as_raw_fd(), &mut buf);
            if n <= 0 {
                // EIO: every slave fd is closed.
                master_open = false;
            } else {
                write_all(1, &buf[..n as usize]);
            }
        }
        if ready.get(2).copied().unwrap_or(false) {
            let n = io(0, &mut buf);
            if n <= 0 {
                stdin_open = false;
            } else {
                write_all(master.as_raw_fd(), &buf[..n as usize]);
            }
        }
    }
    match code {
        Some(c) => Ok(c),
        None => wait_forwarding(pid, set),
    }
}
