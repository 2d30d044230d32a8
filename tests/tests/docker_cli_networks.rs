//! The real docker CLI drives berthd's networks: create, ls, inspect, connect, disconnect, rm.

use std::process::Command;

use berth_tests::{require, stderr, stdout, Daemon};

const DOCKER: &str = "/usr/local/bin/docker";

fn docker(d: &Daemon, args: &[&str]) -> std::process::Output {
    Command::new(DOCKER)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.root.path())
        .args(args)
        .output()
        .expect("docker")
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let out = docker(d, args);
    assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn docker_cli_manages_networks() {
    if !require(
        std::path::Path::new(DOCKER).exists(),
        "the docker CLI at /usr/local/bin/docker",
    ) {
        return;
    }
    let d = Daemon::start();
    let id = ok(&d, &["network", "create", "--label", "k=v", "dnet"]);
    assert_eq!(id.len(), 64);
    let ls = ok(&d, &["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    assert!(
        ls.contains("dnet") && ls.contains("bridge") && ls.contains("host"),
        "{ls}"
    );
    assert_eq!(
        ok(
            &d,
            &[
                "network",
                "inspect",
                "-f",
                "{{.Id}} {{.Driver}} {{.Labels.k}}",
                "dnet"
            ]
        ),
        format!("{id} bridge v")
    );
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "dc",
            "--network",
            "dnet",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    ok(&d, &["network", "connect", "bridge", "dc"]);
    let nets = ok(
        &d,
        &["inspect", "-f", "{{len .NetworkSettings.Networks}}", "dc"],
    );
    assert_eq!(nets, "2");
    ok(&d, &["network", "disconnect", "bridge", "dc"]);
    let busy = docker(&d, &["network", "rm", "dnet"]);
    assert!(
        !busy.status.success() && stderr(&busy).contains("has active endpoints"),
        "{}",
        stderr(&busy)
    );
    ok(&d, &["rm", "-f", "dc"]);
    assert_eq!(ok(&d, &["network", "rm", "dnet"]), "dnet");
}
