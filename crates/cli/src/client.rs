//! Connecting to the daemon: host selection (`-H`, `BERTH_HOST`, `DOCKER_HOST`, default socket),
//! API version negotiation, and turning client errors into docker's messages.

use anyhow::{anyhow, Result};
use bollard::errors::Error as ApiError;
use bollard::Docker;
use std::sync::OnceLock;

/// Where `berth` connects when nothing else is configured.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Requests such as `wait` and `logs -f` legitimately last long; a year is "no timeout".
const TIMEOUT_SECS: u64 = 365 * 24 * 3600;

static HOST: OnceLock<String> = OnceLock::new();

/// Picks the daemon address: the flag, then `BERTH_HOST`, then `DOCKER_HOST`, then the default.
pub fn resolve_host(flag: Option<&str>) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    flag.map(str::to_string)
        .or_else(|| env("BERTH_HOST"))
        .or_else(|| env("DOCKER_HOST"))
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// Connects to `host` and negotiates the API version down to what the daemon speaks.
pub async fn connect(host: &str) -> Result<Docker> {
    let _ = HOST.set(host.to_string());
    let docker = if host.starts_with("unix://") || host.starts_with('/') {
        let path = host.strip_prefix("unix://").unwrap_or(host);
        Docker::connect_with_unix(path, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
    } else {
        return Err(anyhow!("unsupported host {host}: use unix:// or tcp://"));
    }
    .map_err(|_| anyhow!("{}", cannot_connect()))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| anyhow!("{}", api_message(&e)))
}

fn cannot_connect() -> String {
    let host = HOST.get().map(String::as_str).unwrap_or(DEFAULT_HOST);
    format!("Cannot connect to the Berth daemon at {host}. Is the daemon running?")
}

/// The text docker prints for a failed API call: `Error response from daemon: ...` for errors
/// the daemon returned, the connection hint when it could not be reached.
pub fn api_message(e: &ApiError) -> String {
    match e {
        ApiError::DockerResponseServerError { message, .. } => {
            format!("Error response from daemon: {}", message.trim_end())
        }
        ApiError::DockerStreamError { error } => error.clone(),
        ApiError::DockerContainerWaitError { error, code } => {
            if error.is_empty() {
                format!("container exited with status {code}")
            } else {
                error.clone()
            }
        }
        ApiError::SocketNotFoundError(_)
        | ApiError::HyperLegacyError { .. }
        | ApiError::IOError { .. } => cannot_connect(),
        other => other.to_string(),
    }
}

/// The HTTP status of a daemon error, if it was one.
pub fn status_code(e: &ApiError) -> Option<u16> {
    match e {
        ApiError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Converts a client error into an `anyhow` error carrying docker's message.
pub fn daemon_err(e: ApiError) -> anyhow::Error {
    anyhow!("{}", api_message(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins() {
        assert_eq!(resolve_host(Some("unix:///x.sock")), "unix:///x.sock");
    }

    #[test]
    fn server_errors_read_like_docker() {
        let e = ApiError::DockerResponseServerError {
            status_code: 404,
            message: "No such container: x".into(),
        };
        assert_eq!(
            api_message(&e),
            "Error response from daemon: No such container: x"
        );
        assert_eq!(status_code(&e), Some(404));
    }
}
