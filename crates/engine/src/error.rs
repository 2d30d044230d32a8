//! The engine's error type. [`ErrorKind`] is what the daemon turns into an HTTP status.

use std::path::PathBuf;

/// What kind of failure an [`Error`] is, independent of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such object (404).
    NotFound,
    /// The object's state forbids the operation, or a name is taken (409).
    Conflict,
    /// The request is malformed or names something invalid (400).
    InvalidArgument,
    /// Nothing to do (304), e.g. stopping a stopped container.
    NotModified,
    /// A real fault on our side or in the kernel (500).
    Internal,
}

/// An engine failure; the message is what the user sees (Docker's wording where it has one).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    NotFound { message: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    InvalidArgument { message: String },
    #[error("{message}")]
    NotModified { message: String },
    /// The container's command could not be started; `exit_code` is 126 or 127 as Docker's.
    #[error("{message}")]
    StartFailed { message: String, exit_code: i64 },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    #[error(transparent)]
    Network(#[from] berth_network::Error),
    #[error("{message}")]
    Internal { message: String },
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The category the daemon maps to an HTTP status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::NotModified { .. } => ErrorKind::NotModified,
            Error::Network(e) => match e {
                berth_network::Error::Conflict(_) => ErrorKind::Conflict,
                berth_network::Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
                _ => ErrorKind::Internal,
            },
            Error::Image(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_image::ErrorKind::Conflict => ErrorKind::Conflict,
                berth_image::ErrorKind::InvalidArgument => ErrorKind::InvalidArgument,
                berth_image::ErrorKind::Internal => ErrorKind::Internal,
            },
            Error::StartFailed { .. }
            | Error::Io { .. }
            | Error::Database(_)
            | Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Error {
        Error::NotFound {
            message: message.into(),
        }
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Error {
        Error::Conflict {
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Error {
        Error::Internal {
            message: message.into(),
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
