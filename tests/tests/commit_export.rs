//! `berth commit` and `berth export`: a container's additions, modifications and deletions
//! (files and a whole replaced directory) survive a commit and are seen by a container of the
//! new image; export writes the flattened filesystem.

use berth_tests::{stderr, Daemon};

const CHANGES: &str = "echo new > /added && echo changed >> /etc/group && rm /bin/vi && \
    rm -rf /home && mkdir -p /home/other && echo inside > /home/other/f && mkfifo /fifo && \
    ln /added /hardlink && chown 1000:1000 /added && chmod 4750 /added";

#[test]
fn commit_round_trip_shows_changes_and_deletions() {
    commit_round_trip(&Daemon::start());
}

/// The same on the vfs storage driver, where the changes are found by comparing the
/// container's full copy with the image's layers (no overlay upper directory).
#[test]
fn commit_on_the_vfs_storage_driver_finds_the_same_changes() {
    let d = Daemon::start_with_config(&serde_json::json!({"storage-driver": "vfs"}));
    assert_eq!(d.ok(&["info", "--format", "{{.Driver}}"]), "vfs");
    commit_round_trip(&d);
    // An unchanged container commits to an empty layer: nothing of the image is copied again.
    d.ok(&["run", "--name", "untouched", "busybox", "true"]);
    let empty = d.ok(&["commit", "untouched", "empty:1"]);
    let size = d.ok(&["history", "--format", "{{.Size}}", &empty]);
    assert_eq!(size.lines().next(), Some("0B"), "{size}");
}

fn commit_round_trip(d: &Daemon) {
    d.ok(&[
        "run",
        "-d",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        &format!("{CHANGES} && sleep 60"),
    ]);
    // wait until the changes are written
    assert!(berth_tests::eventually(
        std::time::Duration::from_secs(10),
        || {
            d.berth(&["exec", "src", "test", "-p", "/fifo"])
                .status
                .success()
        }
    ));
    let id = d.ok(&[
        "commit",
        "-m",
        "my message",
        "-a",
        "Jane <jane@example.com>",
        "-c",
        "ENV COMMITTED=yes",
        "src",
        "committed:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    // the container was paused during the commit and runs again afterwards
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "src"]),
        "running"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.Comment}}|{{.Author}}|{{len .RootFS.Layers}}",
            "committed:1"
        ]),
        "my message|Jane <jane@example.com>|2"
    );
    let busybox = d.ok(&["inspect", "--format", "{{.Id}}", "busybox"]);
    let raw = d
        .raw_request("GET", "/images/committed:1/json", "")
        .expect("inspect");
    assert!(raw.contains(&format!("\"Parent\":\"{busybox}\"")), "{raw}");
    // history: the commit on top (with its comment), the parent's import below, with ids
    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Comment}}",
        "committed:1",
    ]);
    assert_eq!(
        history,
        format!("{id}|my message\n{busybox}|Imported from -")
    );
    let script = "cat /added; tail -1 /etc/group; test -e /bin/vi || echo vi-deleted; ls /home; \
        cat /home/other/f; test -p /fifo && echo fifo; stat -c '%u:%g %a %h' /added; \
        stat -c '%i' /added /hardlink | uniq | wc -l; echo $COMMITTED";
    let out = d.ok(&["run", "--rm", "committed:1", "sh", "-c", script]);
    assert_eq!(
        out, "new\nchanged\nvi-deleted\nother\ninside\nfifo\n1000:1000 4750 2\n1\nyes",
        "what the committed image shows"
    );
    d.ok(&["rm", "-f", "src"]);
    // --pause=false on a stopped container, and no tag: a dangling image
    d.ok(&["create", "--name", "stopped", "committed:1"]);
    let untagged = d.ok(&["commit", "--pause=false", "stopped"]);
    assert_eq!(
        d.ok(&["inspect", "--format", "{{len .RepoTags}}", &untagged]),
        "0"
    );
    let bad = d.berth(&["commit", "-c", "BOGUS x", "stopped"]);
    assert!(
        !bad.status.success() && stderr(&bad).to_lowercase().contains("bogus"),
        "{}",
        stderr(&bad)
    );
    let missing = d.berth(&["commit", "nosuchcontainer"]);
    assert!(
        stderr(&missing).contains("No such container: nosuchcontainer"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn export_writes_the_flattened_filesystem() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "--name",
        "ex",
        "busybox",
        "sh",
        "-c",
        "rm /bin/vi; echo hi > /root/hello; ln -s /root/hello /root/link",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let tar_path = dir.path().join("ex.tar");
    d.ok(&["export", "-o", tar_path.to_str().expect("path"), "ex"]);
    let mut archive = tar::Archive::new(std::fs::File::open(&tar_path).expect("open"));
    let mut names = Vec::new();
    for e in archive.entries().expect("entries") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        if name == "root/hello" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            assert_eq!(s, "hi\n");
        }
        if name == "root/link" {
            assert_eq!(
                e.link_name()
                    .expect("link")
                    .expect("target")
                    .to_string_lossy(),
                "/root/hello"
            );
        }
        names.push(name);
    }
    for expected in [
        "bin/busybox",
        "bin/sh",
        "etc/passwd",
        "root/hello",
        "root/link",
    ] {
        assert!(
            names.iter().any(|n| n.trim_end_matches('/') == expected),
            "{expected} missing"
        );
    }
    assert!(
        !names.iter().any(|n| n == "bin/vi" || n.contains(".wh.")),
        "deleted file or whiteout exported"
    );
    // export | import round trip gives a runnable image
    let imported = d.ok(&[
        "import",
        "-c",
        "CMD [\"cat\",\"/root/hello\"]",
        tar_path.to_str().expect("path"),
        "reimported",
    ]);
    assert!(imported.starts_with("sha256:"));
    assert_eq!(d.ok(&["run", "--rm", "reimported"]), "hi");
    // the stopped container's snapshot was mounted for the export only
    assert!(berth_tests::leftover_mounts(&d.container_id("ex")).is_empty());
}
