//! Garbage collection of the content store: after images, layers or snapshots are deleted,
//! blobs no table references any more (manifests and indexes of pulls and pushes, compressed
//! layer blobs pulled or made for a push, configs) are removed.
//!
//! What keeps a blob (the roots): an image's config (`images.id`), a layer's blob
//! (`layers.blob`), a compressed form of a layer that still exists (`layer_blobs` whose
//! `diff_id` a layer has), an image's manifest per repository (`image_manifests`), and the
//! digest of every digest reference (`digests`: a pulled index or manifest).
//!
//! Race safety, as containerd does it with leases: pull and push hold a [`Lease`] while they
//! run. Their blobs are written (ingest, fsync, rename into `blobs/`) before the rows that
//! reference them exist, so a sweep keeps every unreferenced blob written since the oldest
//! live lease began. Sweeps run under the store lock, so rows and files change together.

use std::collections::HashSet;
use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::store::ImageStore;

/// Filesystem timestamps may be coarser than the clock: blobs this close to a lease's start
/// count as written during it.
const MTIME_SLACK: Duration = Duration::from_secs(2);

/// Live leases: id -> start time.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    next: AtomicU64,
    live: std::sync::Mutex<std::collections::HashMap<u64, SystemTime>>,
}

/// Protects the blobs an operation writes from sweeps until it is dropped.
#[derive(Debug)]
pub struct Lease<'a> {
    leases: &'a Leases,
    id: u64,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut live = self.leases.live.lock().unwrap_or_else(|p| p.into_inner());
        live.remove(&self.id);
    }
}

impl Leases {
    fn oldest(&self) -> Option<SystemTime> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.values().min().copied()
    }
}

impl ImageStore {
    /// Take a lease for an operation that writes blobs before it records them (pull, push).
    pub fn lease(&self) -> Lease<'_> {
        let id = self.leases.next.fetch_add(1, Ordering::Relaxed);
        let mut live = self.leases.live.lock().unwrap_or_else(|p| p.into_inner());
        live.insert(id, SystemTime::now());
        Lease {
            leases: &self.leases,
            id,
        }
    }

    /// Remove blobs nothing references (see the module doc), the `layer_blobs` rows of layers
    /// that are gone and the `blob_sources` rows of removed blobs. Called with the store lock
    /// held (`conn` is the locked connection). Returns the digests removed. Failures to delete
    /// a file are logged and left for the next sweep.
    pub(crate) fn sweep_blobs(&self, conn: &Connection) -> Result<Vec<String>> {
        conn.execute(
            "DELETE FROM layer_blobs WHERE diff_id NOT IN (SELECT diff_id FROM layers)",
            [],
        )
        .map_err(Error::db("delete stale layer blobs"))?;
        let mut keep: HashSet<String> = HashSet::new();
        for sql in [
            "SELECT id FROM images",
            "SELECT blob FROM layers WHERE blob IS NOT NULL",
            "SELECT digest FROM layer_blobs",
            "SELECT digest FROM image_manifests",
        ] {
            let mut stmt = conn.prepare_cached(sql).map_err(Error::db("prepare gc"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(Error::db("gc roots"))?;
            for row in rows {
                keep.insert(row.map_err(Error::db("gc roots"))?);
            }
        }
        {
            let mut stmt = conn
                .prepare_cached("SELECT reference FROM digests")
                .map_err(Error::db("prepare gc"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(Error::db("gc roots"))?;
            for row in rows {
                let reference = row.map_err(Error::db("gc roots"))?;
                if let Some((_, digest)) = reference.rsplit_once('@') {
                    keep.insert(digest.to_string());
                }
            }
        }
        let cutoff = self.leases.oldest().map(|t| t - MTIME_SLACK);
        let dir = self.root.join("blobs").join("sha256");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read dir", &dir, e)),
        };
        let mut removed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read dir", &dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let digest = format!("sha256:{name}");
            if keep.contains(&digest) {
                continue;
            }
            if let Some(cutoff) = cutoff {
                let recent = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|m| m >= cutoff)
                    .unwrap_or(true);
                if recent {
                    continue; // may belong to a pull or push in progress
                }
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed.push(digest),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(blob = %digest, error = %e, "removing unreferenced blob")
                }
            }
        }
        for digest in &removed {
            conn.execute("DELETE FROM blob_sources WHERE digest = ?1", [digest])
                .map_err(Error::db("delete blob source"))?;
        }
        if !removed.is_empty() {
            tracing::debug!(count = removed.len(), "unreferenced blobs removed");
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use crate::ImageStore;

    #[test]
    fn sweeps_spare_blobs_of_leased_operations_and_referenced_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::open(dir.path()).expect("open store");
        let lease = store.lease();
        let blob = store.content.write_blob(b"in flight", None).expect("blob");
        let removed = store.sweep_blobs(&store.lock()).expect("sweep");
        assert!(removed.is_empty(), "a leased operation's blob was swept");
        assert!(store.content.contains(&blob.digest));
        drop(lease);
        let removed = store.sweep_blobs(&store.lock()).expect("sweep");
        assert_eq!(removed, vec![blob.digest.clone()]);
        assert!(!store.content.contains(&blob.digest));
    }
}
