//! `berth image prune`: dangling images by default, every unused image with `-a`, never an
//! image a container uses or a committed image's parent.

use berth_tests::{busybox_tar, Daemon};

#[test]
fn prune_removes_dangling_then_unused_images() {
    let d = Daemon::start();
    let tar = busybox_tar().to_str().expect("path");
    let dangling = d.ok(&["import", "-m", "one", tar]);
    let tagged = d.ok(&["import", "-m", "two", tar, "spare:1"]);
    d.ok(&["create", "--name", "user", "busybox", "true"]);

    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert!(!d.berth(&["inspect", &dangling]).status.success());
    assert!(
        d.berth(&["inspect", &tagged]).status.success(),
        "a tagged image was pruned without -a"
    );

    let out = d.ok(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "label=nothing-has-this",
    ]);
    assert!(!out.contains("deleted:"), "label filter ignored: {out}");
    let out = d.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        out.contains("untagged: spare:1") && out.contains(&format!("deleted: {tagged}")),
        "{out}"
    );
    // busybox is used by a container
    assert_eq!(d.ok(&["images", "--format", "{{.Repository}}"]), "busybox");
}
