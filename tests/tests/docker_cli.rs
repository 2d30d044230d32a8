//! The real docker CLI (API 1.50) works against berthd unmodified.

use std::process::Command;
use std::time::Duration;

use berth_tests::{eventually, require, stderr, stdout, Daemon};

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
    assert!(
        out.status.success(),
        "docker {args:?}: {}\n{}",
        stderr(&out),
        berth_tests::tail(&d.log(), 20)
    );
    stdout(&out)
}

#[test]
fn docker_cli_drives_berthd() {
    if !require(
        std::path::Path::new(DOCKER).exists(),
        "the docker CLI at /usr/local/bin/docker",
    ) {
        return;
    }
    let d = Daemon::start();
    assert!(ok(&d, &["version", "--format", "{{.Server.APIVersion}}"]).starts_with("1."));
    assert_eq!(
        ok(&d, &["run", "--rm", "busybox", "echo", "hello"]),
        "hello"
    );
    assert_eq!(
        docker(&d, &["run", "--rm", "busybox", "sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    assert_eq!(
        docker(&d, &["run", "--rm", "busybox", "nope"])
            .status
            .code(),
        Some(127)
    );
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "echo started; exec sleep 1000",
        ],
    );
    assert_eq!(id.len(), 64);
    assert!(eventually(Duration::from_secs(5), || ok(
        &d,
        &["logs", "web"]
    ) == "started"));
    let ps = ok(&d, &["ps", "-a"]);
    assert!(ps.contains("web") && ps.contains(&id[..12]), "{ps}");
    assert_eq!(
        ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Running}} {{.Config.Image}}",
                "web"
            ]
        ),
        "true busybox"
    );
    ok(&d, &["pause", "web"]);
    assert_eq!(
        ok(&d, &["inspect", "--format", "{{.State.Status}}", "web"]),
        "paused"
    );
    ok(&d, &["unpause", "web"]);
    ok(&d, &["stop", "-t", "1", "web"]);
    ok(&d, &["rm", "web"]);
    let images = ok(&d, &["images"]);
    assert!(
        images.contains("busybox") && images.contains("latest"),
        "{images}"
    );
    assert!(ok(&d, &["image", "inspect", "--format", "{{.Id}}", "busybox"]).starts_with("sha256:"));
}

#[test]
fn docker_cli_manages_volumes_and_mounts() {
    if !require(
        std::path::Path::new(DOCKER).exists(),
        "the docker CLI at /usr/local/bin/docker",
    ) {
        return;
    }
    let d = Daemon::start();
    assert_eq!(ok(&d, &["volume", "create", "--label", "k=v", "dv"]), "dv");
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "dv:/d",
            "--mount",
            "type=tmpfs,target=/t,tmpfs-size=1m",
            "busybox",
            "sh",
            "-c",
            "echo hi > /d/f && grep -c ' /t tmpfs' /proc/mounts",
        ],
    );
    assert_eq!(out, "1");
    let out = ok(
        &d,
        &["run", "--rm", "-v", "dv:/d:ro", "busybox", "cat", "/d/f"],
    );
    assert_eq!(out, "hi");
    assert_eq!(
        ok(&d, &["volume", "ls", "-q", "--filter", "label=k=v"]),
        "dv"
    );
    assert_eq!(
        ok(
            &d,
            &[
                "volume",
                "inspect",
                "--format",
                "{{.Driver}} {{.Scope}}",
                "dv"
            ]
        ),
        "local local"
    );
    assert_eq!(ok(&d, &["volume", "rm", "dv"]), "dv");
    let out = docker(&d, &["volume", "inspect", "dv"]);
    assert!(!out.status.success());
}
