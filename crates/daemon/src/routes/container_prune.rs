//! `POST /containers/prune?filters=` (until, label, label!).

use axum::extract::{Query, State};
use axum::Json;
use berth_api::filters::Filters;
use serde_json::{json, Value};

use super::image_prune::{negated_labels_ok, parse_until, PruneQuery};
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// Removes stopped containers; Docker's reply shape (`ContainersDeleted` null when empty).
pub async fn prune(
    State(state): State<AppState>,
    Query(query): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let filters =
        Filters::parse(query.filters.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    filters
        .validate(&["until", "label", "label!"])
        .map_err(ApiError::bad_request)?;
    let until = filters
        .get("until")
        .iter()
        .map(|u| parse_until(u))
        .collect::<Result<Vec<i64>, String>>()
        .map_err(ApiError::bad_request)?;
    let keep = move |c: &berth_engine::Container| {
        let created = c.created.timestamp();
        until.iter().any(|u| created >= *u)
            || !filters.labels_match("label", &c.labels)
            || (!filters.get("label!").is_empty() && !negated_labels_ok(&filters, &c.labels))
    };
    let pruned = state.engine.prune_containers(&keep).await?;
    Ok(Json(json!({
        "ContainersDeleted": if pruned.ids.is_empty() { Value::Null } else { json!(pruned.ids) },
        "SpaceReclaimed": pruned.space_reclaimed,
    })))
}
