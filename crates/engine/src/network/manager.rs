//! The network table: the predefined `bridge`, `host` and `none` networks and the
//! user-defined bridge networks, each with its running [`LiveNetwork`]; create, list, inspect,
//! remove and prune (`/networks`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use berth_network::ipam::{self, AddressPool, Subnet};
use chrono::Utc;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::model::{
    self, label_matches, Network, NetworkCreate, NetworkEndpoint, NetworkFilters,
};
use crate::network::store::NetworkStore;
use crate::network::{LiveNetwork, NetworkConfig, DEFAULT_NETWORK};

/// One network: its record and, for networks with endpoints whose kernel side is up, the
/// running side (none for `host` and `none`).
#[derive(Clone)]
pub(crate) struct Entry {
    pub record: Network,
    pub live: Option<Arc<LiveNetwork>>,
}

/// Every network this daemon knows, in creation order.
pub(crate) struct Networks {
    store: NetworkStore,
    entries: Mutex<Vec<Entry>>,
    pools: Vec<AddressPool>,
    /// Serialises create, remove, prune, connect and disconnect.
    pub(crate) lock: tokio::sync::Mutex<()>,
}

impl Networks {
    /// Loads the records, adds the predefined networks on first use, brings up the default
    /// bridge and every user network's bridge and table. Blocking.
    pub fn open(
        db: &std::path::Path,
        config: &NetworkConfig,
        bridge_id: &str,
        pools: Vec<AddressPool>,
    ) -> Result<Networks> {
        let store = NetworkStore::open(db)?;
        let mut records = store.load_all()?;
        for (name, driver) in [
            (DEFAULT_NETWORK, model::DRIVER_BRIDGE),
            ("host", model::DRIVER_HOST),
            ("none", model::DRIVER_NULL),
        ] {
            if records.iter().any(|r| r.builtin && r.name == name) {
                continue;
            }
            let id = match name {
                DEFAULT_NETWORK => bridge_id.to_owned(),
                _ => crate::ids::new_id()?,
            };
            let record = Network {
                id,
                name: name.to_owned(),
                driver: driver.to_owned(),
                created: Utc::now(),
                subnet: String::new(),
                gateway: String::new(),
                ip_range: None,
                subnet_given: false,
                internal: false,
                attachable: false,
                labels: Default::default(),
                options: Default::default(),
                bridge: String::new(),
                builtin: true,
            };
            store.insert(&record)?;
            records.push(record);
        }
        let default = LiveNetwork::open(config, bridge_id.to_owned())?.map(Arc::new);
        let mut entries = Vec::new();
        for mut record in records {
            let live = if record.builtin {
                if record.name != DEFAULT_NETWORK {
                    None
                } else {
                    if let Some(net) = &default {
                        record.subnet = net.driver.subnet().to_string();
                        record.gateway = net.driver.gateway().to_string();
                        record.bridge = net.driver.device().to_owned();
                        if net.range != net.driver.subnet() {
                            record.ip_range = Some(net.range.to_string());
                        }
                    }
                    default.clone()
                }
            } else {
                match LiveNetwork::open_user(&record) {
                    Ok(net) => Some(Arc::new(net)),
                    Err(e) => {
                        tracing::error!(network = %record.name, error = %e, "bringing up network");
                        None
                    }
                }
            };
            entries.push(Entry { record, live });
        }
        Ok(Networks {
            store,
            entries: Mutex::new(entries),
            pools,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Every network, oldest first.
    pub fn all(&self) -> Vec<Entry> {
        self.entries().clone()
    }

    /// The network with this exact ID.
    pub fn by_id(&self, id: &str) -> Option<Entry> {
        self.entries().iter().find(|e| e.record.id == id).cloned()
    }

    /// The default bridge, when the daemon runs one.
    pub fn default_bridge(&self) -> Option<Arc<LiveNetwork>> {
        self.entries()
            .iter()
            .find(|e| e.record.builtin && e.record.name == DEFAULT_NETWORK)
            .and_then(|e| e.live.clone())
    }

    /// Finds a network as Docker does: full ID, then exact name, then unique ID prefix.
    pub fn resolve(&self, reference: &str) -> Result<Entry> {
        let entries = self.entries();
        if let Some(e) = entries.iter().find(|e| e.record.id == reference) {
            return Ok(e.clone());
        }
        if let Some(e) = entries.iter().find(|e| e.record.name == reference) {
            return Ok(e.clone());
        }
        let by_prefix: Vec<&Entry> = entries
            .iter()
            .filter(|e| !reference.is_empty() && e.record.id.starts_with(reference))
            .collect();
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::not_found(format!("network {reference} not found"))),
            _ => Err(Error::not_found(format!(
                "network {reference} is ambiguous ({} matches found based on ID prefix)",
                by_prefix.len()
            ))),
        }
    }

    /// Validates a create request and picks the subnet; nothing is changed.
    fn plan(&self, request: &NetworkCreate) -> Result<Network> {
        let name = request.name.trim();
        if name.is_empty() {
            return Err(Error::invalid("network name must not be empty"));
        }
        crate::ids::validate_name(name).map_err(|_| {
            Error::invalid(format!(
                "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ))
        })?;
        let driver = match request.driver.as_str() {
            "" | model::DRIVER_BRIDGE => model::DRIVER_BRIDGE,
            model::DRIVER_MACVLAN => model::DRIVER_MACVLAN,
            model::DRIVER_HOST | model::DRIVER_NULL => {
                return Err(Error::conflict(format!(
                    "only one instance of \"{}\" network is allowed",
                    request.driver
                )))
            }
            other => return Err(Error::not_found(format!("plugin \"{other}\" not found"))),
        };
        if request.enable_ipv6 {
            return Err(Error::invalid(
                "IPv6 networks are not supported by berthd (--ipv6)",
            ));
        }
        let entries = self.all();
        if entries.iter().any(|e| e.record.name == name) {
            return Err(Error::conflict(format!(
                "network with name {name} already exists"
            )));
        }
        let taken: Vec<Subnet> = entries
            .iter()
            .filter_map(|e| e.record.subnet.parse::<Subnet>().ok())
            .collect();
        let (subnet, given) = match &request.subnet {
            Some(text) => {
                let subnet: Subnet = text
                    .parse()
                    .map_err(|e| Error::invalid(format!("Invalid subnet {text} : {e}")))?;
                let subnet = subnet.canonical();
                if taken.iter().any(|t| t.overlaps(&subnet)) {
                    return Err(Error::conflict(
                        "Pool overlaps with other one on this address space",
                    ));
                }
                (subnet, true)
            }
            None => {
                if request.gateway.is_some() || request.ip_range.is_some() {
                    return Err(Error::invalid(
                        "every ip-range or gateway must have a corresponding subnet",
                    ));
                }
                let mut avoid = taken.clone();
                avoid.extend(ipam::host_routes());
                (ipam::pick_from_pools(&self.pools, &avoid)?, false)
            }
        };
        let gateway = match &request.gateway {
            Some(text) => {
                let gw: Ipv4Addr = text
                    .parse()
                    .map_err(|_| Error::invalid(format!("invalid gateway address {text}")))?;
                if !subnet.contains(gw) || gw == subnet.network() || gw == subnet.broadcast() {
                    return Err(Error::invalid(format!(
                        "no matching subnet for gateway {text}"
                    )));
                }
                gw
            }
            None => subnet.first_host(),
        };
        let ip_range = match &request.ip_range {
            Some(text) => {
                let range: Subnet = text
                    .parse()
                    .map_err(|e| Error::invalid(format!("Invalid ip-range {text} : {e}")))?;
                if !subnet.contains(range.network()) || range.prefix < subnet.prefix {
                    return Err(Error::invalid(format!(
                        "no matching subnet for range {text}"
                    )));
                }
                Some(range.canonical().to_string())
            }
            None => None,
        };
        let id = crate::ids::new_id()?;
        let bridge = if driver == model::DRIVER_MACVLAN {
            macvlan_parent(request, &id, &entries)?
        } else {
            bridge_device(request, &id, &entries)?
        };
        Ok(Network {
            id,
            name: name.to_owned(),
            driver: driver.to_owned(),
            created: Utc::now(),
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
            ip_range,
            subnet_given: given,
            internal: request.internal,
            attachable: request.attachable,
            labels: request.labels.clone(),
            options: request.options.clone(),
            bridge,
            builtin: false,
        })
    }
}

/// A bridge network's Linux bridge: the `com.docker.network.bridge.name` option, or
/// `br-<id>`; it must not exist yet.
fn bridge_device(request: &NetworkCreate, id: &str, entries: &[Entry]) -> Result<String> {
    let bridge = match request.options.get(model::OPT_BRIDGE_NAME) {
        Some(b) if !b.is_empty() => {
            if b.len() > 15 || b.contains(['/', ' ']) {
                return Err(Error::invalid(format!("invalid bridge name {b:?}")));
            }
            if entries.iter().any(|e| &e.record.bridge == b) {
                return Err(Error::conflict(format!(
                    "bridge name {b} is already used by another network"
                )));
            }
            b.clone()
        }
        _ => model::bridge_name(id),
    };
    if berth_network::netlink::Netlink::link_index(&bridge).is_some() {
        return Err(Error::conflict(format!(
            "cannot create network {id} ({bridge}): conflicts with an existing interface"
        )));
    }
    Ok(bridge)
}

/// A macvlan network's parent, checked as Docker does: `-o parent` must exist on the host
/// and not be another macvlan network's; without it the network gets a placeholder parent of
/// its own, `dm-<id>`. The mode must be one macvlan knows.
fn macvlan_parent(request: &NetworkCreate, id: &str, entries: &[Entry]) -> Result<String> {
    if let Some(mode) = request.options.get(model::OPT_MACVLAN_MODE) {
        mode.parse::<berth_network::macvlan::Mode>()?;
    }
    let Some(parent) = request.options.get(model::OPT_MACVLAN_PARENT) else {
        return Ok(model::placeholder_parent_name(id));
    };
    if request.internal {
        return Err(Error::invalid(
            "--internal and -o parent are mutually exclusive",
        ));
    }
    if berth_network::netlink::Netlink::link_index(parent).is_none() {
        return Err(Error::invalid(format!(
            "-o parent interface was not found on the host: {parent}"
        )));
    }
    if let Some(other) = entries
        .iter()
        .find(|e| e.record.driver == model::DRIVER_MACVLAN && &e.record.bridge == parent)
    {
        return Err(Error::conflict(format!(
            "network {} is already using parent interface {parent}",
            other.record.name
        )));
    }
    Ok(parent.clone())
}

impl Engine {
    /// `POST /networks/create`: validates, creates the bridge and its table, records the
    /// network, and emits `create`. On failure nothing is left.
    pub async fn network_create(self: &Arc<Self>, request: NetworkCreate) -> Result<Network> {
        let _lock = self.networks.lock.lock().await;
        let record = self.networks.plan(&request)?;
        let for_open = record.clone();
        let net = tokio::task::spawn_blocking(move || LiveNetwork::open_user(&for_open))
            .await
            .map_err(|e| Error::internal(format!("network create task: {e}")))??;
        if let Err(e) = self.networks.store.insert(&record) {
            let _ = tokio::task::spawn_blocking(move || net.destroy()).await;
            return Err(e);
        }
        self.networks.entries().push(Entry {
            record: record.clone(),
            live: Some(Arc::new(net)),
        });
        self.emit_network("create", &record.id, &record.name, None);
        Ok(record)
    }

    /// The containers attached to a network, from the running containers' records.
    pub fn network_endpoints(&self, id: &str) -> Vec<NetworkEndpoint> {
        let Ok(table) = self.table() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for handle in table.values() {
            let c = handle.snapshot();
            for a in c.networks.iter().filter(|a| a.network_id == id) {
                out.push(NetworkEndpoint {
                    container_id: c.id.clone(),
                    container_name: c.name.clone(),
                    attachment: a.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.container_name.cmp(&b.container_name));
        out
    }

    /// Whether a container is attached to the network (Docker's "active endpoints": stopped
    /// containers do not hold a network; they fail to start once it is gone).
    fn network_in_use(&self, id: &str) -> bool {
        let Ok(table) = self.table() else {
            return true;
        };
        table
            .values()
            .any(|h| h.snapshot().networks.iter().any(|a| a.network_id == id))
    }

    /// `GET /networks/{id}`.
    pub fn network_inspect(&self, reference: &str) -> Result<Network> {
        Ok(self.networks.resolve(reference)?.record)
    }

    /// `GET /networks`, oldest first.
    pub fn network_list(&self, filters: &NetworkFilters) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        for entry in self.networks.all() {
            let n = entry.record;
            if !filters.names.is_empty()
                && !filters.names.iter().any(|f| n.name.contains(f.as_str()))
            {
                continue;
            }
            if !filters.ids.is_empty() && !filters.ids.iter().any(|f| n.id.starts_with(f.as_str()))
            {
                continue;
            }
            if !filters.labels.iter().all(|l| label_matches(&n.labels, l)) {
                continue;
            }
            if !filters.drivers.is_empty() && !filters.drivers.iter().any(|d| d == &n.driver) {
                continue;
            }
            if !filters.types.is_empty() && !filters.types.iter().any(|t| t == n.kind()) {
                continue;
            }
            if let Some(dangling) = filters.dangling {
                let unused = !n.builtin && !self.network_in_use(&n.id);
                if unused != dangling {
                    continue;
                }
            }
            out.push(n);
        }
        Ok(out)
    }

    /// `DELETE /networks/{id}`: refused for predefined networks and while containers use it.
    pub async fn network_remove(self: &Arc<Self>, reference: &str) -> Result<()> {
        let _lock = self.networks.lock.lock().await;
        self.network_remove_locked(reference).await
    }

    async fn network_remove_locked(self: &Arc<Self>, reference: &str) -> Result<()> {
        let entry = self.networks.resolve(reference)?;
        let n = &entry.record;
        if n.builtin {
            return Err(Error::conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                n.name
            )));
        }
        if self.network_in_use(&n.id) {
            return Err(Error::conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            )));
        }
        self.networks.store.delete(&n.id)?;
        self.networks.entries().retain(|e| e.record.id != n.id);
        if let Some(net) = entry.live.clone() {
            let destroyed = tokio::task::spawn_blocking(move || net.destroy())
                .await
                .map_err(|e| Error::internal(format!("network remove task: {e}")))?;
            if let Err(e) = destroyed {
                tracing::warn!(network = %n.name, error = %e, "removing the network's bridge and rules");
            }
        }
        self.emit_network("destroy", &n.id, &n.name, None);
        Ok(())
    }

    /// `POST /networks/prune`: removes every user network no container refers to, created
    /// before `until` (if given) and matching `labels` (`key`, `key=value`, `!key` …).
    /// Returns the names removed.
    pub async fn network_prune(
        self: &Arc<Self>,
        until: Option<chrono::DateTime<Utc>>,
        labels: &[String],
    ) -> Result<Vec<String>> {
        let _lock = self.networks.lock.lock().await;
        let mut removed = Vec::new();
        for entry in self.networks.all() {
            let n = &entry.record;
            if n.builtin || self.network_in_use(&n.id) {
                continue;
            }
            if until.is_some_and(|until| n.created >= until) {
                continue;
            }
            let labels_ok = labels.iter().all(|l| match l.strip_prefix('!') {
                Some(neg) => !label_matches(&n.labels, neg),
                None => label_matches(&n.labels, l),
            });
            if !labels_ok {
                continue;
            }
            match self.network_remove_locked(&n.id).await {
                Ok(()) => removed.push(n.name.clone()),
                Err(e) => tracing::warn!(network = %n.name, error = %e, "pruning network"),
            }
        }
        Ok(removed)
    }

    /// Addresses taken on a network (leak checks).
    pub fn network_used_addresses(&self, reference: &str) -> Result<usize> {
        let entry = self.networks.resolve(reference)?;
        Ok(entry.live.map(|b| b.used_addresses()).unwrap_or(0))
    }
}

/// Parses daemon.json `default-address-pools` entries (`base`, `size`).
pub fn parse_pools(pools: &[(String, u8)]) -> Result<Vec<AddressPool>> {
    if pools.is_empty() {
        return Ok(AddressPool::defaults());
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (base, size) in pools {
        let subnet: Subnet = base
            .parse()
            .map_err(|e| Error::invalid(format!("default-address-pools: {e}")))?;
        if seen.insert(subnet.canonical().to_string()) {
            out.push(AddressPool::new(subnet, *size)?);
        }
    }
    Ok(out)
}
