//! cgroup v1: one hierarchy per controller (or per group of co-mounted controllers).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxResources, LinuxThrottleDevice,
};

use super::stats::{self, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats};
use super::{
    cgroup_mounts, create_dir, read, read_u64, wait_for, write, CgroupVersion, Error, Result,
};

/// The v1 controllers a container joins (named hierarchies such as `name=systemd` are skipped).
pub(super) const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

/// v1 reports "no limit" as the largest page-aligned i64 (`PAGE_COUNTER_MAX * PAGE_SIZE`).
const UNLIMITED_MIN: u64 = 0x7FFF_FFFF_FFFF_F000;

#[derive(Debug, Clone)]
pub(super) struct V1 {
    hierarchies: Vec<Hierarchy>,
}

#[derive(Debug, Clone)]
struct Hierarchy {
    controllers: Vec<String>,
    mount_point: PathBuf,
    /// This container's directory in the hierarchy.
    dir: PathBuf,
}

impl V1 {
    pub(super) fn new(path: &str) -> Result<V1> {
        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        for m in cgroup_mounts()?.iter().filter(|m| !m.v2) {
            // The same hierarchy can be mounted twice; keep the first mount.
            if hierarchies
                .iter()
                .any(|h| h.controllers.iter().any(|c| m.controllers.contains(c)))
            {
                continue;
            }
            hierarchies.push(Hierarchy {
                controllers: m.controllers.clone(),
                mount_point: m.mount_point.clone(),
                dir: m.dir_of(path),
            });
        }
        if hierarchies.is_empty() {
            return Err(Error::NoHierarchy);
        }
        Ok(V1 { hierarchies })
    }

    pub(super) fn paths(&self) -> Vec<(String, PathBuf)> {
        let mut out: Vec<(String, PathBuf)> = self
            .hierarchies
            .iter()
            .flat_map(|h| h.controllers.iter().map(|c| (c.clone(), h.dir.clone())))
            .collect();
        out.sort();
        out
    }

    pub(super) fn dirs(&self) -> Vec<PathBuf> {
        self.hierarchies.iter().map(|h| h.dir.clone()).collect()
    }

    /// This cgroup's directory in the hierarchy of `controller`, if that controller is mounted.
    pub(super) fn dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.dir.as_path())
    }

    fn need(&self, controller: &str, what: &str) -> Result<&Path> {
        self.dir(controller).ok_or_else(|| Error::Unsupported {
            what: format!("{what} (no {controller} cgroup hierarchy)"),
            version: CgroupVersion::V1,
        })
    }

    pub(super) fn procs_file(&self) -> PathBuf {
        let dir = ["freezer", "pids", "memory"]
            .iter()
            .find_map(|c| self.dir(c))
            .unwrap_or(self.hierarchies[0].dir.as_path());
        dir.join("cgroup.procs")
    }

    pub(super) fn create(&self) -> Result<()> {
        for h in &self.hierarchies {
            if h.controllers.iter().any(|c| c == "cpuset") {
                create_cpuset_dirs(&h.mount_point, &h.dir)?;
            } else {
                std::fs::create_dir_all(&h.dir).map_err(|source| Error::Create {
                    path: h.dir.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    pub(super) fn add_process(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for h in &self.hierarchies {
            write(&h.dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    pub(super) fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            let dir = self.need("pids", "pids limit")?;
            let value = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            write(&dir.join("pids.max"), &value)?;
        }
        if let Some(b) = r.block_io() {
            self.apply_blkio(b)?;
        }
        if let Some(limits) = r.hugepage_limits() {
            if !limits.is_empty() {
                let dir = self.need("hugetlb", "hugepage limits")?;
                for l in limits {
                    let file = dir.join(format!("hugetlb.{}.limit_in_bytes", l.page_size()));
                    write(&file, &l.limit().to_string())?;
                }
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let dir = self.need("net_cls", "network class id")?;
                write(&dir.join("net_cls.classid"), &id.to_string())?;
            }
            if let Some(prios) = n.priorities() {
                if !prios.is_empty() {
                    let dir = self.need("net_prio", "network priorities")?;
                    for p in prios {
                        let value = format!("{} {}", p.name(), p.priority());
                        write(&dir.join("net_prio.ifpriomap"), &value)?;
                    }
                }
            }
        }
        if let Some(devices) = r.devices() {
            if !devices.is_empty() {
                let dir = self.need("devices", "device rules")?;
                for d in devices {
                    let file = if d.allow() {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    write(&dir.join(file), &device_rule(d))?;
                }
            }
        }
        if let Some(u) = r.unified() {
            if !u.is_empty() {
                return Err(Error::Unsupported {
                    what: "linux.resources.unified".to_string(),
                    version: CgroupVersion::V1,
                });
            }
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<()> {
        let wants_any = m.limit().is_some()
            || m.swap().is_some()
            || m.reservation().is_some()
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true);
        if !wants_any {
            return Ok(());
        }
        let dir = self.need("memory", "memory limits")?;
        let limit_file = dir.join("memory.limit_in_bytes");
        let memsw_file = dir.join("memory.memsw.limit_in_bytes");
        // memsw only exists when the kernel accounts swap (swapaccount=1); without it Docker
        // ignores --memory-swap with a warning, and so do we.
        let swap = m.swap().filter(|_| memsw_file.exists());
        match (m.limit(), swap) {
            (Some(limit), Some(swap)) => {
                // The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every
                // moment and rejects a write that would break it (EINVAL). So when the new total
                // (memsw) is above the current memory limit, raise memsw first; otherwise lower
                // the memory limit first.
                let current = read_u64(&limit_file)?.unwrap_or(u64::MAX);
                let swap_first = swap == -1 || u64::try_from(swap).is_ok_and(|s| s > current);
                if swap_first {
                    write(&memsw_file, &swap.to_string())?;
                    write(&limit_file, &limit.to_string())?;
                } else {
                    write(&limit_file, &limit.to_string())?;
                    write(&memsw_file, &swap.to_string())?;
                }
            }
            (Some(limit), None) => write(&limit_file, &limit.to_string())?,
            (None, Some(swap)) => write(&memsw_file, &swap.to_string())?,
            (None, None) => {}
        }
        if let Some(r) = m.reservation() {
            write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        if let Some(s) = m.swappiness() {
            // Docker sends no swappiness unless asked; values above 100 are invalid.
            if s <= 100 {
                write(&dir.join("memory.swappiness"), &s.to_string())?;
            }
        }
        if m.disable_oom_killer() == Some(true) {
            write(&dir.join("memory.oom_control"), "1")?;
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<()> {
        let wants_cpu = c.shares().is_some_and(|s| s > 0)
            || c.quota().is_some()
            || c.period().is_some()
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_period().is_some()
            || c.realtime_runtime().is_some();
        if wants_cpu {
            let dir = self.need("cpu", "cpu limits")?;
            if let Some(shares) = c.shares().filter(|s| *s > 0) {
                write(&dir.join("cpu.shares"), &shares.to_string())?;
            }
            let period_file = dir.join("cpu.cfs_period_us");
            let quota_file = dir.join("cpu.cfs_quota_us");
            match (c.period(), c.quota()) {
                (Some(period), Some(quota)) => {
                    // A period change is validated against the current quota (and vice versa):
                    // if the period write is refused, the quota has to go first.
                    if write(&period_file, &period.to_string()).is_err() {
                        write(&quota_file, &quota.to_string())?;
                        write(&period_file, &period.to_string())?;
                    } else {
                        write(&quota_file, &quota.to_string())?;
                    }
                }
                (Some(period), None) => write(&period_file, &period.to_string())?,
                (None, Some(quota)) => write(&quota_file, &quota.to_string())?,
                (None, None) => {}
            }
            if let Some(burst) = c.burst() {
                write(&dir.join("cpu.cfs_burst_us"), &burst.to_string())?;
            }
            if let Some(idle) = c.idle() {
                write(&dir.join("cpu.idle"), &idle.to_string())?;
            }
            if let Some(p) = c.realtime_period() {
                write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
            }
            if let Some(r) = c.realtime_runtime() {
                write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
            }
        }
        let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = c.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_some() || mems.is_some() {
            let dir = self.need("cpuset", "cpuset")?;
            if let Some(cpus) = cpus {
                write(&dir.join("cpuset.cpus"), cpus)?;
            }
            if let Some(mems) = mems {
                write(&dir.join("cpuset.mems"), mems)?;
            }
        }
        Ok(())
    }

    fn apply_blkio(&self, b: &LinuxBlockIo) -> Result<()> {
        let wants = b.weight().is_some()
            || b.leaf_weight().is_some()
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || [
                b.throttle_read_bps_device(),
                b.throttle_write_bps_device(),
                b.throttle_read_iops_device(),
                b.throttle_write_iops_device(),
            ]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
        if !wants {
            return Ok(());
        }
        let dir = self.need("blkio", "block I/O limits")?;
        // CFQ exposed blkio.weight; since the legacy schedulers were removed (5.0) only BFQ
        // offers weights, as blkio.bfq.weight. With neither (mq-deadline/none) there is nothing
        // to write: Docker refuses --blkio-weight there, and so do we.
        let weight_file = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| dir.join(f))
            .find(|f| f.exists());
        if let Some(w) = b.weight() {
            let file = weight_file.clone().ok_or_else(|| Error::Unsupported {
                what: "block I/O weight (no blkio.weight: the I/O scheduler has no weights)"
                    .to_string(),
                version: CgroupVersion::V1,
            })?;
            write(&file, &w.to_string())?;
        }
        if let Some(w) = b.leaf_weight() {
            let file = dir.join("blkio.leaf_weight");
            if file.exists() {
                write(&file, &w.to_string())?;
            }
        }
        if let Some(devs) = b.weight_device() {
            for d in devs {
                let Some(w) = d.weight() else { continue };
                let file = weight_file
                    .as_ref()
                    .map(|f| PathBuf::from(format!("{}_device", f.display())))
                    .ok_or_else(|| Error::Unsupported {
                        what: "per-device block I/O weight".to_string(),
                        version: CgroupVersion::V1,
                    })?;
                write(&file, &format!("{}:{} {}", d.major(), d.minor(), w))?;
            }
        }
        let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
            (
                b.throttle_read_bps_device(),
                "blkio.throttle.read_bps_device",
            ),
            (
                b.throttle_write_bps_device(),
                "blkio.throttle.write_bps_device",
            ),
            (
                b.throttle_read_iops_device(),
                "blkio.throttle.read_iops_device",
            ),
            (
                b.throttle_write_iops_device(),
                "blkio.throttle.write_iops_device",
            ),
        ];
        for (devs, file) in throttles {
            for d in devs.iter().flatten() {
                let value = format!("{}:{} {}", d.major(), d.minor(), d.rate());
                write(&dir.join(file), &value)?;
            }
        }
        Ok(())
    }

    pub(super) fn freeze(&self) -> Result<()> {
        let state = self.need("freezer", "freeze")?.join("freezer.state");
        write(&state, "FROZEN")?;
        // The kernel moves FREEZING -> FROZEN once every task has stopped; a task forked during
        // the transition can be missed, so the request is re-issued while waiting.
        let res = wait_for(
            &state,
            "FROZEN",
            || Ok(read(&state)?.trim() == "FROZEN"),
            || write(&state, "FROZEN"),
        );
        if res.is_err() {
            // Roll back: never leave a half-frozen container behind.
            let _ = write(&state, "THAWED");
        }
        res
    }

    pub(super) fn thaw(&self) -> Result<()> {
        let state = self.need("freezer", "thaw")?.join("freezer.state");
        write(&state, "THAWED")?;
        wait_for(
            &state,
            "THAWED",
            || Ok(read(&state)?.trim() == "THAWED"),
            || write(&state, "THAWED"),
        )
    }

    pub(super) fn is_frozen(&self) -> Result<bool> {
        let state = self.need("freezer", "freezer state")?.join("freezer.state");
        Ok(read(&state)?.trim() != "THAWED")
    }

    pub(super) fn stats(&self) -> Result<Stats> {
        // A destroyed cgroup is an error, not a page of zeros.
        let first = &self.hierarchies[0].dir;
        if !first.is_dir() {
            return Err(Error::Read {
                path: first.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let mut s = Stats::default();
        if let Some(dir) = self.dir("memory") {
            s.memory = memory_stats(dir)?;
        }
        if let Some(dir) = self.dir("cpuacct") {
            cpuacct_stats(dir, &mut s.cpu)?;
        }
        if let Some(dir) = self.dir("cpu") {
            if let Some(c) = stats::read_opt(&dir.join("cpu.stat"))? {
                let kv = stats::flat_keyed(&c);
                s.cpu.throttling.periods = kv.get("nr_periods").copied().unwrap_or(0);
                s.cpu.throttling.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
                s.cpu.throttling.throttled_time_ns = kv.get("throttled_time").copied().unwrap_or(0);
            }
        }
        if let Some(dir) = self.dir("pids") {
            s.pids = PidsStats {
                current: read_u64(&dir.join("pids.current"))?.unwrap_or(0),
                limit: read_u64(&dir.join("pids.max"))?,
            };
        }
        if let Some(dir) = self.dir("blkio") {
            s.blkio = blkio_stats(dir)?;
        }
        Ok(s)
    }
}

/// `type major:minor access`, the syntax of devices.allow/devices.deny.
fn device_rule(d: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    let access = d
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!(
        "{} {}:{} {}",
        d.typ().unwrap_or_default().as_str(),
        num(d.major()),
        num(d.minor()),
        access
    )
}

/// Creates `dir` and its missing ancestors below `mount_point` in the cpuset hierarchy.
///
/// Why: a new v1 cpuset cgroup starts with *empty* `cpuset.cpus` and `cpuset.mems` (unless the
/// parent has `cgroup.clone_children`), and the kernel refuses to attach a task to a cgroup with
/// no cpus or mems (ENOSPC) — so every new level, including the shared `/berth` parent, gets
/// its parent's values copied in before anything is placed below it.
fn create_cpuset_dirs(mount_point: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(mount_point).unwrap_or(dir);
    let mut current = mount_point.to_path_buf();
    for comp in rel.components() {
        let parent = current.clone();
        current.push(comp);
        create_dir(&current)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = current.join(file);
            if read(&own)?.trim().is_empty() {
                let inherited = read(&parent.join(file))?;
                write(&own, inherited.trim())?;
            }
        }
    }
    Ok(())
}

fn memory_stats(dir: &Path) -> Result<MemoryStats> {
    let stat = stats::read_opt(&dir.join("memory.stat"))?
        .map(|c| stats::flat_keyed(&c))
        .unwrap_or_default();
    let limit = read_u64(&dir.join("memory.limit_in_bytes"))?.filter(|l| *l < UNLIMITED_MIN);
    Ok(MemoryStats {
        usage: read_u64(&dir.join("memory.usage_in_bytes"))?.unwrap_or(0),
        max_usage: read_u64(&dir.join("memory.max_usage_in_bytes"))?.unwrap_or(0),
        limit,
        cache: stat
            .get("total_cache")
            .or_else(|| stat.get("cache"))
            .copied()
            .unwrap_or(0),
        failcnt: read_u64(&dir.join("memory.failcnt"))?.unwrap_or(0),
        stat,
    })
}

fn cpuacct_stats(dir: &Path, cpu: &mut CpuStats) -> Result<()> {
    cpu.total_usage_ns = read_u64(&dir.join("cpuacct.usage"))?.unwrap_or(0);
    if let Some(c) = stats::read_opt(&dir.join("cpuacct.usage_percpu"))? {
        cpu.per_cpu_usage_ns = c
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
    }
    if let Some(c) = stats::read_opt(&dir.join("cpuacct.stat"))? {
        // cpuacct.stat counts USER_HZ ticks.
        let kv = stats::flat_keyed(&c);
        let ns_per_tick = 1_000_000_000 / stats::clock_ticks_per_second();
        cpu.user_usage_ns = kv.get("user").copied().unwrap_or(0) * ns_per_tick;
        cpu.system_usage_ns = kv.get("system").copied().unwrap_or(0) * ns_per_tick;
    }
    Ok(())
}

fn blkio_stats(dir: &Path) -> Result<BlkioStats> {
    // CFQ's blkio.io_service_bytes_recursive is gone with CFQ (5.0); the throttle layer's file
    // counts the same I/O for every scheduler (what runc and Docker fall back to).
    for file in [
        "blkio.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
        "blkio.bfq.io_service_bytes_recursive",
    ] {
        if let Some(c) = stats::read_opt(&dir.join(file))? {
            let entries = stats::parse_blkio_v1(&c);
            if !entries.is_empty() {
                return Ok(BlkioStats {
                    io_service_bytes_recursive: entries,
                });
            }
        }
    }
    Ok(BlkioStats::default())
}
