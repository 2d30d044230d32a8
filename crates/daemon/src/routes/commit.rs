//! `POST /commit` and `GET /containers/{id}/export`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_engine::CommitRequest;
use serde_json::json;

use super::image_archive::tar_response;
use super::images::query_pairs;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`.
pub async fn commit(State(state): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let pairs = query_pairs(&raw);
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let container = get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required (container=)"))?;
    let reference = match (
        get("repo").filter(|r| !r.is_empty()),
        get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo),
        (None, Some(_)) => return Err(ApiError::bad_request("tag given without a repository")),
        (None, None) => None,
    };
    // Docker pauses unless pause=0/false is given explicitly.
    let pause = match get("pause")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") => true,
        Some("0" | "false" | "no") => false,
        Some(_) => true,
    };
    let changes = pairs
        .iter()
        .filter(|(k, _)| k == "changes")
        .flat_map(|(_, v)| v.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|line| !line.trim().is_empty())
        .collect();
    let request = CommitRequest {
        reference,
        comment: get("comment").unwrap_or_default(),
        author: get("author").unwrap_or_default(),
        changes,
        pause,
    };
    let image = state
        .engine
        .commit_container(&container, request)
        .await
        .map_err(|e| match e.kind() {
            berth_engine::ErrorKind::NotFound if state.engine.inspect(&container).is_err() => {
                ApiError::not_found(format!("No such container: {container}"))
            }
            _ => ApiError::from(e),
        })?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": image.id }))).into_response())
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar stream.
pub async fn export(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    state
        .engine
        .inspect(&id)
        .map_err(|_| ApiError::not_found(format!("No such container: {id}")))?;
    let engine = state.engine.clone();
    Ok(tar_response(move |out| async move {
        engine.export_container(&id, out).await
    }))
}
