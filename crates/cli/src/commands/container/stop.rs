//! `berth stop`, `restart` and `kill`: one request per named container, names echoed on success,
//! every failure reported, exit 1 if any failed.

use crate::client::api_message;
use crate::error::exit;
use anyhow::Result;
use bollard::query_parameters::{
    KillContainerOptionsBuilder, RestartContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use clap::Args;

/// `berth stop [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `berth kill [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Prints each successful name and each error; exits 1 when anything failed.
pub fn report_each(results: Vec<(String, Result<(), bollard::errors::Error>)>) -> Result<()> {
    let mut failed = false;
    for (name, r) in results {
        match r {
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

/// Runs `berth stop`.
pub async fn stop(docker: &Docker, args: StopArgs) -> Result<()> {
    let mut results = Vec::new();
    for c in &args.containers {
        let mut b = StopContainerOptionsBuilder::default();
        if let Some(t) = args.time {
            b = b.t(t);
        }
        if let Some(s) = args.signal.as_deref() {
            b = b.signal(s);
        }
        results.push((c.clone(), docker.stop_container(c, Some(b.build())).await));
    }
    report_each(results)
}

/// Runs `berth restart`.
pub async fn restart(docker: &Docker, args: StopArgs) -> Result<()> {
    let mut results = Vec::new();
    for c in &args.containers {
        let mut b = RestartContainerOptionsBuilder::default();
        if let Some(t) = args.time {
            b = b.t(t);
        }
        if let Some(s) = args.signal.as_deref() {
            b = b.signal(s);
        }
        results.push((
            c.clone(),
            docker.restart_container(c, Some(b.build())).await,
        ));
    }
    report_each(results)
}

/// Runs `berth kill`.
pub async fn kill(docker: &Docker, args: KillArgs) -> Result<()> {
    let mut results = Vec::new();
    for c in &args.containers {
        let opts = args
            .signal
            .as_deref()
            .map(|s| KillContainerOptionsBuilder::default().signal(s).build());
        results.push((c.clone(), docker.kill_container(c, opts).await));
    }
    report_each(results)
}
