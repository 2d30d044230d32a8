//! `berth login` / `berth logout`: check credentials through the daemon (`POST /auth`, which
//! bollard has no call for, so it is sent over the socket directly) and store them in the
//! docker config file.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let (status, reply) = post_json(host, "/auth", &body).await?;
    if status >= 400 {
        let message = serde_json::from_str::<Value>(&reply)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(reply);
        eprintln!("Error response from daemon: {}", message.trim_end());
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

/// One JSON POST over the daemon's unix socket (HTTP/1.1, `Connection: close`).
async fn post_json(host: &str, path: &str, body: &Value) -> Result<(u16, String)> {
    let socket = host
        .strip_prefix("unix://")
        .or_else(|| host.starts_with('/').then_some(host))
        .ok_or_else(|| anyhow!("login needs a unix:// daemon socket, got {host}"))?;
    let mut stream = tokio::net::UnixStream::connect(socket).await.map_err(|_| {
        anyhow!("Cannot connect to the Berth daemon at {host}. Is the daemon running?")
    })?;
    let payload = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed reply from the daemon"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| anyhow!("malformed reply from the daemon"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
