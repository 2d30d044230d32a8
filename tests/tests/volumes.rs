//! Volumes, bind mounts, tmpfs and `--volumes-from`, driven through the berth CLI against a
//! real berthd: what a user sees in the container and on the host.

use std::time::Duration;

use berth_tests::{eventually, stderr, stdout, Daemon};

fn volume_names(d: &Daemon) -> Vec<String> {
    let mut names: Vec<String> = d
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

fn mounted_under(path: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(path)))
        .map(str::to_owned)
        .collect()
}

#[test]
fn named_volume_outlives_its_container_and_a_daemon_restart() {
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/file",
    ]);
    assert_eq!(volume_names(&d), vec!["data"]);
    let mountpoint = d.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
    assert!(mountpoint.ends_with("/volumes/data/_data"), "{mountpoint}");
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/file")).unwrap(),
        "kept\n"
    );
    d.kill_daemon();
    d.spawn().expect("restart berthd");
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/elsewhere",
        "busybox",
        "cat",
        "/elsewhere/file",
    ]);
    assert_eq!(out, "kept");
    let inspected = d.ok(&["volume", "inspect", "data"]);
    let v: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(d.ok(&["inspect", "--format", "{{.Name}}", "data"]), "data");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--type",
            "volume",
            "--format",
            "{{.Driver}}",
            "data"
        ]),
        "local"
    );
}

#[test]
fn a_new_volume_starts_with_the_images_content() {
    let d = Daemon::start();
    let image_view = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "stat",
        "-c",
        "%a %u %g",
        "/etc/passwd",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "etcvol:/etc",
        "busybox",
        "sh",
        "-c",
        "grep ^root: /etc/passwd && stat -c '%a %u %g' /etc/passwd",
    ]);
    assert!(out.starts_with("root:"), "{out}");
    assert!(out.ends_with(&image_view), "{out} vs {image_view}");
    // Mounted elsewhere, the volume shows what was copied; it is not copied over again.
    let listing = d.ok(&["run", "--rm", "-v", "etcvol:/mnt", "busybox", "ls", "/mnt"]);
    assert!(listing.lines().any(|l| l == "passwd"), "{listing}");
    // nocopy leaves a new volume empty of the image's files.
    let listing = d.ok(&[
        "run",
        "--rm",
        "-v",
        "bare:/etc:nocopy",
        "busybox",
        "ls",
        "/etc",
    ]);
    assert!(!listing.lines().any(|l| l == "passwd"), "{listing}");
}

#[test]
fn read_only_mounts_refuse_writes() {
    let d = Daemon::start();
    let host = tempfile::tempdir().unwrap();
    let bind = format!(
        "type=bind,source={},target=/b,readonly",
        host.path().display()
    );
    for args in [
        vec![
            "run",
            "--rm",
            "-v",
            "rovol:/d:ro",
            "busybox",
            "touch",
            "/d/x",
        ],
        vec!["run", "--rm", "--mount", &bind, "busybox", "touch", "/b/x"],
    ] {
        let out = d.berth(&args);
        assert!(!out.status.success(), "{args:?} wrote to a read-only mount");
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!host.path().join("x").exists());
    // With a read-only root, volumes (and their targets, made inside the rootfs) still work.
    let out = d.ok(&[
        "run",
        "--rm",
        "--read-only",
        "-v",
        "rw1:/new/dir",
        "busybox",
        "sh",
        "-c",
        "touch /new/dir/ok && echo volume-ok; touch /root-file 2>&1 || true",
    ]);
    assert!(out.starts_with("volume-ok"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    let inspected = d.ok(&["create", "-v", "rovol:/d:ro", "busybox", "true"]);
    let mounts = d.ok(&["inspect", "--format", "{{json .Mounts}}", &inspected]);
    let mounts: serde_json::Value = serde_json::from_str(&mounts).unwrap();
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "rovol");
    assert_eq!(mounts[0]["Destination"], "/d");
    assert_eq!(mounts[0]["Mode"], "ro");
    assert_eq!(mounts[0]["RW"], false);
    let binds = d.ok(&[
        "inspect",
        "--format",
        "{{json .HostConfig.Binds}}",
        &inspected,
    ]);
    assert_eq!(binds, r#"["rovol:/d:ro"]"#);
}

#[test]
fn bind_mounts_work_both_ways_and_missing_sources_follow_docker() {
    let d = Daemon::start();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host\n").unwrap();
    let spec = format!("{}:/work:z", host.path().display());
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /work/in && echo from container > /work/out",
    ]);
    assert_eq!(out, "from host");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "from container\n"
    );

    // `-v` creates a missing host directory.
    let missing = host.path().join("made/by/v");
    let spec = format!("{}:/m", missing.display());
    d.ok(&["run", "--rm", "-v", &spec, "busybox", "touch", "/m/f"]);
    assert!(missing.join("f").exists());

    // `--mount` refuses one.
    let absent = host.path().join("absent");
    let spec = format!("type=bind,source={},target=/m", absent.display());
    let out = d.berth(&["run", "--rm", "--mount", &spec, "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bind source path does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(!absent.exists());
}

#[test]
fn tmpfs_mounts_enforce_size_and_mode() {
    let d = Daemon::start();
    let out = d.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m,mode=1770",
        "busybox",
        "sh",
        "-c",
        "stat -c %a /t && grep ' /t ' /proc/mounts",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1770"));
    let line = lines.next().unwrap_or_default();
    assert!(
        line.starts_with("tmpfs /t tmpfs") && line.contains("size=1024k"),
        "{line}"
    );
    let out = d.berth(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t:size=1m",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/t/f",
        "bs=1k",
        "count=2048",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/m,tmpfs-size=2m,tmpfs-mode=700",
        "busybox",
        "sh",
        "-c",
        "stat -c %a /m && grep ' /m ' /proc/mounts",
    ]);
    assert!(out.starts_with("700\n"), "{out}");
    assert!(out.contains("size=2048k"), "{out}");
}

#[test]
fn volumes_from_backup_and_restore_round_trip() {
    let d = Daemon::start();
    let cwd = tempfile::tempdir().unwrap();
    let backup_bind = format!("{}:/backup", cwd.path().display());
    d.ok(&[
        "create",
        "-v",
        "/dbdata",
        "--name",
        "dbstore",
        "busybox",
        "/bin/true",
    ]);
    d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "dbstore",
        "busybox",
        "sh",
        "-c",
        "echo precious > /dbdata/table && mkdir /dbdata/sub && echo nested > /dbdata/sub/row",
    ]);
    // The recipe, as written.
    let out = d
        .berth_cmd(&[
            "run",
            "--rm",
            "--volumes-from",
            "dbstore",
            "-v",
            &backup_bind,
            "busybox",
            "tar",
            "cvf",
            "/backup/backup.tar",
            "/dbdata",
        ])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cwd.path().join("backup.tar").exists());

    d.ok(&[
        "create",
        "-v",
        "/dbdata",
        "--name",
        "dbstore2",
        "busybox",
        "/bin/true",
    ]);
    d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "dbstore2",
        "-v",
        &backup_bind,
        "busybox",
        "sh",
        "-c",
        "cd /dbdata && tar xvf /backup/backup.tar --strip 1",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "dbstore2:ro",
        "busybox",
        "sh",
        "-c",
        "cat /dbdata/table /dbdata/sub/row; touch /dbdata/x 2>&1 || true",
    ]);
    assert!(out.starts_with("precious\nnested"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    // The two stores have different anonymous volumes; the --rm runs removed none of them.
    assert_eq!(volume_names(&d).len(), 2);
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_auto_remove() {
    let d = Daemon::start();
    d.ok(&["create", "--name", "keep", "-v", "/anon", "busybox", "true"]);
    d.ok(&[
        "create", "--name", "drop", "-v", "/anon", "-v", "named:/n", "busybox", "true",
    ]);
    let names = volume_names(&d);
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.iter().all(|n| n == "named" || n.len() == 64),
        "{names:?}"
    );
    d.ok(&["rm", "-v", "drop"]);
    assert_eq!(volume_names(&d).len(), 2);
    d.ok(&["rm", "keep"]);
    let left = volume_names(&d);
    assert_eq!(
        left.len(),
        2,
        "rm without -v keeps anonymous volumes: {left:?}"
    );
    d.ok(&["volume", "prune", "-f"]);
    assert_eq!(volume_names(&d), vec!["named"]);

    d.ok(&["run", "--rm", "-v", "/scratch", "busybox", "true"]);
    assert!(
        eventually(Duration::from_secs(10), || volume_names(&d)
            == vec!["named"]),
        "--rm left its anonymous volume: {:?}",
        volume_names(&d)
    );
}

#[test]
fn volume_rm_is_refused_while_a_container_uses_it() {
    let d = Daemon::start();
    d.ok(&["volume", "create", "used"]);
    d.ok(&[
        "run", "-d", "--name", "user", "-v", "used:/u", "busybox", "sleep", "60",
    ]);
    for args in [
        vec!["volume", "rm", "used"],
        vec!["volume", "rm", "-f", "used"],
    ] {
        let out = d.berth(&args);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("volume is in use"),
            "{}",
            stderr(&out)
        );
    }
    d.ok(&["rm", "-f", "user"]);
    assert_eq!(d.ok(&["volume", "rm", "used"]), "used");
    let out = d.berth(&["volume", "rm", "used"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no such volume"), "{}", stderr(&out));
}

#[test]
fn volume_ls_filters_prune_and_api_shapes() {
    let d = Daemon::start();
    d.ok(&["volume", "create", "--label", "tier=db", "alpha"]);
    assert_eq!(d.ok(&["volume", "create", "--name", "beta"]), "beta");
    d.ok(&[
        "create", "--name", "holder", "-v", "beta:/b", "busybox", "true",
    ]);
    let ls = |filter: &str| d.ok(&["volume", "ls", "-q", "--filter", filter]);
    assert_eq!(ls("label=tier=db"), "alpha");
    assert_eq!(ls("label=tier"), "alpha");
    assert_eq!(ls("name=bet"), "beta");
    assert_eq!(ls("dangling=true"), "alpha");
    assert_eq!(ls("dangling=false"), "beta");
    assert_eq!(ls("driver=local"), "alpha\nbeta");
    let table = d.ok(&["volume", "ls"]);
    assert!(table.starts_with("DRIVER"), "{table}");
    assert!(table.contains("local     alpha"), "{table}");

    let reply = d.raw_request("GET", "/v1.41/volumes/alpha", "").unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    for field in [
        r#""Name":"alpha""#,
        r#""Labels":{"tier":"db"}"#,
        r#""Scope":"local""#,
        r#""CreatedAt":"#,
    ] {
        assert!(reply.contains(field), "{field} missing: {reply}");
    }
    let reply = d
        .raw_request(
            "GET",
            "/volumes?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
            "",
        )
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    // Named volumes survive a plain prune; `-a` takes the unused ones.
    d.ok(&["volume", "prune", "-f"]);
    assert_eq!(volume_names(&d), vec!["alpha", "beta"]);
    let out = d.ok(&["volume", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted Volumes:\nalpha"), "{out}");
    assert_eq!(volume_names(&d), vec!["beta"]);
}

#[test]
fn local_driver_options_mount_a_tmpfs_while_used() {
    let d = Daemon::start();
    d.ok(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=1m",
        "tv",
    ]);
    let mountpoint = d.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "tv"]);
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        "tv:/t",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/t/f",
        "bs=1k",
        "count=2048",
    ]);
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert!(
        eventually(Duration::from_secs(10), || mounted_under(&mountpoint)
            .is_empty()),
        "volume still mounted after its only container went: {:?}",
        mounted_under(&mountpoint)
    );
    let out = d.berth(&["volume", "create", "-o", "type=tmpfs", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("missing required option"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_mount_input_gets_clear_errors() {
    let d = Daemon::start();
    let out = d.berth(&["volume", "create", "-d", "nope", "x1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("plugin \"nope\" not found"),
        "{}",
        stderr(&out)
    );
    for (args, wanted) in [
        (vec!["--mount", "type=nope,target=/x"], "mount type unknown"),
        (
            vec!["--mount", "type=bind,target=/x"],
            "Source must not be empty",
        ),
        (vec!["-v", "/tmp:relative"], "must be absolute"),
        (vec!["-v", ":/x"], "invalid volume specification"),
        (vec!["-v", "/tmp:/x:bogus"], "invalid mode: bogus"),
        (vec!["-v", "../escape:/x"], "invalid characters"),
        (vec!["--tmpfs", "/t:size=lots"], "invalid tmpfs option"),
        (vec!["--volumes-from", "ghost"], "No such container: ghost"),
        (
            vec!["-v", "a1:/same", "-v", "b1:/same"],
            "Duplicate mount point",
        ),
    ] {
        let mut full = vec!["run", "--rm"];
        full.extend(args.iter().copied());
        full.extend(["busybox", "true"]);
        let out = d.berth(&full);
        assert_eq!(out.status.code(), Some(125), "{full:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(wanted), "{full:?}: {}", stderr(&out));
    }
    assert!(
        d.ok(&["ps", "-aq"]).is_empty(),
        "a failed create left a container"
    );
    assert!(volume_names(&d).is_empty(), "a failed create left a volume");
    let reply = d.raw_request("DELETE", "/volumes/ghost", "").unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
}

#[test]
fn nothing_stays_mounted_after_rm() {
    let d = Daemon::start();
    let host = tempfile::tempdir().unwrap();
    let bind = format!("{}:/b", host.path().display());
    let id = d.ok(&[
        "run", "-d", "-v", "v1:/v", "-v", &bind, "--tmpfs", "/t", "busybox", "sleep", "60",
    ]);
    let out = stdout(&d.berth(&["stop", "-t", "0", &id]));
    assert!(!out.is_empty());
    d.ok(&["rm", "-v", &id]);
    let root = d.root.path().to_string_lossy().into_owned();
    assert!(
        mounted_under(&root).is_empty(),
        "{:?}",
        mounted_under(&root)
    );
    assert!(mounted_under(&host.path().to_string_lossy()).is_empty());
}
