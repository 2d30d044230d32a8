//! `POST /images/create?fromSrc=<url>`: import a rootfs tarball downloaded from a URL.
//!
//! As dockerd does it: the GET happens first (a 404 or a refused connection is the HTTP
//! reply's error), then the reply streams `Downloading from <url>`, `Importing` progress
//! messages while the body streams into the import (decompressed, hashed and unpacked in one
//! pass; nothing is buffered whole), and the new image id. A failure after the first message
//! (the connection drops, the body is no tar) is a final `error` line; the import leaves
//! nothing behind.

use std::convert::Infallible;
use std::io::Read;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use berth_image::ImportOptions;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::convert::registry as wire;
use crate::error::{registry_error, ApiResult};
use crate::server::AppState;

/// dockerd's progress reader reports every 512 KiB.
const PROGRESS_EVERY: u64 = 512 * 1024;

/// A blocking reader over downloaded chunks (the import runs on a blocking thread).
struct ChunkReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Import from `source` (a URL; without a scheme it is `http://`). `options.message` defaults
/// to `Imported from <source>`, as with Docker.
pub async fn import(
    state: AppState,
    source: String,
    mut options: ImportOptions,
) -> ApiResult<Response> {
    let download = state
        .registry
        .download(&source)
        .await
        .map_err(|e| registry_error(&e))?;
    if options.message.as_deref().is_none_or(str::is_empty) {
        options.message = Some(format!("Imported from {source}"));
    }
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let _ = tx.send(json!({"status": format!("Downloading from {}", download.url)}));

    // pump: download chunks -> the import's reader, with progress messages on the way
    let (data_tx, data_rx) = mpsc::channel::<Result<Bytes, String>>(16);
    let total = download.content_length.unwrap_or(0);
    let url = download.url.clone();
    let mut body = download.body;
    let progress = tx.clone();
    tokio::spawn(async move {
        let (mut current, mut reported) = (0u64, 0u64);
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => {
                    current += bytes.len() as u64;
                    if current - reported >= PROGRESS_EVERY || (total > 0 && current >= total) {
                        let _ = progress.send(wire::import_progress(current, total));
                        reported = current;
                    }
                    if data_tx.send(Ok(bytes)).await.is_err() {
                        return; // the import stopped reading (it failed)
                    }
                }
                Err(e) => {
                    let _ = data_tx
                        .send(Err(format!("downloading {url} failed: {e}")))
                        .await;
                    return;
                }
            }
        }
        if current != reported {
            let _ = progress.send(wire::import_progress(current, total));
        }
    });

    let engine = state.engine.clone();
    tokio::spawn(async move {
        let reader = ChunkReader {
            rx: data_rx,
            current: Bytes::new(),
        };
        match engine.import_image(Box::new(reader), options).await {
            Ok(image) => {
                let _ = tx.send(json!({"status": image.id}));
            }
            Err(e) => {
                tracing::warn!(error = %e, "import from a URL failed");
                let _ = tx.send(wire::stream_error(&e.to_string()));
            }
        }
    });

    let lines = stream::unfold(rx, |mut rx| async move {
        let v = rx.recv().await?;
        Some((Ok::<_, Infallible>(Bytes::from(format!("{v}\r\n"))), rx))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response())
}
