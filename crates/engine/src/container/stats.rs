//! `stats`: one sample of a container's usage counters (cgroup, network) together with the
//! host-wide numbers Docker reports next to them (system CPU time, online CPUs, host memory).

use std::sync::Arc;

use berth_runtime::cgroups::{Cgroup, Stats};
use chrono::{DateTime, Utc};

use crate::container::model::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::spec;

/// Counters of one network interface, from `/proc/<pid>/net/dev` inside the container's
/// network namespace (Docker's `networks.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkStats {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One sample. For a container that is not running, `running` is false and the counters are
/// zero (Docker reports zeros too).
#[derive(Debug, Clone)]
pub struct StatsSample {
    pub container: Container,
    pub running: bool,
    pub read: DateTime<Utc>,
    pub cgroup: Stats,
    /// Host CPU time of all CPUs, in nanoseconds (`/proc/stat`).
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// Total host memory, in bytes (the limit Docker reports for an unlimited container).
    pub host_memory: u64,
    pub networks: Vec<NetworkStats>,
}

impl Engine {
    /// Takes one sample of a container's usage. Reads run on a blocking thread.
    pub async fn stats(self: &Arc<Self>, reference: &str) -> Result<StatsSample> {
        let container = self.lookup(reference)?.snapshot();
        tokio::task::spawn_blocking(move || sample(container))
            .await
            .map_err(|e| Error::internal(format!("stats task: {e}")))?
    }
}

fn sample(container: Container) -> Result<StatsSample> {
    let read = Utc::now();
    let (system_cpu_ns, online_cpus) = system_cpu()?;
    let host_memory = host_memory();
    let mut out = StatsSample {
        running: false,
        read,
        cgroup: Stats::default(),
        system_cpu_ns,
        online_cpus,
        host_memory,
        networks: Vec::new(),
        container,
    };
    if !out.container.state.status.is_alive() || out.container.state.pid <= 0 {
        return Ok(out);
    }
    let path = spec::cgroups_path(&out.container.id);
    let cgroup = Cgroup::new(&path).map_err(|e| Error::internal(format!("cgroup {path}: {e}")))?;
    match cgroup.stats() {
        Ok(stats) => out.cgroup = stats,
        // The container exited between the status check and the read: report it stopped.
        Err(e) => {
            tracing::debug!(container = %out.container.id, error = %e, "reading cgroup stats");
            return Ok(out);
        }
    }
    out.running = true;
    let net_dev = format!("/proc/{}/net/dev", out.container.state.pid);
    if let Ok(text) = std::fs::read_to_string(&net_dev) {
        out.networks = parse_net_dev(&text);
    }
    Ok(out)
}

/// Host CPU time in nanoseconds, as Docker computes `system_cpu_usage` (the sum of the `cpu`
/// line of /proc/stat in clock ticks, scaled), and the number of online CPUs.
fn system_cpu() -> Result<(u64, u32)> {
    let text = std::fs::read_to_string("/proc/stat")
        .map_err(|e| Error::io("read", std::path::Path::new("/proc/stat"), e))?;
    Ok(parse_proc_stat(&text, clock_ticks()))
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

/// (system CPU ns, online CPUs) from /proc/stat's text.
fn parse_proc_stat(text: &str, ticks_per_second: u64) -> (u64, u32) {
    let mut total_ticks = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                // user nice system idle iowait irq softirq steal (guest time is already in user).
                total_ticks = fields.take(8).filter_map(|f| f.parse::<u64>().ok()).sum();
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (
        total_ticks * (1_000_000_000 / ticks_per_second.max(1)),
        cpus.max(1),
    )
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// Parses /proc/net/dev: two header lines, then `name: rx_bytes rx_packets rx_errs rx_drop
/// fifo frame compressed multicast tx_bytes tx_packets tx_errs tx_drop ...`.
fn parse_net_dev(text: &str) -> Vec<NetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let v: Vec<u64> = counters
                .split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            if v.len() < 12 {
                return None;
            }
            Some(NetworkStats {
                name: name.trim().to_owned(),
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errors: v[2],
                rx_dropped: v[3],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errors: v[10],
                tx_dropped: v[11],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_sums_the_cpu_line_and_counts_cpus() {
        let text = "cpu  100 0 50 800 10 0 5 0 0 0\ncpu0 50 0 25 400 5 0 2 0 0 0\ncpu1 50 0 25 400 5 0 3 0 0 0\nintr 1 2\n";
        assert_eq!(parse_proc_stat(text, 100), (965 * 10_000_000, 2));
    }

    #[test]
    fn net_dev_is_parsed_per_interface() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0\n  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n";
        let nets = parse_net_dev(text);
        assert_eq!(nets.len(), 2);
        assert_eq!(nets[0].name, "lo");
        assert_eq!(nets[0].rx_bytes, 140);
        assert_eq!(
            nets[1],
            NetworkStats {
                name: "eth0".into(),
                rx_bytes: 1000,
                rx_packets: 10,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 2000,
                tx_packets: 20,
                tx_errors: 3,
                tx_dropped: 4,
            }
        );
    }
}
