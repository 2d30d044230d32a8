//! The bridge driver's kernel side: the bridge itself, and one veth endpoint per container.

use std::net::Ipv4Addr;

use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::netlink::Netlink;
use crate::netns::NetNs;

/// A bridge as configured: its name, and its own address (the containers' gateway).
#[derive(Debug, Clone)]
pub struct Bridge {
    pub name: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
}

/// What a container's endpoint got.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The host end of the veth pair.
    pub host_veth: String,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

impl Bridge {
    /// Creates the bridge with its gateway address and brings it up, unless it exists.
    pub fn ensure(&self) -> Result<()> {
        if Netlink::link_index(&self.name).is_some() {
            return Ok(());
        }
        let mut netlink = Netlink::open()?;
        netlink.create_bridge(&self.name)?;
        let result = (|| {
            let index = Netlink::link_index(&self.name)
                .ok_or_else(|| Error::Internal(format!("bridge {} vanished", self.name)))?;
            netlink.add_address(index, self.gateway, self.subnet.prefix)?;
            netlink.set_link(index, true, None, None)
        })();
        if result.is_err() {
            if let Some(index) = Netlink::link_index(&self.name) {
                let _ = netlink.delete_link(index);
            }
        }
        result
    }

    /// Deletes the bridge (and with it every veth still attached).
    pub fn remove(&self) -> Result<()> {
        match Netlink::link_index(&self.name) {
            Some(index) => Netlink::open()?.delete_link(index),
            None => Ok(()),
        }
    }

    /// Connects `netns` to the bridge: a veth pair whose container end is `eth0` with `ip`,
    /// `mac` and a default route via the gateway. On failure nothing is left on the host.
    pub fn attach(&self, netns: &NetNs, ip: Ipv4Addr, mac: Option<[u8; 6]>) -> Result<Endpoint> {
        self.attach_as(netns, ip, mac, "eth0", true)
    }

    /// Connects `netns` to the bridge as interface `ifname` (`eth1`, … for a container's
    /// further networks); the default route via the gateway is added only if `default_route`
    /// (the first non-internal network; an internal network has no route out). On failure
    /// nothing is left on the host.
    pub fn attach_as(
        &self,
        netns: &NetNs,
        ip: Ipv4Addr,
        mac: Option<[u8; 6]>,
        ifname: &str,
        default_route: bool,
    ) -> Result<Endpoint> {
        let host_veth = random_veth_name()?;
        let mac = mac.unwrap_or_else(|| generate_mac(ip));
        let mut host = Netlink::open()?;
        host.create_veth(&host_veth, ifname, netns.fd(), self.mtu)?;
        let result = (|| {
            let bridge = Netlink::link_index(&self.name)
                .ok_or_else(|| Error::Internal(format!("bridge {} not found", self.name)))?;
            let index = Netlink::link_index(&host_veth)
                .ok_or_else(|| Error::Internal(format!("veth {host_veth} not found")))?;
            host.set_link(index, true, Some(bridge), None)?;
            let mut inside = netns.netlink()?;
            let eth0 = netns.run(|| {
                Netlink::link_index(ifname)
                    .ok_or_else(|| Error::Internal(format!("{ifname} not found in the container")))
            })?;
            inside.set_link(eth0, false, None, Some(mac))?;
            inside.add_address(eth0, ip, self.subnet.prefix)?;
            inside.set_link(eth0, true, None, None)?;
            if default_route {
                inside.add_default_route(eth0, self.gateway)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            if let Some(index) = Netlink::link_index(&host_veth) {
                let _ = host.delete_link(index);
            }
            return Err(e);
        }
        Ok(Endpoint { host_veth, ip, mac })
    }
}

/// Deletes the container end `ifname` inside `netns` (a network disconnect); the kernel
/// deletes the host end with it.
pub fn detach(netns: &NetNs, ifname: &str) -> Result<()> {
    let index = netns.run(|| Ok(Netlink::link_index(ifname)))?;
    match index {
        Some(index) => netns.netlink()?.delete_link(index),
        None => Ok(()),
    }
}

/// Deletes a host veth if it still exists (the kernel also deletes it with the namespace).
pub fn delete_veth(name: &str) -> Result<()> {
    match Netlink::link_index(name) {
        Some(index) => Netlink::open()?.delete_link(index),
        None => Ok(()),
    }
}

/// Docker's MAC scheme: 02:42 followed by the IPv4 address.
pub fn generate_mac(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// `vethXXXXXXX` with random hex: a name freed by an asynchronous namespace teardown may
/// still be in use for a while, so names are never reused deterministically.
fn random_veth_name() -> Result<String> {
    let file = std::fs::read("/proc/sys/kernel/random/uuid")
        .map_err(|e| Error::io("read", "/proc/sys/kernel/random/uuid", e))?;
    let hex: String = String::from_utf8_lossy(&file)
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(7)
        .collect();
    Ok(format!("veth{hex}"))
}
