//! The container side of `docker cp`: stat a path, stream it out as a tar, or extract a tar
//! into a directory, with every path resolved inside the container's root.
//!
//! Why a confined helper process: resolving a container path in the daemon (lstat, readlink,
//! then open the result) is racy: a process in the container can swap a path component for a
//! symlink to `/` between the check and the use and make the daemon read or write the host
//! (CVE-2018-15664). Here the helper ([`confine`]) builds the container's filesystem view in a
//! private mount namespace of its own (the rootfs, then every volume and bind mount moved onto
//! its destination) and `chroot`s into it. From then on every path, `..` and symlink —
//! including ones changed while we run — is resolved by the kernel inside that root, so no
//! race can reach the host. [`confine`] must run in a single-threaded process (`unshare` of
//! a mount namespace, `chroot`), never in the tokio daemon.
//!
//! The wire format of [`PathStat`] is Docker's `X-Docker-Container-Path-Stat` JSON (Go's
//! `os.FileMode` bits in `mode`).

mod confine;
mod tarball;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use confine::{confine, ArchiveMount, Confinement};
pub use tarball::{extract, write_tar, ExtractOptions};

/// What went wrong, classified for the engine (`kind`) and worded as Docker words it.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The path does not exist in the container.
    #[error("Could not find the file {path} in container")]
    NotFound { path: String },
    /// A request that cannot be honoured (extract into a non-directory, overwrite a directory
    /// with a file under `noOverwriteDirNonDir`, bad tar).
    #[error("{message}")]
    Invalid { message: String },
    /// The destination is on a read-only mount.
    #[error("{message}")]
    ReadOnly { message: String },
    /// Setting up the confinement or an I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ArchiveError {
    /// The contract string the engine maps to an error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ArchiveError::NotFound { .. } => "not_found",
            ArchiveError::Invalid { .. } => "invalid",
            ArchiveError::ReadOnly { .. } => "read_only",
            ArchiveError::Io { source, .. } if source.raw_os_error() == Some(libc::EROFS) => {
                "read_only"
            }
            ArchiveError::Io { .. } => "other",
        }
    }

    /// An I/O error on `path` during `op`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArchiveError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// Docker's `types.ContainerPathStat`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go `os.FileMode`: permission bits plus type bits (`1<<31` directory, `1<<27` symlink, …).
    pub mode: u32,
    /// RFC 3339, UTC.
    pub mtime: String,
    /// For a symlink: the absolute path it resolves to inside the container.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// The base name Docker gives a requested path: `.` for `dir/.`, the last component
/// otherwise, `/` for the root.
pub fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    match trimmed.rsplit_once('/') {
        Some((_, last)) => last.to_owned(),
        None => trimmed.to_owned(),
    }
}

/// Converts a `st_mode` into Go's `os.FileMode` bits (what the docker CLI decodes).
pub fn go_file_mode(st_mode: u32) -> u32 {
    const GO_DIR: u32 = 1 << 31;
    const GO_SYMLINK: u32 = 1 << 27;
    const GO_DEVICE: u32 = 1 << 26;
    const GO_PIPE: u32 = 1 << 25;
    const GO_SOCKET: u32 = 1 << 24;
    const GO_SETUID: u32 = 1 << 23;
    const GO_SETGID: u32 = 1 << 22;
    const GO_CHAR: u32 = 1 << 21;
    const GO_STICKY: u32 = 1 << 20;
    let mut mode = st_mode & 0o777;
    mode |= match st_mode & libc::S_IFMT {
        libc::S_IFDIR => GO_DIR,
        libc::S_IFLNK => GO_SYMLINK,
        libc::S_IFIFO => GO_PIPE,
        libc::S_IFSOCK => GO_SOCKET,
        libc::S_IFBLK => GO_DEVICE,
        libc::S_IFCHR => GO_DEVICE | GO_CHAR,
        _ => 0,
    };
    if st_mode & libc::S_ISUID != 0 {
        mode |= GO_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        mode |= GO_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        mode |= GO_STICKY;
    }
    mode
}

/// Makes a requested container path absolute (Docker treats relative paths as relative to `/`).
pub fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// Stats `path` inside the (already confined) root: the path itself when it names a symlink
/// (then `linkTarget` says where it leads), what it resolves to when it ends in `/` or `/.`.
pub fn stat(path: &str) -> Result<PathStat, ArchiveError> {
    let path = absolute(path);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| not_found_or(&path, "stat", e))?;
    let link_target = if meta.file_type().is_symlink() {
        // Resolved by the kernel inside our root: a symlink to `/etc` is the container's /etc.
        match std::fs::canonicalize(&path) {
            Ok(target) => target.to_string_lossy().into_owned(),
            Err(_) => {
                let raw = std::fs::read_link(&path)
                    .map_err(|e| ArchiveError::io("readlink", &path, e))?;
                let parent = Path::new(&path).parent().unwrap_or(Path::new("/"));
                parent.join(raw).to_string_lossy().into_owned()
            }
        }
    } else {
        String::new()
    };
    let mtime = chrono::DateTime::from_timestamp(meta.mtime(), 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Ok(PathStat {
        name: base_name(&path),
        size: meta.size() as i64,
        mode: go_file_mode(meta.permissions().mode() | (meta.mode() & libc::S_IFMT)),
        mtime,
        link_target,
    })
}

pub(crate) fn not_found_or(path: &str, op: &'static str, e: std::io::Error) -> ArchiveError {
    if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) {
        ArchiveError::NotFound {
            path: path.to_owned(),
        }
    } else {
        ArchiveError::io(op, path, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_modes_match_docker() {
        // Values seen from dockerd 20.10 for a symlink (0777) and a 0755 directory.
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), 134_218_239);
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), 2_147_484_141);
        assert_eq!(go_file_mode(libc::S_IFREG | 0o4755), 0o755 | 1 << 23);
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("/tmp/d/."), ".");
        assert_eq!(base_name("/tmp/d/"), "d");
        assert_eq!(base_name("/tmp/d"), "d");
        assert_eq!(base_name("/"), "/");
        assert_eq!(base_name("etc"), "etc");
    }
}
