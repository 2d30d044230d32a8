//! cgroup v2: the unified hierarchy at `/sys/fs/cgroup`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::stats::{self, BlkioStats, MemoryStats, PidsStats, Stats};
use super::{
    cgroup_mounts, create_dir, read, read_u64, wait_for, write, CgroupVersion, Error, Result,
    CGROUP_ROOT,
};

/// Controllers enabled for the container's subtree (when the parent offers them).
const CONTROLLERS: &[&str] = &["cpuset", "cpu", "io", "memory", "pids", "hugetlb", "misc"];

#[derive(Debug, Clone)]
pub(super) struct V2 {
    mount_point: PathBuf,
    dir: PathBuf,
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported {
        what: what.to_string(),
        version: CgroupVersion::V2,
    }
}

impl V2 {
    pub(super) fn new(path: &str) -> Result<V2> {
        let mount = cgroup_mounts()?
            .iter()
            .find(|m| m.v2 && m.mount_point == Path::new(CGROUP_ROOT))
            .ok_or(Error::NoHierarchy)?;
        Ok(V2 {
            mount_point: mount.mount_point.clone(),
            dir: mount.dir_of(path),
        })
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates every missing level, enabling the controllers in each ancestor first.
    ///
    /// Why top-down: a v2 controller's files only appear in a cgroup when its parent lists the
    /// controller in `cgroup.subtree_control`, and a parent can only enable what its own parent
    /// enabled for it.
    pub(super) fn create(&self) -> Result<()> {
        let rel = self
            .dir
            .strip_prefix(&self.mount_point)
            .unwrap_or(&self.dir)
            .to_path_buf();
        let mut current = self.mount_point.clone();
        for comp in rel.components() {
            enable_controllers(&current)?;
            current.push(comp);
            create_dir(&current)?;
        }
        Ok(())
    }

    pub(super) fn add_process(&self, pid: i32) -> Result<()> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    pub(super) fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            let value = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            write(&self.dir.join("pids.max"), &value)?;
        }
        if let Some(b) = r.block_io() {
            self.apply_io(b)?;
        }
        for l in r.hugepage_limits().iter().flatten() {
            let file = self.dir.join(format!("hugetlb.{}.max", l.page_size()));
            write(&file, &l.limit().to_string())?;
        }
        if r.network().as_ref().is_some_and(|n| {
            n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty())
        }) {
            return Err(unsupported(
                "network class id and priorities (net_cls/net_prio)",
            ));
        }
        // Device rules (r.devices()) are not applied on v2: they need a BPF_PROG_TYPE_CGROUP_DEVICE
        // program attached to the cgroup, which this module does not build yet. See
        // `Cgroup::apply`.
        for (key, value) in r.unified().iter().flatten() {
            // The key is a file of this cgroup, never a path elsewhere.
            if key.is_empty() || key.contains('/') || key.starts_with('.') {
                return Err(Error::InvalidPath {
                    path: key.clone(),
                    reason: "unified resource keys must be plain cgroup file names",
                });
            }
            write(&self.dir.join(key), value)?;
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<()> {
        let limit = m.limit();
        if let Some(l) = limit {
            write(&self.dir.join("memory.max"), &max_or(l))?;
        }
        if let Some(swap) = m.swap() {
            // OCI (like v1's memsw) gives memory+swap; v2's memory.swap.max is swap alone.
            let value = match (swap, limit) {
                (-1, _) => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                _ => {
                    return Err(Error::InvalidPath {
                        path: "linux.resources.memory.swap".to_string(),
                        reason: "a swap limit needs a memory limit on cgroup v2",
                    })
                }
            };
            let file = self.dir.join("memory.swap.max");
            // No swap accounting compiled in: ignored, like v1 without memsw.
            if file.exists() {
                write(&file, &value)?;
            }
        }
        if let Some(r) = m.reservation() {
            write(&self.dir.join("memory.low"), &max_or(r))?;
        }
        if m.swappiness().is_some_and(|s| s <= 100) {
            return Err(unsupported("memory swappiness"));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(unsupported("disabling the OOM killer"));
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<()> {
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            write(
                &self.dir.join("cpu.weight"),
                &shares_to_weight(shares).to_string(),
            )?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let quota = match c.quota() {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            let period = c.period().unwrap_or(100_000);
            write(&self.dir.join("cpu.max"), &format!("{quota} {period}"))?;
        }
        if let Some(burst) = c.burst() {
            write(&self.dir.join("cpu.max.burst"), &burst.to_string())?;
        }
        if let Some(idle) = c.idle() {
            write(&self.dir.join("cpu.idle"), &idle.to_string())?;
        }
        if c.realtime_period().is_some() || c.realtime_runtime().is_some() {
            return Err(unsupported("realtime cpu scheduling limits"));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(&self.dir.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(&self.dir.join("cpuset.mems"), mems)?;
        }
        Ok(())
    }

    fn apply_io(&self, b: &LinuxBlockIo) -> Result<()> {
        let bfq = self.dir.join("io.bfq.weight");
        if let Some(w) = b.weight() {
            // BFQ takes the v1 range (1..1000) as is; io.weight is 1..10000.
            if bfq.exists() {
                write(&bfq, &w.to_string())?;
            } else {
                write(
                    &self.dir.join("io.weight"),
                    &format!("default {}", blkio_to_io_weight(w)),
                )?;
            }
        }
        for d in b.weight_device().iter().flatten() {
            let Some(w) = d.weight() else { continue };
            let (file, w) = if bfq.exists() {
                (bfq.clone(), u64::from(w))
            } else {
                (self.dir.join("io.weight"), blkio_to_io_weight(w))
            };
            write(&file, &format!("{}:{} {}", d.major(), d.minor(), w))?;
        }
        let throttles = [
            (b.throttle_read_bps_device(), "rbps"),
            (b.throttle_write_bps_device(), "wbps"),
            (b.throttle_read_iops_device(), "riops"),
            (b.throttle_write_iops_device(), "wiops"),
        ];
        for (devs, key) in throttles {
            for d in devs.iter().flatten() {
                let value = format!("{}:{} {}={}", d.major(), d.minor(), key, d.rate());
                write(&self.dir.join("io.max"), &value)?;
            }
        }
        Ok(())
    }

    pub(super) fn set_frozen(&self, frozen: bool) -> Result<()> {
        let (want, state) = if frozen {
            ("1", "frozen")
        } else {
            ("0", "thawed")
        };
        let freeze = self.dir.join("cgroup.freeze");
        write(&freeze, want)?;
        let res = wait_for(
            &self.dir.join("cgroup.events"),
            state,
            || Ok(self.is_frozen()? == frozen),
            || write(&freeze, want),
        );
        if res.is_err() && frozen {
            let _ = write(&freeze, "0");
        }
        res
    }

    pub(super) fn is_frozen(&self) -> Result<bool> {
        let events = read(&self.dir.join("cgroup.events"))?;
        Ok(stats::flat_keyed(&events).get("frozen") == Some(&1))
    }

    /// SIGKILLs the whole cgroup with `cgroup.kill` (5.14+), atomically w.r.t. fork. Returns
    /// false when the kernel lacks it.
    pub(super) fn kill_all_native(&self) -> Result<bool> {
        let file = self.dir.join("cgroup.kill");
        if !file.exists() {
            return Ok(false);
        }
        write(&file, "1")?;
        Ok(true)
    }

    pub(super) fn stats(&self) -> Result<Stats> {
        if !self.dir.is_dir() {
            return Err(Error::Read {
                path: self.dir.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let d = &self.dir;
        let mut s = Stats::default();
        let stat = stats::read_opt(&d.join("memory.stat"))?
            .map(|c| stats::flat_keyed(&c))
            .unwrap_or_default();
        let events = stats::read_opt(&d.join("memory.events"))?
            .map(|c| stats::flat_keyed(&c))
            .unwrap_or_default();
        s.memory = MemoryStats {
            usage: opt_u64(&d.join("memory.current"))?.flatten().unwrap_or(0),
            max_usage: opt_u64(&d.join("memory.peak"))?.flatten().unwrap_or(0),
            limit: opt_u64(&d.join("memory.max"))?.flatten(),
            cache: stat.get("file").copied().unwrap_or(0),
            failcnt: events.get("max").copied().unwrap_or(0),
            stat,
        };
        if let Some(c) = stats::read_opt(&d.join("cpu.stat"))? {
            let kv = stats::flat_keyed(&c);
            let us = |k: &str| kv.get(k).copied().unwrap_or(0).saturating_mul(1000);
            s.cpu.total_usage_ns = us("usage_usec");
            s.cpu.user_usage_ns = us("user_usec");
            s.cpu.system_usage_ns = us("system_usec");
            s.cpu.throttling.periods = kv.get("nr_periods").copied().unwrap_or(0);
            s.cpu.throttling.throttled_periods = kv.get("nr_throttled").copied().unwrap_or(0);
            s.cpu.throttling.throttled_time_ns = us("throttled_usec");
        }
        if let Some(current) = opt_u64(&d.join("pids.current"))? {
            s.pids = PidsStats {
                current: current.unwrap_or(0),
                limit: opt_u64(&d.join("pids.max"))?.flatten(),
            };
        }
        if let Some(c) = stats::read_opt(&d.join("io.stat"))? {
            s.blkio = BlkioStats {
                io_service_bytes_recursive: stats::parse_io_stat_v2(&c),
            };
        }
        Ok(s)
    }
}

/// Reads a one-number file that may be absent: `None` = no file, `Some(None)` = `max`.
fn opt_u64(path: &Path) -> Result<Option<Option<u64>>> {
    if !path.exists() {
        return Ok(None);
    }
    read_u64(path).map(Some)
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// cpu.shares (2..262144, default 1024) -> cpu.weight (1..10000, default 100), runc's mapping.
fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// blkio.weight (10..1000) -> io.weight (1..10000), runc's mapping.
fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + ((w - 10) * 9999) / 990
}

fn enable_controllers(dir: &Path) -> Result<()> {
    let available = read(&dir.join("cgroup.controllers"))?;
    let enabled = read(&dir.join("cgroup.subtree_control"))?;
    let control = dir.join("cgroup.subtree_control");
    for c in CONTROLLERS {
        let offered = available.split_whitespace().any(|a| a == *c);
        let on = enabled.split_whitespace().any(|a| a == *c);
        if offered && !on {
            write(&control, &format!("+{c}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod conversion_tests {
    use super::*;

    #[test]
    fn runc_weight_mappings() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }
}
