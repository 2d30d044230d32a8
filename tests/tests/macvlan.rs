//! macvlan networks (`network create -d macvlan`): containers get sub-interfaces of a host
//! interface, reach each other (by name, through the embedded DNS) and own their MACs; the
//! placeholder parent Berth makes without `-o parent` goes with the network, a user's parent
//! stays; Docker's errors for bad options.

use std::process::Command;

use berth_tests::{free_test_subnet, random_hex, stderr, Daemon};
use serde_json::Value;

/// A veth pair standing in for a host NIC (`-o parent=`), deleted even when the test fails.
struct HostInterface(String);

impl HostInterface {
    fn new() -> HostInterface {
        let name = format!("mvp{}", random_hex(6));
        let peer = format!("mvq{}", random_hex(6));
        let made = Command::new("ip")
            .args(["link", "add", &name, "type", "veth", "peer", "name", &peer])
            .status()
            .expect("ip");
        assert!(made.success(), "creating {name}");
        for link in [&name, &peer] {
            let up = Command::new("ip")
                .args(["link", "set", link, "up"])
                .status();
            assert!(up.is_ok_and(|s| s.success()), "bringing {link} up");
        }
        HostInterface(name)
    }
}

impl Drop for HostInterface {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn inspect(d: &Daemon, name: &str) -> Value {
    let text = d.ok(&["network", "inspect", name]);
    serde_json::from_str::<Value>(&text).expect("network inspect json")[0].clone()
}

fn subnet() -> String {
    free_test_subnet().trim_end_matches("1/24").to_owned() + "0/24"
}

fn run_on(d: &Daemon, network: &str, name: &str) -> String {
    d.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "busybox",
        "sleep",
        "1000",
    ])
}

#[test]
fn containers_on_a_macvlan_network_reach_each_other_by_name() {
    let d = Daemon::start();
    let id = d.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        &subnet(),
        "mv",
    ]);
    let placeholder = format!("dm-{}", &id[..12]);
    assert!(link_exists(&placeholder), "{placeholder} missing");
    let net = inspect(&d, "mv");
    assert_eq!(net["Driver"], "macvlan");
    run_on(&d, "mv", "mva");
    run_on(&d, "mv", "mvb");
    let ip_a = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.mv.IPAddress}}",
        "mva",
    ]);
    // Inside, eth0 is a macvlan with the MAC Berth reports.
    let mac = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.mv.MacAddress}}",
        "mvb",
    ]);
    let details = d.ok(&["exec", "mvb", "cat", "/sys/class/net/eth0/address"]);
    assert_eq!(details, mac);
    let ping = d.berth(&["exec", "mvb", "ping", "-c", "1", "-W", "2", "mva"]);
    assert!(
        ping.status.success(),
        "b cannot reach a by name: {}",
        stderr(&ping)
    );
    let ping = d.berth(&["exec", "mva", "ping", "-c", "1", "-W", "2", "mvb"]);
    assert!(ping.status.success(), "a cannot reach b: {}", stderr(&ping));
    let listed = inspect(&d, "mv");
    let containers = listed["Containers"].as_object().map(|c| c.len());
    assert_eq!(containers, Some(2), "{listed}");
    assert!(listed["Containers"].to_string().contains(&ip_a));
    d.ok(&["rm", "-f", "mva", "mvb"]);
    d.ok(&["network", "rm", "mv"]);
    assert!(
        !link_exists(&placeholder),
        "{placeholder} outlived its network"
    );
}

#[test]
fn a_users_parent_interface_carries_containers_and_stays_after_rm() {
    let d = Daemon::start();
    let parent = HostInterface::new();
    let option = format!("parent={}", parent.0);
    d.ok(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        &subnet(),
        "-o",
        &option,
        "-o",
        "macvlan_mode=bridge",
        "mvp",
    ]);
    assert_eq!(inspect(&d, "mvp")["Options"]["parent"], parent.0.as_str());
    run_on(&d, "mvp", "mva");
    run_on(&d, "mvp", "mvb");
    let ping = d.berth(&["exec", "mva", "ping", "-c", "1", "-W", "2", "mvb"]);
    assert!(ping.status.success(), "{}", stderr(&ping));
    // A second network cannot take the same parent.
    let second = d.berth(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet",
        &subnet(),
        "-o",
        &option,
        "mvp2",
    ]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains(&format!(
            "network mvp is already using parent interface {}",
            parent.0
        )),
        "{}",
        stderr(&second)
    );
    d.ok(&["rm", "-f", "mva", "mvb"]);
    d.ok(&["network", "rm", "mvp"]);
    assert!(
        link_exists(&parent.0),
        "network rm deleted the user's interface"
    );
}

#[test]
fn bad_macvlan_options_get_dockers_errors() {
    let d = Daemon::start();
    let missing = format!("nosuch{}", random_hex(4));
    let parent = HostInterface::new();
    let cases = [
        (
            vec!["-o".to_owned(), format!("parent={missing}")],
            format!("-o parent interface was not found on the host: {missing}"),
        ),
        (
            vec!["-o".to_owned(), "macvlan_mode=sideways".to_owned()],
            "macvlan_mode \"sideways\" is not one of bridge, private, vepa, passthru".to_owned(),
        ),
        (
            vec![
                "--internal".to_owned(),
                "-o".to_owned(),
                format!("parent={}", parent.0),
            ],
            "--internal and -o parent are mutually exclusive".to_owned(),
        ),
    ];
    for (options, message) in cases {
        let mut args = vec!["network", "create", "-d", "macvlan"];
        args.extend(options.iter().map(String::as_str));
        args.push("bad");
        let out = d.berth(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(
            stderr(&out).contains(&message),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let listed = d.ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!listed.lines().any(|l| l == "bad"), "{listed}");
    assert!(d.berth(&["version"]).status.success(), "the daemon stopped");
}
