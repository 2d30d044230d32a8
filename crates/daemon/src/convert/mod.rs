//! The one place where Docker's wire format meets the engine's domain types: create bodies
//! become [`ContainerSpec`]s, records become inspect/list JSON in Docker's shapes.
//!
//! Responses are built as JSON values shaped like the bollard-stubs models (the tests check
//! that they deserialize into those models), which keeps Docker's exact field names.

use std::collections::BTreeMap;

use berth_api::models::{ContainerCreateBody, HostConfig};
use berth_engine::{
    Container, ContainerSpec, HostSpec, RestartPolicy, SeccompMode, Status, Ulimit,
};
use berth_image::ImageRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::error::ApiError;

mod events;
mod host_options;
mod netopts;
mod network;
mod stats;
mod update;

pub use events::{event, event_filter};
pub use netopts::legacy_mac_address;
pub use stats::stats;
pub use update::update_body;
pub mod archive;
pub mod df;
pub mod mounts;
pub mod networks;
pub use network::endpoint_settings;
pub mod registry;
pub mod volumes;

/// Docker's zero time, used for "never".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_owned())
}

/// Converts a create request. Options Berth does not support yet are refused with a clear
/// message rather than silently ignored.
pub fn create_body(
    name: Option<String>,
    body: ContainerCreateBody,
) -> Result<ContainerSpec, ApiError> {
    let image = body
        .image
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("No image was specified"))?;
    let anonymous: Vec<String> = {
        let mut targets: Vec<String> = body.volumes.unwrap_or_default();
        targets.sort();
        targets
    };
    let mut host = host_spec(body.host_config.unwrap_or_default(), &anonymous)?;
    host.mac_address = netopts::endpoint_mac_address(body.networking_config.as_ref());
    Ok(ContainerSpec {
        name: name.filter(|n| !n.is_empty()),
        image,
        cmd: body.cmd.filter(|c| !c.is_empty()),
        entrypoint: body.entrypoint,
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir,
        user: body.user,
        hostname: body.hostname,
        domainname: body.domainname,
        labels: body.labels.unwrap_or_default().into_iter().collect(),
        tty: body.tty.unwrap_or(false),
        open_stdin: body.open_stdin.unwrap_or(false),
        stdin_once: body.stdin_once.unwrap_or(false),
        attach_stdin: body.attach_stdin.unwrap_or(false),
        attach_stdout: body.attach_stdout.unwrap_or(false),
        attach_stderr: body.attach_stderr.unwrap_or(false),
        stop_signal: body.stop_signal.filter(|s| !s.is_empty()),
        stop_timeout: body.stop_timeout,
        exposed_ports: {
            let mut ports: Vec<String> = body.exposed_ports.unwrap_or_default();
            ports.sort();
            ports
        },
        host,
        endpoints: network::endpoints_config(body.networking_config)?,
    })
}

/// `anonymous`: the targets of Config.Volumes (`-v /path`), which become anonymous volumes.
fn host_spec(hc: HostConfig, anonymous: &[String]) -> Result<HostSpec, ApiError> {
    let network_mode = netopts::network_mode(hc.network_mode.as_deref().unwrap_or(""))?;
    let mut seccomp = SeccompMode::Default;
    let mut no_new_privileges = false;
    for opt in hc.security_opt.iter().flatten() {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match key {
            "seccomp" if value == "unconfined" => seccomp = SeccompMode::Unconfined,
            "seccomp" if !value.is_empty() => seccomp = SeccompMode::Custom(value.to_owned()),
            "no-new-privileges" => {
                no_new_privileges = match value {
                    "" | "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "invalid --security-opt 2: {opt:?}"
                        )))
                    }
                }
            }
            "apparmor" | "label" => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid --security-opt 1: {opt:?}"
                )))
            }
        }
    }
    let mut ulimits = Vec::new();
    for u in hc.ulimits.iter().flatten() {
        let name = u.name.clone().unwrap_or_default();
        if !KNOWN_ULIMITS.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "invalid ulimit type: {name}"
            )));
        }
        ulimits.push(Ulimit {
            name,
            soft: u.soft.unwrap_or(0),
            hard: u.hard.unwrap_or(0),
        });
    }
    let log_config = hc.log_config.unwrap_or_default();
    let log_options = log_config.config.unwrap_or_default();
    match log_config.typ.as_deref() {
        None | Some("") | Some("json-file") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "logging driver {other} is not supported; use json-file"
            )))
        }
    }
    let log_max_size = log_options
        .get("max-size")
        .map(|s| parse_size(s))
        .transpose()?;
    let log_max_file = log_options
        .get("max-file")
        .map(|s| {
            s.parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for max-file: {s}")))
        })
        .transpose()?;
    if let Some(driver) = hc
        .volume_driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != berth_engine::LOCAL_DRIVER)
    {
        return Err(ApiError::not_found(format!(
            "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
        )));
    }
    let binds = hc.binds.unwrap_or_default();
    let tmpfs = hc.tmpfs.unwrap_or_default();
    let mount_requests = mounts::requests(
        &binds,
        hc.mounts.as_deref().unwrap_or(&[]),
        &tmpfs,
        anonymous,
    )?;
    let restart = hc.restart_policy.unwrap_or_default();
    Ok(HostSpec {
        memory: hc.memory.unwrap_or(0),
        memory_swap: hc.memory_swap.unwrap_or(0),
        memory_reservation: hc.memory_reservation.unwrap_or(0),
        nano_cpus: hc.nano_cpus.unwrap_or(0),
        cpu_shares: hc.cpu_shares.unwrap_or(0),
        cpu_period: hc.cpu_period.unwrap_or(0),
        cpu_quota: hc.cpu_quota.unwrap_or(0),
        cpuset_cpus: hc.cpuset_cpus.unwrap_or_default(),
        cpuset_mems: hc.cpuset_mems.unwrap_or_default(),
        pids_limit: hc.pids_limit.unwrap_or(0),
        cap_add: hc.cap_add.unwrap_or_default(),
        cap_drop: hc.cap_drop.unwrap_or_default(),
        privileged: hc.privileged.unwrap_or(false),
        security_opt: hc.security_opt.unwrap_or_default(),
        seccomp,
        no_new_privileges,
        network_mode,
        readonly_rootfs: hc.readonly_rootfs.unwrap_or(false),
        auto_remove: hc.auto_remove.unwrap_or(false),
        restart_policy: RestartPolicy {
            name: restart.name.map(|n| n.to_string()).unwrap_or_default(),
            maximum_retry_count: restart.maximum_retry_count.unwrap_or(0),
        },
        ulimits,
        log_max_size,
        log_max_file,
        oom_kill_disable: hc.oom_kill_disable.unwrap_or(false),
        shm_size: hc.shm_size.unwrap_or(0),
        binds,
        tmpfs: tmpfs.into_iter().collect(),
        volumes_from: hc.volumes_from.unwrap_or_default(),
        mounts: mount_requests,
        port_bindings: network::port_bindings(hc.port_bindings)?,
        publish_all_ports: hc.publish_all_ports.unwrap_or(false),
        links: netopts::links(hc.links)?,
        extra_hosts: hc.extra_hosts.unwrap_or_default(),
        dns: hc.dns.unwrap_or_default(),
        dns_search: hc.dns_search.unwrap_or_default(),
        dns_options: hc.dns_options.unwrap_or_default(),
        mac_address: None,
        init: hc.init,
        group_add: hc.group_add.unwrap_or_default(),
        devices: host_options::devices(hc.devices),
        device_cgroup_rules: hc.device_cgroup_rules.unwrap_or_default(),
        sysctls: hc.sysctls.unwrap_or_default().into_iter().collect(),
    })
}

const KNOWN_ULIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// Parses Docker's size strings for log options: `10m`, `1g`, `512k`, `100`.
pub fn parse_size(text: &str) -> Result<u64, ApiError> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let value: f64 = number
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid size: '{text}'")))?;
    let multiplier: f64 = match unit.trim_end_matches(['b', 'i']) {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(ApiError::bad_request(format!("invalid size: '{text}'"))),
    };
    Ok((value * multiplier) as u64)
}

fn command_line(c: &Container) -> String {
    std::iter::once(c.path.as_str())
        .chain(c.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

fn exposed_ports(c: &Container) -> Value {
    if c.exposed_ports.is_empty() {
        return Value::Null;
    }
    Value::Object(
        c.exposed_ports
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect(),
    )
}

fn network_settings(c: &Container) -> Value {
    network::network_settings(c, "")
}

fn host_config(c: &Container) -> Value {
    let h = &c.spec.host;
    let mut log_config = serde_json::Map::new();
    if let Some(size) = h.log_max_size {
        log_config.insert("max-size".into(), json!(size.to_string()));
    }
    if let Some(files) = h.log_max_file {
        log_config.insert("max-file".into(), json!(files.to_string()));
    }
    let mut value = json!({
        "Binds": if h.binds.is_empty() { Value::Null } else { json!(h.binds) },
        "Mounts": mounts::host_config_mounts(&h.mounts),
        "Tmpfs": if h.tmpfs.is_empty() { Value::Null } else { json!(h.tmpfs) },
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": log_config},
        "NetworkMode": h.network_mode.as_str(),
        "PortBindings": network::host_config_port_bindings(c),
        "RestartPolicy": {"Name": if h.restart_policy.name.is_empty() { "no" } else { h.restart_policy.name.as_str() }, "MaximumRetryCount": h.restart_policy.maximum_retry_count},
        "AutoRemove": h.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": if h.volumes_from.is_empty() { Value::Null } else { json!(h.volumes_from) },
        "CapAdd": if h.cap_add.is_empty() { Value::Null } else { json!(h.cap_add) },
        "CapDrop": if h.cap_drop.is_empty() { Value::Null } else { json!(h.cap_drop) },
        "CgroupnsMode": "host",
        "Dns": h.dns, "DnsOptions": h.dns_options, "DnsSearch": h.dns_search,
        "ExtraHosts": netopts::list_or_null(&h.extra_hosts), "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": netopts::host_config_links(c),
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": h.privileged,
        "PublishAllPorts": h.publish_all_ports,
        "ReadonlyRootfs": h.readonly_rootfs,
        "SecurityOpt": if h.security_opt.is_empty() { Value::Null } else { json!(h.security_opt) },
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": if h.shm_size > 0 { h.shm_size } else { 64 * 1024 * 1024 },
        "Runtime": "berth",
        "Isolation": "",
        "CpuShares": h.cpu_shares,
        "Memory": h.memory,
        "NanoCpus": h.nano_cpus,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "CpuPeriod": h.cpu_period,
        "CpuQuota": h.cpu_quota,
        "CpusetCpus": h.cpuset_cpus,
        "CpusetMems": h.cpuset_mems,
        "Devices": [],
        "MemoryReservation": h.memory_reservation,
        "MemorySwap": h.memory_swap,
        "OomKillDisable": h.oom_kill_disable,
        "PidsLimit": if h.pids_limit > 0 { json!(h.pids_limit) } else { Value::Null },
        "Ulimits": h.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
        "MaskedPaths": if h.privileged { Value::Null } else { json!(berth_engine::default_masked_paths()) },
        "ReadonlyPaths": if h.privileged { Value::Null } else { json!(berth_engine::default_readonly_paths()) },
    });
    host_options::inspect_fields(&mut value, h);
    value
}

/// `GET /containers/{id}/json`.
pub fn inspect(c: &Container, image_ref: &str, paths: &ContainerPaths) -> Value {
    let s = &c.state;
    json!({
        "Id": c.id,
        "Created": time(Some(c.created)),
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": s.status.as_str(),
            "Running": matches!(s.status, Status::Running | Status::Paused | Status::Restarting),
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": time(s.started_at),
            "FinishedAt": time(s.finished_at),
        },
        "Image": c.image_id,
        "ResolvConfPath": paths.resolv_conf,
        "HostnamePath": paths.hostname,
        "HostsPath": paths.hosts,
        "LogPath": paths.log,
        "Name": format!("/{}", c.name),
        "RestartCount": s.restart_count,
        "Driver": paths.graph_driver.name,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config(c),
        "GraphDriver": graph_driver(&paths.graph_driver),
        "Mounts": mounts::mount_points(&c.mount_points),
        "Config": {
            "Hostname": c.hostname,
            "Domainname": c.spec.domainname.clone().unwrap_or_default(),
            "MacAddress": c.spec.host.mac_address.clone().unwrap_or_default(),
            "User": c.user,
            "AttachStdin": c.spec.attach_stdin,
            "AttachStdout": c.spec.attach_stdout,
            "AttachStderr": c.spec.attach_stderr,
            "ExposedPorts": exposed_ports(c),
            "Tty": c.spec.tty,
            "OpenStdin": c.spec.open_stdin,
            "StdinOnce": c.spec.stdin_once,
            "Env": c.env,
            "Cmd": if c.cmd.is_empty() { Value::Null } else { json!(c.cmd) },
            "Image": image_ref,
            "Volumes": config_volumes(c),
            "WorkingDir": c.working_dir,
            "Entrypoint": if c.entrypoint.is_empty() { Value::Null } else { json!(c.entrypoint) },
            "OnBuild": null,
            "Labels": c.labels,
            "StopSignal": c.stop_signal,
            "StopTimeout": c.spec.stop_timeout,
        },
        "NetworkSettings": network_settings(c),
    })
}

/// Host paths shown by inspect.
pub struct ContainerPaths {
    pub resolv_conf: String,
    pub hostname: String,
    pub hosts: String,
    pub log: String,
    /// the container's layer stack (snapshot) as the storage driver reports it
    pub graph_driver: berth_image::GraphDriver,
}

/// Docker's `GraphDriverData`: `Data` is an object of strings (empty where the driver reports
/// nothing, as bollard's model requires an object); `LowerDir` only when there are lower dirs.
pub fn graph_driver(g: &berth_image::GraphDriver) -> Value {
    let mut data = serde_json::Map::new();
    if let Some(d) = &g.data {
        if !d.lower_dirs.is_empty() {
            data.insert(
                "LowerDir".into(),
                json!(berth_image::join_dirs(&d.lower_dirs)),
            );
        }
        data.insert(
            "MergedDir".into(),
            json!(d.merged_dir.display().to_string()),
        );
        data.insert("UpperDir".into(), json!(d.upper_dir.display().to_string()));
        data.insert("WorkDir".into(), json!(d.work_dir.display().to_string()));
    }
    json!({"Name": g.name, "Data": data})
}

/// One row of `GET /containers/json`.
pub fn summary(c: &Container) -> Value {
    json!({
        "Id": c.id,
        "Names": [format!("/{}", c.name)],
        "Image": c.spec.image,
        "ImageID": c.image_id,
        "Command": command_line(c),
        "Created": c.created.timestamp(),
        "Ports": network::summary_ports(c),
        "Labels": c.labels,
        "State": c.state.status.as_str(),
        "Status": status_text(c, Utc::now()),
        "HostConfig": {"NetworkMode": c.spec.host.network_mode.as_str()},
        "NetworkSettings": {"Networks": network_settings(c)["Networks"].clone()},
        "Mounts": mounts::mount_points(&c.mount_points),
    })
}

/// Config.Volumes: the image's VOLUMEs and the request's `-v /path` targets.
fn config_volumes(c: &Container) -> Value {
    let targets: Vec<&str> = c
        .volumes
        .iter()
        .map(String::as_str)
        .chain(
            c.spec
                .host
                .mounts
                .iter()
                .filter(|m| m.origin == berth_engine::MountOrigin::Volumes)
                .map(|m| m.target.as_str()),
        )
        .collect();
    if targets.is_empty() {
        return Value::Null;
    }
    Value::Object(
        targets
            .into_iter()
            .map(|t| (t.to_owned(), json!({})))
            .collect(),
    )
}

/// Docker's human `Status` column: "Up 5 minutes", "Exited (0) 2 hours ago", "Created".
pub fn status_text(c: &Container, now: DateTime<Utc>) -> String {
    let s = &c.state;
    match s.status {
        Status::Created => "Created".to_owned(),
        Status::Running => format!("Up {}", human_duration(now - s.started_at.unwrap_or(now))),
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(now - s.started_at.unwrap_or(now))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            s.exit_code,
            human_duration(now - s.finished_at.unwrap_or(now))
        ),
        Status::Removing => "Removal In Progress".to_owned(),
        Status::Dead => "Dead".to_owned(),
        Status::Exited => match s.finished_at {
            Some(finished) => format!(
                "Exited ({}) {} ago",
                s.exit_code,
                human_duration(now - finished)
            ),
            None => format!("Exited ({})", s.exit_code),
        },
    }
}

/// go-units' HumanDuration of a time span, which Docker uses for the Status column.
fn human_duration(d: chrono::TimeDelta) -> String {
    berth_api::units::human_duration(d.num_milliseconds() as f64 / 1000.0)
}

fn image_config(image: &ImageRecord) -> Value {
    let config = image.config.config().clone().unwrap_or_default();
    let ports: Option<BTreeMap<String, Value>> = config
        .exposed_ports()
        .as_ref()
        .map(|p| p.iter().map(|k| (k.clone(), json!({}))).collect());
    let volumes: Option<BTreeMap<String, Value>> = config
        .volumes()
        .as_ref()
        .map(|v| v.iter().map(|k| (k.clone(), json!({}))).collect());
    json!({
        "User": config.user().clone().unwrap_or_default(),
        "ExposedPorts": ports,
        "Env": config.env(),
        "Cmd": config.cmd(),
        "Entrypoint": config.entrypoint(),
        "Volumes": volumes,
        "WorkingDir": config.working_dir().clone().unwrap_or_default(),
        "Labels": config.labels(),
        "StopSignal": config.stop_signal(),
        "OnBuild": null,
    })
}

/// `GET /images/{name}/json`.
pub fn image_inspect(image: &ImageRecord, graph: &berth_image::GraphDriver) -> Value {
    json!({
        "Id": image.id,
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Parent": image.parent,
        "Comment": image.comment,
        "Created": time(Some(image.created)),
        "DockerVersion": "",
        "Author": image.config.author().clone().unwrap_or_default(),
        "Config": image_config(image),
        "Architecture": image.config.architecture().to_string(),
        "Os": image.config.os().to_string(),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": graph_driver(graph),
        "RootFS": {"Type": "layers", "Layers": image.layers},
        "Metadata": {"LastTagTime": ZERO_TIME},
    })
}

/// One row of `GET /images/json`.
pub fn image_summary(image: &ImageRecord, containers: i64) -> Value {
    let config = image.config.config().clone().unwrap_or_default();
    json!({
        "Id": image.id,
        "ParentId": image.parent,
        "RepoTags": image.repo_tags,
        "RepoDigests": image.repo_digests,
        "Created": image.created.timestamp(),
        "Size": image.size,
        "SharedSize": -1,
        "VirtualSize": image.size,
        "Labels": config.labels().clone().unwrap_or_default(),
        "Containers": containers,
    })
}

/// `GET /images/{name}/history`: newest first, as Docker lists it. Entries that add a layer
/// get that layer's size, `empty_layer` entries 0. The last entry of the image and of each
/// local parent (`parents`, nearest first) carries that image's id and tags; others are
/// `<missing>`, as for pulled images.
pub fn image_history(image: &ImageRecord, parents: &[ImageRecord]) -> Value {
    let history = image.config.history().clone().unwrap_or_default();
    let mut layer = 0usize;
    let mut rows: Vec<Value> = history
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let created = h
                .created()
                .as_deref()
                .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                .map(|c| c.timestamp())
                .unwrap_or(0);
            let size = if h.empty_layer().unwrap_or(false) {
                0
            } else {
                let s = image.layer_sizes.get(layer).copied().unwrap_or(0);
                layer += 1;
                s
            };
            let owner = std::iter::once(image)
                .chain(parents.iter())
                .find(|p| p.config.history().as_ref().map_or(0, Vec::len) == i + 1);
            json!({
                "Id": owner.map_or("<missing>", |p| p.id.as_str()),
                "Created": created,
                "CreatedBy": h.created_by().clone().unwrap_or_default(),
                "Tags": owner.map_or(Value::Null, |p| json!(p.repo_tags)),
                "Size": size,
                "Comment": h.comment().clone().unwrap_or_default(),
            })
        })
        .collect();
    rows.reverse();
    Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_engine::NetworkMode;

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("10m").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("2kb").unwrap(), 2048);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5x").is_err());
    }

    #[test]
    fn create_body_parses_mounts_and_refuses_bad_values() {
        let body: ContainerCreateBody = serde_json::from_value(json!({
            "Image": "busybox", "Volumes": {"/anon": {}},
            "HostConfig": {"Binds": ["/a:/b:ro", "data:/d"], "Tmpfs": {"/t": "size=1m"},
                           "VolumesFrom": ["other:ro"]}
        }))
        .unwrap();
        let spec = create_body(None, body).unwrap();
        let targets: Vec<&str> = spec.host.mounts.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(targets, vec!["/b", "/d", "/t", "/anon"]);
        assert_eq!(spec.host.volumes_from, vec!["other:ro"]);
        let body: ContainerCreateBody = serde_json::from_value(json!({
            "Image": "busybox", "HostConfig": {"Binds": [":/x"]}
        }))
        .unwrap();
        assert_eq!(create_body(None, body).unwrap_err().status, 400);
        let body: ContainerCreateBody = serde_json::from_value(json!({
            "Image": "busybox", "HostConfig": {"SecurityOpt": ["bogus"]}
        }))
        .unwrap();
        assert_eq!(create_body(None, body).unwrap_err().status, 400);
        let body: ContainerCreateBody = serde_json::from_value(json!({
            "Image": "busybox", "Cmd": ["true"],
            "HostConfig": {"SecurityOpt": ["seccomp=unconfined", "no-new-privileges"], "NetworkMode": "none", "Memory": 8388608}
        }))
        .unwrap();
        let spec = create_body(Some("x".into()), body).unwrap();
        assert_eq!(spec.host.seccomp, SeccompMode::Unconfined);
        assert!(spec.host.no_new_privileges);
        assert_eq!(spec.host.network_mode, NetworkMode::None);
        assert_eq!(spec.host.memory, 8 << 20);
    }

    fn sample() -> Container {
        let mut spec = ContainerSpec {
            image: "busybox".into(),
            ..Default::default()
        };
        spec.host.pids_limit = 10;
        Container {
            id: "a".repeat(64),
            name: "web".into(),
            created: Utc::now(),
            spec,
            image_id: format!("sha256:{}", "b".repeat(64)),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            env: vec!["PATH=/bin".into()],
            cmd: vec!["sh".into()],
            entrypoint: vec![],
            working_dir: String::new(),
            user: String::new(),
            hostname: "aaaaaaaaaaaa".into(),
            labels: BTreeMap::from([("k".into(), "v".into())]),
            exposed_ports: vec!["80/tcp".into()],
            volumes: vec![],
            stop_signal: "SIGTERM".into(),
            state: Default::default(),
            mount_points: vec![],
            networks: Vec::new(),
            endpoints: None,
        }
    }

    #[test]
    fn responses_have_the_docker_models_shape() {
        let c = sample();
        let paths = ContainerPaths {
            resolv_conf: "/r".into(),
            hostname: "/h".into(),
            hosts: "/hs".into(),
            log: "/l".into(),
            graph_driver: berth_image::GraphDriver {
                name: "overlay2",
                data: Some(berth_image::GraphDirs {
                    lower_dirs: vec!["/a/diff".into(), "/b/diff".into()],
                    upper_dir: "/s/upper".into(),
                    merged_dir: "/s/merged".into(),
                    work_dir: "/s/work".into(),
                }),
            },
        };
        let inspected: berth_api::models::ContainerInspectResponse =
            serde_json::from_value(inspect(&c, "busybox", &paths)).unwrap();
        assert_eq!(inspected.name.as_deref(), Some("/web"));
        let graph = inspected.graph_driver.unwrap();
        assert_eq!(graph.name, "overlay2");
        assert_eq!(graph.data["LowerDir"], "/a/diff:/b/diff");
        assert_eq!(graph.data["UpperDir"], "/s/upper");
        let vfs = graph_driver(&berth_image::GraphDriver {
            name: "vfs",
            data: None,
        });
        let vfs: berth_api::models::DriverData = serde_json::from_value(vfs).unwrap();
        assert!(vfs.data.is_empty());
        assert_eq!(inspected.host_config.unwrap().pids_limit, Some(10));
        let listed: berth_api::models::ContainerSummary =
            serde_json::from_value(summary(&c)).unwrap();
        assert_eq!(listed.command.as_deref(), Some("sh -c true"));
        assert_eq!(listed.status.as_deref(), Some("Created"));
    }
}

/// Converts an exec create body.
pub fn exec_config(
    body: berth_api::models::ExecConfig,
) -> Result<berth_engine::ExecSpec, ApiError> {
    let console_size = match body.console_size.as_deref() {
        None | Some([]) => None,
        Some([h, w]) => Some((
            u16::try_from(*h).map_err(|_| ApiError::bad_request("invalid ConsoleSize"))?,
            u16::try_from(*w).map_err(|_| ApiError::bad_request("invalid ConsoleSize"))?,
        )),
        Some(_) => return Err(ApiError::bad_request("ConsoleSize must be [height, width]")),
    };
    let cmd = body.cmd.unwrap_or_default();
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let detach_keys = match body.detach_keys.as_deref() {
        None | Some("") => None,
        Some(keys) => Some(berth_api::detach::parse_detach_keys(keys).map_err(|_| {
            ApiError::bad_request(format!("Invalid detach keys ({keys}) provided"))
        })?),
    };
    Ok(berth_engine::ExecSpec {
        cmd,
        env: body.env.unwrap_or_default(),
        working_dir: body.working_dir.filter(|w| !w.is_empty()),
        user: body.user.filter(|u| !u.is_empty()),
        privileged: body.privileged.unwrap_or(false),
        tty: body.tty.unwrap_or(false),
        console_size,
        attach_stdin: body.attach_stdin.unwrap_or(false),
        attach_stdout: body.attach_stdout.unwrap_or(false),
        attach_stderr: body.attach_stderr.unwrap_or(false),
        detach_keys,
    })
}

/// `GET /exec/{id}/json` in Docker's shape (`ExitCode` is null while running).
pub fn exec_inspect(info: &berth_engine::ExecInfo) -> Value {
    let spec = &info.spec;
    json!({
        "ID": info.id,
        "Running": info.running,
        "ExitCode": info.exit_code,
        "ProcessConfig": {
            "tty": spec.tty,
            "entrypoint": spec.cmd.first().cloned().unwrap_or_default(),
            "arguments": spec.cmd.iter().skip(1).collect::<Vec<_>>(),
            "privileged": spec.privileged,
            "user": spec.user.clone().unwrap_or_default(),
        },
        "OpenStdin": spec.attach_stdin,
        "OpenStderr": spec.attach_stderr,
        "OpenStdout": spec.attach_stdout,
        "CanRemove": false,
        "ContainerID": info.container_id,
        "DetachKeys": "",
        "Pid": info.pid,
    })
}
