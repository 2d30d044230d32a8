//! Docker's `--init`, `--group-add`, `--device`, `--device-cgroup-rule` and `--sysctl`:
//! checked at create ([`validate`], [`Engine::init_binary`]) and turned into their part of the
//! container's OCI spec at start ([`apply`]).
//!
//! Host facts are read at start, as Docker does: a device named by `--device` must exist when
//! the container starts (not when it is created), and `--group-add` names are looked up in the
//! container's own /etc/group.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::container::model::{Container, DeviceMapping, HostSpec, NetworkMode};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::user;

/// Where the init is bind-mounted in the container: Docker's path, which users and tools
/// (`ps`, `top`, scripts checking for an init) know.
pub const INIT_TARGET: &str = "/sbin/docker-init";

/// Sysctls the IPC namespace isolates (every container has a private one).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks the options of a create request, before anything exists.
pub(crate) fn validate(host: &HostSpec) -> Result<()> {
    for device in &host.devices {
        validate_device(device)?;
    }
    for rule in &host.device_cgroup_rules {
        parse_cgroup_rule(rule)?;
    }
    for (key, value) in &host.sysctls {
        validate_sysctl(key, value, &host.network_mode)?;
    }
    for group in &host.group_add {
        if group.is_empty() || group.contains(':') || group.contains('\n') {
            return Err(Error::invalid(format!(
                "invalid group {group:?} in --group-add"
            )));
        }
    }
    Ok(())
}

fn validate_device(device: &DeviceMapping) -> Result<()> {
    for path in [&device.path_on_host, &device.path_in_container] {
        if !path.starts_with('/') {
            return Err(Error::invalid(format!("{path} is not an absolute path")));
        }
    }
    let mode = &device.cgroup_permissions;
    let mut seen = String::new();
    for c in mode.chars() {
        if !"rwm".contains(c) || seen.contains(c) {
            return Err(Error::invalid(format!("bad mode specified: {mode}")));
        }
        seen.push(c);
    }
    if mode.is_empty() {
        return Err(Error::invalid(format!("bad mode specified: {mode}")));
    }
    Ok(())
}

/// Parses a device cgroup rule (`TYPE MAJOR:MINOR ACCESS`, `*` for any number) into the OCI
/// `linux.resources.devices` entry that allows it.
fn parse_cgroup_rule(rule: &str) -> Result<Value> {
    let invalid = || Error::invalid(format!("invalid device cgroup format '{rule}'"));
    let fields: Vec<&str> = rule.split(' ').collect();
    let [typ, numbers, access] = fields.as_slice() else {
        return Err(invalid());
    };
    if !matches!(*typ, "a" | "b" | "c") {
        return Err(invalid());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(invalid)?;
    let number = |n: &str| -> Result<Value> {
        match n {
            "*" => Ok(Value::Null),
            _ if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                n.parse::<i64>().map(|n| json!(n)).map_err(|_| invalid())
            }
            _ => Err(invalid()),
        }
    };
    let (major, minor) = (number(major)?, number(minor)?);
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(invalid());
    }
    Ok(json!({"allow": true, "type": typ, "major": major, "minor": minor, "access": access}))
}

/// Only namespaced sysctls may be set, and only when the container has the namespace of its
/// own: a value written into a shared namespace would change the host.
fn validate_sysctl(key: &str, value: &str, network: &NetworkMode) -> Result<()> {
    // Keys become paths under /proc/sys: nothing may climb out of it.
    if key.is_empty()
        || key
            .split('.')
            .any(|part| part.is_empty() || part.contains(['/', '\0']))
    {
        return Err(Error::invalid(format!("invalid sysctl name {key:?}")));
    }
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        return Ok(());
    }
    if key.starts_with("net.") {
        if *network == NetworkMode::Host {
            return Err(Error::invalid(format!(
                "sysctl {key:?} not allowed in host network namespace"
            )));
        }
        return Ok(());
    }
    Err(Error::invalid(format!(
        "sysctl '{key}={value}' is not allowed: only namespaced sysctls can be set in a container (net.*, fs.mqueue.*, {})",
        IPC_SYSCTLS.join(", ")
    )))
}

impl Engine {
    /// The init to bind-mount into a container with these options: `None` when it runs
    /// without one, an error when it asks for one and none is installed.
    pub(crate) fn init_binary(&self, host: &HostSpec) -> Result<Option<PathBuf>> {
        if !host.init.unwrap_or(self.config.init_default) {
            return Ok(None);
        }
        match &self.config.init_binary {
            Some(path) if path.is_file() => Ok(Some(path.clone())),
            Some(path) => Err(Error::invalid(format!(
                "the container init {} does not exist (set by daemon.json \"init-path\"); install berth-init there or run without --init",
                path.display()
            ))),
            None => Err(Error::invalid(
                "the container init (berth-init) was not found next to berthd or in PATH; install it or set \"init-path\" in daemon.json",
            )),
        }
    }
}

/// Adds the options' part to a container's OCI spec (as JSON, before it is parsed): the init
/// in front of the command and its mount, the added groups, device nodes and their cgroup
/// rules, and sysctls. Reads the host's device nodes and the container's /etc/group.
pub(crate) fn apply(
    spec: &mut Value,
    container: &Container,
    rootfs: &Path,
    init: Option<&Path>,
) -> Result<()> {
    let host = &container.spec.host;
    if let Some(init) = init {
        let args = spec["process"]["args"].take();
        let mut with_init = vec![json!(INIT_TARGET), json!("--")];
        with_init.extend(args.as_array().cloned().unwrap_or_default());
        spec["process"]["args"] = json!(with_init);
        push(
            &mut spec["mounts"],
            json!({
                "destination": INIT_TARGET,
                "type": "bind",
                "source": init,
                "options": ["bind", "ro", "nosuid", "rprivate"],
            }),
        );
    }
    for gid in user::resolve_groups(rootfs, &host.group_add)? {
        let gids = &mut spec["process"]["user"]["additionalGids"];
        if !gids.as_array().is_some_and(|g| g.contains(&json!(gid))) {
            push(gids, json!(gid));
        }
    }
    for mapping in &host.devices {
        for node in device_nodes(mapping)? {
            push(
                &mut spec["linux"]["resources"]["devices"],
                json!({
                    "allow": true,
                    "type": node.typ,
                    "major": node.major,
                    "minor": node.minor,
                    "access": mapping.cgroup_permissions,
                }),
            );
            push(
                &mut spec["linux"]["devices"],
                json!({
                    "path": node.path,
                    "type": node.typ,
                    "major": node.major,
                    "minor": node.minor,
                    "fileMode": node.mode,
                    "uid": node.uid,
                    "gid": node.gid,
                }),
            );
        }
    }
    for rule in &host.device_cgroup_rules {
        push(
            &mut spec["linux"]["resources"]["devices"],
            parse_cgroup_rule(rule)?,
        );
    }
    if !host.sysctls.is_empty() {
        spec["linux"]["sysctl"] = json!(host.sysctls);
    }
    Ok(())
}

/// Appends to a JSON array, making `slot` one if it is null.
fn push(slot: &mut Value, item: Value) {
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    if let Value::Array(items) = slot {
        items.push(item);
    }
}

/// A host device node, as it will appear in the container.
#[derive(Debug, PartialEq)]
struct DeviceNode {
    /// Path in the container.
    path: String,
    typ: &'static str,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// The device nodes a `--device` adds: the node itself, or every node below a directory
/// (keeping their relative paths). Symlinks on the host are followed, as Docker does.
fn device_nodes(mapping: &DeviceMapping) -> Result<Vec<DeviceNode>> {
    let host = Path::new(&mapping.path_on_host);
    let gathering = |e: std::io::Error| {
        Error::invalid(format!(
            "error gathering device information while adding custom device {:?}: {}",
            mapping.path_on_host,
            io_reason(&e)
        ))
    };
    let meta = std::fs::metadata(host).map_err(gathering)?;
    if let Some(node) = node_of(&meta, &mapping.path_in_container) {
        return Ok(vec![node]);
    }
    if !meta.is_dir() {
        return Err(Error::invalid(format!(
            "error gathering device information while adding custom device {:?}: not a device node",
            mapping.path_on_host
        )));
    }
    let mut nodes = Vec::new();
    let mut pending = vec![PathBuf::from(host)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(gathering)? {
            let entry = entry.map_err(gathering)?;
            let path = entry.path();
            // Not followed inside the directory: a link there may point anywhere on the host.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(host) else {
                continue;
            };
            let target = Path::new(&mapping.path_in_container).join(relative);
            if let Some(node) = node_of(&meta, &target.to_string_lossy()) {
                nodes.push(node);
            }
        }
    }
    nodes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(nodes)
}

/// An I/O error as Go prints it (`no such file or directory`), without Rust's "(os error N)".
fn io_reason(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => e.to_string(),
    }
}

fn node_of(meta: &std::fs::Metadata, path: &str) -> Option<DeviceNode> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let typ = if meta.file_type().is_char_device() {
        "c"
    } else if meta.file_type().is_block_device() {
        "b"
    } else {
        return None;
    };
    let rdev = meta.rdev();
    Some(DeviceNode {
        path: path.to_owned(),
        typ,
        major: nix::sys::stat::major(rdev),
        minor: nix::sys::stat::minor(rdev),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mapping(host: &str, container: &str, permissions: &str) -> DeviceMapping {
        DeviceMapping {
            path_on_host: host.into(),
            path_in_container: container.into(),
            cgroup_permissions: permissions.into(),
        }
    }

    #[test]
    fn devices_are_validated_as_docker_does() {
        assert!(validate_device(&mapping("/dev/null", "/dev/mynull", "rw")).is_ok());
        let err = |m: DeviceMapping| validate_device(&m).unwrap_err().to_string();
        assert_eq!(
            err(mapping("/dev/null", "/dev/x", "rx")),
            "bad mode specified: rx"
        );
        assert_eq!(
            err(mapping("/dev/null", "/dev/x", "rwmm")),
            "bad mode specified: rwmm"
        );
        assert_eq!(
            err(mapping("/dev/null", "/dev/x", "")),
            "bad mode specified: "
        );
        assert_eq!(
            err(mapping("relative", "/dev/x", "r")),
            "relative is not an absolute path"
        );
        assert_eq!(
            err(mapping("/dev/null", "x", "r")),
            "x is not an absolute path"
        );
    }

    #[test]
    fn host_devices_are_read_at_start() {
        let nodes = device_nodes(&mapping("/dev/null", "/dev/mynull", "rwm")).unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!((nodes[0].typ, nodes[0].major, nodes[0].minor), ("c", 1, 3));
        assert_eq!(nodes[0].path, "/dev/mynull");
        let err = device_nodes(&mapping("/dev/nope-berth", "/dev/x", "rwm"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("error gathering device information while adding custom device \"/dev/nope-berth\": no such file or directory"),
            "{err}"
        );
        let err = device_nodes(&mapping("/etc/hostname", "/dev/x", "rwm"))
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("not a device node"), "{err}");
        // A directory adds the devices below it, at the same relative paths.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let node = dir.path().join("sub/null");
        let c = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // SAFETY: valid path; makedev only combines numbers.
        let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o640, libc::makedev(1, 3)) };
        if made == 0 {
            std::fs::write(dir.path().join("plain"), "").unwrap();
            let nodes =
                device_nodes(&mapping(dir.path().to_str().unwrap(), "/dev/mine", "r")).unwrap();
            assert_eq!(nodes.len(), 1);
            assert_eq!(nodes[0].path, "/dev/mine/sub/null");
            assert_eq!(nodes[0].mode, 0o640);
        }
    }

    #[test]
    fn cgroup_rules_parse_like_dockers() {
        assert_eq!(
            parse_cgroup_rule("c 1:3 rwm").unwrap(),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
        );
        assert_eq!(
            parse_cgroup_rule("b 7:* r").unwrap(),
            json!({"allow": true, "type": "b", "major": 7, "minor": null, "access": "r"})
        );
        for bad in [
            "x 1:3 r",
            "c 1:3",
            "c 1-3 r",
            "c a:3 r",
            "c 1:3 rx",
            "c 1:3 rwmr",
            "",
        ] {
            assert_eq!(
                parse_cgroup_rule(bad).unwrap_err().to_string(),
                format!("invalid device cgroup format '{bad}'")
            );
        }
    }

    #[test]
    fn only_namespaced_sysctls_are_allowed() {
        let bridge = NetworkMode::Bridge;
        for ok in [
            "net.ipv4.ip_forward",
            "net.core.somaxconn",
            "kernel.shmmax",
            "kernel.msgmax",
            "fs.mqueue.msg_max",
        ] {
            assert!(validate_sysctl(ok, "1", &bridge).is_ok(), "{ok}");
        }
        let err = validate_sysctl("kernel.foo", "1", &bridge)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("sysctl 'kernel.foo=1' is not allowed"),
            "{err}"
        );
        assert!(validate_sysctl("kernel.hostname", "x", &bridge).is_err());
        assert!(validate_sysctl("vm.swappiness", "1", &bridge).is_err());
        assert_eq!(
            validate_sysctl("net.ipv4.ip_forward", "1", &NetworkMode::Host)
                .unwrap_err()
                .to_string(),
            "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
        );
        assert!(validate_sysctl("kernel.shmmax", "1", &NetworkMode::Host).is_ok());
        for bad in ["", "net..x", "net.ipv4/../x", ".net"] {
            assert!(validate_sysctl(bad, "1", &bridge).is_err(), "{bad}");
        }
    }
}
