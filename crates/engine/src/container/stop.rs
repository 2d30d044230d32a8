//! `stop`, `kill` and `restart`.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;

use crate::container::model::Status;
use crate::engine::{Engine, Handle};
use crate::error::{Error, Result};
use crate::shim;

/// Docker's default grace period before SIGKILL.
const DEFAULT_STOP_TIMEOUT: i64 = 10;
/// How long to wait for a SIGKILLed container's shim to report the exit.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// Parses a signal as Docker accepts it: `SIGKILL`, `KILL`, `kill` or `9`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let invalid = || Error::invalid(format!("Invalid signal: {text}"));
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| invalid());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| invalid())
}

impl Engine {
    /// Sends the stop signal, waits up to `timeout` seconds (the container's StopTimeout, else
    /// 10; negative waits forever), then SIGKILLs every process of the container.
    pub async fn stop(
        self: &Arc<Self>,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        self.stop_locked(&handle, timeout, signal, true).await
    }

    /// Stops the container; the caller holds `handle.op`. Marks it manually stopped, which
    /// also cancels a pending restart of a `restarting` container. `report_stop` emits the
    /// `stop` event (Docker's `rm -f` kills without one).
    pub(crate) async fn stop_locked(
        &self,
        handle: &Arc<Handle>,
        timeout: Option<i64>,
        signal: Option<&str>,
        report_stop: bool,
    ) -> Result<()> {
        let container = handle.snapshot();
        if !container.state.status.is_alive() {
            return Err(Error::NotModified {
                message: "container already stopped".into(),
            });
        }
        let signal = parse_signal(signal.unwrap_or(&container.stop_signal))?;
        if self.mark_manually_stopped(handle)? {
            // It was waiting to be restarted: nothing runs, nothing to signal.
            if report_stop {
                self.emit_container(&handle.snapshot(), "stop", &[]);
            }
            return Ok(());
        }
        let timeout = timeout
            .or(container.spec.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let mut exits = handle.exits.subscribe();
        let seen = *exits.borrow_and_update();
        let run_dir = self.run_dir(&container.id);
        if timeout != 0 {
            self.emit_container(
                &container,
                "kill",
                &[("signal", (signal as i32).to_string())],
            );
            if let Err(e) = shim::request(&run_dir, &json!({"kill": signal as i32})).await {
                tracing::debug!(container = %container.id, error = %e, "stop signal not delivered");
            }
            self.thaw_if_paused(handle);
            let deadline = (timeout > 0).then(|| Duration::from_secs(timeout as u64));
            if wait_for_exit(&mut exits, seen, deadline).await {
                if report_stop {
                    self.emit_container(&handle.snapshot(), "stop", &[]);
                }
                return Ok(());
            }
            tracing::info!(container = %container.id, timeout, "container did not stop in time; killing it");
        }
        self.emit_container(&container, "kill", &[("signal", "9".to_owned())]);
        if let Err(e) = shim::request(&run_dir, &json!({"kill": 9, "all": true})).await {
            tracing::debug!(container = %container.id, error = %e, "SIGKILL not delivered");
        }
        self.thaw_if_paused(handle);
        if wait_for_exit(&mut exits, seen, Some(KILL_GRACE)).await {
            if report_stop {
                self.emit_container(&handle.snapshot(), "stop", &[]);
            }
            Ok(())
        } else {
            Err(Error::internal(format!(
                "container {} did not exit after SIGKILL",
                container.id
            )))
        }
    }

    /// Sends `signal` (default SIGKILL) to the container's init process. Like Docker, any
    /// kill by the user marks the container manually stopped (no restart by its policy);
    /// killing a `restarting` container cancels the pending restart.
    pub async fn kill(self: &Arc<Self>, reference: &str, signal: Option<&str>) -> Result<()> {
        let handle = self.lookup(reference)?;
        let signal = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let container = handle.snapshot();
        if !container.state.status.is_alive() {
            return Err(Error::conflict(format!(
                "Container {} is not running",
                container.id
            )));
        }
        // Not under `handle.op` (a kill must get through while a stop waits), except for a
        // restarting container, so that a restart half-way through its start is not missed.
        let _op = if container.state.status == Status::Restarting {
            Some(handle.op.lock().await)
        } else {
            None
        };
        if self.mark_manually_stopped(&handle)? {
            self.emit_container(
                &container,
                "kill",
                &[("signal", (signal as i32).to_string())],
            );
            return Ok(());
        }
        shim::request(
            &self.run_dir(&container.id),
            &json!({"kill": signal as i32}),
        )
        .await?;
        self.emit_container(
            &container,
            "kill",
            &[("signal", (signal as i32).to_string())],
        );
        if signal == Signal::SIGKILL {
            // A frozen cgroup (v1) holds even SIGKILL until thawed.
            self.thaw_if_paused(&handle);
        }
        Ok(())
    }

    /// Stops (if running) and starts the container again.
    pub async fn restart(
        self: &Arc<Self>,
        reference: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        match self.stop_locked(&handle, timeout, signal, true).await {
            Ok(()) | Err(Error::NotModified { .. }) => {}
            Err(e) => return Err(e),
        }
        // Like an explicit start, a restart re-arms the restart policy.
        handle
            .restart_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        handle.update_backoff(|_| None);
        handle.update(|c| {
            c.state.manually_stopped = false;
            c.state.restart_count = 0;
        });
        self.start_locked(&handle).await?;
        self.emit_container(&handle.snapshot(), "restart", &[]);
        Ok(())
    }

    fn thaw_if_paused(&self, handle: &Arc<Handle>) {
        let container = handle.snapshot();
        if container.state.status == Status::Paused {
            if let Ok(cgroup) =
                berth_runtime::cgroups::Cgroup::new(&crate::spec::cgroups_path(&container.id))
            {
                let _ = cgroup.thaw();
            }
        }
    }
}

/// Waits until the exit counter passes `seen`; `None` waits forever. True when it did.
async fn wait_for_exit(
    exits: &mut tokio::sync::watch::Receiver<u64>,
    seen: u64,
    deadline: Option<Duration>,
) -> bool {
    let wait = exits.wait_for(|n| *n > seen);
    match deadline {
        Some(d) => matches!(tokio::time::timeout(d, wait).await, Ok(Ok(_))),
        None => wait.await.is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals_like_docker() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
