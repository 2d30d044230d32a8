//! Volumes of the `local` driver: a directory `<data-root>/volumes/<name>/_data` (or, with
//! driver options, a filesystem mounted there while containers use it), records in SQLite.
//!
//! Lifecycle: `volume_create` (or a container create naming an unknown volume) makes the record
//! and the directory; containers reference volumes by name in their mount points; a volume is
//! removed only when no container references it (`volume_remove`, `volume_prune`, or `rm -v` /
//! `--rm` for anonymous ones). Creating, removing and resolving container mounts are serialised
//! by `Engine::volume_lock`, so a volume cannot disappear between being chosen and recorded.

pub(crate) mod copyup;
mod local;
pub(crate) mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::container::model::MountKind;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids;

/// The only volume driver Berth has.
pub const LOCAL_DRIVER: &str = "local";

/// The label Docker puts on anonymous volumes (`volume prune` without `all` removes only those).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// Always [`LOCAL_DRIVER`].
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    /// The local driver's options (`type`, `device`, `o`), as given.
    pub options: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
}

impl Volume {
    /// Whether this volume was created without a name for one container.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// A validated `volume create` request.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    /// `None` or empty: a random 64-hex name.
    pub name: Option<String>,
    /// Empty means `local`.
    pub driver: String,
    pub driver_opts: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `volume ls` filters, already parsed by the daemon; every given filter must match.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilters {
    /// Substrings of the name (any matches).
    pub names: Vec<String>,
    /// `key` or `key=value` (all must match).
    pub labels: Vec<String>,
    /// `Some(true)`: only volumes no container references; `Some(false)`: only referenced ones.
    pub dangling: Option<bool>,
    pub drivers: Vec<String>,
}

/// What `volume prune` removed.
#[derive(Debug, Clone, Default)]
pub struct VolumePruned {
    pub names: Vec<String>,
    pub space_reclaimed: u64,
}

impl Engine {
    /// The host directory holding a volume's data (Docker's `Mountpoint`).
    pub fn volume_mountpoint(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    fn volume_dir(&self, name: &str) -> PathBuf {
        self.config.data_root.join("volumes").join(name)
    }

    /// Creates a volume. Creating an existing name returns the existing volume unchanged, as
    /// Docker does. Unknown drivers and options are refused before anything is written.
    pub async fn volume_create(&self, request: VolumeCreate) -> Result<Volume> {
        let _lock = self.volume_lock.lock().await;
        self.volume_create_locked(request)
    }

    /// `volume_create` with `volume_lock` held by the caller.
    pub(crate) fn volume_create_locked(&self, request: VolumeCreate) -> Result<Volume> {
        let driver = if request.driver.is_empty() {
            LOCAL_DRIVER
        } else {
            request.driver.as_str()
        };
        let name = match request.name.filter(|n| !n.is_empty()) {
            Some(name) => name,
            None => ids::new_id()?,
        };
        if driver != LOCAL_DRIVER {
            return Err(Error::not_found(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        validate_name(&name)?;
        local::validate_options(&request.driver_opts)
            .map_err(|e| Error::invalid(format!("create {name}: {e}")))?;
        if let Some(existing) = self.volumes.get(&name)? {
            return Ok(existing);
        }
        let volume = Volume {
            name: name.clone(),
            driver: LOCAL_DRIVER.to_owned(),
            labels: request.labels,
            options: request.driver_opts,
            created: Utc::now(),
        };
        let data = self.volume_mountpoint(&name);
        std::fs::create_dir_all(&data).map_err(|e| Error::io("create", &data, e))?;
        if let Err(e) = self.volumes.insert(&volume) {
            let _ = std::fs::remove_dir_all(self.volume_dir(&name));
            return Err(e);
        }
        self.emit_volume("create", &name, &[("driver", volume.driver.clone())]);
        Ok(volume)
    }

    /// The volume named `name`, with Docker's not-found message.
    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        self.volumes
            .get(name)?
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))
    }

    /// Volumes matching `filters`, oldest first.
    pub fn volume_list(&self, filters: &VolumeFilters) -> Result<Vec<Volume>> {
        let all = self.volumes.load_all()?;
        let mut out = Vec::new();
        for volume in all {
            let name_ok =
                filters.names.is_empty() || filters.names.iter().any(|n| volume.name.contains(n));
            let driver_ok = filters.drivers.is_empty() || filters.drivers.contains(&volume.driver);
            let labels_ok = filters
                .labels
                .iter()
                .all(|l| label_filter_matches(l, &volume.labels));
            let dangling_ok = match filters.dangling {
                None => true,
                Some(dangling) => self.volume_users(&volume.name)?.is_empty() == dangling,
            };
            if name_ok && driver_ok && labels_ok && dangling_ok {
                out.push(volume);
            }
        }
        Ok(out)
    }

    /// IDs of the containers (in any state) whose mounts reference volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .table()?
            .values()
            .map(|h| h.snapshot())
            .filter(|c| {
                c.mount_points
                    .iter()
                    .any(|m| m.kind == MountKind::Volume && m.name == name)
            })
            .map(|c| c.id)
            .collect())
    }

    /// Removes a volume. One referenced by a container is refused (409) — with `force`, only
    /// references from containers that are not running are overridden, since deleting data
    /// under a live process is never what a user means. `force` also makes a missing volume
    /// a success, as Docker's `volume rm -f` does.
    pub async fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let _lock = self.volume_lock.lock().await;
        let volume = match self.volumes.get(name)? {
            Some(v) => v,
            None if force => return Ok(()),
            None => return Err(Error::not_found(format!("get {name}: no such volume"))),
        };
        let users = self.volume_users(name)?;
        let blocking: Vec<String> = if force {
            users
                .into_iter()
                .filter(|id| {
                    self.lookup(id)
                        .map(|h| h.snapshot().state.status.is_alive())
                        .unwrap_or(false)
                })
                .collect()
        } else {
            users
        };
        if !blocking.is_empty() {
            return Err(Error::conflict(format!(
                "remove {name}: volume is in use - [{}]",
                blocking.join(", ")
            )));
        }
        self.delete_volume(&volume)
    }

    /// Unmounts and deletes a volume nobody references. Caller holds `volume_lock`.
    fn delete_volume(&self, volume: &Volume) -> Result<()> {
        let data = self.volume_mountpoint(&volume.name);
        local::unmount(&data)?;
        let dir = self.volume_dir(&volume.name);
        // The record goes last: a failed delete of the files can be retried with `volume rm`.
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &dir, e)),
        }
        self.volumes.delete(&volume.name)?;
        self.emit_volume(
            "destroy",
            &volume.name,
            &[("driver", volume.driver.clone())],
        );
        Ok(())
    }

    /// Removes unused volumes: anonymous ones only, unless `all` (Docker >= 23 behaviour).
    /// `labels` filters as in `volume ls` (`key`, `key=value`; `!` prefixes exclude).
    pub async fn volume_prune(&self, all: bool, labels: &[String]) -> Result<VolumePruned> {
        let _lock = self.volume_lock.lock().await;
        let mut pruned = VolumePruned::default();
        for volume in self.volumes.load_all()? {
            if !all && !volume.is_anonymous() {
                continue;
            }
            if !labels
                .iter()
                .all(|l| label_filter_matches(l, &volume.labels))
            {
                continue;
            }
            if !self.volume_users(&volume.name)?.is_empty() {
                continue;
            }
            let size = local::disk_usage(&self.volume_mountpoint(&volume.name));
            match self.delete_volume(&volume) {
                Ok(()) => {
                    pruned.names.push(volume.name);
                    pruned.space_reclaimed += size;
                }
                Err(e) => {
                    tracing::error!(volume = %volume.name, error = %e, "pruning volume")
                }
            }
        }
        Ok(pruned)
    }

    /// Mounts a volume with driver options onto its data directory if it is not mounted yet.
    /// Called at container start; plain volumes need nothing.
    pub(crate) fn volume_activate(&self, name: &str) -> Result<()> {
        let volume = self.volume_inspect(name)?;
        local::mount(&volume.options, &self.volume_mountpoint(name))
            .map_err(|e| Error::internal(format!("mount volume {name}: {e}")))
    }

    /// After container `removed_id` is gone: removes its anonymous volumes when `remove_anonymous`
    /// (and no other container uses them), and unmounts option-mounted volumes nobody references.
    /// Best effort: problems are logged, the container is gone either way.
    pub(crate) async fn release_volumes(
        &self,
        mounts: &[crate::container::model::MountPoint],
        remove_anonymous: bool,
    ) {
        let _lock = self.volume_lock.lock().await;
        for mount in mounts.iter().filter(|m| m.kind == MountKind::Volume) {
            let unused = match self.volume_users(&mount.name) {
                Ok(users) => users.is_empty(),
                Err(_) => false,
            };
            if !unused {
                continue;
            }
            let Ok(Some(volume)) = self.volumes.get(&mount.name) else {
                continue;
            };
            let result = if remove_anonymous && mount.anonymous {
                self.delete_volume(&volume)
            } else {
                local::unmount(&self.volume_mountpoint(&volume.name))
            };
            if let Err(e) = result {
                tracing::error!(volume = %volume.name, error = %e, "releasing volume");
            }
        }
    }
}

/// `key`, `key=value`, `!key`, `!key=value` against a volume's labels.
fn label_filter_matches(filter: &str, labels: &BTreeMap<String, String>) -> bool {
    let (negate, filter) = match filter.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, filter),
    };
    let found = match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(filter),
    };
    found != negate
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    if name.len() < 2 {
        return Err(Error::invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(Error::invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(validate_name("data").is_ok());
        assert!(validate_name("my_vol.1-x").is_ok());
        assert!(validate_name("a")
            .unwrap_err()
            .to_string()
            .contains("too short"));
        assert!(validate_name("../etc")
            .unwrap_err()
            .to_string()
            .contains("invalid characters"));
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("-ab").is_err());
    }

    #[test]
    fn label_filters() {
        let labels = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        assert!(label_filter_matches("a", &labels));
        assert!(label_filter_matches("a=1", &labels));
        assert!(!label_filter_matches("a=2", &labels));
        assert!(label_filter_matches("!b", &labels));
        assert!(!label_filter_matches("!a", &labels));
    }
}
