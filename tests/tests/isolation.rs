//! What a container sees from inside: namespaces, mounts, masked paths, capabilities,
//! seccomp, users; and limits enforced by its cgroups.

use berth_tests::{stderr, Daemon};

/// Docker's default capability set as /proc/self/status prints it.
const DOCKER_DEFAULT_CAPS: &str = "00000000a80425fb";

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

#[test]
fn namespaces_hostname_and_mounts() {
    let d = Daemon::start();
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "sh", "-c", "echo $$"]),
        "1"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "--hostname", "box", "busybox", "hostname"]),
        "box"
    );
    // Only the container's own mount points: its overlay root and what the spec adds.
    let mounts = d.ok(&["run", "--rm", "busybox", "cat", "/proc/mounts"]);
    let points: Vec<&str> = mounts.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(points.first(), Some(&"/"), "{mounts}");
    assert!(mounts.starts_with("overlay / overlay"), "{mounts}");
    for point in &points {
        assert!(
            ["/", "/proc", "/dev", "/sys", "/etc"]
                .iter()
                .any(|p| *point == *p || point.starts_with(&format!("{p}/"))),
            "unexpected mount point {point} in the container:\n{mounts}"
        );
    }
    let cgroup = d.ok(&["run", "--rm", "busybox", "ls", "/sys/fs/cgroup/memory"]);
    assert!(
        !cgroup.contains("berth"),
        "the container sees the host's cgroup tree:\n{cgroup}"
    );
    let ps = d.ok(&["run", "--rm", "busybox", "ps"]);
    assert_eq!(ps.lines().count(), 2, "other processes visible:\n{ps}");
    let sys = d.berth(&["run", "--rm", "busybox", "touch", "/sys/x"]);
    assert!(!sys.status.success(), "/sys must be read-only");
    let net = d.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(net, "lo");
}

#[test]
fn masked_and_readonly_proc_paths() {
    let d = Daemon::start();
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "cat /proc/kcore | wc -c"
        ]),
        "0"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ls -A /proc/acpi | wc -l"
        ]),
        "0"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "cat /proc/keys /proc/timer_list | wc -c"
        ]),
        "0"
    );
    let write = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/sysrq",
    ]);
    assert!(!write.status.success(), "/proc/sys must be read-only");
    let privileged = d.berth(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "cat /proc/kcore | head -c 4 | wc -c",
    ]);
    assert!(privileged.status.success());
}

#[test]
fn capabilities_and_seccomp() {
    let d = Daemon::start();
    let status = d.ok(&["run", "--rm", "busybox", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "CapEff"), DOCKER_DEFAULT_CAPS);
    assert_eq!(status_field(&status, "CapBnd"), DOCKER_DEFAULT_CAPS);
    assert_eq!(status_field(&status, "Seccomp"), "2");
    assert_eq!(status_field(&status, "NoNewPrivs"), "0");

    let dropped = d.ok(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_BIND_SERVICE",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&dropped, "CapEff"), "0000000000000400");
    let no_chown = d.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "busybox",
        "chown",
        "nobody",
        "/tmp",
    ]);
    assert!(!no_chown.status.success(), "chown worked without CAP_CHOWN");

    let unconfined = d.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&unconfined, "Seccomp"), "0");
    let nnp = d.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&nnp, "NoNewPrivs"), "1");
    // --privileged grants every capability we hold ourselves.
    let ours = status_field(
        &std::fs::read_to_string("/proc/self/status").expect("status"),
        "CapBnd",
    );
    let privileged = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "cat",
        "/proc/self/status",
    ]);
    assert_eq!(status_field(&privileged, "CapEff"), ours);
    assert_eq!(status_field(&privileged, "Seccomp"), "0");

    // The default profile blocks namespace creation without CAP_SYS_ADMIN: EPERM.
    let unshare = d.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(!unshare.status.success());
    assert!(
        stderr(&unshare)
            .to_lowercase()
            .contains("operation not permitted"),
        "{}",
        stderr(&unshare)
    );
}

#[test]
fn users_groups_env_and_workdir() {
    let d = Daemon::start();
    assert_eq!(
        d.ok(&["run", "--rm", "-u", "web", "busybox", "id"]),
        "uid=1000(web) gid=1000(web) groups=29(audio),1000(web)"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "-u", "4242:4343", "busybox", "id", "-u"]),
        "4242"
    );
    let unknown = d.berth(&["run", "--rm", "-u", "ghost", "busybox", "id"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("unable to find user ghost"),
        "{}",
        stderr(&unknown)
    );
    assert_eq!(
        d.ok(&["run", "--rm", "-w", "/made/here", "busybox", "pwd"]),
        "/made/here"
    );
    let env = d.ok(&["run", "--rm", "-e", "A=1", "-u", "web", "busybox", "env"]);
    assert!(
        env.contains("A=1") && env.contains("HOME=/home/web") && env.contains("PATH="),
        "{env}"
    );
    let ulimit = d.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=512:1024",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(ulimit, "512\n1024");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "from",
            "entrypoint"
        ]),
        "from entrypoint"
    );
    let readonly = d.berth(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert!(
        !readonly.status.success(),
        "--read-only root accepted a write"
    );
}

#[test]
fn memory_limit_oom_kills() {
    let d = Daemon::start();
    let out = d.berth(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=64M count=1",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.OOMKilled}}", "hog"]),
        "true"
    );
    d.ok(&["rm", "hog"]);
}

#[test]
fn pids_and_cpu_limits_are_enforced() {
    let d = Daemon::start();
    let out = d.berth(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 2 & done; wait",
    ]);
    assert!(
        stderr(&out).contains("fork") || !out.status.success(),
        "pids limit not enforced: {}",
        stderr(&out)
    );
    let id = d.ok(&[
        "run",
        "-d",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "busybox",
        "sleep",
        "100",
    ]);
    let quota = std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/berth/{id}/cpu.cfs_quota_us"))
        .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/cpu.max")))
        .expect("cpu cgroup of the container");
    assert!(quota.starts_with("50000"), "quota {quota}");
    // cgroup v1 (these machines): the share must be in the container's cpu cgroup.
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.shares").exists() {
        let shares = std::fs::read_to_string(format!("/sys/fs/cgroup/cpu/berth/{id}/cpu.shares"))
            .expect("cpu.shares of the container");
        assert_eq!(shares.trim(), "512");
    }
    let seen = d.ok(&["run", "--rm", "--cpus", "0.5", "busybox", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max"]);
    assert_eq!(seen, "50000", "quota as seen from inside the container");
    d.ok(&["rm", "-f", &id]);
}
