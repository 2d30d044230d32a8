//! `berth pull` (`image pull`).

use crate::client::api_message;
use crate::commands::container::create::{pull, with_default_tag};
use anyhow::{bail, Result};
use bollard::Docker;
use clap::Args;

/// `berth pull NAME[:TAG|@DIGEST]`
#[derive(Args, Debug, Clone)]
pub struct PullArgs {
    /// Suppress verbose output (accepted)
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub name: String,
}

/// Runs `berth pull`; prints the reference pulled, as docker's last line does.
pub async fn run(docker: &Docker, args: PullArgs) -> Result<()> {
    if let Err(e) = pull(docker, &args.name).await {
        bail!("{}", api_message(&e));
    }
    println!("{}", with_default_tag(&args.name));
    Ok(())
}
