//! `pause` / `resume`: freeze and thaw every process of a running container (cgroup freezer).

use std::path::Path;

use super::{Container, Status};
use crate::{Error, Result};

/// Freezes a running container.
pub fn pause(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    c.require("pause", &[Status::Running])?;
    c.cgroup()?.freeze().map_err(|e| Error::cgroup("freeze", e))
}

/// Thaws a paused container.
pub fn resume(root: &Path, id: &str) -> Result<()> {
    let c = Container::load(root, id)?;
    c.require("resume", &[Status::Paused])?;
    c.cgroup()?.thaw().map_err(|e| Error::cgroup("thaw", e))
}
