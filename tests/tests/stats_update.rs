//! `update` changes a running container's cgroup limits and record; `stats` reports numbers
//! that agree with the cgroup files, in Docker's JSON shape and in the CLI's table.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use berth_tests::{stdout, Daemon};

fn cgroup_file(controller: &str, id: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/fs/cgroup/{controller}/berth/{id}/{file}"))
        .unwrap_or_else(|e| panic!("read {controller}/{file}: {e}"))
        .trim()
        .to_owned()
}

/// The JSON body of a non-streaming GET.
fn get_json(d: &Daemon, path: &str) -> serde_json::Value {
    let response = d.raw_request("GET", path, "").expect("request");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn update_changes_limits_of_a_running_container() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "upd",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = d.container_id("upd");
    assert_eq!(
        cgroup_file("memory", &id, "memory.limit_in_bytes"),
        "67108864"
    );

    assert_eq!(
        d.ok(&[
            "update",
            "--memory",
            "128m",
            "--pids-limit",
            "80",
            "--cpu-shares",
            "512",
            "--restart",
            "on-failure:3",
            "upd"
        ]),
        "upd"
    );
    assert_eq!(
        cgroup_file("memory", &id, "memory.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(cgroup_file("pids", &id, "pids.max"), "80");
    assert_eq!(cgroup_file("cpu", &id, "cpu.shares"), "512");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "upd"]),
        "134217728 80 512 on-failure:3"
    );
    d.ok(&["update", "--pids-limit", "-1", "upd"]);
    assert_eq!(cgroup_file("pids", &id, "pids.max"), "max");

    let response = d
        .raw_request("POST", "/containers/upd/update", r#"{"Memory":134217728}"#)
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"Warnings":[]}"#), "{response}");
    for (body, message) in [
        (
            r#"{"RestartPolicy":{"Name":"sometimes"}}"#,
            "unknown policy 'sometimes'",
        ),
        (
            r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-2}}"#,
            "cannot be negative",
        ),
        (r#"{"Memory":1024}"#, "Minimum memory limit"),
    ] {
        let response = d
            .raw_request("POST", "/containers/upd/update", body)
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{body}: {response}");
        assert!(response.contains(message), "{body}: {response}");
    }
    // A stopped container's record changes and the new limit applies at its next start.
    d.ok(&["stop", "-t", "0", "upd"]);
    d.ok(&["update", "-m", "96m", "upd"]);
    d.ok(&["start", "upd"]);
    assert_eq!(
        cgroup_file("memory", &id, "memory.limit_in_bytes"),
        "100663296"
    );
}

#[test]
fn stats_agree_with_the_cgroup_files() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        "sleep 1000 & sleep 1000 & wait",
    ]);
    d.ok(&["run", "-d", "--name", "free", "busybox", "sleep", "1000"]);
    let id = d.container_id("busy");
    std::thread::sleep(Duration::from_millis(200));

    let stats = get_json(&d, "/containers/busy/stats?stream=false");
    assert_eq!(stats["id"], id.as_str());
    assert_eq!(stats["name"], "/busy");
    let pids: u64 = cgroup_file("pids", &id, "pids.current").parse().unwrap();
    assert_eq!(stats["pids_stats"]["current"].as_u64(), Some(pids));
    assert_eq!(pids, 3);
    let usage: i64 = cgroup_file("memory", &id, "memory.usage_in_bytes")
        .parse()
        .unwrap();
    let reported = stats["memory_stats"]["usage"].as_i64().unwrap();
    assert!(
        (reported - usage).abs() < 1 << 20,
        "usage {reported} vs cgroup {usage}"
    );
    assert_eq!(stats["memory_stats"]["limit"].as_u64(), Some(64 << 20));
    assert!(stats["memory_stats"]["stats"]["total_inactive_file"].is_u64());
    let total: u64 = cgroup_file("cpuacct", &id, "cpuacct.usage")
        .parse()
        .unwrap();
    let reported_cpu = stats["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(
        reported_cpu <= total && reported_cpu > 0,
        "{reported_cpu} vs {total}"
    );
    assert!(
        stats["cpu_stats"]["system_cpu_usage"].as_u64().unwrap()
            > stats["precpu_stats"]["system_cpu_usage"].as_u64().unwrap()
    );
    assert!(stats["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert!(stats["networks"]["lo"]["rx_bytes"].is_u64(), "{stats}");
    assert_ne!(stats["preread"], "0001-01-01T00:00:00Z");

    // Unlimited: the host's memory is the limit.
    let free = get_json(&d, "/containers/free/stats?stream=false&one-shot=true");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let host_kib: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        free["memory_stats"]["limit"].as_u64(),
        Some(host_kib * 1024)
    );
    assert_eq!(free["preread"], "0001-01-01T00:00:00Z");

    // Streaming: one JSON document per second.
    let mut stream = UnixStream::connect(&d.socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /containers/busy/stats HTTP/1.1\r\nHost: berth\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut documents = Vec::new();
    let mut line = String::new();
    while documents.len() < 2 && reader.read_line(&mut line).unwrap() > 0 {
        if line.starts_with('{') {
            documents.push(serde_json::from_str::<serde_json::Value>(line.trim()).unwrap());
        }
        line.clear();
    }
    assert_eq!(documents.len(), 2);
    assert_eq!(
        documents[1]["precpu_stats"]["system_cpu_usage"],
        documents[0]["cpu_stats"]["system_cpu_usage"]
    );

    let table = d.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("CONTAINER ID"), "{table}");
    for column in [
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    let busy = lines.iter().find(|l| l.contains("busy")).expect("busy row");
    assert!(busy.starts_with(&id[..12]), "{busy}");
    assert!(busy.contains("/ 64MiB"), "{busy}");
    assert!(busy.trim_end().ends_with(" 3"), "{busy}");
    let formatted = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}={{.PIDs}}",
        "busy",
    ]);
    assert_eq!(formatted, "busy=3");

    let missing = d.berth(&["stats", "--no-stream", "nope"]);
    assert!(!missing.status.success());
    assert!(stdout(&missing).is_empty());
}
