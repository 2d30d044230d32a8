//! Restart policies as Docker enforces them: on-failure with a retry limit and growing
//! delays, always (also across a SIGKILL of the daemon), stop disabling restarts, and the
//! refusal of bad policies.

use std::time::Duration;

use berth_tests::{eventually, stderr, Daemon};

fn state(d: &Daemon, name: &str) -> String {
    d.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.RestartCount}}",
        name,
    ])
}

/// (action, timeNano) of a container's events so far.
fn events(d: &Daemon, name: &str) -> Vec<(String, i64)> {
    let out = d.ok(&[
        "events",
        "--since",
        "1",
        "--until",
        "0s",
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{json .}}",
    ]);
    out.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("event json");
            (
                v["Action"].as_str().unwrap_or("").to_owned(),
                v["timeNano"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn on_failure_restarts_n_times_with_growing_delays() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    assert!(
        eventually(Duration::from_secs(10), || state(&d, "flaky") == "exited 2"),
        "state: {}",
        state(&d, "flaky")
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(state(&d, "flaky"), "exited 2", "restarted more than twice");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"]),
        "1 on-failure:2"
    );
    let events = events(&d, "flaky");
    let starts: Vec<i64> = events
        .iter()
        .filter(|(a, _)| a == "start")
        .map(|e| e.1)
        .collect();
    let dies: Vec<i64> = events
        .iter()
        .filter(|(a, _)| a == "die")
        .map(|e| e.1)
        .collect();
    assert_eq!(starts.len(), 3, "events: {events:?}");
    assert_eq!(dies.len(), 3, "events: {events:?}");
    assert_eq!(events.iter().filter(|(a, _)| a == "restart").count(), 2);
    let first_delay = starts[1] - dies[0];
    let second_delay = starts[2] - dies[1];
    assert!(first_delay >= 100_000_000, "first delay {first_delay} ns");
    assert!(
        second_delay >= 200_000_000,
        "second delay {second_delay} ns"
    );
    assert!(second_delay > first_delay);
}

#[test]
fn on_failure_leaves_a_clean_exit_alone_and_stop_disables_always() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "clean",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "forever",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert!(eventually(Duration::from_secs(5), || state(&d, "clean") == "exited 0"));
    d.ok(&["stop", "-t", "1", "forever"]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        state(&d, "forever"),
        "exited 0",
        "stop must disable restarting"
    );
    assert_eq!(state(&d, "clean"), "exited 0");
    // An explicit start re-arms the policy; a kill by the user disarms it again.
    d.ok(&["start", "forever"]);
    d.ok(&["kill", "forever"]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(state(&d, "forever"), "exited 0");
}

#[test]
fn always_comes_back_after_its_process_dies_and_across_a_daemon_kill() {
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "phoenix",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "stay-down",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "always-stopped",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&["stop", "-t", "0", "stay-down", "always-stopped"]);

    let pid: i32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", "phoenix"])
        .parse()
        .unwrap();
    // SAFETY: kill(2) of the container's init, which this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(
        eventually(Duration::from_secs(5), || state(&d, "phoenix")
            == "running 1"),
        "state: {}",
        state(&d, "phoenix")
    );
    let pid: i32 = d
        .ok(&["inspect", "--format", "{{.State.Pid}}", "phoenix"])
        .parse()
        .unwrap();

    d.kill_daemon();
    // SAFETY: as above; the container dies while no daemon watches it.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    d.spawn().expect("restart berthd");
    assert!(
        eventually(Duration::from_secs(5), || state(&d, "phoenix")
            == "running 2"),
        "state: {}",
        state(&d, "phoenix")
    );
    // always restarts even a manually stopped container when the daemon starts;
    // unless-stopped does not.
    assert!(
        eventually(Duration::from_secs(5), || state(&d, "always-stopped")
            .starts_with("running")),
        "state: {}",
        state(&d, "always-stopped")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&d, "stay-down"), "exited 0");
}

#[test]
fn bad_restart_policies_are_refused() {
    let d = Daemon::start();
    let out = d.berth(&["run", "-d", "--restart", "sometimes", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid restart policy"),
        "{}",
        stderr(&out)
    );

    let response = d
        .raw_request(
            "POST",
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"sometimes"}}}"#,
        )
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("unknown policy 'sometimes'"),
        "{response}"
    );

    let response = d
        .raw_request(
            "POST",
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}"#,
        )
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("cannot be negative"), "{response}");

    let response = d
        .raw_request(
            "POST",
            "/containers/create",
            r#"{"Image":"busybox","HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#,
        )
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
}

#[test]
fn a_restarting_container_shows_it_and_stop_cancels_the_restart() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "looper",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ]);
    // The delays grow (100, 200, 400, 800 ms, ...): the waits become long enough to observe.
    // One inspect reads every field at once, so a restart between two reads cannot race.
    let snapshot = || {
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Running}} {{.State.Restarting}} {{.State.Pid}} {{.State.ExitCode}} {{.RestartCount}}",
            "looper",
        ])
    };
    assert!(
        eventually(Duration::from_secs(10), || {
            let s = snapshot();
            s.starts_with("restarting true true 0 2 ") && !s.ends_with(" 0") && !s.ends_with(" 1")
        }),
        "state: {}",
        snapshot()
    );
    // Between restarts the container is listed as restarting (it may be mid-run at any read).
    assert!(eventually(Duration::from_secs(10), || {
        d.ok(&[
            "ps",
            "--filter",
            "status=restarting",
            "--format",
            "{{.Names}}",
        ]) == "looper"
    }));
    d.ok(&["stop", "looper"]);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "looper"]),
        "exited"
    );
    let count_before: i64 = d
        .ok(&["inspect", "--format", "{{.RestartCount}}", "looper"])
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(
        state(&d, "looper"),
        format!("exited {count_before}"),
        "the pending restart must be cancelled"
    );
}
