//! `POST /images/prune?filters=` (dangling, until, label, label!).

use axum::extract::{Query, State};
use axum::Json;
use berth_api::filters::Filters;
use berth_image::RemovedItem;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

#[derive(Debug, serde::Deserialize)]
pub struct PruneQuery {
    /// Docker's JSON filters
    pub(crate) filters: Option<String>,
}

/// Docker's `until`: a unix timestamp (with optional fraction) or an RFC 3339 time or a Go
/// duration relative to now (`24h`, `30m`, `10s`).
pub(crate) fn parse_until(v: &str) -> Result<i64, String> {
    if let Ok(t) = v.parse::<f64>() {
        return Ok(t as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp());
    }
    let now = chrono::Utc::now().timestamp();
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid until value {v:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid until value {v:?}")),
    };
    Ok(now - secs as i64)
}

/// `POST /images/prune`.
pub async fn prune(
    State(state): State<AppState>,
    Query(query): Query<PruneQuery>,
) -> ApiResult<Json<Value>> {
    let filters =
        Filters::parse(query.filters.as_deref().unwrap_or("")).map_err(ApiError::bad_request)?;
    filters
        .validate(&["dangling", "until", "label", "label!"])
        .map_err(ApiError::bad_request)?;
    let all = filters
        .get("dangling")
        .iter()
        .any(|d| matches!(d.as_str(), "false" | "0"));
    let until = filters
        .get("until")
        .iter()
        .map(|u| parse_until(u))
        .collect::<Result<Vec<i64>, String>>()
        .map_err(ApiError::bad_request)?;
    let keep = move |image: &berth_image::ImageRecord| {
        let labels = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        let created = image.created.timestamp();
        until.iter().any(|u| created >= *u)
            || !filters.labels_match("label", &labels)
            || (!filters.get("label!").is_empty() && !negated_labels_ok(&filters, &labels))
    };
    let pruned = state.engine.prune_images(all, &keep).await?;
    let deleted: Vec<Value> = pruned
        .items
        .iter()
        .map(|item| match item {
            RemovedItem::Untagged(r) => json!({"Untagged": r}),
            RemovedItem::Deleted(id) => json!({"Deleted": id}),
        })
        .collect();
    Ok(Json(json!({
        "ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) },
        "SpaceReclaimed": pruned.space_reclaimed,
    })))
}

/// `label!=k` / `label!=k=v`: keep images that carry the label (value).
pub(crate) fn negated_labels_ok(
    filters: &Filters,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    filters
        .get("label!")
        .iter()
        .all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).map(String::as_str) != Some(v),
            None => !labels.contains_key(f.as_str()),
        })
}
