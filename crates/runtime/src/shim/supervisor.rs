//! The shim's supervisor process: launch, then one poll(2) loop until the container is gone.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::log::JsonLog;
use super::{error_line, send_handshake, Args};
use crate::bundle::Bundle;
use crate::cgroups::Cgroup;
use crate::launch::{launch, LaunchOptions, Stdio};
use crate::{Error, Result};

/// Signals sent to the shim that it forwards to the container's init.
const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// After the init exits, how long to wait for the output pipes to reach EOF (processes outside
/// the container's pid namespace could hold them open forever). Not on any latency path.
const DRAIN_TIMEOUT_MS: u16 = 5000;

const READ_BUF: usize = 32 * 1024;

/// Runs the supervisor; returns the process exit status.
pub(super) fn run(args: &Args, handshake: OwnedFd) -> i32 {
    let prepared = match prepare(args) {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_file(args.state_dir.join("shim.sock"));
            send_handshake(handshake, &error_line(&e));
            return 1;
        }
    };
    let mut sup = prepared;
    let line = format!(
        "{{\"shim_pid\": {}, \"pid\": {}}}\n",
        std::process::id(),
        sup.init
    );
    send_handshake(handshake, &line);
    // Give back what spec parsing and setup allocated; the loop runs on small buffers.
    shed_memory();
    sup.event_loop();
    sup.finish(args)
}

/// Drops the memory setup needed but the event loop does not, so a shim idles well under 1 MB
/// of RSS: free heap goes back to the kernel, clean file-backed pages (code and read-only data of
/// the shim and libc, mostly touched while parsing the spec and creating the container) are
/// unmapped from this process, and so is the stack below the current frame.
///
/// Why this is safe: `MADV_DONTNEED` on a private file mapping that holds no anonymous (COWed)
/// pages only drops page-table entries; the next access refaults the same page from the page
/// cache. Mappings with any anonymous page (relocated data) are left alone, as is anything
/// writable. Stack pages below the stack pointer hold no live data.
fn shed_memory() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    let mut targets: Vec<(usize, usize)> = Vec::new();
    let mut stack: Option<(usize, usize)> = None;
    if let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") {
        let mut cur: Option<(usize, usize, bool)> = None;
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let Some(first) = fields.next() else { continue };
            if first.ends_with(':') {
                if first == "Anonymous:" {
                    if let (Some((s, e, true)), Some("0")) = (cur, fields.next()) {
                        targets.push((s, e));
                    }
                }
                continue;
            }
            let Some((a, b)) = first.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                cur = None;
                continue;
            };
            let perms = fields.next().unwrap_or("");
            let path = fields.nth(3).unwrap_or("");
            if path == "[stack]" {
                stack = Some((start, end));
            }
            cur = Some((start, end, path.starts_with('/') && !perms.contains('w')));
        }
    }
    for (start, end) in targets {
        // SAFETY: see the function comment; the range is a whole mapping from smaps.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
    if let Some((start, end)) = stack {
        let probe = 0u8;
        let sp = std::ptr::addr_of!(probe) as usize;
        // Keep a margin below our frame for the calls made from here on.
        let top = sp.saturating_sub(16 * 1024) & !4095;
        if top > start && top < end {
            // SAFETY: pages below the current stack pointer (minus a margin) hold no live data.
            unsafe { libc::madvise(start as *mut libc::c_void, top - start, libc::MADV_DONTNEED) };
        }
    }
}

enum ConnMode {
    /// Reading the one-line request.
    Request(Vec<u8>),
    /// Copying bytes into the container's stdin.
    Stdin,
}

struct Conn {
    stream: UnixStream,
    mode: ConnMode,
}

struct Supervisor {
    init: i32,
    cgroup: Cgroup,
    new_pidns: bool,
    log: JsonLog,
    sfd: SignalFd,
    listener: UnixListener,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    conns: Vec<Conn>,
    /// Bytes read from a stdin connection not yet written to the container.
    pending: Vec<u8>,
    exit_code: Option<i32>,
    buf: Vec<u8>,
}

fn prepare(args: &Args) -> Result<Supervisor> {
    // Detach from the engine: own session, stdio on /dev/null.
    let _ = nix::unistd::setsid();
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::io("open", "/dev/null", e))?;
    for fd in 0..3 {
        crate::sys::dup2(devnull.as_raw_fd(), fd)?;
    }
    drop(devnull);
    // Why: processes the container daemonizes outside its pid namespace (shared pid namespace)
    // are reparented to us, so we can reap them.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Error::sys("prctl(PR_SET_CHILD_SUBREAPER)", e))?;

    // Signals become events on a signalfd; block them first so none is lost or kills us.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    for s in FORWARDED {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| Error::sys("sigprocmask", e))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::sys("signalfd", e))?;

    let sock = args.state_dir.join("shim.sock");
    let _ = std::fs::remove_file(&sock);
    let short = crate::socket_path::ShortSocketPath::new(&args.state_dir, "shim.sock")
        .map_err(|e| Error::io("open", &args.state_dir, e))?;
    let listener = UnixListener::bind(short.path()).map_err(|e| Error::io("bind", &sock, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("set nonblocking", &sock, e))?;

    let log = JsonLog::open(&args.log_path, args.log_max_size, args.log_max_file)?;

    let mut bundle = Bundle::load(&args.bundle)?;
    if args.tty {
        if let Some(p) = bundle.spec.process_mut() {
            p.set_terminal(Some(true));
        }
    }
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    let new_pidns = bundle.new_namespace(oci_spec::runtime::LinuxNamespaceType::Pid);

    let mut stdio = Stdio::default();
    let (mut out_r, mut err_r, mut in_w) = (None, None, None);
    if !terminal {
        let (r, w) = crate::sys::pipe()?;
        out_r = Some(r);
        stdio.stdout = Some(w);
        let (r, w) = crate::sys::pipe()?;
        err_r = Some(r);
        stdio.stderr = Some(w);
        if args.stdin {
            let (r, w) = crate::sys::pipe()?;
            stdio.stdin = Some(r);
            in_w = Some(w);
        }
    }
    let launched = launch(LaunchOptions {
        id: &args.id,
        bundle: &bundle,
        stdio,
        exec_fifo: None,
    })?;
    drop(bundle);
    let pty = launched.pty_master;
    for fd in [&out_r, &err_r, &in_w, &pty].into_iter().flatten() {
        crate::sys::set_nonblocking(fd, true)?;
    }

    let started_at = crate::container::now_rfc3339();
    let state = format!(
        "{{\"shim_pid\":{},\"pid\":{},\"started_at\":\"{}\"}}\n",
        std::process::id(),
        launched.pid,
        started_at
    );
    if let Err(e) =
        crate::sys::write_atomic(&args.state_dir.join("state.json"), state.as_bytes(), false)
    {
        let _ = nix::sys::signal::kill(Pid::from_raw(launched.pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(launched.pid), None);
        let _ = launched.cgroup.kill_all(Signal::SIGKILL);
        let _ = launched.cgroup.destroy();
        return Err(e);
    }

    Ok(Supervisor {
        init: launched.pid,
        cgroup: launched.cgroup,
        new_pidns,
        log,
        sfd,
        listener,
        stdout: out_r,
        stderr: err_r,
        stdin: if terminal { None } else { in_w },
        pty,
        conns: Vec::new(),
        pending: Vec::new(),
        exit_code: None,
        buf: vec![0u8; READ_BUF],
    })
}

/// What a poll slot refers to.
#[derive(Clone, Copy)]
enum Slot {
    Signal,
    Listener,
    Stdout,
    Stderr,
    Pty,
    StdinOut,
    Conn(usize),
}

impl Supervisor {
    fn outputs_open(&self) -> bool {
        self.stdout.is_some() || self.stderr.is_some() || self.pty.is_some()
    }

    fn stdin_target(&self) -> Option<BorrowedFd<'_>> {
        match (&self.pty, &self.stdin) {
            (Some(p), _) => Some(p.as_fd()),
            (None, Some(s)) => Some(s.as_fd()),
            _ => None,
        }
    }

    fn event_loop(&mut self) {
        let mut drain_deadline: Option<std::time::Instant> = None;
        loop {
            if self.exit_code.is_some() {
                if !self.outputs_open() {
                    return;
                }
                let deadline = *drain_deadline.get_or_insert_with(|| {
                    std::time::Instant::now()
                        + std::time::Duration::from_millis(DRAIN_TIMEOUT_MS as u64)
                });
                if std::time::Instant::now() >= deadline {
                    return;
                }
            }
            let mut slots: Vec<Slot> = Vec::with_capacity(8 + self.conns.len());
            let mut fds: Vec<PollFd> = Vec::with_capacity(8 + self.conns.len());
            fds.push(PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Signal);
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            slots.push(Slot::Listener);
            if let Some(f) = &self.stdout {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Stdout);
            }
            if let Some(f) = &self.stderr {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Stderr);
            }
            if let Some(f) = &self.pty {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                slots.push(Slot::Pty);
            }
            if !self.pending.is_empty() {
                if let Some(t) = self.stdin_target() {
                    fds.push(PollFd::new(t, PollFlags::POLLOUT));
                    slots.push(Slot::StdinOut);
                }
            }
            for (i, c) in self.conns.iter().enumerate() {
                let want = match c.mode {
                    ConnMode::Request(_) => true,
                    ConnMode::Stdin => self.pending.is_empty(),
                };
                if want {
                    fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
                    slots.push(Slot::Conn(i));
                }
            }
            let timeout = match drain_deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    PollTimeout::from(left.as_millis().min(u16::MAX as u128) as u16)
                }
                None => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            let ready: Vec<(Slot, PollFlags)> = fds
                .iter()
                .zip(slots.iter())
                .filter_map(|(f, s)| {
                    let r = f.revents().unwrap_or(PollFlags::empty());
                    (!r.is_empty()).then_some((*s, r))
                })
                .collect();
            drop(fds);
            let mut closed_conns: Vec<usize> = Vec::new();
            for (slot, _) in ready {
                match slot {
                    Slot::Signal => self.on_signal(),
                    Slot::Listener => self.on_accept(),
                    Slot::Stdout => self.on_output(false),
                    Slot::Stderr => self.on_output(true),
                    Slot::Pty => self.on_pty(),
                    Slot::StdinOut => self.on_stdin_writable(),
                    Slot::Conn(i) => {
                        if !self.on_conn(i) {
                            closed_conns.push(i);
                        }
                    }
                }
            }
            if !closed_conns.is_empty() {
                // A request was served (rare): drop the code pages it faulted in again.
                shed_memory();
            }
            closed_conns.sort_unstable();
            for i in closed_conns.into_iter().rev() {
                let c = self.conns.remove(i);
                if matches!(c.mode, ConnMode::Stdin) && self.pty.is_none() {
                    // The stdin client hung up: the container sees EOF on its stdin.
                    self.flush_pending_blocking();
                    self.stdin = None;
                }
            }
        }
    }

    fn on_signal(&mut self) {
        while let Ok(Some(info)) = self.sfd.read_signal() {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                continue;
            }
            if self.exit_code.is_none() {
                if let Ok(s) = Signal::try_from(sig) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(self.init), s);
                }
            }
        }
        // SIGCHLD coalesces: reap everything that is ready.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) => {
                    if p.as_raw() == self.init {
                        self.on_init_exit(code);
                    }
                }
                Ok(WaitStatus::Signaled(p, s, _)) => {
                    if p.as_raw() == self.init {
                        self.on_init_exit(128 + s as i32);
                    }
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn on_init_exit(&mut self, code: i32) {
        self.exit_code = Some(code);
        if !self.new_pidns {
            // Why: with a private pid namespace the kernel kills the rest when init dies; with a
            // shared one we must, or the output pipes never reach EOF.
            let _ = self.cgroup.kill_all(Signal::SIGKILL);
        }
    }

    fn on_accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.conns.push(Conn {
                            stream,
                            mode: ConnMode::Request(Vec::new()),
                        });
                    }
                }
                Err(_) => return,
            }
        }
    }

    fn read_fd(&mut self, fd: BorrowedFd<'_>) -> std::io::Result<usize> {
        loop {
            // SAFETY: reading into our own buffer of the given length.
            let n =
                unsafe { libc::read(fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn on_output(&mut self, is_err: bool) {
        let fd = match if is_err { &self.stderr } else { &self.stdout } {
            Some(f) => f.as_raw_fd(),
            None => return,
        };
        // SAFETY: the fd stays open for the duration of this call (owned by self).
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        match self.read_fd(bfd) {
            Ok(0) => {
                if is_err {
                    self.stderr = None;
                } else {
                    self.stdout = None;
                }
            }
            Ok(n) => {
                let stream = if is_err { "stderr" } else { "stdout" };
                let data = std::mem::take(&mut self.buf);
                let _ = self.log.write(stream, &data[..n]);
                self.buf = data;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                if is_err {
                    self.stderr = None;
                } else {
                    self.stdout = None;
                }
            }
        }
    }

    fn on_pty(&mut self) {
        let fd = match &self.pty {
            Some(f) => f.as_raw_fd(),
            None => return,
        };
        // SAFETY: the fd stays open for the duration of this call (owned by self).
        let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
        match self.read_fd(bfd) {
            Ok(0) => self.pty = None,
            Ok(n) => {
                let data = std::mem::take(&mut self.buf);
                let _ = self.log.write("stdout", &data[..n]);
                self.buf = data;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // Why: a pty master reads EIO once every slave fd is closed (the container is gone).
            Err(_) => self.pty = None,
        }
    }

    fn write_pending(&mut self) -> std::io::Result<()> {
        let Some(t) = self.stdin_target() else {
            self.pending.clear();
            return Ok(());
        };
        let raw = t.as_raw_fd();
        while !self.pending.is_empty() {
            // SAFETY: writing from our own buffer.
            let n = unsafe { libc::write(raw, self.pending.as_ptr().cast(), self.pending.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.pending.drain(..n as usize);
        }
        Ok(())
    }

    fn on_stdin_writable(&mut self) {
        match self.write_pending() {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                // The container closed its stdin (EPIPE): drop what we have.
                self.pending.clear();
                self.stdin = None;
            }
        }
    }

    /// Before closing the container's stdin, push out what is buffered (bounded: the container
    /// may not read; then the rest is dropped).
    fn flush_pending_blocking(&mut self) {
        for _ in 0..100 {
            match self.write_pending() {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let Some(t) = self.stdin_target() else { return };
                    let mut fds = [PollFd::new(t, PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::from(100u8));
                }
                Err(_) => return,
            }
        }
        self.pending.clear();
    }

    /// Handles a readable connection; false when it is done and should be dropped.
    fn on_conn(&mut self, i: usize) -> bool {
        let mut chunk = [0u8; 4096];
        let n = match self.conns[i].stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        };
        let conn = &mut self.conns[i];
        match &mut conn.mode {
            ConnMode::Stdin => {
                self.pending.extend_from_slice(&chunk[..n]);
                self.on_stdin_writable();
                true
            }
            ConnMode::Request(buf) => {
                buf.extend_from_slice(&chunk[..n]);
                let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                    if buf.len() > 64 * 1024 {
                        return false;
                    }
                    return true;
                };
                let rest = buf.split_off(nl + 1);
                let line = std::mem::take(buf);
                let (reply, to_stdin) = self.handle_request(&line);
                let conn = &mut self.conns[i];
                let _ = conn.stream.set_nonblocking(false);
                let _ = conn.stream.write_all(reply.as_bytes());
                let _ = conn.stream.set_nonblocking(true);
                if to_stdin {
                    conn.mode = ConnMode::Stdin;
                    if !rest.is_empty() {
                        self.pending.extend_from_slice(&rest);
                        self.on_stdin_writable();
                    }
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Executes one request; returns the reply line and whether the connection becomes stdin.
    fn handle_request(&mut self, line: &[u8]) -> (String, bool) {
        #[derive(serde::Deserialize)]
        struct Resize {
            height: u16,
            width: u16,
        }
        #[derive(serde::Deserialize)]
        struct Request {
            kill: Option<i32>,
            #[serde(default)]
            all: bool,
            resize: Option<Resize>,
            stdin: Option<bool>,
        }
        let err = |m: String| {
            let mut out = Vec::new();
            out.extend_from_slice(b"{\"error\":\"");
            super::log::escape_into(&mut out, &m);
            out.extend_from_slice(b"\"}\n");
            (String::from_utf8_lossy(&out).into_owned(), false)
        };
        let ok = || ("{\"ok\":true}\n".to_string(), false);
        let req: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => return err(format!("invalid request: {e}")),
        };
        if let Some(sig) = req.kill {
            let Ok(sig) = Signal::try_from(sig) else {
                return err(format!("invalid signal {sig}"));
            };
            if req.all {
                return match self.cgroup.kill_all(sig) {
                    Ok(()) => ok(),
                    Err(e) => err(format!("kill all: {e}")),
                };
            }
            if self.exit_code.is_some() {
                return err("container is not running".into());
            }
            return match nix::sys::signal::kill(Pid::from_raw(self.init), sig) {
                Ok(()) => ok(),
                Err(e) => err(format!("kill {}: {e}", self.init)),
            };
        }
        if let Some(r) = req.resize {
            let Some(pty) = &self.pty else {
                return err("container has no tty".into());
            };
            return match crate::tty::resize(pty.as_fd(), r.height, r.width) {
                Ok(()) => ok(),
                Err(e) => err(e.to_string()),
            };
        }
        if req.stdin == Some(true) {
            if self.stdin_target().is_none() {
                return err("container stdin is not open".into());
            }
            return ("{\"ok\":true}\n".to_string(), true);
        }
        err("unknown request".into())
    }

    /// Records exit.json, removes the cgroup and shim.sock; returns the shim's exit status.
    fn finish(self, args: &Args) -> i32 {
        let code = self.exit_code.unwrap_or(255);
        let oom = self.cgroup.oom_killed();
        let exit = format!(
            "{{\"exit_code\":{},\"oom_killed\":{},\"finished_at\":\"{}\"}}\n",
            code,
            oom,
            crate::container::now_rfc3339()
        );
        let _ = self.cgroup.kill_all(Signal::SIGKILL);
        // Reap whatever the kill produced (we are a subreaper) so the cgroup can go.
        while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if s == WaitStatus::StillAlive {
                break;
            }
        }
        let res =
            crate::sys::write_atomic(&args.state_dir.join("exit.json"), exit.as_bytes(), true);
        let _ = self.cgroup.destroy();
        let _ = std::fs::remove_file(args.state_dir.join("shim.sock"));
        drop(self.listener);
        if res.is_err() {
            1
        } else {
            0
        }
    }
}
