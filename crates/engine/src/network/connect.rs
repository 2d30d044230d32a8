//! `network connect` and `network disconnect`: on a running (or paused) container the
//! endpoint is attached or detached at once inside its namespace; on a stopped one only its
//! list of networks changes, and the endpoint is made at the next start.

use std::path::PathBuf;
use std::sync::Arc;

use berth_network::netns::NetNs;

use crate::container::model::NetworkMode;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::network::model::EndpointSettings;
use crate::network::{AttachRequest, Attachment, DEFAULT_NETWORK};

const HOST_MODE: &str =
    "container cannot be disconnected from host network or connected to host network";
const NONE_MODE: &str = "container cannot be connected to multiple networks with one of the networks in private (none) mode";

impl Engine {
    /// `POST /networks/{id}/connect`. `wanted.network` is ignored (the network is `network`).
    pub async fn network_connect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        wanted: EndpointSettings,
    ) -> Result<()> {
        let _lock = self.networks.lock.lock().await;
        let entry = self.networks.resolve(network)?;
        let handle = self.lookup(container)?;
        let _op = handle.op.lock().await;
        let c = handle.snapshot();
        match (&c.spec.host.network_mode, entry.record.driver.as_str()) {
            (NetworkMode::Host, _) | (_, "host") => return Err(Error::conflict(HOST_MODE)),
            (NetworkMode::None, _) | (_, "null") => return Err(Error::conflict(NONE_MODE)),
            _ => {}
        }
        let is_default = entry.record.builtin && entry.record.name == DEFAULT_NETWORK;
        let endpoint = super::attach::check_endpoint(&entry.record, Some(&wanted), is_default)?;
        let mut endpoints = match &c.endpoints {
            Some(e) => e.clone(),
            None => self.resolve_endpoints(&c.spec)?,
        };
        if endpoints.iter().any(|e| e.network == entry.record.id)
            || c.networks.iter().any(|a| a.network_id == entry.record.id)
        {
            return Err(Error::conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.name, entry.record.name
            )));
        }
        endpoints.push(endpoint.clone());
        if !c.state.status.is_alive() {
            let record = handle.update(|r| r.endpoints = Some(endpoints));
            return self.persist(&record);
        }
        let bridge = entry.live.clone().ok_or_else(|| {
            Error::internal(format!(
                "network {} has no working bridge",
                entry.record.name
            ))
        })?;
        let next = (0..)
            .map(|n| format!("eth{n}"))
            .find(|name| !c.networks.iter().any(|a| &a.interface == name))
            .unwrap_or_else(|| "eth0".to_owned());
        let request = AttachRequest {
            interface: next,
            ip: endpoint.ipv4,
            aliases: endpoint.aliases.clone(),
            default_route: !c.networks.iter().any(|a| !a.internal),
            publish: false,
        };
        let pid = c.state.pid;
        let for_attach = c.clone();
        let attachment = tokio::task::spawn_blocking(move || -> Result<Attachment> {
            let netns = NetNs::open(&PathBuf::from(format!("/proc/{pid}/ns/net")))?;
            bridge.attach(&for_attach, &netns, &request)
        })
        .await
        .map_err(|e| Error::internal(format!("network connect task: {e}")))??;
        let record = handle.update(|r| {
            r.networks.push(attachment.clone());
            r.endpoints = Some(endpoints);
        });
        self.persist(&record)?;
        self.append_hosts_entry(&record, &attachment);
        self.emit_attachments("connect", &record.id, std::slice::from_ref(&attachment));
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`. `force` also disconnects from a network whose
    /// bridge is gone.
    pub async fn network_disconnect(
        self: &Arc<Self>,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let _lock = self.networks.lock.lock().await;
        let entry = self.networks.resolve(network)?;
        let handle = self.lookup(container)?;
        let _op = handle.op.lock().await;
        let c = handle.snapshot();
        if c.spec.host.network_mode == NetworkMode::Host || entry.record.driver == "host" {
            return Err(Error::conflict(HOST_MODE));
        }
        let id = entry.record.id.clone();
        let attachment = c.networks.iter().find(|a| a.network_id == id).cloned();
        let mut endpoints = match &c.endpoints {
            Some(e) => e.clone(),
            None => self.resolve_endpoints(&c.spec)?,
        };
        let listed = endpoints.iter().any(|e| e.network == id);
        if attachment.is_none() && !listed {
            return Err(Error::conflict(format!(
                "container {} is not connected to network {}",
                c.id, entry.record.name
            )));
        }
        endpoints.retain(|e| e.network != id);
        if let (Some(attachment), true) = (attachment.clone(), c.state.status.is_alive()) {
            let pid = c.state.pid;
            let bridge = entry.live.clone();
            let owned = c.id.clone();
            let detached = tokio::task::spawn_blocking(move || -> Result<()> {
                let netns = NetNs::open(&PathBuf::from(format!("/proc/{pid}/ns/net")))?;
                match bridge {
                    Some(net) => {
                        net.driver.detach(&netns, &attachment.interface)?;
                        net.release(&owned, &attachment, true)
                    }
                    None => Ok(()),
                }
            })
            .await
            .map_err(|e| Error::internal(format!("network disconnect task: {e}")))?;
            if let Err(e) = detached {
                if !force {
                    return Err(e);
                }
                tracing::warn!(container = %c.id, error = %e, "forced disconnect");
            }
        }
        let record = handle.update(|r| {
            r.networks.retain(|a| a.network_id != id);
            r.endpoints = Some(endpoints);
        });
        self.persist(&record)?;
        if let Some(attachment) = attachment {
            self.emit_attachments("disconnect", &record.id, std::slice::from_ref(&attachment));
        }
        Ok(())
    }

    /// Adds a connected network's address to the container's /etc/hosts (Docker does too).
    fn append_hosts_entry(&self, record: &crate::container::model::Container, a: &Attachment) {
        use std::io::Write;
        let path = self.container_dir(&record.id).join("hosts");
        let line = format!("{}\t{}\n", a.ip, record.hostname);
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(container = %record.id, error = %e, "updating /etc/hosts");
        }
    }
}
