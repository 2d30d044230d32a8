//! `berth stats`: live (or `--no-stream`, one) usage table with docker's columns, computed
//! as the docker CLI computes them from the API's stats JSON.

use crate::client::daemon_err;
use crate::format::table::{print_list, render_list, ListSpec};
use crate::format::template::ListFormat;
use crate::format::{short_id, units};
use anyhow::Result;
use bollard::models::{ContainerStatsResponse, ContainerSummary};
use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptions};
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;
use serde_json::json;
use std::io::Write;

/// `berth stats [OPTIONS] [CONTAINER...]`
#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Docker's CPU %: the container's CPU time over the host's, scaled to the online CPUs.
pub fn cpu_percent(
    total: u64,
    previous_total: u64,
    system: u64,
    previous_system: u64,
    online_cpus: u32,
) -> f64 {
    let cpu_delta = total as f64 - previous_total as f64;
    let system_delta = system as f64 - previous_system as f64;
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * f64::from(online_cpus) * 100.0
    } else {
        0.0
    }
}

/// The docker CLI's memory usage: usage minus the inactive page cache (cgroup v1
/// `total_inactive_file`, v2 `inactive_file`), which the kernel can reclaim at once.
pub fn memory_usage(usage: u64, stats: &std::collections::HashMap<String, u64>) -> u64 {
    if let Some(v) = stats.get("total_inactive_file").filter(|v| **v < usage) {
        return usage - v;
    }
    match stats.get("inactive_file") {
        Some(v) if *v < usage => usage - v,
        _ => usage,
    }
}

/// Go's `%.4g` followed by a binary unit, as `units.BytesSize` prints (`1.5MiB`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut value = size;
    let mut i = 0;
    while value >= 1024.0 && i < UNITS.len() - 1 {
        value /= 1024.0;
        i += 1;
    }
    let digits = if value == 0.0 {
        1
    } else {
        value.abs().log10().floor() as i32 + 1
    };
    let decimals = (4 - digits).max(0) as usize;
    let mut s = format!("{value:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[i])
}

/// One table row (docker's `StatsEntry` as its formatter exposes it).
fn row(reference: &str, s: &ContainerStatsResponse, trunc: bool) -> serde_json::Value {
    let id = s.id.clone().unwrap_or_default();
    let name = s.name.clone().unwrap_or_default();
    let name = name.strip_prefix('/').unwrap_or(&name).to_owned();
    let cpu = s.cpu_stats.clone().unwrap_or_default();
    let pre = s.precpu_stats.clone().unwrap_or_default();
    let usage_of = |c: &bollard::models::ContainerCpuStats| {
        c.cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0)
    };
    let online = cpu.online_cpus.unwrap_or(0);
    let online = if online == 0 {
        cpu.cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0, |p| p.len() as u32)
    } else {
        online
    };
    let cpu_pct = cpu_percent(
        usage_of(&cpu),
        usage_of(&pre),
        cpu.system_cpu_usage.unwrap_or(0),
        pre.system_cpu_usage.unwrap_or(0),
        online,
    );
    let mem = s.memory_stats.clone().unwrap_or_default();
    let mem_stats: std::collections::HashMap<String, u64> =
        mem.stats.clone().unwrap_or_default().into_iter().collect();
    let used = memory_usage(mem.usage.unwrap_or(0), &mem_stats);
    let limit = mem.limit.unwrap_or(0);
    let mem_pct = if limit > 0 {
        used as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0u64, 0u64);
    for net in s.networks.clone().unwrap_or_default().values() {
        rx += net.rx_bytes.unwrap_or(0);
        tx += net.tx_bytes.unwrap_or(0);
    }
    let (mut read, mut write) = (0u64, 0u64);
    let entries = s
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.clone())
        .unwrap_or_default();
    for e in entries {
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => read += e.value.unwrap_or(0),
            Some("write") => write += e.value.unwrap_or(0),
            _ => {}
        }
    }
    let pids = s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0);
    let human = |v: u64| units::human_size(v as i64);
    json!({
        "Container": reference,
        "ID": if trunc { short_id(&id) } else { id },
        "Name": name,
        "CPUPerc": format!("{cpu_pct:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(used as f64), bytes_size(limit as f64)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human(rx), human(tx)),
        "BlockIO": format!("{} / {}", human(read), human(write)),
        "PIDs": pids.to_string(),
    })
}

/// The containers to show: those named, else the running ones (all with `-a`).
async fn targets(docker: &Docker, args: &StatsArgs) -> Result<Vec<String>> {
    if !args.containers.is_empty() {
        return Ok(args.containers.clone());
    }
    let list: Vec<ContainerSummary> = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(args.all)
                .build(),
        ))
        .await
        .map_err(daemon_err)?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// One sample of every target, fetched in parallel (`stream=false`: with a CPU base).
async fn sample_all(
    docker: &Docker,
    names: &[String],
    trunc: bool,
) -> Result<Vec<serde_json::Value>> {
    let requests = names.iter().map(|name| async move {
        let options = StatsOptions {
            stream: false,
            one_shot: false,
        };
        let first = docker.stats(name, Some(options)).next().await;
        (name, first)
    });
    let mut rows = Vec::with_capacity(names.len());
    for (name, result) in futures_util::future::join_all(requests).await {
        match result {
            Some(Ok(stats)) => rows.push(row(name, &stats, trunc)),
            Some(Err(e)) => return Err(daemon_err(e)),
            None => anyhow::bail!("no stats returned for {name}"),
        }
    }
    Ok(rows)
}

/// Runs `berth stats`.
pub async fn run(docker: &Docker, args: StatsArgs) -> Result<()> {
    let format = ListFormat::parse(args.format.as_deref());
    let spec = ListSpec {
        default_table: DEFAULT_TABLE,
        headers: HEADERS,
    };
    if args.no_stream {
        let names = targets(docker, &args).await?;
        let rows = sample_all(docker, &names, !args.no_trunc).await?;
        return print_list(&format, &spec, &rows);
    }
    // Streaming: redraw the table about once a second, as docker does.
    loop {
        let began = std::time::Instant::now();
        let names = targets(docker, &args).await?;
        let rows = sample_all(docker, &names, !args.no_trunc).await?;
        let text = render_list(&format, &spec, &rows)?;
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "\x1b[2J\x1b[H{text}")?;
        stdout.flush()?;
        drop(stdout);
        tokio::time::sleep(std::time::Duration::from_secs(1).saturating_sub(began.elapsed())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_like_docker() {
        // 0.5 s of container CPU over 2 s of host CPU time on 4 CPUs: 100 %.
        assert_eq!(
            cpu_percent(
                1_500_000_000,
                1_000_000_000,
                4_000_000_000,
                2_000_000_000,
                4
            ),
            100.0
        );
        assert_eq!(cpu_percent(10, 10, 200, 100, 2), 0.0);
        assert_eq!(
            cpu_percent(20, 10, 100, 100, 2),
            0.0,
            "no system delta, no percentage"
        );
    }

    #[test]
    fn memory_usage_subtracts_inactive_cache() {
        let mut stats = std::collections::HashMap::new();
        stats.insert("total_inactive_file".to_owned(), 100);
        assert_eq!(memory_usage(1000, &stats), 900);
        stats.insert("total_inactive_file".to_owned(), 5000);
        assert_eq!(memory_usage(1000, &stats), 1000);
    }

    #[test]
    fn binary_sizes_like_go_units() {
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(7.6 * 1024.0 * 1024.0 * 1024.0), "7.6GiB");
        assert_eq!(bytes_size(123_456_789.0), "117.7MiB");
    }
}
