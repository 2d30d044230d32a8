//! `berth rm`: remove containers.

use crate::client::{api_message, status_code};
use crate::error::exit;
use anyhow::Result;
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use bollard::Docker;
use clap::Args;

/// `berth rm [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Runs `berth rm`. With `-f`, a container that does not exist is not an error (docker 28).
pub async fn run(docker: &Docker, args: RmArgs) -> Result<()> {
    let mut failed = false;
    for c in &args.containers {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(args.force)
            .v(args.volumes)
            .link(args.link)
            .build();
        match docker.remove_container(c, Some(opts)).await {
            Ok(()) => println!("{c}"),
            Err(e) if args.force && status_code(&e) == Some(404) => {}
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
