//! Attaching to a container and following it to its exit: the part of docker's `run` and
//! `start -a` between create and the exit status.
//!
//! Order, as in the docker CLI: the wait request is issued first (condition `next-exit`, or
//! `removed` for auto-removed containers so the status survives the removal), then the attach
//! (hijacked before start, so no output is lost), then start.

use crate::client::api_message;
use crate::error::{exit, report_error, start_error_code};
use anyhow::Result;
use berth_api::detach::{parse_detach_keys, DetachScanner, DEFAULT_DETACH_KEYS};
use bollard::container::LogOutput;
use bollard::errors::Error as ApiError;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Which standard streams to attach, and how.
#[derive(Debug, Clone)]
pub struct AttachSpec {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// Forward signals received by the CLI to the container (docker's `--sig-proxy`).
    pub sig_proxy: bool,
    /// `--detach-keys` (or config.json's `detachKeys`); `None` is Docker's ctrl-p ctrl-q.
    /// The daemon acts on the sequence; the CLI only watches for it to tell a detach from
    /// an exit.
    pub detach_keys: Option<String>,
}

/// Puts the local terminal in raw mode for an interactive tty session; restores it on drop.
struct RawTerminal {
    saved: nix::sys::termios::Termios,
}

impl RawTerminal {
    fn enable() -> Option<RawTerminal> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// A live attach: output copied to our stdout/stderr, our stdin copied to the container.
pub struct Attached {
    output: JoinHandle<()>,
    input: Option<JoinHandle<()>>,
    raw: Option<RawTerminal>,
    detached: Arc<AtomicBool>,
}

impl Attached {
    /// Waits until the container closes its output (it exited or was detached). Returns
    /// whether the session ended because the user typed the detach sequence; then, as
    /// docker does, "read escape sequence" has been printed.
    pub async fn finish(mut self) -> bool {
        let _ = (&mut self.output).await;
        if let Some(i) = self.input.take() {
            i.abort();
        }
        drop(self.raw.take());
        let detached = self.detached.load(Ordering::SeqCst);
        if detached {
            eprintln!("read escape sequence");
        }
        detached
    }

    fn abort(mut self) {
        self.output.abort();
        if let Some(i) = self.input.take() {
            i.abort();
        }
        drop(self.raw.take());
    }
}

/// Opens the hijacked attach stream and starts copying.
pub async fn attach(docker: &Docker, id: &str, spec: &AttachSpec) -> Result<Attached, ApiError> {
    let mut opts = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdin(spec.stdin)
        .stdout(spec.stdout)
        .stderr(spec.stderr);
    if let Some(keys) = &spec.detach_keys {
        opts = opts.detach_keys(keys);
    }
    let opts = opts.build();
    let results = docker.attach_container(id, Some(opts)).await?;
    Ok(pump(results.output, results.input, spec))
}

/// Copies a hijacked connection's output to our stdout/stderr and (with `spec.stdin`) our
/// stdin to its input, with the local terminal in raw mode for interactive ttys.
pub fn pump(
    mut output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, ApiError>> + Send>,
    >,
    mut input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    spec: &AttachSpec,
) -> Attached {
    let keys = spec
        .detach_keys
        .as_deref()
        .and_then(|k| parse_detach_keys(k).ok())
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_vec());
    let detached = Arc::new(AtomicBool::new(false));
    let saw_detach = detached.clone();
    let raw = if spec.tty && spec.stdin {
        RawTerminal::enable()
    } else {
        None
    };
    let output_task = tokio::spawn(async move {
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdErr { message }) => {
                    let mut e = std::io::stderr().lock();
                    let _ = e.write_all(&message);
                    let _ = e.flush();
                }
                Ok(other) => {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(other.as_ref());
                    let _ = o.flush();
                }
                Err(_) => break,
            }
        }
    });
    let input_task = spec.stdin.then(|| {
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            // Every byte goes to the daemon, which acts on the detach sequence; the scanner
            // here only notes that it went by.
            let mut scanner = DetachScanner::new(keys);
            let mut buf = vec![0u8; 32 * 1024];
            let mut ignored = Vec::new();
            loop {
                let n = match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if input.write_all(&buf[..n]).await.is_err() || input.flush().await.is_err() {
                    return;
                }
                ignored.clear();
                if scanner.feed(&buf[..n], &mut ignored) {
                    saw_detach.store(true, Ordering::SeqCst);
                    return;
                }
            }
            // EOF on our stdin closes the container's stdin (docker's CloseWrite).
            let _ = input.shutdown().await;
        })
    });
    Attached {
        output: output_task,
        input: input_task,
        raw,
        detached,
    }
}

/// Result of a wait: the exit status, or an error already described.
pub async fn wait_status(
    docker: Docker,
    id: String,
    condition: &'static str,
) -> Result<i64, String> {
    let opts = WaitContainerOptionsBuilder::default()
        .condition(condition)
        .build();
    let mut stream = docker.wait_container(&id, Some(opts));
    match stream.next().await {
        Some(Ok(r)) => match r.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
            Some(m) => {
                eprintln!("{m}");
                Ok(125)
            }
            None => Ok(r.status_code),
        },
        Some(Err(ApiError::DockerContainerWaitError { error, code })) => {
            if error.is_empty() {
                Ok(code)
            } else {
                eprintln!("{error}");
                Ok(125)
            }
        }
        Some(Err(e)) => Err(api_message(&e)),
        None => Err("wait: no response from daemon".to_string()),
    }
}

/// The container's exit code from inspect, once it is no longer running.
async fn exit_code_from_inspect(docker: &Docker, id: &str) -> Option<i64> {
    let c = docker.inspect_container(id, None).await.ok()?;
    let state = c.state?;
    if state.running == Some(true) {
        return None;
    }
    state.exit_code
}

pub fn spawn_signal_proxy(docker: &Docker, id: &str) -> Vec<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let sigs = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    sigs.into_iter()
        .filter_map(|(kind, name)| {
            let mut s = signal(kind).ok()?;
            let docker = docker.clone();
            let id = id.to_string();
            Some(tokio::spawn(async move {
                while s.recv().await.is_some() {
                    let opts = KillContainerOptionsBuilder::default().signal(name).build();
                    let _ = docker.kill_container(&id, Some(opts)).await;
                }
            }))
        })
        .collect()
}

/// The local terminal's size as (rows, columns), when stdout is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `winsize` into the pointer we pass, which lives on our stack.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc != 0 || ws.ws_row == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}

/// What a terminal resize applies to.
#[derive(Debug, Clone)]
pub enum ResizeTarget {
    Container(String),
    Exec(String),
}

/// Sends the local terminal's size to the daemon (`/containers/{id}/resize` or
/// `/exec/{id}/resize`); does nothing when stdout is not a terminal.
pub async fn resize_once(docker: &Docker, target: &ResizeTarget) {
    let Some((rows, cols)) = terminal_size() else {
        return;
    };
    match target {
        ResizeTarget::Container(id) => {
            let opts = ResizeContainerTTYOptionsBuilder::default()
                .h(i32::from(rows))
                .w(i32::from(cols))
                .build();
            let _ = docker.resize_container_tty(id, opts).await;
        }
        ResizeTarget::Exec(id) => {
            let opts = bollard::exec::ResizeExecOptions {
                height: rows,
                width: cols,
            };
            let _ = docker.resize_exec(id, opts).await;
        }
    }
}

/// Resizes now and again on every SIGWINCH, as the docker CLI does, until the returned task
/// is aborted. `None` when stdout is not a terminal.
pub fn follow_terminal_size(docker: &Docker, target: ResizeTarget) -> Option<JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    terminal_size()?;
    let mut winch = signal(SignalKind::window_change()).ok();
    let docker = docker.clone();
    Some(tokio::spawn(async move {
        resize_once(&docker, &target).await;
        let Some(winch) = winch.as_mut() else {
            return;
        };
        while winch.recv().await.is_some() {
            resize_once(&docker, &target).await;
        }
    }))
}

/// How a failed start is reported: `run` prints `berth: ...` and maps 125/126/127, `start -a`
/// prints the daemon error and exits 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartFailure {
    Run,
    Start,
}

/// Attach, start, and follow the container until it exits (or is removed when
/// `auto_remove`). Returns the container's exit status.
pub async fn attach_start_wait(
    docker: &Docker,
    id: &str,
    spec: AttachSpec,
    auto_remove: bool,
    on_failure: StartFailure,
) -> Result<i64> {
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let wait = tokio::spawn(wait_status(docker.clone(), id.to_string(), condition));
    // Let the wait request go out before the start can possibly complete.
    tokio::task::yield_now().await;

    let attached = match attach(docker, id, &spec).await {
        Ok(a) => a,
        Err(e) => {
            wait.abort();
            return Err(report_start_failure(on_failure, &api_message(&e), false));
        }
    };

    if let Err(e) = docker.start_container(id, None).await {
        attached.abort();
        let msg = api_message(&e);
        let err = report_start_failure(on_failure, &msg, true);
        if auto_remove {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        } else {
            wait.abort();
        }
        return Err(err);
    }
    let resizer = spec
        .tty
        .then(|| follow_terminal_size(docker, ResizeTarget::Container(id.to_string())))
        .flatten();
    let proxies = if spec.sig_proxy && !spec.tty {
        spawn_signal_proxy(docker, id)
    } else {
        Vec::new()
    };

    let detached = attached.finish().await;
    for p in proxies.into_iter().chain(resizer) {
        p.abort();
    }
    if detached {
        wait.abort();
        return Ok(0);
    }
    follow_exit(docker, id, wait, auto_remove).await
}

/// After the output ended: the container's exit status from the wait issued before the
/// attach, or from inspect if that wait was registered too late to see the exit.
pub async fn follow_exit(
    docker: &Docker,
    id: &str,
    wait: JoinHandle<Result<i64, String>>,
    auto_remove: bool,
) -> Result<i64> {
    let mut wait = wait;
    let status = if auto_remove {
        match (&mut wait).await {
            Ok(r) => r,
            Err(e) => Err(e.to_string()),
        }
    } else {
        // The output ended, so the process is gone or about to be; if the next-exit wait was
        // registered too late to see it, fall back to the recorded exit code.
        loop {
            tokio::select! {
                r = &mut wait => break match r { Ok(r) => r, Err(e) => Err(e.to_string()) },
                _ = tokio::time::sleep(Duration::from_millis(1500)) => {
                    if let Some(code) = exit_code_from_inspect(docker, id).await {
                        wait.abort();
                        break Ok(code);
                    }
                }
            }
        }
    };
    match status {
        Ok(code) => Ok(code),
        Err(msg) => {
            eprintln!("{msg}");
            Err(exit(125))
        }
    }
}

fn report_start_failure(on_failure: StartFailure, msg: &str, is_start: bool) -> anyhow::Error {
    match on_failure {
        StartFailure::Run => {
            report_error("run", msg, true);
            exit(if is_start { start_error_code(msg) } else { 125 })
        }
        StartFailure::Start => {
            eprintln!("{msg}");
            exit(1)
        }
    }
}
