//! `berth start`: start stopped containers, optionally attached.

use super::stream::{attach_start_wait, AttachSpec, StartFailure};
use crate::client::api_message;
use crate::error::exit;
use anyhow::{bail, Result};
use bollard::Docker;
use clap::Args;

/// `berth start [OPTIONS] CONTAINER [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Runs `berth start`.
pub async fn run(docker: &Docker, args: StartArgs) -> Result<()> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            bail!("you cannot start and attach multiple containers at once");
        }
        let name = &args.containers[0];
        let detach_keys = super::attach::resolve_detach_keys(args.detach_keys.as_deref())?;
        let c = match docker.inspect_container(name, None).await {
            Ok(c) => c,
            Err(e) => bail!("{}", api_message(&e)),
        };
        let config = c.config.unwrap_or_default();
        let id = c.id.unwrap_or_else(|| name.clone());
        let auto_remove = c.host_config.and_then(|h| h.auto_remove).unwrap_or(false);
        let spec = AttachSpec {
            stdin: args.interactive && config.open_stdin.unwrap_or(false),
            stdout: args.attach,
            stderr: args.attach,
            tty: config.tty.unwrap_or(false),
            sig_proxy: true,
            detach_keys,
        };
        let code = attach_start_wait(docker, &id, spec, auto_remove, StartFailure::Start).await?;
        if code != 0 {
            return Err(exit(code as i32));
        }
        return Ok(());
    }
    let mut failed = Vec::new();
    for c in &args.containers {
        match docker.start_container(c, None).await {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", api_message(&e));
                failed.push(c.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("Error: failed to start containers: {}", failed.join(", "));
    }
    Ok(())
}
