//! `berth system prune`: one confirmation, then stopped containers, unused networks, anonymous
//! volumes (with --volumes) and dangling images go; running containers and their images stay.

use berth_tests::Daemon;

#[test]
fn system_prune_removes_unused_objects_and_keeps_what_is_in_use() {
    let d = Daemon::start();
    let stopped = d.ok(&[
        "create", "--name", "stopped", "-v", "/anon", "busybox", "true",
    ]);
    d.ok(&["rm", "-f", "stopped"]);
    let stopped_again = d.ok(&["create", "--name", "stopped2", "busybox", "true"]);
    d.ok(&["run", "-d", "--name", "running", "busybox", "sleep", "60"]);
    // A dangling image: commit twice to the same tag, the first loses its name.
    d.ok(&["run", "--name", "w1", "busybox", "sh", "-c", "echo 1 > /f"]);
    let first = d.ok(&["commit", "w1", "mine:1"]);
    d.ok(&["rm", "w1"]);
    d.ok(&["run", "--name", "w2", "busybox", "sh", "-c", "echo 2 > /f"]);
    d.ok(&["commit", "w2", "mine:1"]);
    d.ok(&["rm", "w2"]);
    d.ok(&["volume", "create", "named"]);
    d.ok(&[
        "create", "--name", "anonvol", "-v", "/data", "busybox", "true",
    ]);
    d.ok(&["rm", "anonvol"]);
    let anon: Vec<String> = d
        .ok(&["volume", "ls", "-q", "--filter", "dangling=true"])
        .lines()
        .filter(|v| *v != "named")
        .map(str::to_owned)
        .collect();
    assert!(
        !anon.is_empty(),
        "an anonymous volume should be left by rm without -v"
    );

    // Declining the prompt changes nothing.
    let mut cmd = d.berth_cmd(&["system", "prune"]);
    cmd.stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    }
    let declined = child.wait_with_output().unwrap();
    assert!(declined.status.success());
    assert!(String::from_utf8_lossy(&declined.stdout).contains("WARNING! This will remove:"));
    assert!(d.ok(&["ps", "-aq", "--no-trunc"]).contains(&stopped_again));

    let out = d.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains(&stopped_again), "{out}");
    assert!(
        !out.contains(&stopped),
        "an already removed container is not reported: {out}"
    );
    assert!(out.contains("Deleted Volumes:"), "{out}");
    for v in &anon {
        assert!(out.contains(v.as_str()), "volume {v} not pruned: {out}");
    }
    assert!(out.contains("Deleted Images:"), "{out}");
    let first_hex = first.trim_start_matches("sha256:");
    assert!(out.contains(first_hex), "dangling image not pruned: {out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");

    // What is in use (or named) stays.
    let ps = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(ps, "running");
    assert!(d
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .contains("mine:1"));
    assert!(d.ok(&["volume", "ls", "-q"]).lines().any(|v| v == "named"));

    // A second prune finds nothing.
    let again = d.ok(&["system", "prune", "-f"]);
    assert!(!again.contains("Deleted"), "{again}");
    assert!(again.contains("Total reclaimed space: 0B"), "{again}");
    d.ok(&["rm", "-f", "running"]);
}
