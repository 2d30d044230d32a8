//! A container's networks at create, start and exit: which networks it joins (validated at
//! create with Docker's rules), attaching it to each at start (`eth0`, `eth1`, … in order),
//! and releasing every attachment at exit.

use std::sync::Arc;

use berth_network::netns::NetNs;

use crate::container::model::{Container, ContainerSpec, NetworkMode};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::model::{EndpointSettings, Network};
use crate::network::{has_endpoints, AttachRequest, Attachment, LiveNetwork, Prepared};

impl Engine {
    /// The networks a new container joins at start, by ID, with their aliases and requested
    /// addresses, validated as Docker does (`--ip` and aliases only on user networks, `--ip`
    /// only with a user-given subnet and inside it; unknown networks are not found).
    pub(crate) fn resolve_endpoints(&self, spec: &ContainerSpec) -> Result<Vec<EndpointSettings>> {
        let mode = &spec.host.network_mode;
        let (primary, builtin_default) = match mode {
            // A `container:` container uses the other one's namespace and has no endpoint.
            NetworkMode::Host | NetworkMode::None | NetworkMode::Container(_) => {
                if spec.endpoints.iter().any(|e| e.ipv4.is_some()) {
                    return Err(Error::invalid(
                        "user specified IP address is supported on user defined networks only",
                    ));
                }
                return Ok(Vec::new());
            }
            NetworkMode::Bridge => match self.networks.default_bridge() {
                Some(net) => (net.id.clone(), true),
                None => {
                    return Ok(Vec::new());
                }
            },
            NetworkMode::Network(name) => {
                let entry = self.networks.resolve(name)?;
                (entry.record.id.clone(), false)
            }
        };
        let mut out = Vec::new();
        let given_for = |network: &Network| {
            spec.endpoints.iter().find(|e| {
                e.network == network.id
                    || e.network == network.name
                    || (network.builtin && e.network == "default")
                    || mode.as_str() == e.network
            })
        };
        let entry = self
            .networks
            .by_id(&primary)
            .ok_or_else(|| Error::not_found(format!("network {} not found", mode.as_str())))?;
        let wanted = given_for(&entry.record);
        out.push(check_endpoint(&entry.record, wanted, builtin_default)?);
        // Further networks of EndpointsConfig (API 1.44+ clients may send several).
        for extra in &spec.endpoints {
            // The primary network's own settings (also under `default` or the mode's name).
            if wanted.is_some_and(|w| std::ptr::eq(w, extra)) {
                continue;
            }
            let entry = self.networks.resolve(&extra.network)?;
            if out.iter().any(|e| e.network == entry.record.id) {
                continue;
            }
            if entry.record.builtin && entry.record.name != crate::network::DEFAULT_NETWORK {
                return Err(Error::invalid(format!(
                    "container cannot be connected to network {} and {} at once",
                    mode.as_str(),
                    entry.record.name
                )));
            }
            out.push(check_endpoint(
                &entry.record,
                Some(extra),
                entry.record.builtin,
            )?);
        }
        Ok(out)
    }

    /// The networks a container joins at start, with their running bridges.
    fn start_endpoints(
        &self,
        container: &Container,
    ) -> Result<Vec<(EndpointSettings, Arc<LiveNetwork>)>> {
        let endpoints = match &container.endpoints {
            Some(endpoints) => endpoints.clone(),
            None => self.resolve_endpoints(&container.spec)?,
        };
        let mut out = Vec::new();
        for endpoint in endpoints {
            let entry = self.networks.by_id(&endpoint.network).ok_or_else(|| {
                Error::not_found(format!("network {} not found", endpoint.network))
            })?;
            let bridge = entry.live.ok_or_else(|| {
                Error::internal(format!(
                    "network {} has no working bridge (see the daemon log)",
                    entry.record.name
                ))
            })?;
            out.push((endpoint, bridge));
        }
        Ok(out)
    }

    /// Creates the container's network namespace and attaches it to each of its networks.
    /// `None` when the container has no endpoint (host, none, or the default bridge is off).
    /// On failure everything is undone. Blocking.
    pub(crate) fn prepare_network(&self, container: &Container) -> Result<Option<Prepared>> {
        if !has_endpoints(container) {
            return Ok(None);
        }
        let endpoints = self.start_endpoints(container)?;
        if endpoints.is_empty() {
            return Ok(None);
        }
        let netns = NetNs::create()?;
        let mut attachments: Vec<Attachment> = Vec::new();
        for (index, (endpoint, bridge)) in endpoints.iter().enumerate() {
            let request = AttachRequest {
                interface: format!("eth{index}"),
                ip: endpoint.ipv4,
                aliases: endpoint.aliases.clone(),
                default_route: !attachments.iter().any(|a| !a.internal),
                publish: index == 0,
            };
            match bridge.attach(container, &netns, &request) {
                Ok(attachment) => attachments.push(attachment),
                Err(e) => {
                    self.release_networks(&container.id, &attachments, true);
                    return Err(e);
                }
            }
        }
        Ok(Some(Prepared { netns, attachments }))
    }

    /// Gives back what the container's attachments hold on each network (rules, host ports,
    /// addresses); deletes the host veths too if `delete_veth` (a start that failed). Errors
    /// are logged. Blocking when ports were published.
    pub(crate) fn release_networks(&self, id: &str, attachments: &[Attachment], delete_veth: bool) {
        for attachment in attachments {
            let Some(bridge) = self
                .networks
                .by_id(&attachment.network_id)
                .and_then(|e| e.live)
            else {
                continue; // the network is gone, and with it its addresses and rules
            };
            if let Err(e) = bridge.release(id, attachment, delete_veth) {
                tracing::warn!(container = %id, network = %attachment.network, error = %e, "releasing network");
            }
        }
    }

    /// Re-adopts the attachments of containers still running after a daemon restart, per
    /// network (addresses, host ports, rules). Blocking.
    pub(crate) fn restore_networks(&self, records: &[Container]) {
        for entry in self.networks.all() {
            let Some(bridge) = entry.live else {
                continue;
            };
            let running: Vec<(String, Attachment)> = records
                .iter()
                .filter(|r| r.state.status.is_alive())
                .flat_map(|r| {
                    r.networks
                        .iter()
                        .filter(|a| a.network_id == bridge.id)
                        .map(|a| (r.id.clone(), a.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Err(e) = bridge.restore(&running) {
                tracing::error!(network = %entry.record.name, error = %e, "restoring network attachments");
            }
        }
    }

    /// Emits `connect` (or `disconnect`) for each attachment.
    pub(crate) fn emit_attachments(&self, action: &str, id: &str, attachments: &[Attachment]) {
        for a in attachments {
            self.emit_network(action, &a.network_id, &a.network, Some(id));
        }
    }
}

/// Checks one endpoint request against its network with Docker's rules and messages.
pub(crate) fn check_endpoint(
    network: &Network,
    wanted: Option<&EndpointSettings>,
    builtin: bool,
) -> Result<EndpointSettings> {
    let aliases = wanted.map(|w| w.aliases.clone()).unwrap_or_default();
    let ipv4 = wanted.and_then(|w| w.ipv4);
    if builtin {
        if ipv4.is_some() {
            return Err(Error::invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if !aliases.is_empty() {
            return Err(Error::invalid(
                "network-scoped aliases are only supported for user-defined networks",
            ));
        }
    }
    if let Some(ip) = ipv4 {
        if !network.subnet_given {
            return Err(Error::invalid(
                "user specified IP address is supported only when connecting to networks with user configured subnets",
            ));
        }
        let inside = network
            .subnet
            .parse::<berth_network::ipam::Subnet>()
            .is_ok_and(|s| s.contains(ip));
        if !inside {
            return Err(Error::invalid(format!(
                "Invalid address {ip}: It does not belong to any of this network's subnets"
            )));
        }
    }
    Ok(EndpointSettings {
        network: network.id.clone(),
        name: network.name.clone(),
        aliases,
        ipv4,
    })
}
