//! `berth wait`: block until containers stop, print their exit codes.

use crate::client::api_message;
use crate::error::exit;
use anyhow::Result;
use bollard::errors::Error as ApiError;
use bollard::query_parameters::WaitContainerOptionsBuilder;
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;

/// `berth wait CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct WaitArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Runs `berth wait`.
pub async fn run(docker: &Docker, args: WaitArgs) -> Result<()> {
    let mut failed = false;
    for c in &args.containers {
        let opts = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut s = docker.wait_container(c, Some(opts));
        match s.next().await {
            Some(Ok(r)) => println!("{}", r.status_code),
            Some(Err(ApiError::DockerContainerWaitError { code, .. })) => println!("{code}"),
            Some(Err(e)) => {
                eprintln!("{}", api_message(&e));
                failed = true;
            }
            None => failed = true,
        }
    }
    if failed {
        return Err(exit(1));
    }
    Ok(())
}
