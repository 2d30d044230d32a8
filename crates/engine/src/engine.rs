//! [`Engine`]: the container table, lookups, listing, and re-attaching to running containers
//! when the daemon starts. The lifecycle verbs live in `container/`, one file each.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_image::ImageStore;
use tokio::sync::watch;

use crate::container::exec::ExecTable;
use crate::container::model::{Container, Status};
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::store::ContainerStore;
use crate::volume::store::VolumeStore;

/// Where the engine keeps things and which helper binaries it runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state: the database, images, container directories and logs.
    pub data_root: PathBuf,
    /// Runtime state that does not outlive a reboot: bundles, shim sockets, rootfs mounts.
    pub exec_root: PathBuf,
    /// The `berth-shim` executable.
    pub shim_binary: PathBuf,
    /// The `berth-runtime` executable, which runs `exec` processes.
    pub runtime_binary: PathBuf,
    /// Default log rotation, overridable per container.
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// The default bridge network.
    pub network: crate::network::NetworkConfig,
    /// daemon.json `init`: containers whose HostConfig.Init is unset run with an init.
    pub init_default: bool,
    /// The init bind-mounted at `/sbin/docker-init` by `--init` (daemon.json `init-path`, else
    /// `berth-init` next to berthd or in PATH); `None` when none was found. Its existence is
    /// checked again whenever a container asks for it.
    pub init_binary: Option<PathBuf>,
    /// dockerd's `--storage-driver`: the snapshotter of new containers; `None` = probe
    /// (overlay where it can be mounted, else vfs).
    pub storage_driver: Option<berth_image::SnapshotterKind>,
}

/// A live container: its record, and the channels its waiters listen on.
pub(crate) struct Handle {
    pub record: Mutex<Container>,
    /// Serialises lifecycle operations (start, stop, remove, …) on this container.
    pub op: tokio::sync::Mutex<()>,
    /// Counts the container's exits; waiters remember the value they saw.
    pub exits: watch::Sender<u64>,
    /// Becomes true when the container has been removed.
    pub removed: watch::Sender<bool>,
    /// Counts the container's successful starts (attach waits on it to connect stdin).
    pub starts: watch::Sender<u64>,
    /// Bumped whenever a pending restart is scheduled or cancelled; a restart timer only
    /// fires if the epoch it was scheduled with is still current.
    pub restart_epoch: AtomicU64,
    /// The restart policy's current back-off delay (`None`: no restart yet since the last
    /// explicit start or the last time the policy declined).
    backoff: Mutex<Option<Duration>>,
}

impl Handle {
    pub(crate) fn new_arc(container: Container) -> Arc<Handle> {
        Arc::new(Handle {
            record: Mutex::new(container),
            op: tokio::sync::Mutex::new(()),
            exits: watch::channel(0).0,
            removed: watch::channel(false).0,
            starts: watch::channel(0).0,
            restart_epoch: AtomicU64::new(0),
            backoff: Mutex::new(None),
        })
    }

    /// Replaces the back-off delay with `change(previous)` and returns the new value.
    pub(crate) fn update_backoff(
        &self,
        change: impl FnOnce(Option<Duration>) -> Option<Duration>,
    ) -> Option<Duration> {
        let mut guard = match self.backoff.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = change(*guard);
        *guard
    }

    /// A copy of the current record.
    pub fn snapshot(&self) -> Container {
        match self.record.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes the record in place and returns the new copy.
    pub fn update(&self, change: impl FnOnce(&mut Container)) -> Container {
        let mut guard = match self.record.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut guard);
        guard.clone()
    }
}

/// The container engine. Cheap to share: hold it in an `Arc`.
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) images: Arc<ImageStore>,
    pub(crate) store: ContainerStore,
    pub(crate) containers: Mutex<HashMap<String, Arc<Handle>>>,
    pub(crate) events: EventBus,
    pub(crate) volumes: VolumeStore,
    /// Serialises volume creation/removal with the creation of containers that use volumes.
    pub(crate) volume_lock: tokio::sync::Mutex<()>,
    pub(crate) execs: ExecTable,
    /// Every network: the predefined ones (the default bridge is off with `bridge: none`)
    /// and the user-defined bridge networks.
    pub(crate) networks: crate::network::manager::Networks,
    /// The embedded DNS server of each running container on a user-defined network.
    pub(crate) dns: Mutex<HashMap<String, berth_network::dns::EmbeddedDns>>,
}

/// Docker's `ps` options, already validated by the daemon.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    /// Only the newest N (implies all).
    pub limit: Option<usize>,
    pub status: Vec<String>,
    pub names: Vec<String>,
    pub ids: Vec<String>,
    /// `key` or `key=value`; all must match.
    pub labels: Vec<String>,
    pub ancestors: Vec<String>,
    pub exited: Vec<i64>,
}

impl Engine {
    /// Opens the engine's state under `config.data_root` and re-attaches to the containers that
    /// were running when the previous daemon stopped. Must be called inside a tokio runtime.
    pub async fn open(config: EngineConfig) -> Result<Arc<Engine>> {
        for dir in [
            &config.data_root,
            &config.exec_root,
            &config.data_root.join("containers"),
            &config.data_root.join("volumes"),
        ] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir.as_path(), e))?;
        }
        let image_root = config.data_root.join("image");
        let images = Arc::new(match config.storage_driver {
            Some(kind) => ImageStore::open_with_snapshotter(&image_root, kind)?,
            None => ImageStore::open(&image_root)?,
        });
        let store = ContainerStore::open(&config.data_root.join("berth.db"))?;
        let volumes = VolumeStore::open(&config.data_root.join("berth.db"))?;
        let bridge_network_id = crate::network::network_id(&config.data_root)?;
        let pools = crate::network::manager::parse_pools(&config.network.default_address_pools)?;
        let networks = crate::network::manager::Networks::open(
            &config.data_root.join("berth.db"),
            &config.network,
            &bridge_network_id,
            pools,
        )?;
        let engine = Arc::new(Engine {
            config,
            images,
            store,
            containers: Mutex::new(HashMap::new()),
            events: EventBus::default(),
            volumes,
            volume_lock: tokio::sync::Mutex::new(()),
            execs: ExecTable::default(),
            networks,
            dns: Mutex::new(HashMap::new()),
        });
        let records = engine.store.load_all()?;
        engine.restore_networks(&records);
        let mut to_recover = Vec::new();
        {
            let mut table = engine.table()?;
            for record in records {
                let alive =
                    record.state.status.is_alive() || record.state.status == Status::Removing;
                let id = record.id.clone();
                let handle = Handle::new_arc(record);
                table.insert(id, handle.clone());
                if alive {
                    to_recover.push(handle);
                }
            }
        }
        for handle in to_recover {
            engine.recover(handle).await;
        }
        engine.restart_on_boot()?;
        Ok(engine)
    }

    /// The image store.
    pub fn images(&self) -> &Arc<ImageStore> {
        &self.images
    }

    pub(crate) fn table(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<Handle>>>> {
        self.containers
            .lock()
            .map_err(|_| Error::internal("container table lock poisoned"))
    }

    /// Finds a container by full ID, name (with or without the leading `/`), or unique ID prefix.
    pub(crate) fn lookup(&self, reference: &str) -> Result<Arc<Handle>> {
        let table = self.table()?;
        if let Some(handle) = table.get(reference) {
            return Ok(handle.clone());
        }
        let name = reference.strip_prefix('/').unwrap_or(reference);
        let mut by_prefix = Vec::new();
        for (id, handle) in table.iter() {
            let record = handle.snapshot();
            if record.name == name {
                return Ok(handle.clone());
            }
            if !reference.is_empty() && id.starts_with(reference) {
                by_prefix.push(handle.clone());
            }
        }
        match by_prefix.len() {
            1 => Ok(by_prefix.remove(0)),
            0 => Err(Error::not_found(format!("No such container: {reference}"))),
            _ => Err(Error::invalid(format!(
                "multiple IDs found with provided prefix: {reference}"
            ))),
        }
    }

    /// The current record of a container.
    pub fn inspect(&self, reference: &str) -> Result<Container> {
        Ok(self.lookup(reference)?.snapshot())
    }

    /// Containers matching `options`, newest first, as `ps` lists them.
    pub fn list(&self, options: &ListOptions) -> Result<Vec<Container>> {
        let mut all: Vec<Container> = self.table()?.values().map(|h| h.snapshot()).collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.created));
        let include_stopped = options.all || options.limit.is_some() || !options.status.is_empty();
        let mut out: Vec<Container> = all
            .into_iter()
            .filter(|c| include_stopped || c.state.status.is_alive())
            .filter(|c| {
                options.status.is_empty()
                    || options.status.iter().any(|s| s == c.state.status.as_str())
            })
            .filter(|c| {
                options.names.is_empty() || options.names.iter().any(|n| name_matches(n, &c.name))
            })
            .filter(|c| {
                options.ids.is_empty() || options.ids.iter().any(|i| c.id.starts_with(i.as_str()))
            })
            .filter(|c| {
                options
                    .labels
                    .iter()
                    .all(|want| match want.split_once('=') {
                        Some((k, v)) => c.labels.get(k).is_some_and(|have| have == v),
                        None => c.labels.contains_key(want.as_str()),
                    })
            })
            .filter(|c| {
                options.ancestors.is_empty()
                    || options.ancestors.iter().any(|a| self.is_ancestor(a, c))
            })
            .filter(|c| {
                options.exited.is_empty()
                    || (c.state.status == Status::Exited
                        && options.exited.contains(&c.state.exit_code))
            })
            .collect();
        if let Some(limit) = options.limit {
            out.truncate(limit);
        }
        Ok(out)
    }

    /// `ancestor=` matches the image by reference or ID (Docker also matches descendants; with
    /// imported single-layer images the two coincide).
    fn is_ancestor(&self, reference: &str, container: &Container) -> bool {
        container.spec.image == reference
            || self
                .images
                .resolve(reference)
                .map(|image| image.id == container.image_id)
                .unwrap_or(false)
    }

    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.config.data_root.join("containers").join(id)
    }

    pub(crate) fn run_dir(&self, id: &str) -> PathBuf {
        self.config.exec_root.join("containers").join(id)
    }

    pub(crate) fn rootfs_dir(&self, id: &str) -> PathBuf {
        self.run_dir(id).join("rootfs")
    }

    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join(format!("{id}-json.log"))
    }

    pub(crate) fn persist(&self, container: &Container) -> Result<()> {
        self.store.update(container)
    }

    /// Whether any container was created from image `image_id`.
    pub fn image_in_use(&self, image_id: &str) -> bool {
        self.table()
            .map(|t| t.values().any(|h| h.snapshot().image_id == image_id))
            .unwrap_or(true)
    }

    /// The path a container's log is written to (Docker's `LogPath`).
    pub fn log_path_of(&self, container: &Container) -> PathBuf {
        self.log_path(&container.id)
    }

    /// The container's layer stack as the storage driver reports it (`GraphDriver` in inspect):
    /// its image layers, its writable layer, and the rootfs mount point as `MergedDir` (mounted
    /// while the container runs, as with Docker).
    pub fn graph_driver(&self, container: &Container) -> Result<berth_image::GraphDriver> {
        let mut g = self.images.snapshot_graph_driver(&container.id)?;
        if let Some(d) = g.data.as_mut() {
            d.merged_dir = self.rootfs_dir(&container.id);
        }
        Ok(g)
    }

    /// The host path of a container's generated /etc file (`hostname`, `hosts`, `resolv.conf`).
    /// A `container:` container shows the files of the container whose network it shares.
    pub fn etc_file(&self, container: &Container, name: &str) -> PathBuf {
        self.container_dir(&self.etc_owner(container)).join(name)
    }

    /// The data root this engine was opened on.
    pub fn data_root(&self) -> &Path {
        &self.config.data_root
    }
}

/// Docker's `name=` filter is a regular-expression match; plain substrings cover what people
/// use, and a leading `^`/trailing `$` anchor as in a regexp.
fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    let (anchored_start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest.strip_prefix('/').unwrap_or(rest)),
        None => (false, pattern),
    };
    let (anchored_end, core) = match rest.strip_suffix('$') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    match (anchored_start, anchored_end) {
        (true, true) => name == core,
        (true, false) => name.starts_with(core),
        (false, true) => name.ends_with(core),
        (false, false) => name.contains(core),
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn name_filter_matches_like_docker_users_expect() {
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web$", "web"));
        assert!(!name_matches("^web$", "web2"));
        assert!(name_matches("/web", "web"));
        assert!(!name_matches("db", "web"));
    }
}
