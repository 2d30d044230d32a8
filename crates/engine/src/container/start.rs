//! `start`: mount the writable layer, write the bundle and the container's /etc files,
//! launch `berth-shim`, and watch it.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;

use crate::container::model::{Container, MountKind, Status};
use crate::engine::{Engine, Handle};
use crate::error::{Error, Result};
use crate::network::resolver::wants_dns;
use crate::network::{self, Attachment};
use crate::shim::{self, ShimLaunch, Started};
use crate::spec::{self, EtcFiles};
use crate::user;
use crate::volume::copyup;

/// Berth rotates json-file logs by default (Docker's default is unbounded).
pub const DEFAULT_LOG_MAX_SIZE: u64 = 20 * 1024 * 1024;
pub const DEFAULT_LOG_MAX_FILE: u32 = 5;

impl Engine {
    /// Starts a created or exited container. Starting a running one is `NotModified`.
    pub async fn start(self: &Arc<Self>, reference: &str) -> Result<()> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        match container.state.status {
            Status::Running | Status::Restarting => {
                return Err(Error::NotModified {
                    message: "container already started".into(),
                })
            }
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(Error::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    container.id
                )))
            }
            Status::Created | Status::Exited => {}
        }
        // An explicit start re-arms the restart policy (Docker's ResetRestartManager(true)).
        handle
            .restart_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        handle.update_backoff(|_| None);
        handle.update(|c| {
            c.state.manually_stopped = false;
            c.state.restart_count = 0;
        });
        self.start_locked(&handle).await
    }

    /// Starts the container; the caller holds `handle.op`.
    pub(crate) async fn start_locked(self: &Arc<Self>, handle: &Arc<Handle>) -> Result<()> {
        let container = handle.snapshot();
        let engine = self.clone();
        let prepared = container.clone();
        let launched = tokio::task::spawn_blocking(move || engine.launch(&prepared))
            .await
            .map_err(|e| Error::internal(format!("start task: {e}")))?;
        match launched {
            Ok((started, attachments)) => {
                let joined = self.joined_identity(&container);
                let record = handle.update(|c| {
                    // Docker: a `container:` container takes the hostname of the one it joins.
                    if let Some((hostname, domainname)) = joined {
                        c.hostname = hostname;
                        c.spec.domainname = domainname;
                    }
                    c.networks = attachments;
                    c.state.status = Status::Running;
                    c.state.pid = started.pid;
                    c.state.shim_pid = started.shim_pid;
                    c.state.started_at = Some(Utc::now());
                    c.state.finished_at = None;
                    c.state.exit_code = 0;
                    c.state.error.clear();
                    c.state.oom_killed = false;
                    // The image's content was copied into new volumes by this first start.
                    c.mount_points.iter_mut().for_each(|m| m.copy_up = false);
                });
                self.persist(&record)?;
                self.watch_shim(handle.clone(), started.shim_pid);
                handle.starts.send_modify(|n| *n += 1);
                self.emit_volume_mounts(&record, "mount");
                self.emit_attachments("connect", &record.id, &record.networks);
                self.emit_container(&record, "start", &[]);
                Ok(())
            }
            Err(e) => {
                let exit_code = match &e {
                    Error::StartFailed { exit_code, .. } => *exit_code,
                    _ => 128,
                };
                let message = e.to_string();
                // Like Docker, a container that failed to start keeps its status (created or
                // exited) and records the exit code and error.
                let record = handle.update(|c| {
                    c.state.exit_code = exit_code;
                    c.state.error = message.clone();
                    c.state.pid = 0;
                    c.state.shim_pid = 0;
                });
                self.persist(&record)?;
                if record.spec.host.auto_remove {
                    // Docker removes an auto-remove container whose start failed.
                    let engine = self.clone();
                    let id = record.id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = engine.remove(&id, true, true).await {
                            tracing::error!(container = %id, error = %e, "auto-removing container after failed start");
                        }
                    });
                }
                Err(e)
            }
        }
    }

    /// Everything between "start requested" and "process running". Blocking. On failure the
    /// rootfs is unmounted again and the bundle removed.
    fn launch(self: &Arc<Self>, container: &Container) -> Result<(Started, Vec<Attachment>)> {
        let id = &container.id;
        let run_dir = self.run_dir(id);
        let rootfs = self.rootfs_dir(id);
        // A previous run's exit record must not be mistaken for this run's.
        for stale in ["exit.json", "state.json", "shim.sock"] {
            let _ = std::fs::remove_file(run_dir.join(stale));
        }
        std::fs::create_dir_all(&run_dir).map_err(|e| Error::io("create", &run_dir, e))?;
        let began = std::time::Instant::now();
        if !is_mountpoint(&rootfs) {
            let mut mounts = self.images.snapshot_mounts(id)?;
            if container.spec.host.auto_remove {
                // An auto-removed container's writable layer is thrown away at exit, so it
                // need not survive a crash: `volatile` skips the sync of the upper filesystem
                // that otherwise makes every unmount cost tens of milliseconds (podman does
                // the same for --rm). fsync inside such a container is not durable.
                for mount in mounts.iter_mut().filter(|m| m.kind == "overlay") {
                    mount.options.push("volatile".to_owned());
                }
            }
            berth_image::mount::mount_all(&mounts, &rootfs)?;
        }
        let mounted = began.elapsed();
        let result = self
            .prepare_volumes(container, &rootfs)
            .and_then(|()| self.launch_mounted(container, &rootfs));
        tracing::debug!(
            container = %id,
            mount_us = mounted.as_micros() as u64,
            total_us = began.elapsed().as_micros() as u64,
            "start prepared and launched"
        );
        if result.is_err() {
            let _ = berth_image::ImageStore::unmount(&rootfs);
        }
        result
    }

    /// Mounts volumes that have driver options and copies the image's content into new empty
    /// volumes (Docker's copy-up), now that the image's filesystem is mounted at `rootfs`.
    fn prepare_volumes(&self, container: &Container, rootfs: &Path) -> Result<()> {
        if !container
            .mount_points
            .iter()
            .any(|m| m.kind == MountKind::Volume)
        {
            return Ok(());
        }
        // Two containers starting on one new volume must not both mount it or copy into it;
        // this runs on a blocking thread, where waiting for the async lock is allowed.
        let _lock = self.volume_lock.blocking_lock();
        for point in &container.mount_points {
            if point.kind != MountKind::Volume {
                continue;
            }
            self.volume_activate(&point.name)?;
            if point.copy_up {
                copyup::copy_up(rootfs, &point.destination, Path::new(&point.source))?;
            }
        }
        Ok(())
    }

    /// Sets up the container's networks, launches it, and undoes the network setup if the
    /// launch fails. The namespace descriptor is closed once the container runs in it: from
    /// then on the container keeps it alive, and its end tears it down.
    fn launch_mounted(
        self: &Arc<Self>,
        container: &Container,
        rootfs: &Path,
    ) -> Result<(Started, Vec<Attachment>)> {
        let began = std::time::Instant::now();
        let Some(prepared) = self.prepare_network(container)? else {
            return Ok((self.launch_in(container, rootfs, None)?, Vec::new()));
        };
        tracing::debug!(container = %container.id, network_us = began.elapsed().as_micros() as u64, "network prepared");
        // The DNS server is up before the container's process can ask it anything.
        let dns = match wants_dns(&prepared.attachments) {
            true => self.start_dns(container, &prepared.netns, &prepared.attachments),
            false => Ok(()),
        };
        let launched = dns.and_then(|()| self.launch_in(container, rootfs, Some(&prepared)));
        match launched {
            Ok(started) => Ok((started, prepared.attachments)),
            Err(e) => {
                self.stop_dns(&container.id);
                self.release_networks(&container.id, &prepared.attachments, true);
                Err(e)
            }
        }
    }

    fn launch_in(
        &self,
        container: &Container,
        rootfs: &Path,
        network: Option<&network::Prepared>,
    ) -> Result<Started> {
        let id = &container.id;
        let dir = self.container_dir(id);
        let began = std::time::Instant::now();
        // `container:` and `--link` peers must be running now (Docker's errors otherwise).
        let peers = self.network_peers(container)?;
        let attachments = network.map(|n| n.attachments.as_slice()).unwrap_or(&[]);
        let etc = match &peers.joined {
            Some(joined) => {
                let owner = self.container_dir(&joined.etc_owner);
                ["hostname", "hosts", "resolv.conf"].map(|name| owner.join(name))
            }
            None => {
                let gateway = self
                    .networks
                    .default_bridge()
                    .map(|b| b.driver.gateway().into());
                crate::netfiles::write_etc_files(
                    &dir,
                    container,
                    attachments,
                    &peers.linked_hosts(),
                    &self.config.network,
                    gateway,
                )?
            }
        };
        let container = &*peers.apply(container);
        let user = user::resolve(rootfs, &container.user)?;
        let files = EtcFiles {
            hostname: &etc[0],
            hosts: &etc[1],
            resolv_conf: &etc[2],
        };
        let netns_path = network
            .map(|n| n.netns.path())
            .or_else(|| peers.joined.as_ref().map(|j| j.netns.clone()));
        let init = self.init_binary(&container.spec.host)?;
        let oci = spec::build(
            container,
            rootfs,
            &user,
            &files,
            netns_path.as_deref(),
            init.as_deref(),
        )?;
        let spec_ready = began.elapsed();
        let bundle = self.run_dir(id);
        let config_path = bundle.join("config.json");
        let json = serde_json::to_vec(&oci)
            .map_err(|e| Error::internal(format!("encode OCI spec: {e}")))?;
        std::fs::write(&config_path, json).map_err(|e| Error::io("write", &config_path, e))?;
        let host = &container.spec.host;
        let started = shim::launch(&ShimLaunch {
            shim_binary: &self.config.shim_binary,
            id,
            bundle: &bundle,
            state_dir: &bundle,
            log_path: &self.log_path(id),
            log_max_size: host.log_max_size.unwrap_or(self.config.log_max_size),
            log_max_file: host.log_max_file.unwrap_or(self.config.log_max_file),
            stdin: container.spec.open_stdin,
            tty: container.spec.tty,
        });
        tracing::debug!(
            container = %id,
            spec_us = spec_ready.as_micros() as u64,
            shim_us = (began.elapsed() - spec_ready).as_micros() as u64,
            "shim handshake done"
        );
        started.map_err(|e| match e {
            Error::StartFailed { message, exit_code } => Error::StartFailed {
                message: docker_start_message(&container.path, &message, exit_code),
                exit_code,
            },
            other => other,
        })
    }
}

/// The docker CLI picks `run`'s exit code from the wording of the start error ("executable
/// file not found" → 127, "permission denied" → 126); keep Docker's phrasing.
fn docker_start_message(path: &str, detail: &str, exit_code: i64) -> String {
    match exit_code {
        127 => format!(
            "failed to create task for container: failed to create shim task: OCI runtime create failed: exec: \"{path}\": executable file not found in $PATH: unknown"
        ),
        126 => format!(
            "failed to create task for container: failed to create shim task: OCI runtime create failed: exec: \"{path}\": permission denied: unknown"
        ),
        _ => format!("failed to create task for container: {detail}"),
    }
}

/// Whether `path` is a mount point (its device differs from its parent's, or it is listed).
pub(crate) fn is_mountpoint(path: &Path) -> bool {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = path.to_string_lossy();
    mountinfo
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_keep_dockers_wording() {
        assert!(
            docker_start_message("nope", "x", 127).contains("executable file not found in $PATH")
        );
        assert!(docker_start_message("/etc", "x", 126).contains("permission denied"));
    }
}
