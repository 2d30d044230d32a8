//! Image endpoints: import (`/images/create?fromSrc=`), list, inspect, history, tag, remove.
//! Image names contain slashes, so `/images/{name}/…` is routed through one catch-all.

use std::collections::HashMap;
use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::filters::Filters;
use berth_image::{ImportOptions, RemovedItem};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::flag;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// Parses a query string keeping repeated keys (`changes` may repeat).
pub(crate) fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A blocking reader over the request body's chunks, for the import running on a blocking
/// thread.
struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for BodyReader {
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

/// A blocking reader over a request body (for work on a blocking thread).
pub(crate) fn body_reader(body: Body) -> impl Read + Send + 'static {
    let (tx, rx) = mpsc::channel(16);
    let mut stream = body.into_data_stream();
    tokio::spawn(async move {
        while let Some(chunk) = stream.next().await {
            if tx.send(chunk.map_err(|e| e.to_string())).await.is_err() {
                break;
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

/// `POST /images/create`: with `fromSrc=-` imports the request body as a rootfs tarball, with
/// `fromSrc=<url>` the tarball downloaded from the URL.
/// Replies with Docker's JSON progress stream.
pub async fn create(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let pairs = query_pairs(&raw);
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    if let Some(image) = get("fromImage") {
        return super::registry::pull(state, image, get("tag"), get("platform"), headers).await;
    }
    let source = get("fromSrc")
        .ok_or_else(|| ApiError::bad_request("either fromSrc or fromImage must be given"))?;
    let reference = match (
        get("repo").filter(|r| !r.is_empty()),
        get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo),
        (None, _) => None,
    };
    // Clients send one `changes` per instruction, or several joined by newlines.
    let changes = pairs
        .iter()
        .filter(|(k, _)| k == "changes")
        .flat_map(|(_, v)| v.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| !line.trim().is_empty())
        .collect();
    let options = ImportOptions {
        reference,
        changes,
        message: get("message"),
        platform: get("platform"),
    };
    if source != "-" {
        return super::import_url::import(state, source, options).await;
    }

    let reader = body_reader(body);
    let image = state.engine.import_image(Box::new(reader), options).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!("{}\n", json!({"status": image.id})),
    )
        .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    all: Option<String>,
    filters: Option<String>,
}

/// `GET /images/json`.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let filters =
        Filters::parse(query.filters.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    filters
        .validate(&["dangling", "reference", "label", "before", "since"])
        .map_err(ApiError::bad_request)?;
    let _ = flag(&query.all);
    let engine = &state.engine;
    let containers = engine.list(&berth_engine::ListOptions {
        all: true,
        ..Default::default()
    })?;
    // The store lists newest first, as `docker images` shows them.
    let images = engine.images().list().map_err(berth_engine::Error::from)?;
    let rows = images
        .iter()
        .filter(|i| {
            filters.any("dangling", |d| {
                (d == "true" || d == "1") == i.repo_tags.is_empty()
            }) && filters.any("reference", |r| {
                i.repo_tags.iter().any(|t| reference_matches(r, t))
            }) && filters.labels_match(
                "label",
                &i.config
                    .config()
                    .as_ref()
                    .and_then(|c| c.labels().clone())
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            )
        })
        .map(|i| {
            convert::image_summary(
                i,
                containers.iter().filter(|c| c.image_id == i.id).count() as i64,
            )
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}

/// `reference=` filters: `busybox`, `busybox:latest`, `bus*`.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let repo = tag.rsplit_once(':').map(|(r, _)| r).unwrap_or(tag);
    let glob = |p: &str, s: &str| match p.split_once('*') {
        Some((prefix, suffix)) => {
            s.starts_with(prefix) && s.ends_with(suffix) && s.len() >= prefix.len() + suffix.len()
        }
        None => p == s,
    };
    glob(pattern, tag) || glob(pattern, repo)
}

/// `GET /images/{name}/json` and `GET /images/{name}/history`.
pub async fn get_dispatch(
    State(state): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/get") {
        return super::image_archive::save_one(state, name).await;
    }
    let images = state.engine.images();
    if let Some(name) = rest.strip_suffix("/json") {
        let image = images.resolve(name).map_err(|e| not_found_image(e, name))?;
        let graph = images
            .image_graph_driver(&image.id)
            .map_err(|e| not_found_image(e, name))?;
        return Ok(Json(convert::image_inspect(&image, &graph)).into_response());
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let image = images.resolve(name).map_err(|e| not_found_image(e, name))?;
        let mut parents = Vec::new();
        let mut parent = image.parent.clone();
        while !parent.is_empty() && parents.len() < 128 {
            match images.resolve(&parent) {
                Ok(p) => {
                    parent = p.parent.clone();
                    parents.push(p);
                }
                Err(_) => break,
            }
        }
        return Ok(Json(convert::image_history(&image, &parents)).into_response());
    }
    Err(ApiError::not_found(format!(
        "page not found: /images/{rest}"
    )))
}

pub(crate) fn not_found_image(error: berth_image::Error, name: &str) -> ApiError {
    match error.kind() {
        berth_image::ErrorKind::NotFound => ApiError::not_found(format!("No such image: {name}")),
        _ => ApiError::from(berth_engine::Error::from(error)),
    }
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn post_dispatch(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let Some(name) = rest.strip_suffix("/tag") else {
        if let Some(name) = rest.strip_suffix("/push") {
            return super::registry::push(state, name.to_string(), query, headers).await;
        }
        return Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        )));
    };
    let repo = query
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repository name must be given (repo=)"))?;
    let target = match query.get("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.clone(),
    };
    state
        .engine
        .tag_image(name, &target)
        .map_err(|e| match e.kind() {
            berth_engine::ErrorKind::NotFound => {
                ApiError::not_found(format!("No such image: {name}"))
            }
            _ => ApiError::from(e),
        })?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name}?force=&noprune=`.
pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let force = flag(&query.get("force").cloned());
    let removed = state
        .engine
        .remove_image(&name, force)
        .await
        .map_err(|e| match e.kind() {
            berth_engine::ErrorKind::NotFound => {
                ApiError::not_found(format!("No such image: {name}"))
            }
            _ => ApiError::from(e),
        })?;
    let rows: Vec<Value> = removed
        .into_iter()
        .map(|item| match item {
            RemovedItem::Untagged(r) => json!({"Untagged": r}),
            RemovedItem::Deleted(id) => json!({"Deleted": id}),
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_keep_repeats_and_decode() {
        let pairs = query_pairs(&Some(
            "fromSrc=-&changes=CMD+%5B%22sh%22%5D&changes=ENV%20A%3Db&repo=x".into(),
        ));
        assert_eq!(pairs[1], ("changes".into(), "CMD [\"sh\"]".into()));
        assert_eq!(pairs[2], ("changes".into(), "ENV A=b".into()));
        assert_eq!(decode("100%"), "100%");
    }

    #[test]
    fn reference_filter_globs() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("bus*", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
    }
}
