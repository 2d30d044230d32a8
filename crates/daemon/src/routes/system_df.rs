//! `GET /system/df`.

use axum::extract::State;
use axum::Json;
use serde_json::Value;

use crate::convert;
use crate::error::ApiResult;
use crate::server::AppState;

/// `GET /system/df`: disk usage of images, containers and volumes. The `type` query parameter
/// of newer API versions is accepted and every section is always returned, as Docker 20.10 does.
pub async fn df(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let usage = state.engine.disk_usage().await?;
    Ok(Json(convert::df::disk_usage(&usage)))
}
