//! The daemon's core, without HTTP: containers (records in SQLite, lifecycle state machine, OCI
//! spec generation, the per-container shim, logs, attach), volumes, and images (through
//! `berth-image`).
//!
//! Callers hand in validated domain types ([`ContainerSpec`] and friends); the daemon converts
//! the Docker wire format into them. Every fallible call returns [`Error`], whose [`ErrorKind`]
//! the daemon maps onto an HTTP status in one place.

mod container;
mod engine;
mod error;
mod events;
mod host_options;
mod ids;
mod logs;
mod netfiles;
mod network;
mod shim;
mod spec;
mod store;
mod top;
mod user;
mod volume;

pub use container::archive::{ArchivePut, ArchiveReader, ArchiveWriter, PathStat};
pub use container::commit::CommitRequest;
pub use container::create::Created;
pub use container::exec::{ExecInfo, ExecSession, ExecSpec};
pub use container::image_prune::ImagesPruned;
pub use container::model::Link;
pub use container::model::{
    Container, ContainerSpec, DeviceMapping, HostSpec, MountKind, MountOrigin, MountPoint,
    MountRequest, NetworkMode, RestartPolicy, SeccompMode, State, Status, Ulimit,
};
pub use container::mounts::clean_target;
pub use container::prune::ContainersPruned;
pub use container::restart::validate_policy;
pub use container::stats::{NetworkStats, StatsSample};
pub use container::update::UpdateSpec;
pub use container::wait::{WaitCondition, WaitOutcome, Waiter};
pub use engine::{Engine, EngineConfig, ListOptions};
pub use error::{Error, ErrorKind, Result};
pub use events::{Event, EventFilter, EventType, Subscription};
pub use host_options::INIT_TARGET;
pub use logs::{LogEntry, LogOptions};
pub use network::model::{
    EndpointSettings, Network, NetworkCreate, NetworkEndpoint, NetworkFilters,
};
pub use network::{
    parse_port_range, Attachment, NetworkConfig, PortBinding, PublishedPort, DEFAULT_BRIDGE,
    DEFAULT_NETWORK,
};
pub use top::TopResult;
pub use volume::{
    Volume, VolumeCreate, VolumeFilters, VolumePruned, ANONYMOUS_LABEL, LOCAL_DRIVER,
};

/// Docker's default masked paths, as the spec generator applies them (for inspect output).
pub fn default_masked_paths() -> Vec<String> {
    berth_runtime::defaults::default_masked_paths()
}

/// Docker's default read-only paths, as the spec generator applies them (for inspect output).
pub fn default_readonly_paths() -> Vec<String> {
    berth_runtime::defaults::default_readonly_paths()
}

/// The cgroup version containers get on this machine (1 for v1 and hybrid, 2 for unified).
pub fn cgroup_version() -> u8 {
    match berth_runtime::cgroups::version() {
        berth_runtime::cgroups::CgroupVersion::V2 => 2,
        _ => 1,
    }
}

pub use container::start::{DEFAULT_LOG_MAX_FILE, DEFAULT_LOG_MAX_SIZE};

mod df;
pub use df::{ContainerDiskUsage, DiskUsage, ImageDiskUsage, VolumeDiskUsage};
