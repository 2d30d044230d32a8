//! `GraphDriver` data for `docker image inspect` and `docker container inspect`: where an image's
//! layers and a container's writable layer live on disk, in the shape Docker's overlay2 driver
//! reports them.

use std::path::{Path, PathBuf};

use crate::db;
use crate::error::{Error, Result};
use crate::snapshot::SnapshotterKind;
use crate::store::{resolve_id, ImageStore};

/// The storage driver's view of an image or a container layer.
///
/// For overlay (reported as Docker's `overlay2`): `lower_dirs` are the diff dirs below, top-most
/// first; `upper_dir` is the top diff dir (an image's top layer, a container's writable layer);
/// `merged_dir` and `work_dir` are overlay's mount point and scratch dir. For an image, as with
/// Docker, `merged_dir` and `work_dir` name where they would be and need not exist (image layers
/// are never mounted writable). With vfs, Docker reports no data: `data` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphDriver {
    /// `overlay2` or `vfs` (what `docker info` reports as the storage driver)
    pub name: &'static str,
    /// the directories, `None` for drivers that report none
    pub data: Option<GraphDirs>,
}

/// Directories of an overlay layer stack (see [`GraphDriver`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphDirs {
    /// the diff dirs below the upper one, top-most first (empty for a one-layer image)
    pub lower_dirs: Vec<PathBuf>,
    pub upper_dir: PathBuf,
    pub merged_dir: PathBuf,
    pub work_dir: PathBuf,
}

impl SnapshotterKind {
    /// The storage driver name Docker users know for this snapshotter.
    pub fn driver_name(self) -> &'static str {
        match self {
            SnapshotterKind::Overlay => "overlay2",
            SnapshotterKind::Vfs => "vfs",
        }
    }
}

impl ImageStore {
    /// The `GraphDriver` of an image (any name [`resolve`](Self::resolve) takes). An image
    /// without layers has no directories. Errors: [`Error::NotFound`].
    pub fn image_graph_driver(&self, name: &str) -> Result<GraphDriver> {
        let kind = self.snapshotter_kind();
        let chains = {
            let conn = self.lock();
            let id = resolve_id(&conn, name)?.id;
            db::image_chains(&conn, &id)?
        };
        if kind == SnapshotterKind::Vfs {
            return Ok(GraphDriver {
                name: kind.driver_name(),
                data: None,
            });
        }
        let Some((top, below)) = chains.split_last() else {
            return Ok(GraphDriver {
                name: kind.driver_name(),
                data: None,
            });
        };
        let top = self.layer_dir(top)?;
        Ok(GraphDriver {
            name: kind.driver_name(),
            data: Some(GraphDirs {
                lower_dirs: self.diff_dirs(below)?,
                upper_dir: top.join("diff"),
                merged_dir: top.join("merged"),
                work_dir: top.join("work"),
            }),
        })
    }

    /// The `GraphDriver` of a container's snapshot `key`: its image layers as lower dirs and its
    /// own `upper`, `merged` and `work` dirs. Errors: [`Error::SnapshotNotFound`].
    pub fn snapshot_graph_driver(&self, key: &str) -> Result<GraphDriver> {
        let (kind, chains) = {
            let conn = self.lock();
            let kind = snapshot_kind(&conn, key)?;
            (kind, db::snapshot_chains(&conn, key)?)
        };
        if kind == SnapshotterKind::Vfs {
            return Ok(GraphDriver {
                name: kind.driver_name(),
                data: None,
            });
        }
        let dir = self.root.join("snapshots").join(key);
        Ok(GraphDriver {
            name: kind.driver_name(),
            data: Some(GraphDirs {
                lower_dirs: self.diff_dirs(&chains)?,
                upper_dir: dir.join("upper"),
                merged_dir: dir.join("merged"),
                work_dir: dir.join("work"),
            }),
        })
    }

    /// Full diff dir paths of `chains` (base first), top-most first.
    fn diff_dirs(&self, chains: &[String]) -> Result<Vec<PathBuf>> {
        chains
            .iter()
            .rev()
            .map(|c| Ok(self.layer_dir(c)?.join("diff")))
            .collect()
    }
}

fn snapshot_kind(conn: &rusqlite::Connection, key: &str) -> Result<SnapshotterKind> {
    use rusqlite::OptionalExtension;
    let kind: Option<String> = conn
        .query_row("SELECT kind FROM snapshots WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(Error::db("read snapshot"))?;
    let kind = kind.ok_or_else(|| Error::SnapshotNotFound {
        key: key.to_string(),
    })?;
    SnapshotterKind::parse(&kind).ok_or_else(|| Error::Corrupt {
        what: format!("snapshot {key}: unknown snapshotter {kind:?}"),
    })
}

/// `LowerDir` as Docker joins it: paths separated by `:`.
pub fn join_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|p: &PathBuf| Path::display(p).to_string())
        .collect::<Vec<_>>()
        .join(":")
}
