//! `berth run`: create (pulling when needed), attach, start, wait, exit with the container's
//! status — the same API calls the docker CLI makes.

use super::create::create_container;
use super::opts::ContainerOpts;
use super::stream::{attach_start_wait, AttachSpec, StartFailure};
use crate::client::api_message;
use crate::error::{exit, report_error, start_error_code};
use anyhow::Result;
use bollard::Docker;
use clap::{ArgAction, Args};
use std::io::IsTerminal;

/// `berth run [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE"
    )]
    pub args: Vec<String>,
}

/// Runs `berth run`.
pub async fn run(docker: &Docker, args: RunArgs) -> Result<()> {
    let (image, cmd) = args
        .args
        .split_first()
        .map(|(i, c)| (i.clone(), c.to_vec()))
        .unwrap_or_default();
    if !args.detach && args.opts.tty && args.opts.interactive && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Err(exit(1));
    }
    let detach_keys = match super::attach::resolve_detach_keys(args.detach_keys.as_deref()) {
        Ok(k) => k,
        Err(e) => {
            report_error("run", &e.to_string(), true);
            return Err(exit(125));
        }
    };
    let mut body = match args.opts.to_body(&image, &cmd) {
        Ok(b) => b,
        Err(e) => {
            report_error("run", &e.to_string(), true);
            return Err(exit(125));
        }
    };
    if args.detach {
        body.attach_stdin = Some(false);
        body.attach_stdout = Some(false);
        body.attach_stderr = Some(false);
        body.stdin_once = Some(false);
    }
    let id = create_container(docker, "run", args.opts.name.as_deref(), body, &args.pull).await?;

    if args.detach {
        if let Err(e) = docker.start_container(&id, None).await {
            let msg = api_message(&e);
            report_error("run", &msg, true);
            return Err(exit(start_error_code(&msg)));
        }
        println!("{id}");
        return Ok(());
    }

    let (stdin, stdout, stderr) = args.opts.attach_streams();
    let spec = AttachSpec {
        stdin,
        stdout,
        stderr,
        tty: args.opts.tty,
        sig_proxy: args.sig_proxy,
        detach_keys,
    };
    let code = attach_start_wait(docker, &id, spec, args.opts.rm, StartFailure::Run).await?;
    if code != 0 {
        return Err(exit(code as i32));
    }
    Ok(())
}
