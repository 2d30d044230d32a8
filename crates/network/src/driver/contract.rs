//! The [`NetworkDriver`] contract, run against every driver: the bridge, macvlan on Berth's
//! placeholder parent, and macvlan on a parent the user owns. Each case makes its own
//! interfaces and namespaces (root, as every machine here) and removes them, even on failure.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use super::{EndpointRequest, NetworkDriver};
use crate::bridge::Bridge;
use crate::macvlan::{Macvlan, Mode};
use crate::netlink::Netlink;
use crate::netns::NetNs;
use crate::test_support::{random_name, test_subnet};

/// A driver under test and what it stands on.
struct Fixture {
    driver: Box<dyn NetworkDriver>,
    /// An interface the test made for the driver (a user's macvlan parent): a veth pair.
    user_parent: Option<String>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.driver.remove();
        if let Some(index) = self.user_parent.as_deref().and_then(Netlink::link_index) {
            let _ = Netlink::open().and_then(|mut n| n.delete_link(index));
        }
    }
}

fn bridge() -> Fixture {
    let subnet = test_subnet();
    Fixture {
        driver: Box::new(Bridge {
            name: random_name("bdc"),
            subnet,
            gateway: subnet.first_host(),
            mtu: 1500,
        }),
        user_parent: None,
    }
}

fn macvlan_placeholder() -> Fixture {
    let subnet = test_subnet();
    Fixture {
        driver: Box::new(Macvlan {
            parent: random_name("dm-"),
            placeholder: true,
            subnet,
            gateway: subnet.first_host(),
            mode: Mode::Bridge,
        }),
        user_parent: None,
    }
}

fn macvlan_user_parent() -> Fixture {
    let parent = random_name("mvp");
    let peer = random_name("mvq");
    let mut netlink = Netlink::open().expect("netlink");
    netlink
        .create_veth(&parent, &peer, None, 1500)
        .expect("create the parent");
    for name in [&parent, &peer] {
        let index = Netlink::link_index(name).expect("parent index");
        netlink
            .set_link(index, true, None, None)
            .expect("parent up");
    }
    let subnet = test_subnet();
    Fixture {
        driver: Box::new(Macvlan {
            parent: parent.clone(),
            placeholder: false,
            subnet,
            gateway: subnet.first_host(),
            mode: Mode::Bridge,
        }),
        user_parent: Some(parent),
    }
}

fn host(fixture: &Fixture, n: u8) -> Ipv4Addr {
    let [a, b, c, _] = fixture.driver.subnet().network().octets();
    Ipv4Addr::new(a, b, c, n)
}

fn request(ip: Ipv4Addr) -> EndpointRequest<'static> {
    EndpointRequest {
        ifname: "eth0",
        ip,
        mac: None,
        default_route: true,
    }
}

/// The interface names of the calling thread's namespace.
fn links() -> BTreeSet<String> {
    nix::net::if_::if_nameindex()
        .map(|list| {
            list.iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What `ifname` looks like inside `netns`: (up, IPv4 addresses, MAC, default gateway).
fn inside(netns: &NetNs, ifname: &str) -> (bool, Vec<Ipv4Addr>, String, Option<Ipv4Addr>) {
    let ifname = ifname.to_owned();
    netns
        .run(move || {
            let mut up = false;
            let mut addresses = Vec::new();
            let mut mac = String::new();
            for ifa in nix::ifaddrs::getifaddrs().expect("getifaddrs") {
                if ifa.interface_name != ifname {
                    continue;
                }
                up |= ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
                if let Some(address) = ifa.address {
                    if let Some(v4) = address.as_sockaddr_in() {
                        addresses.push(v4.ip());
                    }
                    if let Some(link) = address.as_link_addr().and_then(|l| l.addr()) {
                        mac = link
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":");
                    }
                }
            }
            // /proc/thread-self/net is this thread's namespace's view (/proc/net follows the
            // process's main thread).
            let routes = std::fs::read_to_string("/proc/thread-self/net/route").unwrap_or_default();
            let gateway = routes.lines().skip(1).find_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                (fields.get(1) == Some(&"00000000") && fields.first() == Some(&ifname.as_str()))
                    .then(|| u32::from_str_radix(fields[2], 16).ok())
                    .flatten()
                    .map(|gw| Ipv4Addr::from(u32::from_be(gw)))
            });
            Ok((up, addresses, mac, gateway))
        })
        .expect("look inside the namespace")
}

fn attach_configures_the_interface_inside(fixture: Fixture) {
    let driver = &fixture.driver;
    driver.create().expect("create");
    let netns = NetNs::create().expect("netns");
    let ip = host(&fixture, 7);
    let endpoint = driver.attach(&netns, &request(ip)).expect("attach");
    assert_eq!(endpoint.ip, ip);
    assert_eq!(endpoint.mac, super::generate_mac(ip));
    let (up, addresses, mac, gateway) = inside(&netns, "eth0");
    assert!(up, "eth0 is down");
    assert_eq!(addresses, vec![ip]);
    assert_eq!(
        mac,
        format!(
            "02:42:{:02x}:{:02x}:{:02x}:07",
            ip.octets()[0],
            ip.octets()[1],
            ip.octets()[2]
        )
    );
    assert_eq!(gateway, Some(driver.gateway()), "default route");
    // A second interface without a route, with a MAC of its own.
    let second = host(&fixture, 8);
    let mac = [0x02, 0, 0, 0, 0, 0x08];
    driver
        .attach(
            &netns,
            &EndpointRequest {
                ifname: "eth1",
                ip: second,
                mac: Some(mac),
                default_route: false,
            },
        )
        .expect("attach eth1");
    let (up, addresses, mac, gateway) = inside(&netns, "eth1");
    assert!(up);
    assert_eq!(addresses, vec![second]);
    assert_eq!(mac, "02:00:00:00:00:08");
    assert_eq!(gateway, None);
}

fn endpoints_of_one_network_reach_each_other(fixture: Fixture) {
    let driver = &fixture.driver;
    driver.create().expect("create");
    let (a, b) = (
        NetNs::create().expect("netns"),
        NetNs::create().expect("netns"),
    );
    let (ip_a, ip_b) = (host(&fixture, 10), host(&fixture, 11));
    driver.attach(&a, &request(ip_a)).expect("attach a");
    driver.attach(&b, &request(ip_b)).expect("attach b");
    // A socket stays in the namespace it was made in, whichever thread uses it later.
    let listener = a
        .run(move || Ok(TcpListener::bind((ip_a, 0)).expect("listen in a")))
        .expect("enter a");
    let port = listener.local_addr().expect("addr").port();
    b.run(move || {
        let mut stream = TcpStream::connect((ip_a, port)).expect("connect from b to a");
        stream.write_all(b"hello").expect("write");
        Ok(())
    })
    .expect("enter b");
    let (mut stream, peer) = listener.accept().expect("accept");
    assert_eq!(peer.ip(), ip_b);
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    assert_eq!(text, "hello");
}

fn a_failed_attach_leaves_nothing(fixture: Fixture) {
    let driver = &fixture.driver;
    driver.create().expect("create");
    let netns = NetNs::create().expect("netns");
    let ip = host(&fixture, 20);
    driver.attach(&netns, &request(ip)).expect("attach");
    let host_before = links();
    let inside_before = netns.run(|| Ok(links())).expect("links");
    let error = driver
        .attach(&netns, &request(host(&fixture, 21)))
        .expect_err("a second eth0 in one namespace");
    assert!(!error.to_string().is_empty());
    assert_eq!(netns.run(|| Ok(links())).expect("links"), inside_before);
    assert_eq!(
        inside(&netns, "eth0").1,
        vec![ip],
        "the first endpoint is untouched"
    );
    let appeared: Vec<String> = links().difference(&host_before).cloned().collect();
    assert!(
        appeared.iter().all(|l| !l.starts_with("veth")),
        "host links left behind: {appeared:?}"
    );
}

fn detach_and_namespace_drop_remove_the_endpoint(fixture: Fixture) {
    let driver = &fixture.driver;
    driver.create().expect("create");
    let netns = NetNs::create().expect("netns");
    let endpoint = driver
        .attach(&netns, &request(host(&fixture, 30)))
        .expect("attach");
    driver.detach(&netns, "eth0").expect("detach");
    assert!(!netns.run(|| Ok(links())).expect("links").contains("eth0"));
    if let Some(link) = &endpoint.host_link {
        assert!(
            Netlink::link_index(link).is_none(),
            "{link} outlived the detach"
        );
    }
    driver
        .detach(&netns, "eth0")
        .expect("detaching twice is harmless");
    let endpoint = driver
        .attach(&netns, &request(host(&fixture, 31)))
        .expect("attach again");
    drop(netns);
    if let Some(link) = &endpoint.host_link {
        // The kernel tears a namespace down asynchronously.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while Netlink::link_index(link).is_some() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(
            Netlink::link_index(link).is_none(),
            "{link} outlived its namespace"
        );
    }
}

fn create_is_idempotent_and_remove_takes_only_its_own(fixture: Fixture) {
    let driver = &fixture.driver;
    driver.create().expect("create");
    driver.create().expect("create again adopts");
    let device = driver.device().to_owned();
    assert!(
        Netlink::link_index(&device).is_some(),
        "{device} missing after create"
    );
    driver.remove().expect("remove");
    driver.remove().expect("remove twice");
    let owned = fixture.user_parent.is_none();
    assert_eq!(
        Netlink::link_index(&device).is_none(),
        owned,
        "{device}: remove deletes what create made and never a user's interface"
    );
}

macro_rules! contract {
    ($module:ident, $fixture:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn attach_configures_the_interface_inside() {
                super::attach_configures_the_interface_inside($fixture);
            }

            #[test]
            fn endpoints_of_one_network_reach_each_other() {
                super::endpoints_of_one_network_reach_each_other($fixture);
            }

            #[test]
            fn a_failed_attach_leaves_nothing() {
                super::a_failed_attach_leaves_nothing($fixture);
            }

            #[test]
            fn detach_and_namespace_drop_remove_the_endpoint() {
                super::detach_and_namespace_drop_remove_the_endpoint($fixture);
            }

            #[test]
            fn create_is_idempotent_and_remove_takes_only_its_own() {
                super::create_is_idempotent_and_remove_takes_only_its_own($fixture);
            }
        }
    };
}

contract!(bridge_driver, bridge());
contract!(macvlan_placeholder_parent, macvlan_placeholder());
contract!(macvlan_user_parent, macvlan_user_parent());
