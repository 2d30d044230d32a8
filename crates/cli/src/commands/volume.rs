//! `berth volume create|ls|inspect|rm|prune`, over the daemon's `/volumes` API.

use std::collections::HashMap;

use anyhow::{bail, Result};
use bollard::models::{Volume, VolumeCreateRequest};
use bollard::query_parameters::{
    ListVolumesOptionsBuilder, PruneVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use bollard::Docker;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::{api_message, daemon_err};
use crate::commands::filters::parse_filters;
use crate::commands::inspect::{self, ObjectType, TypedInspectArgs};
use crate::commands::prune::{confirm, print_section};
use crate::error::exit;
use crate::format::table::{print_list, ListSpec};
use crate::format::template::ListFormat;
use crate::format::units::human_size;

/// `berth volume ...`
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(TypedInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `berth volume create [OPTIONS] [VOLUME]`
#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long)]
    pub name: Option<String>,
    #[arg(value_name = "VOLUME")]
    pub volume: Option<String>,
}

/// `berth volume ls [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth volume rm [OPTIONS] VOLUME [VOLUME...]`
#[derive(Args, Debug, Clone)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// `berth volume prune [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Runs a `berth volume` subcommand.
pub async fn run(docker: &Docker, command: VolumeCommand) -> Result<()> {
    match command {
        VolumeCommand::Create(a) => create(docker, a).await,
        VolumeCommand::Ls(a) => ls(docker, a).await,
        VolumeCommand::Inspect(a) => inspect::run(docker, a.with_type(ObjectType::Volume)).await,
        VolumeCommand::Rm(a) => rm(docker, a).await,
        VolumeCommand::Prune(a) => prune(docker, a).await,
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

async fn create(docker: &Docker, args: CreateArgs) -> Result<()> {
    let name = match (args.name, args.volume) {
        (Some(a), Some(b)) if a != b => {
            bail!("conflicting options: either specify --name or provide positional arg, not both")
        }
        (a, b) => a.or(b),
    };
    let request = VolumeCreateRequest {
        name,
        driver: Some(args.driver),
        driver_opts: Some(key_values("opt", &args.opt)?),
        labels: Some(key_values("label", &args.label)?),
        ..Default::default()
    };
    let volume = docker.create_volume(request).await.map_err(daemon_err)?;
    println!("{}", volume.name);
    Ok(())
}

const LS_SPEC: ListSpec = ListSpec {
    default_table: "{{.Driver}}\t{{.Name}}",
    headers: &[
        ("Driver", "DRIVER"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
        ("CreatedAt", "CREATED"),
    ],
};

/// One `volume ls` row, with the fields docker's volume formatter offers.
fn row(v: &Volume) -> Value {
    let mut labels: Vec<String> = v
        .labels
        .iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect();
    labels.sort();
    json!({
        "Driver": v.driver,
        "Name": v.name,
        "Scope": v.scope.map(|s| s.to_string()).unwrap_or_else(|| "local".into()),
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": "N/A",
        "Size": "N/A",
        "CreatedAt": v.created_at.clone().unwrap_or_default(),
    })
}

async fn ls(docker: &Docker, args: LsArgs) -> Result<()> {
    let filters = parse_filters(&args.filter)?;
    let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let listed = docker
        .list_volumes(Some(options))
        .await
        .map_err(daemon_err)?;
    let mut volumes = listed.volumes.unwrap_or_default();
    volumes.sort_by(|a, b| a.name.cmp(&b.name));
    if args.quiet {
        for v in &volumes {
            println!("{}", v.name);
        }
        return Ok(());
    }
    let rows: Vec<Value> = volumes.iter().map(row).collect();
    print_list(&ListFormat::parse(args.format.as_deref()), &LS_SPEC, &rows)
}

async fn rm(docker: &Docker, args: RmArgs) -> Result<()> {
    let mut failed = false;
    for name in &args.names {
        let options = RemoveVolumeOptionsBuilder::new().force(args.force).build();
        match docker.remove_volume(name, Some(options)).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{}", api_message(&e));
                failed = true;
            }
        }
    }
    if failed {
        return Err(exit(1));
    }
    Ok(())
}

async fn prune(docker: &Docker, args: PruneArgs) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !args.force && !confirm(warning) {
        return Ok(());
    }
    let mut filters = parse_filters(&args.filter)?;
    if args.all {
        filters.insert("all".into(), vec!["true".into()]);
    }
    let options = PruneVolumesOptionsBuilder::new().filters(&filters).build();
    let pruned = docker
        .prune_volumes(Some(options))
        .await
        .map_err(daemon_err)?;
    print_section(
        "Deleted Volumes:",
        pruned.volumes_deleted.unwrap_or_default(),
    );
    println!(
        "Total reclaimed space: {}",
        human_size(pruned.space_reclaimed.unwrap_or(0))
    );
    Ok(())
}
