//! User-defined networks: create/ls/inspect/rm/prune, containers on several networks,
//! reachability inside a network and isolation between networks, `--internal`, `--ip`,
//! connect/disconnect of running and created containers, Docker's errors on bad input,
//! cleanup of bridges and nft tables, restore after a daemon crash, and the leak test.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use berth_tests::{eventually, leftover_mounts, stderr, stdout, Daemon};
use serde_json::Value;

/// `NetworkSettings.Networks` of a container.
fn networks(d: &Daemon, name: &str) -> Value {
    let text = d.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", name]);
    serde_json::from_str(&text).expect("networks json")
}

/// The container's address on `network`.
fn ip_on(d: &Daemon, name: &str, network: &str) -> String {
    networks(d, name)[network]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn network_json(d: &Daemon, name: &str) -> Value {
    let text = d.ok(&["network", "inspect", name]);
    let list: Value = serde_json::from_str(&text).expect("network inspect json");
    list[0].clone()
}

/// Whether `from` can ping `ip` (one packet, short timeout).
fn pings(d: &Daemon, from: &str, ip: &str) -> bool {
    d.berth(&["exec", from, "ping", "-c", "1", "-W", "2", ip])
        .status
        .success()
}

fn sleeper(d: &Daemon, name: &str, args: &[&str]) -> String {
    let mut cmd = vec!["run", "-d", "--name", name];
    cmd.extend_from_slice(args);
    cmd.extend_from_slice(&["busybox", "sleep", "1000"]);
    d.ok(&cmd)
}

fn nft_table(table: &str) -> Option<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .expect("nft");
    out.status.success().then(|| stdout(&out))
}

fn table_of(id: &str) -> String {
    format!("berth_n{}", &id[..12])
}

fn bridge_of(id: &str) -> String {
    format!("br-{}", &id[..12])
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// The veths enslaved to a bridge.
fn bridge_ports(bridge: &str) -> Vec<String> {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn containers_on_a_user_network_reach_each_other_and_other_networks_are_isolated() {
    let d = Daemon::start();
    let n1 = d.ok(&["network", "create", "n1"]);
    let n2 = d.ok(&["network", "create", "--label", "team=b", "n2"]);
    assert_eq!(n1.len(), 64);
    assert!(link_exists(&bridge_of(&n1)), "bridge of n1");
    assert!(nft_table(&table_of(&n1)).is_some(), "table of n1");
    let ls = d.ok(&["network", "ls"]);
    let header = ls.lines().next().unwrap_or_default();
    for column in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
        assert!(header.contains(column), "{ls}");
    }
    for name in ["bridge", "host", "none", "n1", "n2"] {
        assert!(
            ls.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{ls}"
        );
    }
    assert_eq!(
        d.ok(&["network", "ls", "-q", "--filter", "label=team=b"]),
        n2[..12]
    );
    let custom = d.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}}",
        "--filter",
        "type=custom",
    ]);
    assert_eq!(custom, "n1\nn2");

    sleeper(&d, "ca", &["--network", "n1"]);
    sleeper(&d, "cb", &["--network", "n1", "--network-alias", "bee"]);
    sleeper(&d, "cc", &["--network", "n2"]);
    sleeper(&d, "plain", &[]);
    let ip_a = ip_on(&d, "ca", "n1");
    let ip_c = ip_on(&d, "cc", "n2");
    let ip_plain = ip_on(&d, "plain", "bridge");
    assert!(
        !ip_a.is_empty() && !ip_c.is_empty(),
        "{}",
        networks(&d, "ca")
    );
    assert!(pings(&d, "cb", &ip_a), "b cannot reach a on n1");
    assert!(!pings(&d, "cc", &ip_a), "n2 reaches n1");
    assert!(!pings(&d, "ca", &ip_c), "n1 reaches n2");
    assert!(!pings(&d, "plain", &ip_a), "the default bridge reaches n1");
    assert!(!pings(&d, "ca", &ip_plain), "n1 reaches the default bridge");

    // inspect: Docker's endpoint fields, and the network's containers.
    let b = &networks(&d, "cb")["n1"];
    assert_eq!(b["NetworkID"], n1.as_str());
    assert_eq!(b["IPPrefixLen"], 24);
    assert!(
        b["Aliases"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "bee")),
        "{b}"
    );
    assert!(b["MacAddress"]
        .as_str()
        .is_some_and(|m| m.starts_with("02:42:")));
    let net = network_json(&d, "n1");
    assert_eq!(net["Id"], n1.as_str());
    assert_eq!(net["Driver"], "bridge");
    assert_eq!(net["Scope"], "local");
    let subnet = net["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(subnet.ends_with("/24"), "{net}");
    let members: Vec<&str> = net["Containers"]
        .as_object()
        .map(|m| m.values().filter_map(|c| c["Name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members.len(), 2, "{net}");
    assert!(members.contains(&"ca") && members.contains(&"cb"));
    // /etc/hosts has the container's own entry; resolv.conf is there.
    let hosts = d.ok(&["exec", "ca", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&ip_a), "{hosts}");
    // Prefix resolution like Docker's.
    assert_eq!(network_json(&d, &n1[..6])["Name"], "n1");
}

#[test]
fn internal_networks_have_no_way_out_but_talk_inside() {
    let d = Daemon::start();
    d.ok(&["network", "create", "--internal", "inside"]);
    d.ok(&["network", "create", "other"]);
    sleeper(&d, "i1", &["--network", "inside"]);
    sleeper(&d, "i2", &["--network", "inside"]);
    sleeper(&d, "o1", &["--network", "other"]);
    sleeper(&d, "plain", &[]);
    assert!(
        pings(&d, "i2", &ip_on(&d, "i1", "inside")),
        "inside cannot talk"
    );
    let default_gateway = networks(&d, "plain")["bridge"]["Gateway"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !pings(&d, "i1", &default_gateway),
        "internal reaches the default bridge's gateway"
    );
    assert!(
        !pings(&d, "i1", &ip_on(&d, "o1", "other")),
        "internal reaches another network"
    );
    let routes = d.ok(&["exec", "i1", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    assert_eq!(network_json(&d, "inside")["Internal"], true);
}

#[test]
fn connect_and_disconnect_change_the_interfaces_seen_inside() {
    let d = Daemon::start();
    d.ok(&["network", "create", "n1"]);
    d.ok(&["network", "create", "n2"]);
    sleeper(&d, "ca", &["--network", "n1"]);
    sleeper(&d, "peer", &["--network", "n2"]);
    let has = |name: &str, ifname: &str| {
        d.berth(&[
            "exec",
            name,
            "test",
            "-e",
            &format!("/sys/class/net/{ifname}"),
        ])
        .status
        .success()
    };
    assert!(has("ca", "eth0") && !has("ca", "eth1"));
    d.ok(&["network", "connect", "--alias", "second", "n2", "ca"]);
    assert!(has("ca", "eth1"));
    let ip2 = ip_on(&d, "ca", "n2");
    let addr = d.ok(&["exec", "ca", "ip", "-4", "addr", "show", "eth1"]);
    assert!(addr.contains(&ip2), "{addr}");
    assert!(
        pings(&d, "peer", &ip2),
        "n2 peer cannot reach the connected container"
    );
    let nets = networks(&d, "ca");
    assert!(
        nets.get("n1").is_some() && nets.get("n2").is_some(),
        "{nets}"
    );
    // Connecting twice is refused with Docker's message.
    let again = d.berth(&["network", "connect", "n2", "ca"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("endpoint with name ca already exists in network n2"));
    d.ok(&["network", "disconnect", "n2", "ca"]);
    assert!(!has("ca", "eth1"));
    assert!(networks(&d, "ca").get("n2").is_none());
    let not = d.berth(&["network", "disconnect", "n2", "ca"]);
    assert!(
        stderr(&not).contains("is not connected to network n2"),
        "{}",
        stderr(&not)
    );
    // A created container gets the endpoint at start, in connect order.
    d.ok(&[
        "create",
        "--name",
        "later",
        "--network",
        "n1",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&["network", "connect", "n2", "later"]);
    d.ok(&["start", "later"]);
    assert!(has("later", "eth1"));
    assert!(!ip_on(&d, "later", "n2").is_empty());
    // The default-bridge container can join a user network too.
    sleeper(&d, "plain", &[]);
    d.ok(&["network", "connect", "n1", "plain"]);
    assert!(has("plain", "eth1"));
    assert!(pings(&d, "plain", &ip_on(&d, "ca", "n1")));
}

#[test]
fn requested_addresses_are_honoured_and_checked() {
    let d = Daemon::start();
    let pool = berth_tests::free_test_subnet(); // 10.x.y.1/24
    let prefix = pool.trim_end_matches("1/24").to_owned();
    let subnet = format!("{prefix}0/24");
    d.ok(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--gateway",
        &format!("{prefix}254"),
        "fixed",
    ]);
    let net = network_json(&d, "fixed");
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], format!("{prefix}254"));
    let wanted = format!("{prefix}50");
    sleeper(&d, "cx", &["--network", "fixed", "--ip", &wanted]);
    assert_eq!(ip_on(&d, "cx", "fixed"), wanted);
    assert_eq!(
        networks(&d, "cx")["fixed"]["IPAMConfig"]["IPv4Address"],
        wanted.as_str()
    );
    assert_eq!(
        networks(&d, "cx")["fixed"]["Gateway"],
        format!("{prefix}254")
    );
    let inside = d.ok(&["exec", "cx", "ip", "-4", "addr", "show", "eth0"]);
    assert!(inside.contains(&wanted), "{inside}");
    // The gateway is not handed out: the first container without --ip gets .1.
    sleeper(&d, "cy", &["--network", "fixed"]);
    assert_eq!(ip_on(&d, "cy", "fixed"), format!("{prefix}1"));
    let taken = d.berth(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        &wanted,
        "busybox",
        "true",
    ]);
    assert!(!taken.status.success());
    assert!(
        stderr(&taken).contains("Address already in use"),
        "{}",
        stderr(&taken)
    );
    let outside = d.berth(&[
        "run",
        "--rm",
        "--network",
        "fixed",
        "--ip",
        "192.0.2.9",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&outside).contains("does not belong to any of this network's subnets"),
        "{}",
        stderr(&outside)
    );
    d.ok(&["network", "create", "auto"]);
    let no_subnet = d.berth(&[
        "run",
        "--rm",
        "--network",
        "auto",
        "--ip",
        &wanted,
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&no_subnet).contains("user specified IP address is supported only when connecting to networks with user configured subnets"),
        "{}",
        stderr(&no_subnet)
    );
    let on_default = d.berth(&["run", "--rm", "--ip", &wanted, "busybox", "true"]);
    assert!(
        stderr(&on_default)
            .contains("user specified IP address is supported on user defined networks only"),
        "{}",
        stderr(&on_default)
    );
    let alias_default = d.berth(&["run", "--rm", "--network-alias", "cx", "busybox", "true"]);
    assert!(stderr(&alias_default)
        .contains("network-scoped aliases are only supported for user-defined networks"));
}

#[test]
fn bad_network_input_gets_dockers_errors_and_the_daemon_keeps_running() {
    let d = Daemon::start();
    let pool = berth_tests::free_test_subnet();
    let prefix = pool.trim_end_matches("1/24").to_owned();
    let subnet = format!("{prefix}0/24");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--subnet".into(), "10.1.2.0/33".into(), "bad1".into()],
            "invalid CIDR address: 10.1.2.0/33",
        ),
        (
            vec!["--subnet".into(), "nonsense".into(), "bad2".into()],
            "invalid CIDR address: nonsense",
        ),
        (
            vec![
                "--subnet".into(),
                subnet.clone(),
                "--gateway".into(),
                "192.0.2.1".into(),
                "bad3".into(),
            ],
            "no matching subnet for gateway 192.0.2.1",
        ),
        (
            vec!["--gateway".into(), "192.0.2.1".into(), "bad4".into()],
            "every ip-range or gateway must have a corresponding subnet",
        ),
        (
            vec!["-d".into(), "overlay9".into(), "bad5".into()],
            "plugin \"overlay9\" not found",
        ),
        (
            vec!["-d".into(), "host".into(), "bad6".into()],
            "only one instance of \"host\" network is allowed",
        ),
    ];
    for (args, message) in &cases {
        let mut cmd = vec!["network", "create"];
        cmd.extend(args.iter().map(String::as_str));
        let out = d.berth(&cmd);
        assert!(!out.status.success(), "{cmd:?} succeeded");
        assert!(stderr(&out).contains(message), "{cmd:?}: {}", stderr(&out));
    }
    d.ok(&["network", "create", "--subnet", &subnet, "good"]);
    let overlap = d.berth(&[
        "network",
        "create",
        "--subnet",
        &format!("{prefix}128/25"),
        "bad7",
    ]);
    assert!(
        stderr(&overlap).contains("Pool overlaps with other one on this address space"),
        "{}",
        stderr(&overlap)
    );
    let duplicate = d.berth(&["network", "create", "good"]);
    assert!(stderr(&duplicate).contains("network with name good already exists"));
    let unknown = d.berth(&["run", "--rm", "--network", "nowhere", "busybox", "true"]);
    assert!(
        stderr(&unknown).contains("network nowhere not found"),
        "{}",
        stderr(&unknown)
    );
    sleeper(&d, "cs", &[]);
    let connect = d.berth(&["network", "connect", "nowhere", "cs"]);
    assert!(stderr(&connect).contains("network nowhere not found"));
    let predefined = d.berth(&["network", "rm", "bridge"]);
    assert!(stderr(&predefined).contains("bridge is a pre-defined network and cannot be removed"));
    let host = d.berth(&["network", "connect", "host", "cs"]);
    assert!(stderr(&host).contains(
        "container cannot be disconnected from host network or connected to host network"
    ));
    // Nothing of the failed creates was left behind.
    let names = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!names.contains("bad"), "{names}");
    d.ok(&["version"]);
}

#[test]
fn rm_is_refused_while_in_use_and_prune_removes_only_unused_networks() {
    let d = Daemon::start();
    let used = d.ok(&["network", "create", "used"]);
    let idle = d.ok(&["network", "create", "--label", "keep=no", "idle"]);
    sleeper(&d, "cu", &["--network", "used"]);
    let refused = d.berth(&["network", "rm", "used"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains(&format!(
            "error while removing network: network used id {used} has active endpoints"
        )),
        "{}",
        stderr(&refused)
    );
    let dangling = d.ok(&[
        "network",
        "ls",
        "-q",
        "--no-trunc",
        "--filter",
        "dangling=true",
    ]);
    assert_eq!(dangling, idle);
    let pruned = d.ok(&["network", "prune", "-f"]);
    assert_eq!(pruned, "Deleted Networks:\nidle");
    assert!(!link_exists(&bridge_of(&idle)));
    assert!(nft_table(&table_of(&idle)).is_none());
    d.ok(&["rm", "-f", "cu"]);
    assert_eq!(d.ok(&["network", "rm", "used"]), "used");
    assert!(!link_exists(&bridge_of(&used)));
    // system prune removes unused networks too.
    d.ok(&["network", "create", "leftover"]);
    let out = d.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Deleted Networks:\nleftover"), "{out}");
    assert_eq!(
        d.ok(&["network", "ls", "-q", "--filter", "type=custom"]),
        ""
    );
}

#[test]
fn removing_containers_and_networks_leaves_no_links_or_rules() {
    let d = Daemon::start();
    let id = d.ok(&["network", "create", "tidy"]);
    let table = table_of(&id);
    let before = nft_table(&table).expect("table exists");
    for n in 0..3 {
        let name = format!("t{n}");
        sleeper(&d, &name, &["--network", "tidy", "-p", "127.0.0.1::80"]);
    }
    let during = nft_table(&table).unwrap_or_default();
    assert_ne!(during, before, "published ports should add map elements");
    for n in 0..3 {
        d.ok(&["rm", "-f", &format!("t{n}")]);
    }
    assert_eq!(nft_table(&table).unwrap_or_default(), before);
    let bridge = bridge_of(&id);
    assert!(
        eventually(Duration::from_secs(10), || bridge_ports(&bridge).is_empty()),
        "{:?}",
        bridge_ports(&bridge)
    );
    d.ok(&["network", "rm", "tidy"]);
    assert!(!link_exists(&bridge));
    assert!(nft_table(&table).is_none());
    let docker_user = Command::new("nft")
        .args(["list", "chain", "ip", "filter", "DOCKER-USER"])
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    assert!(!docker_user.contains(&bridge), "{docker_user}");
}

#[test]
fn networks_and_running_attachments_survive_a_daemon_crash() {
    let mut d = Daemon::start();
    let id = d.ok(&["network", "create", "keep"]);
    sleeper(&d, "ca", &["--network", "keep"]);
    sleeper(&d, "cb", &["--network", "keep"]);
    let ip_a = ip_on(&d, "ca", "keep");
    let ip_b = ip_on(&d, "cb", "keep");
    d.kill_daemon();
    d.spawn().expect("restart berthd");
    assert_eq!(d.ok(&["network", "inspect", "-f", "{{.Id}}", "keep"]), id);
    assert_eq!(ip_on(&d, "ca", "keep"), ip_a);
    assert!(pings(&d, "cb", &ip_a), "attachment lost across the restart");
    // The restored IPAM does not hand out a running container's address again.
    sleeper(&d, "cc", &["--network", "keep"]);
    let ip_c = ip_on(&d, "cc", "keep");
    assert!(ip_c != ip_a && ip_c != ip_b, "{ip_c} reused");
    let members = network_json(&d, "keep")["Containers"]
        .as_object()
        .map(|m| m.len());
    assert_eq!(members, Some(3));
}

#[test]
fn network_create_and_destroy_emit_events() {
    let d = Daemon::start();
    let id = d.ok(&["network", "create", "ev"]);
    let c = sleeper(&d, "evc", &["--network", "ev"]);
    d.ok(&["rm", "-f", "evc"]);
    d.ok(&["network", "rm", "ev"]);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 1)
    .to_string();
    let events = d.ok(&[
        "events", "--since", "0", "--until", &until, "--filter", "type=network", "--format",
        "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"name\"}} {{index .Actor.Attributes \"container\"}}",
    ]);
    for line in [
        format!("create {id} ev "),
        format!("connect {id} ev {c}"),
        format!("disconnect {id} ev {c}"),
        format!("destroy {id} ev "),
    ] {
        assert!(
            events.lines().any(|l| format!("{l} ").starts_with(&line)),
            "{line:?} missing in\n{events}"
        );
    }
}

/// Runs `cycles` create/start/rm cycles on a user network and checks that nothing leaked:
/// veths, addresses, nft elements, namespaces held by the daemon, mounts.
fn leak_cycles(cycles: usize) {
    let d = Daemon::start();
    let id = d.ok(&["network", "create", "churn"]);
    let table = table_of(&id);
    let before = nft_table(&table).expect("table");
    let netns_before = daemon_netns_fds(&d);
    let mut ids = BTreeSet::new();
    for _ in 0..cycles {
        let c = d.ok(&[
            "run",
            "-d",
            "--network",
            "churn",
            "-p",
            "127.0.0.1::80",
            "busybox",
            "sleep",
            "100",
        ]);
        d.ok(&["rm", "-f", &c]);
        ids.insert(c);
    }
    assert_eq!(
        nft_table(&table).unwrap_or_default(),
        before,
        "nft elements leaked"
    );
    let bridge = bridge_of(&id);
    assert!(
        eventually(Duration::from_secs(30), || bridge_ports(&bridge).is_empty()),
        "veths leaked: {:?}",
        bridge_ports(&bridge)
    );
    assert_eq!(
        daemon_netns_fds(&d),
        netns_before,
        "the daemon holds namespaces"
    );
    for c in &ids {
        assert!(leftover_mounts(c).is_empty(), "mounts of {c} leaked");
    }
    // Every address went back: the next container gets the network's first address.
    let subnet = network_json(&d, "churn")["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let first = subnet.trim_end_matches("0/24").to_owned() + "2";
    sleeper(&d, "last", &["--network", "churn"]);
    assert_eq!(ip_on(&d, "last", "churn"), first, "addresses leaked");
}

/// Network namespaces the daemon holds open.
fn daemon_netns_fds(d: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|t| t.to_string_lossy().starts_with("net:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Issue 4's bar: 1000 cycles (about 50 s here).
#[test]
fn thousand_cycles_on_a_user_network_leak_nothing() {
    leak_cycles(1000);
}

/// `nslookup NAME` inside `from` (busybox asks the resolv.conf server directly).
fn lookup(d: &Daemon, from: &str, name: &str) -> String {
    let out = d.berth(&["exec", from, "nslookup", name]);
    stdout(&out) + &stderr(&out)
}

#[test]
fn the_embedded_dns_answers_names_aliases_and_short_ids_on_shared_networks() {
    let mut d = Daemon::start();
    d.ok(&["network", "create", "dn1"]);
    d.ok(&["network", "create", "dn2"]);
    sleeper(&d, "web", &["--network", "dn1", "--network-alias", "www"]);
    sleeper(&d, "client", &["--network", "dn1"]);
    let web_id = d.container_id("web");
    sleeper(&d, "stranger", &["--network", "dn2"]);
    sleeper(&d, "plain", &[]);
    let ip = ip_on(&d, "web", "dn1");
    let resolv = d.ok(&["exec", "client", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    assert!(resolv.contains("options ndots:0"), "{resolv}");
    for name in ["web", "www", &web_id[..12], "web.dn1", "WEB"] {
        let answer = lookup(&d, "client", name);
        assert!(answer.contains(&ip), "{name}: {answer}");
    }
    assert!(pings(&d, "client", "web"), "ping by name");
    // Not across networks, and not on the default bridge.
    assert!(!lookup(&d, "stranger", "web").contains(&ip));
    let plain = d.ok(&["exec", "plain", "cat", "/etc/resolv.conf"]);
    assert!(!plain.contains("127.0.0.11"), "{plain}");
    // Reverse lookups give the container's name on the network.
    let reverse = lookup(&d, "client", &ip);
    assert!(reverse.contains("web.dn1"), "{reverse}");
    // A connected network makes its containers resolvable.
    d.ok(&["network", "connect", "dn2", "client"]);
    assert!(lookup(&d, "client", "stranger").contains(&ip_on(&d, "stranger", "dn2")));
    // After a daemon crash the running containers get their DNS server back.
    d.kill_daemon();
    d.spawn().expect("restart berthd");
    assert!(
        eventually(Duration::from_secs(10), || lookup(&d, "client", "www")
            .contains(&ip)),
        "no dns after restart: {}",
        berth_tests::tail(&d.log(), 20)
    );
}
