//! The engine's side of the `berth-shim` contract (docs/contracts.md): spawning a shim,
//! reading its handshake, talking to its control socket, and learning when it has exited.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::{Error, Result};

/// Everything needed to launch one shim.
pub struct ShimLaunch<'a> {
    pub shim_binary: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub state_dir: &'a Path,
    pub log_path: &'a Path,
    pub log_max_size: u64,
    pub log_max_file: u32,
    pub stdin: bool,
    pub tty: bool,
}

/// A successfully started container.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub shim_pid: i32,
    pub pid: i32,
}

#[derive(Deserialize)]
struct Handshake {
    shim_pid: Option<i32>,
    pid: Option<i32>,
    error: Option<String>,
    kind: Option<String>,
}

/// What `exit.json` records.
#[derive(Debug, Clone, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i64,
    #[serde(default)]
    pub oom_killed: bool,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What `state.json` records.
#[derive(Debug, Clone, Deserialize)]
pub struct StateRecord {
    pub shim_pid: i32,
}

/// Spawns a shim and waits for its handshake. Blocking: call from a blocking thread.
///
/// A failed start maps `not_found`/`not_executable` to Docker's exit codes 127/126 in
/// [`Error::StartFailed`]; the shim guarantees nothing is left running on failure.
pub fn launch(launch: &ShimLaunch<'_>) -> Result<Started> {
    let mut command = Command::new(launch.shim_binary);
    command
        .arg("--id")
        .arg(launch.id)
        .arg("--bundle")
        .arg(launch.bundle)
        .arg("--state-dir")
        .arg(launch.state_dir)
        .arg("--log-path")
        .arg(launch.log_path)
        .arg("--log-max-size")
        .arg(launch.log_max_size.to_string())
        .arg("--log-max-file")
        .arg(launch.log_max_file.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // The shim's own diagnostics go to berthd's log.
        .stderr(Stdio::inherit());
    if launch.stdin {
        command.arg("--stdin");
    }
    if launch.tty {
        command.arg("--tty");
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::io("spawn shim", launch.shim_binary, e))?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    // The first shim process exits right after the handshake; reap it here.
    let _ = child.wait();
    let handshake: Handshake = serde_json::from_str(line.trim()).map_err(|_| {
        Error::internal(format!(
            "berth-shim gave no handshake (got {:?}); see the daemon log",
            line.trim()
        ))
    })?;
    match (handshake.shim_pid, handshake.pid, handshake.error) {
        (Some(shim_pid), Some(pid), None) => Ok(Started { shim_pid, pid }),
        (_, _, error) => {
            let message = error.unwrap_or_else(|| "berth-shim failed without a message".to_owned());
            match handshake.kind.as_deref() {
                Some("not_found") => Err(Error::StartFailed {
                    message,
                    exit_code: 127,
                }),
                Some("not_executable") => Err(Error::StartFailed {
                    message,
                    exit_code: 126,
                }),
                _ => Err(Error::StartFailed {
                    message,
                    exit_code: 125,
                }),
            }
        }
    }
}

/// Reads `exit.json` in `state_dir`, if the shim wrote it.
pub fn read_exit(state_dir: &Path) -> Option<ExitRecord> {
    let text = std::fs::read_to_string(state_dir.join("exit.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Reads `state.json` in `state_dir`, if present.
pub fn read_state(state_dir: &Path) -> Option<StateRecord> {
    let text = std::fs::read_to_string(state_dir.join("state.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Sends one request line to the shim's control socket and checks its reply.
pub async fn request(state_dir: &Path, request: &serde_json::Value) -> Result<()> {
    let mut stream = connect(state_dir).await?;
    let mut line = request.to_string();
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .await
        .map_err(|e| Error::io("write to shim", socket_path(state_dir), e))?;
    read_reply(&mut stream, state_dir).await
}

/// Opens a stdin stream into the container: the returned socket's writes reach the
/// container's stdin; shutting it down closes the container's stdin.
pub async fn open_stdin(state_dir: &Path) -> Result<UnixStream> {
    let mut stream = connect(state_dir).await?;
    stream
        .write_all(b"{\"stdin\":true}\n")
        .await
        .map_err(|e| Error::io("write to shim", socket_path(state_dir), e))?;
    read_reply(&mut stream, state_dir).await?;
    Ok(stream)
}

async fn connect(state_dir: &Path) -> Result<UnixStream> {
    let path = socket_path(state_dir);
    let short = berth_runtime::socket_path::ShortSocketPath::new(state_dir, "shim.sock")
        .map_err(|e| Error::io("connect to shim", &path, e))?;
    UnixStream::connect(short.path())
        .await
        .map_err(|e| Error::io("connect to shim", path, e))
}

async fn read_reply(stream: &mut UnixStream, state_dir: &Path) -> Result<()> {
    // Read byte-wise up to the newline so nothing after the reply is consumed.
    let mut reply = Vec::new();
    let mut reader = tokio::io::BufReader::with_capacity(1, stream);
    reader
        .read_until(b'\n', &mut reply)
        .await
        .map_err(|e| Error::io("read from shim", socket_path(state_dir), e))?;
    let value: serde_json::Value = serde_json::from_slice(&reply).map_err(|_| {
        Error::internal(format!(
            "shim sent a bad reply: {}",
            String::from_utf8_lossy(&reply)
        ))
    })?;
    match value.get("error").and_then(|e| e.as_str()) {
        Some(message) => Err(Error::internal(format!("shim: {message}"))),
        None => Ok(()),
    }
}

fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("shim.sock")
}

/// A process handle that becomes readable when the process exits (pidfd_open(2)). Works for
/// processes that are not our children, which is what re-attaching after a restart needs.
pub struct ProcessWatch {
    fd: AsyncFd<OwnedFd>,
}

impl ProcessWatch {
    /// Opens a watch on `pid`; `None` when the process is already gone.
    pub fn open(pid: i32) -> Option<ProcessWatch> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the kernel just returned this fd to us and nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        // SAFETY: `owned` is a pidfd we own exclusively; it stays open (inside the AsyncFd)
        // for as long as it is registered.
        unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
            .ok()
            .map(|fd| ProcessWatch { fd })
    }

    /// Resolves when the process has exited, and reaps it if it is our child (berthd is a
    /// child subreaper, so shims whose first process exited are re-parented to it). Waiting on
    /// this pidfd only never steals another child's exit status.
    pub async fn exited(&self) {
        let _ = self.fd.readable().await;
        let fd = self.fd.get_ref().as_raw_fd();
        // SAFETY: an all-zero siginfo_t is a valid out-parameter for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only into `info`; `fd` is a live pidfd we own. ECHILD (not our
        // child, e.g. a shim started by a previous berthd) is expected and harmless.
        unsafe {
            libc::waitid(
                libc::P_PIDFD,
                fd as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            );
        }
    }
}
