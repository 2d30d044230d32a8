//! `start`: let a created container's init exec its process.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{Container, Status, EXEC_FIFO};
use crate::{Error, Result};

/// Opens the exec fifo for reading, which unblocks the init parked in `create`, and waits for its
/// byte. Waits on the fifo and on a pidfd of the init together, so an init that dies meanwhile is
/// reported instead of blocking forever (no timeout needed).
pub fn start(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    c.require("start", &[Status::Created])?;
    let fifo_path = c.dir().join(EXEC_FIFO);
    let pidfd = crate::sys::pidfd_open(c.record.pid)?;
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .map_err(|e| Error::io("open", &fifo_path, e))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll exec fifo", e)),
        }
        let fifo_ev = fds[0].revents().unwrap_or(PollFlags::empty());
        let dead = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            let mut b = [0u8; 1];
            match fifo.read(&mut b) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(Error::io("read", &fifo_path, e)),
            }
            return Err(Error::Init {
                message: "container init exited before start".into(),
                errno: None,
            });
        }
        if dead {
            return Err(Error::Init {
                message: "container init exited before start".into(),
                errno: None,
            });
        }
    }
    std::fs::remove_file(&fifo_path).map_err(|e| Error::io("remove", &fifo_path, e))?;
    Ok(())
}
