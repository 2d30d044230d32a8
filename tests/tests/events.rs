//! `berth events` / `GET /events`: container and image events in order, with Docker's
//! attributes, live streaming, and since/until/filters.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use berth_tests::Daemon;

fn now_unix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{}.{:09}", t.as_secs(), t.subsec_nanos())
}

fn events_json(d: &Daemon, args: &[&str]) -> Vec<serde_json::Value> {
    let mut full = vec!["events", "--format", "{{json .}}"];
    full.extend_from_slice(args);
    d.ok(&full)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event json"))
        .collect()
}

#[test]
fn container_events_arrive_in_order_with_attributes() {
    let d = Daemon::start();
    let since = now_unix();
    let run = d.berth(&[
        "run", "--name", "ev", "--label", "tier=web", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(run.status.code(), Some(3));
    let id = d.container_id("ev");
    d.ok(&["rm", "ev"]);
    let until = now_unix();

    let events = events_json(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=container",
        ],
    );
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    let lifecycle: Vec<&str> = actions.iter().copied().filter(|a| *a != "attach").collect();
    assert_eq!(
        lifecycle,
        ["create", "start", "die", "destroy"],
        "{actions:?}"
    );
    for e in &events {
        assert_eq!(e["Type"], "container");
        assert_eq!(e["scope"], "local");
        assert_eq!(e["Actor"]["ID"], id.as_str());
        assert_eq!(e["Actor"]["Attributes"]["name"], "ev");
        assert_eq!(e["Actor"]["Attributes"]["image"], "busybox");
        assert_eq!(e["Actor"]["Attributes"]["tier"], "web");
        assert_eq!(
            e["time"].as_i64().unwrap(),
            e["timeNano"].as_i64().unwrap() / 1_000_000_000
        );
    }
    // The raw API also carries Docker's legacy fields.
    let raw = d
        .raw_request("GET", &format!("/events?since={since}&until={until}"), "")
        .unwrap();
    let legacy: Vec<serde_json::Value> = raw
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["Type"] == "container")
        .collect();
    assert_eq!(legacy.len(), events.len(), "{raw}");
    for e in &legacy {
        assert_eq!(e["id"], id.as_str(), "legacy id");
        assert_eq!(e["from"], "busybox", "legacy from");
        assert_eq!(e["status"], e["Action"], "legacy status");
    }
    let die = events.iter().find(|e| e["Action"] == "die").unwrap();
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // Docker's default text format.
    let text = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
    ]);
    assert!(
        text.contains(&format!("container die {id} (execDuration=")),
        "{text}"
    );
    assert!(
        text.contains("exitCode=3, image=busybox, name=ev, tier=web)"),
        "{text}"
    );
}

#[test]
fn filters_since_and_until_select_events() {
    let d = Daemon::start();
    let t0 = now_unix();
    d.ok(&[
        "create", "--name", "one", "--label", "app=a", "busybox", "true",
    ]);
    std::thread::sleep(Duration::from_millis(50));
    let t1 = now_unix();
    d.ok(&["create", "--name", "two", "busybox", "true"]);
    d.ok(&["tag", "busybox", "mine:v1"]);
    d.ok(&["start", "one"]);
    d.ok(&["rmi", "mine:v1"]);
    let t2 = now_unix();

    let actions = |args: &[&str]| -> Vec<String> {
        events_json(&d, args)
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["Type"].as_str().unwrap(),
                    e["Action"].as_str().unwrap()
                )
            })
            .collect()
    };
    let window = ["--since", t0.as_str(), "--until", t2.as_str()];
    let with = |extra: &[&str]| {
        let mut args = window.to_vec();
        args.extend_from_slice(extra);
        actions(&args)
    };
    assert_eq!(
        with(&["--filter", "type=image"]),
        ["image tag", "image untag"]
    );
    assert_eq!(
        with(&["--filter", "image=mine:v1"]),
        ["image tag", "image untag"]
    );
    assert_eq!(with(&["--filter", "container=two"]), ["container create"]);
    assert_eq!(
        with(&["--filter", "label=app=a", "--filter", "event=create"]),
        ["container create"]
    );
    assert_eq!(
        with(&["--filter", "event=create", "--filter", "event=start"]),
        ["container create", "container create", "container start"]
    );
    assert_eq!(
        actions(&["--since", &t1, "--until", &t2, "--filter", "event=create"]),
        ["container create"],
        "since excludes earlier events"
    );
    assert_eq!(
        actions(&["--since", &t0, "--until", &t1, "--filter", "type=container"]),
        ["container create"],
        "until excludes later events"
    );
    assert!(with(&["--filter", "volume=x"]).is_empty());

    let response = d
        .raw_request(
            "GET",
            "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
            "",
        )
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("invalid filter 'colour'"), "{response}");
    let bad = d.berth(&["events", "--filter", "type=boat", "--until", "0s"]);
    assert!(!bad.status.success());
}

#[test]
fn events_stream_live() {
    let d = Daemon::start();
    let mut child = d
        .berth_cmd(&[
            "events",
            "--filter",
            "container=live",
            "--format",
            "{{.Action}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Give the subscription a moment to be registered before acting.
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["run", "-d", "--name", "live", "busybox", "sleep", "100"]);
    d.ok(&["pause", "live"]);
    d.ok(&["unpause", "live"]);
    d.ok(&["kill", "-s", "TERM", "live"]);
    d.ok(&["rm", "-f", "live"]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let last = line == "destroy";
            let _ = tx.send(line);
            if last {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        let last = line == "destroy";
        seen.push(line);
        if last {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // TERM does not end a pid 1 without a handler; rm -f then kills it (SIGKILL).
    assert_eq!(
        seen,
        ["create", "start", "pause", "unpause", "kill", "kill", "die", "destroy"]
    );
}
