//! `exec`: an extra process inside a running container joins its namespaces, cgroup,
//! capabilities and seccomp; exit codes, env, workdir, user, stdin, and the docker CLI.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use berth_tests::{eventually, stderr, stdout, Daemon};

const DOCKER: &str = "/usr/local/bin/docker";

fn status_field(status: &str, field: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn running(d: &Daemon, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["busybox", "sleep", "600"]);
    d.ok(&all)
}

#[test]
fn exec_joins_the_container() {
    let d = Daemon::start();
    running(&d, &["--name", "ctr", "--hostname", "box"]);
    let out = d.ok(&[
        "exec",
        "ctr",
        "sh",
        "-c",
        "echo $$; hostname; cat /proc/self/status",
    ]);
    let mut lines = out.lines();
    let pid: u32 = lines
        .next()
        .expect("test step failed")
        .parse()
        .expect("test step failed");
    assert_ne!(pid, 1, "{out}");
    assert_eq!(lines.next(), Some("box"));
    assert_eq!(status_field(&out, "CapEff"), "00000000a80425fb", "{out}");
    assert_eq!(status_field(&out, "Seccomp"), "2", "{out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), "0", "{out}");
    let ps = d.ok(&["exec", "ctr", "ps", "-o", "pid,args"]);
    assert!(
        ps.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 600")),
        "{ps}"
    );
    // --privileged gets every capability the daemon has.
    let caps = d.ok(&["exec", "--privileged", "ctr", "cat", "/proc/self/status"]);
    assert_ne!(status_field(&caps, "CapEff"), "00000000a80425fb", "{caps}");
}

#[test]
fn exec_exit_codes_env_workdir_user() {
    let d = Daemon::start();
    running(&d, &["--name", "ctr", "-e", "FROM_RUN=1"]);
    assert_eq!(
        d.berth(&["exec", "ctr", "sh", "-c", "exit 5"])
            .status
            .code(),
        Some(5)
    );
    let missing = d.berth(&["exec", "ctr", "nope"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    assert!(
        stdout(&missing).contains("executable file not found in $PATH")
            || stderr(&missing).contains("executable file not found in $PATH"),
        "{} / {}",
        stdout(&missing),
        stderr(&missing)
    );
    assert_eq!(
        d.ok(&["exec", "-e", "A=b", "ctr", "sh", "-c", "echo $A $FROM_RUN"]),
        "b 1"
    );
    assert_eq!(d.ok(&["exec", "-w", "/etc", "ctr", "pwd"]), "/etc");
    assert_eq!(d.ok(&["exec", "-u", "1000", "ctr", "id", "-u"]), "1000");
    let nobody = d.ok(&["exec", "-u", "nobody", "ctr", "id"]);
    assert!(nobody.starts_with("uid=65534(nobody)"), "{nobody}");
    let bad = d.berth(&["exec", "-u", "nobody-here", "ctr", "true"]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("unable to find user"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn exec_stdin_is_piped_and_closed() {
    let d = Daemon::start();
    running(&d, &["--name", "ctr"]);
    let mut child = d
        .berth_cmd(&["exec", "-i", "ctr", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("test step failed");
    child
        .stdin
        .take()
        .expect("test step failed")
        .write_all(b"hi\n")
        .expect("test step failed");
    let out = child.wait_with_output().expect("test step failed");
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "hi");
}

#[test]
fn exec_with_a_tty() {
    let d = Daemon::start();
    running(&d, &["--name", "ctr"]);
    let out = d.ok(&["exec", "-t", "ctr", "sh", "-c", "tty; echo $TERM"]);
    assert!(out.contains("/dev/pts/"), "{out}");
    assert!(out.contains("xterm"), "{out}");
    assert_eq!(
        d.berth(&["exec", "-t", "ctr", "sh", "-c", "exit 4"])
            .status
            .code(),
        Some(4)
    );
    // ConsoleSize sizes the terminal before the process runs.
    let created = d
        .raw_request(
            "POST",
            "/containers/ctr/exec",
            r#"{"Cmd":["stty","size"],"Tty":true,"AttachStdout":true,"ConsoleSize":[30,100]}"#,
        )
        .expect("test step failed");
    let body = created.split("\r\n\r\n").nth(1).unwrap_or_default();
    let exec_id = body
        .split("\"Id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    let started = d
        .raw_request("POST", &format!("/exec/{exec_id}/start"), r#"{"Tty":true}"#)
        .expect("test step failed");
    assert!(started.contains("30 100"), "{started}");
    let resized = d
        .raw_request("POST", &format!("/exec/{exec_id}/resize?h=40&w=120"), "")
        .expect("test step failed");
    assert!(resized.starts_with("HTTP/1.1 200"), "{resized}");
    let unknown = d
        .raw_request("POST", "/exec/nope/resize?h=1&w=1", "")
        .expect("test step failed");
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
}

#[test]
fn exec_refused_when_not_running() {
    let d = Daemon::start();
    d.ok(&["create", "--name", "ctr", "busybox", "sleep", "600"]);
    let out = d.berth(&["exec", "ctr", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
    let out = d.berth(&["exec", "missing", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No such container"),
        "{}",
        stderr(&out)
    );
    let tty = d.berth(&["exec", "-t", "ctr", "true"]);
    assert!(!tty.status.success());
}

#[test]
fn exec_runs_in_the_container_cgroup_and_its_limits() {
    let d = Daemon::start();
    let id = running(&d, &["--name", "ctr", "--pids-limit", "8"]);
    d.ok(&["exec", "-d", "ctr", "sleep", "300"]);
    let mut host_pid = None;
    let found = eventually(Duration::from_secs(5), || {
        host_pid = d
            .ok(&["top", "ctr"])
            .lines()
            .filter(|l| l.contains("sleep 300"))
            .find_map(|l| l.split_whitespace().nth(1))
            .map(str::to_owned);
        host_pid.is_some()
    });
    assert!(found, "exec'd sleep not in top");
    let host_pid = host_pid.unwrap_or_default();
    let cgroup =
        std::fs::read_to_string(format!("/proc/{host_pid}/cgroup")).expect("test step failed");
    assert!(
        cgroup
            .lines()
            .any(|l| l.contains(":pids:") && l.contains(&id)),
        "{cgroup}"
    );
    // Forking past the container's pids limit fails inside the exec too.
    let out = d.berth(&[
        "exec",
        "ctr",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 >/dev/null 2>&1 & done; echo forked",
    ]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("can't fork") || text.contains("Resource"),
        "{text}"
    );
}

#[test]
fn exec_inspect_and_removal_leaves_nothing() {
    let d = Daemon::start();
    running(&d, &["--name", "ctr"]);
    d.ok(&["exec", "-d", "ctr", "sleep", "500"]);
    assert!(eventually(Duration::from_secs(5), || d
        .ok(&["top", "ctr"])
        .contains("sleep 500")));
    d.ok(&["rm", "-f", "ctr"]);
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", "sleep 500"])
        .output()
        .expect("test step failed");
    assert!(
        eventually(Duration::from_secs(5), || {
            std::process::Command::new("pgrep")
                .args(["-f", "^sleep 500$"])
                .output()
                .map(|o| o.stdout.is_empty())
                .unwrap_or(false)
        }),
        "exec'd process survived rm -f: {}",
        stdout(&leftover)
    );
    // The exec helper was reaped (berthd is a subreaper: nothing may linger as a zombie).
    assert!(
        eventually(Duration::from_secs(5), || berth_tests::zombie_children(
            d.pid()
        )
        .is_empty()),
        "zombies left under berthd"
    );
    assert!(
        eventually(Duration::from_secs(5), || std::process::Command::new(
            "pgrep"
        )
        .args(["-f", "berth-runtime .*exec --init-pid"])
        .output()
        .map(|o| o.stdout.is_empty())
        .unwrap_or(false)),
        "an exec helper survived rm -f"
    );
}

#[test]
fn docker_cli_exec() {
    let d = Daemon::start();
    if !berth_tests::require(std::path::Path::new(DOCKER).exists(), "the docker CLI") {
        return;
    }
    running(&d, &["--name", "ctr"]);
    let docker = |args: &[&str]| {
        std::process::Command::new(DOCKER)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.root.path())
            .args(args)
            .output()
            .expect("test step failed")
    };
    let out = docker(&["exec", "ctr", "echo", "hi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "hi");
    assert_eq!(
        docker(&["exec", "ctr", "sh", "-c", "exit 3"]).status.code(),
        Some(3)
    );
    let tty = docker(&["exec", "-t", "ctr", "tty"]);
    assert!(stdout(&tty).contains("/dev/pts/"), "{}", stderr(&tty));
    // `-it` from a real terminal (script(1) gives the client a pty).
    let it = std::process::Command::new("script")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.root.path())
        .args([
            "-qec",
            &format!("{DOCKER} exec -it ctr sh -c 'tty; exit 6'"),
            "/dev/null",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("test step failed");
    assert!(
        stdout(&it).contains("/dev/pts/"),
        "{} {}",
        stdout(&it),
        stderr(&it)
    );
    assert_eq!(it.status.code(), Some(6), "{}", stderr(&it));
    let missing = docker(&["exec", "ctr", "nope"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
}
