//! Network drivers: how a container's namespace is plugged into a network.
//!
//! A driver owns the kernel side of one network (its shared device, if any) and of the
//! endpoints on it; it is stateless about addresses (the engine's IPAM picks them) and about
//! published ports (the [`crate::firewall::Firewall`] handles those). Two drivers exist, as in
//! Docker: [`crate::bridge::Bridge`] (a Linux bridge with one veth pair per container) and
//! [`crate::macvlan::Macvlan`] (one macvlan sub-interface of a host interface per container,
//! no host side, no NAT). Both pass the same contract suite (`driver/contract.rs`).

use std::fmt::Debug;
use std::net::Ipv4Addr;

use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::netlink::Netlink;
use crate::netns::NetNs;

#[cfg(test)]
mod contract;

/// What one endpoint asks for.
#[derive(Debug, Clone)]
pub struct EndpointRequest<'a> {
    /// The interface name inside the container (`eth0`, `eth1`, …).
    pub ifname: &'a str,
    /// The address (inside the network's subnet; picked by the caller's IPAM).
    pub ip: Ipv4Addr,
    /// `None`: Docker's scheme, `02:42` and the address ([`generate_mac`]).
    pub mac: Option<[u8; 6]>,
    /// Add the default route via the network's gateway.
    pub default_route: bool,
}

/// What an endpoint got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint's interface on the host (a veth's host end), if it has one.
    pub host_link: Option<String>,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

/// The kernel side of one network.
///
/// Contract (checked for every driver by the contract suite):
/// * [`create`](Self::create) is idempotent: it adopts what an earlier daemon left, so a
///   restart does not disturb running containers;
/// * [`attach`](Self::attach) leaves, on success, `ifname` inside the namespace up, with the
///   address, the MAC, and (if asked) the default route; endpoints of one network reach each
///   other. On failure nothing is left on the host or in the namespace;
/// * [`detach`](Self::detach) removes the endpoint from a live namespace (a disconnect);
///   dropping the namespace removes its endpoints too (the kernel does it);
/// * [`remove`](Self::remove) deletes what `create` made and nothing else (a user's parent
///   interface stays); removing twice is harmless.
///
/// Every method blocks (netlink); call from a blocking thread.
pub trait NetworkDriver: Send + Sync + Debug {
    /// Docker's driver name (`bridge`, `macvlan`).
    fn kind(&self) -> &'static str;
    /// The network's subnet.
    fn subnet(&self) -> Subnet;
    /// The containers' gateway.
    fn gateway(&self) -> Ipv4Addr;
    /// The host interface the network hangs off: the bridge, or the macvlan parent.
    fn device(&self) -> &str;
    /// Whether the host itself can reach endpoints (and so NAT and published ports work).
    /// A macvlan parent cannot talk to its own sub-interfaces.
    fn host_reachable(&self) -> bool;

    /// Brings the network's host side up, or adopts it.
    fn create(&self) -> Result<()>;
    /// Deletes what [`create`](Self::create) made.
    fn remove(&self) -> Result<()>;
    /// Plugs `netns` in as `request.ifname`.
    fn attach(&self, netns: &NetNs, request: &EndpointRequest<'_>) -> Result<Endpoint>;

    /// Unplugs `ifname` from a live namespace.
    fn detach(&self, netns: &NetNs, ifname: &str) -> Result<()> {
        let index = netns.run(|| Ok(Netlink::link_index(ifname)))?;
        match index {
            Some(index) => netns.netlink()?.delete_link(index),
            None => Ok(()),
        }
    }

    /// Deletes an endpoint's host side if it still exists (a start that failed after
    /// attaching; normally the kernel deletes it with the namespace).
    fn release(&self, endpoint_host_link: Option<&str>) -> Result<()> {
        match endpoint_host_link.and_then(Netlink::link_index) {
            Some(index) => Netlink::open()?.delete_link(index),
            None => Ok(()),
        }
    }
}

/// Gives the interface `ifname` of `netns` its MAC and address, brings it up and, if asked,
/// adds the default route via `gateway`. Shared by the drivers: the container side is the
/// same whatever the link type.
pub(crate) fn configure_inside(
    netns: &NetNs,
    request: &EndpointRequest<'_>,
    subnet: &Subnet,
    gateway: Ipv4Addr,
) -> Result<[u8; 6]> {
    let mac = request.mac.unwrap_or_else(|| generate_mac(request.ip));
    let mut inside = netns.netlink()?;
    let ifname = request.ifname;
    let index = netns.run(|| {
        Netlink::link_index(ifname)
            .ok_or_else(|| Error::Internal(format!("{ifname} not found in the container")))
    })?;
    // The MAC can only change while the link is down.
    inside.set_link(index, false, None, Some(mac))?;
    inside.add_address(index, request.ip, subnet.prefix)?;
    inside.set_link(index, true, None, None)?;
    if request.default_route {
        inside.add_default_route(index, gateway)?;
    }
    Ok(mac)
}

/// Docker's MAC scheme: 02:42 followed by the IPv4 address.
pub fn generate_mac(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `PREFIX` and random hex, 15 characters at most (the kernel's limit): a name freed by an
/// asynchronous namespace teardown may still be in use for a while, so names are never
/// reused deterministically.
pub(crate) fn random_link_name(prefix: &str) -> Result<String> {
    let file = std::fs::read("/proc/sys/kernel/random/uuid")
        .map_err(|e| Error::io("read", "/proc/sys/kernel/random/uuid", e))?;
    let hex: String = String::from_utf8_lossy(&file)
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(15 - prefix.len().min(15))
        .collect();
    Ok(format!("{prefix}{hex}"))
}
