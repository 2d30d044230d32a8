//! The port and address bookkeeping of [`LiveNetwork`] against the in-memory firewall: what a
//! restore after a daemon restart re-adds, and what a release gives back. No kernel state is
//! touched beyond reserving host ports (the bridge is never created).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use berth_network::bridge::Bridge;
use berth_network::firewall::{Firewall, MemoryFirewall, PortMapping, Protocol};
use berth_network::ipam::Subnet;
use berth_network::ports;

use super::{AddressState, Attachment, LiveNetwork, PublishedPort};

fn network() -> LiveNetwork {
    let subnet = Subnet {
        address: Ipv4Addr::new(198, 18, 99, 0),
        prefix: 24,
    };
    let firewall = MemoryFirewall::default();
    firewall.setup().expect("setup");
    LiveNetwork {
        driver: Box::new(Bridge {
            name: "bt-never-made".into(),
            subnet,
            gateway: subnet.first_host(),
            mtu: 1500,
        }),
        firewall: Some(Box::new(firewall)),
        range: subnet,
        id: "0".repeat(64),
        name: "test".into(),
        internal: false,
        state: Mutex::new(AddressState::default()),
    }
}

/// A free host TCP port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    ports::reserve(Some(Ipv4Addr::LOCALHOST), 0, Protocol::Tcp)
        .expect("a free port")
        .port
}

fn attachment(last: u8, host_port: u16) -> Attachment {
    Attachment {
        network: "test".into(),
        network_id: "0".repeat(64),
        bridge: "bt-never-made".into(),
        endpoint_id: "e".repeat(64),
        ip: Ipv4Addr::new(198, 18, 99, last),
        prefix: 24,
        gateway: Ipv4Addr::new(198, 18, 99, 1),
        mac: String::new(),
        host_veth: String::new(),
        ports: vec![PublishedPort {
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port,
        }],
        interface: "eth0".into(),
        aliases: Vec::new(),
        requested_ip: None,
        internal: false,
    }
}

fn mapping(last: u8, host_port: u16) -> PortMapping {
    PortMapping {
        host_ip: Some(Ipv4Addr::LOCALHOST),
        host_port,
        protocol: Protocol::Tcp,
        container_ip: Ipv4Addr::new(198, 18, 99, last),
        container_port: 80,
    }
}

fn published(net: &LiveNetwork) -> BTreeSet<PortMapping> {
    net.firewall
        .as_ref()
        .expect("a firewall")
        .published()
        .expect("published")
}

#[test]
fn restore_readds_rules_and_holds_ports_and_release_gives_them_back() {
    let net = network();
    let (port_a, port_b) = (free_port(), free_port());
    let running = vec![
        ("a".to_owned(), attachment(2, port_a)),
        ("b".to_owned(), attachment(3, port_b)),
    ];
    net.restore(&running).expect("restore");
    net.restore(&running)
        .expect("a second restore adds no duplicate");
    assert_eq!(
        published(&net),
        [mapping(2, port_a), mapping(3, port_b)]
            .into_iter()
            .collect()
    );
    assert_eq!(net.used_addresses(), 2);
    assert!(
        ports::reserve(Some(Ipv4Addr::LOCALHOST), port_a, Protocol::Tcp).is_err(),
        "a restored container's host port must stay reserved"
    );
    net.release("a", &running[0].1, false).expect("release a");
    assert_eq!(published(&net), [mapping(3, port_b)].into_iter().collect());
    assert_eq!(net.used_addresses(), 1);
    assert!(
        ports::reserve(Some(Ipv4Addr::LOCALHOST), port_a, Protocol::Tcp).is_ok(),
        "a released host port is free again"
    );
    // The next address handed out is the one given back.
    assert_eq!(
        net.take_address(None).expect("an address"),
        Ipv4Addr::new(198, 18, 99, 2)
    );
}

#[test]
fn requested_addresses_are_checked_against_the_network() {
    let net = network();
    net.take_address(Some(Ipv4Addr::new(198, 18, 99, 50)))
        .expect("a free address in the range");
    let taken = net
        .take_address(Some(Ipv4Addr::new(198, 18, 99, 50)))
        .expect_err("the same address twice");
    assert!(
        taken.to_string().contains("Address already in use"),
        "{taken}"
    );
    for bad in [[198, 18, 99, 1], [198, 18, 99, 255], [10, 0, 0, 5]] {
        assert!(
            net.take_address(Some(Ipv4Addr::from(bad))).is_err(),
            "{bad:?} accepted"
        );
    }
}
