//! `exec`: run an additional process inside a running container.
//!
//! The daemon never joins a container's namespaces itself (setns and fork are not safe in a
//! multi-threaded process). Each exec spawns `berth-runtime exec --init-pid PID --bundle DIR
//! --process FILE` (found next to berthd) with pipes for stdio: that single-threaded helper
//! joins every namespace and the cgroup of the container, applies the process's credentials,
//! capabilities, seccomp and no_new_privileges, execs, waits and exits with the process's exit
//! code. See docs/contracts.md ("engine -> berth-runtime exec"). With a TTY the helper hands
//! the pty master back over a `--console-socket` and the process's stdio is the pty.
//!
//! Exec records live in memory only (as in Docker) and are dropped when their container is
//! removed.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use berth_runtime::socket_path::ShortSocketPath;
use chrono::Utc;
use oci_spec::runtime::{Capabilities, Process, Spec};
use tokio::io::{AsyncReadExt, AsyncWrite, Interest};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::container::model::Status;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::LogEntry;
use crate::{ids, spec, user};

/// Output chunks buffered between the process and a slow client.
const OUTPUT_BUFFER: usize = 64;

/// What to run, as `POST /containers/{id}/exec` describes it (already validated).
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// The command and its arguments; never empty.
    pub cmd: Vec<String>,
    /// `KEY=VALUE` added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// Overrides the container's working directory.
    pub working_dir: Option<String>,
    /// Overrides the container's user (`name|uid[:group|gid]`).
    pub user: Option<String>,
    /// Every capability the daemon has (the seccomp profile still applies, as in Docker).
    pub privileged: bool,
    /// Run on a pseudo-terminal (raw output stream, resizable).
    pub tty: bool,
    /// Initial terminal size (height, width).
    pub console_size: Option<(u16, u16)>,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    /// The byte sequence that ends an attached session without stopping the process
    /// (Docker's `DetachKeys`, already parsed); `None` means Docker's default, ctrl-p ctrl-q.
    pub detach_keys: Option<Vec<u8>>,
}

/// An exec's state, as `GET /exec/{id}/json` reports it.
#[derive(Debug, Clone)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub spec: ExecSpec,
    pub running: bool,
    /// `None` until the process has exited.
    pub exit_code: Option<i64>,
    /// The process's host pid; 0 until known.
    pub pid: i32,
    started: bool,
    /// The pty master while a TTY exec runs (for resize).
    console: Option<Arc<OwnedFd>>,
}

/// A started, attached exec: write to `stdin` (drop it to close the process's stdin), read
/// `output` until it ends; the exit code is recorded before `output` closes. With `tty` the
/// output is the terminal's (all `"stdout"`) and stdin writes to the terminal.
pub struct ExecSession {
    pub tty: bool,
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub output: mpsc::Receiver<LogEntry>,
}

/// The in-memory exec table.
#[derive(Default)]
pub(crate) struct ExecTable(Mutex<HashMap<String, ExecInfo>>);

impl ExecTable {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, ExecInfo>) -> T) -> T {
        let mut guard = match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut ExecInfo)) {
        self.with(|t| t.get_mut(id).map(f));
    }

    /// Forgets every exec of a removed container.
    pub(crate) fn drop_container(&self, container_id: &str) {
        self.with(|t| t.retain(|_, e| e.container_id != container_id));
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`: records an exec for a running container.
    pub fn exec_create(self: &Arc<Self>, reference: &str, spec: ExecSpec) -> Result<String> {
        if spec.cmd.is_empty() {
            return Err(Error::invalid("No exec command specified"));
        }
        let container = self.lookup(reference)?.snapshot();
        ensure_running(&container.id, container.state.status)?;
        let id = ids::new_id()?;
        let info = ExecInfo {
            id: id.clone(),
            container_id: container.id,
            spec,
            running: false,
            exit_code: None,
            pid: 0,
            started: false,
            console: None,
        };
        self.execs.with(|t| t.insert(id.clone(), info));
        Ok(id)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInfo> {
        self.execs
            .with(|t| t.get(id).cloned())
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    /// `POST /exec/{id}/start`: launches the process. Detached, nothing is attached and the
    /// result has no stdin and an already closed output.
    pub async fn exec_start(self: &Arc<Self>, id: &str, detach: bool) -> Result<ExecSession> {
        let info = self.exec_inspect(id)?;
        let container = self.lookup(&info.container_id)?.snapshot();
        ensure_running(&container.id, container.state.status)?;
        // Claim the exec so that a second start is refused.
        let claimed = self.execs.with(|t| match t.get_mut(id) {
            Some(e) if !e.started => {
                e.started = true;
                e.running = true;
                true
            }
            _ => false,
        });
        if !claimed {
            return Err(Error::conflict(format!(
                "Error: Exec command {id} is already running"
            )));
        }
        let attach = !detach;
        let prepared = Prepared {
            runtime: self.config.runtime_binary.clone(),
            bundle: self.run_dir(&container.id),
            rootfs: self.rootfs_dir(&container.id),
            init_pid: container.state.pid,
            exec_id: id.to_owned(),
            spec: info.spec.clone(),
            group_add: container.spec.host.group_add.clone(),
            stdin: attach && info.spec.attach_stdin,
            stdout: attach && info.spec.attach_stdout,
            stderr: attach && info.spec.attach_stderr,
        };
        let spawned = tokio::task::spawn_blocking(move || prepared.spawn())
            .await
            .map_err(|e| Error::internal(format!("exec task: {e}")));
        let (mut child, files, console) = match spawned.and_then(|r| r) {
            Ok(spawned) => spawned,
            Err(e) => {
                self.execs.update(id, |x| {
                    x.running = false;
                    x.exit_code = Some(126);
                });
                return Err(e);
            }
        };
        let (tx, output) = mpsc::channel(OUTPUT_BUFFER);
        let mut stdin: Option<Box<dyn AsyncWrite + Send + Unpin>> = None;
        let mut early_exit = None;
        if let Some(console) = console {
            // Why the helper's exit does not end the wait for the master: a short command
            // (`stty size`) lets the helper send the master and exit at once, and the master
            // then still sits in the socket with the command's output buffered behind it.
            let received = tokio::select! {
                biased;
                master = receive_master(&console.listener) => Some(master),
                status = child.wait() => {
                    early_exit = Some(status);
                    tokio::time::timeout(HELPER_EXITED_MASTER_WAIT, receive_master(&console.listener))
                        .await
                        .ok()
                }
            };
            if let Some(master) = received {
                match master.and_then(|m| open_console(m, info.spec.console_size)) {
                    Ok((master, reader, writer)) => {
                        tokio::spawn(pump(reader, "stdout", tx.clone()));
                        if attach && info.spec.attach_stdin {
                            stdin = Some(Box::new(writer));
                        }
                        self.execs.update(id, |x| x.console = Some(master));
                    }
                    Err(e) => {
                        tracing::warn!(exec = %id, error = %e, "receiving the exec's terminal");
                        let _ = child.start_kill();
                    }
                }
            }
            drop(console);
        }
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, "stdout", tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, "stderr", tx.clone()));
        }
        if let Some(pipe) = child.stdin.take() {
            stdin = Some(Box::new(pipe));
        }
        let engine = self.clone();
        let exec_id = id.to_owned();
        let argv0 = info.spec.cmd[0].clone();
        tokio::spawn(async move {
            let pid_watch = read_pid(&engine, &exec_id, &files.pid);
            let status = match early_exit {
                Some(status) => status,
                None => child.wait().await,
            };
            pid_watch.abort();
            let helper_code = match status {
                Ok(status) => status.code().map(i64::from).unwrap_or(128),
                Err(e) => {
                    tracing::warn!(exec = %exec_id, error = %e, "waiting for exec helper");
                    128
                }
            };
            let (code, failure) = match read_failure(&files.log).await {
                Some(message) => docker_failure(&argv0, &message, helper_code),
                None => (helper_code, None),
            };
            engine.execs.update(&exec_id, |x| {
                x.running = false;
                x.exit_code = Some(code);
                x.console = None;
            });
            if let Some(message) = failure {
                tracing::debug!(exec = %exec_id, %message, "exec failed to start");
                let _ = tx
                    .send(LogEntry {
                        stream: "stderr".into(),
                        time: Utc::now(),
                        line: format!("{message}\r\n").into_bytes(),
                    })
                    .await;
            }
            files.remove();
        });
        Ok(ExecSession {
            tty: info.spec.tty,
            stdin,
            output,
        })
    }

    /// `POST /exec/{id}/resize`: resizes a running TTY exec's terminal; a no-op otherwise.
    pub fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let info = self.exec_inspect(id)?;
        if let Some(master) = &info.console {
            berth_runtime::tty::resize(master.as_fd(), height, width)
                .map_err(|e| Error::internal(format!("resize exec {id}: {e}")))?;
        }
        Ok(())
    }
}

fn ensure_running(id: &str, status: Status) -> Result<()> {
    match status {
        Status::Running => Ok(()),
        Status::Paused => Err(Error::conflict(format!(
            "Container {id} is paused, unpause the container before exec"
        ))),
        Status::Restarting => Err(Error::conflict(format!(
            "Container {id} is restarting, wait until the container is running"
        ))),
        _ => Err(Error::conflict(format!("Container {id} is not running"))),
    }
}

/// Everything the blocking spawn needs.
struct Prepared {
    runtime: PathBuf,
    bundle: PathBuf,
    rootfs: PathBuf,
    init_pid: i32,
    exec_id: String,
    spec: ExecSpec,
    /// The container's `--group-add`: exec processes get them too, whatever their user.
    group_add: Vec<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

/// How long to look for a pty master the helper may have sent before it exited.
const HELPER_EXITED_MASTER_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The socket a TTY exec's helper sends the pty master to. Dropping it removes the socket.
struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Keeps the directory handle behind a `/proc/self/fd` path open.
    short: ShortSocketPath,
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The helper's side files under the container's bundle directory.
struct ExecFiles {
    process: PathBuf,
    pid: PathBuf,
    log: PathBuf,
}

impl ExecFiles {
    fn remove(&self) {
        for path in [&self.process, &self.pid, &self.log] {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Prepared {
    /// Writes the process file and spawns the helper. Blocking (reads the bundle and the
    /// container's /etc/passwd, forks).
    fn spawn(self) -> Result<(tokio::process::Child, ExecFiles, Option<ConsoleSocket>)> {
        let config = self.bundle.join("config.json");
        let oci = Spec::load(&config)
            .map_err(|e| Error::internal(format!("read {}: {e}", config.display())))?;
        let mut process = exec_process(&oci, &self.spec, &self.rootfs)?;
        if self.spec.user.as_deref().is_some_and(|u| !u.is_empty()) {
            // The bundle's groups (which include them) were replaced by the exec user's.
            let mut user = process.user().clone();
            let mut gids = user.additional_gids().clone().unwrap_or_default();
            for gid in crate::user::resolve_groups(&self.rootfs, &self.group_add)? {
                if !gids.contains(&gid) {
                    gids.push(gid);
                }
            }
            user.set_additional_gids(Some(gids));
            process.set_user(user);
        }
        let files = ExecFiles {
            process: self.bundle.join(format!("exec-{}.json", self.exec_id)),
            pid: self.bundle.join(format!("exec-{}.pid", self.exec_id)),
            log: self.bundle.join(format!("exec-{}.log", self.exec_id)),
        };
        let json = serde_json::to_vec(&process)
            .map_err(|e| Error::internal(format!("encode exec process: {e}")))?;
        std::fs::write(&files.process, json).map_err(|e| Error::io("write", &files.process, e))?;
        let console = if self.spec.tty {
            Some(self.console_socket()?)
        } else {
            None
        };
        // With a TTY the process's stdio is the pty; the helper's own stdio is unused.
        let pipe = |on: bool| {
            if on && !self.spec.tty {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        let mut command = Command::new(&self.runtime);
        command
            .arg("--log")
            .arg(&files.log)
            .arg("--log-format")
            .arg("json")
            .arg("exec")
            .arg("--init-pid")
            .arg(self.init_pid.to_string())
            .arg("--bundle")
            .arg(&self.bundle)
            .arg("--process")
            .arg(&files.process)
            .arg("--pid-file")
            .arg(&files.pid);
        if let Some(console) = &console {
            command
                .arg("--console-socket")
                .arg(helper_path(console.short.path()));
        }
        command
            .arg(format!("exec-{}", self.exec_id))
            .stdin(pipe(self.stdin))
            .stdout(pipe(self.stdout))
            .stderr(pipe(self.stderr));
        match command.spawn() {
            Ok(child) => Ok((child, files, console)),
            Err(e) => {
                files.remove();
                Err(Error::io("spawn exec helper", &self.runtime, e))
            }
        }
    }
}

impl Prepared {
    /// Binds the console socket in the bundle directory (a short name: `sun_path` is small).
    fn console_socket(&self) -> Result<ConsoleSocket> {
        let name = format!("c-{}.sock", &self.exec_id[..12.min(self.exec_id.len())]);
        let path = self.bundle.join(&name);
        let short =
            ShortSocketPath::new(&self.bundle, &name).map_err(|e| Error::io("bind", &path, e))?;
        let _ = std::fs::remove_file(&path);
        let std_listener = std::os::unix::net::UnixListener::bind(short.path())
            .map_err(|e| Error::io("bind", &path, e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("bind", &path, e))?;
        let listener =
            UnixListener::from_std(std_listener).map_err(|e| Error::io("bind", &path, e))?;
        Ok(ConsoleSocket {
            listener,
            path,
            short,
        })
    }
}

/// The path the helper connects to. A `/proc/self/fd/N/...` short path names one of berthd's
/// own descriptors, so the helper must reach it through berthd's pid instead.
fn helper_path(path: &Path) -> PathBuf {
    match path.strip_prefix("/proc/self") {
        Ok(rest) => Path::new("/proc")
            .join(std::process::id().to_string())
            .join(rest),
        Err(_) => path.to_owned(),
    }
}

/// Accepts the helper's connection and receives the pty master it sends (SCM_RIGHTS).
async fn receive_master(listener: &UnixListener) -> Result<OwnedFd> {
    let bad = |e: std::io::Error| Error::io("receive exec terminal", PathBuf::new(), e);
    let (stream, _) = listener.accept().await.map_err(bad)?;
    loop {
        stream.readable().await.map_err(bad)?;
        match stream.try_io(Interest::READABLE, || recv_fd(&stream)) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(bad(e)),
        }
    }
}

fn recv_fd(stream: &UnixStream) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut name = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS just installed this descriptor in our table; nothing else
                // owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::other("no terminal descriptor received"))
}

/// Sizes the terminal and splits the master into a reader and a writer (blocking file I/O on
/// tokio's blocking pool: a pty master is not pollable through every tokio driver path).
fn open_console(
    master: OwnedFd,
    size: Option<(u16, u16)>,
) -> Result<(Arc<OwnedFd>, tokio::fs::File, tokio::fs::File)> {
    if let Some((height, width)) = size {
        let _ = berth_runtime::tty::resize(master.as_fd(), height, width);
    }
    let dup = |fd: &OwnedFd| {
        fd.try_clone()
            .map(|fd| tokio::fs::File::from_std(std::fs::File::from(fd)))
            .map_err(|e| Error::io("dup exec terminal", PathBuf::new(), e))
    };
    let reader = dup(&master)?;
    let writer = dup(&master)?;
    Ok((Arc::new(master), reader, writer))
}

/// The exec'd process: the container's own (capabilities, seccomp via the bundle,
/// no_new_privileges, rlimits, env, user, cwd) with the exec's overrides, as Docker does.
fn exec_process(oci: &Spec, exec: &ExecSpec, rootfs: &Path) -> Result<Process> {
    let mut process = oci
        .process()
        .clone()
        .ok_or_else(|| Error::internal("container bundle has no process"))?;
    process.set_args(Some(exec.cmd.clone()));
    process.set_terminal(Some(exec.tty));
    // The runtime sizes the pty before the process starts; resizing afterwards (as the
    // console socket's receiver also does) would race with programs that read the size at
    // once, like `stty size`.
    let console_size = exec
        .console_size
        .map(|(height, width)| {
            oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(height))
                .width(u64::from(width))
                .build()
                .map_err(|e| Error::invalid(format!("invalid console size: {e}")))
        })
        .transpose()?;
    process.set_console_size(console_size);
    let mut env = process.env().clone().unwrap_or_default();
    for var in &exec.env {
        let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(var.clone());
    }
    if let Some(dir) = exec.working_dir.as_deref().filter(|d| !d.is_empty()) {
        if !dir.starts_with('/') {
            return Err(Error::invalid(format!(
                "the working directory '{dir}' is invalid, it needs to be an absolute path"
            )));
        }
        process.set_cwd(PathBuf::from(dir));
    }
    if let Some(name) = exec.user.as_deref().filter(|u| !u.is_empty()) {
        let resolved = user::resolve(rootfs, name)?;
        let mut u = process.user().clone();
        u.set_uid(resolved.uid);
        u.set_gid(resolved.gid);
        u.set_additional_gids(Some(resolved.additional_gids));
        process.set_user(u);
        // Docker resets HOME to the exec user's home unless the exec sets it.
        if !exec.env.iter().any(|e| e.starts_with("HOME=")) {
            env.retain(|e| !e.starts_with("HOME="));
            env.push(format!("HOME={}", resolved.home));
        }
    }
    if exec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }
    process.set_env(Some(env));
    if exec.privileged {
        let all: Capabilities = spec::capabilities(true, &[], &[])?.into_iter().collect();
        let mut caps = process.capabilities().clone().unwrap_or_default();
        caps.set_bounding(Some(all.clone()));
        caps.set_effective(Some(all.clone()));
        caps.set_permitted(Some(all));
        caps.set_inheritable(None);
        caps.set_ambient(None);
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}

/// Copies one of the helper's output pipes into the session. When the client is gone the
/// pipe is still drained, so the process never blocks on a full pipe.
async fn pump(
    mut pipe: impl tokio::io::AsyncRead + Unpin,
    stream: &'static str,
    tx: mpsc::Sender<LogEntry>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut client = Some(tx);
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Some(tx) = &client {
                    let entry = LogEntry {
                        stream: stream.into(),
                        time: Utc::now(),
                        line: buf[..n].to_vec(),
                    };
                    if tx.send(entry).await.is_err() {
                        client = None;
                    }
                }
            }
        }
    }
}

/// Records the process's pid once the helper has written its pid file.
fn read_pid(engine: &Arc<Engine>, exec_id: &str, path: &Path) -> tokio::task::JoinHandle<()> {
    let (engine, exec_id, path) = (engine.clone(), exec_id.to_owned(), path.to_owned());
    tokio::spawn(async move {
        let mut delay = std::time::Duration::from_millis(1);
        loop {
            if let Ok(text) = tokio::fs::read_to_string(&path).await {
                if let Ok(pid) = text.trim().parse::<i32>() {
                    engine.execs.update(&exec_id, |x| x.pid = pid);
                    return;
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_millis(100));
        }
    })
}

/// The helper's error, if it failed before or while exec'ing (it logs only then).
async fn read_failure(log: &Path) -> Option<String> {
    let text = tokio::fs::read_to_string(log).await.ok()?;
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(value.get("msg")?.as_str()?.to_owned())
}

/// Docker's exit code and wording for an exec that could not start: 127 for a missing
/// command, 126 otherwise (the docker CLI shows the message).
fn docker_failure(argv0: &str, message: &str, helper_code: i64) -> (i64, Option<String>) {
    match helper_code {
        127 => (
            127,
            Some(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{argv0}\": executable file not found in $PATH: unknown"
            )),
        ),
        126 => (
            126,
            Some(format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{argv0}\": permission denied: unknown"
            )),
        ),
        _ => (
            126,
            Some(format!("OCI runtime exec failed: exec failed: {message}: unknown")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_env_overrides_and_user_home() {
        let oci = Spec::default();
        let exec = ExecSpec {
            cmd: vec!["env".into()],
            env: vec!["PATH=/x".into(), "A=1".into()],
            working_dir: Some("/tmp".into()),
            ..Default::default()
        };
        let p = exec_process(&oci, &exec, Path::new("/nonexistent")).expect("test step failed");
        let env = p.env().clone().expect("test step failed");
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert!(env.contains(&"PATH=/x".to_owned()) && env.contains(&"A=1".to_owned()));
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!(
            p.args().clone().expect("test step failed"),
            vec!["env".to_owned()]
        );
        let bad = ExecSpec {
            working_dir: Some("rel".into()),
            ..exec
        };
        assert!(exec_process(&oci, &bad, Path::new("/nonexistent")).is_err());
    }

    #[test]
    fn failures_use_dockers_wording() {
        let (code, msg) = docker_failure("nope", "x", 127);
        assert_eq!(code, 127);
        assert!(msg
            .expect("test step failed")
            .contains("exec: \"nope\": executable file not found in $PATH"));
        assert_eq!(docker_failure("sh", "boom", 1).0, 126);
    }
}
