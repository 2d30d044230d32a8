//! Container names as the embedded DNS server answers them: a container's name, its
//! `--network-alias` aliases and its 12-character short ID resolve to its addresses on the
//! user-defined networks it shares with the asking container (Docker's behaviour: the default
//! bridge has no name resolution, and containers on other networks are invisible).
//! `name.network` is also answered, on that network only.

use std::net::Ipv4Addr;

use crate::container::model::Container;
use crate::engine::Engine;
use crate::network::Attachment;

impl Engine {
    /// The running containers with their attachments on user networks.
    fn user_network_view(&self) -> Vec<Container> {
        let Ok(table) = self.table() else {
            return Vec::new();
        };
        table
            .values()
            .map(|h| h.snapshot())
            .filter(|c| c.state.status.is_alive())
            .filter(|c| c.networks.iter().any(is_user_network))
            .collect()
    }

    /// IPv4 addresses of `name` (lowercase, no trailing dot) for container `requester`;
    /// empty when it names no container on the requester's user networks.
    pub fn resolve_container_name(&self, requester: &str, name: &str) -> Vec<Ipv4Addr> {
        let view = self.user_network_view();
        let Some(asking) = view.iter().find(|c| c.id == requester) else {
            return Vec::new();
        };
        let shared: Vec<&Attachment> = asking
            .networks
            .iter()
            .filter(|a| is_user_network(a))
            .collect();
        let mut out = Vec::new();
        for network in &shared {
            // `name.network` names a container on that network only.
            let wanted = match name.strip_suffix(&format!(".{}", network.network.to_lowercase())) {
                Some(short) => short,
                None => name,
            };
            for c in &view {
                for a in c
                    .networks
                    .iter()
                    .filter(|a| a.network_id == network.network_id)
                {
                    if answers_to(c, a, wanted) && !out.contains(&a.ip) {
                        out.push(a.ip);
                    }
                }
            }
        }
        out
    }

    /// The name for a PTR lookup of `ip` on the requester's user networks
    /// (`container.network`, as Docker answers).
    pub fn reverse_container_name(&self, requester: &str, ip: Ipv4Addr) -> Option<String> {
        let view = self.user_network_view();
        let asking = view.iter().find(|c| c.id == requester)?;
        for network in asking.networks.iter().filter(|a| is_user_network(a)) {
            for c in &view {
                if let Some(a) = c
                    .networks
                    .iter()
                    .find(|a| a.network_id == network.network_id && a.ip == ip)
                {
                    return Some(format!("{}.{}", c.name, a.network));
                }
            }
        }
        None
    }
}

/// Docker resolves names on user-defined networks only.
fn is_user_network(a: &Attachment) -> bool {
    a.network != crate::network::DEFAULT_NETWORK
}

fn answers_to(c: &Container, a: &Attachment, name: &str) -> bool {
    c.name.eq_ignore_ascii_case(name)
        || a.aliases
            .iter()
            .any(|alias| alias.eq_ignore_ascii_case(name))
        || (name.len() == 12 && c.id.starts_with(name))
}
