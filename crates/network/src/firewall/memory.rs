//! A firewall that keeps its rules in memory: the test double of [`super::NftFirewall`].

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{Firewall, PortMapping};
use crate::error::{Error, Result};

/// In-memory published ports; `None` while not set up.
#[derive(Debug, Default)]
pub struct MemoryFirewall {
    state: Mutex<Option<BTreeSet<PortMapping>>>,
}

impl MemoryFirewall {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Option<BTreeSet<PortMapping>>) -> Result<T>,
    ) -> Result<T> {
        let mut guard = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

fn not_set_up() -> Error {
    Error::Firewall("the network's table does not exist".into())
}

impl Firewall for MemoryFirewall {
    fn setup(&self) -> Result<()> {
        self.with(|state| {
            *state = Some(BTreeSet::new());
            Ok(())
        })
    }

    fn teardown(&self) -> Result<()> {
        self.with(|state| {
            *state = None;
            Ok(())
        })
    }

    fn publish(&self, ports: &[PortMapping]) -> Result<()> {
        self.with(|state| {
            let published = state.as_mut().ok_or_else(not_set_up)?;
            published.extend(ports.iter().copied());
            Ok(())
        })
    }

    fn unpublish(&self, ports: &[PortMapping]) -> Result<()> {
        self.with(|state| {
            let published = state.as_mut().ok_or_else(not_set_up)?;
            if let Some(missing) = ports.iter().find(|p| !published.contains(p)) {
                return Err(Error::Firewall(format!("no such element: {missing:?}")));
            }
            for port in ports {
                published.remove(port);
            }
            Ok(())
        })
    }

    fn published(&self) -> Result<BTreeSet<PortMapping>> {
        self.with(|state| state.clone().ok_or_else(not_set_up))
    }
}
