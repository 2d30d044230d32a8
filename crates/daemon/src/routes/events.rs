//! `GET /events` (Docker's event stream) and `GET /containers/{id}/stats` (one sample, or one
//! per second): both long-lived JSON streams fed by a task through a channel, which ends when
//! the client goes away.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use tokio::sync::{broadcast, mpsc};

use super::flag;
use super::streams::unix_time;
use crate::convert;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// Stream messages buffered towards a slow client.
const STREAM_BUFFER: usize = 64;
/// Docker's stats interval.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// For `stream=false` Docker waits for two samples of its 1 s collector so that CPU % has a
/// base. Berth samples on demand instead, 100 ms apart: `stats --no-stream` over many
/// containers answers in a fraction of a second, and the CPU % is still a real measurement.
const NO_STREAM_BASE: Duration = Duration::from_millis(100);

fn json_line(value: &serde_json::Value) -> Bytes {
    let mut line = value.to_string();
    line.push('\n');
    Bytes::from(line)
}

fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

/// `GET /events?since=&until=&filters=`: past events from `since` (or all retained ones when
/// only `until` is given), then live events until `until` (forever without it).
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> ApiResult<Response> {
    let filter = convert::event_filter(query.filters.as_deref().unwrap_or(""))?;
    let nanos = |t: chrono::DateTime<Utc>| t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let since = unix_time("since", &query.since)?.map(nanos);
    let until = unix_time("until", &query.until)?.map(nanos);
    if let (Some(since), Some(until)) = (since, until) {
        if since > until {
            return Err(ApiError::bad_request(
                "`since` time must be before `until` time",
            ));
        }
    }
    let replay_from = since.or(until.map(|_| 0));
    let subscription = state.engine.subscribe_events(replay_from);
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        let in_range = |t: i64| until.is_none_or(|u| t <= u);
        for event in subscription.past.iter().filter(|e| in_range(e.time_nano)) {
            if filter.matches(event) && tx.send(json_line(&convert::event(event))).await.is_err() {
                return;
            }
        }
        let deadline = until.map(|u| {
            let left = u.saturating_sub(nanos(Utc::now())).max(0);
            tokio::time::Instant::now() + Duration::from_nanos(left as u64)
        });
        let mut live = subscription.live;
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, live.recv()).await.ok(),
                    None => Some(live.recv().await),
                }
            };
            let event = match next.await {
                None => return,
                Some(Ok(event)) => event,
                Some(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, "events client too slow; events dropped");
                    continue;
                }
                Some(Err(broadcast::error::RecvError::Closed)) => return,
            };
            if !in_range(event.time_nano) {
                return;
            }
            if filter.matches(&event) && tx.send(json_line(&convert::event(&event))).await.is_err()
            {
                return;
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        channel_body(rx),
    )
        .into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: `stream` (the default) sends a sample per
/// second; `stream=false` one sample with `precpu_stats`; with `one-shot` too, one sample at
/// once without them.
pub async fn stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<StatsQuery>,
) -> ApiResult<Response> {
    let stream = query.stream.is_none() || flag(&query.stream);
    let one_shot = flag(&query.one_shot);
    if stream && one_shot {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let first = state.engine.stats(&id).await?;
    if !stream {
        if one_shot || !first.running {
            return Ok(Json(convert::stats(&first, None)).into_response());
        }
        tokio::time::sleep(NO_STREAM_BASE).await;
        let second = state.engine.stats(&id).await?;
        return Ok(Json(convert::stats(&second, Some(&first))).into_response());
    }
    let (tx, rx) = mpsc::channel(STREAM_BUFFER);
    let engine = state.engine.clone();
    tokio::spawn(async move {
        if tx
            .send(json_line(&convert::stats(&first, None)))
            .await
            .is_err()
        {
            return;
        }
        let mut previous = first;
        let mut ticks = tokio::time::interval(STATS_INTERVAL);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            // The container was removed: the stream ends.
            let Ok(sample) = engine.stats(&id).await else {
                return;
            };
            if tx
                .send(json_line(&convert::stats(&sample, Some(&previous))))
                .await
                .is_err()
            {
                return;
            }
            previous = sample;
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        channel_body(rx),
    )
        .into_response())
}
