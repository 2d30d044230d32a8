//! Berth's image store: a content-addressed blob store, image metadata (ids, tags) in SQLite,
//! layers unpacked once and shared between images, and snapshotters (overlay, vfs fallback)
//! that give each container a writable root filesystem.
//!
//! Entry point: [`ImageStore`]. Layout on disk under the store root:
//! `blobs/sha256/<hex>`, `ingest/`, `layers/<chain-hex>/diff/`, `snapshots/<key>/`, `tmp/`,
//! `meta.db` (WAL, synchronous=FULL).
//!
//! Decisions (where Docker's behaviour was a choice):
//! - Layer archives with absolute entry names are rejected (Docker re-roots them), as are `..`
//!   components and entries whose parent path passes through a symlink created by the same
//!   archive (Docker resolves those inside a chroot). Real rootfs and layer tars never need either.
//! - An imported image's layer blob is the uncompressed tar, so its digest equals the diff_id.
//!   A layer that already exists is reused; its second copy is discarded.
//! - Unpacked layers are flushed with one `syncfs(2)` before they are published, not an fsync per
//!   file; blobs are fsynced and renamed; the database uses synchronous=FULL.
//! - `remove(.., force=true, ..)` on an image in use only untags it (Docker refuses to delete an
//!   image used by a running container even with force, and deletes it for a stopped one).
//! - Image ids resolve from any unique hex prefix (>= 1 char); an ambiguous prefix is NotFound-kind.
//! - Layers are reference-counted by query: a layer lives while an image, a snapshot or a layer
//!   above it references it. Blobs not referenced by this crate's tables (future manifests) are
//!   never swept here.

mod changes;
pub mod content;
mod db;
mod error;
mod import;
pub mod mount;
pub mod pull;
pub mod pull_all;
pub mod push;
pub mod reference;
mod reference_grammar;
mod remove;
pub mod snapshot;
mod snapshots;
mod store;
mod sys;
pub mod unpack;

/// The registry client the pull and push orchestration drives (re-exported for the daemon).
pub use berth_registry as registry;
pub use changes::apply_changes;
pub use error::{Error, ErrorKind, Result};
pub use mount::Mount;
pub use snapshot::{OverlaySnapshotter, Snapshotter, SnapshotterKind, VfsSnapshotter};
pub use store::{ImageRecord, ImageStore, ImportOptions, RemovedItem};

pub mod archive;
mod commit;
pub mod diff;
mod naive_diff;
mod register;

pub use archive::LoadedImage;
pub use commit::CommitOptions;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

mod usage;
pub use usage::{ImageUsage, StoreUsage};

mod graph;
pub use graph::{join_dirs, GraphDirs, GraphDriver};
mod gc;
pub use gc::Lease;
