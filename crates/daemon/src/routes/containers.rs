//! Container endpoints other than the streaming ones (logs, attach: see `streams`).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_api::filters::Filters;
use berth_api::models::ContainerCreateBody;
use berth_engine::{ListOptions, WaitCondition};
use serde_json::{json, Value};

use super::{flag, int, CommonQuery};
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// `POST /containers/create?name=`.
pub async fn create(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let parsed: ContainerCreateBody = serde_json::from_slice(&body).map_err(|e| {
        // bollard's restart policy name is an enum: say which name was wrong.
        if let Some(name) = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
            v.pointer("/HostConfig/RestartPolicy/Name")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }) {
            if berth_engine::validate_policy(&berth_engine::RestartPolicy {
                name: name.clone(),
                maximum_retry_count: 0,
            })
            .is_err()
            {
                return ApiError::bad_request(format!(
                    "invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', 'unless-stopped', or 'on-failure'"
                ));
            }
        }
        ApiError::bad_request(format!("invalid JSON body for container create: {e}"))
    })?;
    let spec = convert::create_body(query.get("name").cloned(), parsed)?;
    let spec = convert::legacy_mac_address(spec, &body);
    let created = state.engine.create(spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": created.id, "Warnings": created.warnings})),
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct ListQuery {
    all: Option<String>,
    limit: Option<String>,
    size: Option<String>,
    filters: Option<String>,
}

/// `GET /containers/json`.
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let filters =
        Filters::parse(query.filters.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    filters
        .validate(&["status", "name", "id", "label", "ancestor", "exited"])
        .map_err(ApiError::bad_request)?;
    for status in filters.get("status") {
        if ![
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ]
        .contains(&status.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'status={status}'"
            )));
        }
    }
    let exited = filters
        .get("exited")
        .iter()
        .map(|e| {
            e.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid filter 'exited={e}'")))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let limit = int("limit", &query.limit)?
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let _ = &query.size;
    let options = ListOptions {
        all: flag(&query.all),
        limit,
        status: filters.get("status").to_vec(),
        names: filters.get("name").to_vec(),
        ids: filters.get("id").to_vec(),
        labels: filters.get("label").to_vec(),
        ancestors: filters.get("ancestor").to_vec(),
        exited,
    };
    let containers = state.engine.list(&options)?;
    Ok(Json(Value::Array(
        containers.iter().map(convert::summary).collect(),
    )))
}

/// `GET /containers/{id}/json`.
pub async fn inspect(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let engine = &state.engine;
    let c = engine.inspect(&id)?;
    let paths = convert::ContainerPaths {
        resolv_conf: engine.etc_file(&c, "resolv.conf").display().to_string(),
        hostname: engine.etc_file(&c, "hostname").display().to_string(),
        hosts: engine.etc_file(&c, "hosts").display().to_string(),
        log: engine.log_path_of(&c).display().to_string(),
        graph_driver: engine.graph_driver(&c)?,
    };
    Ok(Json(convert::inspect(&c, &c.spec.image, &paths)))
}

/// `POST /containers/{id}/start`.
pub async fn start(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.engine.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn timeout(query: &CommonQuery) -> ApiResult<Option<i64>> {
    match int("t", &query.t)? {
        Some(t) => Ok(Some(t)),
        None => int("timeout", &query.timeout),
    }
}

/// `POST /containers/{id}/stop?t=&signal=`.
pub async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    let timeout = timeout(&query)?;
    state
        .engine
        .stop(
            &id,
            timeout,
            query.signal.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/restart?t=&signal=`.
pub async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    let timeout = timeout(&query)?;
    state
        .engine
        .restart(
            &id,
            timeout,
            query.signal.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    state.engine.kill(&id, query.signal.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/wait?condition=`. Headers go out at once (the wait is registered),
/// the JSON body when the condition is met.
pub async fn wait(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<Response> {
    let condition =
        WaitCondition::parse(query.condition.as_deref().unwrap_or("")).map_err(ApiError::from)?;
    let waiter = state.engine.wait(&id, condition)?;
    let body = futures_util::stream::once(async move {
        let outcome = waiter.wait().await;
        let mut reply = json!({"StatusCode": outcome.status_code});
        if let Some(message) = outcome.error {
            reply["Error"] = json!({"Message": message});
        }
        Ok::<_, std::convert::Infallible>(Bytes::from(format!("{reply}\n")))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    state
        .engine
        .remove(&id, flag(&query.force), flag(&query.v))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/pause`.
pub async fn pause(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    state.engine.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/unpause`.
pub async fn unpause(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.engine.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    state
        .engine
        .rename(&id, query.name.as_deref().unwrap_or(""))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /containers/{id}/top?ps_args=`.
pub async fn top(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<Json<Value>> {
    let top = state
        .engine
        .top(&id, query.ps_args.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(
        json!({"Titles": top.titles, "Processes": top.processes}),
    ))
}

/// `POST /containers/{id}/resize?h=&w=`: resizes the container's TTY.
pub async fn resize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<CommonQuery>,
) -> ApiResult<StatusCode> {
    let height = int("h", &query.h)?.unwrap_or(0);
    let width = int("w", &query.w)?.unwrap_or(0);
    if !(0..=u16::MAX as i64).contains(&height) || !(0..=u16::MAX as i64).contains(&width) {
        return Err(ApiError::bad_request("invalid terminal size"));
    }
    state
        .engine
        .resize(&id, height as u16, width as u16)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /containers/{id}/update`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let update = convert::update_body(&body)?;
    let warnings = state.engine.update(&id, update).await?;
    Ok(Json(json!({"Warnings": warnings})))
}
