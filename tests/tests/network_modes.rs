//! Network modes and options beyond the plain default bridge, seen from inside containers:
//! `--network container:`, legacy `--link`, `--add-host` (with `host-gateway`), `--dns*`
//! (and daemon.json's defaults), `--mac-address`, `--hostname`/`--domainname`, and Docker's
//! errors for conflicting or bad options.

use berth_tests::{stderr, stdout, Daemon};

/// Runs `berth args` expecting failure; returns stderr.
fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.berth(args);
    assert!(
        !out.status.success(),
        "berth {args:?} should fail: {}",
        stdout(&out)
    );
    stderr(&out)
}

fn ip_of(d: &Daemon, name: &str) -> String {
    d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.IPAddress}}",
        name,
    ])
}

#[test]
fn container_mode_shares_the_network_namespace_and_etc_files() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--hostname",
        "srvhost",
        "busybox",
        "sh",
        "-c",
        "echo hello from srv > /tmp/index.html && exec httpd -f -p 8080 -h /tmp",
    ]);
    let srv_id = d.container_id("srv");
    let srv_mac = d.ok(&["exec", "srv", "cat", "/sys/class/net/eth0/address"]);
    let srv_ip = ip_of(&d, "srv");
    let out = d.ok(&[
        "run",
        "--name",
        "joiner",
        "--network",
        "container:srv",
        "busybox",
        "sh",
        "-c",
        "cat /sys/class/net/eth0/address; ip -4 addr show eth0; \
         wget -qO- http://127.0.0.1:8080/index.html; hostname; cat /etc/hosts",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(srv_mac.as_str()), "{out}");
    assert!(out.contains(&format!("inet {srv_ip}/")), "{out}");
    assert!(
        out.contains("hello from srv"),
        "localhost traffic reaches srv: {out}"
    );
    assert!(out.lines().any(|l| l == "srvhost"), "{out}");
    assert!(out.contains(&format!("{srv_ip}\tsrvhost")), "{out}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "joiner"]),
        format!("container:{srv_id}")
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{json .NetworkSettings.Networks}}",
            "joiner"
        ]),
        "{}"
    );
    // By ID prefix too; and the other direction: srv reaches a server in the joiner.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "side",
        "--network",
        &format!("container:{}", &srv_id[..12]),
        "busybox",
        "sh",
        "-c",
        "echo hello from side > /tmp/index.html && exec httpd -f -p 8081 -h /tmp",
    ]);
    let got = d.ok(&[
        "exec",
        "srv",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8081/index.html && exit 0; sleep 0.2; done; exit 1",
    ]);
    assert!(got.contains("hello from side"), "{got}");
}

#[test]
fn container_mode_conflicts_and_missing_or_stopped_targets() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "target", "busybox", "sleep", "300"]);
    for (flags, message) in [
        (
            &["-p", "80:80"][..],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            &["-P", "--expose", "80"][..],
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            &["--expose", "80"][..],
            "conflicting options: port exposing and the container type network mode",
        ),
        (
            &["--hostname", "x"][..],
            "conflicting options: hostname and the network mode",
        ),
        (
            &["--dns", "1.1.1.1"][..],
            "conflicting options: dns and the network mode",
        ),
        (
            &["--mac-address", "02:42:ac:11:00:09"][..],
            "conflicting options: mac-address and the network mode",
        ),
        (
            &["--add-host", "a:1.2.3.4"][..],
            "conflicting options: custom host-to-IP mapping and the network mode",
        ),
        (
            &["--link", "target:t"][..],
            "conflicting options: container type network can't be used with links",
        ),
    ] {
        let mut args = vec!["run", "--rm", "--network", "container:target"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let err = fails(&d, &args);
        assert!(err.contains(message), "{flags:?}: {err}");
    }
    // --dns-search and --dns-option are accepted (and have no effect), as in Docker.
    d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:target",
        "--dns-search",
        "x.com",
        "busybox",
        "true",
    ]);
    let err = fails(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "container:nope",
            "busybox",
            "true",
        ],
    );
    assert!(err.contains("No such container: nope"), "{err}");
    let err = fails(
        &d,
        &["create", "--network", "container:", "busybox", "true"],
    );
    assert!(
        err.contains("invalid container format container:<name|id>"),
        "{err}"
    );

    // A stopped target: create works, start fails with Docker's message, nothing is left
    // running, and the container starts once the target runs.
    d.ok(&["create", "--name", "stopped", "busybox", "sleep", "300"]);
    let stopped_id = d.container_id("stopped");
    d.ok(&[
        "create",
        "--name",
        "late",
        "--network",
        "container:stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    let err = fails(&d, &["start", "late"]);
    assert!(
        err.contains(&format!(
            "cannot join network of a non running container: {stopped_id}"
        )),
        "{err}"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "late"]),
        "created"
    );
    d.ok(&["start", "stopped"]);
    d.ok(&["start", "late"]);
    assert_eq!(
        d.ok(&["exec", "late", "cat", "/sys/class/net/eth0/address"]),
        d.ok(&["exec", "stopped", "cat", "/sys/class/net/eth0/address"])
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.Config.Hostname}}", "late"]),
        stopped_id[..12]
    );
}

#[test]
fn links_give_hosts_entries_environment_and_reach_by_alias() {
    let d = Daemon::start();
    d.ok(&[
        "run", "-d", "--name", "web", "-e", "FOO=bar", "-e", "X=a b", "--expose", "80", "--expose",
        "53/udp", "busybox", "sleep", "300",
    ]);
    let ip = ip_of(&d, "web");
    let short = d.container_id("web")[..12].to_owned();
    let out = d.ok(&[
        "run",
        "--name",
        "me",
        "--link",
        "web:al",
        "--link",
        "web",
        "-e",
        "AL_ENV_FOO=mine",
        "busybox",
        "sh",
        "-c",
        "env; cat /etc/hosts; ping -c1 -W3 al >/dev/null && echo ping-al-ok",
    ]);
    for wanted in [
        format!("AL_PORT=udp://{ip}:53"),
        format!("AL_PORT_80_TCP=tcp://{ip}:80"),
        format!("AL_PORT_80_TCP_ADDR={ip}"),
        "AL_PORT_80_TCP_PORT=80".to_owned(),
        "AL_PORT_80_TCP_PROTO=tcp".to_owned(),
        format!("AL_PORT_53_UDP=udp://{ip}:53"),
        "AL_NAME=/me/al".to_owned(),
        "AL_ENV_X=a b".to_owned(),
        "AL_ENV_FOO=mine".to_owned(),
        "WEB_NAME=/me/web".to_owned(),
        "WEB_ENV_FOO=bar".to_owned(),
        format!("{ip}\tal {short} web"),
        format!("{ip}\tweb {short}"),
        "ping-al-ok".to_owned(),
    ] {
        assert!(
            out.lines().any(|l| l == wanted),
            "missing {wanted:?} in:\n{out}"
        );
    }
    assert!(!out.contains("AL_ENV_PATH"), "{out}");
    assert!(!out.contains("AL_ENV_FOO=bar"), "own env wins: {out}");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{json .HostConfig.Links}}", "me"]),
        r#"["/web:/me/al","/web:/me/web"]"#
    );

    let err = fails(&d, &["run", "--rm", "--link", "nope:x", "busybox", "true"]);
    assert!(
        err.contains("could not get container for nope: No such container: nope"),
        "{err}"
    );
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    let err = fails(
        &d,
        &[
            "run", "--name", "linker", "--link", "idle:x", "busybox", "true",
        ],
    );
    assert!(
        err.contains("Cannot link to a non running container: /idle AS /linker/x"),
        "{err}"
    );
    let err = fails(&d, &["run", "--rm", "--link", "web:a:b", "busybox", "true"]);
    assert!(err.contains("bad format for links: web:a:b"), "{err}");
    let err = fails(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--link",
            "web:w",
            "busybox",
            "true",
        ],
    );
    assert!(
        err.contains("conflicting options: host type networking can't be used with links"),
        "{err}"
    );
}

#[test]
fn add_host_and_dns_options_shape_etc_files() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "probe", "busybox", "sleep", "300"]);
    let gateway = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.Networks.bridge.Gateway}}",
        "probe",
    ]);
    let hosts = d.ok(&[
        "run",
        "--rm",
        "--add-host",
        "foo:1.2.3.4",
        "--add-host",
        "gw:host-gateway",
        "--add-host",
        "v6:::1",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    for wanted in [
        "1.2.3.4\tfoo".to_owned(),
        format!("{gateway}\tgw"),
        "::1\tv6".to_owned(),
    ] {
        assert!(
            hosts.lines().any(|l| l == wanted),
            "missing {wanted:?} in:\n{hosts}"
        );
    }
    let resolv = d.ok(&[
        "run",
        "--rm",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "a.com",
        "--dns-search",
        "b.org",
        "--dns-option",
        "ndots:3",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(
        resolv,
        "search a.com b.org\nnameserver 9.9.9.9\noptions ndots:3"
    );
    d.ok(&[
        "create",
        "--name",
        "shown",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "a.com",
        "--dns-option",
        "ndots:3",
        "--add-host",
        "gw:host-gateway",
        "busybox",
        "true",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}} {{json .HostConfig.DnsOptions}} {{json .HostConfig.ExtraHosts}}",
            "shown",
        ]),
        r#"["9.9.9.9"] ["a.com"] ["ndots:3"] ["gw:host-gateway"]"#
    );
    // Host networking with --add-host: a fresh file with the entry.
    let hosts = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--add-host",
        "foo:1.2.3.4",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(hosts.starts_with("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(hosts.ends_with("1.2.3.4\tfoo"), "{hosts}");

    for (flags, message) in [
        (
            &["--add-host", "bad"][..],
            "bad format for add-host: \"bad\"",
        ),
        (
            &["--add-host", "a:notip"][..],
            "invalid IP address in add-host: \"notip\"",
        ),
        (&["--dns", "notip"][..], "notip is not an ip address"),
        (
            &["--dns-search", "-bad.com"][..],
            "-bad.com is not a valid domain",
        ),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        let err = fails(&d, &args);
        assert!(err.contains(message), "{flags:?}: {err}");
    }
}

#[test]
fn daemon_json_dns_defaults_and_host_gateway_ip() {
    let d = Daemon::start_with_config(&serde_json::json!({
        "dns": ["1.1.1.1"],
        "dns-search": ["corp.example"],
        "dns-opts": ["timeout:2"],
        "host-gateway-ip": "192.0.2.10",
    }));
    let resolv = d.ok(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert_eq!(
        resolv,
        "search corp.example\nnameserver 1.1.1.1\noptions timeout:2"
    );
    let own = d.ok(&[
        "run",
        "--rm",
        "--dns",
        "8.8.4.4",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(
        own,
        "search corp.example\nnameserver 8.8.4.4\noptions timeout:2"
    );
    let hosts = d.ok(&[
        "run",
        "--rm",
        "--add-host",
        "gw:host-gateway",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    assert!(hosts.lines().any(|l| l == "192.0.2.10\tgw"), "{hosts}");
    assert!(!d.log().contains("\"dns\" is accepted but not applied"));
}

#[test]
fn mac_address_is_applied_and_bad_ones_refused() {
    let d = Daemon::start();
    let mac = d.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "02:42:AC:11:00:99",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(mac, "02:42:ac:11:00:99");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "mac1",
        "--mac-address",
        "02:42:ac:11:00:98",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.bridge.MacAddress}}",
            "mac1"
        ]),
        "02:42:ac:11:00:98"
    );
    let raw = d
        .raw_request("GET", "/v1.41/containers/mac1/json", "")
        .expect("inspect");
    assert!(raw.contains(r#""MacAddress":"02:42:ac:11:00:98""#), "{raw}");
    // Older clients send Config.MacAddress.
    let reply = d
        .raw_request(
            "POST",
            "/v1.41/containers/create?name=legacy",
            r#"{"Image":"busybox","Cmd":["sleep","300"],"MacAddress":"02:42:ac:11:00:97"}"#,
        )
        .expect("create");
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    d.ok(&["start", "legacy"]);
    assert_eq!(
        d.ok(&["exec", "legacy", "cat", "/sys/class/net/eth0/address"]),
        "02:42:ac:11:00:97"
    );

    let err = fails(
        &d,
        &["run", "--rm", "--mac-address", "zz", "busybox", "true"],
    );
    assert!(err.contains("zz is not a valid mac address"), "{err}");
    let err = fails(
        &d,
        &[
            "run",
            "--rm",
            "--mac-address",
            "01:00:5e:00:00:01",
            "busybox",
            "true",
        ],
    );
    assert!(err.contains("multicast"), "{err}");
    let err = fails(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "--mac-address",
            "02:42:ac:11:00:09",
            "busybox",
            "true",
        ],
    );
    assert!(
        err.contains("conflicting options: mac-address and the network mode"),
        "{err}"
    );
    // Nothing was left behind by the refused requests; the daemon still serves.
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 2);
}

#[test]
fn hostname_and_domainname_reach_the_uts_namespace_and_files() {
    let d = Daemon::start();
    let out = d.ok(&[
        "run",
        "--name",
        "named",
        "--hostname",
        "h1",
        "--domainname",
        "example.com",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /proc/sys/kernel/domainname; cat /etc/hostname; grep -w h1 /etc/hosts",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["h1", "example.com", "h1"], "{out}");
    assert!(
        lines[3].ends_with("\th1.example.com h1"),
        "own /etc/hosts line: {out}"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.Config.Hostname}} {{.Config.Domainname}}",
            "named"
        ]),
        "h1 example.com"
    );
}
