//! Domain types for containers: what a user asked for ([`ContainerSpec`]), and the persisted
//! record ([`Container`]) with its [`State`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A validated create request: the container's own configuration, before merging with the image.
///
/// `None` means "not given" (the image's value applies); `Some(vec![])` for `entrypoint` resets
/// the image's entrypoint, as `--entrypoint ""` does in Docker.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: Option<String>,
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// `--expose` and `-p` ports (`80/tcp`), added to the image's.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    pub host: HostSpec,
    /// NetworkingConfig.EndpointsConfig: aliases and addresses asked for per network (the
    /// network as named in the request).
    #[serde(default)]
    pub endpoints: Vec<crate::network::model::EndpointSettings>,
}

/// The host-dependent part of a create request (Docker's HostConfig).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostSpec {
    /// Bytes; 0 = unlimited.
    pub memory: i64,
    /// Memory + swap in bytes; 0 = unset, -1 = unlimited swap.
    pub memory_swap: i64,
    pub memory_reservation: i64,
    /// CPU quota in units of 1e-9 CPUs (`--cpus 1.5` = 1_500_000_000).
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// 0 or negative = unlimited.
    pub pids_limit: i64,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    pub seccomp: SeccompMode,
    pub no_new_privileges: bool,
    pub network_mode: NetworkMode,
    pub readonly_rootfs: bool,
    pub auto_remove: bool,
    pub restart_policy: RestartPolicy,
    pub ulimits: Vec<Ulimit>,
    pub log_max_size: Option<u64>,
    pub log_max_file: Option<u32>,
    pub oom_kill_disable: bool,
    pub shm_size: i64,
    /// `-v` entries exactly as given (reported as HostConfig.Binds).
    #[serde(default)]
    pub binds: Vec<String>,
    /// `--tmpfs` entries as given: target -> options (reported as HostConfig.Tmpfs).
    #[serde(default)]
    pub tmpfs: BTreeMap<String, String>,
    /// `--volumes-from CONTAINER[:ro|rw]` as given.
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// Every mount asked for (from Binds, Mounts, Tmpfs and Config.Volumes), parsed.
    #[serde(default)]
    pub mounts: Vec<MountRequest>,
    /// `-p` bindings, one per container port and host binding.
    #[serde(default)]
    pub port_bindings: Vec<crate::network::PortBinding>,
    /// `-P`: publish every exposed port on a free host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--link NAME[:ALIAS]` on the default bridge, resolved at create.
    #[serde(default)]
    pub links: Vec<Link>,
    /// `--add-host NAME:IP` as given (`IP` may be `host-gateway`, resolved at start).
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `--dns`, `--dns-search`, `--dns-option` as given (the daemon's defaults apply when
    /// empty).
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--mac-address` for the container's interface on the default bridge, normalised to
    /// lowercase `aa:bb:cc:dd:ee:ff`.
    #[serde(default)]
    pub mac_address: Option<String>,
    /// `--init`: run berth-init as pid 1; `None` = the daemon's default (daemon.json `init`).
    #[serde(default)]
    pub init: Option<bool>,
    /// `--group-add`: group names (resolved in the container's /etc/group at start) or ids.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--device`, validated (absolute paths, `rwm` permissions).
    #[serde(default)]
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule`, validated (`c 1:3 rwm`, `b 8:* r`, `a *:* m`).
    #[serde(default)]
    pub device_cgroup_rules: Vec<String>,
    /// `--sysctl`, validated against the container's namespaces.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
}

/// One legacy link: the linked container and the alias it gets in this container's
/// /etc/hosts and environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked container's full ID (empty until create resolves `name`).
    #[serde(default)]
    pub id: String,
    /// The linked container's name (without `/`) when the link was made, or the reference
    /// as given before create resolved it.
    pub name: String,
    pub alias: String,
}

/// One `--device HOST[:CONTAINER][:PERMISSIONS]` (Docker's DeviceMapping). The host path may
/// be a directory: every device below it is added (`--device /dev/snd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    /// Some of `rwm`, each at most once.
    pub cgroup_permissions: String,
}

/// What a container mount is backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host path.
    Bind,
    /// A volume of the local driver (named, or anonymous when its name is empty at request time).
    Volume,
    /// A fresh tmpfs, gone with the container.
    Tmpfs,
}

impl MountKind {
    /// Docker's name (`Mounts[].Type`).
    pub fn as_str(&self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// Which part of the create request a [`MountRequest`] came from (inspect echoes them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountOrigin {
    /// `-v` / HostConfig.Binds.
    Binds,
    /// `--mount` / HostConfig.Mounts.
    Mounts,
    /// `--tmpfs` / HostConfig.Tmpfs.
    Tmpfs,
    /// `-v /path` without a source / Config.Volumes.
    Volumes,
}

/// One validated mount request. Targets are absolute, normalised container paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    pub kind: MountKind,
    /// Host path (bind), volume name (volume; empty = anonymous); empty for tmpfs.
    pub source: String,
    pub target: String,
    pub readonly: bool,
    /// The mode field of a `-v` entry as given (`ro`, `z`, `rw,rshared`); empty otherwise.
    pub mode: String,
    /// Bind propagation (`rprivate`, `rshared`, ...); `None` = Docker's default `rprivate`.
    pub propagation: Option<String>,
    /// `-v` creates a missing bind source; `--mount` refuses it (Docker's behaviour).
    pub create_source: bool,
    /// Do not copy the image's content into a new empty volume (`nocopy`, `volume-nocopy`).
    pub no_copy: bool,
    /// tmpfs mount data (`size=…`, `mode=…`), without the defaults added at start.
    pub tmpfs_options: Vec<String>,
    pub origin: MountOrigin,
}

/// A mount of a created container, resolved: which volume or host path goes where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// The volume's name (volumes only).
    pub name: String,
    /// The host path mounted (volume data directory or bind source); empty for tmpfs.
    pub source: String,
    pub destination: String,
    /// `local` for volumes, empty otherwise.
    pub driver: String,
    /// Docker's `Mode` column: the `-v` mode as given, `ro`/`rw` from `--volumes-from`.
    pub mode: String,
    pub rw: bool,
    /// Bind propagation; empty for tmpfs.
    pub propagation: String,
    /// Created for this container without a name: removed with it by `rm -v` and `--rm`.
    pub anonymous: bool,
    /// The image's content at `destination` is still to be copied into the (empty) volume;
    /// done on the first start, when the image's filesystem is mounted.
    pub copy_up: bool,
    pub tmpfs_options: Vec<String>,
}

/// Which seccomp filter the container gets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum SeccompMode {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
    /// A profile in Docker's JSON format (`--security-opt seccomp=profile.json`, inlined by the client).
    Custom(String),
}

/// The container's network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// Docker's default bridge: a private namespace with a veth on the daemon's bridge (or
    /// loopback only when the daemon runs with `bridge: none`).
    #[default]
    Bridge,
    None,
    Host,
    /// `container:<ref>`: share another container's network namespace (and its hostname,
    /// /etc/hosts and /etc/resolv.conf). Holds the reference as given until create resolves
    /// it to the full ID.
    Container(String),
    /// A user-defined network, by name or ID as given.
    Network(String),
}

impl NetworkMode {
    /// The name Docker reports in HostConfig.NetworkMode (`container:<id>` for a shared one).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        match self {
            NetworkMode::Bridge => "bridge".into(),
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Container(id) => format!("container:{id}").into(),
            NetworkMode::Network(name) => name.as_str().into(),
        }
    }
}

/// Restart policy as given (`--restart`); enforced by `container::restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// "", "no", "always", "unless-stopped" or "on-failure".
    pub name: String,
    pub maximum_retry_count: i64,
}

/// One `--ulimit name=soft:hard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// A container's lifecycle status, as Docker names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// Docker's lowercase name (`State.Status`, the `status` filter).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Running or paused: the container's processes exist.
    pub fn is_alive(&self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The runtime state of a container (Docker's `State`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The container's init process, as seen from the host; 0 when not running.
    pub pid: i32,
    pub exit_code: i64,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The berth-shim supervising the container; 0 when not running.
    pub shim_pid: i32,
    /// Restarts by the restart policy since the last explicit start (Docker's RestartCount).
    pub restart_count: i64,
    /// Stopped or killed by a user: the restart policy stays off until the next explicit
    /// start (`unless-stopped` also stays down across daemon restarts).
    #[serde(default)]
    pub manually_stopped: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: None,
            finished_at: None,
            shim_pid: 0,
            restart_count: 0,
            manually_stopped: false,
        }
    }
}

/// The persisted container record: what was asked, what it resolved to, and its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    pub created: DateTime<Utc>,
    pub spec: ContainerSpec,
    /// The image's ID (`sha256:…`) at create time.
    pub image_id: String,
    /// The command that runs: entrypoint + cmd after merging with the image.
    pub path: String,
    pub args: Vec<String>,
    /// Merged configuration, as Docker reports in `Config`.
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: String,
    pub state: State,
    /// The resolved mounts, in the order they are mounted.
    #[serde(default)]
    pub mount_points: Vec<MountPoint>,
    /// Where the running container is attached, in attach order (`eth0`, `eth1`, …); empty
    /// when stopped or not on a network. Records of older daemons hold one `network`.
    #[serde(default, alias = "network", deserialize_with = "one_or_many")]
    pub networks: Vec<crate::network::Attachment>,
    /// The networks the container joins at start, in order, by ID, with their aliases and
    /// requested addresses (`network connect` on a stopped container adds here). `None` in
    /// records of older daemons: derived from the network mode.
    #[serde(default)]
    pub endpoints: Option<Vec<crate::network::model::EndpointSettings>>,
}

/// Accepts `null`, one attachment (older records) or a list.
fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<crate::network::Attachment>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<crate::network::Attachment>),
        One(crate::network::Attachment),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(a)) => vec![a],
        Some(OneOrMany::Many(v)) => v,
    })
}

impl Container {
    /// The first 12 characters of the ID, as Docker shows it.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}
