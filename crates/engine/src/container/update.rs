//! `update`: change a container's resource limits and restart policy, live.

use std::sync::Arc;

use crate::container::create::validate_resources;
use crate::container::model::{HostSpec, RestartPolicy};
use crate::container::restart::validate_policy;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec;

/// What `docker update` changes. `None` leaves a setting as it is (Docker treats zero the
/// same way; the daemon maps zeros to `None`). `pids_limit` of 0 or -1 means unlimited.
#[derive(Debug, Clone, Default)]
pub struct UpdateSpec {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicy>,
}

impl UpdateSpec {
    fn changes_resources(&self) -> bool {
        self.memory.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some()
            || self.nano_cpus.is_some()
            || self.cpu_shares.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.pids_limit.is_some()
    }

    /// The container's host settings with this update applied.
    fn apply_to(&self, host: &HostSpec) -> HostSpec {
        let mut new = host.clone();
        let set = |target: &mut i64, value: Option<i64>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        set(&mut new.memory, self.memory);
        set(&mut new.memory_swap, self.memory_swap);
        set(&mut new.memory_reservation, self.memory_reservation);
        set(&mut new.cpu_shares, self.cpu_shares);
        set(&mut new.cpu_period, self.cpu_period);
        set(&mut new.cpu_quota, self.cpu_quota);
        set(&mut new.pids_limit, self.pids_limit);
        if let Some(nano) = self.nano_cpus {
            new.nano_cpus = nano;
        }
        if let Some(cpus) = &self.cpuset_cpus {
            new.cpuset_cpus = cpus.clone();
        }
        if let Some(mems) = &self.cpuset_mems {
            new.cpuset_mems = mems.clone();
        }
        if let Some(policy) = &self.restart_policy {
            new.restart_policy = policy.clone();
        }
        new
    }
}

impl Engine {
    /// Applies `update` to the stored record and, if the container runs, to its cgroups.
    /// Validation happens first; if the kernel refuses a limit the record is left unchanged.
    /// Returns Docker's warnings (none so far).
    pub async fn update(
        self: &Arc<Self>,
        reference: &str,
        update: UpdateSpec,
    ) -> Result<Vec<String>> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        let host = update.apply_to(&container.spec.host);
        validate_resources(&host)?;
        if let Some(policy) = &update.restart_policy {
            validate_policy(policy)?;
            if container.spec.host.auto_remove && !matches!(policy.name.as_str(), "" | "no") {
                return Err(Error::invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
        }
        // A `restarting` container has no cgroup until its next start, which uses the record.
        if update.changes_resources()
            && container.state.status.is_alive()
            && container.state.pid > 0
        {
            let resources = spec::updated_resources(&host)?;
            let path = spec::cgroups_path(&container.id);
            tokio::task::spawn_blocking(move || -> Result<()> {
                let cgroup = berth_runtime::cgroups::Cgroup::new(&path)
                    .map_err(|e| Error::internal(format!("cgroup {path}: {e}")))?;
                // The kernel refuses e.g. a memory limit below the current usage.
                cgroup
                    .apply(&resources)
                    .map_err(|e| Error::invalid(format!("Cannot update container: {e}")))
            })
            .await
            .map_err(|e| Error::internal(format!("update task: {e}")))??;
        }
        let record = handle.update(|c| c.spec.host = host);
        self.persist(&record)?;
        self.emit_container(&record, "update", &[]);
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_keep_the_current_values() {
        let host = HostSpec {
            memory: 64 << 20,
            cpu_shares: 512,
            pids_limit: 10,
            ..Default::default()
        };
        let update = UpdateSpec {
            memory: Some(128 << 20),
            pids_limit: Some(-1),
            ..Default::default()
        };
        let new = update.apply_to(&host);
        assert_eq!(new.memory, 128 << 20);
        assert_eq!(new.cpu_shares, 512);
        assert_eq!(new.pids_limit, -1);
        assert!(update.changes_resources());
        assert!(!UpdateSpec::default().changes_resources());
    }
}
