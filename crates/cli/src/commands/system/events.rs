//! `berth events`: the daemon's event stream, printed as docker prints it.

use crate::client::daemon_err;
use crate::commands::filters::parse_filters;
use crate::format::template;
use anyhow::{bail, Result};
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use bollard::Docker;
use chrono::{DateTime, Local, TimeZone, Utc};
use clap::Args;
use futures_util::StreamExt;
use std::io::Write;

/// `berth events [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('json' or a Go template)
    #[arg(long)]
    pub format: Option<String>,
}

/// Docker's `GetTimestamp`: a duration (`10m`, `1h30m`) before now, an RFC 3339 time or
/// date, or Unix seconds (passed on as given). Returns the API's `seconds.nanoseconds`.
pub fn timestamp(value: &str, now: DateTime<Utc>) -> Result<String> {
    if let Some(d) = go_duration(value) {
        let t = now - d;
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if value.chars().all(|c| c.is_ascii_digit() || c == '.') && !value.is_empty() {
        return Ok(value.to_owned());
    }
    let parsed = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .and_then(|t| Local.from_local_datetime(&t).single())
                .map(|t| t.with_timezone(&Utc))
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|t| Local.from_local_datetime(&t).single())
                .map(|t| t.with_timezone(&Utc))
        });
    match parsed {
        Some(t) => Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        )),
        None => bail!(
            "invalid timestamp {value:?}: use a duration (10m), RFC 3339 time or Unix seconds"
        ),
    }
}

/// Go's `time.ParseDuration` for the units people use here (`h`, `m`, `s`, `ms`).
fn go_duration(value: &str) -> Option<chrono::Duration> {
    let mut rest = value;
    let mut total = chrono::Duration::zero();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let nanos_per = match unit {
            "h" => 3_600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            _ => return None,
        };
        total += chrono::Duration::nanoseconds((number * nanos_per) as i64);
        rest = next;
    }
    Some(total)
}

/// Docker's default event line: `TIME TYPE ACTION ID (k=v, ...)`, time in local RFC 3339
/// with nanoseconds.
pub fn default_line(e: &EventMessage) -> String {
    let mut line = String::new();
    let nanos = e.time_nano.unwrap_or(e.time.unwrap_or(0) * 1_000_000_000);
    let t = Local.timestamp_nanos(nanos);
    let zone = if t.offset().local_minus_utc() == 0 {
        "Z".to_owned()
    } else {
        t.format("%:z").to_string()
    };
    line.push_str(&format!("{}{zone} ", t.format("%Y-%m-%dT%H:%M:%S%.9f")));
    let kind = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let actor = e.actor.clone().unwrap_or_default();
    line.push_str(&format!(
        "{kind} {} {}",
        e.action.clone().unwrap_or_default(),
        actor.id.unwrap_or_default()
    ));
    let mut attributes: Vec<(String, String)> =
        actor.attributes.unwrap_or_default().into_iter().collect();
    if !attributes.is_empty() {
        attributes.sort();
        let joined: Vec<String> = attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", joined.join(", ")));
    }
    line
}

/// Runs `berth events`.
pub async fn run(docker: &Docker, args: EventsArgs) -> Result<()> {
    let now = Utc::now();
    let options = EventsOptions {
        since: args
            .since
            .as_deref()
            .map(|s| timestamp(s, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| timestamp(s, now))
            .transpose()?,
        filters: (!args.filter.is_empty())
            .then(|| parse_filters(&args.filter))
            .transpose()?,
    };
    let tmpl = match args.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("json") => Some(template::parse("{{json .}}")?),
        Some(t) => Some(template::parse(t)?),
    };
    let mut events = docker.events(Some(options));
    let mut stdout = std::io::stdout();
    while let Some(event) = events.next().await {
        let event = event.map_err(daemon_err)?;
        let line = match &tmpl {
            Some(t) => template::render(t, &serde_json::to_value(&event)?)?,
            None => default_line(&event),
        };
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_like_docker() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(timestamp("10m", now).unwrap(), "1699999400.000000000");
        assert_eq!(timestamp("1h30m", now).unwrap(), "1699994600.000000000");
        assert_eq!(timestamp("1700000000.5", now).unwrap(), "1700000000.5");
        assert_eq!(
            timestamp("2023-11-14T22:13:20Z", now).unwrap(),
            "1700000000.000000000"
        );
        assert!(timestamp("yesterday", now).is_err());
    }
}
