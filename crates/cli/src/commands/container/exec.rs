//! `berth exec`: run a command in a running container (create exec, start attached, then the
//! exit code from the exec's inspect).

use super::opts::parse_env_file_content;
use super::stream::{follow_terminal_size, pump, terminal_size, AttachSpec, ResizeTarget};
use crate::client::daemon_err;
use crate::error::exit;
use anyhow::{anyhow, Result};
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::Docker;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;

/// `berth exec [OPTIONS] CONTAINER COMMAND [ARG...]`
#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub container: String,
    /// COMMAND [ARG...]
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs `berth exec`; exits with the command's exit code.
pub async fn run(docker: &Docker, args: ExecArgs) -> Result<()> {
    if !args.detach && args.tty && args.interactive && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Err(exit(1));
    }
    let mut env = Vec::new();
    for f in &args.env_file {
        let content =
            std::fs::read_to_string(f).map_err(|e| anyhow!("open {}: {e}", f.display()))?;
        env.extend(parse_env_file_content(&content, &|k| {
            std::env::var(k).ok()
        })?);
    }
    env.extend(args.env.iter().cloned());
    let detach_keys = super::attach::resolve_detach_keys(args.detach_keys.as_deref())?;
    let attach = !args.detach;
    let config = ExecConfig {
        attach_stdin: Some(attach && args.interactive),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        tty: Some(args.tty),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(args.command.clone()),
        privileged: Some(args.privileged),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        console_size: if args.tty {
            terminal_size().map(|(r, c)| vec![usize::from(r), usize::from(c)])
        } else {
            None
        },
        detach_keys: detach_keys.clone(),
        ..Default::default()
    };
    let created = docker
        .create_exec(&args.container, config)
        .await
        .map_err(daemon_err)?;
    let start = StartExecOptions {
        detach: args.detach,
        tty: args.tty,
        output_capacity: None,
    };
    match docker
        .start_exec(&created.id, Some(start))
        .await
        .map_err(daemon_err)?
    {
        StartExecResults::Detached => return Ok(()),
        StartExecResults::Attached { output, input } => {
            let spec = AttachSpec {
                stdin: args.interactive,
                stdout: true,
                stderr: true,
                tty: args.tty,
                sig_proxy: false,
                detach_keys,
            };
            let attached = pump(output, input, &spec);
            let resizer = args
                .tty
                .then(|| follow_terminal_size(docker, ResizeTarget::Exec(created.id.clone())))
                .flatten();
            let detached = attached.finish().await;
            if let Some(r) = resizer {
                r.abort();
            }
            if detached {
                return Ok(());
            }
        }
    }
    let inspect = docker.inspect_exec(&created.id).await.map_err(daemon_err)?;
    match inspect.exit_code {
        Some(0) | None => Ok(()),
        Some(code) => Err(exit(code as i32)),
    }
}
