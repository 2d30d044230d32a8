//! Requests bollard has no call for, or cannot add a header to (`POST /auth`, the 1.41
//! `system df` shape, `GET /images/search` with `X-Registry-Auth`), sent over the daemon
//! socket directly.
//!
//! HTTP/1.0: the daemon then neither chunks the reply nor keeps the connection, so the body
//! is everything up to EOF.

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A daemon reply: status and body.
pub struct Reply {
    /// HTTP status code
    pub status: u16,
    /// the body, whole
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON; for an error status, `Error response from daemon: <message>`.
    pub fn json(&self) -> Result<Value> {
        if self.status >= 400 {
            return Err(anyhow!(
                "Error response from daemon: {}",
                self.error_message()
            ));
        }
        serde_json::from_slice(&self.body).context("reading the daemon's reply")
    }

    /// The `message` of an error body (the body itself when it is not Docker's error JSON).
    pub fn error_message(&self) -> String {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).to_string())
            .trim_end()
            .to_string()
    }
}

/// Send `method path` with `headers` and a JSON `body` (when given) to the daemon at `host`
/// (`unix://…`, a socket path, or `tcp://`/`http://` host:port).
pub async fn request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> Result<Reply> {
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: berth\r\nUser-Agent: berth-cli\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if body.is_some() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            payload.len()
        ));
    }
    let request = format!("{head}\r\n{payload}");
    let raw = if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        let s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| cannot_connect(host))?;
        exchange(s, &request).await?
    } else {
        let socket = host.strip_prefix("unix://").unwrap_or(host);
        let s = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|_| cannot_connect(host))?;
        exchange(s, &request).await?
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed reply from the daemon"))?;
    let status = String::from_utf8_lossy(&raw[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed reply from the daemon"))?;
    Ok(Reply {
        status,
        body: raw[split + 4..].to_vec(),
    })
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, request: &str) -> Result<Vec<u8>> {
    s.write_all(request.as_bytes()).await?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await?;
    Ok(reply)
}

fn cannot_connect(host: &str) -> anyhow::Error {
    anyhow!("Cannot connect to the Berth daemon at {host}. Is the daemon running?")
}
