//! The image store: open, resolve, list, tag, config. Import, removal and snapshots live in
//! their own files (one file per lifecycle verb).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use oci_spec::image::ImageConfiguration;
use rusqlite::{params, Connection, OptionalExtension};

use crate::content::{self, ContentStore};
use crate::db;
use crate::error::{Error, Result};
use crate::reference;
use crate::snapshot::{OverlaySnapshotter, Snapshotter, SnapshotterKind, VfsSnapshotter};

/// An image as the engine sees it (the fields `docker image ls` / `inspect` need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// `sha256:<hex>`: digest of the image config blob (Docker's image id)
    pub id: String,
    /// tags in Docker's familiar form, e.g. `busybox:latest`, sorted
    pub repo_tags: Vec<String>,
    /// digest references in familiar form, e.g. `busybox@sha256:...`
    pub repo_digests: Vec<String>,
    /// creation time from the config
    pub created: DateTime<Utc>,
    /// sum of the image's layer sizes (unpacked bytes)
    pub size: u64,
    /// the parsed image config
    pub config: ImageConfiguration,
    /// parent image id ("" for imported and pulled images)
    pub parent: String,
    /// the image comment (for imports: the message or "Imported from -")
    pub comment: String,
    /// the layers' diff ids, base first
    pub layers: Vec<String>,
    /// unpacked bytes of each layer, base first (same order as `layers`)
    pub layer_sizes: Vec<u64>,
}

/// One line of `docker rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovedItem {
    /// a reference was removed (familiar form)
    Untagged(String),
    /// an image id or layer chain id was deleted
    Deleted(String),
}

/// Options of [`ImageStore::import`] (`docker import`).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// tag the new image with this reference (moved from any other image)
    pub reference: Option<String>,
    /// Dockerfile-like instructions applied to the config (`--change`)
    pub changes: Vec<String>,
    /// commit message: the image comment (default "Imported from -")
    pub message: Option<String>,
    /// `os[/arch[/variant]]`; default: linux and the host architecture
    pub platform: Option<String>,
}

/// Content store + image metadata + layers + snapshots under one root directory.
///
/// Layout under `root`: `blobs/sha256/<hex>`, `ingest/`, `layers/<chain-hex>/diff/`,
/// `snapshots/<key>/`, `tmp/`, `meta.db`. One `ImageStore` per root per process: share it behind
/// an `Arc`. All methods are safe to call concurrently; metadata changes are serialized by an
/// internal lock, long-running work (unpacking) happens outside it. Every multi-step operation
/// either completes or leaves the store as it was.
#[derive(Debug)]
pub struct ImageStore {
    pub(crate) root: PathBuf,
    pub(crate) db: Mutex<Connection>,
    pub(crate) content: ContentStore,
    pub(crate) overlay: OverlaySnapshotter,
    pub(crate) vfs: VfsSnapshotter,
    pub(crate) default_kind: SnapshotterKind,
    /// operations whose blobs sweeps must not touch yet (see `gc.rs`)
    pub(crate) leases: crate::gc::Leases,
}

/// How a name resolved.
pub(crate) struct Resolved {
    pub id: String,
    /// canonical reference if the name matched a tag or digest reference
    pub reference: Option<String>,
}

impl ImageStore {
    /// Open (creating if needed) the store at `root`, probing once whether overlay mounts work
    /// there (overlay snapshotter) or not (vfs fallback). Cleans leftovers of interrupted
    /// operations (temporary dirs, unregistered layer and snapshot dirs).
    pub fn open(root: &Path) -> Result<ImageStore> {
        Self::open_inner(root, None)
    }

    /// Like [`open`](Self::open) but with a fixed snapshotter for new snapshots (no probe).
    pub fn open_with_snapshotter(root: &Path, kind: SnapshotterKind) -> Result<ImageStore> {
        Self::open_inner(root, Some(kind))
    }

    fn open_inner(root: &Path, kind: Option<SnapshotterKind>) -> Result<ImageStore> {
        fs::create_dir_all(root).map_err(|e| Error::io("create dir", root, e))?;
        // Canonical, so mount points compare equal to /proc/self/mountinfo entries.
        let root = &root
            .canonicalize()
            .map_err(|e| Error::io("canonicalize", root, e))?;
        let s = root.to_string_lossy();
        // Layer paths go into overlay's comma/colon separated mount options.
        if s.contains(',') || s.contains(':') || !root.is_absolute() {
            return Err(Error::InvalidArgument {
                what: "image store root".into(),
                reason: format!("{s:?} must be an absolute path without ',' or ':'"),
            });
        }
        for sub in ["layers", "snapshots", "tmp"] {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(|e| Error::io("create dir", &p, e))?;
        }
        clean_dir(&root.join("tmp"))?;
        let content = ContentStore::open(root)?;
        let conn = db::open(&root.join("meta.db"))?;
        let overlay = OverlaySnapshotter::new();
        let default_kind = match kind {
            Some(k) => k,
            None => match overlay.probe(&root.join("tmp")) {
                Ok(()) => SnapshotterKind::Overlay,
                Err(e) => {
                    tracing::warn!(error = %e, "overlay unavailable, using the vfs snapshotter");
                    SnapshotterKind::Vfs
                }
            },
        };
        let store = ImageStore {
            root: root.to_path_buf(),
            db: Mutex::new(conn),
            content,
            overlay,
            vfs: VfsSnapshotter::new(),
            default_kind,
            leases: Default::default(),
        };
        store.recover()?;
        Ok(store)
    }

    /// The snapshotter used for new snapshots.
    pub fn snapshotter_kind(&self) -> SnapshotterKind {
        self.default_kind
    }

    /// The content store (blobs by digest), for pull/push/save/load on top of this store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Find an image by reference (normalized: `busybox` = `docker.io/library/busybox:latest`),
    /// digest reference, full id (`sha256:<hex>`), bare hex id, or a unique id prefix of at least
    /// one hex character (with or without `sha256:`). A reference match wins over an id prefix.
    /// Errors: [`Error::NotFound`], [`Error::Ambiguous`] for a prefix matching several images.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let conn = self.lock();
        let r = resolve_id(&conn, name)?;
        self.load_record(&conn, &r.id)
    }

    /// All images, newest first.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let conn = self.lock();
        let ids = {
            let mut stmt = conn
                .prepare("SELECT id FROM images ORDER BY created DESC, id")
                .map_err(Error::db("prepare list"))?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(Error::db("list images"))?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(Error::db("list images"))?
        };
        let mut records = ids
            .iter()
            .map(|id| self.load_record(&conn, id))
            .collect::<Result<Vec<_>>>()?;
        // by parsed time: configs from registries format `created` differently
        records.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(records)
    }

    /// Add the tag `target_reference` (normalized; moved if it names another image) to the image
    /// `source` resolves to. Errors: [`Error::InvalidReference`] (uppercase repository, bad
    /// characters, digest in target, 64-hex name), [`Error::NotFound`].
    pub fn tag(&self, source: &str, target_reference: &str) -> Result<()> {
        let target = reference::parse_tag(target_reference)?;
        let conn = self.lock();
        let r = resolve_id(&conn, source)?;
        conn.execute(
            "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)
             ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
            params![reference::canonical(&target), r.id],
        )
        .map_err(Error::db("insert tag"))?;
        Ok(())
    }

    /// The parsed config of the image `id` resolves to (any name [`resolve`](Self::resolve) takes).
    pub fn config(&self, id: &str) -> Result<ImageConfiguration> {
        let r = {
            let conn = self.lock();
            resolve_id(&conn, id)?
        };
        self.read_config(&r.id)
    }

    pub(crate) fn read_config(&self, id: &str) -> Result<ImageConfiguration> {
        let bytes = self.content.read(id)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            what: format!("config blob {id}: {e}"),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction (rusqlite rolls back on
        // drop), so the connection is still consistent.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn layer_dir(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self
            .root
            .join("layers")
            .join(content::digest_hex(chain_id)?))
    }

    pub(crate) fn snapshotter(&self, kind: SnapshotterKind) -> &dyn Snapshotter {
        match kind {
            SnapshotterKind::Overlay => &self.overlay,
            SnapshotterKind::Vfs => &self.vfs,
        }
    }

    pub(crate) fn load_record(&self, conn: &Connection, id: &str) -> Result<ImageRecord> {
        let row = conn
            .query_row(
                "SELECT created, parent, comment, size FROM images WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(Error::db("read image"))?;
        let Some((created, parent, comment, size)) = row else {
            return Err(Error::NotFound {
                name: id.to_string(),
            });
        };
        let created = DateTime::parse_from_rfc3339(&created)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| Error::Corrupt {
                what: format!("image {id} created time {created:?}: {e}"),
            })?;
        let mut repo_tags: Vec<String> = db::tags_of(conn, id)?
            .iter()
            .map(|r| reference::familiar_str(r))
            .collect();
        repo_tags.sort();
        let mut repo_digests: Vec<String> = db::digests_of(conn, id)?
            .iter()
            .map(|r| reference::familiar_str(r))
            .collect();
        repo_digests.sort();
        let layers = db::strings(
            conn,
            "SELECT l.diff_id FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
             WHERE il.image_id = ?1 ORDER BY il.idx",
            id,
        )?;
        let layer_sizes = {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT l.size FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
                     WHERE il.image_id = ?1 ORDER BY il.idx",
                )
                .map_err(Error::db("prepare layer sizes"))?;
            let rows = stmt
                .query_map([id], |r| r.get::<_, i64>(0))
                .map_err(Error::db("query layer sizes"))?;
            rows.map(|r| r.map(|s| u64::try_from(s).unwrap_or(0)))
                .collect::<std::result::Result<Vec<u64>, _>>()
                .map_err(Error::db("query layer sizes"))?
        };
        Ok(ImageRecord {
            id: id.to_string(),
            repo_tags,
            repo_digests,
            created,
            size: u64::try_from(size).unwrap_or(0),
            config: self.read_config(id)?,
            parent,
            comment,
            layers,
            layer_sizes,
        })
    }

    /// Remove what interrupted operations left behind: layer dirs without a database row and
    /// snapshot dirs without a row (never a mounted one).
    fn recover(&self) -> Result<()> {
        let conn = self.lock();
        let layers = self.root.join("layers");
        for name in dir_names(&layers)? {
            let chain = format!("sha256:{name}");
            if !reference::is_full_hex_id(&name) || !db::layer_exists(&conn, &chain)? {
                tracing::warn!(layer = %name, "removing unregistered layer dir");
                let p = layers.join(&name);
                fs::remove_dir_all(&p).map_err(|e| Error::io("remove dir", &p, e))?;
            }
        }
        let links = self.root.join("l");
        for name in dir_names(&links)? {
            let p = links.join(&name);
            if !p.exists() {
                let _ = fs::remove_file(&p); // dangling short link of a deleted layer
            }
        }
        let snaps = self.root.join("snapshots");
        for name in dir_names(&snaps)? {
            let known = conn
                .query_row(
                    "SELECT 1 FROM snapshots WHERE key = ?1",
                    [&name],
                    |_| Ok(()),
                )
                .optional()
                .map_err(Error::db("query snapshot"))?
                .is_some();
            let p = snaps.join(&name);
            if !known && !crate::mount::is_mounted(&p.join("merged")) {
                tracing::warn!(snapshot = %name, "removing unregistered snapshot dir");
                fs::remove_dir_all(&p).map_err(|e| Error::io("remove dir", &p, e))?;
            }
        }
        Ok(())
    }
}

/// Resolve a user-supplied name to an image id (see [`ImageStore::resolve`]).
pub(crate) fn resolve_id(conn: &Connection, name: &str) -> Result<Resolved> {
    let not_found = || Error::NotFound {
        name: name.to_string(),
    };
    if let Some(hex) = name.strip_prefix("sha256:") {
        return resolve_prefix(conn, name, hex);
    }
    if reference::is_full_hex_id(name) {
        return resolve_prefix(conn, name, name);
    }
    if let Ok(r) = crate::reference_grammar::parse(name) {
        let canonical = reference::canonical(&r);
        let table = if r.digest().is_some() && r.tag().is_none() {
            "digests"
        } else {
            "tags"
        };
        let sql = format!("SELECT image_id FROM {table} WHERE reference = ?1");
        let id = conn
            .query_row(&sql, [&canonical], |r| r.get::<_, String>(0))
            .optional()
            .map_err(Error::db("query reference"))?;
        if let Some(id) = id {
            return Ok(Resolved {
                id,
                reference: Some(canonical),
            });
        }
    }
    if !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return resolve_prefix(conn, name, name);
    }
    Err(not_found())
}

fn resolve_prefix(conn: &Connection, name: &str, hex: &str) -> Result<Resolved> {
    let not_found = || Error::NotFound {
        name: name.to_string(),
    };
    if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let hex = hex.to_ascii_lowercase();
    let mut stmt = conn
        .prepare_cached("SELECT id FROM images WHERE substr(id, 8, ?2) = ?1 LIMIT 2")
        .map_err(Error::db("prepare prefix lookup"))?;
    let ids = stmt
        .query_map(params![hex, hex.len() as i64], |r| r.get::<_, String>(0))
        .map_err(Error::db("prefix lookup"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::db("prefix lookup"))?;
    match ids.len() {
        0 => Err(not_found()),
        1 => Ok(Resolved {
            id: ids.into_iter().next().unwrap_or_default(),
            reference: None,
        }),
        _ => Err(Error::Ambiguous {
            prefix: name.to_string(),
        }),
    }
}

pub(crate) fn dir_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read dir", dir, e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("read dir", dir, e))?;
        out.push(ent.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}

fn clean_dir(dir: &Path) -> Result<()> {
    for name in dir_names(dir)? {
        let p = dir.join(name);
        let r = match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p),
            Ok(_) => fs::remove_file(&p),
            Err(_) => Ok(()),
        };
        r.map_err(|e| Error::io("clean tmp", &p, e))?;
    }
    Ok(())
}

/// A directory under `tmp/` removed on drop unless disarmed.
pub(crate) struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(store_root: &Path, prefix: &str) -> Result<TempDir> {
        let path = store_root
            .join("tmp")
            .join(format!("{prefix}-{}", content::random_hex(8)?));
        fs::create_dir(&path).map_err(|e| Error::io("create dir", &path, e))?;
        Ok(TempDir { path })
    }

    pub(crate) fn disarm(mut self) {
        self.path = PathBuf::new();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            match fs::remove_dir_all(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "removing temporary dir")
                }
            }
        }
    }
}
