//! Container lifecycle through the `berth` CLI against a real berthd: run, exit codes, logs,
//! stop/kill escalation, pause/unpause, rename, top, and cleanup after rm.

use std::time::{Duration, Instant};

use berth_tests::{eventually, leftover_cgroups, leftover_mounts, stderr, stdout, Daemon};

#[test]
fn run_rm_prints_output_and_leaves_nothing() {
    let d = Daemon::start();
    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "echo",
        "hello",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello");
    assert!(
        eventually(Duration::from_secs(5), || d.ok(&["ps", "-aq"]).is_empty()),
        "--rm left a container"
    );
    // The shim was re-parented to berthd (a subreaper) and must have been reaped.
    let zombies = || berth_tests::zombie_children(d.pid());
    assert!(
        eventually(Duration::from_secs(5), || zombies().is_empty()),
        "zombies: {:?}",
        zombies()
    );
}

#[test]
fn exit_codes_follow_docker() {
    let d = Daemon::start();
    let code = |args: &[&str]| d.berth(args).status.code();
    assert_eq!(
        code(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]),
        Some(3)
    );
    let missing = d.berth(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("executable file not found"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(code(&["run", "--rm", "busybox", "/etc"]), Some(126));
    assert_eq!(code(&["run", "--rm", "no-such-image:1"]), Some(125));
    // Killed by a signal: 128 + signal, as Docker reports it.
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "sleep 100 & kill -9 $!; wait $!"
        ]),
        Some(137)
    );
}

#[test]
fn detached_container_logs_stop_and_rm() {
    let d = Daemon::start();
    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exec sleep 1000",
    ]);
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id}");
    assert!(eventually(Duration::from_secs(5), || d
        .ok(&["logs", "ticker"])
        .contains("out")));
    let both = d.berth(&["logs", "ticker"]);
    assert_eq!(stdout(&both), "out");
    assert_eq!(stderr(&both), "err");
    let ps = d.ok(&["ps"]);
    assert!(ps.contains("ticker") && ps.contains("Up "), "{ps}");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "ticker"]),
        "running"
    );
    let pid: i32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", "ticker"])
        .parse()
        .expect("pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    // sleep as pid 1 ignores SIGTERM (no handler): stop must escalate to SIGKILL after -t.
    let started = Instant::now();
    d.ok(&["stop", "-t", "1", "ticker"]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "stop returned before the timeout"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.ExitCode}}", "ticker"]),
        "137"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process survived stop"
    );
    let timestamps = d.ok(&["logs", "-t", "ticker"]);
    assert!(timestamps.starts_with("20"), "{timestamps}");

    d.ok(&["rm", "ticker"]);
    assert!(
        leftover_mounts(&id).is_empty(),
        "mounts left: {:?}",
        leftover_mounts(&id)
    );
    assert!(
        leftover_cgroups(&id).is_empty(),
        "cgroups left: {:?}",
        leftover_cgroups(&id)
    );
    let gone = d.berth(&["inspect", "ticker"]);
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("No such"), "{}", stderr(&gone));
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done",
    ]);
    assert!(eventually(Duration::from_secs(5), || !d
        .ok(&["logs", "counter"])
        .is_empty()));
    d.ok(&["pause", "counter"]);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "counter"]),
        "paused"
    );
    assert!(d.ok(&["ps"]).contains("(Paused)"));
    let frozen = d.ok(&["logs", "counter"]).lines().count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        d.ok(&["logs", "counter"]).lines().count(),
        frozen,
        "output grew while paused"
    );
    let again = d.berth(&["pause", "counter"]);
    assert!(
        stderr(&again).contains("already paused"),
        "{}",
        stderr(&again)
    );
    d.ok(&["unpause", "counter"]);
    assert!(eventually(Duration::from_secs(5), || d
        .ok(&["logs", "counter"])
        .lines()
        .count()
        > frozen + 2));
    d.ok(&["rm", "-f", "counter"]);
}

#[test]
fn kill_rename_top_wait_restart() {
    let d = Daemon::start();
    // A pid 1 only receives signals it handles (SIGKILL aside): trap USR1.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' USR1; while true; do sleep 0.1; done",
    ]);
    let top = d.ok(&["top", "first"]);
    assert!(top.contains("PID") && top.contains("trap"), "{top}");
    d.ok(&["rename", "first", "second"]);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Name}}", "second"]),
        "/second"
    );
    let pid_before = d.ok(&["inspect", "--format", "{{.State.Pid}}", "second"]);
    d.ok(&["restart", "-t", "0", "second"]);
    let pid_after = d.ok(&["inspect", "--format", "{{.State.Pid}}", "second"]);
    assert_ne!(pid_before, pid_after, "restart did not start a new process");
    d.ok(&["kill", "-s", "USR1", "second"]);
    assert_eq!(d.ok(&["wait", "second"]), "42");
    d.ok(&["start", "second"]);
    d.ok(&["kill", "second"]);
    assert_eq!(d.ok(&["wait", "second"]), "137");
    let not_running = d.berth(&["kill", "second"]);
    assert!(
        stderr(&not_running).contains("is not running"),
        "{}",
        stderr(&not_running)
    );
    d.ok(&["rm", "second"]);
}

#[test]
fn create_then_start_attach() {
    let d = Daemon::start();
    let id = d.ok(&[
        "create",
        "--name",
        "later",
        "-e",
        "GREETING=hi there",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING",
    ]);
    assert_eq!(
        d.ok(&["ps", "-a", "--filter", "status=created", "-q"]),
        &id[..12]
    );
    assert_eq!(d.ok(&["start", "-a", "later"]), "hi there");
    assert_eq!(
        d.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=later",
            "--format",
            "{{.Status}}"
        ])
        .split(' ')
        .next(),
        Some("Exited")
    );
    d.ok(&["rm", "later"]);
}

#[test]
fn stdin_is_piped_into_run_i() {
    use std::io::Write;
    let d = Daemon::start();
    let mut child = d
        .berth_cmd(&["run", "--rm", "-i", "busybox", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn berth");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hi\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    assert_eq!(stdout(&out), "hi");
}

#[test]
fn logs_rotate_and_round_trip() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "chatty",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    let log_path = d.ok(&["inspect", "--format", "{{.LogPath}}", "chatty"]);
    assert!(
        std::path::Path::new(&format!("{log_path}.1")).exists(),
        "no rotation happened"
    );
    assert!(
        !std::path::Path::new(&format!("{log_path}.3")).exists(),
        "more files than max-file"
    );
    let size = std::fs::metadata(&log_path).expect("log").len();
    assert!(size <= 2048, "log file exceeds max-size: {size}");
    let logs = d.ok(&["logs", "chatty"]);
    assert!(logs.ends_with("line-299"), "latest line missing");
    assert_eq!(
        d.ok(&["logs", "--tail", "2", "chatty"]),
        "line-298\nline-299"
    );
    d.ok(&["rm", "chatty"]);
}

#[test]
fn name_conflicts_and_running_removal_are_refused() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "dup", "busybox", "sleep", "1000"]);
    let again = d.berth(&["run", "-d", "--name", "dup", "busybox", "true"]);
    assert_eq!(again.status.code(), Some(125));
    assert!(
        stderr(&again).contains("is already in use"),
        "{}",
        stderr(&again)
    );
    let rm = d.berth(&["rm", "dup"]);
    assert!(!rm.status.success());
    assert!(
        stderr(&rm).contains("cannot remove a running container"),
        "{}",
        stderr(&rm)
    );
    d.ok(&["rm", "-f", "dup"]);
}

#[test]
fn management_command_forms_and_system_info() {
    let d = Daemon::start();
    let id = d.ok(&[
        "container",
        "run",
        "-d",
        "--name",
        "grouped",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(d.ok(&["container", "ls", "-q"]), &id[..12]);
    assert_eq!(d.ok(&["container", "list", "--no-trunc", "-q"]), id);
    assert_eq!(
        d.ok(&["container", "inspect", "--format", "{{.Name}}", "grouped"]),
        "/grouped"
    );
    d.ok(&["container", "rm", "-f", "grouped"]);
    d.ok(&["image", "tag", "busybox", "mirror/busybox:v1"]);
    let listed = d.ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        listed.contains("mirror/busybox:v1") && listed.contains("busybox:latest"),
        "{listed}"
    );
    assert!(d
        .ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            "mirror/busybox:v1"
        ])
        .starts_with("sha256:"));
    assert_eq!(
        d.ok(&["image", "rm", "mirror/busybox:v1"]),
        "Untagged: mirror/busybox:v1"
    );
    let in_use = d.ok(&["create", "busybox", "true"]);
    let refused = d.berth(&["rmi", "busybox"]);
    assert!(
        !refused.status.success(),
        "rmi of an image in use succeeded"
    );
    assert!(
        stderr(&refused).contains("conflict") || stderr(&refused).contains("being used"),
        "{}",
        stderr(&refused)
    );
    d.ok(&["rm", &in_use]);
    let info = d.ok(&["info"]);
    assert!(
        info.contains("Containers: 0") && info.contains("Cgroup Driver: cgroupfs"),
        "{info}"
    );
    let version = d.ok(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(version, "1.50");
    let removed = d.ok(&["rmi", "busybox"]);
    assert!(
        removed.contains("Untagged: busybox:latest") && removed.contains("Deleted: sha256:"),
        "{removed}"
    );
}
