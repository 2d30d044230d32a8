//! `berth update`: change resource limits and the restart policy of containers, live.

use crate::commands::container::opts::parse_restart;
use crate::commands::container::stop::report_each;
use crate::format::units;
use anyhow::Result;
use bollard::models::ContainerUpdateBody;
use bollard::Docker;
use clap::Args;

/// `berth update [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

impl UpdateArgs {
    fn body(&self) -> Result<ContainerUpdateBody> {
        let size = |v: &Option<String>| v.as_deref().map(units::ram_in_bytes).transpose();
        Ok(ContainerUpdateBody {
            memory: size(&self.memory)?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(units::memory_swap)
                .transpose()?,
            memory_reservation: size(&self.memory_reservation)?,
            nano_cpus: self.cpus.as_deref().map(units::nano_cpus).transpose()?,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            restart_policy: self.restart.as_deref().map(parse_restart).transpose()?,
            ..Default::default()
        })
    }
}

/// Runs `berth update`: one request per container, names echoed on success.
pub async fn run(docker: &Docker, args: UpdateArgs) -> Result<()> {
    let body = args.body()?;
    let mut results = Vec::new();
    for c in &args.containers {
        results.push((c.clone(), docker.update_container(c, body.clone()).await));
    }
    report_each(results)
}
