//! Docker's copy-up: a new, empty volume mounted over a path that holds content in the image
//! starts as a copy of that content, with ownership, modes and timestamps kept.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;

use crate::error::{Error, Result};
use crate::user::resolve_in_root;

/// Copies what the container would see at `destination` (resolved inside `rootfs`, never
/// through a symlink out of it) into `volume_dir`, if `volume_dir` is empty and the image has a
/// directory there. Returns whether anything was copied.
///
/// The source is the container's own filesystem before its first start; symlinks inside it are
/// copied as symlinks, never followed, so an image cannot make the daemon read host files.
pub(crate) fn copy_up(rootfs: &Path, destination: &str, volume_dir: &Path) -> Result<bool> {
    let Some(source) = resolve_in_root(rootfs, Path::new(destination)) else {
        return Ok(false);
    };
    let meta = match fs::symlink_metadata(&source) {
        Ok(m) if m.is_dir() => m,
        _ => return Ok(false),
    };
    let mut entries = fs::read_dir(volume_dir).map_err(|e| Error::io("read", volume_dir, e))?;
    if entries.next().is_some() {
        return Ok(false);
    }
    copy_dir_contents(&source, volume_dir)?;
    // Docker also gives the volume's root the image directory's owner and mode.
    copy_metadata(&meta, volume_dir)?;
    Ok(true)
}

fn copy_dir_contents(source: &Path, target: &Path) -> Result<()> {
    for entry in fs::read_dir(source).map_err(|e| Error::io("read", source, e))? {
        let entry = entry.map_err(|e| Error::io("read", source, e))?;
        let from = entry.path();
        let to = target.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(|e| Error::io("stat", &from, e))?;
        let file_type = meta.file_type();
        if file_type.is_dir() {
            fs::create_dir(&to).map_err(|e| Error::io("create", &to, e))?;
            copy_dir_contents(&from, &to)?;
        } else if file_type.is_symlink() {
            let link = fs::read_link(&from).map_err(|e| Error::io("readlink", &from, e))?;
            std::os::unix::fs::symlink(&link, &to).map_err(|e| Error::io("symlink", &to, e))?;
        } else if file_type.is_file() {
            fs::copy(&from, &to).map_err(|e| Error::io("copy", &from, e))?;
        } else {
            let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
            if kind == SFlag::S_IFSOCK {
                // A socket is only meaningful with its listener; Docker skips them too.
                continue;
            }
            nix::sys::stat::mknod(
                &to,
                kind,
                Mode::from_bits_truncate(meta.mode()),
                meta.rdev(),
            )
            .map_err(|e| Error::io("mknod", &to, e.into()))?;
        }
        copy_metadata(&meta, &to)?;
    }
    Ok(())
}

/// Owner, mode (directories and files) and timestamps of `meta` onto `path`, without
/// following a symlink at `path`.
fn copy_metadata(meta: &fs::Metadata, path: &Path) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()))
        .map_err(|e| Error::io("chown", path, e))?;
    let is_link = meta.file_type().is_symlink();
    if !is_link {
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| Error::io("chmod", path, e))?;
    }
    let times = [
        TimeSpec::new(meta.atime(), meta.atime_nsec()),
        TimeSpec::new(meta.mtime(), meta.mtime_nsec()),
    ];
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &times[0],
        &times[1],
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::io("set times of", path, e.into()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_content_with_modes_and_owners_and_keeps_links_inside() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        fs::create_dir_all(etc.join("sub")).unwrap();
        fs::write(etc.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::set_permissions(etc.join("passwd"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::lchown(etc.join("sub"), Some(1234), Some(4321)).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", etc.join("evil")).unwrap();
        // The destination goes through a symlink: it must resolve inside the root.
        std::os::unix::fs::symlink("/etc", root.path().join("conf")).unwrap();

        let volume = tempfile::tempdir().unwrap();
        assert!(copy_up(root.path(), "/conf", volume.path()).unwrap());
        let passwd = volume.path().join("passwd");
        assert_eq!(
            fs::read_to_string(&passwd).unwrap(),
            "root:x:0:0::/root:/bin/sh\n"
        );
        assert_eq!(fs::metadata(&passwd).unwrap().mode() & 0o7777, 0o640);
        let sub = fs::metadata(volume.path().join("sub")).unwrap();
        assert_eq!((sub.uid(), sub.gid()), (1234, 4321));
        assert_eq!(
            fs::read_link(volume.path().join("evil")).unwrap(),
            Path::new("/etc/shadow")
        );

        // A volume with content is left alone; a missing image path copies nothing.
        fs::write(etc.join("new"), "x").unwrap();
        assert!(!copy_up(root.path(), "/etc", volume.path()).unwrap());
        assert!(!volume.path().join("new").exists());
        let empty = tempfile::tempdir().unwrap();
        assert!(!copy_up(root.path(), "/nope", empty.path()).unwrap());
    }
}
