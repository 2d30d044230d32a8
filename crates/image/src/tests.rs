//! Store-level tests on the real filesystem (run as root; overlay tests mount for real).

use std::fs::{self, File};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::test_support::*;
use crate::{Error, ErrorKind, ImageStore, ImportOptions, RemovedItem, SnapshotterKind};

fn never(_: &str) -> bool {
    false
}

fn always(_: &str) -> bool {
    true
}

fn import_file(
    store: &ImageStore,
    tar: &Path,
    reference: Option<&str>,
) -> crate::Result<crate::ImageRecord> {
    let f = File::open(tar).map_err(|e| Error::io("open", tar, e))?;
    store.import(
        f,
        ImportOptions {
            reference: reference.map(str::to_string),
            ..Default::default()
        },
    )
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    tar: std::path::PathBuf,
}

fn fixture() -> Option<Fixture> {
    let tmp = tempfile::tempdir().ok()?;
    let tar = busybox_tar(tmp.path());
    if !require(
        tar.is_some(),
        "busybox (apt-get install busybox-static) and tar",
    ) {
        return None;
    }
    let root = tmp.path().join("store");
    Some(Fixture {
        root,
        tar: tar?,
        _tmp: tmp,
    })
}

#[test]
fn import_busybox_and_resolve() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    let store = ImageStore::open(&fx.root)?;
    let rec = import_file(&store, &fx.tar, Some("busybox"))?;
    assert!(
        rec.id.starts_with("sha256:") && rec.id.len() == 71,
        "{}",
        rec.id
    );
    assert_eq!(rec.repo_tags, vec!["busybox:latest".to_string()]);
    assert_eq!(rec.layers.len(), 1);
    assert_eq!(rec.comment, "Imported from -");
    assert!(rec.size > 500_000, "size {}", rec.size);
    assert_eq!(rec.config.os().to_string(), "linux");
    if cfg!(target_arch = "x86_64") {
        assert_eq!(rec.config.architecture().to_string(), "amd64");
    }
    assert_eq!(rec.config.rootfs().diff_ids(), &rec.layers);
    let hist = rec.config.history().clone().unwrap_or_default();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].comment().as_deref(), Some("Imported from -"));
    assert_eq!(hist[0].created_by().as_deref(), Some(""));

    // blobs: config digest == id; layer blob digest == diff_id (uncompressed tar)
    let cfg = store.content().read(&rec.id)?;
    assert_eq!(crate::content::sha256_digest(&cfg), rec.id);
    let v: serde_json::Value = serde_json::from_slice(&cfg)?;
    assert_eq!(v["comment"], "Imported from -");
    assert_eq!(v["rootfs"]["type"], "layers");
    let layer_blob = store.content().read(&rec.layers[0])?;
    assert_eq!(layer_blob, fs::read(&fx.tar)?);

    // unpacked content
    let hex = &rec.layers[0]["sha256:".len()..];
    let diff = fx.root.join("layers").join(hex).join("diff");
    let bb = fs::symlink_metadata(diff.join("bin/busybox"))?;
    assert!(bb.is_file());
    assert_eq!(bb.permissions().mode() & 0o777, 0o755);
    assert_eq!(fs::read_link(diff.join("bin/sh"))?, Path::new("busybox"));
    assert!(fs::read_to_string(diff.join("etc/passwd"))?.contains("nobody"));

    // resolve by every name form
    let hexid = &rec.id["sha256:".len()..];
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "library/busybox",
        rec.id.as_str(),
        hexid,
        &hexid[..12],
        &hexid[..1],
        &format!("sha256:{}", &hexid[..5]),
    ] {
        assert_eq!(store.resolve(name)?.id, rec.id, "resolve {name}");
    }
    for missing in ["nope", "busybox:other", "zzzz", "BusyBox", ""] {
        let e = store.resolve(missing).err();
        assert_eq!(
            e.as_ref().map(Error::kind),
            Some(ErrorKind::NotFound),
            "{missing}: {e:?}"
        );
    }
    let list = store.list()?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0], rec);
    assert_eq!(store.config("busybox")?, rec.config);

    // survives reopen
    drop(store);
    let store = ImageStore::open(&fx.root)?;
    assert_eq!(store.resolve("busybox")?, rec);
    Ok(())
}

#[test]
fn gzip_import_has_same_diff_id_and_shares_layer() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    let store = ImageStore::open(&fx.root)?;
    let plain = import_file(&store, &fx.tar, Some("a"))?;
    let gz_path = fx.tar.with_extension("tar.gz");
    {
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz_path)?, flate2::Compression::fast());
        std::io::copy(&mut File::open(&fx.tar)?, &mut enc)?;
        enc.finish()?;
    }
    let gz = import_file(&store, &gz_path, Some("b"))?;
    let zst_path = fx.tar.with_extension("tar.zst");
    fs::write(&zst_path, zstd::encode_all(File::open(&fx.tar)?, 3)?)?;
    let zst = import_file(&store, &zst_path, Some("z"))?;
    assert_eq!(plain.layers, zst.layers, "zstd import has the same diff_id");
    let again = import_file(&store, &fx.tar, None)?;
    assert_eq!(plain.layers, gz.layers);
    assert_eq!(plain.layers, again.layers);
    assert_ne!(plain.id, gz.id, "created differs, so ids differ");
    assert_eq!(
        fs::read_dir(fx.root.join("layers"))?.count(),
        1,
        "layer stored once"
    );
    assert!(
        fs::read_dir(fx.root.join("tmp"))?.next().is_none(),
        "tmp is clean"
    );
    assert_eq!(store.list()?.len(), 4);

    // deleting two of three keeps the shared layer; deleting the last frees it
    store.remove("a", false, &never)?;
    store.remove("b", false, &never)?;
    store.remove("z", false, &never)?;
    assert_eq!(fs::read_dir(fx.root.join("layers"))?.count(), 1);
    let items = store.remove(&again.id, false, &never)?;
    assert_eq!(
        items,
        vec![
            RemovedItem::Deleted(again.id.clone()),
            RemovedItem::Deleted(again.layers[0].clone())
        ]
    );
    assert_eq!(fs::read_dir(fx.root.join("layers"))?.count(), 0);
    assert!(
        !store.content().contains(&again.layers[0]),
        "layer blob deleted"
    );
    assert!(!store.content().contains(&again.id), "config blob deleted");
    assert!(store.list()?.is_empty());
    Ok(())
}

#[test]
fn import_applies_changes_message_and_platform() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    let store = ImageStore::open(&fx.root)?;
    let rec = store.import(
        File::open(&fx.tar)?,
        ImportOptions {
            reference: Some("example.com/team/app:v1".into()),
            changes: vec![
                "CMD echo hi".into(),
                "ENV A=b C=d".into(),
                "EXPOSE 80/tcp".into(),
                "WORKDIR /x".into(),
                "USER nobody".into(),
                "LABEL k=v".into(),
            ],
            message: Some("my import".into()),
            platform: Some("linux/arm64".into()),
        },
    )?;
    assert_eq!(rec.repo_tags, vec!["example.com/team/app:v1".to_string()]);
    assert_eq!(rec.comment, "my import");
    assert_eq!(rec.config.architecture().to_string(), "arm64");
    let c = rec.config.config().clone().unwrap_or_default();
    assert_eq!(
        c.cmd().clone(),
        Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
    );
    assert_eq!(c.env().clone(), Some(vec!["A=b".into(), "C=d".into()]));
    assert_eq!(c.exposed_ports().clone(), Some(vec!["80/tcp".into()]));
    assert_eq!(c.working_dir().as_deref(), Some("/x"));
    assert_eq!(c.user().as_deref(), Some("nobody"));
    let raw: serde_json::Value = serde_json::from_slice(&store.content().read(&rec.id)?)?;
    assert_eq!(
        raw["config"]["ExposedPorts"],
        serde_json::json!({"80/tcp": {}})
    );

    // invalid options are rejected before anything is written
    let before = tree(&fx.root);
    for opts in [
        ImportOptions {
            changes: vec!["RUN x".into()],
            ..Default::default()
        },
        ImportOptions {
            reference: Some("Bad/Name".into()),
            ..Default::default()
        },
        ImportOptions {
            platform: Some("windows".into()),
            ..Default::default()
        },
    ] {
        let e = store.import(File::open(&fx.tar)?, opts).err();
        assert_eq!(
            e.as_ref().map(Error::kind),
            Some(ErrorKind::InvalidArgument),
            "{e:?}"
        );
    }
    assert_eq!(tree(&fx.root), before);
    Ok(())
}

#[test]
fn tag_untag_and_remove_semantics() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    let store = ImageStore::open(&fx.root)?;
    let img = import_file(&store, &fx.tar, Some("busybox"))?;
    let other = import_file(&store, &fx.tar, Some("other"))?;

    // bad targets
    for (bad, why) in [
        ("Busybox", "lowercase"),
        ("bad name", "invalid reference format"),
        ("a!b", "invalid reference format"),
        (
            "x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "digest",
        ),
    ] {
        match store.tag("busybox", bad) {
            Err(Error::InvalidReference { reason, .. }) => {
                assert!(reason.contains(why), "{bad}: {reason}")
            }
            r => panic!("{bad}: {r:?}"),
        }
    }
    assert!(matches!(
        store.tag("nope", "x"),
        Err(Error::NotFound { .. })
    ));

    store.tag("busybox", "mine:1")?;
    store.tag(&img.id, "localhost:5000/mine")?;
    // moving a tag
    store.tag("other", "mine:1")?;
    assert_eq!(store.resolve("mine:1")?.id, other.id);
    store.tag("busybox", "mine:1")?;
    let rec = store.resolve("busybox")?;
    assert_eq!(
        rec.repo_tags,
        vec!["busybox:latest", "localhost:5000/mine:latest", "mine:1"]
    );

    // by id with several tags: conflict unless forced
    let e = store.remove(&img.id, false, &never).err();
    assert_eq!(
        e.as_ref().map(Error::kind),
        Some(ErrorKind::Conflict),
        "{e:?}"
    );
    // by tag: untag only while other tags remain
    assert_eq!(
        store.remove("mine:1", false, &never)?,
        vec![RemovedItem::Untagged("mine:1".into())]
    );
    assert_eq!(
        store.remove("localhost:5000/mine", false, &always)?,
        vec![RemovedItem::Untagged("localhost:5000/mine:latest".into())]
    );
    // last tag, image in use: conflict; forced: untag only, image stays (dangling)
    let e = store.remove("busybox", false, &always).err();
    assert_eq!(
        e.as_ref().map(Error::kind),
        Some(ErrorKind::Conflict),
        "{e:?}"
    );
    assert_eq!(
        store.remove("busybox", true, &always)?,
        vec![RemovedItem::Untagged("busybox:latest".into())]
    );
    let dangling = store.resolve(&img.id)?;
    assert!(dangling.repo_tags.is_empty());
    // by id, in use: conflict; forced: nothing to untag, image stays
    let e = store.remove(&img.id, false, &always).err();
    assert_eq!(e.as_ref().map(Error::kind), Some(ErrorKind::Conflict));
    assert!(store.remove(&img.id, true, &always)?.is_empty());
    // by id prefix, not in use: deleted (layer shared with `other` stays)
    let prefix = &img.id[7..19];
    assert_eq!(
        store.remove(prefix, false, &never)?,
        vec![RemovedItem::Deleted(img.id.clone())]
    );
    assert!(matches!(
        store.resolve(&img.id),
        Err(Error::NotFound { .. })
    ));

    // by id, single tag, in use + force: untagged only
    store.tag("other", "second")?;
    assert_eq!(
        store.remove(&other.id, true, &always)?,
        vec![
            RemovedItem::Untagged("other:latest".into()),
            RemovedItem::Untagged("second:latest".into())
        ]
    );
    // forced by id with tags, not in use: untag all + delete image + layer
    store.tag(&other.id, "x1")?;
    store.tag(&other.id, "x2")?;
    let items = store.remove(&other.id, true, &never)?;
    assert_eq!(
        items,
        vec![
            RemovedItem::Untagged("x1:latest".into()),
            RemovedItem::Untagged("x2:latest".into()),
            RemovedItem::Deleted(other.id.clone()),
            RemovedItem::Deleted(other.layers[0].clone()),
        ]
    );
    assert!(store.list()?.is_empty());
    assert!(matches!(
        store.remove("busybox", false, &never),
        Err(Error::NotFound { .. })
    ));
    Ok(())
}

fn malicious_cases(sentinel: &Path) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let s = sentinel.to_string_lossy().into_owned();
    let rel_escape = format!("../../../../../../../..{s}/pwned");
    vec![
        (
            "dotdot",
            RawTar::new()
                .file("ok", b"x")
                .file("../pwned", b"evil")
                .into_bytes(),
            "'..'",
        ),
        (
            "dotdot-deep",
            RawTar::new().file(&rel_escape, b"evil").into_bytes(),
            "'..'",
        ),
        (
            "absolute",
            RawTar::new()
                .file(&format!("{s}/pwned"), b"evil")
                .into_bytes(),
            "absolute",
        ),
        (
            "symlink-escape",
            RawTar::new()
                .symlink("evil", &s)
                .file("evil/pwned", b"evil")
                .into_bytes(),
            "symbolic link",
        ),
        (
            "symlink-escape-dir",
            RawTar::new()
                .dir("d")
                .symlink("d/evil", "/")
                .dir("d/evil/x")
                .into_bytes(),
            "symbolic link",
        ),
        (
            "hardlink-dotdot",
            RawTar::new()
                .hardlink("hl", &format!("../../../../../../..{s}/file"))
                .into_bytes(),
            "'..'",
        ),
        (
            "hardlink-absolute",
            RawTar::new()
                .hardlink("hl", &format!("{s}/file"))
                .into_bytes(),
            "absolute",
        ),
        (
            "hardlink-through-symlink",
            RawTar::new()
                .symlink("evil", &s)
                .hardlink("hl", "evil/file")
                .into_bytes(),
            "not inside the layer",
        ),
        (
            "hardlink-to-dir",
            RawTar::new().dir("d").hardlink("hl", "d").into_bytes(),
            "is a directory",
        ),
        (
            "whiteout-dotdot",
            RawTar::new().dir("d").file("d/.wh...", b"").into_bytes(),
            "invalid whiteout",
        ),
        (
            "symlink-loop-parent",
            RawTar::new()
                .symlink("a", ".")
                .file("a/a/a/pwned", b"evil")
                .into_bytes(),
            "symbolic link",
        ),
        (
            "truncated",
            {
                let mut b = RawTar::new().file("big", &vec![7u8; 100_000]).into_bytes();
                b.truncate(20_000);
                b
            },
            "read",
        ),
    ]
}

#[test]
fn malicious_archives_are_rejected_and_leave_nothing() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let sentinel = tmp.path().join("sentinel");
    fs::create_dir(&sentinel)?;
    fs::write(sentinel.join("file"), b"precious")?;
    let root = tmp.path().join("store");
    let store = ImageStore::open(&root)?;
    // a good image first: the store must be unchanged by each failure
    store.import(
        &RawTar::new()
            .dir("bin")
            .file("bin/true", b"#!/bin/sh\n")
            .into_bytes()[..],
        ImportOptions {
            reference: Some("good".into()),
            ..Default::default()
        },
    )?;
    let before = tree(&root);
    let images_before = store.list()?;
    for (name, bytes, why) in malicious_cases(&sentinel) {
        let r = store.import(
            &bytes[..],
            ImportOptions {
                reference: Some("good".into()),
                ..Default::default()
            },
        );
        match r {
            Err(Error::InvalidArchive { entry, reason }) => {
                assert!(reason.contains(why), "{name}: {entry}: {reason}")
            }
            other => panic!("{name}: expected InvalidArchive, got {other:?}"),
        }
        let names: Vec<_> = fs::read_dir(&sentinel)?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{name}: sentinel dir changed: {names:?}");
        assert_eq!(fs::read(sentinel.join("file"))?, b"precious", "{name}");
        assert!(!tmp.path().join("pwned").exists(), "{name}");
        assert_eq!(tree(&root), before, "{name}: store changed");
        assert_eq!(store.list()?, images_before, "{name}");
    }
    Ok(())
}

#[test]
fn unpack_preserves_metadata_and_converts_whiteouts() -> TestResult {
    if !require(is_root(), "root") {
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    let mut t = RawTar::new();
    {
        let b = t.builder();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o750);
        h.set_uid(7);
        h.set_gid(8);
        h.set_mtime(1_500_000_000);
        h.set_size(0);
        b.append_data(&mut h, "d", std::io::empty())?;

        b.append_pax_extensions([
            ("SCHILY.xattr.user.k", &b"v"[..]),
            ("SCHILY.xattr.trusted.overlay.redirect", &b"/x"[..]),
        ])?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o4755);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mtime(1_600_000_000);
        h.set_size(5);
        b.append_data(&mut h, "d/suid", &b"hello"[..])?;

        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        b.append_link(&mut h, "d/hard", "d/suid")?;

        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Fifo);
        h.set_mode(0o600);
        h.set_size(0);
        b.append_data(&mut h, "fifo", std::io::empty())?;

        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Char);
        h.set_mode(0o666);
        h.set_size(0);
        h.set_device_major(1)?;
        h.set_device_minor(3)?;
        b.append_data(&mut h, "null", std::io::empty())?;

        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_uid(42);
        h.set_size(0);
        b.append_link(&mut h, "link", "/does/not/exist")?;

        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        b.append_data(&mut h, "w/.wh.gone", std::io::empty())?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        b.append_data(&mut h, "o/.wh..wh..opq", std::io::empty())?;
    }
    let bytes = t.into_bytes();
    let dst = tmp.path().join("layer");
    fs::create_dir(&dst)?;
    let (_, stats) = crate::unpack::unpack_layer(&bytes[..], &dst)?;
    assert_eq!(stats.tar_bytes, bytes.len() as u64, "whole stream consumed");

    let d = fs::symlink_metadata(dst.join("d"))?;
    assert_eq!(
        (d.mode() & 0o7777, d.uid(), d.gid(), d.mtime()),
        (0o750, 7, 8, 1_500_000_000)
    );
    let f = fs::symlink_metadata(dst.join("d/suid"))?;
    assert_eq!(
        (f.mode() & 0o7777, f.uid(), f.gid(), f.mtime()),
        (0o4755, 1234, 5678, 1_600_000_000)
    );
    assert_eq!(f.nlink(), 2, "hard link kept");
    assert_eq!(fs::symlink_metadata(dst.join("d/hard"))?.ino(), f.ino());
    assert_eq!(
        crate::sys::lgetxattr(&dst.join("d/suid"), "user.k")?,
        Some(b"v".to_vec())
    );
    assert_eq!(
        crate::sys::lgetxattr(&dst.join("d/suid"), "trusted.overlay.redirect")?,
        None
    );
    assert!(fs::symlink_metadata(dst.join("fifo"))?
        .file_type()
        .is_fifo());
    let n = fs::symlink_metadata(dst.join("null"))?;
    assert!(n.file_type().is_char_device());
    assert_eq!(n.rdev(), libc::makedev(1, 3));
    let l = fs::symlink_metadata(dst.join("link"))?;
    assert!(l.file_type().is_symlink());
    assert_eq!(l.uid(), 42);
    assert_eq!(
        fs::read_link(dst.join("link"))?,
        Path::new("/does/not/exist")
    );
    let w = fs::symlink_metadata(dst.join("w/gone"))?;
    assert!(
        w.file_type().is_char_device() && w.rdev() == 0,
        "whiteout is a 0/0 char device"
    );
    assert!(!dst.join("w/.wh.gone").exists());
    assert_eq!(
        crate::sys::lgetxattr(&dst.join("o"), "trusted.overlay.opaque")?,
        Some(b"y".to_vec())
    );
    assert!(!dst.join("o/.wh..wh..opq").exists());
    Ok(())
}

fn overlay_available(root: &Path) -> bool {
    let ok = is_root() && crate::OverlaySnapshotter::new().probe(root).is_ok();
    require(
        ok,
        "overlayfs mounts (root, overlay module, store not on overlayfs)",
    )
}

#[test]
fn overlay_snapshot_lifecycle_copy_on_write() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    fs::create_dir_all(&fx.root)?;
    if !overlay_available(&fx.root) {
        return Ok(());
    }
    let store = ImageStore::open(&fx.root)?;
    assert_eq!(store.snapshotter_kind(), SnapshotterKind::Overlay);
    let img = import_file(&store, &fx.tar, Some("busybox"))?;
    let layer = fx
        .root
        .join("layers")
        .join(&img.layers[0][7..])
        .join("diff");

    let key = "c0ffee";
    let mounts = store.prepare_snapshot(key, "busybox")?;
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].kind, "overlay");
    assert!(
        mounts[0]
            .options
            .contains(&format!("lowerdir={}", layer.display())),
        "{:?}",
        mounts[0]
    );
    assert_eq!(store.prepare_snapshot(key, &img.id)?, mounts, "idempotent");
    assert_eq!(store.snapshot_mounts(key)?, mounts);
    let other = import_file(&store, &fx.tar, None)?;
    assert_eq!(
        store
            .prepare_snapshot(key, &other.id)
            .err()
            .map(|e| e.kind()),
        Some(ErrorKind::Conflict)
    );

    let target = fx.root.join("mnt-target");
    let guard = MountGuard(target.clone());
    store.mount_snapshot(key, &target)?;
    assert!(crate::mount::is_mounted(&target));
    // the container sees the image, and runs
    let out = std::process::Command::new("chroot")
        .arg(&target)
        .args(["/bin/sh", "-c", "echo hi from $(cat /etc/group | head -1)"])
        .output()?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hi from root:x:0:"
    );
    // write: lands in upper only
    fs::write(target.join("etc/new"), b"n")?;
    fs::write(target.join("etc/passwd"), b"changed")?;
    assert!(!layer.join("etc/new").exists());
    assert!(fs::read_to_string(layer.join("etc/passwd"))?.contains("nobody"));
    let upper = fx.root.join("snapshots").join(key).join("upper");
    assert_eq!(fs::read(upper.join("etc/new"))?, b"n");
    // delete of a lower file: whiteout in upper, layer untouched
    fs::remove_file(target.join("bin/ls"))?;
    assert!(!target.join("bin/ls").exists());
    assert!(fs::symlink_metadata(layer.join("bin/ls")).is_ok());
    let wh = fs::symlink_metadata(upper.join("bin/ls"))?;
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(store.snapshot_usage(key)? >= 8);

    // removing a mounted snapshot is refused when mounted at its merged dir
    let merged = store.snapshot_merged_dir(key)?;
    let guard2 = MountGuard(merged.clone());
    store.mount_snapshot(key, &merged)?;
    assert_eq!(
        store.remove_snapshot(key).err().map(|e| e.kind()),
        Some(ErrorKind::Conflict)
    );
    ImageStore::unmount(&merged)?;
    drop(guard2);

    ImageStore::unmount(&target)?;
    ImageStore::unmount(&target)?; // idempotent
    assert!(!mountinfo_mentions(&target));

    // the snapshot keeps the layer alive after the image is deleted
    store.remove(&other.id, false, &never)?;
    let items = store.remove("busybox", false, &never)?;
    assert_eq!(
        items.len(),
        2,
        "untag + delete image, layer kept: {items:?}"
    );
    assert!(layer.exists());
    store.remove_snapshot(key)?;
    assert!(!fx.root.join("snapshots").join(key).exists());
    assert!(!layer.exists(), "last user gone: layer deleted");
    assert!(matches!(
        store.snapshot_mounts(key),
        Err(Error::SnapshotNotFound { .. })
    ));
    assert!(!mountinfo_mentions(&fx.root));
    drop(guard);
    Ok(())
}

#[test]
fn vfs_store_snapshot_works() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    if !require(is_root(), "root") {
        return Ok(());
    }
    let store = ImageStore::open_with_snapshotter(&fx.root, SnapshotterKind::Vfs)?;
    import_file(&store, &fx.tar, Some("busybox"))?;
    let mounts = store.prepare_snapshot("v1", "busybox")?;
    assert_eq!(mounts[0].kind, "bind");
    let target = fx.root.join("mnt-vfs");
    let _guard = MountGuard(target.clone());
    store.mount_snapshot("v1", &target)?;
    assert!(fs::read_to_string(target.join("etc/passwd"))?.contains("root"));
    assert_eq!(fs::read_link(target.join("bin/sh"))?, Path::new("busybox"));
    ImageStore::unmount(&target)?;
    assert!(!mountinfo_mentions(&target));
    store.remove_snapshot("v1")?;
    assert!(!fx.root.join("snapshots/v1").exists());
    Ok(())
}

#[test]
fn snapshot_keys_are_validated() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let store = ImageStore::open_with_snapshotter(&tmp.path().join("s"), SnapshotterKind::Vfs)?;
    for bad in ["", "../x", "a/b", ".hidden", &"k".repeat(129)] {
        assert_eq!(
            store.prepare_snapshot(bad, "x").err().map(|e| e.kind()),
            Some(ErrorKind::InvalidArgument),
            "{bad}"
        );
    }
    assert_eq!(
        store.prepare_snapshot("ok", "nope").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    assert_eq!(
        store.remove_snapshot("ok").err().map(|e| e.kind()),
        Some(ErrorKind::NotFound)
    );
    Ok(())
}

#[test]
fn open_cleans_leftovers() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("s");
    drop(ImageStore::open_with_snapshotter(
        &root,
        SnapshotterKind::Vfs,
    )?);
    fs::create_dir_all(root.join("tmp/import-dead/diff/x"))?;
    fs::create_dir_all(root.join("layers").join("ab".repeat(32)).join("diff"))?;
    fs::create_dir_all(root.join("snapshots/orphan/upper"))?;
    fs::write(root.join("ingest/ingest-dead"), b"x")?;
    drop(ImageStore::open_with_snapshotter(
        &root,
        SnapshotterKind::Vfs,
    )?);
    assert!(fs::read_dir(root.join("tmp"))?.next().is_none());
    assert!(fs::read_dir(root.join("layers"))?.next().is_none());
    assert!(fs::read_dir(root.join("snapshots"))?.next().is_none());
    assert!(fs::read_dir(root.join("ingest"))?.next().is_none());
    Ok(())
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ImageStore>();
}

#[test]
fn concurrent_imports_share_one_layer() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    let store = std::sync::Arc::new(ImageStore::open(&fx.root)?);
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let store = store.clone();
            let tar = fx.tar.clone();
            std::thread::spawn(move || -> crate::Result<crate::ImageRecord> {
                import_file(&store, &tar, Some(&format!("img{i}")))
            })
        })
        .collect();
    let mut layers = Vec::new();
    for h in handles {
        let rec = h.join().map_err(|_| "import thread panicked")??;
        layers.push(rec.layers);
    }
    layers.dedup();
    assert_eq!(layers.len(), 1);
    assert_eq!(fs::read_dir(fx.root.join("layers"))?.count(), 1);
    assert!(fs::read_dir(fx.root.join("tmp"))?.next().is_none());
    assert!(fs::read_dir(fx.root.join("ingest"))?.next().is_none());
    assert_eq!(store.list()?.len(), 3);
    Ok(())
}

#[test]
fn corrupt_and_unsupported_streams_leave_nothing() -> TestResult {
    let Some(fx) = fixture() else { return Ok(()) };
    let store = ImageStore::open(&fx.root)?;
    let before = tree(&fx.root);
    let plain = fs::read(&fx.tar)?;
    let mut gz = Vec::new();
    {
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &plain)?;
        enc.finish()?;
    }
    let mut truncated_gz = gz.clone();
    truncated_gz.truncate(gz.len() / 2);
    let mut corrupt_gz = gz.clone();
    let mid = corrupt_gz.len() / 2;
    for b in &mut corrupt_gz[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let zstd = [0x28u8, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
    let cases: Vec<(&str, &[u8])> = vec![
        ("truncated gzip", &truncated_gz),
        ("corrupt gzip", &corrupt_gz),
        ("truncated tar", &plain[..plain.len() / 3]),
        ("truncated zstd", &zstd),
        ("empty", &[]),
        (
            "garbage",
            b"this is not a tar archive at all, just some text......",
        ),
    ];
    for (name, bytes) in cases {
        let e = store.import(bytes, ImportOptions::default()).err();
        assert_eq!(
            e.as_ref().map(Error::kind),
            Some(ErrorKind::InvalidArgument),
            "{name}: {e:?}"
        );
        assert_eq!(tree(&fx.root), before, "{name}: store changed");
    }
    Ok(())
}

/// Register a synthetic image of `n` layers directly in the database (pull does not exist yet):
/// layer i holds `f{i}` and overwrites `common` with `i`.
fn synthetic_image(store: &ImageStore, n: usize) -> crate::Result<(String, Vec<String>)> {
    let mut conn = store.lock();
    let tx = conn.transaction().map_err(Error::db("begin"))?;
    let mut chains = Vec::new();
    let mut parent: Option<String> = None;
    for i in 0..n {
        let chain = crate::content::sha256_digest(format!("layer {i}").as_bytes());
        let diff = store.layer_dir(&chain)?.join("diff");
        fs::create_dir_all(&diff).map_err(|e| Error::io("mkdir", &diff, e))?;
        fs::write(diff.join(format!("f{i}")), b"x").map_err(|e| Error::io("write", &diff, e))?;
        fs::write(diff.join("common"), i.to_string()).map_err(|e| Error::io("write", &diff, e))?;
        tx.execute(
            "INSERT INTO layers (chain_id, diff_id, parent, size, blob) VALUES (?1, ?1, ?2, 1, NULL)",
            rusqlite::params![chain, parent],
        )
        .map_err(Error::db("insert layer"))?;
        parent = Some(chain.clone());
        chains.push(chain);
    }
    let id = crate::content::sha256_digest(b"synthetic image");
    tx.execute(
        "INSERT INTO images (id, created, size) VALUES (?1, '2020-01-01T00:00:00Z', 0)",
        [&id],
    )
    .map_err(Error::db("insert image"))?;
    for (i, c) in chains.iter().enumerate() {
        tx.execute(
            "INSERT INTO image_layers (image_id, idx, chain_id) VALUES (?1, ?2, ?3)",
            rusqlite::params![id, i as i64, c],
        )
        .map_err(Error::db("insert image layer"))?;
    }
    tx.commit().map_err(Error::db("commit"))?;
    Ok((id, chains))
}

#[test]
fn overlay_many_layers_use_short_links() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("store");
    fs::create_dir_all(&root)?;
    if !overlay_available(&root) {
        return Ok(());
    }
    let store = ImageStore::open_with_snapshotter(&root, SnapshotterKind::Overlay)?;
    let n = 90;
    let (id, chains) = synthetic_image(&store, n)?;
    let mounts = store.prepare_snapshot("many", &id)?;
    let lowerdir = mounts[0]
        .options
        .iter()
        .find_map(|o| o.strip_prefix("lowerdir="))
        .unwrap_or_default()
        .to_string();
    assert_eq!(lowerdir.split(':').count(), n);
    assert!(lowerdir.contains("/l/"), "short links used: {lowerdir}");
    let target = tmp.path().join("rootfs");
    let _guard = MountGuard(target.clone());
    store.mount_snapshot("many", &target)?;
    assert_eq!(
        fs::read_to_string(target.join("common"))?,
        (n - 1).to_string()
    );
    for i in 0..n {
        assert!(target.join(format!("f{i}")).exists(), "f{i}");
    }
    ImageStore::unmount(&target)?;
    store.remove_snapshot("many")?;
    let items = store.remove(&id, false, &never)?;
    assert_eq!(items.len(), n + 1);
    assert_eq!(
        fs::read_dir(root.join("l"))?.count(),
        0,
        "links removed with their layers"
    );
    assert_eq!(fs::read_dir(root.join("layers"))?.count(), 0);
    assert!(!chains.is_empty());
    Ok(())
}

#[test]
fn unpack_replaces_entries_without_following_links() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let outside = tmp.path().join("outside");
    fs::write(&outside, b"keep")?;
    let dst = tmp.path().join("layer");
    fs::create_dir(&dst)?;
    let bytes = RawTar::new()
        // a symlink to a file outside, then a regular file of the same name: the link is
        // replaced, never written through
        .symlink("f", &outside.to_string_lossy())
        .file("f", b"inside")
        // a directory replaced by a file, and a file replaced by a directory
        .dir("d")
        .file("d/x", b"x")
        .file("d", b"now a file")
        .file("e", b"file")
        .dir("e")
        // a hard link to a symlink links the symlink itself
        .symlink("s", &outside.to_string_lossy())
        .hardlink("s2", "s")
        .into_bytes();
    crate::unpack::unpack_layer(&bytes[..], &dst)?;
    assert_eq!(fs::read(&outside)?, b"keep");
    assert_eq!(fs::read(dst.join("f"))?, b"inside");
    assert!(fs::symlink_metadata(dst.join("f"))?.is_file());
    assert_eq!(fs::read(dst.join("d"))?, b"now a file");
    assert!(fs::symlink_metadata(dst.join("e"))?.is_dir());
    assert!(fs::symlink_metadata(dst.join("s2"))?
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&outside)?, b"keep");
    Ok(())
}
