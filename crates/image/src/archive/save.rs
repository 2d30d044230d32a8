//! `docker save`: images as a docker-archive in Docker 20.10's layout
//! (`<layer>/{VERSION,json,layer.tar}`, `<config hex>.json`, `manifest.json`, `repositories`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek, Write};

use rusqlite::params;
use serde_json::{json, Value};

use crate::content;
use crate::error::{Error, Result};
use crate::reference;
use crate::store::{resolve_id, ImageStore};

/// One layer as stored: (chain id, diff id, blob digest).
type LayerRow = (String, String, Option<String>);

struct SaveItem {
    id: String,
    created: String,
    tags: Vec<String>,
    layers: Vec<LayerRow>,
}

impl ImageStore {
    /// Write the images `names` resolve to (any name [`resolve`](Self::resolve) takes) as one
    /// docker-archive to `out`. A name that is a tag puts that tag in the archive's
    /// `RepoTags`; an image named by id is saved untagged (as Docker does). Each image is saved
    /// once. Every name is resolved before anything is written ([`Error::NotFound`]).
    ///
    /// Layer tars are written byte for byte as stored (their digests are the config's diff ids,
    /// so Docker loads them under the same image id). A layer whose blob is compressed (pulled)
    /// is decompressed into `tmp/` first; a layer without a blob is [`Error::Unsupported`].
    pub fn save(&self, names: &[String], out: impl Write) -> Result<()> {
        if names.is_empty() {
            return Err(Error::InvalidArgument {
                what: "names".into(),
                reason: "at least one image name is required".into(),
            });
        }
        let items = self.plan_save(names)?;
        let mut tar = tar::Builder::new(out);
        let mut written: BTreeMap<String, String> = BTreeMap::new(); // chain -> dir
        let mut manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for item in &items {
            let mtime = chrono::DateTime::parse_from_rfc3339(&item.created)
                .map(|d| d.timestamp().max(0) as u64)
                .unwrap_or(0);
            let mut layer_paths = Vec::new();
            let mut parent_dir: Option<String> = None;
            for (chain, diff_id, blob) in &item.layers {
                let dir = content::digest_hex(chain)?.to_string();
                if !written.contains_key(chain) {
                    append_dir(&mut tar, &format!("{dir}/"), mtime)?;
                    append_bytes(&mut tar, &format!("{dir}/VERSION"), b"1.0", mtime)?;
                    let mut v1 = json!({"id": dir, "created": item.created});
                    if let Some(p) = &parent_dir {
                        v1["parent"] = Value::String(p.clone());
                    }
                    append_bytes(
                        &mut tar,
                        &format!("{dir}/json"),
                        v1.to_string().as_bytes(),
                        mtime,
                    )?;
                    let (mut file, size) = self.layer_tar(chain, diff_id, blob.as_deref())?;
                    let mut h = header(tar::EntryType::Regular, 0o644, size, mtime);
                    tar.append_data(&mut h, format!("{dir}/layer.tar"), &mut file)
                        .map_err(|e| Error::io("write archive", format!("{dir}/layer.tar"), e))?;
                    written.insert(chain.clone(), dir.clone());
                }
                layer_paths.push(format!("{dir}/layer.tar"));
                parent_dir = Some(dir);
            }
            let config = self.content.read(&item.id)?;
            let config_name = format!("{}.json", content::digest_hex(&item.id)?);
            append_bytes(&mut tar, &config_name, &config, mtime)?;
            let tags: Vec<String> = item
                .tags
                .iter()
                .map(|t| reference::familiar_str(t))
                .collect();
            for t in &item.tags {
                if let (Ok(r), Some(top)) = (reference::parse(t), &parent_dir) {
                    if let Some(tag) = r.tag() {
                        repositories
                            .entry(reference::familiar_name(&r))
                            .or_default()
                            .insert(tag.to_string(), top.clone());
                    }
                }
            }
            manifest.push(json!({
                "Config": config_name,
                "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
                "Layers": layer_paths,
            }));
        }
        let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Corrupt {
            what: format!("serializing manifest.json: {e}"),
        })?;
        append_bytes(&mut tar, "manifest.json", &manifest, 0)?;
        if !repositories.is_empty() {
            let repos = serde_json::to_vec(&repositories).map_err(|e| Error::Corrupt {
                what: format!("serializing repositories: {e}"),
            })?;
            append_bytes(&mut tar, "repositories", &repos, 0)?;
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| Error::io("write archive", "<output>", e))?;
        Ok(())
    }

    fn plan_save(&self, names: &[String]) -> Result<Vec<SaveItem>> {
        let conn = self.lock();
        let mut items: Vec<SaveItem> = Vec::new();
        for name in names {
            let r = resolve_id(&conn, name)?;
            let tag = r.reference.filter(|c| !c.contains('@'));
            if let Some(existing) = items.iter_mut().find(|i| i.id == r.id) {
                if let Some(t) = tag {
                    if !existing.tags.contains(&t) {
                        existing.tags.push(t);
                    }
                }
                continue;
            }
            let created: String = conn
                .query_row("SELECT created FROM images WHERE id = ?1", [&r.id], |row| {
                    row.get(0)
                })
                .map_err(Error::db("read image"))?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT l.chain_id, l.diff_id, l.blob FROM image_layers il
                     JOIN layers l ON l.chain_id = il.chain_id
                     WHERE il.image_id = ?1 ORDER BY il.idx",
                )
                .map_err(Error::db("prepare layers"))?;
            let layers = stmt
                .query_map(params![r.id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .map_err(Error::db("query layers"))?
                .collect::<std::result::Result<Vec<LayerRow>, _>>()
                .map_err(Error::db("query layers"))?;
            items.push(SaveItem {
                id: r.id,
                created,
                tags: tag.into_iter().collect(),
                layers,
            });
        }
        Ok(items)
    }

    /// The uncompressed tar of a layer and its size.
    fn layer_tar(&self, chain: &str, diff_id: &str, blob: Option<&str>) -> Result<(File, u64)> {
        let Some(blob) = blob.filter(|b| self.content.contains(b)) else {
            return Err(Error::Unsupported {
                what: format!("saving layer {chain}: its archive is not stored"),
            });
        };
        let mut f = self.content.open_blob(blob)?;
        let path = self.content.blob_path(blob)?;
        if blob == diff_id {
            let size = f.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
            return Ok((f, size));
        }
        // a compressed blob (pulled layer): decompress into an unlinked temporary file
        let mut out = crate::commit::tempfile_in(&self.root.join("tmp"))?;
        let mut hashing = HashingWriter {
            inner: &mut out,
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
        };
        let mut decoded = super::decompressed(io::BufReader::new(&mut f))?;
        io::copy(&mut decoded, &mut hashing)
            .map_err(|e| Error::io("decompress layer", &path, e))?;
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(hashing.hasher))
        );
        if digest != diff_id {
            return Err(Error::DigestMismatch {
                expected: diff_id.to_string(),
                actual: digest,
            });
        }
        let size = out
            .seek(io::SeekFrom::End(0))
            .map_err(|e| Error::io("seek", &path, e))?;
        out.rewind().map_err(|e| Error::io("seek", &path, e))?;
        Ok((out, size))
    }
}

struct HashingWriter<'a> {
    inner: &'a mut File,
    hasher: sha2::Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str, mtime: u64) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0o755, 0, mtime);
    tar.append_data(&mut h, path, io::empty())
        .map_err(|e| Error::io("write archive", path, e))
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
    mtime: u64,
) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, 0o644, bytes.len() as u64, mtime);
    tar.append_data(&mut h, path, bytes)
        .map_err(|e| Error::io("write archive", path, e))
}
