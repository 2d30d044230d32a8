//! `berth port`: a container's published ports, from its inspect data (as docker's CLI does).

use crate::client::daemon_err;
use anyhow::{bail, Result};
use bollard::Docker;
use clap::Args;

/// `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`
#[derive(Args, Debug, Clone)]
pub struct PortArgs {
    pub container: String,
    /// Only this container port (`80` or `80/udp`)
    pub private_port: Option<String>,
}

/// Runs `berth port`.
pub async fn run(docker: &Docker, args: PortArgs) -> Result<()> {
    let info = docker
        .inspect_container(
            &args.container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(daemon_err)?;
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        (port.parse::<u32>().unwrap_or(0), proto.to_owned())
    });
    if let Some(wanted) = &args.private_port {
        let (port, proto) = wanted.split_once('/').unwrap_or((wanted, "tcp"));
        if port.parse::<u16>().is_err() {
            bail!("Error: invalid port ({port}): must be a number");
        }
        let key = format!("{port}/{proto}");
        let bindings = ports.get(&key).cloned().flatten().unwrap_or_default();
        if bindings.is_empty() {
            bail!(
                "Error: No public port '{key}' published for {}",
                args.container
            );
        }
        for b in bindings {
            println!(
                "{}:{}",
                b.host_ip.unwrap_or_default(),
                b.host_port.unwrap_or_default()
            );
        }
        return Ok(());
    }
    for key in keys {
        for b in ports.get(key).cloned().flatten().unwrap_or_default() {
            println!(
                "{key} -> {}:{}",
                b.host_ip.unwrap_or_default(),
                b.host_port.unwrap_or_default()
            );
        }
    }
    Ok(())
}
