//! Per-container writable snapshots on top of image layers.

use std::fs;
use std::path::{Path, PathBuf};

// Leave room in the page for upperdir, workdir and flags.
const LOWERDIR_BUDGET: usize = 3600;

use chrono::{SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use crate::db;
use crate::error::{Error, Result};
use crate::mount::{self, Mount};
use crate::snapshot::SnapshotterKind;
use crate::store::{resolve_id, ImageStore};

impl ImageStore {
    /// Create the writable snapshot `key` on top of the layers of the image `image_id` (any name
    /// [`resolve`](Self::resolve) takes) and return how to mount it: with overlay, one mount with
    /// `lowerdir` = layer diffs top-most first, `upperdir` and `workdir` under
    /// `snapshots/<key>/`. The snapshot keeps its layers alive until removed, even if the image is
    /// deleted. Idempotent: an existing key for the same image returns its mounts; for another
    /// image it is a [`Error::Conflict`]. Keys are 1-128 chars of `[A-Za-z0-9_.-]`, not starting
    /// with `.`.
    pub fn prepare_snapshot(&self, key: &str, image_id: &str) -> Result<Vec<Mount>> {
        validate_key(key)?;
        let mut conn = self.lock();
        let image = resolve_id(&conn, image_id)?.id;
        if let Some((existing_image, kind)) = snapshot_row(&conn, key)? {
            if existing_image != image {
                return Err(Error::Conflict {
                    message: format!("snapshot {key} already exists for image {existing_image}"),
                });
            }
            let lowers = self.lowers(&db::snapshot_chains(&conn, key)?)?;
            return self
                .snapshotter(kind)
                .mounts(&self.snapshot_dir(key), &lowers);
        }
        let chains = db::image_chains(&conn, &image)?;
        let lowers = self.lowers(&chains)?;
        let kind = self.default_kind;
        let dir = self.snapshot_dir(key);
        // The lock is held across prepare so layers cannot be deleted underneath it.
        let mounts = self.snapshotter(kind).prepare(&dir, &lowers)?;
        let result = (|| -> Result<()> {
            let tx = conn.transaction().map_err(Error::db("begin"))?;
            tx.execute(
                "INSERT INTO snapshots (key, image_id, kind, created) VALUES (?1, ?2, ?3, ?4)",
                params![
                    key,
                    image,
                    kind.as_str(),
                    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
                ],
            )
            .map_err(Error::db("insert snapshot"))?;
            for (i, c) in chains.iter().enumerate() {
                tx.execute(
                    "INSERT INTO snapshot_layers (key, idx, chain_id) VALUES (?1, ?2, ?3)",
                    params![key, i as i64, c],
                )
                .map_err(Error::db("insert snapshot layer"))?;
            }
            tx.commit().map_err(Error::db("commit snapshot"))
        })();
        if let Err(e) = result {
            if let Err(r) = self.snapshotter(kind).remove(&dir) {
                tracing::error!(key, error = %r, "rolling back snapshot");
            }
            return Err(e);
        }
        Ok(mounts)
    }

    /// The mounts of an existing snapshot. Errors: [`Error::SnapshotNotFound`].
    pub fn snapshot_mounts(&self, key: &str) -> Result<Vec<Mount>> {
        validate_key(key)?;
        let conn = self.lock();
        let kind = self.existing(&conn, key)?;
        let lowers = self.lowers(&db::snapshot_chains(&conn, key)?)?;
        self.snapshotter(kind)
            .mounts(&self.snapshot_dir(key), &lowers)
    }

    /// Remove a snapshot: its directories and record, then layers nothing uses any more.
    /// The caller must have unmounted it first; if `snapshots/<key>/merged` is still a mount
    /// point this is a [`Error::Conflict`].
    pub fn remove_snapshot(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        let dir = self.snapshot_dir(key);
        if mount::is_mounted(&dir.join("merged")) {
            return Err(Error::Conflict {
                message: format!(
                    "snapshot {key} is still mounted at {}",
                    dir.join("merged").display()
                ),
            });
        }
        let mut conn = self.lock();
        let kind = self.existing(&conn, key)?;
        let chains = db::snapshot_chains(&conn, key)?;
        let tx = conn.transaction().map_err(Error::db("begin"))?;
        tx.execute("DELETE FROM snapshot_layers WHERE key = ?1", [key])
            .map_err(Error::db("delete snapshot layers"))?;
        tx.execute("DELETE FROM snapshots WHERE key = ?1", [key])
            .map_err(Error::db("delete snapshot"))?;
        let (_, dirs, blobs) = self.gc_layers(&tx, chains.iter().rev())?;
        tx.commit().map_err(Error::db("commit snapshot removal"))?;
        // Rows are gone; a failure to delete the dir is reported, and the leftover dir is
        // removed at the next open.
        let removed = self.snapshotter(kind).remove(&dir);
        let layers_deleted = !dirs.is_empty();
        self.discard(dirs, blobs);
        if layers_deleted {
            if let Err(e) = self.sweep_blobs(&conn) {
                tracing::error!(error = %e, "garbage collection of blobs after a snapshot removal");
            }
        }
        removed
    }

    /// Bytes in the snapshot's writable layer.
    pub fn snapshot_usage(&self, key: &str) -> Result<u64> {
        validate_key(key)?;
        let kind = {
            let conn = self.lock();
            self.existing(&conn, key)?
        };
        self.snapshotter(kind).usage(&self.snapshot_dir(key))
    }

    /// A conventional mount point for the snapshot: `snapshots/<key>/merged`.
    pub fn snapshot_merged_dir(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.snapshot_dir(key).join("merged"))
    }

    /// Mount the snapshot at `target`, creating the directory. Undo with [`ImageStore::unmount`].
    pub fn mount_snapshot(&self, key: &str, target: &Path) -> Result<()> {
        let mounts = self.snapshot_mounts(key)?;
        mount::mount_all(&mounts, target)
    }

    /// Unmount `target` (no error if nothing is mounted there).
    pub fn unmount(target: &Path) -> Result<()> {
        mount::unmount(target)
    }

    fn snapshot_dir(&self, key: &str) -> PathBuf {
        self.root.join("snapshots").join(key)
    }

    /// Layer diff dirs, top-most first. When their full paths would not fit in overlay's
    /// one-page mount data, short symlinks `<root>/l/<16 hex of the chain id>` stand in for them
    /// (overlay resolves lowerdir paths through symlinks), as Docker's overlay2 does with `l/`.
    /// Called with the store lock held.
    pub(crate) fn lowers(&self, chains: &[String]) -> Result<Vec<PathBuf>> {
        let full = chains
            .iter()
            .rev()
            .map(|c| Ok(self.layer_dir(c)?.join("diff")))
            .collect::<Result<Vec<PathBuf>>>()?;
        let len: usize = full.iter().map(|p| p.as_os_str().len() + 1).sum();
        if len <= LOWERDIR_BUDGET {
            return Ok(full);
        }
        let links = self.root.join("l");
        fs::create_dir_all(&links).map_err(|e| Error::io("create dir", &links, e))?;
        full.into_iter()
            .zip(chains.iter().rev())
            .map(|(target, chain)| {
                let link = self.short_link(chain)?;
                match fs::read_link(&link) {
                    Ok(t) if t == target => Ok(link),
                    // a 64-bit prefix collision with a live layer: keep the long path
                    Ok(t) if t.exists() => Ok(target),
                    Ok(_) => {
                        fs::remove_file(&link).map_err(|e| Error::io("remove link", &link, e))?;
                        std::os::unix::fs::symlink(&target, &link)
                            .map_err(|e| Error::io("create link", &link, e))?;
                        Ok(link)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        std::os::unix::fs::symlink(&target, &link)
                            .map_err(|e| Error::io("create link", &link, e))?;
                        Ok(link)
                    }
                    Err(e) => Err(Error::io("read link", &link, e)),
                }
            })
            .collect()
    }

    pub(crate) fn short_link(&self, chain: &str) -> Result<PathBuf> {
        let hex = crate::content::digest_hex(chain)?;
        Ok(self.root.join("l").join(&hex[..16]))
    }

    fn existing(&self, conn: &Connection, key: &str) -> Result<SnapshotterKind> {
        snapshot_row(conn, key)?
            .map(|(_, k)| k)
            .ok_or_else(|| Error::SnapshotNotFound {
                key: key.to_string(),
            })
    }
}

fn snapshot_row(conn: &Connection, key: &str) -> Result<Option<(String, SnapshotterKind)>> {
    let row = conn
        .query_row(
            "SELECT image_id, kind FROM snapshots WHERE key = ?1",
            [key],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()
        .map_err(Error::db("read snapshot"))?;
    match row {
        None => Ok(None),
        Some((image, kind)) => {
            let kind = SnapshotterKind::parse(&kind).ok_or_else(|| Error::Corrupt {
                what: format!("snapshot {key} has unknown kind {kind:?}"),
            })?;
            Ok(Some((image, kind)))
        }
    }
}

fn validate_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && !key.starts_with('.')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            what: "snapshot key".into(),
            reason: format!(
                "{key:?} must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.'"
            ),
        })
    }
}
