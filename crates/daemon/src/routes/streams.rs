//! Streaming container endpoints: `logs` and `attach` (with the connection hijack the docker
//! CLI uses: `Upgrade: tcp` → `101 UPGRADED`, then raw bytes both ways).

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api::detach::{parse_detach_keys, DetachScanner, DEFAULT_DETACH_KEYS};
use berth_api::stream::{encode_frame, StreamKind};
use berth_engine::{LogEntry, LogOptions};
use chrono::{DateTime, SecondsFormat, Utc};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::flag;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

#[derive(Debug, Default, serde::Deserialize)]
pub struct LogsQuery {
    follow: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    since: Option<String>,
    until: Option<String>,
    timestamps: Option<String>,
    tail: Option<String>,
}

/// Docker's `since`/`until`: Unix seconds with optional fraction (`1700000000.5`).
pub(crate) fn unix_time(name: &str, value: &Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(text) = value.as_deref().filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    let bad = || ApiError::bad_request(format!("invalid value for {name}: {text:?}"));
    let (secs, frac) = text.split_once('.').unwrap_or((text, "0"));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = format!("{frac:0<9}")[..9].parse().map_err(|_| bad())?;
    DateTime::from_timestamp(secs, nanos)
        .map(Some)
        .ok_or_else(bad)
}

pub(crate) fn content_type(tty: bool) -> HeaderValue {
    HeaderValue::from_static(if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    })
}

/// Encodes one entry as the client expects: raw for TTY containers, framed otherwise.
pub(crate) fn encode(entry: &LogEntry, tty: bool, timestamps: bool) -> Bytes {
    let mut payload = Vec::with_capacity(entry.line.len() + 40);
    if timestamps {
        payload.extend_from_slice(
            entry
                .time
                .to_rfc3339_opts(SecondsFormat::Nanos, true)
                .as_bytes(),
        );
        payload.push(b' ');
    }
    payload.extend_from_slice(&entry.line);
    if tty {
        return Bytes::from(payload);
    }
    let kind = StreamKind::from_log_name(&entry.stream).unwrap_or(StreamKind::Stdout);
    let mut out = Vec::with_capacity(payload.len() + 8);
    encode_frame(kind, &payload, &mut out);
    Bytes::from(out)
}

pub(crate) fn entry_stream(
    rx: mpsc::Receiver<LogEntry>,
    tty: bool,
    timestamps: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures_util::stream::unfold(rx, move |mut rx| async move {
        rx.recv()
            .await
            .map(|entry| (Ok(encode(&entry, tty, timestamps)), rx))
    })
}

/// `GET /containers/{id}/logs`.
pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Response> {
    let (stdout, stderr) = (flag(&query.stdout), flag(&query.stderr));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match query.tail.as_deref() {
        None | Some("") | Some("all") => None,
        Some(n) => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => None,
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "invalid value for tail: {n:?}"
                )))
            }
        },
    };
    let options = LogOptions {
        stdout,
        stderr,
        since: unix_time("since", &query.since)?,
        until: unix_time("until", &query.until)?,
        tail,
        follow: flag(&query.follow),
    };
    let (tty, rx) = state.engine.logs(&id, options).await?;
    let body = Body::from_stream(entry_stream(rx, tty, flag(&query.timestamps)));
    Ok(([(header::CONTENT_TYPE, content_type(tty))], body).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AttachQuery {
    stream: Option<String>,
    stdin: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    logs: Option<String>,
    #[serde(rename = "detachKeys")]
    detach_keys: Option<String>,
}

/// `POST /containers/{id}/attach`. With `Upgrade: tcp` the connection is hijacked (what the
/// docker CLI and bollard do); otherwise the output is streamed as a plain response body.
pub async fn attach(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<AttachQuery>,
    mut request: Request,
) -> ApiResult<Response> {
    let engine = state.engine.clone();
    let (want_stdout, want_stderr, want_stdin) =
        (flag(&query.stdout), flag(&query.stderr), flag(&query.stdin));
    let _ = (flag(&query.stream), flag(&query.logs));
    let detach_keys = match query.detach_keys.as_deref() {
        None | Some("") => DEFAULT_DETACH_KEYS.to_vec(),
        Some(keys) => parse_detach_keys(keys)
            .map_err(|_| ApiError::bad_request(format!("Invalid detach keys ({keys}) provided")))?,
    };
    let (tty, rx) = engine.attach_output(&id, want_stdout, want_stderr)?;
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !upgrade {
        let body = Body::from_stream(entry_stream(rx, tty, false));
        return Ok(([(header::CONTENT_TYPE, content_type(tty))], body).into_response());
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    let stdin_wanted = want_stdin && engine.inspect(&id)?.spec.open_stdin;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "attach upgrade failed");
                return;
            }
        };
        let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(upgraded));
        let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
        if stdin_wanted {
            let engine = engine.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let Ok(mut stdin) = engine.attach_stdin(&id).await else {
                    return;
                };
                // Docker's detach: the session ends, the container keeps running. Dropping our
                // stdin connection leaves a TTY open; without a TTY the container sees EOF, as
                // with Docker's StdinOnce.
                pump_stdin(&mut client_read, &mut stdin, detach_keys, detached_tx).await;
            });
        }
        // A detached attach just stops following: the output subscription is dropped.
        let _ = forward_output(rx, &mut client_write, detached_rx, tty).await;
        let _ = client_write.shutdown().await;
    });
    Ok(hijacked_response(tty))
}

/// Docker's answer to an attach or exec start that hijacks the connection: 101, upgraded
/// to the raw `tcp` stream, with the stream's content type.
pub(crate) fn hijacked_response(tty: bool) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    headers.insert(header::CONTENT_TYPE, content_type(tty));
    response
}

/// Sends a session's output to a hijacked client (framed, or raw on a TTY) until the output
/// ends, the client goes away, or `detached` fires. Returns the output receiver when the
/// session ended by a detach, so the caller decides whether it must keep being drained.
pub(crate) async fn forward_output<W>(
    mut output: mpsc::Receiver<LogEntry>,
    client: &mut W,
    mut detached: tokio::sync::oneshot::Receiver<()>,
    tty: bool,
) -> Option<mpsc::Receiver<LogEntry>>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    // Whether the stdin task may still report a detach (a oneshot must not be polled again
    // once it completed).
    let mut detach_pending = true;
    loop {
        let entry = tokio::select! {
            entry = output.recv() => entry,
            signal = &mut detached, if detach_pending => match signal {
                Ok(()) => return Some(output),
                Err(_) => {
                    detach_pending = false;
                    continue;
                }
            },
        };
        let entry = entry?;
        if client.write_all(&encode(&entry, tty, false)).await.is_err() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_unix_times() {
        let t = unix_time("since", &Some("1700000000.5".into()))
            .unwrap()
            .unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert!(unix_time("since", &Some("yesterday".into())).is_err());
        assert!(unix_time("since", &Some("0".into())).unwrap().is_none());
    }

    #[test]
    fn frames_unless_tty() {
        let entry = LogEntry {
            stream: "stderr".into(),
            time: Utc::now(),
            line: b"x\n".to_vec(),
        };
        assert_eq!(
            &encode(&entry, false, false)[..],
            &[2, 0, 0, 0, 0, 0, 0, 2, b'x', b'\n']
        );
        assert_eq!(&encode(&entry, true, false)[..], b"x\n");
    }
}

/// Copies a hijacked client's input to a process's stdin until the client half-closes (then
/// `stdin` is shut down, so the process sees EOF) or types the detach keys (then
/// `detached` fires and `stdin` is left open: the caller decides what a detach means).
/// Bytes of a partial detach sequence that turns out not to be one are forwarded.
pub(crate) async fn pump_stdin<R, W>(
    client: &mut R,
    stdin: &mut W,
    detach_keys: Vec<u8>,
    detached: tokio::sync::oneshot::Sender<()>,
) where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut scanner = DetachScanner::new(detach_keys);
    let mut buf = vec![0u8; 32 * 1024];
    let mut forward = Vec::with_capacity(buf.len());
    loop {
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                forward.clear();
                let detach = scanner.feed(&buf[..n], &mut forward);
                if !forward.is_empty() && stdin.write_all(&forward).await.is_err() {
                    break;
                }
                if detach {
                    let _ = detached.send(());
                    return;
                }
            }
        }
    }
    let _ = stdin.shutdown().await;
}
