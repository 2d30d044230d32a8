//! `docker rmi`: untag and delete images, then layers nothing uses any more.

use std::fs;
use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension};

use crate::content;
use crate::db;
use crate::error::{Error, Result};
use crate::reference;
use crate::store::{resolve_id, ImageStore, RemovedItem, Resolved};

impl ImageStore {
    /// Remove an image or a reference, with Docker's `rmi` semantics:
    ///
    /// - by reference (tag or digest): the reference is removed (`Untagged`); if it was the last
    ///   one, the image is deleted (`Deleted` image id, then each freed layer's chain id) unless
    ///   it is in use. A single-reference image in use is a [`Error::Conflict`] unless `force`;
    ///   with `force` the reference is removed and the image stays (dangling).
    /// - by id (full, bare hex or prefix): an image with several tags is a conflict unless `force`;
    ///   an image in use is a conflict unless `force`, and with `force` it is only untagged.
    ///   Otherwise all its references are removed and the image deleted.
    /// - an image that is another image's parent (commit/build child) is never deleted: by id
    ///   it is a conflict even with `force` ("cannot be forced"); removing its last reference
    ///   leaves it dangling. Deleting an image also deletes its ancestors that are left without
    ///   references, children or containers (Docker's default, no `noprune`).
    ///
    /// `in_use(image_id)` tells whether a container uses the image; it is called without the
    /// store's lock held. Layers are deleted when no image, snapshot or upper layer uses them.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemovedItem>> {
        // in_use runs without the lock (it may be slow, or look at the engine's own state);
        // the name is resolved again under the lock and must still mean the same image.
        for _ in 0..3 {
            let before = {
                let conn = self.lock();
                resolve_id(&conn, name)?
            };
            let used = in_use(&before.id);
            // ancestors a deletion may prune, with their use known before the lock is taken
            let mut ancestors_used = Vec::new();
            let mut parent = self.parent_of(&before.id)?;
            while let Some(p) = parent.filter(|_| ancestors_used.len() < 128) {
                ancestors_used.push((p.clone(), in_use(&p)));
                parent = self.parent_of(&p)?;
            }
            let mut conn = self.lock();
            let now = resolve_id(&conn, name)?;
            if now.id != before.id || now.reference != before.reference {
                continue;
            }
            return self.remove_locked(&mut conn, name, &now, force, used, &ancestors_used);
        }
        Err(Error::Conflict {
            message: format!("image {name:?} changed while being removed, try again"),
        })
    }

    /// The local parent image id of `id` (None for a missing image or one without a parent).
    fn parent_of(&self, id: &str) -> Result<Option<String>> {
        let conn = self.lock();
        conn.query_row("SELECT parent FROM images WHERE id = ?1", [id], |r| {
            r.get::<_, String>(0)
        })
        .optional()
        .map(|p| p.filter(|p| !p.is_empty()))
        .map_err(Error::db("read parent"))
    }

    fn remove_locked(
        &self,
        conn: &mut Connection,
        name: &str,
        resolved: &Resolved,
        force: bool,
        used: bool,
        ancestors_used: &[(String, bool)],
    ) -> Result<Vec<RemovedItem>> {
        let id = resolved.id.clone();
        let short = short_id(&id);
        let tx = conn.transaction().map_err(Error::db("begin"))?;
        let tags = db::tags_of(&tx, &id)?;
        let digests = db::digests_of(&tx, &id)?;
        let mut refs: Vec<String> = tags.iter().chain(digests.iter()).cloned().collect();
        let mut items = Vec::new();

        if let Some(r) = &resolved.reference {
            if !force && refs.len() == 1 && used {
                return Err(Error::Conflict {
                    message: format!(
                        "unable to remove repository reference {name:?} (must force) - a container is using its referenced image {short}"
                    ),
                });
            }
            untag(&tx, r)?;
            items.push(RemovedItem::Untagged(reference::familiar_str(r)));
            refs.retain(|x| x != r);
            crate::pull::untag_orphan_digests(&tx, r, &mut refs, &mut items)?;
            // a parent of other images stays, dangling, once its last reference is gone
            if !refs.is_empty() || used || has_children(&tx, &id)? {
                tx.commit().map_err(Error::db("commit untag"))?;
                return Ok(items);
            }
        } else {
            if has_children(&tx, &id)? {
                return Err(Error::Conflict {
                    message: format!(
                        "unable to delete {short} (cannot be forced) - image has dependent child images"
                    ),
                });
            }
            if used && !force {
                return Err(Error::Conflict {
                    message: format!(
                        "unable to delete {short} (must be forced) - image is being used by a container"
                    ),
                });
            }
            if !force && !is_single_reference(&tags, &digests) && !refs.is_empty() {
                return Err(Error::Conflict {
                    message: format!(
                        "unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                    ),
                });
            }
            for r in &refs {
                untag(&tx, r)?;
                items.push(RemovedItem::Untagged(reference::familiar_str(r)));
            }
            if used {
                // force on an image in use: untag only, like Docker for a running container
                tx.commit().map_err(Error::db("commit untag"))?;
                return Ok(items);
            }
        }

        let (deleted, mut dirs, mut blobs) = self.delete_image(&tx, &id)?;
        items.extend(deleted);
        // Docker prunes the parents this deletion left dangling and unused (no `noprune`).
        for (ancestor, ancestor_used) in ancestors_used {
            let dangling =
                db::tags_of(&tx, ancestor)?.is_empty() && db::digests_of(&tx, ancestor)?.is_empty();
            if *ancestor_used || !dangling || has_children(&tx, ancestor)? {
                break;
            }
            let (deleted, d, b) = self.delete_image(&tx, ancestor)?;
            items.extend(deleted);
            dirs.extend(d);
            blobs.extend(b);
        }
        tx.commit().map_err(Error::db("commit delete"))?;
        // still under the lock: no import can re-register these layers meanwhile
        self.discard(dirs, blobs);
        // manifests, indexes and compressed blobs only the deleted images and layers used
        if let Err(e) = self.sweep_blobs(conn) {
            tracing::error!(error = %e, "garbage collection of blobs after an image removal");
        }
        Ok(items)
    }

    /// Delete the image rows and the layers only it used. Returns the items, the layer dirs and
    /// blobs to remove after commit.
    fn delete_image(
        &self,
        tx: &Connection,
        id: &str,
    ) -> Result<(Vec<RemovedItem>, Vec<PathBuf>, Vec<String>)> {
        let chains = db::image_chains(tx, id)?;
        tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [id])
            .map_err(Error::db("delete image layers"))?;
        tx.execute("DELETE FROM tags WHERE image_id = ?1", [id])
            .map_err(Error::db("delete tags"))?;
        tx.execute("DELETE FROM digests WHERE image_id = ?1", [id])
            .map_err(Error::db("delete digests"))?;
        tx.execute("DELETE FROM images WHERE id = ?1", [id])
            .map_err(Error::db("delete image"))?;
        let mut items = vec![RemovedItem::Deleted(id.to_string())];
        let mut blobs = vec![id.to_string()];
        let (layer_items, dirs, layer_blobs) = self.gc_layers(tx, chains.iter().rev())?;
        items.extend(layer_items);
        blobs.extend(layer_blobs);
        Ok((items, dirs, blobs))
    }

    /// Delete the rows of the given layers (top-most first) that nothing uses any more.
    pub(crate) fn gc_layers<'a>(
        &self,
        tx: &Connection,
        chains: impl Iterator<Item = &'a String>,
    ) -> Result<(Vec<RemovedItem>, Vec<PathBuf>, Vec<String>)> {
        let mut items = Vec::new();
        let mut dirs = Vec::new();
        let mut blobs = Vec::new();
        for chain in chains {
            if db::layer_in_use(tx, chain)? {
                continue;
            }
            let blob: Option<String> = tx
                .query_row(
                    "SELECT blob FROM layers WHERE chain_id = ?1",
                    params![chain],
                    |r| r.get(0),
                )
                .map_err(Error::db("read layer"))?;
            tx.execute("DELETE FROM layers WHERE chain_id = ?1", [chain])
                .map_err(Error::db("delete layer"))?;
            items.push(RemovedItem::Deleted(chain.clone()));
            let dir = self.layer_dir(chain)?;
            let link = self.short_link(chain)?;
            if fs::read_link(&link).is_ok_and(|t| t == dir.join("diff")) {
                let _ = fs::remove_file(&link);
            }
            dirs.push(dir);
            if let Some(b) = blob {
                let shared: bool = tx
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM layers WHERE blob = ?1) OR EXISTS(SELECT 1 FROM images WHERE id = ?1)",
                        [&b],
                        |r| r.get(0),
                    )
                    .map_err(Error::db("query blob use"))?;
                if !shared {
                    blobs.push(b);
                }
            }
        }
        Ok((items, dirs, blobs))
    }

    /// Remove deleted layers' dirs and blobs (called after commit, with the lock still held so a
    /// concurrent import cannot re-register a layer whose dir is being removed). Dirs are first
    /// renamed into `tmp/` (atomic), then deleted. Failures are logged: the rows are gone and
    /// leftovers are cleaned at the next open.
    pub(crate) fn discard(&self, dirs: Vec<PathBuf>, blobs: Vec<String>) {
        for d in dirs {
            let Ok(name) = content::random_hex(8) else {
                continue;
            };
            let trash = self.root.join("tmp").join(format!("deleted-{name}"));
            let target = match fs::rename(&d, &trash) {
                Ok(()) => trash,
                Err(_) => d,
            };
            if let Err(e) = fs::remove_dir_all(&target) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(path = %target.display(), error = %e, "removing deleted layer dir");
                }
            }
        }
        for b in blobs {
            if let Err(e) = self.content.delete(&b) {
                tracing::error!(blob = %b, error = %e, "removing deleted blob");
            }
        }
    }
}

/// Whether another image names `id` as its parent (a local build/commit child).
fn has_children(tx: &Connection, id: &str) -> Result<bool> {
    tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM images WHERE parent = ?1)",
        [id],
        |r| r.get(0),
    )
    .map_err(Error::db("query child images"))
}

fn untag(tx: &Connection, canonical: &str) -> Result<()> {
    tx.execute("DELETE FROM tags WHERE reference = ?1", [canonical])
        .map_err(Error::db("delete tag"))?;
    tx.execute("DELETE FROM digests WHERE reference = ?1", [canonical])
        .map_err(Error::db("delete digest"))?;
    Ok(())
}

/// Docker's rule: at most one tag, and every reference within one repository.
fn is_single_reference(tags: &[String], digests: &[String]) -> bool {
    if tags.len() > 1 {
        return false;
    }
    let repo = |r: &String| {
        crate::reference_grammar::parse(r.as_str())
            .map(|r| format!("{}/{}", r.registry(), r.repository()))
            .unwrap_or_else(|_| r.clone())
    };
    let mut repos: Vec<String> = tags.iter().chain(digests.iter()).map(repo).collect();
    repos.sort();
    repos.dedup();
    repos.len() <= 1
}

pub(crate) fn short_id(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .take(12)
        .collect()
}
