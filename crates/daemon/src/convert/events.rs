//! Events: the engine's [`Event`] as Docker's `events.Message` JSON, and the `filters` of
//! `GET /events` as an [`EventFilter`].

use berth_api::filters::Filters;
use berth_engine::{Event, EventFilter, EventType};
use serde_json::{json, Value};

use crate::error::ApiError;

/// Filter keys Docker accepts on `/events`.
const KNOWN_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];
/// Event types Docker knows (`type=` values).
const KNOWN_TYPES: &[&str] = &[
    "builder",
    "config",
    "container",
    "daemon",
    "image",
    "network",
    "node",
    "plugin",
    "secret",
    "service",
    "volume",
];

/// Docker's `events.Message`, with the legacy `status`/`id`/`from` fields it still fills for
/// container and image events.
pub fn event(e: &Event) -> Value {
    let mut message = json!({
        "Type": e.kind.as_str(),
        "Action": e.action,
        "Actor": {"ID": e.actor_id, "Attributes": e.attributes},
        "scope": "local",
        "time": e.time_nano.div_euclid(1_000_000_000),
        "timeNano": e.time_nano,
    });
    if e.kind != EventType::Network {
        message["status"] = json!(e.action);
        message["id"] = json!(e.actor_id);
    }
    if e.kind == EventType::Container {
        if let Some(image) = e.attributes.get("image") {
            message["from"] = json!(image);
        }
    }
    message
}

/// Validates and converts `/events` filters; unknown keys and types are refused.
pub fn event_filter(raw: &str) -> Result<EventFilter, ApiError> {
    let filters = Filters::parse(raw).map_err(ApiError::bad_request)?;
    filters
        .validate(KNOWN_KEYS)
        .map_err(ApiError::bad_request)?;
    for kind in filters.get("type") {
        if !KNOWN_TYPES.contains(&kind.as_str()) {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'type={kind}'"
            )));
        }
    }
    for scope in filters.get("scope") {
        if scope != "local" && scope != "swarm" {
            return Err(ApiError::bad_request(format!(
                "invalid filter 'scope={scope}'"
            )));
        }
    }
    let unmatched_types = ["config", "daemon", "node", "plugin", "secret", "service"]
        .iter()
        .filter(|key| !filters.get(key).is_empty())
        .map(|key| (*key).to_owned())
        .collect();
    Ok(EventFilter {
        types: filters.get("type").to_vec(),
        events: filters.get("event").to_vec(),
        containers: filters.get("container").to_vec(),
        images: filters.get("image").to_vec(),
        labels: filters.get("label").to_vec(),
        volumes: filters.get("volume").to_vec(),
        networks: filters.get("network").to_vec(),
        scopes: filters.get("scope").to_vec(),
        unmatched_types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn messages_have_dockers_shape() {
        let mut attributes = BTreeMap::new();
        attributes.insert("image".to_owned(), "busybox".to_owned());
        attributes.insert("name".to_owned(), "web".to_owned());
        let message = event(&Event {
            kind: EventType::Container,
            action: "start".into(),
            actor_id: "abc".into(),
            attributes,
            time_nano: 1_700_000_000_123_456_789,
        });
        let parsed: berth_api::models::EventMessage =
            serde_json::from_value(message.clone()).unwrap();
        assert_eq!(parsed.action.as_deref(), Some("start"));
        assert_eq!(parsed.time, Some(1_700_000_000));
        assert_eq!(message["from"], "busybox");
        assert_eq!(message["status"], "start");
        assert_eq!(message["Actor"]["Attributes"]["name"], "web");
    }

    #[test]
    fn unknown_filter_keys_and_types_are_refused() {
        assert!(event_filter(r#"{"colour":["red"]}"#).is_err());
        assert!(event_filter(r#"{"type":["boat"]}"#).is_err());
        let f = event_filter(r#"{"type":["container"],"event":["die"],"plugin":["v"]}"#).unwrap();
        assert_eq!(f.types, ["container"]);
        assert_eq!(f.unmatched_types, ["plugin"]);
    }
}
