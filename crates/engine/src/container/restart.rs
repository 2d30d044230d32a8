//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`), with Docker's
//! back-off: 100 ms, doubling after each restart, capped at one minute, and back to 100 ms
//! once a run lasted 10 seconds (moby `restartmanager`).
//!
//! Lifecycle: when a container exits, [`Engine::after_exit`] decides whether the policy
//! restarts it. If so the container is `restarting` (no process) until the delay has passed,
//! then it is started again and its `RestartCount` grows. A user's `stop` or `kill` marks the
//! container manually stopped, which cancels a pending restart and disables restarting until
//! the next explicit start.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::container::model::{Container, RestartPolicy, Status};
use crate::engine::{Engine, Handle};
use crate::error::{Error, Result};

/// The first delay before a restart.
const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest delay between restarts.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay to [`INITIAL_DELAY`].
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Validates a policy as Docker does (`runconfig.validateRestartPolicy`).
pub fn validate_policy(policy: &RestartPolicy) -> Result<()> {
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'",
                ));
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'unless-stopped', or 'on-failure'"
            )))
        }
    }
    Ok(())
}

/// The delay before the next restart, given the previous delay (`None` before the first
/// restart) and how long the last run lasted.
pub fn next_delay(previous: Option<Duration>, ran: Duration) -> Duration {
    match previous {
        Some(previous) if ran < RESET_AFTER => (previous * 2).min(MAX_DELAY),
        _ => INITIAL_DELAY,
    }
}

/// Whether a container that exited with `exit_code` is restarted by `policy`, having been
/// restarted `restart_count` times since its last explicit start.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i64,
    manually_stopped: bool,
    restart_count: i64,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            let max = policy.maximum_retry_count;
            exit_code != 0 && (max == 0 || restart_count < max)
        }
        _ => false,
    }
}

/// Whether berthd starts a stopped container when it comes up: `always` does even after a
/// manual stop (Docker: "restarted only when the daemon restarts"), `unless-stopped` does
/// unless it was stopped by the user, `on-failure` if the last exit was a failure and retries
/// are left.
pub fn restart_on_boot(container: &Container) -> bool {
    let policy = &container.spec.host.restart_policy;
    let state = &container.state;
    if !matches!(state.status, Status::Exited | Status::Created) {
        return false;
    }
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !state.manually_stopped,
        "on-failure" => should_restart(
            policy,
            state.exit_code,
            state.manually_stopped,
            state.restart_count,
        ),
        _ => false,
    }
}

impl Engine {
    /// Applies the restart policy after an exit was recorded: if it asks for a restart the
    /// container becomes `restarting` and a timer starts it after the back-off delay. The
    /// caller does not hold `handle.op`.
    pub(crate) fn after_exit(self: &Arc<Self>, handle: &Arc<Handle>) {
        let container = handle.snapshot();
        let policy = &container.spec.host.restart_policy;
        if !should_restart(
            policy,
            container.state.exit_code,
            container.state.manually_stopped,
            container.state.restart_count,
        ) {
            handle.update_backoff(|_| None);
            return;
        }
        let ran = match (container.state.started_at, container.state.finished_at) {
            (Some(started), Some(finished)) => (finished - started).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        // The epoch moves before the state does, so a stop that lands after this point
        // either sees `restarting` (and cancels it) or invalidates this epoch.
        let epoch = handle.restart_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        // Re-checked in the same update that sets `restarting`: a `stop` may have marked the
        // container manually stopped since the snapshot above, while it still looked running.
        let mut restarting = false;
        let record = handle.update(|c| {
            if !c.state.manually_stopped {
                c.state.status = Status::Restarting;
                restarting = true;
            }
        });
        if !restarting {
            handle.update_backoff(|_| None);
            return;
        }
        let delay = handle.update_backoff(|previous| Some(next_delay(previous, ran)));
        let delay = delay.unwrap_or(INITIAL_DELAY);
        if let Err(e) = self.persist(&record) {
            tracing::error!(container = %record.id, error = %e, "recording restarting state");
        }
        tracing::info!(container = %record.id, delay_ms = delay.as_millis() as u64, "restarting container after its exit");
        let engine = self.clone();
        let handle = handle.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            engine.restart_after_delay(&handle, epoch).await;
        });
    }

    /// The end of a restart delay: starts the container unless the restart was cancelled
    /// (stop, kill, rm, or a newer exit) meanwhile.
    async fn restart_after_delay(self: &Arc<Self>, handle: &Arc<Handle>, epoch: u64) {
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        if handle.restart_epoch.load(Ordering::SeqCst) != epoch
            || container.state.status != Status::Restarting
        {
            return;
        }
        let record = handle.update(|c| c.state.restart_count += 1);
        if let Err(e) = self.persist(&record) {
            tracing::error!(container = %record.id, error = %e, "recording restart count");
        }
        match self.start_locked(handle).await {
            Ok(()) => self.emit_container(&record, "restart", &[]),
            Err(e) => {
                // Docker gives up after a failed restart: the container stays exited.
                tracing::error!(container = %record.id, error = %e, "restarting container");
                let record = handle.update(|c| {
                    c.state.status = Status::Exited;
                    c.state.finished_at = Some(Utc::now());
                });
                if let Err(e) = self.persist(&record) {
                    tracing::error!(container = %record.id, error = %e, "recording failed restart");
                }
                handle.exits.send_modify(|n| *n += 1);
            }
        }
    }

    /// Marks the container stopped by the user: a pending restart is cancelled and the policy
    /// stays off until the next explicit start. Returns true if a pending restart was
    /// cancelled (the container is then `exited`). The caller holds `handle.op` or is `kill`.
    pub(crate) fn mark_manually_stopped(&self, handle: &Arc<Handle>) -> Result<bool> {
        handle.restart_epoch.fetch_add(1, Ordering::SeqCst);
        let mut cancelled = false;
        let record = handle.update(|c| {
            c.state.manually_stopped = true;
            if c.state.status == Status::Restarting {
                c.state.status = Status::Exited;
                cancelled = true;
            }
        });
        self.persist(&record)?;
        if cancelled {
            // Waiters blocked on "not running" may return now.
            handle.exits.send_modify(|n| *n += 1);
        }
        Ok(cancelled)
    }

    /// On daemon start: starts the stopped containers whose policy asks for it.
    pub(crate) fn restart_on_boot(self: &Arc<Self>) -> Result<()> {
        let handles: Vec<Arc<Handle>> = self.table()?.values().cloned().collect();
        for handle in handles {
            if !restart_on_boot(&handle.snapshot()) {
                continue;
            }
            let engine = self.clone();
            tokio::spawn(async move {
                let id = handle.snapshot().id;
                let _op = handle.op.lock().await;
                // Re-checked under the lock: a client may have acted meanwhile.
                if !restart_on_boot(&handle.snapshot()) {
                    return;
                }
                handle.update(|c| c.state.manually_stopped = false);
                if let Err(e) = engine.start_locked(&handle).await {
                    tracing::error!(container = %id, error = %e, "starting container on daemon start");
                }
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn back_off_doubles_caps_and_resets() {
        let mut delay = None;
        let mut seen = Vec::new();
        for _ in 0..12 {
            let next = next_delay(delay, Duration::from_millis(5));
            seen.push(next.as_millis());
            delay = Some(next);
        }
        assert_eq!(
            seen,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        assert_eq!(
            next_delay(Some(MAX_DELAY), Duration::from_secs(10)),
            INITIAL_DELAY
        );
        assert_eq!(
            next_delay(Some(Duration::from_millis(800)), Duration::from_secs(9)),
            Duration::from_millis(1600)
        );
    }

    #[test]
    fn policies_decide_like_docker() {
        assert!(!should_restart(&policy("", 0), 1, false, 0));
        assert!(!should_restart(&policy("no", 0), 1, false, 0));
        assert!(should_restart(&policy("always", 0), 0, false, 7));
        assert!(!should_restart(&policy("always", 0), 0, true, 0));
        assert!(should_restart(&policy("unless-stopped", 0), 0, false, 0));
        assert!(should_restart(&policy("on-failure", 0), 1, false, 100));
        assert!(!should_restart(&policy("on-failure", 0), 0, false, 0));
        assert!(should_restart(&policy("on-failure", 2), 1, false, 1));
        assert!(!should_restart(&policy("on-failure", 2), 1, false, 2));
    }

    #[test]
    fn validation_refuses_what_docker_refuses() {
        assert!(validate_policy(&policy("on-failure", 3)).is_ok());
        assert!(validate_policy(&policy("always", 0)).is_ok());
        assert!(validate_policy(&policy("", 0)).is_ok());
        assert!(validate_policy(&policy("sometimes", 0)).is_err());
        assert!(validate_policy(&policy("on-failure", -1)).is_err());
        assert!(validate_policy(&policy("always", 2)).is_err());
    }
}
