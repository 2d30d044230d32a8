//! Attaching to a container and following it to its exit: the part of docker's `run` and
//! `start -a` between create and the exit status.
//!
//! Order, as in the docker CLI: the wait request is issued first (condition `next-exit`, or
//! `removed` for auto-removed containers so the status survives the removal), then the attach
//! (hijacked before start, so no output is lost), then start.

use crate::client::api_message;
use crate::error::{exit, report_error, start_error_code};
use anyhow::Result;
use bollard::container::LogOutput;
use bollard::errors::Error as ApiError;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// Which standard streams to attach, and how.
#[derive(Debug, Clone, Copy)]
pub struct AttachSpec {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
    /// Forward signals received by the CLI to the container (docker's `--sig-proxy`).
    pub sig_proxy: bool,
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
}

impl Attached {
    /// Waits until the container closes its output (it exited or was detached).
    pub async fn finish(mut self) {
        let _ = (&mut self.output).await;
        if let Some(i) = self.input.take() {
            i.abort();
        }
        drop(self.raw.take());
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
pub async fn attach(docker: &Docker, id: &str, spec: AttachSpec) -> Result<Attached, ApiError> {
    let opts = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdin(spec.stdin)
        .stdout(spec.stdout)
        .stderr(spec.stderr)
        .build();
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
    spec: AttachSpec,
) -> Attached {
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
            let _ = tokio::io::copy(&mut stdin, &mut input).await;
            // EOF on our stdin closes the container's stdin (docker's CloseWrite).
            let _ = input.shutdown().await;
        })
    });
    Attached {
        output: output_task,
        input: input_task,
        raw,
    }
}

/// Result of a wait: the exit status, or an error already described.
async fn wait_status(docker: Docker, id: String, condition: &'static str) -> Result<i64, String> {
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

fn spawn_signal_proxy(docker: &Docker, id: &str) -> Vec<JoinHandle<()>> {
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

fn resize_to_terminal(docker: &Docker, id: &str) {
    let Some((rows, cols)) = terminal_size() else {
        return;
    };
    let opts = ResizeContainerTTYOptionsBuilder::default()
        .h(i32::from(rows))
        .w(i32::from(cols))
        .build();
    let docker = docker.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let _ = docker.resize_container_tty(&id, opts).await;
    });
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

    let attached = match attach(docker, id, spec).await {
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
    if spec.tty {
        resize_to_terminal(docker, id);
    }
    let proxies = if spec.sig_proxy && !spec.tty {
        spawn_signal_proxy(docker, id)
    } else {
        Vec::new()
    };

    attached.finish().await;
    for p in proxies {
        p.abort();
    }

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
