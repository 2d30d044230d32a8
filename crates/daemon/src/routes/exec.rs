//! Exec endpoints: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like
//! attach, or a plain streamed body), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::detach::DEFAULT_DETACH_KEYS;
use berth_api::models::{ExecConfig, ExecStartConfig};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::streams::{content_type, entry_stream, forward_output, hijacked_response, pump_stdin};
use super::CommonQuery;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let parsed: ExecConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body for exec create: {e}")))?;
    let spec = convert::exec_config(parsed)?;
    let exec_id = state.engine.exec_create(&id, spec)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(convert::exec_inspect(
        &state.engine.exec_inspect(&id)?,
    )))
}

/// `POST /exec/{id}/resize?h=&w=`: resizes a TTY exec's terminal.
pub async fn resize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    let size = |name: &str, value: &Option<String>| -> ApiResult<u16> {
        let n = super::int(name, value)?.unwrap_or(0);
        u16::try_from(n)
            .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {n}")))
    };
    let (height, width) = (size("h", &query.h)?, size("w", &query.w)?);
    state.engine.exec_resize(&id, height, width)?;
    Ok(StatusCode::OK)
}

/// `POST /exec/{id}/start`. `Detach` returns at once; otherwise the output is multiplexed
/// (stdout/stderr frames) and, with `Upgrade: tcp`, the client's bytes go to the process's
/// stdin until the client half-closes its side.
pub async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut request: Request,
) -> ApiResult<Response> {
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading exec start body: {e}")))?;
    let config: ExecStartConfig = if body.iter().all(u8::is_ascii_whitespace) {
        ExecStartConfig::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body for exec start: {e}")))?
    };
    // The exec's own Tty (from create) decides the stream format, not the start body's.
    let detach = config.detach.unwrap_or(false);
    let detach_keys = state
        .engine
        .exec_inspect(&id)?
        .spec
        .detach_keys
        .unwrap_or_else(|| DEFAULT_DETACH_KEYS.to_vec());
    let session = state.engine.exec_start(&id, detach).await?;
    if detach {
        return Ok(StatusCode::OK.into_response());
    }
    let Some(on_upgrade) = on_upgrade else {
        // Without a hijack there is no way to send stdin: it is closed by dropping it.
        drop(session.stdin);
        let tty = session.tty;
        let body = Body::from_stream(entry_stream(session.output, tty, false));
        return Ok(([(header::CONTENT_TYPE, content_type(tty))], body).into_response());
    };
    let tty = session.tty;
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "exec upgrade failed");
                return;
            }
        };
        let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(upgraded));
        let (detached_tx, detached_rx) = tokio::sync::oneshot::channel::<()>();
        if let Some(mut stdin) = session.stdin {
            tokio::spawn(async move {
                // As Docker: a detach ends the session and the process keeps running. On a
                // TTY the engine holds the terminal's master, so dropping our writer does not
                // hang the shell up.
                pump_stdin(&mut client_read, &mut stdin, detach_keys, detached_tx).await;
            });
        }
        let detached = forward_output(session.output, &mut client_write, detached_rx, tty).await;
        if let Some(mut output) = detached {
            // Keep draining the process's output so it never blocks on a full pipe or
            // terminal after the client left.
            tokio::spawn(async move { while output.recv().await.is_some() {} });
        }
        let _ = client_write.shutdown().await;
    });
    Ok(hijacked_response(tty))
}
