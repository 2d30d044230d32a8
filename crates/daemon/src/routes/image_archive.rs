//! Image archives: `GET /images/get?names=`, `GET /images/{name}/get`, `POST /images/load`.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::mpsc;

use super::images::{body_reader, not_found_image, query_pairs};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

const CHUNK: usize = 256 * 1024;

/// A blocking writer feeding a response body through a channel, in chunks.
pub(crate) struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub(crate) fn new(tx: mpsc::Sender<Result<Bytes, std::io::Error>>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        // the tar writer's last bytes may still be buffered
        let _ = self.flush();
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// `GET /images/get?names=a&names=b`: a docker-archive of the named images.
pub async fn save_many(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let names: Vec<String> = query_pairs(&raw)
        .into_iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given (names=)"));
    }
    save(state, names).await
}

/// `GET /images/{name}/get`.
pub async fn save_one(state: AppState, name: &str) -> ApiResult<Response> {
    save(state, vec![name.to_string()]).await
}

async fn save(state: AppState, names: Vec<String>) -> ApiResult<Response> {
    for n in &names {
        state
            .engine
            .images()
            .resolve(n)
            .map_err(|e| not_found_image(e, n))?;
    }
    let engine = state.engine.clone();
    Ok(tar_response(move |out| async move {
        engine.save_images(names, out).await
    }))
}

/// An `application/x-tar` response whose body `produce` writes through a [`ChannelWriter`]
/// (typically on a blocking thread of the engine). A failure is logged and ends the body with
/// an error, so the client sees a broken transfer rather than a complete-looking archive.
pub(crate) fn tar_response<F, Fut>(produce: F) -> Response
where
    F: FnOnce(Box<dyn Write + Send>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = berth_engine::Result<()>> + Send,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let error_tx = tx.clone();
    tokio::spawn(async move {
        if let Err(e) = produce(Box::new(ChannelWriter::new(tx))).await {
            tracing::error!(error = %e, "tar stream failed");
            let _ = error_tx
                .send(Err(std::io::Error::other(e.to_string())))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-tar")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// `POST /images/load?quiet=`: loads a docker-archive or OCI layout (optionally gzip) from the
/// body and answers Docker's JSON message stream (`Loaded image: …` / `Loaded image ID: …`).
pub async fn load(
    State(state): State<AppState>,
    RawQuery(_raw): RawQuery,
    body: Body,
) -> ApiResult<Response> {
    let reader = body_reader(body);
    let loaded = state
        .engine
        .load_images(Box::new(reader))
        .await
        .map_err(ApiError::from)?;
    let mut out = String::new();
    for image in &loaded {
        for (tag, old) in &image.moved {
            let line = format!(
                "The image {tag} already exists, renaming the old one with ID {old} to empty string\n"
            );
            out.push_str(&json!({ "stream": line }).to_string());
            out.push('\n');
        }
        if image.tags.is_empty() {
            let line = format!("Loaded image ID: {}\n", image.id);
            out.push_str(&json!({ "stream": line }).to_string());
            out.push('\n');
        }
        for tag in &image.tags {
            let line = format!("Loaded image: {tag}\n");
            out.push_str(&json!({ "stream": line }).to_string());
            out.push('\n');
        }
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}
