//! `berth attach`: connect the terminal to a running container's main process, as
//! `docker attach` does (raw mode on a TTY, resize on SIGWINCH, signal proxy without a TTY,
//! detach with ctrl-p ctrl-q or `--detach-keys`; exits with the container's status).

use super::stream::{
    attach, follow_exit, follow_terminal_size, spawn_signal_proxy, wait_status, AttachSpec,
    ResizeTarget,
};
use crate::client::daemon_err;
use crate::error::exit;
use anyhow::{anyhow, Result};
use bollard::Docker;
use clap::{ArgAction, Args};
use std::io::IsTerminal;

/// `berth attach [OPTIONS] CONTAINER`
#[derive(Args, Debug, Clone)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    pub container: String,
}

/// The detach sequence to use: the flag, else `detachKeys` from the docker config file
/// (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`), else `None` (ctrl-p ctrl-q).
/// An invalid sequence is an error, reported before anything is started.
pub fn resolve_detach_keys(flag: Option<&str>) -> Result<Option<String>> {
    let keys = match flag {
        Some(k) => Some(k.to_string()),
        None => config_detach_keys(),
    };
    match keys.filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(k) => match berth_api::detach::parse_detach_keys(&k) {
            Ok(_) => Ok(Some(k)),
            Err(_) => Err(anyhow!("Invalid detach keys ({k}) provided")),
        },
    }
}

/// `detachKeys` from the config file; a missing or unreadable file means none, as for docker.
fn config_detach_keys() -> Option<String> {
    let path = crate::commands::image::credentials::config_path().ok()?;
    let bytes = std::fs::read(path).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("detachKeys")?.as_str().map(str::to_string)
}

/// Runs `berth attach`.
pub async fn run(docker: &Docker, args: AttachArgs) -> Result<()> {
    let detach_keys = resolve_detach_keys(args.detach_keys.as_deref())?;
    let c = docker
        .inspect_container(&args.container, None)
        .await
        .map_err(daemon_err)?;
    let state = c.state.clone().unwrap_or_default();
    if state.running != Some(true) {
        eprintln!("You cannot attach to a stopped container, start it first");
        return Err(exit(1));
    }
    if state.paused == Some(true) {
        eprintln!("You cannot attach to a paused container, unpause it first");
        return Err(exit(1));
    }
    let id = c.id.clone().unwrap_or_else(|| args.container.clone());
    let config = c.config.unwrap_or_default();
    let tty = config.tty.unwrap_or(false);
    let stdin = !args.no_stdin && config.open_stdin.unwrap_or(false);
    if tty && stdin && !std::io::stdin().is_terminal() {
        eprintln!("the input device is not a TTY");
        return Err(exit(1));
    }
    let wait = tokio::spawn(wait_status(docker.clone(), id.clone(), "next-exit"));
    tokio::task::yield_now().await;
    let spec = AttachSpec {
        stdin,
        stdout: true,
        stderr: true,
        tty,
        sig_proxy: args.sig_proxy,
        detach_keys,
    };
    let attached = match attach(docker, &id, &spec).await {
        Ok(a) => a,
        Err(e) => {
            wait.abort();
            return Err(daemon_err(e));
        }
    };
    let resizer = tty
        .then(|| follow_terminal_size(docker, ResizeTarget::Container(id.clone())))
        .flatten();
    let proxies = if args.sig_proxy && !tty {
        spawn_signal_proxy(docker, &id)
    } else {
        Vec::new()
    };
    let detached = attached.finish().await;
    for p in proxies.into_iter().chain(resizer) {
        p.abort();
    }
    if detached {
        wait.abort();
        return Ok(());
    }
    match follow_exit(docker, &id, wait, false).await? {
        0 => Ok(()),
        code => Err(exit(code as i32)),
    }
}
