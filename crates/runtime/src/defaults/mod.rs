//! Docker's defaults, expressed as OCI runtime spec pieces.
//!
//! The engine's spec generation (`docker run` without security options) and `berth-runtime spec`
//! both take their defaults from here, so a container gets the same capabilities, mounts, masked
//! paths, device rules and seccomp profile whichever way its spec was made.
//!
//! Sources: moby `oci/defaults.go`, `oci/caps/defaults.go`, `profiles/seccomp/default.json`, and
//! the device rules runc appends (`libcontainer/specconv`). Everything here is plain data: no
//! function touches the host except [`all_capabilities`], which reads
//! `/proc/sys/kernel/cap_last_cap`.
//!
//! Rlimits: Docker sets none by default (containers inherit the daemon's limits unless `--ulimit`
//! or the daemon's `default-ulimits` say otherwise), so there is no `default_rlimits`: a spec
//! without `process.rlimits` is Docker's default.

mod seccomp_profile;

use std::path::PathBuf;

use oci_spec::runtime::{Capability, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, Mount};

pub use seccomp_profile::default_seccomp_profile;

/// Size of `/dev/shm` when the user gives no `--shm-size` (Docker's 64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 * 1024 * 1024;

/// Docker 20.10's default capability set (the same list for bounding, permitted and effective).
///
/// Order follows moby's `caps.DefaultCapabilities` so generated specs diff cleanly against
/// Docker's.
pub fn default_capabilities() -> Vec<Capability> {
    vec![
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
}

/// Every capability, indexed by its kernel number (`CAP_CHOWN` = 0 ... `CAP_CHECKPOINT_RESTORE` = 40).
const CAPABILITIES_BY_NUMBER: [Capability; 41] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// The kernel number of a capability (`CAP_SYS_ADMIN` = 21), for code that talks to `capset`.
pub fn capability_number(cap: Capability) -> u8 {
    CAPABILITIES_BY_NUMBER
        .iter()
        .position(|c| *c == cap)
        .and_then(|n| u8::try_from(n).ok())
        // Unreachable: the table lists every variant of the enum.
        .unwrap_or(u8::MAX)
}

/// All capabilities the running kernel knows (for `--privileged`), in kernel-number order.
///
/// Reads `/proc/sys/kernel/cap_last_cap` (like Docker's `caps.GetAllCapabilities`): naming a
/// capability the kernel does not know makes `capset` fail. If the file cannot be read, the
/// whole table is returned.
///
/// This is what the kernel *knows*, not what this process *has*: on these machines the bounding
/// set lacks `CAP_SYS_RESOURCE`, which no process can regain. The runtime must intersect the
/// requested sets with its own bounding set before `capset` (Docker + runc do the same).
pub fn all_capabilities() -> Vec<Capability> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(CAPABILITIES_BY_NUMBER.len() - 1);
    CAPABILITIES_BY_NUMBER
        .iter()
        .take(last.saturating_add(1))
        .copied()
        .collect()
}

/// The capabilities a container started by this process can actually hold: [`all_capabilities`]
/// restricted to this process's bounding set. Use this for `--privileged`.
///
/// Why: a capability missing from the bounding set can never be regained, and `capset` fails
/// with `EPERM` when asked for it. These machines run without `CAP_SYS_RESOURCE` in the bounding
/// set, so asking for "all" would make every privileged container fail to start. Falls back to
/// [`all_capabilities`] if the bounding set cannot be read.
pub fn available_capabilities() -> Vec<Capability> {
    let Ok(bounding) = caps::read(None, caps::CapSet::Bounding) else {
        return all_capabilities();
    };
    all_capabilities()
        .into_iter()
        .filter(|c| bounding.iter().any(|b| b.index() == capability_number(*c)))
        .collect()
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(PathBuf::from(source)));
    m.set_options(Some(options.iter().map(|o| (*o).to_string()).collect()));
    m
}

/// Docker's default mounts, in Docker's order: `/proc`, `/dev` (tmpfs), `/dev/pts`, `/sys` (ro),
/// `/sys/fs/cgroup` (ro), `/dev/mqueue`, `/dev/shm` (64 MiB, see [`DEFAULT_SHM_SIZE`]).
///
/// The engine replaces the `/dev/shm` size for `--shm-size` and drops `/dev/shm` and
/// `/dev/mqueue` for `--ipc=host|none|container:`. The `cgroup` mount is resolved by the runtime
/// (on a v1 host: a tmpfs with one read-only bind per hierarchy, like runc).
pub fn default_mounts() -> Vec<Mount> {
    let shm_size = format!("size={}k", DEFAULT_SHM_SIZE / 1024);
    vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ]
}

/// Paths Docker hides from containers (bind-mounted over with `/dev/null`, or an empty read-only
/// tmpfs for directories).
///
/// Why each: `/proc/kcore`, `/proc/keys`, `/proc/timer_list`, `/proc/sched_debug` leak host
/// memory, keyrings and other tasks' details; `/sys/firmware` exposes firmware tables;
/// `/sys/devices/virtual/powercap` gives the RAPL energy counters that leak secrets through power
/// side channels (CVE-2020-8694, masked by moby since 20.10.x).
pub fn default_masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|p| (*p).to_string())
    .collect()
}

/// Paths Docker makes read-only inside containers (bind-mounted onto themselves, then remounted
/// `ro`).
pub fn default_readonly_paths() -> Vec<String> {
    [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    .iter()
    .map(|p| (*p).to_string())
    .collect()
}

fn char_device(path: &str, major: i64, minor: i64) -> LinuxDevice {
    let mut d = LinuxDevice::default();
    d.set_path(PathBuf::from(path));
    d.set_typ(LinuxDeviceType::C);
    d.set_major(major);
    d.set_minor(minor);
    d.set_file_mode(Some(0o666));
    d.set_uid(Some(0));
    d.set_gid(Some(0));
    d
}

/// The device nodes every container gets in its `/dev` (the OCI spec's "default devices"):
/// `null`, `zero`, `full`, `random`, `urandom`, `tty`, all `0666 root:root`.
///
/// Docker leaves `linux.devices` empty and relies on the runtime to create these; Berth lists
/// them explicitly so the runtime has a single code path. `/dev/console` (a bind of the pty),
/// `/dev/ptmx` (a symlink to `pts/ptmx`) and `/dev/fd`, `stdin`... symlinks are the runtime's job.
pub fn default_devices() -> Vec<LinuxDevice> {
    vec![
        char_device("/dev/null", 1, 3),
        char_device("/dev/zero", 1, 5),
        char_device("/dev/full", 1, 7),
        char_device("/dev/random", 1, 8),
        char_device("/dev/urandom", 1, 9),
        char_device("/dev/tty", 5, 0),
    ]
}

fn device_rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// The device cgroup rules of an unprivileged Docker container (`linux.resources.devices`), in
/// order: deny everything, then allow `mknod` of any device (creating a node is harmless; opening
/// it is what the rules gate), the default devices, `/dev/console`, `/dev/pts/*` and `/dev/ptmx`.
/// Docker also lists an explicit deny of `/dev/fuse`; it is redundant after "deny all", and on
/// cgroup v1 runc refuses to apply a deny that punches into the `c *:* m` wildcard, so the
/// spec leaves it out to stay portable between runtimes.
///
/// This is Docker's `DefaultLinuxSpec` list merged with what runc appends
/// (`specconv.AllowedDevices`), so the spec alone describes what the container may open.
/// `--privileged` replaces the whole list with one `allow a *:* rwm` rule.
pub fn default_device_cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{A, B, C};
    vec![
        device_rule(false, A, None, None, "rwm"),
        device_rule(true, C, None, None, "m"),
        device_rule(true, B, None, None, "m"),
        device_rule(true, C, Some(1), Some(3), "rwm"),
        device_rule(true, C, Some(1), Some(5), "rwm"),
        device_rule(true, C, Some(1), Some(7), "rwm"),
        device_rule(true, C, Some(1), Some(8), "rwm"),
        device_rule(true, C, Some(1), Some(9), "rwm"),
        device_rule(true, C, Some(5), Some(0), "rwm"),
        device_rule(true, C, Some(5), Some(1), "rwm"),
        device_rule(true, C, Some(5), Some(2), "rwm"),
        device_rule(true, C, Some(136), None, "rwm"),
    ]
}

/// The device cgroup rules of a `--privileged` container: everything allowed.
pub fn privileged_device_cgroup_rules() -> Vec<LinuxDeviceCgroup> {
    vec![device_rule(true, LinuxDeviceType::A, None, None, "rwm")]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_capabilities_are_dockers_fourteen() {
        let caps = default_capabilities();
        assert_eq!(caps.len(), 14);
        assert!(!caps.contains(&Capability::SysAdmin));
        assert!(!caps.contains(&Capability::NetAdmin));
        let json = serde_json::to_string(&caps).unwrap_or_default();
        assert!(json.contains("\"CAP_AUDIT_WRITE\""), "{json}");
    }

    #[test]
    fn capability_numbers_match_the_kernel() {
        assert_eq!(capability_number(Capability::Chown), 0);
        assert_eq!(capability_number(Capability::SysAdmin), 21);
        assert_eq!(capability_number(Capability::SysResource), 24);
        assert_eq!(capability_number(Capability::AuditRead), 37);
        assert_eq!(capability_number(Capability::CheckpointRestore), 40);
        assert_eq!(
            u32::from(capability_number(Capability::SysAdmin)),
            caps::Capability::CAP_SYS_ADMIN.index() as u32
        );
    }

    #[test]
    fn all_capabilities_follows_cap_last_cap() {
        let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .map(|s| s.trim().parse().unwrap_or(0))
            .unwrap_or(0);
        let all = all_capabilities();
        assert_eq!(all.len(), last + 1);
        assert!(all.contains(&Capability::SysAdmin));
    }

    #[test]
    fn available_capabilities_are_in_the_bounding_set() {
        let bounding = caps::read(None, caps::CapSet::Bounding).unwrap();
        let available = available_capabilities();
        assert_eq!(available.len(), bounding.len());
        for c in &available {
            let n = capability_number(*c);
            assert!(bounding.iter().any(|b| b.index() == n), "{c:?}");
        }
    }

    #[test]
    fn default_mounts_match_docker() {
        let mounts = default_mounts();
        let dests: Vec<_> = mounts
            .iter()
            .map(|m| m.destination().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm"
            ]
        );
        let shm = &mounts[6];
        assert!(shm
            .options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "size=65536k")));
        let sys = &mounts[3];
        assert!(sys
            .options()
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "ro")));
    }

    #[test]
    fn device_rules_start_with_deny_all() {
        let rules = default_device_cgroup_rules();
        assert_eq!(rules[0].to_string(), "a *:* rwm");
        assert!(!rules[0].allow());
        assert!(rules.iter().any(|r| r.to_string() == "c 136:* rwm"));
        assert_eq!(default_devices().len(), 6);
        assert!(default_masked_paths().contains(&"/proc/kcore".to_string()));
        assert!(default_readonly_paths().contains(&"/proc/sys".to_string()));
    }
}
