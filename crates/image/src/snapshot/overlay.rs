//! Overlay snapshotter: one overlay mount per snapshot.

use std::fs;
use std::path::{Path, PathBuf};

use super::{disk_usage, remove_dir, Snapshotter, SnapshotterKind};
use crate::error::{Error, Result};
use crate::mount::{self, Mount};

/// Overlayfs-backed snapshots: `dir/upper` and `dir/work` on top of the layer diffs.
///
/// Layout of a snapshot dir: `upper/` (the container's changes, whiteouts as 0/0 char devices),
/// `work/` (overlay's scratch), `merged/` (a conventional mount point), `empty/` (only for images
/// with no layers: overlay needs at least one lowerdir).
#[derive(Debug, Clone, Default)]
pub struct OverlaySnapshotter {
    extra_options: Vec<String>,
}

// The kernel copies mount data into one page; longer lowerdir lists fail with EINVAL.
const MAX_MOUNT_DATA: usize = 4000;

impl OverlaySnapshotter {
    /// A snapshotter with options suited to the running kernel (`index=off` where the overlay
    /// module enables the inodes index by default: with it, a layer may not be the lowerdir of
    /// two mounts whose upper dirs differ in a way the index has recorded).
    pub fn new() -> OverlaySnapshotter {
        let index_on = fs::read_to_string("/sys/module/overlay/parameters/index")
            .map(|s| s.trim() == "Y")
            .unwrap_or(false);
        let extra_options = if index_on {
            vec!["index=off".to_string()]
        } else {
            Vec::new()
        };
        OverlaySnapshotter { extra_options }
    }

    /// Check that an overlay with its upper dir under `scratch` can be mounted (fails e.g. when
    /// `scratch` is itself on overlayfs). Cleans up after itself.
    pub fn probe(&self, scratch: &Path) -> Result<()> {
        let dir = scratch.join(format!("overlay-probe-{}", crate::content::random_hex(6)?));
        let lower = dir.join("lower");
        let result = (|| {
            fs::create_dir_all(&lower).map_err(|e| Error::io("create dir", &lower, e))?;
            fs::write(lower.join("f"), b"x").map_err(|e| Error::io("write", &lower, e))?;
            let mounts = self.prepare(&dir.join("snap"), std::slice::from_ref(&lower))?;
            let target = dir.join("snap").join("merged");
            mount::mount_all(&mounts, &target)?;
            let ok = fs::read(target.join("f"))
                .map(|b| b == b"x")
                .unwrap_or(false);
            mount::unmount(&target)?;
            if ok {
                Ok(())
            } else {
                Err(Error::Unsupported {
                    what: "overlay mount does not show the lower layer".into(),
                })
            }
        })();
        let _ = mount::unmount(&dir.join("snap").join("merged"));
        let _ = fs::remove_dir_all(&dir);
        result
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn kind(&self) -> SnapshotterKind {
        SnapshotterKind::Overlay
    }

    fn prepare(&self, dir: &Path, lowers: &[PathBuf]) -> Result<Vec<Mount>> {
        let existed = dir.exists();
        let result = (|| {
            for sub in ["upper", "work", "merged"] {
                let p = dir.join(sub);
                fs::create_dir_all(&p).map_err(|e| Error::io("create dir", &p, e))?;
            }
            if lowers.is_empty() {
                let p = dir.join("empty");
                fs::create_dir_all(&p).map_err(|e| Error::io("create dir", &p, e))?;
            }
            if !existed {
                // The merged root takes its owner and mode from upper/: copy them from the top
                // layer (as Docker's overlay2 does), not from the daemon's umask.
                super::copy_root_meta(lowers.first().map(PathBuf::as_path), &dir.join("upper"))?;
            }
            self.mounts(dir, lowers)
        })();
        if result.is_err() && !existed {
            let _ = remove_dir(dir);
        }
        result
    }

    fn mounts(&self, dir: &Path, lowers: &[PathBuf]) -> Result<Vec<Mount>> {
        let lowerdir = if lowers.is_empty() {
            dir.join("empty").to_string_lossy().into_owned()
        } else {
            lowers
                .iter()
                .map(|l| l.to_string_lossy())
                .collect::<Vec<_>>()
                .join(":")
        };
        let mut options = vec![
            format!("lowerdir={lowerdir}"),
            format!("upperdir={}", dir.join("upper").display()),
            format!("workdir={}", dir.join("work").display()),
        ];
        options.extend(self.extra_options.iter().cloned());
        let len: usize = options.iter().map(|o| o.len() + 1).sum();
        if len > MAX_MOUNT_DATA {
            return Err(Error::Unsupported {
                what: format!(
                    "overlay mount options for {} layers exceed one page ({len} bytes)",
                    lowers.len()
                ),
            });
        }
        Ok(vec![Mount {
            kind: "overlay".into(),
            source: "overlay".into(),
            options,
        }])
    }

    fn usage(&self, dir: &Path) -> Result<u64> {
        disk_usage(&dir.join("upper"))
    }

    fn remove(&self, dir: &Path) -> Result<()> {
        remove_dir(dir)
    }
}
