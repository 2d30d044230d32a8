//! Networking on the default bridge, with real namespaces and traffic: addresses, reachability
//! between containers, published ports (TCP and UDP, 127.0.0.1 and the bridge address), `-P`,
//! `berth port`, conflicts, bad input, cleanup of the nft table, restore after a daemon
//! restart, and network events.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use berth_tests::{eventually, stderr, stdout, Daemon};

/// An HTTP GET of `/index.html`; the body, or an empty string when nothing answered.
fn http_get(address: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(
        &address.parse().expect("socket address"),
        Duration::from_secs(3),
    ) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

/// Starts a busybox httpd serving "hello from NAME" on port 80 with the given extra args.
fn web(d: &Daemon, name: &str, args: &[&str]) -> String {
    let mut cmd = vec!["run", "-d", "--name", name];
    cmd.extend_from_slice(args);
    let script = format!("echo hello from {name} > /tmp/index.html && exec httpd -f -p 80 -h /tmp");
    cmd.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.ok(&cmd)
}

/// The gateway (bridge) address of the daemon's default network.
fn gateway(d: &Daemon, name: &str) -> String {
    d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.Gateway}}",
        name,
    ])
}

fn table(d: &Daemon) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "ip", &format!("berth_{}", d.bridge)])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn containers_get_an_address_route_and_etc_files() {
    let d = Daemon::start();
    let out = d.ok(&[
        "run",
        "--rm",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "ip -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf",
    ]);
    let gw = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip route | awk '/default/ {print $3}'",
    ]);
    assert!(out.contains("inet 10."), "{out}");
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    let ip_line = out
        .lines()
        .find(|l| l.trim_end().ends_with("\tbox"))
        .unwrap_or("");
    assert!(
        ip_line.starts_with("10."),
        "no hosts entry for the container:\n{out}"
    );
    assert!(out.contains("nameserver"), "{out}");
    assert!(!out.contains("nameserver 127."), "{out}");
    // --network none keeps loopback only.
    let none = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(none.lines().count(), 1, "{none}");
}

#[test]
fn containers_on_the_bridge_reach_each_other_and_inspect_shows_it() {
    let d = Daemon::start();
    web(&d, "server", &[]);
    let ip = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
        "server",
    ]);
    let by_network = d.ok(&[
        "inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}} {{.NetworkSettings.Networks.bridge.Gateway}} {{.NetworkSettings.Networks.bridge.MacAddress}}", "server",
    ]);
    assert!(ip.starts_with("10."), "{ip}");
    assert!(by_network.starts_with(&format!("{ip} ")), "{by_network}");
    assert!(by_network.contains(" 02:42:"), "{by_network}");
    let got = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{ip}/index.html"),
    ]);
    assert_eq!(got, "hello from server");
    d.ok(&["stop", "-t", "1", "server"]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.IPAddress}}",
            "server"
        ]),
        ""
    );
    d.ok(&["rm", "server"]);
}

#[test]
fn published_tcp_port_answers_on_loopback_host_and_bridge_addresses() {
    let d = Daemon::start();
    let before = table(&d);
    // -p 80 (a free host port), 127.0.0.1::80 (loopback only, free port).
    web(&d, "pub", &["-p", "80", "-p", "127.0.0.1::80"]);
    let ports = d.ok(&["port", "pub"]);
    let mut any = String::new();
    let mut local = String::new();
    for line in ports.lines() {
        let (key, host) = line.split_once(" -> ").unwrap_or(("", ""));
        assert_eq!(key, "80/tcp", "{ports}");
        if host.starts_with("0.0.0.0:") {
            any = host.trim_start_matches("0.0.0.0:").to_owned();
        } else if host.starts_with("127.0.0.1:") {
            local = host.trim_start_matches("127.0.0.1:").to_owned();
        }
    }
    assert!(!any.is_empty() && !local.is_empty(), "{ports}");
    assert_eq!(d.ok(&["port", "pub", "80"]).lines().count(), 2);
    assert!(eventually(Duration::from_secs(5), || http_get(&format!(
        "127.0.0.1:{any}"
    ))
    .contains("hello from pub")));
    assert!(http_get(&format!("127.0.0.1:{local}")).contains("hello from pub"));
    let gw = gateway(&d, "pub");
    assert!(http_get(&format!("{gw}:{any}")).contains("hello from pub"));
    // The loopback-only binding is not published on other addresses.
    assert!(!http_get(&format!("{gw}:{local}")).contains("hello"));
    // ps shows the mappings.
    let ps = d.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("0.0.0.0:{any}->80/tcp")), "{ps}");
    // Another container reaches the published port through the host (hairpin NAT).
    let hairpin = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-qO-",
        &format!("http://{gw}:{any}/index.html"),
    ]);
    assert_eq!(hairpin, "hello from pub");
    d.ok(&["rm", "-f", "pub"]);
    assert!(!http_get(&format!("127.0.0.1:{any}")).contains("hello"));
    // Removing the container removed its rules: the table is as it was.
    assert_eq!(table(&d), before);
}

#[test]
fn published_udp_port_echoes() {
    let d = Daemon::start();
    // busybox has no UDP server: run the host's python3 with the host's /usr read-only.
    if !std::path::Path::new("/usr/bin/python3").exists() {
        berth_tests::require(false, "python3 on the host");
        return;
    }
    let script = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(b'echo:'+d,a)\n";
    d.ok(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-p",
        "5353/udp",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/usr/lib:/lib:ro",
        "-v",
        "/usr/lib64:/lib64:ro",
        "busybox",
        "/usr/bin/python3",
        "-c",
        script,
    ]);
    let port = d.ok(&["port", "udp", "5353/udp"]);
    let port = port.trim_start_matches("0.0.0.0:");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let answered = eventually(Duration::from_secs(10), || {
        let _ = socket.send_to(b"ping", format!("127.0.0.1:{port}"));
        let mut buf = [0u8; 64];
        matches!(socket.recv_from(&mut buf), Ok((n, _)) if &buf[..n] == b"echo:ping")
    });
    assert!(
        answered,
        "no UDP echo through {port}: {}",
        d.ok(&["logs", "udp"])
    );
    d.ok(&["rm", "-f", "udp"]);
}

#[test]
fn publish_all_picks_distinct_free_ports() {
    let d = Daemon::start();
    d.ok(&[
        "run", "-d", "--name", "all", "--expose", "80", "--expose", "81", "--expose", "82/udp",
        "-P", "busybox", "sleep", "60",
    ]);
    let ports = d.ok(&["port", "all"]);
    let hosts: Vec<&str> = ports.lines().filter_map(|l| l.split(':').nth(1)).collect();
    assert_eq!(hosts.len(), 3, "{ports}");
    assert!(ports.contains("82/udp -> 0.0.0.0:"), "{ports}");
    let tcp: std::collections::BTreeSet<&str> = ports
        .lines()
        .filter(|l| l.contains("/tcp"))
        .filter_map(|l| l.split(':').nth(1))
        .collect();
    assert_eq!(tcp.len(), 2, "{ports}");
    d.ok(&["rm", "-f", "all"]);
}

#[test]
fn port_conflicts_fail_the_start_cleanly() {
    let d = Daemon::start();
    let before = table(&d);
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "clash"]),
        "created"
    );
    d.ok(&["rm", "clash"]);
    // Two containers on one host port: the second fails, the first keeps it.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "60",
    ]);
    let first = d.ok(&["port", "first", "80"]);
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        &format!("{first}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(
        stderr(&out).contains("port is already allocated"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "first", "second"]);
    assert_eq!(table(&d), before);
}

#[test]
fn bad_port_specs_are_refused() {
    let d = Daemon::start();
    for spec in [
        "80/icmp",
        "a:b:c:d",
        "99999",
        "8080:http",
        "1.2.3:80:80",
        "8000-8002:80-81",
    ] {
        let out = d.berth(&["run", "--rm", "-p", spec, "busybox", "true"]);
        assert_eq!(out.status.code(), Some(125), "{spec}: {}", stdout(&out));
        assert!(!stderr(&out).is_empty(), "{spec}");
    }
    // Straight to the API: a bad host port.
    let body =
        r#"{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"70000"}]}}}"#;
    let reply = d
        .raw_request("POST", "/containers/create", body)
        .expect("request");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("invalid port specification"), "{reply}");
}

#[test]
fn published_ports_survive_a_daemon_restart_without_duplicates() {
    let mut d = Daemon::start();
    web(&d, "keep", &["-p", "127.0.0.1::80"]);
    let port = d
        .ok(&["port", "keep", "80"])
        .trim_start_matches("127.0.0.1:")
        .to_owned();
    let with_container = table(&d);
    d.kill_daemon();
    d.spawn().expect("restart berthd");
    assert_eq!(table(&d), with_container);
    assert!(eventually(Duration::from_secs(5), || http_get(&format!(
        "127.0.0.1:{port}"
    ))
    .contains("hello from keep")));
    d.ok(&["rm", "-f", "keep"]);
    assert!(!table(&d).contains(&port), "{}", table(&d));
}

#[test]
fn start_and_stop_emit_network_events() {
    let d = Daemon::start();
    let id = d.ok(&["run", "-d", "busybox", "true"]);
    d.ok(&["wait", &id]);
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 1;
    let until = until.to_string();
    let events = d.ok(&[
        "events", "--since", "0", "--until", &until, "--filter", "type=network", "--format",
        "{{.Type}} {{.Action}} {{index .Actor.Attributes \"container\"}} {{index .Actor.Attributes \"name\"}}",
    ]);
    assert!(
        events.contains(&format!("network connect {id} bridge")),
        "{events}"
    );
    assert!(
        events.contains(&format!("network disconnect {id} bridge")),
        "{events}"
    );
    d.ok(&["rm", &id]);
}
