#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use super::*;
use crate::container::model::ContainerSpec;

fn container(mode: NetworkMode) -> Container {
    let mut spec = ContainerSpec {
        image: "busybox".into(),
        ..Default::default()
    };
    spec.host.network_mode = mode;
    Container {
        id: "c".repeat(64),
        name: "me".into(),
        created: chrono::Utc::now(),
        spec,
        image_id: String::new(),
        path: "sh".into(),
        args: vec![],
        env: vec![],
        cmd: vec![],
        entrypoint: vec![],
        working_dir: String::new(),
        user: String::new(),
        hostname: "cccccccccccc".into(),
        labels: Default::default(),
        exposed_ports: vec![],
        volumes: vec![],
        stop_signal: "SIGTERM".into(),
        state: Default::default(),
        mount_points: vec![],
        networks: Vec::new(),
        endpoints: None,
    }
}

fn attachment(ip: Ipv4Addr) -> Attachment {
    Attachment {
        network: "bridge".into(),
        network_id: String::new(),
        bridge: "berth0".into(),
        endpoint_id: String::new(),
        ip,
        prefix: 16,
        gateway: Ipv4Addr::new(172, 17, 0, 1),
        mac: String::new(),
        host_veth: String::new(),
        ports: vec![],
        interface: "eth0".into(),
        aliases: vec![],
        requested_ip: None,
        internal: false,
    }
}

#[test]
fn extra_hosts_parse_like_docker() {
    assert_eq!(parse_extra_host("a:1.2.3.4").unwrap(), ("a", "1.2.3.4"));
    assert_eq!(parse_extra_host("v6:::1").unwrap(), ("v6", "::1"));
    assert_eq!(
        parse_extra_host("gw:host-gateway").unwrap(),
        ("gw", "host-gateway")
    );
    assert_eq!(
        parse_extra_host("bad").unwrap_err().to_string(),
        "bad format for add-host: \"bad\""
    );
    assert_eq!(
        parse_extra_host("a:notip").unwrap_err().to_string(),
        "invalid IP address in add-host: \"notip\""
    );
    assert!(parse_extra_host(":1.2.3.4").is_err());
}

#[test]
fn dns_values_are_validated() {
    assert!(validate_dns_server("9.9.9.9").is_ok());
    assert!(validate_dns_server("2001:db8::1").is_ok());
    assert_eq!(
        validate_dns_server("notip").unwrap_err().to_string(),
        "notip is not an ip address"
    );
    for ok in [".", "example.com", "a.b-c.d.", "corp"] {
        assert!(validate_dns_search(ok).is_ok(), "{ok}");
    }
    for bad in ["-x.com", "a..b", "a b", &"x".repeat(300)] {
        assert!(validate_dns_search(bad).is_err(), "{bad}");
    }
}

#[test]
fn macs_parse_and_multicast_is_refused() {
    let mac = [0x02, 0x42, 0xac, 0x11, 0x00, 0x09];
    assert_eq!(parse_mac("02:42:ac:11:00:09").unwrap(), mac);
    assert_eq!(parse_mac("02-42-AC-11-00-09").unwrap(), mac);
    assert_eq!(parse_mac("0242.ac11.0009").unwrap(), mac);
    assert_eq!(format_mac(&mac), "02:42:ac:11:00:09");
    assert_eq!(
        parse_mac("zz").unwrap_err().to_string(),
        "zz is not a valid mac address"
    );
    for bad in [
        "02:42:ac:11:00",
        "02:42:ac:11:00:0g",
        "02:42-ac:11:00:09",
        "0242ac110009",
    ] {
        assert!(parse_mac(bad).is_err(), "{bad}");
    }
    assert!(parse_mac("01:00:5e:00:00:01")
        .unwrap_err()
        .to_string()
        .contains("multicast"));
}

#[test]
fn hosts_file_has_extra_hosts_links_and_own_line_in_dockers_order() {
    let mut c = container(NetworkMode::Bridge);
    c.spec.host.extra_hosts = vec!["foo:1.2.3.4".into(), "gw:host-gateway".into()];
    c.spec.domainname = Some("example.com".into());
    let links = vec![
        LinkedHost {
            ip: "172.17.0.2".into(),
            alias: "al".into(),
            name: "web".into(),
            short_id: "ec0fce6e8420".into(),
        },
        LinkedHost {
            ip: "172.17.0.2".into(),
            alias: "web".into(),
            name: "web".into(),
            short_id: "ec0fce6e8420".into(),
        },
    ];
    let a = attachment(Ipv4Addr::new(172, 17, 0, 3));
    let gw = Some(IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1)));
    let text = hosts_file(&c, "h1", std::slice::from_ref(&a), &links, gw, String::new).unwrap();
    let tail: Vec<&str> = text.lines().skip(6).collect();
    assert_eq!(
        tail,
        [
            "1.2.3.4\tfoo",
            "172.17.0.1\tgw",
            "172.17.0.2\tal ec0fce6e8420 web",
            "172.17.0.2\tweb ec0fce6e8420",
            "172.17.0.3\th1.example.com h1",
        ]
    );
    assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
    // No gateway known: Docker's error.
    let err = hosts_file(&c, "h1", std::slice::from_ref(&a), &[], None, String::new).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unable to derive the IP value for host-gateway"
    );
}

#[test]
fn host_network_keeps_the_hosts_file_unless_add_host() {
    let mut c = container(NetworkMode::Host);
    let text = hosts_file(&c, "vm", &[], &[], None, || "10.0.0.1 vm\n".into()).unwrap();
    assert_eq!(text, "10.0.0.1 vm\n");
    c.spec.host.extra_hosts = vec!["a:1.2.3.4".into()];
    let text = hosts_file(&c, "vm", &[], &[], None, || "10.0.0.1 vm\n".into()).unwrap();
    assert!(
        text.ends_with("ff02::2\tip6-allrouters\n1.2.3.4\ta\n"),
        "{text}"
    );
}

#[test]
fn resolv_conf_is_built_like_dockers() {
    let host = "# generated\nsearch corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver 2001:db8::1\noptions edns0\n";
    let config = NetworkConfig::default();
    let mut c = container(NetworkMode::Bridge);
    // Nothing given: the host's file without loopback/IPv6 servers.
    assert_eq!(
        resolv_conf(host, &c, &config),
        "# generated\nsearch corp.example\nnameserver 10.0.0.2\noptions edns0\n"
    );
    assert_eq!(
        resolv_conf("nameserver 127.0.0.53\n", &c, &config),
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    );
    // All given: search, nameservers, options in that order.
    c.spec.host.dns = vec!["9.9.9.9".into()];
    c.spec.host.dns_search = vec!["a.com".into(), "b.org".into()];
    c.spec.host.dns_options = vec!["ndots:3".into()];
    assert_eq!(
        resolv_conf(host, &c, &config),
        "search a.com b.org\nnameserver 9.9.9.9\noptions ndots:3\n"
    );
    // Only --dns-search: the host's reachable servers and options fill in.
    c.spec.host.dns = vec![];
    c.spec.host.dns_options = vec![];
    c.spec.host.dns_search = vec!["x.com".into()];
    assert_eq!(
        resolv_conf(host, &c, &config),
        "search x.com\nnameserver 10.0.0.2\noptions edns0\n"
    );
    // `.` clears the search list.
    c.spec.host.dns_search = vec![".".into()];
    assert_eq!(
        resolv_conf(host, &c, &config),
        "nameserver 10.0.0.2\noptions edns0\n"
    );
    // The daemon's defaults apply when the container sets nothing.
    let daemon = NetworkConfig {
        dns: vec!["1.1.1.1".into()],
        dns_options: vec!["timeout:2".into()],
        ..Default::default()
    };
    let c = container(NetworkMode::Bridge);
    assert_eq!(
        resolv_conf(host, &c, &daemon),
        "search corp.example\nnameserver 1.1.1.1\noptions timeout:2\n"
    );
    // Host network: the host's file as is, or built keeping loopback servers.
    let mut c = container(NetworkMode::Host);
    assert_eq!(resolv_conf(host, &c, &config), host);
    c.spec.host.dns_search = vec!["x.com".into()];
    assert_eq!(
        resolv_conf(host, &c, &config),
        "search x.com\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver 2001:db8::1\noptions edns0\n"
    );
}
