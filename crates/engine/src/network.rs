//! The default bridge network: its configuration, address bookkeeping, and what a container
//! on it gets at start (namespace, veth, address, published ports) and gives back at exit.
//!
//! State: a running container's [`Attachment`] is persisted in its record (SQLite); the set of
//! used addresses and the host port reservations are rebuilt from those records when the daemon
//! starts, and the nftables table is recreated from them in one transaction (so a crash leaves
//! no orphan rules and a restart adds no duplicates).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Mutex;

use berth_network::bridge::Bridge;
use berth_network::driver::{EndpointRequest, NetworkDriver};
use berth_network::firewall::{Firewall, NftFirewall, PortMapping, Protocol};
use berth_network::ipam::{self, Subnet};
use berth_network::macvlan::Macvlan;
use berth_network::netns::NetNs;
use berth_network::ports::{self, Reservation};
use serde::{Deserialize, Serialize};

use crate::container::model::{Container, NetworkMode};
use crate::error::{Error, Result};

pub(crate) mod attach;
pub(crate) mod connect;
pub(crate) mod manager;
pub(crate) mod model;
pub(crate) mod names;
pub(crate) mod resolver;
pub(crate) mod store;

/// The name Docker gives the default network.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default bridge interface.
pub const DEFAULT_BRIDGE: &str = "berth0";

/// dockerd's networking options (`--bridge`, `--bip`, `--fixed-cidr`, `--mtu`).
#[derive(Debug, Clone, Default)]
pub struct NetworkConfig {
    /// Bridge interface; `None` = `berth0`; `"none"` disables the default bridge (containers
    /// on it get loopback only).
    pub bridge: Option<String>,
    /// The bridge's address and subnet (`10.1.0.1/24`); default: the first of Docker's pools
    /// that overlaps no host route (or the address an existing bridge already has).
    pub bip: Option<String>,
    /// The sub-range containers get addresses from.
    pub fixed_cidr: Option<String>,
    pub mtu: Option<u32>,
    /// daemon.json `dns`, `dns-search`, `dns-opts`: defaults for containers that set none.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// daemon.json `host-gateway-ip`: what `--add-host NAME:host-gateway` maps to; default:
    /// the default bridge's gateway.
    pub host_gateway_ip: Option<std::net::IpAddr>,
    /// daemon.json `default-address-pools` (`base` CIDR, `size` prefix) for user networks;
    /// empty: Docker's defaults.
    pub default_address_pools: Vec<(String, u8)>,
}

/// One `-p`: `host_ip:host_port:container_port/protocol` as requested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Empty: every address.
    pub host_ip: String,
    /// Empty: a free port; `N`; or a range `N-M` (the first free one is taken).
    pub host_port: String,
}

/// A published port as it was set up (Docker's NetworkSettings.Ports entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    pub container_port: u16,
    pub protocol: String,
    /// `0.0.0.0` for every address.
    pub host_ip: String,
    pub host_port: u16,
}

/// A running container's place on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub network_id: String,
    pub bridge: String,
    pub endpoint_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub host_veth: String,
    pub ports: Vec<PublishedPort>,
    /// The interface inside the container (`eth0`, `eth1`, … in attach order).
    #[serde(default = "default_interface")]
    pub interface: String,
    /// `--network-alias` names on this network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The address asked for (`--ip`; Docker's IPAMConfig.IPv4Address).
    #[serde(default)]
    pub requested_ip: Option<Ipv4Addr>,
    /// The network is internal (no route out through it).
    #[serde(default)]
    pub internal: bool,
}

fn default_interface() -> String {
    "eth0".to_owned()
}

/// A network as this daemon runs it (the default `bridge`, a user-defined bridge or macvlan
/// network): its driver, its firewall, and which of its addresses and host ports are taken.
pub(crate) struct LiveNetwork {
    pub driver: Box<dyn NetworkDriver>,
    /// `None` where the host has no path to the containers (macvlan): no NAT, no ports.
    pub firewall: Option<Box<dyn Firewall>>,
    pub range: Subnet,
    /// The network's ID (Docker's NetworkID).
    pub id: String,
    /// The network's name (`bridge` for the default one).
    pub name: String,
    /// `--internal`: no route out, no published ports.
    pub internal: bool,
    state: Mutex<AddressState>,
}

#[derive(Default)]
struct AddressState {
    used: BTreeSet<Ipv4Addr>,
    reservations: HashMap<String, Vec<Reservation>>,
}

/// What a start set up: the namespace and one attachment per network, in attach order.
pub(crate) struct Prepared {
    pub netns: NetNs,
    pub attachments: Vec<Attachment>,
}

impl LiveNetwork {
    /// Creates (or adopts) the bridge and recreates the firewall table. Blocking.
    pub fn open(config: &NetworkConfig, id: String) -> Result<Option<LiveNetwork>> {
        let name = config
            .bridge
            .clone()
            .unwrap_or_else(|| DEFAULT_BRIDGE.to_owned());
        if name == "none" {
            return Ok(None);
        }
        if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
            return Err(Error::invalid(format!("invalid bridge name {name:?}")));
        }
        let (subnet, gateway) = match &config.bip {
            Some(bip) => {
                let subnet: Subnet = bip.parse()?;
                if subnet.address == subnet.network() {
                    return Err(Error::invalid(format!(
                        "bip {bip} is a network address, give the bridge's own address (like {}/{})",
                        subnet.first_host(),
                        subnet.prefix
                    )));
                }
                (subnet.canonical(), subnet.address)
            }
            None => match bridge_address(&name) {
                Some(existing) => (existing.canonical(), existing.address),
                None => {
                    let subnet = ipam::pick_default_subnet(&ipam::host_routes())?;
                    (subnet, subnet.first_host())
                }
            },
        };
        let range = match &config.fixed_cidr {
            Some(cidr) => {
                let range: Subnet = cidr.parse()?;
                if !subnet.contains(range.network()) || range.prefix < subnet.prefix {
                    return Err(Error::invalid(format!(
                        "fixed-cidr {cidr} is not inside the bridge's subnet {subnet}"
                    )));
                }
                range.canonical()
            }
            None => subnet,
        };
        let table = if name == DEFAULT_BRIDGE {
            "berth".to_owned()
        } else {
            format!("berth_{name}")
        };
        let bridge = Bridge {
            name: name.clone(),
            subnet,
            gateway,
            mtu: config.mtu.unwrap_or(1500),
        };
        bridge.create()?;
        let firewall = NftFirewall {
            table,
            bridge: name,
            subnet,
            internal: false,
        };
        firewall.setup()?;
        Ok(Some(LiveNetwork {
            driver: Box::new(bridge),
            firewall: Some(Box::new(firewall)),
            range,
            id,
            name: DEFAULT_NETWORK.to_owned(),
            internal: false,
            state: Mutex::new(AddressState::default()),
        }))
    }

    /// A user-defined network's kernel side (bridge and table, or macvlan parent), created or
    /// adopted from its record. On failure nothing is left. Blocking.
    pub fn open_user(record: &model::Network) -> Result<LiveNetwork> {
        let subnet = record.subnet.parse::<Subnet>()?.canonical();
        let gateway: Ipv4Addr = record
            .gateway
            .parse()
            .map_err(|_| Error::invalid(format!("invalid gateway {}", record.gateway)))?;
        let range = match &record.ip_range {
            Some(r) => r.parse::<Subnet>()?.canonical(),
            None => subnet,
        };
        let driver: Box<dyn NetworkDriver> = match record.driver.as_str() {
            model::DRIVER_MACVLAN => Box::new(Macvlan {
                parent: record.bridge.clone(),
                placeholder: !record.options.contains_key(model::OPT_MACVLAN_PARENT),
                subnet,
                gateway,
                mode: record
                    .options
                    .get(model::OPT_MACVLAN_MODE)
                    .map(|m| m.parse())
                    .transpose()?
                    .unwrap_or_default(),
            }),
            _ => Box::new(Bridge {
                name: record.bridge.clone(),
                subnet,
                gateway,
                mtu: record
                    .options
                    .get("com.docker.network.driver.mtu")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(1500),
            }),
        };
        driver.create()?;
        let firewall: Option<Box<dyn Firewall>> = if driver.host_reachable() {
            let firewall = NftFirewall {
                table: model::table_name(&record.id),
                bridge: record.bridge.clone(),
                subnet,
                internal: record.internal,
            };
            if let Err(e) = firewall.setup() {
                let _ = driver.remove();
                return Err(e.into());
            }
            Some(Box::new(firewall))
        } else {
            None
        };
        Ok(LiveNetwork {
            driver,
            firewall,
            range,
            id: record.id.clone(),
            name: record.name.clone(),
            internal: record.internal,
            state: Mutex::new(AddressState::default()),
        })
    }

    /// Removes the firewall's rules and what the driver made (`network rm`). Blocking.
    pub fn destroy(&self) -> Result<()> {
        let firewall = match &self.firewall {
            Some(firewall) => firewall.teardown(),
            None => Ok(()),
        };
        let driver = self.driver.remove();
        firewall?;
        Ok(driver?)
    }

    /// Adds published ports (none without a firewall: they were never set up).
    fn publish(&self, mappings: &[PortMapping]) -> Result<()> {
        match &self.firewall {
            Some(firewall) => Ok(firewall.publish(mappings)?),
            None => Ok(()),
        }
    }

    /// How many addresses are taken (for leak checks and tests).
    pub fn used_addresses(&self) -> usize {
        self.state().used.len()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AddressState> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Re-adopts the attachments of containers still running after a daemon restart: their
    /// addresses are marked used, their host ports reserved again, and their rules re-added in
    /// one transaction. Restoring a container twice keeps what its first restore holds.
    /// Blocking.
    pub fn restore(&self, running: &[(String, Attachment)]) -> Result<()> {
        let mut mappings = Vec::new();
        let mut state = self.state();
        for (id, attachment) in running {
            state.used.insert(attachment.ip);
            let already_held = state.reservations.contains_key(id);
            let mut held = Vec::new();
            for port in &attachment.ports {
                let mapping = to_mapping(attachment.ip, port)?;
                mappings.push(mapping);
                if already_held {
                    continue;
                }
                match ports::reserve(mapping.host_ip, port.host_port, mapping.protocol) {
                    Ok(reservation) => held.push(reservation),
                    Err(e) => {
                        tracing::warn!(container = %id, error = %e, "re-reserving a published port")
                    }
                }
            }
            if !already_held {
                state.reservations.insert(id.clone(), held);
            }
        }
        drop(state);
        self.publish(&mappings)
    }

    /// Takes an address: `requested` if given (it must be inside the range and free),
    /// otherwise the lowest free one.
    fn take_address(&self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let mut state = self.state();
        let ip = match requested {
            Some(ip) => {
                let subnet = self.driver.subnet();
                if !subnet.contains(ip) || !self.range.contains(ip) {
                    return Err(Error::invalid(format!(
                        "no configured subnet or ip-range contain the IP address {ip}"
                    )));
                }
                if ip == self.driver.gateway()
                    || ip == subnet.network()
                    || ip == subnet.broadcast()
                    || state.used.contains(&ip)
                {
                    return Err(Error::conflict(format!("Address already in use: {ip}")));
                }
                ip
            }
            None => ipam::allocate(
                &self.driver.subnet(),
                &self.range,
                self.driver.gateway(),
                &state.used,
            )?,
        };
        state.used.insert(ip);
        Ok(ip)
    }

    /// Connects a container's namespace to this network as `interface`: an address (the
    /// requested one or the lowest free), a veth, and — if `publish` — its published ports.
    /// On failure everything done here is undone. Blocking.
    pub fn attach(
        &self,
        container: &Container,
        netns: &NetNs,
        endpoint: &AttachRequest,
    ) -> Result<Attachment> {
        let bindings = if endpoint.publish && !self.internal && self.firewall.is_some() {
            wanted_bindings(container)?
        } else {
            Vec::new()
        };
        let ip = self.take_address(endpoint.ip)?;
        let result = self.attach_with(container, netns, ip, &bindings, endpoint);
        if result.is_err() {
            self.state().used.remove(&ip);
        }
        result
    }

    fn attach_with(
        &self,
        container: &Container,
        netns: &NetNs,
        ip: Ipv4Addr,
        bindings: &[PortBinding],
        request: &AttachRequest,
    ) -> Result<Attachment> {
        // Reserve host ports first: a conflict is the likeliest failure and costs nothing to
        // undo (dropping the sockets).
        let mut held = Vec::new();
        let mut published = Vec::new();
        for binding in bindings {
            let (reservation, port) = reserve_binding(binding, container)?;
            held.push(reservation);
            published.push(port);
        }
        let default_route = request.default_route && !self.internal;
        // `--mac-address` applies to the network the container was created on (its eth0).
        let mac = if request.interface == "eth0" {
            crate::netfiles::container_mac(container)?
        } else {
            None
        };
        let endpoint = self.driver.attach(
            netns,
            &EndpointRequest {
                ifname: &request.interface,
                ip,
                mac,
                default_route,
            },
        )?;
        let mappings: Vec<PortMapping> = published
            .iter()
            .map(|p| to_mapping(ip, p))
            .collect::<Result<_>>()?;
        if let Err(e) = self.publish(&mappings) {
            let _ = self.driver.detach(netns, &request.interface);
            return Err(e);
        }
        if !held.is_empty() {
            self.state().reservations.insert(container.id.clone(), held);
        }
        let mac = crate::netfiles::format_mac(&endpoint.mac);
        Ok(Attachment {
            network: self.name.clone(),
            network_id: self.id.clone(),
            bridge: self.driver.device().to_owned(),
            endpoint_id: crate::ids::new_id()?,
            ip,
            prefix: self.driver.subnet().prefix,
            gateway: self.driver.gateway(),
            mac,
            host_veth: endpoint.host_link.unwrap_or_default(),
            ports: published,
            interface: request.interface.clone(),
            aliases: request.aliases.clone(),
            requested_ip: request.ip,
            internal: self.internal,
        })
    }

    /// Releases what a container's attachment holds: its rules, host ports and address. The
    /// veth goes with the namespace (the kernel deletes both ends when the container's last
    /// process is gone); it is deleted here only if `delete_veth` (a start that failed).
    /// Blocking when the container published ports (one `nft` transaction).
    pub fn release(&self, id: &str, attachment: &Attachment, delete_veth: bool) -> Result<()> {
        let mappings: Vec<PortMapping> = attachment
            .ports
            .iter()
            .filter_map(|p| to_mapping(attachment.ip, p).ok())
            .collect();
        let unpublished = match &self.firewall {
            Some(firewall) => firewall.unpublish(&mappings),
            None => Ok(()),
        };
        {
            let mut state = self.state();
            state.reservations.remove(id);
            state.used.remove(&attachment.ip);
        }
        if delete_veth {
            let host_link = Some(attachment.host_veth.as_str()).filter(|l| !l.is_empty());
            self.driver.release(host_link)?;
        }
        Ok(unpublished?)
    }
}

/// What one network attachment of a container asks for.
#[derive(Debug, Clone)]
pub(crate) struct AttachRequest {
    pub interface: String,
    pub ip: Option<Ipv4Addr>,
    pub aliases: Vec<String>,
    /// Give the container its default route through this network.
    pub default_route: bool,
    /// Publish the container's ports through this network (its first one).
    pub publish: bool,
}

/// The address the bridge already has, when it exists (kept across daemon restarts).
fn bridge_address(name: &str) -> Option<Subnet> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    for ifa in addrs {
        if ifa.interface_name != name {
            continue;
        }
        let (Some(address), Some(mask)) = (ifa.address, ifa.netmask) else {
            continue;
        };
        let (Some(address), Some(mask)) = (address.as_sockaddr_in(), mask.as_sockaddr_in()) else {
            continue;
        };
        return Some(Subnet {
            address: address.ip(),
            prefix: u32::from(mask.ip()).count_ones() as u8,
        });
    }
    None
}

/// `-p` bindings, plus one per EXPOSEd port for `-P` (random host port) unless bound already.
pub(crate) fn wanted_bindings(container: &Container) -> Result<Vec<PortBinding>> {
    let host = &container.spec.host;
    let mut bindings = host.port_bindings.clone();
    if host.publish_all_ports {
        for exposed in &container.exposed_ports {
            let (port, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            if protocol != "tcp" && protocol != "udp" {
                continue;
            }
            if !bindings
                .iter()
                .any(|b| b.container_port == port && b.protocol == protocol)
            {
                bindings.push(PortBinding {
                    container_port: port,
                    protocol: protocol.to_owned(),
                    host_ip: String::new(),
                    host_port: String::new(),
                });
            }
        }
    }
    Ok(bindings)
}

fn protocol(name: &str) -> Result<Protocol> {
    match name {
        "tcp" | "" => Ok(Protocol::Tcp),
        "udp" => Ok(Protocol::Udp),
        other => Err(Error::invalid(format!("invalid proto: {other}"))),
    }
}

fn host_ip(text: &str) -> Result<Option<Ipv4Addr>> {
    if text.is_empty() || text == "0.0.0.0" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| Error::invalid(format!("invalid IP address: {text}")))
}

fn to_mapping(container_ip: Ipv4Addr, port: &PublishedPort) -> Result<PortMapping> {
    Ok(PortMapping {
        host_ip: host_ip(&port.host_ip)?,
        host_port: port.host_port,
        protocol: protocol(&port.protocol)?,
        container_ip,
        container_port: port.container_port,
    })
}

/// Reserves the host port of one binding (the first free one of a range; any free one when
/// none was given).
fn reserve_binding(
    binding: &PortBinding,
    container: &Container,
) -> Result<(Reservation, PublishedPort)> {
    let proto = protocol(&binding.protocol)?;
    let ip = host_ip(&binding.host_ip)?;
    let (first, last) = parse_port_range(&binding.host_port)?;
    let mut last_error = None;
    for port in first..=last {
        match ports::reserve(ip, port, proto) {
            Ok(reservation) => {
                let published = PublishedPort {
                    container_port: binding.container_port,
                    protocol: proto.as_str().to_owned(),
                    host_ip: ip.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string(),
                    host_port: reservation.port,
                };
                return Ok((reservation, published));
            }
            Err(e) => last_error = Some(e),
        }
    }
    let detail = last_error.map(|e| e.to_string()).unwrap_or_default();
    Err(Error::conflict(format!(
        "driver failed programming external connectivity on endpoint {} ({}): {detail}",
        container.name, container.id
    )))
}

/// `""` = any port (0), `"N"`, or `"N-M"`.
pub fn parse_port_range(text: &str) -> Result<(u16, u16)> {
    if text.is_empty() {
        return Ok((0, 0));
    }
    let invalid = || Error::invalid(format!("invalid port specification: {text:?}"));
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let first: u16 = first.parse().map_err(|_| invalid())?;
    let last: u16 = last.parse().map_err(|_| invalid())?;
    if last < first {
        return Err(invalid());
    }
    Ok((first, last))
}

/// The default network's ID: made once per data root and kept, like Docker's.
pub(crate) fn network_id(data_root: &std::path::Path) -> Result<String> {
    let path = data_root.join("bridge-network-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if id.trim().len() == 64 => Ok(id.trim().to_owned()),
        _ => {
            let id = crate::ids::new_id()?;
            std::fs::write(&path, &id).map_err(|e| Error::io("write", &path, e))?;
            Ok(id)
        }
    }
}

/// Whether a container of this mode gets its own network namespace with endpoints.
pub(crate) fn has_endpoints(container: &Container) -> bool {
    matches!(
        container.spec.host.network_mode,
        NetworkMode::Bridge | NetworkMode::Network(_)
    )
}

#[cfg(test)]
#[path = "network/live_tests.rs"]
mod live_tests;
