//! `pause` and `unpause`: the cgroup freezer.

use std::sync::Arc;

use crate::container::model::Status;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec;

impl Engine {
    /// Freezes every process of a running container.
    pub async fn pause(self: &Arc<Self>, reference: &str) -> Result<()> {
        self.set_frozen(reference, true).await
    }

    /// Thaws a paused container.
    pub async fn unpause(self: &Arc<Self>, reference: &str) -> Result<()> {
        self.set_frozen(reference, false).await
    }

    async fn set_frozen(self: &Arc<Self>, reference: &str, freeze: bool) -> Result<()> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        match (container.state.status, freeze) {
            (Status::Running, true) | (Status::Paused, false) => {}
            (Status::Paused, true) => {
                return Err(Error::conflict(format!(
                    "Container {} is already paused",
                    container.id
                )))
            }
            (Status::Running, false) => {
                return Err(Error::conflict(format!(
                    "Container {} is not paused",
                    container.id
                )))
            }
            _ => {
                return Err(Error::conflict(format!(
                    "Container {} is not running",
                    container.id
                )))
            }
        }
        let path = spec::cgroups_path(&container.id);
        tokio::task::spawn_blocking(move || -> Result<()> {
            let cgroup = berth_runtime::cgroups::Cgroup::new(&path)
                .map_err(|e| Error::internal(format!("cgroup {path}: {e}")))?;
            if freeze {
                cgroup.freeze()
            } else {
                cgroup.thaw()
            }
            .map_err(|e| {
                Error::internal(format!(
                    "{} {path}: {e}",
                    if freeze { "freeze" } else { "thaw" }
                ))
            })
        })
        .await
        .map_err(|e| Error::internal(format!("freezer task: {e}")))??;
        let record = handle.update(|c| {
            c.state.status = if freeze {
                Status::Paused
            } else {
                Status::Running
            }
        });
        self.persist(&record)?;
        self.emit_container(&record, if freeze { "pause" } else { "unpause" }, &[]);
        Ok(())
    }
}
