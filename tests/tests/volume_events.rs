//! Volume events (`create`, `mount`, `unmount`, `destroy`) on `berth events`, in Docker's
//! shape and order, and the `volume=` filter.

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
fn volume_lifecycle_events_in_order() {
    let d = Daemon::start();
    let since = now_unix();
    d.ok(&["volume", "create", "evvol"]);
    d.ok(&[
        "run",
        "--name",
        "vuser",
        "-v",
        "evvol:/data:ro",
        "busybox",
        "true",
    ]);
    let id = d.container_id("vuser");
    d.ok(&["rm", "vuser"]);
    d.ok(&["volume", "rm", "evvol"]);
    // Another volume's events must not pass the volume= filter.
    d.ok(&["volume", "create", "othervol"]);
    let until = now_unix();

    let events = events_json(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "volume=evvol",
        ],
    );
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["Action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        ["create", "mount", "unmount", "destroy"],
        "{events:?}"
    );
    for e in &events {
        assert_eq!(e["Type"], "volume");
        assert_eq!(e["Actor"]["ID"], "evvol");
        assert_eq!(e["Actor"]["Attributes"]["driver"], "local");
    }
    let mount = &events[1]["Actor"]["Attributes"];
    assert_eq!(mount["container"], id.as_str());
    assert_eq!(mount["destination"], "/data");
    assert_eq!(mount["read/write"], "false");
    assert_eq!(events[2]["Actor"]["Attributes"]["container"], id.as_str());

    // type=volume interleaves with nothing else; type=container has no volume events.
    let volume_only = events_json(
        &d,
        &[
            "--since",
            &since,
            "--until",
            &until,
            "--filter",
            "type=volume",
        ],
    );
    assert_eq!(volume_only.len(), 5, "{volume_only:?}");
    let containers = events_json(
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
    assert!(containers.iter().all(|e| e["Type"] == "container"));
    // Mount precedes the container's start, unmount follows its die (Docker's order).
    let all = events_json(&d, &["--since", &since, "--until", &until]);
    let order: Vec<String> = all
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["Type"].as_str().unwrap_or(""),
                e["Action"].as_str().unwrap_or("")
            )
        })
        .collect();
    let pos = |s: &str| order.iter().position(|o| o == s).unwrap_or(usize::MAX);
    assert!(pos("volume mount") < pos("container start"), "{order:?}");
    assert!(pos("container die") < pos("volume unmount"), "{order:?}");
}
