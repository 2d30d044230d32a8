//! `docker container prune`: remove every stopped container.

use std::sync::Arc;

use crate::container::model::Container;
use crate::engine::{Engine, ListOptions};
use crate::error::Result;

/// What a container prune removed.
#[derive(Debug, Default)]
pub struct ContainersPruned {
    /// full ids, in removal order
    pub ids: Vec<String>,
    /// bytes of the removed containers' writable layers
    pub space_reclaimed: u64,
}

impl Engine {
    /// Removes every container that is not running, paused or restarting (`created`,
    /// `exited`, `dead`), unless `keep(container)` vetoes it (the caller's until/label
    /// filters). Anonymous volumes stay, as with `docker container prune`. A container that
    /// fails to go (or started meanwhile) is logged and skipped, as Docker does.
    pub async fn prune_containers(
        self: &Arc<Self>,
        keep: &(dyn Fn(&Container) -> bool + Sync),
    ) -> Result<ContainersPruned> {
        let all = ListOptions {
            all: true,
            ..ListOptions::default()
        };
        let mut pruned = ContainersPruned::default();
        for container in self.list(&all)? {
            if container.state.status.is_alive() || keep(&container) {
                continue;
            }
            let size = self.images.snapshot_usage(&container.id).unwrap_or(0);
            // not forced: a container started since the listing is refused, not killed
            match self.remove(&container.id, false, false).await {
                Ok(()) => {
                    pruned.ids.push(container.id.clone());
                    pruned.space_reclaimed += size;
                }
                Err(e) => {
                    tracing::warn!(id = %container.id, error = %e, "prune: container not removed")
                }
            }
        }
        Ok(pruned)
    }
}
