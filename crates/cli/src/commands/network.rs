//! `berth network create|ls|inspect|rm|prune|connect|disconnect`, over the daemon's
//! `/networks` API, with docker's flags and output.

use std::collections::HashMap;

use anyhow::{bail, Result};
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    InspectNetworkOptions, ListNetworksOptionsBuilder, PruneNetworksOptionsBuilder,
};
use bollard::Docker;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{api_message, daemon_err};
use crate::commands::filters::parse_filters;
use crate::commands::inspect::render;
use crate::commands::prune::{confirm, print_section};
use crate::error::exit;
use crate::format::table::{print_list, ListSpec};
use crate::format::template::ListFormat;

/// `berth network ...`
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

/// `berth network create [OPTIONS] NETWORK`
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    pub subnet: Vec<String>,
    /// IPv4 Gateway for the master subnet
    #[arg(long)]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Enable IPv6 networking
    #[arg(long)]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

/// `berth network ls [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct LsArgs {
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

/// `berth network inspect [OPTIONS] NETWORK [NETWORK...]`
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

/// `berth network rm NETWORK [NETWORK...]`
#[derive(Args, Debug, Clone)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "NETWORK")]
    pub names: Vec<String>,
}

/// `berth network prune [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth network connect [OPTIONS] NETWORK CONTAINER`
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `berth network disconnect [OPTIONS] NETWORK CONTAINER`
#[derive(Args, Debug, Clone)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Runs a `berth network` subcommand.
pub async fn run(docker: &Docker, command: NetworkCommand) -> Result<()> {
    match command {
        NetworkCommand::Create(a) => create(docker, a).await,
        NetworkCommand::Ls(a) => ls(docker, a).await,
        NetworkCommand::Inspect(a) => inspect(docker, a).await,
        NetworkCommand::Rm(a) => rm(docker, a).await,
        NetworkCommand::Prune(a) => prune(docker, a).await,
        NetworkCommand::Connect(a) => connect(docker, a).await,
        NetworkCommand::Disconnect(a) => disconnect(docker, a).await,
    }
}

fn key_values(flag: &str, values: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for v in values {
        match v.split_once('=') {
            Some((k, val)) if !k.is_empty() => {
                out.insert(k.to_owned(), val.to_owned());
            }
            None if flag == "label" && !v.is_empty() => {
                out.insert(v.clone(), String::new());
            }
            _ => {
                bail!("invalid argument \"{v}\" for \"--{flag}\" flag: bad format for {flag}: {v}")
            }
        }
    }
    Ok(out)
}

/// docker's client-side IPAM checks: every gateway and range needs a subnet.
fn ipam_configs(args: &CreateArgs) -> Result<Vec<IpamConfig>> {
    if args.subnet.len() > 1 || args.gateway.len() > 1 || args.ip_range.len() > 1 {
        bail!("berth supports one --subnet, --gateway and --ip-range per network");
    }
    let Some(subnet) = args.subnet.first() else {
        if !args.gateway.is_empty() || !args.ip_range.is_empty() {
            bail!("every ip-range or gateway must have a corresponding subnet");
        }
        return Ok(Vec::new());
    };
    Ok(vec![IpamConfig {
        subnet: Some(subnet.clone()),
        gateway: args.gateway.first().cloned(),
        ip_range: args.ip_range.first().cloned(),
        ..Default::default()
    }])
}

async fn create(docker: &Docker, args: CreateArgs) -> Result<()> {
    let request = NetworkCreateRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        internal: Some(args.internal),
        attachable: Some(args.attachable),
        enable_ipv6: Some(args.ipv6),
        ipam: Some(Ipam {
            driver: Some(args.ipam_driver.clone()),
            config: Some(ipam_configs(&args)?),
            options: None,
        }),
        options: Some(key_values("opt", &args.opt)?),
        labels: Some(key_values("label", &args.label)?),
        ..Default::default()
    };
    let created = docker.create_network(request).await.map_err(daemon_err)?;
    println!("{}", created.id);
    Ok(())
}

const LS_SPEC: ListSpec = ListSpec {
    default_table: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
    headers: &[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ],
};

async fn ls(docker: &Docker, args: LsArgs) -> Result<()> {
    let filters = parse_filters(&args.filter)?;
    let options = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let mut networks = docker
        .list_networks(Some(options))
        .await
        .map_err(daemon_err)?;
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    let id = |full: &str| -> String {
        if args.no_trunc {
            full.to_owned()
        } else {
            full.chars().take(12).collect()
        }
    };
    if args.quiet {
        for n in &networks {
            println!("{}", id(n.id.as_deref().unwrap_or("")));
        }
        return Ok(());
    }
    let rows: Vec<Value> = networks
        .iter()
        .map(|n| {
            let mut labels: Vec<String> = n
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            labels.sort();
            json!({
                "ID": id(n.id.as_deref().unwrap_or("")),
                "Name": n.name,
                "Driver": n.driver,
                "Scope": n.scope,
                "IPv6": n.enable_ipv6.unwrap_or(false).to_string(),
                "Internal": n.internal.unwrap_or(false).to_string(),
                "Labels": labels.join(","),
                "CreatedAt": n.created.as_ref().map(|c| c.to_string()).unwrap_or_default(),
            })
        })
        .collect();
    print_list(&ListFormat::parse(args.format.as_deref()), &LS_SPEC, &rows)
}

async fn inspect(docker: &Docker, args: InspectArgs) -> Result<()> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match docker
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
        {
            Ok(n) => found.push(serde_json::to_value(n)?),
            Err(e) => errors.push(api_message(&e)),
        }
    }
    print!("{}", render(args.format.as_deref(), &found)?);
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        return Err(exit(1));
    }
    Ok(())
}

async fn rm(docker: &Docker, args: RmArgs) -> Result<()> {
    let mut failed = false;
    for name in &args.names {
        match docker.remove_network(name).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                let message = api_message(&e);
                if args.force && message.contains("not found") {
                    continue;
                }
                eprintln!("{message}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(exit(1));
    }
    Ok(())
}

/// Prunes unused networks and returns the names removed (shared with `system prune`).
pub(crate) async fn prune_networks(
    docker: &Docker,
    filters: &HashMap<String, Vec<String>>,
) -> Result<Vec<String>> {
    let options = PruneNetworksOptionsBuilder::new().filters(filters).build();
    let pruned = docker
        .prune_networks(Some(options))
        .await
        .map_err(daemon_err)?;
    Ok(pruned.networks_deleted.unwrap_or_default())
}

async fn prune(docker: &Docker, args: PruneArgs) -> Result<()> {
    if !args.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )
    {
        return Ok(());
    }
    let filters = parse_filters(&args.filter)?;
    print_section("Deleted Networks:", prune_networks(docker, &filters).await?);
    Ok(())
}

async fn connect(docker: &Docker, args: ConnectArgs) -> Result<()> {
    let request = NetworkConnectRequest {
        container: args.container.clone(),
        endpoint_config: Some(EndpointSettings {
            aliases: (!args.alias.is_empty()).then(|| args.alias.clone()),
            ipam_config: args.ip.clone().map(|ip| EndpointIpamConfig {
                ipv4_address: Some(ip),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    docker
        .connect_network(&args.network, request)
        .await
        .map_err(daemon_err)
}

async fn disconnect(docker: &Docker, args: DisconnectArgs) -> Result<()> {
    let request = NetworkDisconnectRequest {
        container: args.container.clone(),
        force: Some(args.force),
    };
    docker
        .disconnect_network(&args.network, request)
        .await
        .map_err(daemon_err)
}
