//! `wait`: block until a container stops (or is removed), with Docker's conditions.

use std::sync::Arc;

use crate::engine::{Engine, Handle};
use crate::error::{Error, Result};

/// Docker's `condition` query parameter of `/containers/{id}/wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitCondition {
    /// Returns at once for a container that is not running, else at its next exit.
    #[default]
    NotRunning,
    /// The next exit, even if the container is not running now.
    NextExit,
    /// Once the container has been removed.
    Removed,
}

impl WaitCondition {
    /// Parses the API's value (empty = `not-running`).
    pub fn parse(text: &str) -> Result<WaitCondition> {
        match text {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// A registered wait. Registering happens at once, so an exit between registration and
/// [`Waiter::wait`] is not missed (the docker CLI waits before it starts the container).
pub struct Waiter {
    handle: Arc<Handle>,
    condition: WaitCondition,
    exits_seen: u64,
    ready: bool,
}

/// What a wait reports: the exit code and, if the last start failed, its error.
#[derive(Debug, Clone)]
pub struct WaitOutcome {
    pub status_code: i64,
    pub error: Option<String>,
}

impl Engine {
    /// Registers a wait on a container.
    pub fn wait(&self, reference: &str, condition: WaitCondition) -> Result<Waiter> {
        let handle = self.lookup(reference)?;
        let exits_seen = *handle.exits.borrow();
        let ready =
            condition == WaitCondition::NotRunning && !handle.snapshot().state.status.is_alive();
        Ok(Waiter {
            handle,
            condition,
            exits_seen,
            ready,
        })
    }
}

impl Waiter {
    /// Resolves when the condition is met.
    pub async fn wait(self) -> WaitOutcome {
        if !self.ready {
            match self.condition {
                WaitCondition::Removed => {
                    let mut removed = self.handle.removed.subscribe();
                    let _ = removed.wait_for(|r| *r).await;
                }
                WaitCondition::NotRunning | WaitCondition::NextExit => {
                    let mut exits = self.handle.exits.subscribe();
                    let seen = self.exits_seen;
                    let _ = exits.wait_for(|n| *n > seen).await;
                }
            }
        }
        let state = self.handle.snapshot().state;
        WaitOutcome {
            status_code: state.exit_code,
            error: (!state.error.is_empty()).then_some(state.error),
        }
    }
}
