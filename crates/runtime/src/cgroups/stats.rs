//! Usage counters of a cgroup, version-neutral, and the parsers of the cgroupfs formats.
//!
//! Plain serialisable fields: the engine maps them onto Docker's `/containers/{id}/stats` JSON
//! (`memory_stats`, `cpu_stats.cpu_usage`, `cpu_stats.throttling_data`, `pids_stats`,
//! `blkio_stats`), adding host-wide numbers (system cpu usage, online cpus) itself.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::Serialize;

use super::{Error, Result};

/// A snapshot of a cgroup's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

/// Memory counters, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Current usage (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub usage: u64,
    /// Peak usage (v1 `memory.max_usage_in_bytes`, v2 `memory.peak` on 5.19+, else 0).
    pub max_usage: u64,
    /// The limit; `None` when unlimited (Docker then reports the host's memory).
    pub limit: Option<u64>,
    /// Page cache (v1 `total_cache`, v2 `file` of memory.stat).
    pub cache: u64,
    /// Times the limit was hit (v1 `memory.failcnt`; v2 `max` of memory.events).
    pub failcnt: u64,
    /// Every counter of memory.stat, as the kernel names them (Docker's `memory_stats.stats`).
    pub stat: BTreeMap<String, u64>,
}

/// CPU counters, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    /// Total CPU time (v1 `cpuacct.usage`, v2 `usage_usec` of cpu.stat).
    pub total_usage_ns: u64,
    /// Per-CPU time (v1 `cpuacct.usage_percpu`; empty on v2, which has no per-cpu counter).
    pub per_cpu_usage_ns: Vec<u64>,
    /// User time (v1 `cpuacct.stat` user ticks, v2 `user_usec`).
    pub user_usage_ns: u64,
    /// Kernel time (v1 `cpuacct.stat` system ticks, v2 `system_usec`).
    pub system_usage_ns: u64,
    pub throttling: ThrottlingStats,
}

/// CFS bandwidth throttling (`cpu.stat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThrottlingStats {
    /// Enforcement periods elapsed (`nr_periods`).
    pub periods: u64,
    /// Periods in which the cgroup was throttled (`nr_throttled`).
    pub throttled_periods: u64,
    /// Total time throttled, ns (v1 `throttled_time`, v2 `throttled_usec` * 1000).
    pub throttled_time_ns: u64,
}

/// Process counts (`pids.current`, `pids.max`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    pub current: u64,
    /// `None` when unlimited (`max`).
    pub limit: Option<u64>,
}

/// Block I/O counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioStats {
    /// Bytes per device and operation (v1 `Read`/`Write`/`Sync`/`Async`/`Discard`/`Total` from
    /// io_service_bytes_recursive; v2 `read`/`write`/`discard` from io.stat, as Docker reports).
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
}

/// One `major:minor op value` counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Reads a file that may legitimately be absent (a counter this kernel does not have).
pub(super) fn read_opt(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(c) => Ok(Some(c)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control...).
/// Lines whose value is not a number are skipped.
pub(super) fn flat_keyed(content: &str) -> BTreeMap<String, u64> {
    content
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

fn major_minor(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses v1 blkio files: `8:0 Read 4096` lines, plus a trailing `Total N` that is skipped.
pub(super) fn parse_blkio_v1(content: &str) -> Vec<BlkioEntry> {
    content
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [dev, op, value] = f.as_slice() else {
                return None;
            };
            let (major, minor) = major_minor(dev)?;
            Some(BlkioEntry {
                major,
                minor,
                op: (*op).to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// Parses v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=5 dios=6` lines.
pub(super) fn parse_io_stat_v2(content: &str) -> Vec<BlkioEntry> {
    let mut out = Vec::new();
    for line in content.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(major_minor) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let op = match k {
                "rbytes" => "read",
                "wbytes" => "write",
                "dbytes" => "discard",
                _ => continue,
            };
            if let Ok(value) = v.parse() {
                out.push(BlkioEntry {
                    major,
                    minor,
                    op: op.to_string(),
                    value,
                });
            }
        }
    }
    out
}

/// USER_HZ, the unit of cpuacct.stat (100 on every Linux build in practice).
pub(super) fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions and touches no memory of ours.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(100)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn parses_kernel_formats() {
        let kv =
            flat_keyed("cache 4096\nrss 8192\nhierarchical_memory_limit 9223372036854771712\n");
        assert_eq!(kv.get("cache"), Some(&4096));
        assert_eq!(kv.len(), 3);
        let v1 = parse_blkio_v1("8:0 Read 100\n8:0 Write 200\n8:0 Total 300\nTotal 300\n");
        assert_eq!(v1.len(), 3);
        assert_eq!(v1[1].op, "Write");
        assert_eq!(v1[1].value, 200);
        let v2 = parse_io_stat_v2("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(v2.len(), 3);
        assert_eq!((v2[0].major, v2[0].minor, v2[0].value), (259, 0, 10));
    }
}
