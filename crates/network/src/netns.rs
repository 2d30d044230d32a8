//! Network namespaces held open by a file descriptor.
//!
//! Why dedicated threads: `unshare(CLONE_NEWNET)`/`setns` change only the calling thread, and a
//! tokio worker (or blocking-pool thread) that was left in a container's namespace would run
//! unrelated work there later. Every namespace switch here happens on a short-lived
//! `std::thread` that ends right after, so the daemon's own threads never leave the host's
//! namespace and nothing has to be restored. Mount and user namespaces are never touched.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// A network namespace kept alive by an open descriptor. Dropping it closes the descriptor:
/// the kernel destroys the namespace (and the container end of every veth in it, which takes
/// the host end with it) once no process, descriptor or socket references it any more.
#[derive(Debug)]
pub struct NetNs {
    file: File,
}

impl NetNs {
    /// Creates a new network namespace with its loopback interface up.
    pub fn create() -> Result<NetNs> {
        on_thread(|| {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("unshare network namespace", e))?;
            let file = File::open("/proc/thread-self/ns/net")
                .map_err(|e| Error::io("open", "/proc/thread-self/ns/net", e))?;
            let mut netlink = Netlink::open()?;
            // Loopback is always index 1 in a fresh namespace.
            netlink.set_link(1, true, None, None)?;
            // Docker lets unprivileged processes in a container bind low ports and ping.
            for (key, value) in [
                ("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0"),
                ("/proc/sys/net/ipv4/ping_group_range", "0 2147483647"),
            ] {
                if let Err(e) = std::fs::write(key, value) {
                    tracing::debug!(key, error = %e, "setting container sysctl");
                }
            }
            Ok(NetNs { file })
        })
    }

    /// Adopts an existing network namespace, e.g. `/proc/<pid>/ns/net` of a running container
    /// after a daemon restart, or a bind-mounted namespace file. The namespace is only held
    /// (it stays alive while this descriptor is open); nothing in it is changed. Fails when
    /// `path` is not a network namespace.
    pub fn open(path: &Path) -> Result<NetNs> {
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        // Why check: setns() with another kind of namespace (or a plain file) would only
        // fail later, on first use. An nsfs descriptor's link reads "net:[inode]".
        let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .map_err(|e| Error::io("readlink", path, e))?;
        if !link.to_string_lossy().starts_with("net:[") {
            return Err(Error::InvalidArgument(format!(
                "{} is not a network namespace",
                path.display()
            )));
        }
        Ok(NetNs { file })
    }

    /// Opens a netlink socket that lives in this namespace.
    pub fn netlink(&self) -> Result<Netlink> {
        let fd = self.file.as_fd();
        let raw = fd.as_raw_fd();
        on_thread(move || {
            // SAFETY: `raw` is the descriptor owned by `self.file`, which outlives this call
            // (the thread is joined before `on_thread` returns).
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("enter network namespace", e))?;
            Netlink::open()
        })
    }

    /// Runs `f` on a thread inside this namespace (for sockets that must live in it).
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        let raw = self.file.as_raw_fd();
        on_thread(move || {
            // SAFETY: as in `netlink`: the descriptor outlives the joined thread.
            let fd = unsafe { BorrowedFd::borrow_raw(raw) };
            nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::sys("enter network namespace", e))?;
            f()
        })
    }

    /// A path other processes (the runtime) can open to join the namespace while this
    /// descriptor is open.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.file.as_raw_fd()
        ))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Runs `f` on a fresh thread and waits for it; namespace changes die with the thread.
fn on_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("network namespace thread panicked".into())))
    })
}
