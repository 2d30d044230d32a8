//! One contract suite, run against every [`Snapshotter`] implementation.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{OverlaySnapshotter, Snapshotter, VfsSnapshotter};
use crate::mount;
use crate::test_support::*;
use crate::unpack::unpack_layer;

/// Two layers in overlay format, unpacked from tars (so whiteouts go through the real path).
/// Returns [top, base] (top-most first, as snapshotters take them).
fn layers(dir: &Path) -> std::result::Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let base = dir.join("base");
    let top = dir.join("top");
    fs::create_dir_all(&base)?;
    fs::create_dir_all(&top)?;
    let base_tar = RawTar::new()
        .file("a", b"base a")
        .file("keep", b"keep")
        .dir("d")
        .file("d/x", b"x")
        .file("d/y", b"y")
        .dir("sub")
        .dir("sub/deep")
        .file("sub/deep/file", b"deep")
        .file("h1", b"linked")
        .hardlink("h2", "h1")
        .symlink("ln", "keep")
        .into_bytes();
    unpack_layer(&base_tar[..], &base)?;
    let top_tar = RawTar::new()
        .file(".wh.a", b"")
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("d/z", b"z")
        .file("top", b"top")
        .into_bytes();
    unpack_layer(&top_tar[..], &top)?;
    // the root of the top layer decides the mode of the container's `/`
    fs::set_permissions(&top, fs::Permissions::from_mode(0o751))?;
    Ok(vec![top, base])
}

fn fingerprint(dirs: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for d in dirs {
        for rel in tree(d) {
            let p = d.join(&rel);
            let data = if fs::symlink_metadata(&p)
                .map(|m| m.is_file())
                .unwrap_or(false)
            {
                fs::read(&p).unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push((format!("{}/{rel}", d.display()), data));
        }
    }
    out
}

fn contract(s: &dyn Snapshotter) -> TestResult {
    let tmp = tempfile::tempdir()?;
    let lowers = layers(tmp.path())?;
    let before = fingerprint(&lowers);
    let dir = tmp.path().join("snap");
    let target = tmp.path().join("rootfs");
    let _guard = MountGuard(target.clone());

    let mounts = s.prepare(&dir, &lowers)?;
    assert!(!mounts.is_empty());
    assert_eq!(s.prepare(&dir, &lowers)?, mounts, "prepare is idempotent");
    assert_eq!(s.mounts(&dir, &lowers)?, mounts);
    mount::mount_all(&mounts, &target)?;
    assert!(mount::is_mounted(&target));

    assert_eq!(fs::metadata(&target)?.permissions().mode() & 0o7777, 0o751);
    // the merged view: whiteouts and opaque dirs applied
    assert!(!target.join("a").exists(), "whiteout hides a");
    assert_eq!(fs::read(target.join("keep"))?, b"keep");
    let mut d: Vec<_> = fs::read_dir(target.join("d"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    d.sort();
    assert_eq!(d, vec!["z"], "opaque dir hides lower entries");
    assert_eq!(fs::read(target.join("top"))?, b"top");
    assert_eq!(fs::read(target.join("sub/deep/file"))?, b"deep");
    assert_eq!(fs::read_link(target.join("ln"))?, Path::new("keep"));
    assert_eq!(fs::read(target.join("h2"))?, b"linked");

    // copy-on-write: changes never reach the layers
    fs::write(target.join("new"), b"0123456789")?;
    fs::write(target.join("keep"), b"changed")?;
    fs::remove_file(target.join("sub/deep/file"))?;
    fs::rename(target.join("top"), target.join("top2"))?;
    fs::remove_dir_all(target.join("d"))?;
    assert_eq!(fs::read(target.join("keep"))?, b"changed");
    assert!(!target.join("sub/deep/file").exists());
    assert_eq!(
        fingerprint(&lowers),
        before,
        "{:?}: lowers modified",
        s.kind()
    );
    assert!(s.usage(&dir)? >= 10, "usage counts the new file");

    mount::unmount(&target)?;
    assert!(!mount::is_mounted(&target));
    // a second mount of the same snapshot sees the earlier changes
    mount::mount_all(&s.mounts(&dir, &lowers)?, &target)?;
    assert_eq!(fs::read(target.join("new"))?, b"0123456789");
    mount::unmount(&target)?;

    s.remove(&dir)?;
    assert!(!dir.exists());
    assert!(!mountinfo_mentions(tmp.path()), "nothing left mounted");
    assert_eq!(fingerprint(&lowers), before);

    // an image without layers works too
    let empty = tmp.path().join("empty-snap");
    let m = s.prepare(&empty, &[])?;
    mount::mount_all(&m, &target)?;
    assert_eq!(fs::read_dir(&target)?.count(), 0);
    mount::unmount(&target)?;
    s.remove(&empty)?;
    Ok(())
}

#[test]
fn overlay_contract() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let s = OverlaySnapshotter::new();
    let ok = is_root() && s.probe(tmp.path()).is_ok();
    if !require(ok, "overlayfs mounts") {
        return Ok(());
    }
    contract(&s)
}

#[test]
fn vfs_contract() -> TestResult {
    if !require(is_root(), "root (bind mounts)") {
        return Ok(());
    }
    contract(&VfsSnapshotter::new())
}
