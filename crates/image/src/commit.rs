//! `docker commit`: a container snapshot's writable layer becomes a new image layer on top of
//! the snapshot's layers, with a new config and history entry.

use std::io::Seek;

use chrono::{SecondsFormat, Utc};
use oci_spec::image::Config;
use rusqlite::OptionalExtension;
use serde_json::{json, Value};

use crate::changes::apply_changes;
use crate::db;
use crate::diff::{write_changes, write_tree, TreeKind};
use crate::error::{Error, Result};
use crate::naive_diff;
use crate::reference;
use crate::register::{chain_id, NewImage, NewLayer};
use crate::snapshot::SnapshotterKind;
use crate::store::{ImageRecord, ImageStore};

/// Options of [`ImageStore::commit_snapshot`].
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// tag the new image (moved from any other image)
    pub reference: Option<String>,
    /// commit message (history comment and the image's `comment`)
    pub comment: String,
    /// author (`Author` of the image and its history entry)
    pub author: String,
    /// Dockerfile-like instructions applied to `config` (`--change`)
    pub changes: Vec<String>,
    /// the container's configuration (the image's config merged with the container's settings)
    pub config: Config,
    /// the container's id, recorded as the config's `container`
    pub container_id: String,
    /// history `created_by` (Docker: the container's command line)
    pub created_by: String,
}

impl ImageStore {
    /// Commit the writable layer of snapshot `key` as a new image.
    ///
    /// The diff (overlay: the upper directory, whose whiteouts become `.wh.` files and opaque
    /// directories `.wh..wh..opq`; vfs: the snapshot compared with its layers, see
    /// [`naive_diff`]) is written as an OCI layer tar (owner, modes, xattrs, hard links and
    /// special files kept), stored as a blob and unpacked once as a new layer above the snapshot's
    /// layers. The new config is the snapshot image's config with `config` (after `changes`),
    /// `created` now, `author`, the new diff id and a history entry; its parent is that image.
    /// The caller keeps the container from writing meanwhile (Docker pauses it).
    /// Errors: [`Error::SnapshotNotFound`], [`Error::InvalidChange`],
    /// [`Error::InvalidReference`].
    pub fn commit_snapshot(&self, key: &str, opts: CommitOptions) -> Result<ImageRecord> {
        let target = opts
            .reference
            .as_deref()
            .map(reference::parse_tag)
            .transpose()?;
        let mut config = opts.config.clone();
        apply_changes(&mut config, &opts.changes)?;
        let (image_id, kind, chains, diff_ids, lowers) = {
            let conn = self.lock();
            let row = conn
                .query_row(
                    "SELECT image_id, kind FROM snapshots WHERE key = ?1",
                    [key],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()
                .map_err(Error::db("read snapshot"))?
                .ok_or_else(|| Error::SnapshotNotFound {
                    key: key.to_string(),
                })?;
            let chains = db::snapshot_chains(&conn, key)?;
            let diff_ids = db::strings(
                &conn,
                "SELECT l.diff_id FROM snapshot_layers s JOIN layers l ON l.chain_id = s.chain_id
                 WHERE s.key = ?1 ORDER BY s.idx",
                key,
            )?;
            let lowers = self.lowers(&chains)?;
            (row.0, row.1, chains, diff_ids, lowers)
        };
        let kind = SnapshotterKind::parse(&kind).ok_or_else(|| Error::Corrupt {
            what: format!("snapshot {key} has an unknown kind {kind:?}"),
        })?;
        let base_bytes = self.content.read(&image_id)?;
        let mut value: Value = serde_json::from_slice(&base_bytes).map_err(|e| Error::Corrupt {
            what: format!("config blob {image_id}: {e}"),
        })?;

        // the diff into an anonymous file, then unpacked as a new layer: overlay's upper dir
        // is the diff; a vfs snapshot's full copy is compared with its layers
        let upper = self.root.join("snapshots").join(key).join("upper");
        let file = tempfile_in(&self.root.join("tmp"))?;
        let mut file = match kind {
            SnapshotterKind::Overlay => write_tree(&upper, file, TreeKind::OverlayUpper)?,
            SnapshotterKind::Vfs => {
                write_changes(&upper, &naive_diff::changes(&upper, &lowers)?, file)?
            }
        };
        file.rewind()
            .map_err(|e| Error::io("seek", self.root.join("tmp"), e))?;
        let layer = self.unpack_new_layer(std::io::BufReader::new(file), None)?;
        let diff_id = layer.blob.digest().to_string();
        let parent_chain = chains.last().cloned();
        let new_chain = chain_id(parent_chain.as_deref(), &diff_id);

        let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let obj = value.as_object_mut().ok_or_else(|| Error::Corrupt {
            what: format!("config blob {image_id} is not a JSON object"),
        })?;
        let config_value = serde_json::to_value(&config).map_err(|e| Error::Corrupt {
            what: format!("serializing config: {e}"),
        })?;
        obj.insert("config".into(), config_value);
        obj.insert("created".into(), json!(created));
        obj.insert("container".into(), json!(opts.container_id));
        if opts.author.is_empty() {
            obj.remove("author");
        } else {
            obj.insert("author".into(), json!(opts.author));
        }
        if opts.comment.is_empty() {
            obj.remove("comment");
        } else {
            obj.insert("comment".into(), json!(opts.comment));
        }
        let mut all_diffs: Vec<Value> = diff_ids.iter().map(|d| json!(d)).collect();
        all_diffs.push(json!(diff_id));
        obj.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": all_diffs}),
        );
        let mut entry = serde_json::Map::new();
        entry.insert("created".into(), json!(created));
        if !opts.author.is_empty() {
            entry.insert("author".into(), json!(opts.author));
        }
        entry.insert("created_by".into(), json!(opts.created_by));
        if !opts.comment.is_empty() {
            entry.insert("comment".into(), json!(opts.comment));
        }
        let history = obj
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(h) = history {
            h.push(Value::Object(entry));
        }
        let config_bytes = serde_json::to_vec(&value).map_err(|e| Error::Corrupt {
            what: format!("serializing image config: {e}"),
        })?;

        let mut layers: Vec<NewLayer> = Vec::new();
        let mut parent = None;
        for (chain, diff) in chains.iter().zip(&diff_ids) {
            layers.push(NewLayer {
                diff_id: diff.clone(),
                chain_id: chain.clone(),
                parent: parent.clone(),
                content: None,
            });
            parent = Some(chain.clone());
        }
        layers.push(NewLayer {
            diff_id,
            chain_id: new_chain,
            parent,
            content: Some(layer),
        });
        let registered = self.register(
            NewImage {
                config_bytes,
                created,
                parent: image_id,
                comment: opts.comment,
                tags: target.iter().map(reference::canonical).collect(),
            },
            layers,
        )?;
        Ok(registered.record)
    }
}

/// An anonymous file in `dir` (O_TMPFILE: gone when closed, even after a crash).
pub(crate) fn tempfile_in(dir: &std::path::Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|e| Error::io("create temporary file", dir, e))
}
