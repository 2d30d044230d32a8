//! Volume endpoints (`/volumes…`), backed by the engine's local driver.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use berth_api::filters::Filters;
use berth_api::models::VolumeCreateRequest;
use berth_engine::VolumeFilters;
use serde_json::{json, Value};

use super::{flag, CommonQuery};
use crate::convert::volumes::{create_request, volume};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// `POST /volumes/create`: 201 with the volume (the existing one if the name is taken).
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let parsed: VolumeCreateRequest = if body.is_empty() {
        VolumeCreateRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("invalid JSON body for volume create: {e}"))
        })?
    };
    let created = state.engine.volume_create(create_request(parsed)).await?;
    let mountpoint = state.engine.volume_mountpoint(&created.name);
    Ok((StatusCode::CREATED, Json(volume(&created, &mountpoint))))
}

#[derive(Debug, serde::Deserialize)]
pub struct FiltersQuery {
    filters: Option<String>,
}

fn parse_filters(raw: &Option<String>, allowed: &[&str]) -> ApiResult<Filters> {
    let filters = Filters::parse(raw.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    filters.validate(allowed).map_err(ApiError::bad_request)?;
    Ok(filters)
}

fn bool_filter(filters: &Filters, key: &str) -> ApiResult<Option<bool>> {
    match filters.get(key) {
        [] => Ok(None),
        [value] => match value.to_ascii_lowercase().as_str() {
            "1" | "true" => Ok(Some(true)),
            "0" | "false" => Ok(Some(false)),
            _ => Err(ApiError::bad_request(format!(
                "invalid filter '{key}={value}'"
            ))),
        },
        _ => Err(ApiError::bad_request(format!(
            "invalid filter '{key}': give one value"
        ))),
    }
}

/// `GET /volumes?filters=` (name, label, dangling, driver).
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<FiltersQuery>,
) -> ApiResult<Json<Value>> {
    let filters = parse_filters(&query.filters, &["name", "label", "dangling", "driver"])?;
    let wanted = VolumeFilters {
        names: filters.get("name").to_vec(),
        labels: filters.get("label").to_vec(),
        dangling: bool_filter(&filters, "dangling")?,
        drivers: filters.get("driver").to_vec(),
    };
    let volumes: Vec<Value> = state
        .engine
        .volume_list(&wanted)?
        .iter()
        .map(|v| volume(v, &state.engine.volume_mountpoint(&v.name)))
        .collect();
    Ok(Json(json!({"Volumes": volumes, "Warnings": []})))
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = state.engine.volume_inspect(&name)?;
    Ok(Json(volume(&v, &state.engine.volume_mountpoint(&v.name))))
}

/// `DELETE /volumes/{name}?force=`: 409 while a container uses the volume.
pub async fn remove(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    state
        .engine
        .volume_remove(&name, flag(&query.force))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune?filters=` (label, label!, all).
pub async fn prune(
    State(state): State<AppState>,
    Query(query): Query<FiltersQuery>,
) -> ApiResult<Json<Value>> {
    let filters = parse_filters(&query.filters, &["label", "label!", "all"])?;
    let all = bool_filter(&filters, "all")?.unwrap_or(false);
    let labels: Vec<String> = filters
        .get("label")
        .iter()
        .cloned()
        .chain(filters.get("label!").iter().map(|l| format!("!{l}")))
        .collect();
    let pruned = state.engine.volume_prune(all, &labels).await?;
    Ok(Json(json!({
        "VolumesDeleted": pruned.names,
        "SpaceReclaimed": pruned.space_reclaimed,
    })))
}
