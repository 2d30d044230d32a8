//! The [`Firewall`] contract, run against every implementation. The nft cases need root and
//! nft (every machine here has both) and work on a bridge and table of their own.

use std::net::Ipv4Addr;

use super::{Firewall, MemoryFirewall, NftFirewall, PortMapping, Protocol};
use crate::bridge::Bridge;
use crate::driver::NetworkDriver;
use crate::test_support::{random_name, test_subnet};

/// An implementation under test, with whatever it needs around it.
trait Fixture {
    fn firewall(&self) -> &dyn Firewall;
}

impl Fixture for MemoryFirewall {
    fn firewall(&self) -> &dyn Firewall {
        self
    }
}

/// A bridge of its own (nft's setup configures it) and a table named after it.
struct Nft {
    bridge: Bridge,
    firewall: NftFirewall,
}

impl Nft {
    fn new() -> Nft {
        let name = random_name("bfw");
        let subnet = test_subnet();
        let bridge = Bridge {
            name: name.clone(),
            subnet,
            gateway: subnet.first_host(),
            mtu: 1500,
        };
        bridge.create().expect("create the test bridge");
        let firewall = NftFirewall {
            table: format!("berth_t{name}"),
            bridge: name,
            subnet,
            internal: false,
        };
        Nft { bridge, firewall }
    }
}

impl Drop for Nft {
    fn drop(&mut self) {
        let _ = self.firewall.teardown();
        let _ = self.bridge.remove();
    }
}

impl Fixture for Nft {
    fn firewall(&self) -> &dyn Firewall {
        &self.firewall
    }
}

fn mapping(host_ip: Option<[u8; 4]>, host_port: u16, protocol: Protocol) -> PortMapping {
    PortMapping {
        host_ip: host_ip.map(Ipv4Addr::from),
        host_port,
        protocol,
        container_ip: Ipv4Addr::new(198, 18, 0, 2),
        container_port: 80,
    }
}

fn some_ports() -> Vec<PortMapping> {
    vec![
        mapping(None, 18080, Protocol::Tcp),
        mapping(None, 18080, Protocol::Udp),
        mapping(Some([127, 0, 0, 1]), 18081, Protocol::Tcp),
    ]
}

fn publish_lists_exactly_what_is_in_effect(fw: &dyn Firewall) {
    fw.setup().expect("setup");
    assert!(fw.published().expect("published").is_empty());
    let ports = some_ports();
    fw.publish(&ports).expect("publish");
    assert_eq!(
        fw.published().expect("published"),
        ports.iter().copied().collect()
    );
    fw.unpublish(&ports[..1]).expect("unpublish one");
    assert_eq!(
        fw.published().expect("published"),
        ports[1..].iter().copied().collect()
    );
}

fn publishing_twice_adds_no_duplicate(fw: &dyn Firewall) {
    fw.setup().expect("setup");
    let ports = some_ports();
    fw.publish(&ports).expect("publish");
    fw.publish(&ports[1..]).expect("publish again");
    assert_eq!(fw.published().expect("published").len(), ports.len());
    fw.unpublish(&ports)
        .expect("one unpublish removes each once");
    assert!(fw.published().expect("published").is_empty());
}

fn unpublishing_an_unknown_port_fails_and_changes_nothing(fw: &dyn Firewall) {
    fw.setup().expect("setup");
    let ports = some_ports();
    fw.publish(&ports[..2]).expect("publish");
    let error = fw
        .unpublish(&ports)
        .expect_err("unpublish of a port never published");
    assert!(!error.to_string().is_empty());
    assert_eq!(
        fw.published().expect("published"),
        ports[..2].iter().copied().collect(),
        "a failed unpublish must not remove the ports that were there"
    );
}

fn setup_drops_what_was_left(fw: &dyn Firewall) {
    fw.setup().expect("setup");
    fw.publish(&some_ports()).expect("publish");
    fw.setup().expect("setup again");
    assert!(fw.published().expect("published").is_empty());
}

fn nothing_works_outside_setup_and_teardown(fw: &dyn Firewall) {
    let ports = some_ports();
    fw.teardown().expect("teardown with nothing set up");
    assert!(fw.publish(&ports).is_err(), "publish before setup");
    fw.setup().expect("setup");
    fw.publish(&ports).expect("publish");
    fw.teardown().expect("teardown");
    assert!(fw.published().is_err(), "published after teardown");
    assert!(fw.unpublish(&ports).is_err(), "unpublish after teardown");
    fw.teardown().expect("second teardown");
}

macro_rules! contract {
    ($module:ident, $fixture:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn publish_lists_exactly_what_is_in_effect() {
                let fixture = $fixture;
                super::publish_lists_exactly_what_is_in_effect(fixture.firewall());
            }

            #[test]
            fn publishing_twice_adds_no_duplicate() {
                let fixture = $fixture;
                super::publishing_twice_adds_no_duplicate(fixture.firewall());
            }

            #[test]
            fn unpublishing_an_unknown_port_fails_and_changes_nothing() {
                let fixture = $fixture;
                super::unpublishing_an_unknown_port_fails_and_changes_nothing(fixture.firewall());
            }

            #[test]
            fn setup_drops_what_was_left() {
                let fixture = $fixture;
                super::setup_drops_what_was_left(fixture.firewall());
            }

            #[test]
            fn nothing_works_outside_setup_and_teardown() {
                let fixture = $fixture;
                super::nothing_works_outside_setup_and_teardown(fixture.firewall());
            }
        }
    };
}

contract!(memory, MemoryFirewall::default());
contract!(nft, Nft::new());
