//! Berth's container networking: network namespaces, the network drivers (a Linux bridge
//! with veth pairs; macvlan), IPAM, port publishing and NAT in Berth's own nftables table,
//! host port reservations, and the embedded DNS server for container names.
//!
//! Stateless: the engine owns the state (which addresses and ports are in use, which
//! namespace belongs to which container) and hands it in. Everything here blocks and must run
//! on a blocking thread; namespace switches happen on dedicated short-lived threads
//! ([`netns`]), never on the caller's.

pub mod bridge;
pub mod dns;
pub mod driver;
mod error;
pub mod firewall;
pub mod ipam;
pub mod macvlan;
pub mod netlink;
pub mod netns;
pub mod ports;
#[cfg(test)]
mod test_support;

pub use error::{Error, Result};
