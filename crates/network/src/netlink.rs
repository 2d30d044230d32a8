//! A small synchronous rtnetlink client: the few link, address and route requests Berth needs.
//!
//! A [`Netlink`] socket belongs to the network namespace it was opened in (the kernel binds a
//! netlink socket to the opener's namespace for its whole life), so a socket opened inside a
//! container's namespace keeps configuring that namespace after the thread has returned to the
//! host's: see [`crate::netns::NetNs::netlink`].

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
pub use netlink_packet_route::link::MacVlanMode;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::error::{Error, Result};

/// The kernel's main routing table (RT_TABLE_MAIN).
const MAIN_TABLE: u8 = 254;

/// One rtnetlink socket; requests are sent one at a time and acknowledged.
pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

impl Netlink {
    /// Opens a socket in the calling thread's current network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket =
            Socket::new(NETLINK_ROUTE).map_err(|e| Error::netlink("open socket", e))?;
        socket
            .bind_auto()
            .map_err(|e| Error::netlink("bind socket", e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::netlink("connect socket", e))?;
        Ok(Netlink {
            socket,
            sequence: 0,
        })
    }

    /// Sends one request and waits for its acknowledgement (or the kernel's error).
    fn request(&mut self, what: &str, message: RouteNetlinkMessage, flags: u16) -> Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut buffer = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buffer);
        self.socket
            .send(&buffer, 0)
            .map_err(|e| Error::netlink(what, e))?;
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .map_err(|e| Error::netlink(what, e))?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| Error::netlink(what, std::io::Error::other(e.to_string())))?;
                let length = reply.header.length as usize;
                if reply.header.sequence_number == self.sequence {
                    if let NetlinkPayload::Error(error) = &reply.payload {
                        return match error.code {
                            None => Ok(()),
                            Some(_) => Err(Error::netlink(what, error.to_io())),
                        };
                    }
                }
                if length == 0 {
                    break;
                }
                offset += length;
            }
        }
    }

    /// The index of the interface `name`, if it exists.
    pub fn link_index(name: &str) -> Option<u32> {
        nix::net::if_::if_nametoindex(name).ok()
    }

    /// Creates a bridge interface.
    pub fn create_bridge(&mut self, name: &str) -> Result<()> {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.to_owned()));
        link.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            "create bridge",
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates a veth pair `host` <-> `peer`; the peer is created directly inside the network
    /// namespace `peer_netns` (so it never appears, even briefly, in the host's namespace),
    /// or beside `host` when `None`.
    pub fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_netns: Option<BorrowedFd<'_>>,
        mtu: u32,
    ) -> Result<()> {
        let mut peer_link = LinkMessage::default();
        peer_link
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        if let Some(netns) = peer_netns {
            peer_link
                .attributes
                .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        }
        peer_link.attributes.push(LinkAttribute::Mtu(mtu));
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(host.to_owned()));
        link.attributes.push(LinkAttribute::Mtu(mtu));
        link.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_link))),
        ]));
        self.request(
            "create veth pair",
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Creates a macvlan sub-interface `name` of the host interface `parent`, directly inside
    /// the network namespace `netns`.
    pub fn create_macvlan(
        &mut self,
        name: &str,
        parent: u32,
        netns: BorrowedFd<'_>,
        mode: MacVlanMode,
    ) -> Result<()> {
        let mut link = LinkMessage::default();
        link.attributes.push(LinkAttribute::IfName(name.to_owned()));
        link.attributes.push(LinkAttribute::Link(parent));
        link.attributes
            .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        link.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)])),
        ]));
        self.request(
            "create macvlan",
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Changes an interface: brings it up, attaches it to a bridge (`controller`), sets its MAC.
    pub fn set_link(
        &mut self,
        index: u32,
        up: bool,
        controller: Option<u32>,
        mac: Option<[u8; 6]>,
    ) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        if up {
            link.header.flags = LinkFlags::Up;
            link.header.change_mask = LinkFlags::Up;
        }
        if let Some(controller) = controller {
            link.attributes.push(LinkAttribute::Controller(controller));
        }
        if let Some(mac) = mac {
            link.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        self.request("set link", RouteNetlinkMessage::SetLink(link), 0)
    }

    /// Deletes an interface (deleting one end of a veth pair deletes both).
    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        self.request("delete link", RouteNetlinkMessage::DelLink(link), 0)
    }

    /// Adds `address/prefix` to interface `index`.
    pub fn add_address(&mut self, index: u32, address: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        message
            .attributes
            .push(AddressAttribute::Local(IpAddr::V4(address)));
        message
            .attributes
            .push(AddressAttribute::Address(IpAddr::V4(address)));
        let broadcast = u32::from(address) | (u32::MAX.checked_shr(prefix.into()).unwrap_or(0));
        message
            .attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(broadcast)));
        self.request(
            "add address",
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds the default route via `gateway` on interface `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.table = MAIN_TABLE;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        route.attributes.push(RouteAttribute::Oif(index));
        self.request(
            "add default route",
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
