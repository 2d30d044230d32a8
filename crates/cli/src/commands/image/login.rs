//! `berth login` / `berth logout`: check credentials through the daemon (`POST /auth`, which
//! bollard has no call for) and store them in the docker config file.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use super::credentials;
use crate::error::exit;

/// `berth login [OPTIONS] [SERVER]`
#[derive(Args, Debug, Clone)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry server (default: Docker Hub)
    pub server: Option<String>,
}

/// `berth logout [SERVER]`
#[derive(Args, Debug, Clone)]
pub struct LogoutArgs {
    /// Registry server (default: Docker Hub)
    pub server: Option<String>,
}

/// Runs `berth login`.
pub async fn login(host: &str, args: LoginArgs) -> Result<()> {
    let server = args.server.clone().unwrap_or_else(|| "docker.io".into());
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    if args.password_stdin && args.username.is_none() {
        bail!("Must provide --username with --password-stdin");
    }
    let username = match args.username.clone() {
        Some(u) => u,
        None => prompt("Username: ")?,
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = args.password.clone() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        prompt_hidden("Password: ")?
    };
    if username.is_empty() || password.is_empty() {
        bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    let body = json!({
        "username": username,
        "password": password,
        "serveraddress": credentials::key_of(&server),
    });
    let reply = crate::raw_http::request(host, "POST", "/auth", &[], Some(&body)).await?;
    if reply.status >= 400 {
        eprintln!("Error response from daemon: {}", reply.error_message());
        return Err(exit(1));
    }
    if let credentials::Stored::File(path) = credentials::store(&server, &username, &password)? {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            path.display()
        );
    }
    println!("Login Succeeded");
    Ok(())
}

/// Runs `berth logout`.
pub async fn logout(args: LogoutArgs) -> Result<()> {
    let server = args.server.unwrap_or_else(|| "docker.io".into());
    let key = credentials::key_of(&server);
    if credentials::erase(&server)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}

fn prompt(label: &str) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

fn prompt_hidden(label: &str) -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    if !std::io::stdin().is_terminal() {
        bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning off echo")?;
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
