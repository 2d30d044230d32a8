//! Vfs snapshotter: a full copy of the layers, for where overlay cannot be mounted
//! (e.g. the store itself sits on overlayfs).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{disk_usage, remove_dir, Snapshotter, SnapshotterKind};
use crate::error::{Error, Result};
use crate::mount::Mount;
use crate::sys;
use crate::unpack::OVERLAY_OPAQUE_XATTR;

/// Copy-based snapshots: `dir/upper` holds the whole root filesystem (layers applied bottom-up,
/// whiteouts honoured), bind-mounted by the returned mount. `dir/prepared` marks completion.
#[derive(Debug, Clone, Default)]
pub struct VfsSnapshotter;

impl VfsSnapshotter {
    /// A new vfs snapshotter (stateless).
    pub fn new() -> VfsSnapshotter {
        VfsSnapshotter
    }
}

impl Snapshotter for VfsSnapshotter {
    fn kind(&self) -> SnapshotterKind {
        SnapshotterKind::Vfs
    }

    fn prepare(&self, dir: &Path, lowers: &[PathBuf]) -> Result<Vec<Mount>> {
        let marker = dir.join("prepared");
        if marker.exists() {
            return self.mounts(dir, lowers);
        }
        let existed = dir.exists();
        let result = (|| {
            let upper = dir.join("upper");
            if upper.exists() {
                // an earlier prepare died half-way: start over
                fs::remove_dir_all(&upper).map_err(|e| Error::io("remove dir", &upper, e))?;
            }
            for sub in ["upper", "merged"] {
                let p = dir.join(sub);
                fs::create_dir_all(&p).map_err(|e| Error::io("create dir", &p, e))?;
            }
            for lower in lowers.iter().rev() {
                copy_layer(lower, &upper)?;
            }
            super::copy_root_meta(lowers.first().map(PathBuf::as_path), &upper)?;
            fs::write(&marker, b"").map_err(|e| Error::io("write", &marker, e))?;
            self.mounts(dir, lowers)
        })();
        if result.is_err() && !existed {
            let _ = remove_dir(dir);
        }
        result
    }

    fn mounts(&self, dir: &Path, _lowers: &[PathBuf]) -> Result<Vec<Mount>> {
        Ok(vec![Mount {
            kind: "bind".into(),
            source: dir.join("upper").to_string_lossy().into_owned(),
            options: vec!["rbind".into(), "rw".into()],
        }])
    }

    fn usage(&self, dir: &Path) -> Result<u64> {
        disk_usage(&dir.join("upper"))
    }

    fn remove(&self, dir: &Path) -> Result<()> {
        remove_dir(dir)
    }
}

/// Apply one overlay-format layer directory onto `dst`.
fn copy_layer(src: &Path, dst: &Path) -> Result<()> {
    let mut links = HashMap::new();
    if is_opaque(src)? {
        clear_dir(dst)?;
    }
    copy_dir_contents(src, dst, &mut links)
}

fn is_opaque(dir: &Path) -> Result<bool> {
    Ok(sys::lgetxattr(dir, OVERLAY_OPAQUE_XATTR)
        .map_err(|e| Error::io("get xattr", dir, e))?
        .is_some_and(|v| v == b"y"))
}

fn clear_dir(dir: &Path) -> Result<()> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("read dir", dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("read dir", dir, e))?;
        remove_path(&ent.path())?;
    }
    Ok(())
}

fn remove_path(p: &Path) -> Result<()> {
    let r = match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| Error::io("remove", p, e))
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<()> {
    let rd = fs::read_dir(src).map_err(|e| Error::io("read dir", src, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("read dir", src, e))?;
        let s = ent.path();
        let d = dst.join(ent.file_name());
        let m = fs::symlink_metadata(&s).map_err(|e| Error::io("lstat", &s, e))?;
        let ft = m.file_type();
        if ft.is_char_device() && m.rdev() == 0 {
            // whiteout: hide the lower entry
            remove_path(&d)?;
            continue;
        }
        let existing = fs::symlink_metadata(&d).ok();
        if ft.is_dir() {
            match existing {
                Some(e) if e.is_dir() => {
                    if is_opaque(&s)? {
                        clear_dir(&d)?;
                    }
                }
                Some(_) => {
                    remove_path(&d)?;
                    fs::create_dir(&d).map_err(|e| Error::io("create dir", &d, e))?;
                }
                None => fs::create_dir(&d).map_err(|e| Error::io("create dir", &d, e))?,
            }
            copy_dir_contents(&s, &d, links)?;
            copy_meta(&s, &d, &m, false)?;
            continue;
        }
        if existing.is_some() {
            remove_path(&d)?;
        }
        if m.nlink() > 1 && !ft.is_dir() {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                fs::hard_link(first, &d).map_err(|e| Error::io("hard link", &d, e))?;
                continue;
            }
            links.insert((m.dev(), m.ino()), d.clone());
        }
        if ft.is_file() {
            fs::copy(&s, &d).map_err(|e| Error::io("copy", &d, e))?;
            copy_meta(&s, &d, &m, false)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&s).map_err(|e| Error::io("read link", &s, e))?;
            std::os::unix::fs::symlink(&target, &d).map_err(|e| Error::io("symlink", &d, e))?;
            copy_meta(&s, &d, &m, true)?;
        } else {
            let kind = if ft.is_char_device() {
                libc::S_IFCHR
            } else if ft.is_block_device() {
                libc::S_IFBLK
            } else if ft.is_fifo() {
                libc::S_IFIFO
            } else {
                tracing::warn!(path = %s.display(), "skipping socket in layer");
                continue;
            };
            let rdev = m.rdev();
            sys::mknod(&d, kind, 0o600, libc::major(rdev), libc::minor(rdev))
                .map_err(|e| Error::io("mknod", &d, e))?;
            copy_meta(&s, &d, &m, false)?;
        }
    }
    Ok(())
}

fn copy_meta(src: &Path, dst: &Path, m: &fs::Metadata, symlink: bool) -> Result<()> {
    sys::lchown(dst, m.uid(), m.gid()).map_err(|e| Error::io("lchown", dst, e))?;
    if !symlink {
        fs::set_permissions(dst, fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(|e| Error::io("chmod", dst, e))?;
    }
    for name in sys::llistxattr(src).map_err(|e| Error::io("list xattrs", src, e))? {
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(v) = sys::lgetxattr(src, &name).map_err(|e| Error::io("get xattr", src, e))? {
            if let Err(e) = sys::lsetxattr(dst, &name, &v) {
                if !(symlink || e.raw_os_error() == Some(libc::ENOTSUP)) {
                    return Err(Error::io("set xattr", dst, e));
                }
            }
        }
    }
    sys::lutimes(dst, m.mtime(), m.mtime_nsec()).map_err(|e| Error::io("set times", dst, e))
}
