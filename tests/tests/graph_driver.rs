//! `GraphDriver` in image and container inspect: the storage driver `docker info` reports, and
//! overlay2's LowerDir/UpperDir/MergedDir/WorkDir pointing at the real directories.

use std::path::Path;

use berth_tests::Daemon;

fn graph(d: &Daemon, kind: &str, name: &str) -> serde_json::Value {
    let out = d.ok(&[kind, "inspect", "--format", "{{json .GraphDriver}}", name]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("GraphDriver of {name}: {e}: {out}"))
}

fn dirs(value: &serde_json::Value) -> Vec<String> {
    value
        .as_str()
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn image_and_container_graph_driver_name_existing_dirs() {
    let d = Daemon::start();
    let driver = d.ok(&["info", "--format", "{{.Driver}}"]);
    assert_eq!(driver, "overlay2");

    // one layer: no LowerDir, the layer's diff is the UpperDir
    let g = graph(&d, "image", "busybox");
    assert_eq!(g["Name"], "overlay2");
    assert!(g["Data"].get("LowerDir").is_none(), "{g}");
    let upper = g["Data"]["UpperDir"].as_str().expect("UpperDir");
    assert!(Path::new(upper).join("bin/busybox").is_file(), "{g}");
    assert!(g["Data"]["MergedDir"]
        .as_str()
        .is_some_and(|s| s.ends_with("/merged")));
    assert!(g["Data"]["WorkDir"]
        .as_str()
        .is_some_and(|s| s.ends_with("/work")));

    // two layers: the committed layer is the UpperDir, busybox's the LowerDir
    d.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo hi > /added",
    ]);
    d.ok(&["commit", "src", "two:layers"]);
    let g2 = graph(&d, "image", "two:layers");
    let upper2 = g2["Data"]["UpperDir"].as_str().expect("UpperDir");
    assert_eq!(
        std::fs::read_to_string(Path::new(upper2).join("added")).unwrap(),
        "hi\n"
    );
    assert_eq!(dirs(&g2["Data"]["LowerDir"]), vec![upper.to_owned()]);

    // a running container: its own upper/work dirs, the rootfs mounted at MergedDir, the
    // image's layers (top-most first) as LowerDir
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ctr",
        "two:layers",
        "sh",
        "-c",
        "echo c > /mine; sleep 60",
    ]);
    assert!(berth_tests::eventually(
        std::time::Duration::from_secs(10),
        || {
            d.berth(&["exec", "ctr", "test", "-f", "/mine"])
                .status
                .success()
        }
    ));
    let c = graph(&d, "container", "ctr");
    assert_eq!(c["Name"], "overlay2");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.Driver}}", "ctr"]),
        "overlay2"
    );
    assert_eq!(
        dirs(&c["Data"]["LowerDir"]),
        vec![upper2.to_owned(), upper.to_owned()]
    );
    let cu = c["Data"]["UpperDir"].as_str().expect("UpperDir");
    assert_eq!(
        std::fs::read_to_string(Path::new(cu).join("mine")).unwrap(),
        "c\n"
    );
    let merged = c["Data"]["MergedDir"].as_str().expect("MergedDir");
    assert_eq!(
        std::fs::read_to_string(Path::new(merged).join("added")).unwrap(),
        "hi\n"
    );
    assert!(Path::new(merged).join("bin/busybox").is_file());
    assert!(Path::new(c["Data"]["WorkDir"].as_str().expect("WorkDir")).is_dir());
    d.ok(&["rm", "-f", "ctr", "src"]);
}
