//! Berth's image store: a content-addressed blob store, image metadata (ids, tags) in SQLite,
//! layers unpacked once and shared between images, and snapshotters (overlay, vfs fallback)
//! that give each container a writable root filesystem.
//!
//! Entry point: [`ImageStore`]. Layout on disk under the store root:
//! `blobs/sha256/<hex>`, `ingest/`, `layers/<chain-hex>/diff/`, `snapshots/<key>/`, `tmp/`,
//! `meta.db` (WAL, synchronous=FULL).

mod changes;
pub mod content;
mod db;
mod error;
mod import;
pub mod mount;
pub mod reference;
mod remove;
pub mod snapshot;
mod snapshots;
mod store;
mod sys;
pub mod unpack;

pub use changes::apply_changes;
pub use error::{Error, ErrorKind, Result};
pub use mount::Mount;
pub use snapshot::{OverlaySnapshotter, Snapshotter, SnapshotterKind, VfsSnapshotter};
pub use store::{ImageRecord, ImageStore, ImportOptions, RemovedItem};

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
