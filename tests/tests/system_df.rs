//! `system df`: real sizes for images (shared vs unique layers), containers' writable layers and
//! volumes, through the API, `berth system df [-v]` and the docker CLI.

use berth_tests::{busybox_tar, require, Daemon};
use serde_json::Value;

fn df(d: &Daemon) -> Value {
    let reply = d
        .raw_request("GET", "/v1.41/system/df", "")
        .expect("GET /system/df");
    let (head, body) = reply.split_once("\r\n\r\n").expect("http reply");
    assert!(head.starts_with("HTTP/1.1 200"), "{reply}");
    serde_json::from_str(body).expect("json body")
}

#[test]
fn df_reports_real_sizes_of_images_containers_and_volumes() {
    let d = Daemon::start();
    let tar = busybox_tar().to_str().expect("path");
    // the same rootfs again: a second image sharing busybox's only layer
    d.ok(&["import", "-m", "copy", tar, "copy:1"]);
    d.ok(&["volume", "create", "dfvol"]);
    d.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "dfvol:/data",
        "busybox",
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /data/v && head -c 300000 /dev/zero > /big",
    ]);

    let usage = df(&d);
    let images = usage["Images"].as_array().expect("Images");
    assert_eq!(images.len(), 2, "{usage}");
    let busybox = images
        .iter()
        .find(|i| i["RepoTags"][0] == "busybox:latest")
        .expect("busybox row");
    let size = busybox["Size"].as_i64().expect("Size");
    assert!(size > 500_000, "busybox unpacked size {size}");
    // one layer, used by both images: shared, and counted once in LayersSize
    assert_eq!(busybox["SharedSize"].as_i64(), Some(size), "{usage}");
    assert_eq!(usage["LayersSize"].as_i64(), Some(size), "{usage}");
    assert_eq!(busybox["Containers"].as_i64(), Some(1), "{usage}");
    let copy = images
        .iter()
        .find(|i| i["RepoTags"][0] == "copy:1")
        .expect("copy row");
    assert_eq!(copy["Containers"].as_i64(), Some(0), "{usage}");

    let container = &usage["Containers"][0];
    assert_eq!(container["Names"][0], "/writer");
    let rw = container["SizeRw"].as_i64().expect("SizeRw");
    // /big, plus at most a few small files the shell may leave behind
    assert!((300_000..300_000 + 8192).contains(&rw), "SizeRw {rw}");
    assert_eq!(container["SizeRootFs"].as_i64(), Some(rw + size));

    let volume = usage["Volumes"]
        .as_array()
        .expect("Volumes")
        .iter()
        .find(|v| v["Name"] == "dfvol")
        .expect("dfvol")
        .clone();
    assert_eq!(
        volume["UsageData"]["Size"].as_i64(),
        Some(100_000),
        "{volume}"
    );
    assert_eq!(
        volume["UsageData"]["RefCount"].as_i64(),
        Some(1),
        "{volume}"
    );
    assert_eq!(usage["BuildCache"], Value::Array(vec![]));

    // the summary table, docker's arithmetic
    let rows: Vec<Value> = d
        .ok(&["system", "df", "--format", "{{json .}}"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json row"))
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["Type"], "Images");
    assert_eq!(
        (rows[0]["TotalCount"].as_str(), rows[0]["Active"].as_str()),
        (Some("2"), Some("1"))
    );
    // busybox is in use, and all of its bytes are shared: nothing of it is "used" uniquely
    assert_eq!(
        rows[0]["Reclaimable"]
            .as_str()
            .expect("str")
            .ends_with("(100%)"),
        true,
        "{rows:?}"
    );
    assert_eq!(rows[1]["Type"], "Containers");
    assert_eq!(
        (rows[1]["TotalCount"].as_str(), rows[1]["Active"].as_str()),
        (Some("1"), Some("0"))
    );
    assert!(
        rows[1]["Size"].as_str().expect("str").ends_with("kB"),
        "{rows:?}"
    );
    assert!(
        rows[1]["Reclaimable"]
            .as_str()
            .expect("str")
            .ends_with("(100%)"),
        "{rows:?}"
    );
    assert_eq!(rows[2]["Type"], "Local Volumes");
    assert_eq!(rows[2]["Size"], "100kB", "{rows:?}");
    assert_eq!(rows[2]["Reclaimable"], "0B (0%)", "{rows:?}");
    assert_eq!(rows[3]["Type"], "Build Cache");

    let table = d.ok(&["system", "df"]);
    assert!(table.starts_with("TYPE"), "{table}");
    assert!(table.contains("RECLAIMABLE"), "{table}");
    let verbose = d.ok(&["system", "df", "-v"]);
    for needle in [
        "Images space usage:",
        "UNIQUE SIZE",
        "copy ",
        "Containers space usage:",
        "writer",
        "\"sh -c head -c 10000…\"",
        "Local Volumes space usage:",
        "Build cache usage: 0B",
    ] {
        assert!(
            verbose.contains(needle),
            "missing {needle:?} in:\n{verbose}"
        );
    }
    let vol_line = verbose
        .lines()
        .find(|l| l.starts_with("dfvol"))
        .unwrap_or_else(|| panic!("no dfvol row:\n{verbose}"));
    assert_eq!(
        vol_line.split_whitespace().collect::<Vec<_>>(),
        ["dfvol", "1", "100kB"]
    );
}

/// The real docker CLI understands berthd's reply.
#[test]
fn docker_cli_system_df_works_against_berthd() {
    let docker = std::process::Command::new("docker")
        .arg("--version")
        .output();
    if !require(docker.is_ok_and(|o| o.status.success()), "the docker CLI") {
        return;
    }
    let d = Daemon::start();
    d.ok(&["volume", "create", "clivol"]);
    for args in [&["system", "df"][..], &["system", "df", "-v"][..]] {
        let out = std::process::Command::new("docker")
            .env("DOCKER_HOST", d.host())
            .args(args)
            .output()
            .expect("run docker");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Local Volumes"), "{text}");
        if args.len() == 3 {
            assert!(
                text.contains("busybox") && text.contains("clivol"),
                "{text}"
            );
        }
    }
}
