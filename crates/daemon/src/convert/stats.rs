//! `GET /containers/{id}/stats`: an engine [`StatsSample`] as Docker's `ContainerStatsResponse`
//! JSON (cgroup v1 field set).

use berth_engine::StatsSample;
use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

/// Docker's zero time, for `preread` when there is no previous sample.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One stats message; `pre` is the previous sample (`precpu_stats`, `preread`), if any.
pub fn stats(sample: &StatsSample, pre: Option<&StatsSample>) -> Value {
    let c = &sample.container;
    let read = if sample.running {
        sample.read.to_rfc3339_opts(SecondsFormat::Nanos, true)
    } else {
        ZERO_TIME.to_owned()
    };
    let preread = pre
        .filter(|p| p.running)
        .map(|p| p.read.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_else(|| ZERO_TIME.to_owned());
    let memory = &sample.cgroup.memory;
    let memory_stats = if sample.running {
        // Docker reports the host's memory for an unlimited container, and never more.
        let limit = memory
            .limit
            .map_or(sample.host_memory, |l| l.min(sample.host_memory.max(1)));
        json!({
            "usage": memory.usage,
            "max_usage": memory.max_usage,
            "failcnt": memory.failcnt,
            "limit": limit,
            "stats": memory.stat,
        })
    } else {
        json!({})
    };
    let pids = &sample.cgroup.pids;
    let mut pids_stats = Map::new();
    if sample.running {
        pids_stats.insert("current".into(), json!(pids.current));
        if let Some(limit) = pids.limit {
            pids_stats.insert("limit".into(), json!(limit));
        }
    }
    let blkio: Vec<Value> = sample
        .cgroup
        .blkio
        .io_service_bytes_recursive
        .iter()
        .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
        .collect();
    let networks: Map<String, Value> = sample
        .networks
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                json!({
                    "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets,
                    "rx_errors": n.rx_errors, "rx_dropped": n.rx_dropped,
                    "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                    "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped,
                }),
            )
        })
        .collect();
    let mut out = json!({
        "name": format!("/{}", c.name),
        "id": c.id,
        "read": read,
        "preread": preread,
        "num_procs": 0,
        "pids_stats": pids_stats,
        "blkio_stats": {
            "io_service_bytes_recursive": if sample.running { json!(blkio) } else { Value::Null },
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "storage_stats": {},
        "cpu_stats": cpu_stats(Some(sample)),
        "precpu_stats": cpu_stats(pre),
        "memory_stats": memory_stats,
    });
    if sample.running {
        out["networks"] = Value::Object(networks);
    }
    out
}

fn cpu_stats(sample: Option<&StatsSample>) -> Value {
    let Some(sample) = sample.filter(|s| s.running) else {
        return json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}});
    };
    let cpu = &sample.cgroup.cpu;
    let mut usage = json!({
        "total_usage": cpu.total_usage_ns,
        "usage_in_kernelmode": cpu.system_usage_ns,
        "usage_in_usermode": cpu.user_usage_ns,
    });
    if !cpu.per_cpu_usage_ns.is_empty() {
        usage["percpu_usage"] = json!(cpu.per_cpu_usage_ns);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": sample.system_cpu_ns,
        "online_cpus": sample.online_cpus,
        "throttling_data": {
            "periods": cpu.throttling.periods,
            "throttled_periods": cpu.throttling.throttled_periods,
            "throttled_time": cpu.throttling.throttled_time_ns,
        },
    })
}
