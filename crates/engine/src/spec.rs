//! OCI runtime spec generation: container record + image config + host policy -> `config.json`.
//!
//! Docker's defaults (capabilities, seccomp profile, masked and read-only paths, device rules,
//! mounts) come from `berth_runtime::defaults`, shared with `berth-runtime spec`.

use std::path::Path;

use berth_runtime::defaults;
use oci_spec::runtime::{Capability, LinuxResources, Spec};
use serde_json::{json, Value};

use crate::container::model::{
    Container, HostSpec, MountKind, MountPoint, NetworkMode, SeccompMode,
};
use crate::error::{Error, Result};
use crate::user::ResolvedUser;

/// The PATH Docker gives processes whose image and request set none.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Files the engine writes per container and bind-mounts into it, as Docker does.
pub struct EtcFiles<'a> {
    pub hostname: &'a Path,
    pub hosts: &'a Path,
    pub resolv_conf: &'a Path,
}

/// Where the cgroups of container `id` live, relative to each hierarchy's root.
pub fn cgroups_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// Builds the container's OCI spec. `rootfs` is the mounted overlay.
pub fn build(
    container: &Container,
    rootfs: &Path,
    user: &ResolvedUser,
    etc: &EtcFiles<'_>,
    netns: Option<&Path>,
    init: Option<&Path>,
) -> Result<Spec> {
    let host = &container.spec.host;
    let capabilities = capabilities(host.privileged, &host.cap_add, &host.cap_drop)?;
    let cap_names: Vec<String> = capabilities.iter().map(|c| format!("CAP_{c}")).collect();

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match (netns, &container.spec.host.network_mode) {
        // A namespace the engine prepared (veth, address, routes already in it).
        (Some(path), _) => namespaces.push(json!({"type": "network", "path": path})),
        (None, NetworkMode::Host) => {}
        (None, _) => namespaces.push(json!({"type": "network"})),
    }

    let mut mounts: Vec<Value> = to_values(&defaults::default_mounts(), "mounts")?;
    if host.shm_size > 0 {
        for mount in &mut mounts {
            if mount["destination"] == "/dev/shm" {
                if let Some(options) = mount["options"].as_array_mut() {
                    options.retain(|o| !o.as_str().is_some_and(|s| s.starts_with("size=")));
                    options.push(json!(format!("size={}", host.shm_size)));
                }
            }
        }
    }
    if host.privileged {
        // Docker gives privileged containers a writable /sys and cgroup tree.
        for mount in &mut mounts {
            let writable = mount["type"] == "sysfs" || mount["type"] == "cgroup";
            if let Some(options) = mount["options"].as_array_mut().filter(|_| writable) {
                options.retain(|o| o != "ro");
            }
        }
    }
    let user_targets: Vec<&str> = container
        .mount_points
        .iter()
        .map(|m| m.destination.as_str())
        .collect();
    for (destination, source) in [
        ("/etc/resolv.conf", etc.resolv_conf),
        ("/etc/hostname", etc.hostname),
        ("/etc/hosts", etc.hosts),
    ] {
        // A user's own mount of one of these files wins, as in Docker.
        if user_targets.contains(&destination) {
            continue;
        }
        mounts.push(json!({
            "destination": destination,
            "type": "bind",
            "source": source,
            "options": ["rbind", "rprivate"],
        }));
    }

    mounts.extend(container.mount_points.iter().map(mount_entry));

    let mut env = vec![format!("HOSTNAME={}", container.hostname)];
    if !container.env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.to_owned());
    }
    env.extend(container.env.iter().cloned());
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    if container.spec.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".to_owned());
    }

    let mut rlimits = Vec::new();
    for ulimit in &host.ulimits {
        rlimits.push(json!({
            "type": format!("RLIMIT_{}", ulimit.name.to_ascii_uppercase()),
            "soft": ulimit.soft,
            "hard": ulimit.hard,
        }));
    }

    let seccomp = match (&host.seccomp, host.privileged) {
        (_, true) | (SeccompMode::Unconfined, _) => Value::Null,
        (SeccompMode::Default, false) => {
            serde_json::to_value(defaults::default_seccomp_profile(&capabilities))
                .map_err(|e| Error::internal(format!("encode seccomp profile: {e}")))?
        }
        (SeccompMode::Custom(profile), false) => docker_profile_to_oci(profile)?,
    };

    let (masked, readonly): (Vec<String>, Vec<String>) = if host.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            defaults::default_masked_paths(),
            defaults::default_readonly_paths(),
        )
    };

    let devices_cgroup = if host.privileged {
        to_value(&defaults::privileged_device_cgroup_rules(), "device rules")?
    } else {
        to_value(&defaults::default_device_cgroup_rules(), "device rules")?
    };

    let mut args = vec![container.path.clone()];
    args.extend(container.args.iter().cloned());

    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": container.spec.tty,
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                "additionalGids": user.additional_gids,
            },
            "args": args,
            "env": env,
            "cwd": if container.working_dir.is_empty() { "/" } else { container.working_dir.as_str() },
            "capabilities": {
                "bounding": cap_names,
                "effective": cap_names,
                "permitted": cap_names,
                "inheritable": [],
            },
            "rlimits": rlimits,
            "noNewPrivileges": host.no_new_privileges,
            "oomScoreAdj": 0,
        },
        "root": { "path": rootfs, "readonly": host.readonly_rootfs },
        "hostname": container.hostname,
        "domainname": container.spec.domainname.clone().unwrap_or_default(),
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": cgroups_path(&container.id),
            "resources": resources(&container.spec.host, devices_cgroup),
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "seccomp": seccomp,
            "rootfsPropagation": "rprivate",
        },
    });
    let mut spec = spec;
    crate::host_options::apply(&mut spec, container, rootfs, init)?;
    strip_nulls(&mut spec);
    serde_json::from_value(spec)
        .map_err(|e| Error::internal(format!("generated OCI spec is invalid: {e}")))
}

/// The OCI mount for one of the container's mount points. Targets are created and resolved
/// inside the rootfs by the runtime (symlinks never lead out of it).
fn mount_entry(point: &MountPoint) -> Value {
    let access = if point.rw { "rw" } else { "ro" };
    match point.kind {
        MountKind::Tmpfs => {
            // Docker's defaults for --tmpfs; the user's options (size=, mode=, exec) follow
            // and win.
            let mut options = vec!["nosuid", "nodev", "noexec", access];
            options.extend(point.tmpfs_options.iter().map(String::as_str));
            json!({
                "destination": point.destination,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": options,
            })
        }
        MountKind::Bind | MountKind::Volume => {
            let propagation = if point.propagation.is_empty() {
                "rprivate"
            } else {
                point.propagation.as_str()
            };
            json!({
                "destination": point.destination,
                "type": "bind",
                "source": point.source,
                "options": ["rbind", access, propagation],
            })
        }
    }
}

/// The cgroup limits of a running container after `update`: the same limits as at start,
/// without device rules (those never change), and `pids` always written so that an update
/// to unlimited takes effect.
pub(crate) fn updated_resources(host: &HostSpec) -> Result<LinuxResources> {
    let mut value = resources(host, Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("devices");
        if host.pids_limit <= 0 {
            map.insert("pids".into(), json!({"limit": -1}));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Error::internal(format!("generated cgroup limits are invalid: {e}")))
}

fn resources(host: &HostSpec, devices: Value) -> Value {
    let mut memory = serde_json::Map::new();
    if host.memory > 0 {
        memory.insert("limit".into(), json!(host.memory));
        // Docker: without --memory-swap, swap may be as large as the memory limit.
        let swap = match host.memory_swap {
            0 => host.memory * 2,
            s => s,
        };
        memory.insert("swap".into(), json!(swap));
    }
    if host.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(host.memory_reservation));
    }
    if host.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    let mut cpu = serde_json::Map::new();
    if host.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(host.cpu_shares));
    }
    if host.nano_cpus > 0 {
        // --cpus N is a quota of N periods per 100 ms period, as Docker computes it.
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert(
            "quota".into(),
            json!(host.nano_cpus * period / 1_000_000_000),
        );
    } else {
        if host.cpu_period > 0 {
            cpu.insert("period".into(), json!(host.cpu_period));
        }
        if host.cpu_quota > 0 {
            cpu.insert("quota".into(), json!(host.cpu_quota));
        }
    }
    if !host.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(host.cpuset_cpus));
    }
    if !host.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(host.cpuset_mems));
    }
    let mut resources = serde_json::Map::new();
    resources.insert("devices".into(), devices);
    if !memory.is_empty() {
        resources.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        resources.insert("cpu".into(), Value::Object(cpu));
    }
    if host.pids_limit > 0 {
        resources.insert("pids".into(), json!({"limit": host.pids_limit}));
    }
    Value::Object(resources)
}

/// The capability set: Docker's default (or all for --privileged), then `--cap-add`, then
/// `--cap-drop`; `ALL` works in both lists as in Docker.
pub fn capabilities(privileged: bool, add: &[String], drop: &[String]) -> Result<Vec<Capability>> {
    // Only capabilities in our own bounding set can be granted (this machine lacks
    // CAP_SYS_RESOURCE, for one); asking for more makes capset fail.
    let all = defaults::available_capabilities();
    let mut set: Vec<Capability> = if privileged {
        all.clone()
    } else {
        defaults::default_capabilities()
    };
    let parse = |name: &str| -> Result<Option<Capability>> {
        let upper = name.trim().to_ascii_uppercase();
        if upper == "ALL" {
            return Ok(None);
        }
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        bare.parse::<Capability>()
            .map(Some)
            .map_err(|_| Error::invalid(format!("invalid capability: {name}")))
    };
    if !privileged {
        for name in add {
            match parse(name)? {
                None => set = all.clone(),
                Some(cap) if !set.contains(&cap) => set.push(cap),
                Some(_) => {}
            }
        }
    }
    for name in drop {
        match parse(name)? {
            None => set.clear(),
            Some(cap) => set.retain(|c| *c != cap),
        }
    }
    // cap-drop ALL followed by cap-add X keeps X, as Docker does.
    if drop.iter().any(|d| d.eq_ignore_ascii_case("all")) && !privileged {
        for name in add {
            if let Some(cap) = parse(name)? {
                if !set.contains(&cap) {
                    set.push(cap);
                }
            }
        }
    }
    Ok(set)
}

/// Converts a profile in Docker's seccomp JSON format into the OCI `linux.seccomp` object.
fn docker_profile_to_oci(profile: &str) -> Result<Value> {
    let invalid = |what: &str| Error::invalid(format!("Decoding seccomp profile failed: {what}"));
    let docker: Value = serde_json::from_str(profile).map_err(|e| invalid(&e.to_string()))?;
    let default_action = docker
        .get("defaultAction")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing defaultAction"))?;
    let mut syscalls = Vec::new();
    for rule in docker
        .get("syscalls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut names: Vec<Value> = rule
            .get("names")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(name) = rule.get("name").and_then(Value::as_str) {
            names.push(json!(name));
        }
        let action = rule
            .get("action")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("syscall rule without action"))?;
        let mut entry = json!({"names": names, "action": action});
        if let Some(args) = rule.get("args").filter(|a| !a.is_null()) {
            entry["args"] = args.clone();
        }
        if let Some(errno) = rule.get("errnoRet") {
            entry["errnoRet"] = errno.clone();
        }
        syscalls.push(entry);
    }
    let mut oci = json!({"defaultAction": default_action, "syscalls": syscalls});
    if let Some(errno) = docker.get("defaultErrnoRet") {
        oci["defaultErrnoRet"] = errno.clone();
    }
    let architectures: Vec<Value> = docker
        .get("archMap")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|a| a.get("architecture").cloned())
                .collect()
        })
        .or_else(|| {
            docker
                .get("architectures")
                .and_then(Value::as_array)
                .cloned()
        })
        .unwrap_or_default();
    if !architectures.is_empty() {
        oci["architectures"] = json!(architectures);
    }
    // Validate now, so a bad profile is a 400 at create rather than a failed start.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(oci.clone())
        .map_err(|e| invalid(&e.to_string()))?;
    Ok(oci)
}

/// Validates a custom seccomp profile at create time.
pub fn validate_seccomp_profile(profile: &str) -> Result<()> {
    docker_profile_to_oci(profile).map(|_| ())
}

fn to_values<T: serde::Serialize>(items: &[T], what: &str) -> Result<Vec<Value>> {
    items
        .iter()
        .map(|i| {
            serde_json::to_value(i)
                .map_err(|e| Error::internal(format!("encode default {what}: {e}")))
        })
        .collect()
}

fn to_value<T: serde::Serialize>(item: &T, what: &str) -> Result<Value> {
    serde_json::to_value(item).map_err(|e| Error::internal(format!("encode default {what}: {e}")))
}

fn strip_nulls(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_arithmetic_matches_docker() {
        let default = capabilities(false, &[], &[]).unwrap();
        assert_eq!(default.len(), 14);
        let added = capabilities(
            false,
            &["net_admin".into(), "CAP_SYS_PTRACE".into()],
            &["chown".into()],
        )
        .unwrap();
        assert!(added.contains(&Capability::NetAdmin));
        assert!(added.contains(&Capability::SysPtrace));
        assert!(!added.contains(&Capability::Chown));
        let only = capabilities(false, &["NET_BIND_SERVICE".into()], &["ALL".into()]).unwrap();
        assert_eq!(only, vec![Capability::NetBindService]);
        assert!(capabilities(false, &["NOT_A_CAP".into()], &[])
            .unwrap_err()
            .to_string()
            .contains("invalid capability"));
        assert!(capabilities(true, &[], &[]).unwrap().len() > 30);
    }

    #[test]
    fn docker_seccomp_profiles_convert() {
        let profile = r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}],
            "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW","args":[]}]}"#;
        let oci = docker_profile_to_oci(profile).unwrap();
        assert_eq!(oci["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(oci["syscalls"][0]["names"][1], "write");
        assert!(validate_seccomp_profile("{").is_err());
        assert!(validate_seccomp_profile(r#"{"syscalls":[]}"#)
            .unwrap_err()
            .to_string()
            .contains("defaultAction"));
    }
}
