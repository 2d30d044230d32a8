//! The macvlan driver (Docker's `-d macvlan`): each container gets a macvlan sub-interface of
//! a host interface (the *parent*, `-o parent=eth0`), with its own MAC, directly on the
//! parent's layer-2 segment. There is no host side: no bridge, no veth, no NAT, no published
//! ports, and (a property of macvlan) the host cannot reach its own sub-interfaces.
//!
//! Without `-o parent`, Docker makes a dummy interface the parent, so containers on the
//! network only reach each other. Berth does the same with a veth pair whose far end goes
//! nowhere. Why not a dummy link: the `dummy` module is often absent (it is here), while
//! veth is always there for the bridge driver, and to macvlan both are just a lower device.

use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::driver::{configure_inside, Endpoint, EndpointRequest, NetworkDriver};
use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::netlink::{MacVlanMode, Netlink};
use crate::netns::NetNs;

/// `-o macvlan_mode=`: how sub-interfaces of one parent see each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Sub-interfaces talk to each other directly (Docker's default).
    #[default]
    Bridge,
    /// No traffic between sub-interfaces.
    Private,
    /// Traffic between sub-interfaces goes out through the external switch.
    Vepa,
    /// One sub-interface takes over the parent.
    Passthru,
}

impl FromStr for Mode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Mode> {
        match text {
            "" | "bridge" => Ok(Mode::Bridge),
            "private" => Ok(Mode::Private),
            "vepa" => Ok(Mode::Vepa),
            "passthru" => Ok(Mode::Passthru),
            other => Err(Error::InvalidArgument(format!(
                "macvlan_mode {other:?} is not one of bridge, private, vepa, passthru"
            ))),
        }
    }
}

impl Mode {
    fn kernel(self) -> MacVlanMode {
        match self {
            Mode::Bridge => MacVlanMode::Bridge,
            Mode::Private => MacVlanMode::Private,
            Mode::Vepa => MacVlanMode::Vepa,
            Mode::Passthru => MacVlanMode::Passthrough,
        }
    }
}

/// A macvlan network as configured.
#[derive(Debug, Clone)]
pub struct Macvlan {
    /// The host interface the sub-interfaces hang off.
    pub parent: String,
    /// The parent is Berth's placeholder (no `-o parent` was given): `create` makes it and
    /// `remove` deletes it. A user's parent is never created or deleted.
    pub placeholder: bool,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub mode: Mode,
}

impl Macvlan {
    /// The far end of a placeholder parent's veth pair.
    fn placeholder_peer(&self) -> String {
        let stem: String = self.parent.chars().take(14).collect();
        format!("{stem}p")
    }
}

impl NetworkDriver for Macvlan {
    fn kind(&self) -> &'static str {
        "macvlan"
    }

    fn subnet(&self) -> Subnet {
        self.subnet
    }

    fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    fn device(&self) -> &str {
        &self.parent
    }

    fn host_reachable(&self) -> bool {
        false
    }

    /// Checks that a user's parent exists; makes the placeholder parent (both ends up: a
    /// veth without carrier would carry nothing between the sub-interfaces).
    fn create(&self) -> Result<()> {
        if Netlink::link_index(&self.parent).is_some() {
            return Ok(());
        }
        if !self.placeholder {
            return Err(Error::InvalidArgument(format!(
                "-o parent interface was not found on the host: {}",
                self.parent
            )));
        }
        let peer = self.placeholder_peer();
        let mut netlink = Netlink::open()?;
        netlink.create_veth(&self.parent, &peer, None, 1500)?;
        let result = [self.parent.as_str(), peer.as_str()]
            .iter()
            .try_for_each(|name| {
                let index = Netlink::link_index(name)
                    .ok_or_else(|| Error::Internal(format!("{name} vanished")))?;
                netlink.set_link(index, true, None, None)
            });
        if result.is_err() {
            let _ = self.remove();
        }
        result
    }

    fn remove(&self) -> Result<()> {
        if !self.placeholder {
            return Ok(());
        }
        match Netlink::link_index(&self.parent) {
            Some(index) => Netlink::open()?.delete_link(index),
            None => Ok(()),
        }
    }

    fn attach(&self, netns: &NetNs, request: &EndpointRequest<'_>) -> Result<Endpoint> {
        let parent = Netlink::link_index(&self.parent).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the macvlan parent interface {} is gone from the host",
                self.parent
            ))
        })?;
        Netlink::open()?.create_macvlan(request.ifname, parent, netns.fd(), self.mode.kernel())?;
        match configure_inside(netns, request, &self.subnet, self.gateway) {
            Ok(mac) => Ok(Endpoint {
                host_link: None,
                ip: request.ip,
                mac,
            }),
            Err(e) => {
                let _ = self.detach(netns, request.ifname);
                Err(e)
            }
        }
    }
}
