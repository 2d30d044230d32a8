//! Domain types of networks: the persisted record ([`Network`]), a create request
//! ([`NetworkCreate`]), and what a container asks of a network ([`EndpointSettings`]).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Docker's driver names of the predefined networks.
pub const DRIVER_BRIDGE: &str = "bridge";
pub const DRIVER_HOST: &str = "host";
pub const DRIVER_NULL: &str = "null";
/// The macvlan driver of user networks (`network create -d macvlan`).
pub const DRIVER_MACVLAN: &str = "macvlan";

/// macvlan's host interface (`-o parent=eth0`); without it, Berth makes a placeholder.
pub const OPT_MACVLAN_PARENT: &str = "parent";
/// macvlan's mode (`-o macvlan_mode=bridge|private|vepa|passthru`).
pub const OPT_MACVLAN_MODE: &str = "macvlan_mode";

/// The option that names a user network's bridge (`--opt com.docker.network.bridge.name=`).
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";

/// A network record. The predefined `bridge`, `host` and `none` are records too (`builtin`);
/// the default bridge's addresses come from the daemon's configuration, not from here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// `bridge`, `macvlan`, `host` or `null`.
    pub driver: String,
    pub created: DateTime<Utc>,
    /// The subnet in canonical CIDR form (empty for host/none and the default bridge).
    pub subnet: String,
    pub gateway: String,
    pub ip_range: Option<String>,
    /// The subnet was given by the user (`--subnet`): only then may containers ask for an
    /// address (`--ip`), as in Docker.
    pub subnet_given: bool,
    pub internal: bool,
    pub attachable: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// The host interface: a bridge network's Linux bridge (`br-<12 hex of the id>` unless
    /// named by option), a macvlan network's parent (`dm-<12 hex>` when Berth makes it).
    pub bridge: String,
    /// One of `bridge`, `host`, `none`: cannot be removed or pruned.
    pub builtin: bool,
}

impl Network {
    /// Docker's `type` filter: `builtin` or `custom`.
    pub fn kind(&self) -> &'static str {
        if self.builtin {
            "builtin"
        } else {
            "custom"
        }
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// A validated `POST /networks/create`.
#[derive(Debug, Clone, Default)]
pub struct NetworkCreate {
    pub name: String,
    /// Empty = `bridge`.
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// What a container asks of one network (Docker's EndpointSettings as given: aliases and
/// IPAMConfig.IPv4Address). In a create request `network` is the name or ID as given; in the
/// container's record it is the network's ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSettings {
    pub network: String,
    /// The network's name (filled in the container's record).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
}

/// The `GET /networks` filters, validated by the daemon.
#[derive(Debug, Clone, Default)]
pub struct NetworkFilters {
    pub names: Vec<String>,
    pub ids: Vec<String>,
    /// `key` or `key=value`; all must match.
    pub labels: Vec<String>,
    pub drivers: Vec<String>,
    /// `custom` or `builtin`.
    pub types: Vec<String>,
    /// Some(true): only networks without containers (and not predefined).
    pub dangling: Option<bool>,
}

/// A container attached to a network, as `GET /networks/{id}` lists it.
#[derive(Debug, Clone)]
pub struct NetworkEndpoint {
    pub container_id: String,
    pub container_name: String,
    pub attachment: crate::network::Attachment,
}

/// The nftables table of a user network: named from its ID, so that networks of different
/// daemons never share one.
pub(crate) fn table_name(id: &str) -> String {
    format!("berth_n{}", &id[..12.min(id.len())])
}

/// Docker's bridge name for a user network: `br-` and 12 hex digits of the ID.
pub(crate) fn bridge_name(id: &str) -> String {
    format!("br-{}", &id[..12.min(id.len())])
}

/// Docker's name for a macvlan network's own parent: `dm-` and 12 hex digits of the ID.
pub(crate) fn placeholder_parent_name(id: &str) -> String {
    format!("dm-{}", &id[..12.min(id.len())])
}

/// Whether `label` (`key` or `key=value`) matches `labels`.
pub(crate) fn label_matches(labels: &BTreeMap<String, String>, label: &str) -> bool {
    match label.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(label),
    }
}
