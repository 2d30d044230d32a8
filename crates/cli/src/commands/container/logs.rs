//! `berth logs`: fetch a container's logs, stdout to stdout and stderr to stderr.

use crate::client::daemon_err;
use anyhow::{bail, Result};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;
use std::io::Write;

/// `berth logs [OPTIONS] CONTAINER`
#[derive(Args, Debug, Clone)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs (accepted, not interpreted)
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

/// Parses a Go duration such as `1h30m`, `42m`, `10s`, `1.5h` into seconds.
pub fn parse_go_duration(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Some(total)
}

/// docker's `GetTimestamp`: a relative duration, an RFC 3339 time or date, or unix seconds,
/// to unix seconds.
pub fn parse_timestamp(value: &str, now: i64) -> Result<i64> {
    if let Some(d) = parse_go_duration(value) {
        return Ok(now - d as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, fmt) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(f) = value.parse::<f64>() {
        return Ok(f as i64);
    }
    bail!("invalid value for \"since\"/\"until\": failed to parse value as time or duration: {value:?}")
}

/// Runs `berth logs`.
pub async fn run(docker: &Docker, args: LogsArgs) -> Result<()> {
    let now = chrono::Utc::now().timestamp();
    let mut b = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(args.follow)
        .timestamps(args.timestamps)
        .tail(&args.tail);
    if let Some(s) = args.since.as_deref() {
        b = b.since(parse_timestamp(s, now)? as i32);
    }
    if let Some(u) = args.until.as_deref() {
        b = b.until(parse_timestamp(u, now)? as i32);
    }
    let mut stream = docker.logs(&args.container, Some(b.build()));
    while let Some(item) = stream.next().await {
        match item.map_err(daemon_err)? {
            LogOutput::StdErr { message } => {
                let mut e = std::io::stderr().lock();
                e.write_all(&message)?;
                e.flush()?;
            }
            other => {
                let mut o = std::io::stdout().lock();
                o.write_all(other.as_ref())?;
                o.flush()?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times() {
        assert_eq!(parse_go_duration("42m"), Some(2520.0));
        assert_eq!(parse_go_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_go_duration("10s"), Some(10.0));
        assert_eq!(parse_go_duration("x"), None);
        assert_eq!(parse_timestamp("10s", 1000).unwrap(), 990);
        assert_eq!(parse_timestamp("1970-01-01T00:01:00Z", 0).unwrap(), 60);
        assert_eq!(parse_timestamp("1970-01-02", 0).unwrap(), 86400);
        assert_eq!(parse_timestamp("1700000000", 0).unwrap(), 1_700_000_000);
        assert!(parse_timestamp("yesterday", 0).is_err());
    }
}
