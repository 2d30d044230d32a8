//! The events bus: what happened to containers and images, as Docker's `/events` reports it.
//!
//! Every event is published to live subscribers (a tokio broadcast channel) and kept in a
//! bounded in-memory history, so `since` can replay what happened before a client connected.
//! The history does not survive a daemon restart (Docker keeps 256 events in memory too).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::broadcast;

/// How many past events `since` can replay (Docker's `eventsLimit`).
const HISTORY: usize = 256;
/// Live subscribers that fall this far behind lose events (and are told so by `Lagged`).
const CHANNEL: usize = 1024;

/// What kind of object an event is about (Docker's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Container,
    Image,
    Volume,
    Network,
}

impl EventType {
    /// Docker's lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Volume => "volume",
            EventType::Network => "network",
        }
    }
}

/// One event: `Action` happened to the object `actor_id` of type `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// Docker's action name: `create`, `start`, `die`, `kill`, `tag`, …
    pub action: String,
    /// Container ID, or image ID / reference for image events.
    pub actor_id: String,
    /// `name`, `image`, the container's labels, `exitCode`, `signal`, …
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i64,
}

/// Publishes events and hands out subscriptions. Publishing never blocks and never fails:
/// with nobody listening an event only goes into the history.
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

/// A subscription: the history a client asked to replay, then live events.
pub struct Subscription {
    /// Past events with `time_nano >= since`, oldest first.
    pub past: Vec<Event>,
    /// Events published after the subscription was taken.
    pub live: broadcast::Receiver<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            sender: broadcast::channel(CHANNEL).0,
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
        }
    }
}

impl EventBus {
    /// Records and broadcasts `event`.
    pub fn publish(&self, event: Event) {
        tracing::debug!(kind = event.kind.as_str(), action = %event.action, id = %event.actor_id, "event");
        let mut history = match self.history.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        // Sent under the history lock so a concurrent `subscribe` sees each event exactly
        // once: either in `past` or on `live`.
        let _ = self.sender.send(event);
    }

    /// Subscribes; with `since` (nanoseconds), the retained events from then on are replayed.
    pub fn subscribe(&self, since: Option<i64>) -> Subscription {
        let history = match self.history.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let past = match since {
            Some(since) => history
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        Subscription {
            past,
            live: self.sender.subscribe(),
        }
    }
}

impl crate::engine::Engine {
    /// Subscribes to the engine's events; see [`EventBus::subscribe`].
    pub fn subscribe_events(&self, since: Option<i64>) -> Subscription {
        self.events.subscribe(since)
    }

    /// Publishes a container event with Docker's attributes: the container's labels, `name`,
    /// `image` (as the user named it), and `extra` (`exitCode`, `signal`, …).
    pub(crate) fn emit_container(
        &self,
        container: &crate::container::model::Container,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attributes = container.labels.clone();
        attributes.insert("name".into(), container.name.clone());
        attributes.insert("image".into(), container.spec.image.clone());
        for (key, value) in extra {
            attributes.insert((*key).to_owned(), value.clone());
        }
        self.events.publish(Event {
            kind: EventType::Container,
            action: action.to_owned(),
            actor_id: container.id.clone(),
            attributes,
            time_nano: now_nano(),
        });
    }

    /// Publishes a network event (`connect`, `disconnect`, `create`, `destroy`) with Docker's
    /// attributes: the network's `name` and `type`, and the `container` for (dis)connects.
    pub(crate) fn emit_network(
        &self,
        action: &str,
        network_id: &str,
        name: &str,
        container: Option<&str>,
    ) {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_owned(), name.to_owned());
        attributes.insert("type".to_owned(), "bridge".to_owned());
        if let Some(container) = container {
            attributes.insert("container".to_owned(), container.to_owned());
        }
        self.events.publish(Event {
            kind: EventType::Network,
            action: action.to_owned(),
            actor_id: network_id.to_owned(),
            attributes,
            time_nano: now_nano(),
        });
    }

    /// Publishes an image event; `name` is the reference involved (Docker's `name` attribute).
    pub fn emit_image(&self, action: &str, id: &str, name: &str) {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".to_owned(), name.to_owned());
        self.events.publish(Event {
            kind: EventType::Image,
            action: action.to_owned(),
            actor_id: id.to_owned(),
            attributes,
            time_nano: now_nano(),
        });
    }
}

impl crate::engine::Engine {
    /// Publishes a volume event (`create`, `mount`, `unmount`, `destroy`) about the volume
    /// `name`, with Docker's attributes (`driver` always; `container`, `destination`,
    /// `propagation`, `read/write` for mounts).
    pub(crate) fn emit_volume(&self, action: &str, name: &str, attributes: &[(&str, String)]) {
        self.events.publish(Event {
            kind: EventType::Volume,
            action: action.to_owned(),
            actor_id: name.to_owned(),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            time_nano: now_nano(),
        });
    }

    /// `mount` (at start) or `unmount` (at exit) events for each volume of `container`.
    pub(crate) fn emit_volume_mounts(
        &self,
        container: &crate::container::model::Container,
        action: &str,
    ) {
        use crate::container::model::MountKind;
        for point in container
            .mount_points
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
        {
            let mut attributes = vec![
                ("container", container.id.clone()),
                ("driver", point.driver.clone()),
            ];
            if action == "mount" {
                attributes.push(("destination", point.destination.clone()));
                attributes.push(("propagation", point.propagation.clone()));
                attributes.push(("read/write", point.rw.to_string()));
            }
            self.emit_volume(action, &point.name, &attributes);
        }
    }
}

/// The current time in nanoseconds since the Unix epoch.
pub(crate) fn now_nano() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Docker's event filters (`type`, `event`, `container`, `image`, `label`, …), already
/// validated by the daemon. Each key present must match; values of one key are alternatives.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub types: Vec<String>,
    pub events: Vec<String>,
    /// ID prefix or exact name.
    pub containers: Vec<String>,
    /// Image ID or reference, with or without its tag.
    pub images: Vec<String>,
    /// `key` or `key=value` against the actor's attributes.
    pub labels: Vec<String>,
    /// Volume names (volume events only).
    pub volumes: Vec<String>,
    /// Network ID prefix or exact name (network events only).
    pub networks: Vec<String>,
    /// Only `local` events exist here; `swarm` matches nothing.
    pub scopes: Vec<String>,
    /// Keys of object types Berth emits no events for yet (`volume`, `plugin`, …): present
    /// means nothing matches, as no event of that type exists.
    pub unmatched_types: Vec<String>,
}

impl EventFilter {
    /// Whether `event` passes every filter, with Docker's matching rules (`daemon/events/filter.go`).
    pub fn matches(&self, event: &Event) -> bool {
        let exact =
            |values: &[String], value: &str| values.is_empty() || values.iter().any(|v| v == value);
        // Docker's FuzzyMatch: equal, or the value starts with the filter (ID prefixes).
        let fuzzy = |values: &[String], value: &str| {
            values.is_empty()
                || values
                    .iter()
                    .any(|v| value == v || (!v.is_empty() && value.starts_with(v.as_str())))
        };
        let name = event
            .attributes
            .get("name")
            .map(String::as_str)
            .unwrap_or("");
        let container_ok = self.containers.is_empty()
            || (event.kind == EventType::Container
                && (fuzzy(&self.containers, &event.actor_id) || fuzzy(&self.containers, name)))
            || (event.kind == EventType::Network
                && event
                    .attributes
                    .get("container")
                    .is_some_and(|c| fuzzy(&self.containers, c)));
        let network_ok = self.networks.is_empty()
            || (event.kind == EventType::Network
                && (fuzzy(&self.networks, &event.actor_id) || exact(&self.networks, name)));
        let image_name = match event.kind {
            EventType::Image => name,
            EventType::Volume => "",
            EventType::Network => "",
            EventType::Container => event
                .attributes
                .get("image")
                .map(String::as_str)
                .unwrap_or(""),
        };
        let image_ok = self.images.is_empty()
            || [&event.actor_id, image_name]
                .into_iter()
                .flat_map(|v| [v.to_owned(), strip_tag(v).to_owned()])
                .any(|v| !v.is_empty() && self.images.contains(&v));
        let volume_ok = self.volumes.is_empty()
            || (event.kind == EventType::Volume && self.volumes.contains(&event.actor_id));
        let labels_ok = self.labels.iter().all(|want| match want.split_once('=') {
            Some((k, v)) => event.attributes.get(k).is_some_and(|have| have == v),
            None => event.attributes.contains_key(want.as_str()),
        });
        exact(&self.types, event.kind.as_str())
            && exact(&self.events, &event.action)
            && exact(&self.scopes, "local")
            && self.unmatched_types.is_empty()
            && container_ok
            && network_ok
            && image_ok
            && volume_ok
            && labels_ok
    }
}

/// `busybox:latest` -> `busybox`; a registry port (`host:5000/img`) is not a tag.
fn strip_tag(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    match reference.rfind(':') {
        Some(colon) if !reference[colon..].contains('/') && !reference.starts_with("sha256:") => {
            &reference[..colon]
        }
        _ => reference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            kind,
            action: action.into(),
            actor_id: id.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            time_nano: 0,
        }
    }

    #[test]
    fn filters_match_like_docker() {
        let start = event(
            EventType::Container,
            "start",
            "abcdef123456",
            &[
                ("name", "web"),
                ("image", "busybox:latest"),
                ("tier", "front"),
            ],
        );
        let tag = event(
            EventType::Image,
            "tag",
            "sha256:0123",
            &[("name", "busybox:v2")],
        );
        let all = EventFilter::default();
        assert!(all.matches(&start) && all.matches(&tag));

        let by_type = EventFilter {
            types: vec!["image".into()],
            ..Default::default()
        };
        assert!(!by_type.matches(&start) && by_type.matches(&tag));

        let by_container = EventFilter {
            containers: vec!["abc".into()],
            ..Default::default()
        };
        assert!(by_container.matches(&start));
        assert!(
            !by_container.matches(&tag),
            "container= excludes image events"
        );
        let by_name = EventFilter {
            containers: vec!["web".into()],
            ..Default::default()
        };
        assert!(by_name.matches(&start));

        let by_image = EventFilter {
            images: vec!["busybox".into()],
            ..Default::default()
        };
        assert!(by_image.matches(&start) && by_image.matches(&tag));

        let by_event = EventFilter {
            events: vec!["die".into(), "stop".into()],
            ..Default::default()
        };
        assert!(!by_event.matches(&start));

        let by_label = EventFilter {
            labels: vec!["tier=front".into()],
            ..Default::default()
        };
        assert!(by_label.matches(&start) && !by_label.matches(&tag));
        let by_label_key = EventFilter {
            labels: vec!["tier".into(), "other".into()],
            ..Default::default()
        };
        assert!(!by_label_key.matches(&start), "all labels must match");

        let networks = EventFilter {
            unmatched_types: vec!["network".into()],
            ..Default::default()
        };
        assert!(!networks.matches(&start));

        let mount = event(
            EventType::Volume,
            "mount",
            "data",
            &[("driver", "local"), ("container", "abcdef123456")],
        );
        let by_volume = EventFilter {
            volumes: vec!["data".into()],
            ..Default::default()
        };
        assert!(by_volume.matches(&mount) && !by_volume.matches(&start));
        let volume_type = EventFilter {
            types: vec!["volume".into()],
            ..Default::default()
        };
        assert!(volume_type.matches(&mount) && !volume_type.matches(&tag));
    }

    #[test]
    fn strips_tags_but_not_registry_ports() {
        assert_eq!(strip_tag("busybox:latest"), "busybox");
        assert_eq!(strip_tag("host:5000/img"), "host:5000/img");
        assert_eq!(strip_tag("host:5000/img:v1"), "host:5000/img");
        assert_eq!(strip_tag("sha256:abc"), "sha256:abc");
    }

    #[test]
    fn since_replays_history_and_live_follows() {
        let bus = EventBus::default();
        let mut first = event(EventType::Container, "create", "a", &[]);
        first.time_nano = 10;
        let mut second = event(EventType::Container, "start", "a", &[]);
        second.time_nano = 20;
        bus.publish(first);
        bus.publish(second.clone());
        let mut sub = bus.subscribe(Some(15));
        assert_eq!(sub.past, vec![second]);
        assert!(bus.subscribe(None).past.is_empty());
        let mut third = event(EventType::Container, "die", "a", &[]);
        third.time_nano = 30;
        bus.publish(third.clone());
        assert_eq!(sub.live.try_recv().ok(), Some(third));
    }
}
