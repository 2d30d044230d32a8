//! Error type of the image crate.

use std::path::PathBuf;

/// Result alias used by every fallible function of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Coarse classification of an [`Error`], for callers that map errors to protocol
/// status codes (the engine maps them to 404/409/400/500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named image, layer, blob or snapshot does not exist (404).
    NotFound,
    /// The operation conflicts with the current state, e.g. an image in use (409).
    Conflict,
    /// The caller's input is invalid: reference, archive, change, platform, key (400).
    InvalidArgument,
    /// Something failed inside the store: disk, database, kernel (500).
    Internal,
}

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No image matches the given name, id or id prefix.
    #[error("no such image: {name}")]
    NotFound {
        /// the name as given by the caller
        name: String,
    },
    /// More than one image id starts with the given prefix.
    #[error("image id prefix {prefix} is ambiguous")]
    Ambiguous {
        /// the prefix as given by the caller
        prefix: String,
    },
    /// No snapshot with this key exists.
    #[error("no such snapshot: {key}")]
    SnapshotNotFound {
        /// snapshot key
        key: String,
    },
    /// A blob is missing from the content store.
    #[error("blob not found: {digest}")]
    BlobNotFound {
        /// digest of the missing blob
        digest: String,
    },
    /// The operation conflicts with the store's state (image in use, multiple tags, ...).
    #[error("conflict: {message}")]
    Conflict {
        /// human-readable explanation, Docker's wording where Docker has one
        message: String,
    },
    /// A reference (image name) is malformed.
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference {
        /// the reference as given
        reference: String,
        /// what is wrong with it
        reason: String,
    },
    /// A layer archive is malformed or malicious; nothing of it was kept.
    #[error("invalid archive: entry {entry:?}: {reason}")]
    InvalidArchive {
        /// the tar entry's path (or `<archive>` for stream-level errors)
        entry: String,
        /// what is wrong with it
        reason: String,
    },
    /// A `--change` instruction could not be applied.
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange {
        /// the instruction as given
        change: String,
        /// what is wrong with it
        reason: String,
    },
    /// Some other argument is invalid (platform, snapshot key, digest).
    #[error("invalid argument: {what}: {reason}")]
    InvalidArgument {
        /// which argument
        what: String,
        /// what is wrong with it
        reason: String,
    },
    /// A digest did not match the content it names.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// the digest the caller announced
        expected: String,
        /// the digest of the bytes received
        actual: String,
    },
    /// A feature this store does not support (yet).
    #[error("unsupported: {what}")]
    Unsupported {
        /// what is unsupported
        what: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// the operation, e.g. "create dir"
        op: &'static str,
        /// the path it was applied to
        path: PathBuf,
        /// the OS error
        #[source]
        source: std::io::Error,
    },
    /// A mount or unmount failed.
    #[error("{op} {target}: {source}")]
    Mount {
        /// "mount" or "unmount"
        op: &'static str,
        /// mount point
        target: PathBuf,
        /// the kernel's error
        #[source]
        source: nix::Error,
    },
    /// A database operation failed.
    #[error("database: {op}: {source}")]
    Db {
        /// what we were doing
        op: &'static str,
        /// the SQLite error
        #[source]
        source: rusqlite::Error,
    },
    /// A registry operation (pull, push, login, search) failed.
    #[error("{0}")]
    Registry(#[from] berth_registry::Error),
    /// Stored data is inconsistent or unreadable (e.g. a config blob that does not parse).
    #[error("corrupt store: {what}")]
    Corrupt {
        /// what is corrupt
        what: String,
    },
}

impl Error {
    /// The coarse class of this error (NotFound, Conflict, InvalidArgument, Internal).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. }
            | Error::Ambiguous { .. }
            | Error::SnapshotNotFound { .. }
            | Error::BlobNotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::InvalidReference { .. }
            | Error::InvalidArchive { .. }
            | Error::InvalidChange { .. }
            | Error::InvalidArgument { .. }
            | Error::DigestMismatch { .. }
            | Error::Unsupported { .. } => ErrorKind::InvalidArgument,
            Error::Io { .. } | Error::Mount { .. } | Error::Db { .. } | Error::Corrupt { .. } => {
                ErrorKind::Internal
            }
            // moby reports "pull access denied ... may require 'docker login'" as not found
            Error::Registry(e) => match e.kind() {
                berth_registry::ErrorKind::NotFound | berth_registry::ErrorKind::Unauthorized => {
                    ErrorKind::NotFound
                }
                berth_registry::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                berth_registry::ErrorKind::Unavailable => ErrorKind::Internal,
            },
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn db(op: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Db { op, source }
    }

    pub(crate) fn archive(entry: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidArchive {
            entry: entry.into(),
            reason: reason.into(),
        }
    }
}
