//! Registry endpoints: pull (`POST /images/create?fromImage=`), push
//! (`POST /images/{name}/push`), `POST /auth` and `GET /images/search`. Pull and push reply
//! with Docker's JSON progress stream; an error before the first progress message is an HTTP
//! error, later ones are `{"errorDetail":…,"error":…}` lines, as dockerd does.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_image::pull::{PullOptions, PullProgress};
use berth_image::push::{PushOptions, PushProgress};
use berth_image::registry::{Compression, Credentials};
use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::convert::registry as wire;
use crate::error::{registry_error, ApiError, ApiResult};
use crate::server::AppState;

fn credentials(headers: &HeaderMap) -> ApiResult<Credentials> {
    wire::registry_auth_header(headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok()))
}

/// Pull `fromImage` (+ `tag`, which may be a digest) for `platform`; with neither a `tag` nor
/// one in `fromImage`, every tag of the repository (`docker pull --all-tags`).
pub async fn pull(
    state: AppState,
    image: String,
    tag: Option<String>,
    platform: Option<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let credentials = credentials(&headers)?;
    let tag = tag.filter(|t| !t.is_empty());
    // dockerd pulls every tag when neither `tag` nor the image names one
    let all_tags = tag.is_none() && berth_image::pull_all::is_name_only(&image);
    let name = match tag {
        Some(t) if t.contains(':') => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image,
    };
    let opts = PullOptions {
        platform,
        credentials,
        max_concurrent_downloads: 0,
    };
    let store = state.engine.images().clone();
    let registry = state.registry.clone();
    if all_tags {
        return progress_response(|tx| async move {
            let sink = move |p: PullProgress| {
                let _ = tx.send(wire::pull_progress(&p));
            };
            berth_image::pull_all::pull_all_tags(&store, &registry, &name, &opts, &sink)
                .await
                .map(|_| ())
        })
        .await;
    }
    progress_response(|tx| async move {
        let sink = move |p: PullProgress| {
            let _ = tx.send(wire::pull_progress(&p));
        };
        berth_image::pull::pull(&store, &registry, &name, &opts, &sink)
            .await
            .map(|_| ())
    })
    .await
}

/// `POST /images/{name}/push?tag=` (`compression=zstd` is a Berth extension).
pub async fn push(
    state: AppState,
    name: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let credentials = credentials(&headers)?;
    let compression = match query.get("compression").map(String::as_str) {
        None | Some("") | Some("gzip") => Compression::Gzip,
        Some("zstd") => Compression::Zstd,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown compression {other:?} (gzip or zstd)"
            )))
        }
    };
    let opts = PushOptions {
        credentials,
        compression,
        max_concurrent_uploads: 0,
    };
    let tag = query.get("tag").cloned().filter(|t| !t.is_empty());
    let store = state.engine.images().clone();
    let registry = state.registry.clone();
    progress_response(|tx| async move {
        let sink = move |p: PushProgress| {
            for m in wire::push_progress(&p) {
                let _ = tx.send(m);
            }
        };
        berth_image::push::push(&store, &registry, &name, tag.as_deref(), &opts, &sink)
            .await
            .map(|_| ())
    })
    .await
}

/// Run an operation that reports progress; answer with an HTTP error if it fails before its
/// first message, else stream the messages (and a final error line if it fails later).
async fn progress_response<F, Fut>(op: F) -> ApiResult<Response>
where
    F: FnOnce(mpsc::UnboundedSender<Value>) -> Fut,
    Fut: Future<Output = Result<(), berth_image::Error>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let task: JoinHandle<Result<(), berth_image::Error>> = tokio::spawn(op(tx));
    // `None` from the channel means the operation ended (its sender dropped) before saying
    // anything: its result decides the reply.
    let first = rx.recv().await;
    if first.is_none() {
        return match task.await {
            Ok(Ok(())) => {
                Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], "").into_response())
            }
            Ok(Err(e)) => Err(ApiError::from(berth_engine::Error::from(e))),
            Err(e) => Err(ApiError::from(berth_engine::Error::Internal {
                message: format!("task failed: {e}"),
            })),
        };
    }
    let line = |v: Value| Ok::<_, Infallible>(Bytes::from(format!("{v}\r\n")));
    let task = Some(task);
    let body = stream::unfold((rx, task, first), move |(mut rx, task, first)| async move {
        if let Some(v) = first {
            return Some((line(v), (rx, task, None)));
        }
        if let Some(v) = rx.recv().await {
            return Some((line(v), (rx, task, None)));
        }
        let task = task?;
        let message = match task.await {
            Ok(Ok(())) => return None,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "registry operation failed");
                e.to_string()
            }
            Err(e) => format!("task failed: {e}"),
        };
        Some((line(wire::stream_error(&message)), (rx, None, None)))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `POST /auth`: check credentials against a registry (the CLI stores them on success).
pub async fn auth(
    State(state): State<AppState>,
    Json(body): Json<wire::AuthConfig>,
) -> ApiResult<Json<Value>> {
    let credentials = body.credentials()?;
    let server = registry_host(&body.server_address);
    let status = state
        .registry
        .login(&server, &credentials)
        .await
        .map_err(|e| registry_error(&e))?;
    Ok(Json(json!({"Status": status, "IdentityToken": ""})))
}

/// `https://index.docker.io/v1/` and friends -> `docker.io`; `http://host:5000/` -> `host:5000`.
fn registry_host(address: &str) -> String {
    let a = address
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let a = a.split('/').next().unwrap_or(a);
    match a {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        other => other.to_string(),
    }
}

/// `GET /images/search?term=&limit=&filters=`.
pub async fn search(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let term = query
        .get("term")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("search term must be given (term=)"))?;
    let limit = match query.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("invalid limit {l:?}: must be in the range 1-100"))
            })?,
        None => 25,
    };
    let filters =
        berth_api::filters::Filters::parse(query.get("filters").map(String::as_str).unwrap_or(""))
            .map_err(ApiError::bad_request)?;
    filters
        .validate(&["is-official", "is-automated", "stars"])
        .map_err(ApiError::bad_request)?;
    let min_stars: u64 = match filters.get("stars").first() {
        Some(s) => s
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid filter 'stars={s}'")))?,
        None => 0,
    };
    let want_official = filters
        .get("is-official")
        .first()
        .map(|v| v == "true" || v == "1");
    let want_automated = filters
        .get("is-automated")
        .first()
        .map(|v| v == "true" || v == "1");
    // `host:port/term` or `host.tld/term` searches that registry; a bare term Docker Hub
    let (registry, term) = match term.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (host.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), term.clone()),
    };
    let credentials = credentials(&headers)?;
    let hits = state
        .registry
        .search(&registry, &term, &credentials)
        .await
        .map_err(|e| registry_error(&e))?;
    let rows: Vec<Value> = hits
        .into_iter()
        .filter(|h| h.star_count >= min_stars)
        .filter(|h| want_official.is_none_or(|w| w == h.is_official))
        // a catalog has no automated builds
        .filter(|_| want_automated != Some(true))
        .take(limit)
        .map(|h| {
            json!({"name": h.name, "description": h.description, "star_count": h.star_count,
                   "is_official": h.is_official, "is_automated": false})
        })
        .collect();
    Ok(Json(Value::Array(rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts() {
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host(""), "docker.io");
        assert_eq!(registry_host("localhost:5000"), "localhost:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    }
}
