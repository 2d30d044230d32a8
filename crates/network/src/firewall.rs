//! Firewalls: the packet rules that give a network NAT, isolation and published ports.
//!
//! [`NftFirewall`] is Berth's own nftables table per network (see [`nft`]); [`MemoryFirewall`]
//! keeps the same bookkeeping in memory, for tests of the engine's port handling that must
//! not depend on nft. Both pass one contract suite (`firewall/contract.rs`).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::net::Ipv4Addr;

use crate::error::Result;

#[cfg(test)]
mod contract;
mod memory;
pub mod nft;

pub use memory::MemoryFirewall;
pub use nft::{available, NftFirewall};

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(&self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port, resolved: host side and container side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortMapping {
    /// `None`: every host address (`0.0.0.0`).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub protocol: Protocol,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// The rules of one network.
///
/// Contract (checked for every implementation by the contract suite):
/// * [`setup`](Self::setup) (re)creates the network's rules from scratch: whatever a crashed
///   daemon left is dropped, and calling it twice leaves one copy;
/// * [`publish`](Self::publish) and [`unpublish`](Self::unpublish) are each one atomic
///   change: all of the given ports take effect, or (on error) none does. Publishing a port
///   already published is harmless (a restore after restart adds no duplicates); unpublishing
///   one that is not published is an error that changes nothing;
/// * both fail before `setup` and after [`teardown`](Self::teardown), which removes
///   everything and is harmless when nothing is set up;
/// * [`published`](Self::published) is exactly what is in effect.
///
/// Every method blocks (the nft implementation runs `nft`); call from a blocking thread.
pub trait Firewall: Send + Sync + Debug {
    fn setup(&self) -> Result<()>;
    fn teardown(&self) -> Result<()>;
    fn publish(&self, ports: &[PortMapping]) -> Result<()>;
    fn unpublish(&self, ports: &[PortMapping]) -> Result<()>;
    fn published(&self) -> Result<BTreeSet<PortMapping>>;
}
