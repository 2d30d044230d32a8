//! Watching shims: noticing exits (while running, and after a daemon restart), recording the
//! exit, tearing down what the run needed, and auto-removal.

use std::sync::Arc;

use chrono::Utc;

use crate::container::model::Status;
use crate::engine::{Engine, Handle};
use crate::shim::{self, ProcessWatch};
use crate::spec;

impl Engine {
    /// Spawns a task that waits for the shim to exit and then records the container's exit.
    pub(crate) fn watch_shim(self: &Arc<Self>, handle: Arc<Handle>, shim_pid: i32) {
        let engine = self.clone();
        let watch = ProcessWatch::open(shim_pid);
        tokio::spawn(async move {
            if let Some(watch) = watch {
                watch.exited().await;
            }
            engine.on_exit(&handle).await;
        });
    }

    /// Records an exit from the shim's `exit.json`, unmounts the rootfs, wakes waiters and
    /// auto-removes. Does not take `handle.op`: `stop` holds it while waiting for this.
    async fn on_exit(self: &Arc<Self>, handle: &Arc<Handle>) {
        let container = handle.snapshot();
        let run_dir = self.run_dir(&container.id);
        let exit = shim::read_exit(&run_dir);
        if exit.is_none() {
            // The shim died without recording an exit (it was killed): make sure nothing of
            // the container survives it.
            tracing::warn!(container = %container.id, "shim exited without an exit record");
            if let Ok(cgroup) =
                berth_runtime::cgroups::Cgroup::new(&spec::cgroups_path(&container.id))
            {
                let _ = cgroup.kill_all(nix::sys::signal::Signal::SIGKILL);
                let _ = cgroup.destroy();
            }
        }
        let rootfs = self.rootfs_dir(&container.id);
        if let Err(e) = berth_image::ImageStore::unmount(&rootfs) {
            tracing::warn!(container = %container.id, error = %e, "unmounting rootfs after exit");
        }
        if !container.networks.is_empty() {
            self.release_network(&container.id, container.networks.clone())
                .await;
        }
        let record = handle.update(|c| {
            c.networks.clear();
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.shim_pid = 0;
            match &exit {
                Some(exit) => {
                    c.state.exit_code = exit.exit_code;
                    c.state.oom_killed = exit.oom_killed;
                    c.state.finished_at = exit.finished_at.or_else(|| Some(Utc::now()));
                }
                None => {
                    c.state.exit_code = 255;
                    c.state.error =
                        "berth-shim exited without recording the container's exit".into();
                    c.state.finished_at = Some(Utc::now());
                }
            }
        });
        if let Err(e) = self.persist(&record) {
            tracing::error!(container = %record.id, error = %e, "recording container exit");
        }
        if record.state.oom_killed {
            self.emit_container(&record, "oom", &[]);
        }
        let ran = match (record.state.started_at, record.state.finished_at) {
            (Some(started), Some(finished)) => (finished - started).num_seconds(),
            _ => 0,
        };
        self.emit_container(
            &record,
            "die",
            &[
                ("exitCode", record.state.exit_code.to_string()),
                ("execDuration", ran.to_string()),
            ],
        );
        self.emit_volume_mounts(&record, "unmount");
        // Waiters are woken by every exit, also one the restart policy follows with a
        // restart (Docker notifies its stop waiters in SetRestarting too).
        handle.exits.send_modify(|n| *n += 1);
        if !record.spec.host.auto_remove {
            self.after_exit(handle);
        } else {
            let engine = self.clone();
            let id = record.id.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.remove(&id, true, true).await {
                    tracing::error!(container = %id, error = %e, "auto-removing container");
                }
            });
        }
    }

    /// Gives back what a stopped container held on its networks: published ports (one nft
    /// transaction, on a blocking thread), host port reservations and addresses. The veths
    /// and namespace go with the container's last process, in the kernel, off this path.
    async fn release_network(
        self: &Arc<Self>,
        id: &str,
        attachments: Vec<crate::network::Attachment>,
    ) {
        self.stop_dns(id);
        if attachments.iter().all(|a| a.ports.is_empty()) {
            self.release_networks(id, &attachments, false);
        } else {
            let engine = self.clone();
            let owned_id = id.to_owned();
            let owned = attachments.clone();
            let released = tokio::task::spawn_blocking(move || {
                engine.release_networks(&owned_id, &owned, false)
            })
            .await;
            if let Err(e) = released {
                tracing::warn!(container = %id, error = %e, "network release task");
            }
        }
        self.emit_attachments("disconnect", id, &attachments);
    }

    /// Re-attaches to a container recorded as running when the daemon starts: keeps watching
    /// its shim if it is still alive, otherwise records the exit that happened meanwhile.
    pub(crate) async fn recover(self: &Arc<Self>, handle: Arc<Handle>) {
        let container = handle.snapshot();
        if container.state.status == Status::Removing {
            if let Err(e) = self.finish_removal(&handle) {
                tracing::error!(container = %container.id, error = %e, "finishing interrupted removal");
            }
            return;
        }
        let run_dir = self.run_dir(&container.id);
        let shim_pid = shim::read_state(&run_dir)
            .map(|s| s.shim_pid)
            .unwrap_or(container.state.shim_pid);
        if shim_pid > 0 && is_our_shim(shim_pid, &container.id) {
            tracing::info!(container = %container.id, shim_pid, "re-attached to running container");
            self.restart_dns(&container);
            self.watch_shim(handle, shim_pid);
        } else {
            self.on_exit(&handle).await;
        }
    }
}

/// Guards against PID reuse after a restart: the process must be berth-shim for this ID.
fn is_our_shim(pid: i32, id: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| {
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"berth-shim"))
                && args.contains(&id.as_bytes())
        })
        .unwrap_or(false)
}
