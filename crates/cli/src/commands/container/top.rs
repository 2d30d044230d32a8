//! `berth top`: the container's processes, as the daemon's `ps` reports them.

use crate::client::daemon_err;
use anyhow::Result;
use bollard::query_parameters::TopOptionsBuilder;
use bollard::Docker;
use clap::Args;
use std::io::Write;

/// `berth top CONTAINER [ps OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct TopArgs {
    pub container: String,
    /// Options passed to ps
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Runs `berth top`.
pub async fn run(docker: &Docker, args: TopArgs) -> Result<()> {
    let mut b = TopOptionsBuilder::default();
    let ps = args.ps_args.join(" ");
    if !ps.is_empty() {
        b = b.ps_args(&ps);
    }
    let top = docker
        .top_processes(&args.container, Some(b.build()))
        .await
        .map_err(daemon_err)?;
    // docker: tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
    let mut tw = tabwriter::TabWriter::new(std::io::stdout())
        .minwidth(17)
        .padding(3);
    writeln!(tw, "{}", top.titles.unwrap_or_default().join("\t"))?;
    for p in top.processes.unwrap_or_default() {
        writeln!(tw, "{}", p.join("\t"))?;
    }
    tw.flush()?;
    Ok(())
}
