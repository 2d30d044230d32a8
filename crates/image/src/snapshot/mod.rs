//! Snapshotters: writable container layers on top of unpacked image layers.
//!
//! Layer directories (`layers/<chain>/diff`) hold each layer's content in overlay format
//! (whiteouts are 0/0 char devices, opaque directories carry `trusted.overlay.opaque=y`).
//! A snapshotter turns an ordered list of them plus a per-snapshot directory into mounts.

mod overlay;
mod vfs;

use std::path::{Path, PathBuf};

pub use overlay::OverlaySnapshotter;
pub use vfs::VfsSnapshotter;

use crate::error::Result;
use crate::mount::Mount;

/// Which snapshotter backs a snapshot (stored with each snapshot record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotterKind {
    /// one overlay mount: layer diffs as lowerdirs, `upper/` + `work/` writable
    Overlay,
    /// a full copy of the layers in `upper/`, bind-mounted (for where overlay is unavailable)
    Vfs,
}

impl SnapshotterKind {
    /// Stable name, as stored in the database: "overlay" or "vfs".
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotterKind::Overlay => "overlay",
            SnapshotterKind::Vfs => "vfs",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<SnapshotterKind> {
        match s {
            "overlay" => Some(SnapshotterKind::Overlay),
            "vfs" => Some(SnapshotterKind::Vfs),
            _ => None,
        }
    }
}

/// The writable-layer seam (overlay by default, vfs as a fallback).
///
/// Contract (the image store guarantees the preconditions and holds its lock around calls):
/// - `dir` is a directory owned exclusively by one snapshot (`snapshots/<key>`). `prepare` creates
///   it if needed and fills it; it never modifies the `lowers` (layer diffs, top-most first).
///   `prepare` on a dir already prepared over the same lowers returns the same mounts.
///   If `prepare` fails, it removes what it created.
/// - the returned mounts, applied in order to one target, yield the image's root filesystem with
///   copy-on-write semantics: writes, deletes and renames through the mount never reach `lowers`.
/// - `mounts` describes an already prepared snapshot without touching the disk.
/// - `usage` is the number of bytes in the writable part (regular files and symlinks, hard links
///   once).
/// - `remove` deletes `dir` entirely; the caller must have unmounted every mount of it first.
pub trait Snapshotter: Send + Sync + std::fmt::Debug {
    /// Which implementation this is.
    fn kind(&self) -> SnapshotterKind;
    /// Create the writable layer in `dir` over `lowers` (top-most first) and return its mounts.
    fn prepare(&self, dir: &Path, lowers: &[PathBuf]) -> Result<Vec<Mount>>;
    /// The mounts of a prepared snapshot.
    fn mounts(&self, dir: &Path, lowers: &[PathBuf]) -> Result<Vec<Mount>>;
    /// Bytes in the writable part.
    fn usage(&self, dir: &Path) -> Result<u64>;
    /// Delete the snapshot directory (caller unmounted first).
    fn remove(&self, dir: &Path) -> Result<()>;
}

/// Bytes (apparent sizes, as Docker's `directory.Size`) of regular files and symlinks under
/// `dir`, counting each inode once; a missing `dir` is 0.
pub fn disk_usage(dir: &Path) -> Result<u64> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::Error::io("read dir", &d, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| crate::Error::io("read dir", &d, e))?;
            let p = ent.path();
            let m = std::fs::symlink_metadata(&p).map_err(|e| crate::Error::io("lstat", &p, e))?;
            if m.is_dir() {
                stack.push(p);
            } else if (m.is_file() || m.file_type().is_symlink())
                && (m.nlink() <= 1 || seen.insert((m.dev(), m.ino())))
            {
                total += m.size();
            }
        }
    }
    Ok(total)
}

/// Give `dst` the owner and permission bits of `src` (0755 root:root without a source).
pub(crate) fn copy_root_meta(src: Option<&Path>, dst: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (uid, gid, mode) = match src {
        Some(s) => {
            let m = std::fs::symlink_metadata(s).map_err(|e| crate::Error::io("lstat", s, e))?;
            (m.uid(), m.gid(), m.mode() & 0o7777)
        }
        None => (0, 0, 0o755),
    };
    crate::sys::lchown(dst, uid, gid).map_err(|e| crate::Error::io("lchown", dst, e))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))
        .map_err(|e| crate::Error::io("chmod", dst, e))
}

pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::Error::io("remove snapshot dir", dir, e)),
    }
}

#[cfg(test)]
mod contract_tests;
