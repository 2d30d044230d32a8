//! `--group-add`, `--device`, `--device-cgroup-rule` and `--sysctl`, seen from inside the
//! container, and their bad inputs.

use berth_tests::{require, stderr, stdout, Daemon};

/// Removes a container even when the test fails.
struct Removed<'a>(&'a Daemon, &'a str);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = self.0.berth(&["rm", "-f", self.1]);
    }
}

/// Runs `berth ARGS`, asserts it fails, and returns its stderr.
fn fails(d: &Daemon, args: &[&str]) -> String {
    let out = d.berth(args);
    assert!(
        !out.status.success(),
        "berth {args:?} succeeded: {}",
        stdout(&out)
    );
    stderr(&out)
}

#[test]
fn group_add_adds_groups_by_name_and_number() {
    let d = Daemon::start();
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--group-add",
            "nogroup",
            "--group-add",
            "1234",
            "busybox",
            "id",
            "-G"
        ]),
        // The kernel keeps supplementary groups sorted.
        "0 1234 65534"
    );
    // Added to the user's own groups (web is in audio), and to exec processes, whoever runs them.
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-u",
            "web",
            "--group-add",
            "4321",
            "busybox",
            "id",
            "-G"
        ]),
        "1000 29 4321"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "grouped",
        "--group-add",
        "nogroup",
        "busybox",
        "sleep",
        "1000",
    ]);
    let _guard = Removed(&d, "grouped");
    assert_eq!(d.ok(&["exec", "grouped", "id", "-G"]), "0 65534");
    assert_eq!(
        d.ok(&["exec", "-u", "web", "grouped", "id", "-G"]),
        "1000 29 65534"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{json .HostConfig.GroupAdd}}",
            "grouped"
        ]),
        "[\"nogroup\"]"
    );
    // An unknown name fails at start with Docker's message, and the daemon carries on.
    let err = fails(
        &d,
        &[
            "run",
            "--rm",
            "--group-add",
            "no-such-group",
            "busybox",
            "true",
        ],
    );
    assert!(
        err.contains("Unable to find group no-such-group: no matching entries in group file"),
        "{err}"
    );
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "alive"]), "alive");
}

#[test]
fn device_nodes_are_created_and_usable() {
    let d = Daemon::start();
    let out = d.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/mynull",
        "busybox",
        "sh",
        "-c",
        "ls -l /dev/mynull; echo hello > /dev/mynull && cat /dev/mynull && echo written",
    ]);
    let mut lines = out.lines();
    let listing = lines.next().unwrap_or_default();
    assert!(
        listing.starts_with("crw-rw-rw-") && listing.contains("1,   3"),
        "{out}"
    );
    assert_eq!(lines.next(), Some("written"), "{out}");
    // Only the container path given: the device keeps its host path.
    d.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/full",
        "busybox",
        "test",
        "-c",
        "/dev/full",
    ]);
    let id = d.ok(&[
        "create",
        "--device",
        "/dev/null:/dev/mynull:rw",
        "--device-cgroup-rule",
        "c 1:11 r",
        "busybox",
        "true",
    ]);
    let _guard = Removed(&d, &id);
    let host_config: serde_json::Value =
        serde_json::from_str(&d.ok(&["inspect", "--format", "{{json .HostConfig}}", &id]))
            .expect("inspect json");
    assert_eq!(
        host_config["Devices"],
        serde_json::json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}])
    );
    assert_eq!(
        host_config["DeviceCgroupRules"],
        serde_json::json!(["c 1:11 r"])
    );
}

#[test]
fn device_permissions_are_enforced_by_the_cgroup() {
    // A block device outside Docker's default allow-list; an unattached loop device reads as
    // empty, and this test only ever opens it for reading.
    let Some(loop_dev) = (0..8)
        .map(|n| format!("/dev/loop{n}"))
        .find(|p| std::path::Path::new(p).exists())
    else {
        require(false, "a /dev/loopN block device");
        return;
    };
    let d = Daemon::start();
    let mapping = format!("{loop_dev}:/dev/myloop:r");
    let out = d.ok(&[
        "run",
        "--rm",
        "--device",
        &mapping,
        "busybox",
        "sh",
        "-c",
        "head -c 1 /dev/myloop >/dev/null && echo read-ok; (echo x > /dev/myloop) 2>&1; echo write=$?",
    ]);
    assert!(out.starts_with("read-ok"), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.ends_with("write=1"), "{out}");

    // Without --device a node made with mknod cannot be opened; a cgroup rule opens it.
    let probe = "mknod /tmp/loop b 7 0 && head -c 1 /tmp/loop >/dev/null && echo opened";
    let out = d.berth(&["run", "--rm", "busybox", "sh", "-c", probe]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Operation not permitted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--device-cgroup-rule",
            "b 7:* r",
            "busybox",
            "sh",
            "-c",
            probe
        ]),
        "opened"
    );
}

#[test]
fn namespaced_sysctls_are_set_inside_only() {
    let d = Daemon::start();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    for value in ["1", "0"] {
        assert_eq!(
            d.ok(&[
                "run",
                "--rm",
                "--sysctl",
                &format!("net.ipv4.ip_forward={value}"),
                "busybox",
                "cat",
                "/proc/sys/net/ipv4/ip_forward"
            ]),
            value
        );
    }
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--sysctl",
            "kernel.shmmax=123456",
            "--sysctl",
            "fs.mqueue.msg_max=20",
            "busybox",
            "cat",
            "/proc/sys/kernel/shmmax",
            "/proc/sys/fs/mqueue/msg_max"
        ]),
        "123456\n20"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default(),
        host_before,
        "a container's sysctl changed the host"
    );
    let id = d.ok(&[
        "create",
        "--sysctl",
        "net.core.somaxconn=1000",
        "busybox",
        "true",
    ]);
    let _guard = Removed(&d, &id);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{json .HostConfig.Sysctls}}", &id]),
        r#"{"net.core.somaxconn":"1000"}"#
    );
}

#[test]
fn bad_options_are_clear_errors() {
    let d = Daemon::start();
    let cases: &[(&[&str], &str)] = &[
        (&["--sysctl", "kernel.foo=1"], "sysctl 'kernel.foo=1' is not allowed"),
        (&["--sysctl", "vm.swappiness=1"], "sysctl 'vm.swappiness=1' is not allowed"),
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace",
        ),
        (&["--sysctl", "net.nope.x=1"], "/proc/sys/net/nope/x"),
        (&["--device", "relative"], "relative is not an absolute path"),
        (&["--device", "/dev/null:/dev/x:rx"], "bad mode specified: rx"),
        (
            &["--device", "/dev/no-such-device"],
            "error gathering device information while adding custom device \"/dev/no-such-device\": no such file or directory",
        ),
        (
            &["--device", "/etc/hostname"],
            "error gathering device information while adding custom device \"/etc/hostname\": not a device node",
        ),
        (&["--device-cgroup-rule", "x 1:3 r"], "invalid device cgroup format 'x 1:3 r'"),
    ];
    for (options, message) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(options);
        args.extend_from_slice(&["busybox", "true"]);
        let err = fails(&d, &args);
        assert!(err.contains(message), "{options:?}: {err}");
    }
    // The daemon checks what a client did not (the API takes any strings).
    let response = d
        .raw_request(
            "POST",
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rwx"}]}}"#,
        )
        .expect("request");
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("bad mode specified: rwx"), "{response}");
    let response = d
        .raw_request(
            "POST",
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"Sysctls":{"kernel.hostname":"x"}}}"#,
        )
        .expect("request");
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    // Nothing was left behind by the refusals (failed starts of --rm containers are removed).
    assert!(berth_tests::eventually(
        std::time::Duration::from_secs(10),
        || d.ok(&["ps", "-aq"]).is_empty()
    ));
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "alive"]), "alive");
}
