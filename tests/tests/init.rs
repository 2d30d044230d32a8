//! `--init`: berth-init runs as pid 1 at /sbin/docker-init, runs the command as its child,
//! reaps orphans, forwards signals and exits with the command's status; daemon.json `init`
//! and `init-path`; the real docker CLI's `docker run --init`.

use std::process::Command;
use std::time::Duration;

use berth_tests::{bin_dir, eventually, require, stderr, stdout, Daemon};

/// Removes a container even when the test fails.
struct Removed<'a>(&'a Daemon, &'a str);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = self.0.berth(&["rm", "-f", self.1]);
    }
}

/// `(pid, state, name)` of every process in the container, read from its /proc.
fn processes(d: &Daemon, container: &str) -> Vec<(u32, char, String)> {
    let out = d.berth(&[
        "exec",
        container,
        "sh",
        "-c",
        "for f in /proc/[0-9]*/stat; do cat $f 2>/dev/null; echo; done",
    ]);
    stdout(&out)
        .lines()
        .filter_map(|line| {
            let (head, rest) = line.split_once(" (")?;
            let (name, tail) = rest.rsplit_once(") ")?;
            Some((head.parse().ok()?, tail.chars().next()?, name.to_owned()))
        })
        .collect()
}

#[test]
fn init_is_pid_1_and_the_command_its_child() {
    let d = Daemon::start();
    let ps = d.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "ps",
        "-o",
        "pid,ppid,comm,args",
    ]);
    let rows: Vec<Vec<&str>> = ps
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{ps}");
    assert_eq!(
        rows[0][..6],
        ["1", "0", "docker-init", "/sbin/docker-init", "--", "ps"],
        "{ps}"
    );
    assert_eq!(rows[1][1..3], ["1", "ps"], "{ps}");

    // `top` sees the init too, and inspect reports the user's command and HostConfig.Init.
    d.ok(&[
        "run", "-d", "--name", "topped", "--init", "busybox", "sleep", "1000",
    ]);
    let _guard = Removed(&d, "topped");
    let top = d.ok(&["top", "topped"]);
    assert!(top.contains("/sbin/docker-init -- sleep 1000"), "{top}");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.Path}} {{json .Args}} {{.HostConfig.Init}}",
            "topped"
        ]),
        "sleep [\"1000\"] true"
    );
    // The init is a read-only bind mount.
    let out = d.berth(&["exec", "topped", "sh", "-c", "echo x > /sbin/docker-init"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_reaps_orphans_and_plain_pid_1_does_not() {
    let d = Daemon::start();
    // The subshells exit at once, so their sleeps become orphans of pid 1; `exec sleep` makes
    // pid 1 (or the init's child) a process that never waits for anything.
    let script = "(sleep 0.1 &); (sleep 0.1 &); exec sleep 1000";
    d.ok(&[
        "run",
        "-d",
        "--name",
        "with-init",
        "--init",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    let _a = Removed(&d, "with-init");
    d.ok(&[
        "run", "-d", "--name", "without", "busybox", "sh", "-c", script,
    ]);
    let _b = Removed(&d, "without");

    // Without an init the orphans stay zombies: the control that shows the check works.
    assert!(
        eventually(Duration::from_secs(20), || {
            processes(&d, "without")
                .iter()
                .filter(|(_, state, _)| *state == 'Z')
                .count()
                == 2
        }),
        "expected two zombies without --init: {:?}",
        processes(&d, "without")
    );
    // With the init the orphans end and are reaped: only the init and `sleep 1000` remain
    // (besides the exec'd reader itself).
    assert!(
        eventually(Duration::from_secs(20), || {
            let procs = processes(&d, "with-init");
            !procs.is_empty()
                && procs.iter().all(|(_, state, _)| *state != 'Z')
                && procs.iter().filter(|(_, _, name)| name == "sleep").count() == 1
        }),
        "zombies or orphans left with --init: {:?}",
        processes(&d, "with-init")
    );
    let procs = processes(&d, "with-init");
    assert!(
        procs.contains(&(1, 'S', "docker-init".to_owned())),
        "{procs:?}"
    );
}

#[test]
fn stop_and_kill_signals_reach_the_command() {
    let d = Daemon::start();
    // sleep as pid 1 would ignore SIGTERM (no handler) and be killed after the timeout (137);
    // under the init it receives the forwarded SIGTERM and dies of it (143).
    d.ok(&[
        "run", "-d", "--name", "sleeper", "--init", "busybox", "sleep", "1000",
    ]);
    let _a = Removed(&d, "sleeper");
    d.ok(&["stop", "-t", "60", "sleeper"]);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.ExitCode}}", "sleeper"]),
        "143"
    );

    d.ok(&[
        "run",
        "-d",
        "--name",
        "trapper",
        "--init",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; trap 'echo got-hup' HUP; echo ready; while :; do sleep 0.05; done",
    ]);
    let _b = Removed(&d, "trapper");
    let logs = || stdout(&d.berth(&["logs", "trapper"]));
    assert!(eventually(Duration::from_secs(10), || logs().contains("ready")));
    d.ok(&["kill", "-s", "USR1", "trapper"]);
    assert!(
        eventually(Duration::from_secs(10), || logs().contains("got-usr1")),
        "{}",
        logs()
    );
    d.ok(&["kill", "-s", "HUP", "trapper"]);
    assert!(
        eventually(Duration::from_secs(10), || logs().contains("got-hup")),
        "{}",
        logs()
    );
    // SIGINT has no trap: the shell dies of it and the init reports 128+2.
    d.ok(&["kill", "-s", "INT", "trapper"]);
    assert_eq!(d.ok(&["wait", "trapper"]), "130");
}

#[test]
fn exit_statuses_propagate_through_the_init() {
    let d = Daemon::start();
    let code = |args: &[&str]| d.berth(args).status.code();
    assert_eq!(
        code(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"]),
        Some(3)
    );
    assert_eq!(
        code(&[
            "run",
            "--rm",
            "--init",
            "busybox",
            "sh",
            "-c",
            "kill -TERM $$"
        ]),
        Some(143)
    );
    let out = d.berth(&["run", "--rm", "--init", "busybox", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("exec no-such-command failed: No such file or directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn daemon_default_and_per_container_override() {
    let d = Daemon::start_with_config(&serde_json::json!({"init": true}));
    let pid1 = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", "cat /proc/1/comm"]);
        d.ok(&args)
    };
    assert_eq!(pid1(&[]), "docker-init");
    // Without an init the shell execs its last command as pid 1.
    assert_eq!(pid1(&["--init=false"]), "cat");
    assert_eq!(pid1(&["--init"]), "docker-init");

    let init_of = |extra: &[&str]| {
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "true"]);
        let id = d.ok(&args);
        let init = d.ok(&["inspect", "--format", "{{json .HostConfig.Init}}", &id]);
        d.ok(&["rm", &id]);
        init
    };
    assert_eq!(init_of(&[]), "null");
    assert_eq!(init_of(&["--init=false"]), "false");
    assert_eq!(init_of(&["--init"]), "true");
}

#[test]
fn init_path_is_used_and_a_missing_init_is_a_clear_error() {
    // A copy of berth-init elsewhere, named by init-path.
    let dir = tempfile::tempdir().expect("tempdir");
    let custom = dir.path().join("my-init");
    std::fs::copy(bin_dir().join("berth-init"), &custom).expect("copy berth-init");
    let d = Daemon::start_with_config(&serde_json::json!({"init-path": custom}));
    d.ok(&[
        "run", "-d", "--name", "custom", "--init", "busybox", "sleep", "1000",
    ]);
    let _guard = Removed(&d, "custom");
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", "custom"]);
    // The container sees it at /sbin/docker-init; it is the same file as init-path.
    use std::os::unix::fs::MetadataExt;
    let running = std::fs::metadata(format!("/proc/{pid}/exe")).expect("stat init's exe");
    let wanted = std::fs::metadata(&custom).expect("stat init-path");
    assert_eq!(
        (running.dev(), running.ino()),
        (wanted.dev(), wanted.ino()),
        "pid 1 does not run init-path"
    );
    d.ok(&["rm", "-f", "custom"]);

    // The init vanishes: creating a container with --init fails and leaves nothing behind;
    // containers without it still run.
    std::fs::remove_file(&custom).expect("remove");
    let out = d.berth(&["run", "--rm", "--init", "busybox", "true"]);
    assert!(!out.status.success());
    let message = stderr(&out);
    assert!(
        message.contains("my-init does not exist") && message.contains("init-path"),
        "{message}"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_eq!(d.ok(&["run", "--rm", "busybox", "echo", "fine"]), "fine");
}

#[test]
fn docker_cli_run_init() {
    const DOCKER: &str = "/usr/local/bin/docker";
    if !require(
        std::path::Path::new(DOCKER).exists(),
        "the docker CLI at /usr/local/bin/docker",
    ) {
        return;
    }
    let d = Daemon::start();
    let docker = |args: &[&str]| {
        Command::new(DOCKER)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.root.path())
            .args(args)
            .output()
            .expect("docker")
    };
    let out = docker(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/comm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "docker-init");
    assert_eq!(
        docker(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let out = docker(&[
        "run", "-d", "--name", "dinit", "--init", "busybox", "sleep", "1000",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let _guard = Removed(&d, "dinit");
    let out = docker(&["stop", "dinit"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = docker(&[
        "inspect",
        "--format",
        "{{.State.ExitCode}} {{.HostConfig.Init}}",
        "dinit",
    ]);
    assert_eq!(stdout(&out), "143 true");
}
