//! `berth rmi` semantics checked against dockerd 20.10: dependent child images, untag vs
//! delete, several tags, dangling images after a re-tag.

use berth_tests::{busybox_tar, stderr, Daemon};

fn ids(d: &Daemon, args: &[&str]) -> String {
    d.ok(args)
}

#[test]
fn parents_of_committed_images_cannot_be_deleted_and_are_pruned_with_the_child() {
    let d = Daemon::start();
    d.ok(&["create", "--name", "pp", "busybox", "true"]);
    let parent = d.ok(&["commit", "pp", "parent:1"]);
    d.ok(&["rm", "pp"]);
    d.ok(&["create", "--name", "cc", "parent:1", "true"]);
    let child = d.ok(&["commit", "cc", "child:1"]);
    d.ok(&["rm", "cc"]);

    for args in [
        &["rmi", parent.as_str()][..],
        &["rmi", "-f", parent.as_str()][..],
    ] {
        let out = d.berth(args);
        assert!(!out.status.success());
        let short = &parent["sha256:".len()..][..12];
        assert!(
            stderr(&out).contains(&format!(
                "conflict: unable to delete {short} (cannot be forced) - image has dependent child images"
            )),
            "{}",
            stderr(&out)
        );
    }
    // removing the parent's last tag only untags it: the child still needs it
    d.ok(&["tag", "parent:1", "parent:2"]);
    assert_eq!(d.ok(&["rmi", "parent:2"]), "Untagged: parent:2");
    assert_eq!(d.ok(&["rmi", "parent:1"]), "Untagged: parent:1");
    assert_eq!(
        ids(&d, &["inspect", "--format", "{{.Id}}", &parent]),
        parent
    );
    // deleting the child deletes the parent it left dangling and unused
    let out = d.ok(&["rmi", "child:1"]);
    assert!(out.starts_with("Untagged: child:1"), "{out}");
    assert!(out.contains(&format!("Deleted: {child}")), "{out}");
    assert!(out.contains(&format!("Deleted: {parent}")), "{out}");
    assert!(!d.berth(&["inspect", &parent]).status.success());
    // busybox, a tagged grandparent, stays
    d.ok(&["inspect", "busybox"]);
}

#[test]
fn several_tags_need_force_by_id_and_retag_leaves_a_dangling_image() {
    let d = Daemon::start();
    let tar = busybox_tar().to_str().expect("path");
    let id = d.ok(&["import", "-m", "one", tar, "multi:a"]);
    d.ok(&["tag", "multi:a", "other:b"]);
    let out = d.berth(&["rmi", &id]);
    assert!(!out.status.success());
    let short = &id["sha256:".len()..][..12];
    assert!(
        stderr(&out).contains(&format!(
            "unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )),
        "{}",
        stderr(&out)
    );
    // removing one tag only untags
    assert_eq!(d.ok(&["rmi", "other:b"]), "Untagged: other:b");
    d.ok(&["tag", "multi:a", "other:b"]);
    let out = d.ok(&["rmi", "-f", &id]);
    assert!(
        out.contains("Untagged: multi:a") && out.contains("Untagged: other:b"),
        "{out}"
    );
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");

    // a tag moved to a new image leaves the old one dangling
    let old = d.ok(&["import", "-m", "old", tar, "moving:1"]);
    let new = d.ok(&["import", "-m", "new", tar, "moving:1"]);
    assert_ne!(old, new);
    let dangling = d.ok(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    assert_eq!(dangling, old);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{json .RepoTags}}", &old]),
        "[]"
    );
    let out = d.ok(&["rmi", &old]);
    assert!(out.starts_with(&format!("Deleted: {old}")), "{out}");
    d.ok(&["inspect", "moving:1"]);
}
