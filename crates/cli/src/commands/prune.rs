//! `berth container prune` and `berth image prune`.

use crate::client::daemon_err;
use crate::commands::filters::parse_filters;
use crate::format::units::human_size;
use anyhow::Result;
use bollard::models::ImageDeleteResponseItem;
use bollard::query_parameters::{PruneContainersOptionsBuilder, PruneImagesOptionsBuilder};
use bollard::Docker;
use clap::Args;
use std::io::{BufRead, Write};

/// `berth container prune [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct ContainerPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// `berth image prune [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// docker's prompt: anything but `y`/`Y` declines.
pub(crate) fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y")
}

/// Prints docker's "Deleted X:" section (title, one line per item, a blank line); nothing
/// when no item was deleted.
pub(crate) fn print_section(title: &str, items: impl IntoIterator<Item = String>) {
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        return;
    }
    println!("{title}");
    for item in items {
        println!("{item}");
    }
    println!();
}

/// docker's lines for a deleted image: `untagged: REF` and `deleted: ID`.
pub(crate) fn image_lines(deleted: Vec<ImageDeleteResponseItem>) -> Vec<String> {
    let mut lines = Vec::new();
    for item in deleted {
        if let Some(u) = item.untagged.filter(|u| !u.is_empty()) {
            lines.push(format!("untagged: {u}"));
        }
        if let Some(d) = item.deleted.filter(|d| !d.is_empty()) {
            lines.push(format!("deleted: {d}"));
        }
    }
    lines
}

/// Runs `berth container prune`.
pub async fn containers(docker: &Docker, args: ContainerPruneArgs) -> Result<()> {
    if !args.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(());
    }
    let filters = parse_filters(&args.filter)?;
    let opts = PruneContainersOptionsBuilder::default()
        .filters(&filters)
        .build();
    let r = docker
        .prune_containers(Some(opts))
        .await
        .map_err(daemon_err)?;
    print_section(
        "Deleted Containers:",
        r.containers_deleted.unwrap_or_default(),
    );
    println!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed.unwrap_or(0))
    );
    Ok(())
}

/// Runs `berth image prune`.
pub async fn images(docker: &Docker, args: ImagePruneArgs) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning) {
        return Ok(());
    }
    let mut filters = parse_filters(&args.filter)?;
    filters.insert(
        "dangling".into(),
        vec![if args.all { "false" } else { "true" }.to_string()],
    );
    let opts = PruneImagesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let r = docker.prune_images(Some(opts)).await.map_err(daemon_err)?;
    print_section(
        "Deleted Images:",
        image_lines(r.images_deleted.unwrap_or_default()),
    );
    println!(
        "Total reclaimed space: {}",
        human_size(r.space_reclaimed.unwrap_or(0))
    );
    Ok(())
}
