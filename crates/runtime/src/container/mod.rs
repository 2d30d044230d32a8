//! The OCI lifecycle over a state directory, one file per verb (create, start, state, kill,
//! delete, run), with a status guard on each.
//!
//! Layout: `ROOT/<id>/state.json` (our record of the container) and, between `create` and
//! `start`, `ROOT/<id>/exec.fifo` (the init is parked opening it). The status is derived, like
//! runc: init alive and fifo present = created, init alive = running, otherwise stopped.
//! Whoever deletes the container removes its cgroup and its directory.

mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod run;
mod start;
mod state;

pub use create::{create, CreateOptions};
pub use delete::delete;
pub use exec::{exec, ExecOptions, ExecTarget};
pub use kill::kill;
pub use pause::{pause, resume};
pub use run::{run, RunOptions};
pub use start::start;
pub use state::state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::{Error, Result};

/// The default state root of the `berth-runtime` CLI.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
const STATE_FILE: &str = "state.json";
pub(crate) const EXEC_FIFO: &str = "exec.fifo";

/// Lifecycle status (OCI runtime spec `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    /// Running but frozen by `pause` (runc's extra status).
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What we persist about a container in `ROOT/<id>/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub pid: i32,
    /// /proc/PID/stat start time of the init, to detect pid reuse.
    pub init_start_time: Option<u64>,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub cgroups_path: String,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// A container known under a state root.
#[derive(Debug, Clone)]
pub struct Container {
    pub root: PathBuf,
    pub record: ContainerRecord,
}

/// The OCI state document (`runc state` output).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

impl Container {
    /// The container's state directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.record.id)
    }

    /// Loads `ROOT/<id>/state.json`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        crate::bundle::validate_id(id)?;
        let path = root.join(id).join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound { id: id.into() })
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        let record = serde_json::from_slice(&data).map_err(|e| Error::Json {
            path: path.clone(),
            source: e,
        })?;
        Ok(Container {
            root: root.to_path_buf(),
            record,
        })
    }

    pub(crate) fn save(&self) -> Result<()> {
        let path = self.dir().join(STATE_FILE);
        let data = serde_json::to_vec(&self.record).map_err(|e| Error::Json {
            path: path.clone(),
            source: e,
        })?;
        crate::sys::write_atomic(&path, &data, false)
    }

    /// Whether the recorded init is still alive (same pid and start time, not a zombie).
    pub fn init_alive(&self) -> bool {
        let pid = self.record.pid;
        if pid <= 0 {
            return false;
        }
        match crate::sys::proc_state(pid) {
            None | Some('Z') | Some('X') => return false,
            Some(_) => {}
        }
        match self.record.init_start_time {
            Some(t) => crate::sys::proc_start_time(pid) == Some(t),
            None => true,
        }
    }

    /// The current status.
    pub fn status(&self) -> Status {
        if !self.init_alive() {
            Status::Stopped
        } else if self.dir().join(EXEC_FIFO).exists() {
            Status::Created
        } else if self.cgroup().is_ok_and(|c| c.is_frozen().unwrap_or(false)) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The OCI state document.
    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: "1.0.2".into(),
            id: self.record.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.record.pid
            },
            bundle: self.record.bundle.clone(),
            rootfs: self.record.rootfs.clone(),
            created: self.record.created.clone(),
            annotations: self.record.annotations.clone(),
        }
    }

    /// The container's cgroup handle.
    pub fn cgroup(&self) -> Result<Cgroup> {
        Cgroup::new(&self.record.cgroups_path).map_err(|e| Error::cgroup("open", e))
    }

    /// The status guard: fails unless the current status is one of `allowed`.
    pub(crate) fn require(&self, op: &'static str, allowed: &[Status]) -> Result<Status> {
        let s = self.status();
        if allowed.contains(&s) {
            Ok(s)
        } else {
            Err(Error::InvalidStatus {
                id: self.record.id.clone(),
                status: s.to_string(),
                op,
            })
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
