//! The bridge driver: a Linux bridge with the gateway address, and one veth pair per
//! container (the host end on the bridge, the container end inside its namespace).

use std::net::Ipv4Addr;

use crate::driver::{configure_inside, random_link_name, Endpoint, EndpointRequest, NetworkDriver};
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

impl NetworkDriver for Bridge {
    fn kind(&self) -> &'static str {
        "bridge"
    }

    fn subnet(&self) -> Subnet {
        self.subnet
    }

    fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    fn device(&self) -> &str {
        &self.name
    }

    fn host_reachable(&self) -> bool {
        true
    }

    /// Creates the bridge with its gateway address and brings it up, unless it exists.
    fn create(&self) -> Result<()> {
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
    fn remove(&self) -> Result<()> {
        match Netlink::link_index(&self.name) {
            Some(index) => Netlink::open()?.delete_link(index),
            None => Ok(()),
        }
    }

    /// A veth pair whose container end is created directly inside `netns` (so it never
    /// appears, even briefly, among the host's interfaces).
    fn attach(&self, netns: &NetNs, request: &EndpointRequest<'_>) -> Result<Endpoint> {
        let host_veth = random_link_name("veth")?;
        let mut host = Netlink::open()?;
        host.create_veth(&host_veth, request.ifname, Some(netns.fd()), self.mtu)?;
        let result = (|| {
            let bridge = Netlink::link_index(&self.name)
                .ok_or_else(|| Error::Internal(format!("bridge {} not found", self.name)))?;
            let index = Netlink::link_index(&host_veth)
                .ok_or_else(|| Error::Internal(format!("veth {host_veth} not found")))?;
            host.set_link(index, true, Some(bridge), None)?;
            configure_inside(netns, request, &self.subnet, self.gateway)
        })();
        match result {
            Ok(mac) => Ok(Endpoint {
                host_link: Some(host_veth),
                ip: request.ip,
                mac,
            }),
            Err(e) => {
                // Deleting the host end deletes the container end with it.
                if let Some(index) = Netlink::link_index(&host_veth) {
                    let _ = host.delete_link(index);
                }
                Err(e)
            }
        }
    }
}
