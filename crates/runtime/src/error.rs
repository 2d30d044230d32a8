//! The runtime's error type.

use std::path::PathBuf;

/// How an `execve` of the container's process failed; maps to Docker's exit codes
/// (127 for [`ExecErrorKind::NotFound`], 126 for [`ExecErrorKind::NotExecutable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecErrorKind {
    /// The executable does not exist (ENOENT, ENOTDIR, not found in PATH).
    NotFound,
    /// The file exists but cannot be executed (EACCES, EPERM, ENOEXEC, EISDIR).
    NotExecutable,
    /// Anything else.
    Other,
}

impl ExecErrorKind {
    /// Classifies an `execve`/lookup errno.
    pub fn from_errno(errno: i32) -> Self {
        match errno {
            libc::ENOENT | libc::ENOTDIR | libc::ELOOP => ExecErrorKind::NotFound,
            libc::EACCES | libc::EPERM | libc::ENOEXEC | libc::EISDIR => {
                ExecErrorKind::NotExecutable
            }
            _ => ExecErrorKind::Other,
        }
    }

    /// The contract string (`not_found`, `not_executable`, `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecErrorKind::NotFound => "not_found",
            ExecErrorKind::NotExecutable => "not_executable",
            ExecErrorKind::Other => "other",
        }
    }
}

/// Every error the runtime reports. Messages are lowercase with context in fields.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: nix::Error,
    },
    /// The bundle's config.json is unreadable or invalid.
    #[error("invalid spec {path}: {message}")]
    Spec { path: PathBuf, message: String },
    /// The spec asks for something this runtime or kernel cannot do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A cgroup operation failed.
    #[error("cgroup {op}: {source}")]
    Cgroup {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Compiling or loading the seccomp filter failed.
    #[error("seccomp: {source}")]
    Seccomp {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The container's init process failed while setting up (reported from the child).
    #[error("container init failed: {message}")]
    Init { message: String, errno: Option<i32> },
    /// Executing the container's process failed (reported from the child).
    #[error("exec {path}: {message}")]
    Exec {
        path: String,
        kind: ExecErrorKind,
        message: String,
    },
    /// No container with that id under the state root.
    #[error("container {id} does not exist")]
    NotFound { id: String },
    /// A container with that id already exists.
    #[error("container {id} already exists")]
    AlreadyExists { id: String },
    /// The verb is not allowed in the container's current status.
    #[error("container {id} is {status}, cannot {op}")]
    InvalidStatus {
        id: String,
        status: String,
        op: &'static str,
    },
    /// A bad argument (container id, signal name, option).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Encoding or decoding a JSON document failed.
    #[error("json {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The runtime's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for an [`Error::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for an [`Error::Sys`].
    pub(crate) fn sys(op: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            op: op.into(),
            source,
        }
    }

    /// Wraps an error from the cgroups module (whatever its error type).
    pub(crate) fn cgroup<E>(op: &'static str, e: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Error::Cgroup {
            op,
            source: e.into(),
        }
    }

    /// The exec failure class, for Docker's 126/127 exit codes; `Other` for non-exec errors.
    pub fn exec_kind(&self) -> ExecErrorKind {
        match self {
            Error::Exec { kind, .. } => *kind,
            _ => ExecErrorKind::Other,
        }
    }

    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Sys { source, .. } => Some(*source as i32),
            Error::Init { errno, .. } => *errno,
            _ => None,
        }
    }
}
