//! Network endpoints (`/networks…`): list, inspect, create, remove, prune, connect and
//! disconnect, backed by the engine's network table.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use berth_api::filters::Filters;
use berth_engine::NetworkFilters;
use serde_json::{json, Value};

use super::image_prune::{parse_until, PruneQuery};
use crate::convert::networks::{create_request, network};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

fn parse_filters(raw: &Option<String>, allowed: &[&str]) -> ApiResult<Filters> {
    let filters = Filters::parse(raw.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    filters.validate(allowed).map_err(ApiError::bad_request)?;
    Ok(filters)
}

fn json_body(body: &Bytes, what: &str) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body for {what}: {e}")))
}

/// `GET /networks?filters=` (name, id, label, driver, type, dangling).
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let filters = parse_filters(
        &query.filters,
        &["name", "id", "label", "driver", "type", "dangling"],
    )?;
    for t in filters.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(ApiError::bad_request(format!(
                "invalid filter: 'type'='{t}'"
            )));
        }
    }
    let dangling = match filters.get("dangling") {
        [] => None,
        [v] => match v.to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid filter 'dangling={v}'"
                )))
            }
        },
        _ => {
            return Err(ApiError::bad_request(
                "invalid filter 'dangling': give one value",
            ))
        }
    };
    let wanted = NetworkFilters {
        names: filters.get("name").to_vec(),
        ids: filters.get("id").to_vec(),
        labels: filters.get("label").to_vec(),
        drivers: filters.get("driver").to_vec(),
        types: filters.get("type").to_vec(),
        dangling,
    };
    let out: Vec<Value> = state
        .engine
        .network_list(&wanted)?
        .iter()
        .map(|n| network(n, Some(&state.engine.network_endpoints(&n.id))))
        .collect();
    Ok(Json(json!(out)))
}

/// `GET /networks/{id}`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let n = state.engine.network_inspect(&id)?;
    let endpoints = state.engine.network_endpoints(&n.id);
    Ok(Json(network(&n, Some(&endpoints))))
}

/// `POST /networks/create`: 201 with `{"Id", "Warning"}`.
pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(&body, "network create")?;
    let request = create_request(&body)?;
    let created = state.engine.network_create(request).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": created.id, "Warning": ""})),
    ))
}

/// `DELETE /networks/{id}`.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.engine.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune?filters=` (until, label, label!).
pub async fn prune(
    State(state): State<AppState>,
    Query(query): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let filters = parse_filters(&query.filters, &["until", "label", "label!"])?;
    let until = filters
        .get("until")
        .iter()
        .map(|u| parse_until(u))
        .collect::<Result<Vec<i64>, String>>()
        .map_err(ApiError::bad_request)?
        .into_iter()
        .min()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    let labels: Vec<String> = filters
        .get("label")
        .iter()
        .cloned()
        .chain(filters.get("label!").iter().map(|l| format!("!{l}")))
        .collect();
    let removed = state.engine.network_prune(until, &labels).await?;
    Ok(Json(json!({
        "NetworksDeleted": if removed.is_empty() { Value::Null } else { json!(removed) },
    })))
}

/// `POST /networks/{id}/connect` with `{"Container", "EndpointConfig"}`.
pub async fn connect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: berth_api::models::NetworkConnectRequest =
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("invalid JSON body for network connect: {e}"))
        })?;
    let settings =
        crate::convert::endpoint_settings(id.clone(), request.endpoint_config.unwrap_or_default())?;
    state
        .engine
        .network_connect(&id, &request.container, settings)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect` with `{"Container", "Force"}`.
pub async fn disconnect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let request: berth_api::models::NetworkDisconnectRequest = serde_json::from_slice(&body)
        .map_err(|e| {
            ApiError::bad_request(format!("invalid JSON body for network disconnect: {e}"))
        })?;
    state
        .engine
        .network_disconnect(&id, &request.container, request.force.unwrap_or(false))
        .await?;
    Ok(StatusCode::OK)
}
