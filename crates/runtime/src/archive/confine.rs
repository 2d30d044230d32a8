//! Entering the container's filesystem view: a private mount namespace with the container's
//! volumes and binds on their destinations, then `chroot` into the rootfs.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

use super::ArchiveError;

// Kernel ABI constants of the new mount API (linux/mount.h, fcntl.h); stable since 5.2.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// One mount of the container to recreate in the helper's view.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ArchiveMount {
    /// Host path (volume data directory or bind source).
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    pub readonly: bool,
}

/// The container's filesystem as the helper rebuilds it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Confinement {
    /// The mounted rootfs (a mount point on the host).
    pub rootfs: PathBuf,
    /// Volumes and binds, parents before children.
    pub mounts: Vec<ArchiveMount>,
    /// `--read-only`: writes to the rootfs itself fail with EROFS.
    pub readonly_rootfs: bool,
}

/// Moves the calling process into a private mount namespace holding the container's view and
/// `chroot`s into it. Single-threaded processes only. Nothing outside the container's root is
/// reachable by path afterwards; the namespace (and every mount made here) disappears when the
/// process exits.
pub fn confine(conf: &Confinement) -> Result<(), ArchiveError> {
    let sys = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |e: nix::Error| ArchiveError::io(op, path, std::io::Error::from(e))
    };
    unshare(CloneFlags::CLONE_NEWNS).map_err(sys("unshare mount namespace", Path::new("/")))?;
    // Nothing we mount may propagate back to the host's namespace.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(sys("make mounts private", Path::new("/")))?;

    // Clone every source tree while host paths still mean the host (they are trusted: the
    // engine's volume directories and the user's bind sources)...
    let mut trees = Vec::with_capacity(conf.mounts.len());
    for m in &conf.mounts {
        let is_dir = std::fs::metadata(&m.source)
            .map_err(|e| ArchiveError::io("stat mount source", &m.source, e))?
            .is_dir();
        trees.push((open_tree(&m.source)?, is_dir));
    }

    nix::unistd::chroot(&conf.rootfs).map_err(sys("chroot", &conf.rootfs))?;
    nix::unistd::chdir("/").map_err(sys("chdir", Path::new("/")))?;

    // ...then attach them at destinations resolved inside the container's root only.
    for (m, (tree, is_dir)) in conf.mounts.iter().zip(trees) {
        let dest = Path::new(&m.destination);
        if is_dir {
            std::fs::create_dir_all(dest)
                .map_err(|e| ArchiveError::io("create mount point", dest, e))?;
        } else {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| ArchiveError::io("create mount point", parent, e))?;
            }
            if std::fs::symlink_metadata(dest).is_err() {
                std::fs::File::create(dest)
                    .map_err(|e| ArchiveError::io("create mount point", dest, e))?;
            }
        }
        move_mount(&tree, dest)?;
        if m.readonly {
            remount_readonly(dest)?;
        }
    }
    if conf.readonly_rootfs {
        remount_readonly(Path::new("/"))?;
    }
    Ok(())
}

fn cstring(path: &Path) -> Result<CString, ArchiveError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| ArchiveError::Invalid {
        message: format!("path {} contains a NUL byte", path.display()),
    })
}

/// A detached recursive copy of the mount tree at `source`.
fn open_tree(source: &Path) -> Result<OwnedFd, ArchiveError> {
    let c = cstring(source)?;
    // SAFETY: open_tree(2) with a valid NUL-terminated path; it returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(ArchiveError::io(
            "clone mount",
            source,
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches the detached tree `tree` at `dest` (resolved relative to our current root).
fn move_mount(tree: &OwnedFd, dest: &Path) -> Result<(), ArchiveError> {
    use std::os::fd::AsRawFd;
    let c = cstring(dest)?;
    let empty = c"";
    // SAFETY: move_mount(2) with a valid fd, an empty source path (F_EMPTY_PATH) and a valid
    // NUL-terminated destination path.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(ArchiveError::io(
            "attach mount",
            dest,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn remount_readonly(dest: &Path) -> Result<(), ArchiveError> {
    mount(
        None::<&str>,
        dest,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(|e| ArchiveError::io("remount read-only", dest, std::io::Error::from(e)))
}
