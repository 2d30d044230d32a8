//! Unit parsing and human-readable rendering, matching Docker's `go-units` package.

use anyhow::{bail, Result};

/// Parses a memory size the way `docker run -m` does (`units.RAMInBytes`): a number with an
/// optional binary unit suffix `b`, `k`, `m`, `g`, `t`, `p` (optionally followed by `b` or `ib`),
/// case-insensitive. `512m` is 512 MiB.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, suffix) = lower.split_at(split);
    let value: f64 = match num.parse() {
        Ok(v) => v,
        Err(_) => bail!("invalid size: '{s}'"),
    };
    let mult: f64 = match suffix.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        "p" | "pb" | "pib" => 1024.0_f64.powi(5),
        _ => bail!("invalid size: '{s}'"),
    };
    Ok((value * mult) as i64)
}

/// `--memory-swap` accepts `-1` for unlimited on top of [`ram_in_bytes`].
pub fn memory_swap(s: &str) -> Result<i64> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// Parses `--cpus 1.5` into NanoCPUs (1500000000), as docker's `NanoCPUs.Set` does.
pub fn nano_cpus(s: &str) -> Result<i64> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("failed to parse {s} as a rational number"))?;
    if !v.is_finite() || v < 0.0 {
        bail!("invalid value {s} for --cpus");
    }
    let nanos = (v * 1e9).round();
    if nanos > i64::MAX as f64 {
        bail!("value is too precise");
    }
    Ok(nanos as i64)
}

/// Formats `value` with at most 3 significant digits like Go's `%.3g` for values below 1000,
/// dropping trailing zeros.
fn three_significant(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let digits = value.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).max(0) as usize;
    let mut s = format!("{value:.decimals$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// Docker's `units.HumanSize`: decimal units (`B`, `kB`, `MB`, ...) with 3 significant digits,
/// e.g. `1234567` -> `1.23MB`.
pub fn human_size(size: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut value = size as f64;
    let mut i = 0;
    while value >= 1000.0 && i < UNITS.len() - 1 {
        value /= 1000.0;
        i += 1;
    }
    format!("{}{}", three_significant(value), UNITS[i])
}

pub use berth_api::units::human_duration;

/// "5 minutes ago" for a unix timestamp, relative to now.
pub fn time_ago(unix_seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    let diff = (now - unix_seconds as f64).max(0.0);
    format!("{} ago", human_duration(diff))
}

/// Go's `time.Time.String()` rendering used by docker for `.CreatedAt`:
/// `2006-01-02 15:04:05 -0700 MST`, in the local zone (UTC here).
pub fn go_time_string(unix_seconds: i64) -> String {
    match chrono::DateTime::from_timestamp(unix_seconds, 0) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_units() {
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 * 1024 * 1024);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("64k").unwrap(), 65536);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("100b").unwrap(), 100);
        assert_eq!(ram_in_bytes("1.5m").unwrap(), 1572864);
        assert_eq!(ram_in_bytes("20MiB").unwrap(), 20 * 1024 * 1024);
        assert!(ram_in_bytes("abc").is_err());
        assert!(ram_in_bytes("12x").is_err());
        assert_eq!(memory_swap("-1").unwrap(), -1);
    }

    #[test]
    fn cpus() {
        assert_eq!(nano_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(nano_cpus("0.5").unwrap(), 500_000_000);
        assert_eq!(nano_cpus("2").unwrap(), 2_000_000_000);
        assert!(nano_cpus("x").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234567), "1.23MB");
        assert_eq!(human_size(12_345), "12.3kB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size(4_860_000), "4.86MB");
        assert_eq!(human_size(100_000_000), "100MB");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.4), "Less than a second");
        assert_eq!(human_duration(1.0), "1 second");
        assert_eq!(human_duration(5.0), "5 seconds");
        assert_eq!(human_duration(60.0), "About a minute");
        assert_eq!(human_duration(119.0), "About a minute");
        assert_eq!(human_duration(120.0), "2 minutes");
        assert_eq!(human_duration(3600.0), "About an hour");
        assert_eq!(human_duration(2.0 * 3600.0), "2 hours");
        assert_eq!(human_duration(3.0 * 86400.0), "3 days");
        assert_eq!(human_duration(15.0 * 86400.0), "2 weeks");
        assert_eq!(human_duration(90.0 * 86400.0), "3 months");
        assert_eq!(human_duration(800.0 * 86400.0), "2 years");
    }

    #[test]
    fn go_time() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
