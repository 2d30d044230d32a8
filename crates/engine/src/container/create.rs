//! `create`: validate the request, merge it with the image's config, prepare the writable
//! layer and record the container. Nothing runs yet.

use chrono::Utc;
use std::collections::BTreeMap;

use crate::container::model::{Container, ContainerSpec, HostSpec, SeccompMode, State};
use crate::engine::{Engine, Handle};
use crate::error::{Error, Result};
use crate::{ids, spec};

/// Docker's smallest accepted memory limit.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// What `create` returns: the new ID and Docker-style warnings.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

impl Engine {
    /// Creates a container from `spec`. Validates everything first; on failure nothing is left.
    pub async fn create(&self, mut spec: ContainerSpec) -> Result<Created> {
        let warnings = validate(&spec)?;
        self.resolve_network_refs(&mut spec)?;
        crate::host_options::validate(&spec.host)?;
        self.init_binary(&spec.host)?;
        let image = self
            .images
            .resolve(&spec.image)
            .map_err(|e| match e.kind() {
                berth_image::ErrorKind::NotFound => {
                    Error::not_found(format!("No such image: {}", spec.image))
                }
                _ => Error::from(e),
            })?;
        let name = match &spec.name {
            Some(name) => {
                let name = name.strip_prefix('/').unwrap_or(name);
                ids::validate_name(name)?;
                name.to_owned()
            }
            None => self.unused_random_name()?,
        };
        let id = ids::new_id()?;
        let mut container = merge(&id, &name, &spec, &image)?;
        container.endpoints = Some(self.resolve_endpoints(&spec)?);

        // Containers using volumes are created under the volume lock, so that a volume chosen
        // here cannot be removed before the container referencing it is recorded.
        let uses_volumes = !spec.host.mounts.is_empty()
            || !spec.host.volumes_from.is_empty()
            || !container.volumes.is_empty();
        let _volume_lock = match uses_volumes {
            true => Some(self.volume_lock.lock().await),
            false => None,
        };
        let mounts = self.resolve_mounts(&spec, &container.volumes)?;
        container.mount_points = mounts.points;
        let result = self.record_new(container, &image.id).await;
        if result.is_err() {
            self.undo_volumes(&mounts.created_volumes);
        }
        result.map(|id| Created { id, warnings })
    }

    /// Prepares the writable layer and records the container; on failure nothing is left.
    async fn record_new(&self, container: Container, image_id: &str) -> Result<String> {
        let id = container.id.clone();
        let images = self.images.clone();
        let (snapshot_id, image_id) = (id.clone(), image_id.to_owned());
        tokio::task::spawn_blocking(move || images.prepare_snapshot(&snapshot_id, &image_id))
            .await
            .map_err(|e| Error::internal(format!("prepare snapshot task: {e}")))??;
        let container_dir = self.container_dir(&id);
        let result = std::fs::create_dir_all(&container_dir)
            .map_err(|e| Error::io("create", &container_dir, e))
            .and_then(|_| self.store.insert(&container));
        if let Err(e) = result {
            let _ = self.images.remove_snapshot(&id);
            let _ = std::fs::remove_dir_all(&container_dir);
            return Err(e);
        }
        self.emit_container(&container, "create", &[]);
        self.table()?.insert(id.clone(), Handle::new_arc(container));
        Ok(id)
    }

    fn unused_random_name(&self) -> Result<String> {
        let table = self.table()?;
        for _ in 0..32 {
            let name = ids::random_name()?;
            if !table.values().any(|h| h.snapshot().name == name) {
                return Ok(name);
            }
        }
        Err(Error::internal("could not find an unused container name"))
    }
}

/// Checks the request as Docker does, before anything is created.
fn validate(spec: &ContainerSpec) -> Result<Vec<String>> {
    let host = &spec.host;
    let mut warnings = Vec::new();
    if spec.image.trim().is_empty() {
        return Err(Error::invalid("No image was specified"));
    }
    validate_resources(host)?;
    spec::capabilities(host.privileged, &host.cap_add, &host.cap_drop)?;
    if let SeccompMode::Custom(profile) = &host.seccomp {
        spec::validate_seccomp_profile(profile)?;
    }
    crate::container::restart::validate_policy(&host.restart_policy)?;
    crate::container::netmodes::validate(spec)?;
    if host.auto_remove && !matches!(host.restart_policy.name.as_str(), "" | "no") {
        return Err(Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    if let Some(signal) = &spec.stop_signal {
        crate::container::stop::parse_signal(signal)?;
    }
    for ulimit in &host.ulimits {
        if ulimit.soft > ulimit.hard {
            return Err(Error::invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {} > {}",
                ulimit.soft, ulimit.hard
            )));
        }
    }
    if host.pids_limit > 0 && host.pids_limit < 1 {
        warnings.push("pids limit ignored".to_owned());
    }
    Ok(warnings)
}

/// The resource limits' checks, shared by create and update (Docker's messages).
pub(crate) fn validate_resources(host: &HostSpec) -> Result<()> {
    if host.memory != 0 && host.memory < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if host.memory > 0 && host.memory_swap > 0 && host.memory_swap < host.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if host.memory_swap > 0 && host.memory == 0 {
        return Err(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if host.nano_cpus != 0 {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as i64)
            .unwrap_or(1);
        if host.nano_cpus < 10_000_000 || host.nano_cpus > cpus * 1_000_000_000 {
            return Err(Error::invalid(format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )));
        }
        if host.cpu_quota > 0 || host.cpu_period > 0 {
            return Err(Error::invalid(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ));
        }
    }
    if host.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares: must not be negative"));
    }
    validate_cpuset(&host.cpuset_cpus)?;
    validate_cpuset(&host.cpuset_mems)?;
    Ok(())
}

/// Cpuset lists like `0-2,4`: digits, commas and ascending ranges only.
fn validate_cpuset(list: &str) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let bad = || Error::invalid(format!("Invalid value {list} for cpuset cpus"));
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    a.parse::<u32>().map_err(|_| bad())?,
                    b.parse::<u32>().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
            }
            None => {
                part.parse::<u32>().map_err(|_| bad())?;
            }
        }
    }
    Ok(())
}

/// Merges the request with the image's config the way Docker does.
fn merge(
    id: &str,
    name: &str,
    spec: &ContainerSpec,
    image: &berth_image::ImageRecord,
) -> Result<Container> {
    let config = image.config.config().clone().unwrap_or_default();
    let entrypoint: Vec<String> = match &spec.entrypoint {
        Some(e) => e.clone(),
        None => config.entrypoint().clone().unwrap_or_default(),
    };
    // A new entrypoint resets the image's CMD, as in Docker.
    let cmd: Vec<String> = match (&spec.cmd, &spec.entrypoint) {
        (Some(c), _) => c.clone(),
        (None, Some(_)) => Vec::new(),
        (None, None) => config.cmd().clone().unwrap_or_default(),
    };
    let mut argv: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
    if argv.is_empty() {
        return Err(Error::invalid("No command specified"));
    }
    let path = argv.remove(0);

    let hostname = spec
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| host_network_hostname(spec))
        .unwrap_or_else(|| id[..12].to_owned());
    // Config.Env is the image's environment overridden by the request's, as Docker reports
    // it; HOSTNAME and a default PATH are added to the process environment at start.
    let mut env: Vec<String> = Vec::new();
    for entry in config.env().iter().flatten().chain(spec.env.iter()) {
        let key = entry.split('=').next().unwrap_or(entry);
        if key.is_empty() {
            return Err(Error::invalid(format!(
                "invalid environment variable: {entry}"
            )));
        }
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }

    let mut labels: BTreeMap<String, String> = config
        .labels()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    labels.extend(spec.labels.clone());

    Ok(Container {
        id: id.to_owned(),
        name: name.to_owned(),
        created: Utc::now(),
        spec: spec.clone(),
        image_id: image.id.clone(),
        path,
        args: argv,
        env,
        cmd,
        entrypoint,
        working_dir: spec
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .or_else(|| config.working_dir().clone())
            .unwrap_or_default(),
        user: spec
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| config.user().clone())
            .unwrap_or_default(),
        hostname,
        labels,
        exposed_ports: {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            for port in &spec.exposed_ports {
                let port = if port.contains('/') {
                    port.clone()
                } else {
                    format!("{port}/tcp")
                };
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
            ports
        },
        volumes: config.volumes().clone().unwrap_or_default(),
        stop_signal: spec
            .stop_signal
            .clone()
            .or_else(|| config.stop_signal().clone())
            .unwrap_or_else(|| "SIGTERM".to_owned()),
        state: State::default(),
        mount_points: Vec::new(),
        networks: Vec::new(),
        endpoints: None,
    })
}

/// Docker gives a `--network host` container the host's hostname unless one was asked for.
fn host_network_hostname(spec: &ContainerSpec) -> Option<String> {
    (spec.host.network_mode == crate::container::model::NetworkMode::Host)
        .then(nix::unistd::gethostname)
        .and_then(|h| h.ok())
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_limits_with_docker_messages() {
        let mut spec = ContainerSpec {
            image: "busybox".into(),
            ..Default::default()
        };
        spec.host.memory = 1024;
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("Minimum memory limit"));
        spec.host.memory = 0;
        spec.host.nano_cpus = 1_000;
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("Range of CPUs"));
        spec.host.nano_cpus = 0;
        spec.host.cpuset_cpus = "3-1".into();
        assert!(validate(&spec).is_err());
        spec.host.cpuset_cpus = "0-1,3".into();
        assert!(validate(&spec).is_ok());
        spec.stop_signal = Some("SIGNOPE".into());
        assert!(validate(&spec)
            .unwrap_err()
            .to_string()
            .contains("Invalid signal"));
    }
}
