//! Registering an image built from several layers (load, commit): unpack new layers into
//! temporary directories first, then publish layers, config, image row and tags in one
//! transaction, undoing disk changes if it fails.

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use rusqlite::params;

use crate::content::{self, PendingBlob};
use crate::db;
use crate::error::{Error, Result};
use crate::import::{pipelined_unpack, sync_tree};
use crate::reference;
use crate::store::{ImageRecord, ImageStore, TempDir};

/// A layer of an image being registered, base first.
pub(crate) struct NewLayer {
    /// `sha256:` digest of the uncompressed layer tar
    pub diff_id: String,
    /// chain id (see [`chain_id`])
    pub chain_id: String,
    /// chain id of the layer below (None for the base layer)
    pub parent: Option<String>,
    /// the unpacked layer and its blob, for a layer not yet in the store; `None` when the store
    /// (or an earlier image of the same operation) already has it
    pub content: Option<UnpackedLayer>,
}

/// A layer unpacked into `tmp/` (`<tmp>/diff`) with its uncompressed tar as a pending blob.
pub(crate) struct UnpackedLayer {
    pub tmp: TempDir,
    pub blob: PendingBlob,
    /// bytes of regular files unpacked
    pub size: u64,
}

/// An image to register.
pub(crate) struct NewImage {
    /// the config blob, verbatim (its digest is the image id)
    pub config_bytes: Vec<u8>,
    /// RFC 3339 creation time
    pub created: String,
    /// parent image id or ""
    pub parent: String,
    /// the image comment
    pub comment: String,
    /// canonical tag references to point at the image (moved from other images)
    pub tags: Vec<String>,
}

/// Result of [`ImageStore::register`].
pub(crate) struct Registered {
    pub record: ImageRecord,
    /// (familiar tag, id of the image it was moved from)
    pub moved: Vec<(String, String)>,
}

/// Docker's chain id: `chain(0) = diff(0)`, `chain(n) = sha256(chain(n-1) + " " + diff(n))`.
pub(crate) fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => content::sha256_digest(format!("{p} {diff_id}").as_bytes()),
    }
}

impl ImageStore {
    /// Unpack an uncompressed layer tar stream into a new temporary layer directory, storing the
    /// stream as a blob. With `expected`, the stream's digest must equal it
    /// ([`Error::DigestMismatch`] otherwise). Nothing is published.
    pub(crate) fn unpack_new_layer(
        &self,
        tar: impl Read,
        expected: Option<&str>,
    ) -> Result<UnpackedLayer> {
        let tmp = TempDir::new(&self.root, "layer")?;
        let diff_dir = tmp.path.join("diff");
        fs::create_dir(&diff_dir).map_err(|e| Error::io("create dir", &diff_dir, e))?;
        fs::set_permissions(
            &diff_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(|e| Error::io("chmod", &diff_dir, e))?;
        let mut ingest = self.content.ingest()?;
        let stats = pipelined_unpack(tar, &mut ingest, &diff_dir)?;
        let blob = ingest.finish(expected)?;
        sync_tree(&diff_dir)?;
        Ok(UnpackedLayer {
            tmp,
            blob,
            size: stats.size,
        })
    }

    /// Whether a layer with this chain id is registered.
    pub(crate) fn has_layer(&self, chain_id: &str) -> Result<bool> {
        let conn = self.lock();
        db::layer_exists(&conn, chain_id)
    }

    /// Publish `layers` (base first) and the image in one transaction. A layer whose chain id
    /// is already registered is reused (its new copy dropped). Tags move from other images.
    /// On error nothing is left behind.
    pub(crate) fn register(&self, image: NewImage, layers: Vec<NewLayer>) -> Result<Registered> {
        let image_id = content::sha256_digest(&image.config_bytes);
        let mut conn = self.lock();
        let mut undo: Vec<PathBuf> = Vec::new();
        let mut published: Vec<TempDir> = Vec::new();
        let mut moved = Vec::new();
        let result = (|| -> Result<()> {
            let tx = conn.transaction().map_err(Error::db("begin"))?;
            let mut size: i64 = 0;
            let mut chains = Vec::new();
            for layer in layers {
                if !db::layer_exists(&tx, &layer.chain_id)? {
                    let Some(unpacked) = layer.content else {
                        return Err(Error::Corrupt {
                            what: format!("layer {} vanished during the operation", layer.chain_id),
                        });
                    };
                    let layer_dir = self.layer_dir(&layer.chain_id)?;
                    if layer_dir.exists() {
                        fs::remove_dir_all(&layer_dir)
                            .map_err(|e| Error::io("remove stale layer dir", &layer_dir, e))?;
                    }
                    fs::rename(&unpacked.tmp.path, &layer_dir)
                        .map_err(|e| Error::io("rename layer dir", &layer_dir, e))?;
                    undo.push(layer_dir);
                    published.push(unpacked.tmp);
                    let c = unpacked.blob.commit()?;
                    if c.created {
                        undo.push(self.content.blob_path(&c.digest)?);
                    }
                    tx.execute(
                        "INSERT INTO layers (chain_id, diff_id, parent, size, blob)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![
                            layer.chain_id,
                            layer.diff_id,
                            layer.parent,
                            unpacked.size as i64,
                            c.digest
                        ],
                    )
                    .map_err(Error::db("insert layer"))?;
                }
                let s: i64 = tx
                    .query_row(
                        "SELECT size FROM layers WHERE chain_id = ?1",
                        [&layer.chain_id],
                        |r| r.get(0),
                    )
                    .map_err(Error::db("read layer size"))?;
                size += s;
                chains.push(layer.chain_id);
            }
            content::fsync_dir(&self.root.join("layers"))?;
            let c = self
                .content
                .write_blob(&image.config_bytes, Some(&image_id))?;
            if c.created {
                undo.push(self.content.blob_path(&c.digest)?);
            }
            tx.execute(
                "INSERT OR IGNORE INTO images (id, created, parent, comment, size)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![image_id, image.created, image.parent, image.comment, size],
            )
            .map_err(Error::db("insert image"))?;
            for (idx, chain) in chains.iter().enumerate() {
                tx.execute(
                    "INSERT OR IGNORE INTO image_layers (image_id, idx, chain_id) VALUES (?1, ?2, ?3)",
                    params![image_id, idx as i64, chain],
                )
                .map_err(Error::db("insert image layer"))?;
            }
            for tag in &image.tags {
                let old: Option<String> = tx
                    .query_row(
                        "SELECT image_id FROM tags WHERE reference = ?1",
                        [tag],
                        |r| r.get(0),
                    )
                    .ok();
                if let Some(old) = old.filter(|o| *o != image_id) {
                    moved.push((reference::familiar_str(tag), old));
                }
                tx.execute(
                    "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)
                     ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
                    params![tag, image_id],
                )
                .map_err(Error::db("insert tag"))?;
            }
            tx.commit().map_err(Error::db("commit image"))
        })();
        if let Err(e) = result {
            crate::sys::remove_published(&undo, "image registration");
            return Err(e);
        }
        for t in published {
            t.disarm();
        }
        let record = self.load_record(&conn, &image_id)?;
        Ok(Registered { record, moved })
    }
}
