//! `delete`: remove a container's cgroup and state (killing it first with `force`).

use std::os::fd::AsFd;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::{Container, Status};
use crate::{Error, Result};

/// Deletes container `id`. A running container needs `force` (then it is SIGKILLed and waited
/// for); a created one is killed like runc does. Teardown is best effort: every step is tried and
/// the first error is returned.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let c = match Container::load(root, id) {
        Ok(c) => c,
        Err(Error::NotFound { .. }) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let status = c.status();
    if matches!(status, Status::Running | Status::Paused) && !force {
        return Err(Error::InvalidStatus {
            id: id.into(),
            status: status.to_string(),
            op: "delete",
        });
    }
    let mut first_err: Option<Error> = None;
    let cgroup = c.cgroup();
    if status != Status::Stopped {
        // Watch the init before killing it so its exit cannot be missed.
        let pidfd = crate::sys::pidfd_open(c.record.pid).ok();
        if let Ok(cg) = &cgroup {
            if let Err(e) = cg.kill_all(Signal::SIGKILL) {
                first_err.get_or_insert(Error::cgroup("kill", e));
            }
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.record.pid), Signal::SIGKILL);
        // A frozen process does not die until thawed.
        if let Ok(cg) = &cgroup {
            let _ = cg.thaw();
        }
        if let Some(pidfd) = pidfd {
            loop {
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    _ => break,
                }
            }
        }
    } else if let Ok(cg) = &cgroup {
        // Stragglers of a stopped container (host pid namespace) go too.
        let _ = cg.kill_all(Signal::SIGKILL);
    }
    match cgroup {
        Ok(cg) => {
            if let Err(e) = cg.destroy() {
                first_err.get_or_insert(Error::cgroup("destroy", e));
            }
        }
        Err(e) => {
            first_err.get_or_insert(e);
        }
    }
    let dir = c.dir();
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            first_err.get_or_insert(Error::io("remove", &dir, e));
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
