//! `berth pause`, `unpause` and `rename`.

use super::stop::report_each;
use crate::client::daemon_err;
use anyhow::Result;
use bollard::query_parameters::RenameContainerOptionsBuilder;
use bollard::Docker;
use clap::Args;

/// `berth pause|unpause CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct PauseArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth rename CONTAINER NEW_NAME`
#[derive(Args, Debug, Clone)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

/// Runs `berth pause`.
pub async fn pause(docker: &Docker, args: PauseArgs) -> Result<()> {
    let mut results = Vec::new();
    for c in &args.containers {
        results.push((c.clone(), docker.pause_container(c).await));
    }
    report_each(results)
}

/// Runs `berth unpause`.
pub async fn unpause(docker: &Docker, args: PauseArgs) -> Result<()> {
    let mut results = Vec::new();
    for c in &args.containers {
        results.push((c.clone(), docker.unpause_container(c).await));
    }
    report_each(results)
}

/// Runs `berth rename`.
pub async fn rename(docker: &Docker, args: RenameArgs) -> Result<()> {
    let opts = RenameContainerOptionsBuilder::default()
        .name(&args.new_name)
        .build();
    docker
        .rename_container(&args.container, opts)
        .await
        .map_err(daemon_err)
}
