//! `kill`: signal a created or running container.

use std::path::Path;

use nix::sys::signal::Signal;

use super::{Container, Status};
use crate::{Error, Result};

/// Sends `signal` to the container's init, or with `all` to every process in its cgroup.
pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<()> {
    let c = Container::load(root, id)?;
    if all {
        // Like runc, --all is allowed on a stopped container (it may have leftover processes).
        c.require(
            "kill",
            &[
                Status::Created,
                Status::Running,
                Status::Paused,
                Status::Stopped,
            ],
        )?;
        return c
            .cgroup()?
            .kill_all(signal)
            .map_err(|e| Error::cgroup("kill", e));
    }
    c.require("kill", &[Status::Created, Status::Running, Status::Paused])?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.record.pid), signal)
        .map_err(|e| Error::sys(format!("kill {} {signal}", c.record.pid), e))
}
