//! The container's streams: `logs`, attach, and `top`.

use std::sync::Arc;

use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::container::model::Status;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::{self, Follower, LogEntry, LogOptions};
use crate::shim;
use crate::top::{self, TopResult};

/// Lines buffered between a log reader and a slow client.
const STREAM_BUFFER: usize = 256;

impl Engine {
    /// The container's log as a stream of entries, and whether it has a TTY (raw stream).
    /// With `follow`, the stream stays open until the running container exits.
    pub async fn logs(
        self: &Arc<Self>,
        reference: &str,
        options: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogEntry>)> {
        let handle = self.lookup(reference)?;
        let container = handle.snapshot();
        let path = self.log_path(&container.id);
        let mut exits = handle.exits.subscribe();
        let exits_seen = *exits.borrow_and_update();
        let alive = container.state.status.is_alive();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(async move {
            let history_options = options.clone();
            let Ok((history, follower)) =
                tokio::task::spawn_blocking(move || logs::read_history(&path, &history_options))
                    .await
            else {
                return;
            };
            for entry in history {
                if tx.send(entry).await.is_err() {
                    return;
                }
            }
            if options.follow && alive {
                logs::follow(follower, options, exits, exits_seen, tx).await;
            }
        });
        Ok((container.spec.tty, rx))
    }

    /// Attaches to the container's output: everything it writes from now until its next exit.
    /// Returns whether it has a TTY (raw stream) and the stream.
    pub fn attach_output(
        self: &Arc<Self>,
        reference: &str,
        stdout: bool,
        stderr: bool,
    ) -> Result<(bool, mpsc::Receiver<LogEntry>)> {
        let handle = self.lookup(reference)?;
        let container = handle.snapshot();
        let mut exits = handle.exits.subscribe();
        let exits_seen = *exits.borrow_and_update();
        let follower = Follower::at_end(&self.log_path(&container.id));
        let options = LogOptions {
            stdout,
            stderr,
            follow: true,
            ..Default::default()
        };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(logs::follow(follower, options, exits, exits_seen, tx));
        self.emit_container(&container, "attach", &[]);
        Ok((container.spec.tty, rx))
    }

    /// Connects to the container's stdin, waiting for the container to start if it has not yet
    /// (clients attach before they start). Closing the returned stream closes the stdin.
    pub async fn attach_stdin(self: &Arc<Self>, reference: &str) -> Result<UnixStream> {
        let handle = self.lookup(reference)?;
        let container = handle.snapshot();
        if !container.spec.open_stdin {
            return Err(Error::conflict(format!(
                "container {} was not created with OpenStdin",
                container.id
            )));
        }
        let mut starts = handle.starts.subscribe();
        let mut removed = handle.removed.subscribe();
        if container.state.status != Status::Running {
            let seen = *starts.borrow_and_update();
            tokio::select! {
                _ = starts.wait_for(|n| *n > seen) => {}
                _ = removed.wait_for(|r| *r) => return Err(Error::not_found(format!("No such container: {reference}"))),
            }
        }
        shim::open_stdin(&self.run_dir(&container.id)).await
    }

    /// Resizes a running container's TTY; a no-op for containers without one.
    pub async fn resize(self: &Arc<Self>, reference: &str, height: u16, width: u16) -> Result<()> {
        let container = self.lookup(reference)?.snapshot();
        if !container.state.status.is_alive() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                container.id
            )));
        }
        if !container.spec.tty {
            return Ok(());
        }
        let request = serde_json::json!({"resize": {"height": height, "width": width}});
        shim::request(&self.run_dir(&container.id), &request).await?;
        self.emit_container(
            &container,
            "resize",
            &[("height", height.to_string()), ("width", width.to_string())],
        );
        Ok(())
    }

    /// The container's processes, as `ps` (with `ps_args`, default `-ef`) shows them.
    pub async fn top(self: &Arc<Self>, reference: &str, ps_args: &str) -> Result<TopResult> {
        let handle = self.lookup(reference)?;
        let container = handle.snapshot();
        if !container.state.status.is_alive() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                container.id
            )));
        }
        let path = crate::spec::cgroups_path(&container.id);
        let ps_args = ps_args.to_owned();
        tokio::task::spawn_blocking(move || {
            let cgroup = berth_runtime::cgroups::Cgroup::new(&path)
                .map_err(|e| Error::internal(format!("cgroup {path}: {e}")))?;
            let pids = cgroup
                .procs()
                .map_err(|e| Error::internal(format!("cgroup {path}: {e}")))?;
            top::top(&pids, &ps_args)
        })
        .await
        .map_err(|e| Error::internal(format!("top task: {e}")))?
    }
}
