//! The engine side of the embedded DNS server: a [`Resolve`] over the engine's containers
//! and networks, and one [`EmbeddedDns`] per running container on a user-defined network,
//! started before the container's process runs (and again for running containers when the
//! daemon restarts), dropped at its exit.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, MutexGuard, Weak};

use berth_network::dns::{host_upstream_resolvers, EmbeddedDns, Resolve};
use berth_network::netns::NetNs;

use crate::container::model::Container;
use crate::engine::Engine;
use crate::error::Result;
use crate::network::{Attachment, DEFAULT_NETWORK};

/// Answers from the engine's live state; holds the engine weakly (the servers live inside it).
struct EngineResolver(Weak<Engine>);

impl Resolve for EngineResolver {
    fn resolve(&self, requester: &str, name: &str) -> Vec<Ipv4Addr> {
        match self.0.upgrade() {
            Some(engine) => engine.resolve_container_name(requester, name),
            None => Vec::new(),
        }
    }

    fn reverse(&self, requester: &str, ip: Ipv4Addr) -> Option<String> {
        self.0.upgrade()?.reverse_container_name(requester, ip)
    }

    fn resolve_on_network(&self, requester: &str, name: &str, network: &str) -> Vec<Ipv4Addr> {
        match self.0.upgrade() {
            Some(engine) => engine.resolve_container_name(requester, &format!("{name}.{network}")),
            None => Vec::new(),
        }
    }
}

/// Whether a container with these attachments gets the embedded DNS server (Docker: any
/// user-defined network).
pub(crate) fn wants_dns(attachments: &[Attachment]) -> bool {
    attachments.iter().any(|a| a.network != DEFAULT_NETWORK)
}

impl Engine {
    fn dns_table(&self) -> MutexGuard<'_, HashMap<String, EmbeddedDns>> {
        match self.dns.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts the container's DNS server inside `netns` (replacing any old one). Names other
    /// than containers' are forwarded to the host's resolvers unless every network of the
    /// container is internal. Must run on a runtime thread or a blocking-pool thread.
    pub(crate) fn start_dns(
        self: &Arc<Self>,
        container: &Container,
        netns: &NetNs,
        attachments: &[Attachment],
    ) -> Result<()> {
        let forward = attachments.iter().any(|a| !a.internal);
        let resolver: Arc<dyn Resolve> = Arc::new(EngineResolver(Arc::downgrade(self)));
        let mut upstream = crate::netfiles::embedded_upstreams(container, &self.config.network);
        if upstream.is_empty() {
            upstream = host_upstream_resolvers();
        }
        let server = EmbeddedDns::start(netns, container.id.clone(), upstream, forward, resolver)?;
        self.dns_table().insert(container.id.clone(), server);
        Ok(())
    }

    /// Stops the container's DNS server, if it has one (closing its sockets).
    pub(crate) fn stop_dns(&self, id: &str) {
        self.dns_table().remove(id);
    }

    /// After a daemon restart: serves DNS again for a running container on a user network,
    /// in its namespace (`/proc/<pid>/ns/net`). Errors are logged.
    pub(crate) fn restart_dns(self: &Arc<Self>, container: &Container) {
        if !wants_dns(&container.networks) || container.state.pid <= 0 {
            return;
        }
        let path = PathBuf::from(format!("/proc/{}/ns/net", container.state.pid));
        let started = NetNs::open(&path)
            .map_err(crate::error::Error::from)
            .and_then(|netns| self.start_dns(container, &netns, &container.networks));
        if let Err(e) = started {
            tracing::error!(container = %container.id, error = %e, "restarting the embedded dns server");
        }
    }
}
