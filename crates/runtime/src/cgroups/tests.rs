//! Tests against the real kernel. They need root; without it they skip, except under `CI=true`
//! where a missing privilege or controller fails loudly.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxResources, LinuxResourcesBuilder};

use super::*;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// True when the test can run; skips (or panics under CI) otherwise.
fn can_run(needs: &[&str]) -> bool {
    let problem = if !nix::unistd::Uid::effective().is_root() {
        Some("not root".to_string())
    } else if version() == CgroupVersion::V1 {
        needs
            .iter()
            .find(|c| !Path::new(CGROUP_ROOT).join(c).is_dir())
            .map(|c| format!("no v1 {c} hierarchy"))
    } else {
        None
    };
    match problem {
        None => true,
        Some(p) if in_ci() => panic!("cgroup test cannot run under CI=true: {p}"),
        Some(p) => {
            eprintln!("skipping cgroup test: {p}");
            false
        }
    }
}

/// A test cgroup and its processes, killed and removed when dropped (even on panic).
struct Guard {
    cg: Cgroup,
    children: Vec<Child>,
}

impl Guard {
    fn new() -> Guard {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "/berth/test-{}-{}-{:08x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let cg = Cgroup::new(&name).unwrap();
        cg.create().unwrap();
        Guard {
            cg,
            children: Vec::new(),
        }
    }

    /// Spawns `sh -c script` blocked on its stdin, moves it into the cgroup, then lets it run.
    fn spawn_inside(&mut self, script: &str) -> u32 {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("read _go; {script}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.cg.add_process(pid as i32).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        self.children.push(child);
        pid
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.kill_all(Signal::SIGKILL);
        if let Err(e) = self.cg.destroy() {
            eprintln!("test cleanup: {e}");
        }
    }
}

fn file(cg: &Cgroup, controller: &str, name: &str) -> String {
    let dir = cg
        .paths()
        .into_iter()
        .find(|(c, _)| c == controller || c == "unified")
        .map(|(_, d)| d)
        .unwrap();
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .trim()
        .to_string()
}

fn resources(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).unwrap()
}

fn proc_state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name, which may itself contain spaces.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .unwrap_or('?')
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn rejects_escaping_paths() {
    assert!(matches!(
        Cgroup::new("/berth/../../etc"),
        Err(Error::InvalidPath { .. })
    ));
    assert!(matches!(Cgroup::new("/"), Err(Error::InvalidPath { .. })));
    assert_eq!(normalise("berth//x/").unwrap(), "/berth/x");
}

#[test]
fn mountinfo_parsing_handles_hybrid_layout() {
    let sample = "\
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
50 1 0:40 / /mnt/my\\040dir rw - tmpfs tmpfs rw
";
    let m = parse_mountinfo(sample);
    assert_eq!(m.len(), 4);
    assert_eq!(m[1].controllers, ["cpu", "cpuacct"]);
    assert!(m[2].v2);
    assert_eq!(
        m[3].dir_of("/docker/abc/berth/x"),
        Path::new("/sys/fs/cgroup/memory/berth/x")
    );
    assert_eq!(
        m[0].dir_of("/berth/x"),
        Path::new("/sys/fs/cgroup/cpu/berth/x")
    );
    assert_eq!(unescape_mountinfo("/mnt/my\\040dir"), "/mnt/my dir");
}

#[test]
fn detects_the_hosts_version() {
    let fs_type = nix::sys::statfs::statfs(CGROUP_ROOT).map(|s| s.filesystem_type());
    let expect = if fs_type.ok() == Some(nix::sys::statfs::CGROUP2_SUPER_MAGIC) {
        CgroupVersion::V2
    } else {
        CgroupVersion::V1
    };
    assert_eq!(version(), expect);
}

#[test]
fn apply_writes_limits_and_stats_read_them_back() {
    if !can_run(&["memory", "cpu", "cpuacct", "cpuset", "pids"]) {
        return;
    }
    let mut g = Guard::new();
    let swap_supported =
        g.cg.paths()
            .iter()
            .any(|(c, d)| c == "memory" && d.join("memory.memsw.limit_in_bytes").exists());
    g.cg.apply(&resources(serde_json::json!({
        "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 42}
    })))
    .unwrap();
    // Lowering memory+swap below the current memory limit exercises the other write order.
    g.cg.apply(&resources(serde_json::json!({
        "memory": {"limit": 32 << 20, "swap": 32 << 20}
    })))
    .unwrap();
    let cg = &g.cg;
    match cg.version() {
        CgroupVersion::V1 => {
            assert_eq!(
                file(cg, "memory", "memory.limit_in_bytes"),
                (32u64 << 20).to_string()
            );
            if swap_supported {
                assert_eq!(
                    file(cg, "memory", "memory.memsw.limit_in_bytes"),
                    (32u64 << 20).to_string()
                );
            }
            assert_eq!(
                file(cg, "memory", "memory.soft_limit_in_bytes"),
                (32u64 << 20).to_string()
            );
            assert_eq!(file(cg, "cpu", "cpu.shares"), "512");
            assert_eq!(file(cg, "cpu", "cpu.cfs_quota_us"), "50000");
            assert_eq!(file(cg, "cpu", "cpu.cfs_period_us"), "100000");
            assert_eq!(file(cg, "cpuset", "cpuset.cpus"), "0");
            assert_eq!(file(cg, "cpuset", "cpuset.mems"), "0");
            assert_eq!(file(cg, "pids", "pids.max"), "42");
        }
        CgroupVersion::V2 => {
            assert_eq!(file(cg, "", "memory.max"), (32u64 << 20).to_string());
            assert_eq!(file(cg, "", "cpu.max"), "50000 100000");
            assert_eq!(file(cg, "", "pids.max"), "42");
            assert_eq!(file(cg, "", "cpuset.cpus"), "0");
        }
    }

    // A process inside, burning a little cpu, then sleeping.
    let pid = g.spawn_inside("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 100");
    assert_eq!(g.cg.procs().unwrap(), vec![pid as i32]);
    wait_until("the busy loop to finish", || proc_state(pid) == 'S');

    let s = g.cg.stats().unwrap();
    let cg = &g.cg;
    assert_eq!(s.memory.limit, Some(32 << 20));
    assert_eq!(s.pids.limit, Some(42));
    assert_eq!(s.pids.current, 1);
    assert!(s.memory.usage > 0, "{s:?}");
    assert!(s.cpu.total_usage_ns > 0, "{s:?}");
    if cg.version() == CgroupVersion::V1 {
        let usage: u64 = file(cg, "cpuacct", "cpuacct.usage").parse().unwrap();
        assert!(s.cpu.total_usage_ns <= usage);
        let online = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(s.cpu.per_cpu_usage_ns.len() >= online);
        let sum: u64 = s.cpu.per_cpu_usage_ns.iter().sum();
        // The counters are read one after another; a sleeping task does not move them much.
        assert!(sum.abs_diff(s.cpu.total_usage_ns) < 50_000_000, "{s:?}");
        let mem_usage: u64 = file(cg, "memory", "memory.usage_in_bytes").parse().unwrap();
        assert!(
            s.memory.usage.abs_diff(mem_usage) < 1 << 20,
            "{s:?} vs {mem_usage}"
        );
        assert!(s.memory.stat.contains_key("total_rss"), "{s:?}");
    }
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["cpu"]["throttling"]["periods"].is_u64());

    let paths: Vec<_> = g.cg.paths().into_iter().map(|(_, d)| d).collect();
    drop(g);
    for p in paths {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn v1_device_rules_are_written_in_order() {
    if version() != CgroupVersion::V1 || !can_run(&["devices"]) {
        return;
    }
    let g = Guard::new();
    let mut r = LinuxResourcesBuilder::default().build().unwrap();
    r.set_devices(Some(crate::defaults::default_device_cgroup_rules()));
    g.cg.apply(&r).unwrap();
    let list = file(&g.cg, "devices", "devices.list");
    let lines: Vec<&str> = list.lines().collect();
    for want in [
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 136:* rwm",
        "c 5:2 rwm",
    ] {
        assert!(lines.contains(&want), "{want} missing from {list:?}");
    }
    assert!(!lines.contains(&"a *:* rwm"), "{list:?}");
    assert!(!lines.iter().any(|l| l.starts_with("c 10:229")), "{list:?}");
}

#[test]
fn freeze_thaw_and_kill_all() {
    if !can_run(&["freezer", "pids"]) {
        return;
    }
    let mut g = Guard::new();
    let a = g.spawn_inside("exec sleep 100");
    // A child that forks: kill_all must get the grandchild too.
    let b = g.spawn_inside("sleep 100 & wait");
    wait_until("3 processes", || g.cg.procs().map_or(0, |p| p.len()) == 3);

    g.cg.freeze().unwrap();
    assert!(g.cg.is_frozen().unwrap());
    if g.cg.version() == CgroupVersion::V1 {
        assert_eq!(file(&g.cg, "freezer", "freezer.state"), "FROZEN");
    }
    // Frozen tasks sleep uninterruptibly in the freezer: /proc shows 'D'.
    assert_eq!(proc_state(a), 'D');
    g.cg.thaw().unwrap();
    assert!(!g.cg.is_frozen().unwrap());
    wait_until("thawed task sleeping", || proc_state(a) == 'S');

    g.cg.kill_all(Signal::SIGKILL).unwrap();
    for c in &mut g.children {
        let status = c.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status:?}"
        );
    }
    g.children.clear();
    wait_until("empty cgroup", || g.cg.procs().is_ok_and(|p| p.is_empty()));
    let _ = b;
    g.cg.destroy().unwrap();
    for (_, d) in g.cg.paths() {
        assert!(!d.exists());
    }
    // Destroy is idempotent.
    g.cg.destroy().unwrap();
}

#[test]
fn oom_kill_is_reported() {
    if !can_run(&["memory"]) {
        return;
    }
    let perl = Path::new("/usr/bin/perl");
    if !perl.exists() {
        assert!(
            !in_ci(),
            "perl is needed to allocate memory in the OOM test"
        );
        return;
    }
    let mut g = Guard::new();
    g.cg.apply(&resources(serde_json::json!({
        "memory": {"limit": 8 << 20, "swap": 8 << 20}
    })))
    .unwrap();
    assert!(!g.cg.oom_killed());
    g.spawn_inside("exec /usr/bin/perl -e '$x = \"x\" x (64 << 20); sleep 100'");
    let status = g.children[0].wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status:?}"
    );
    g.children.clear();
    assert!(g.cg.oom_killed());
    let s = g.cg.stats().unwrap();
    assert!(s.memory.max_usage > 0 || g.cg.version() == CgroupVersion::V2);
}
