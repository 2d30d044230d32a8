//! Container cgroups, on cgroup v1 (including the "hybrid" layout) and cgroup v2.
//!
//! A [`Cgroup`] names one container's cgroup (`linux.cgroupsPath`, like `/berth/<id>`) in every
//! hierarchy the host has. Lifecycle, driven by the runtime and the engine:
//!
//! 1. [`Cgroup::new`] resolves paths only (no side effect);
//! 2. [`Cgroup::create`] makes the directories (idempotent), [`Cgroup::apply`] writes the limits,
//!    [`Cgroup::add_process`] moves the container's init in (its children follow by fork);
//! 3. while running: [`Cgroup::freeze`]/[`Cgroup::thaw`] (pause/unpause), [`Cgroup::stats`],
//!    [`Cgroup::procs`], [`Cgroup::kill_all`], [`Cgroup::oom_killed`];
//! 4. [`Cgroup::destroy`] removes the directories once the processes are gone. Whoever created the
//!    cgroup destroys it (the shim on container exit, the runtime when a start fails); the shared
//!    parent (`/berth`) is never removed.
//!
//! Every method does blocking file I/O on cgroupfs (microseconds, but `freeze` and `destroy` may
//! sleep-poll for up to a few seconds): call them from `spawn_blocking` in async code.
//!
//! Version detection happens once per process ([`version`]): v2 only when `/sys/fs/cgroup` itself
//! is a cgroup2 mount. On a "hybrid" host (`/sys/fs/cgroup` a tmpfs holding v1 hierarchies plus a
//! v2 mount at `/sys/fs/cgroup/unified` with no controllers, as on these machines) the
//! controllers live on v1, so hybrid is driven as v1 and the unified hierarchy is ignored.

mod stats;
#[cfg(test)]
mod tests;
mod v1;
mod v2;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

pub use stats::{BlkioEntry, BlkioStats, CpuStats, MemoryStats, PidsStats, Stats, ThrottlingStats};

/// Where the cgroup filesystems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How long [`Cgroup::freeze`]/[`Cgroup::thaw`] wait for the kernel to report the new state.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Cgroup::destroy`] retries `rmdir` while the last processes finish exiting.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(2);

/// Errors of the cgroups module. Each names the file or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("read /proc/self/mountinfo: {source}")]
    Mountinfo { source: io::Error },
    #[error("no cgroup hierarchy is mounted under {CGROUP_ROOT}")]
    NoHierarchy,
    #[error("create cgroup directory {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("parse {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("{what} is not supported on this host ({version})")]
    Unsupported {
        what: String,
        version: CgroupVersion,
    },
    #[error("timed out after {waited:?} waiting for {path} to become {state}")]
    Timeout {
        path: PathBuf,
        state: &'static str,
        waited: Duration,
    },
    #[error("send {signal} to pid {pid}: {source}")]
    Signal {
        pid: i32,
        signal: nix::sys::signal::Signal,
        source: nix::Error,
    },
    #[error("remove cgroup directory {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    /// Several steps of a best-effort operation failed (teardown reports every error it met).
    #[error("{}", join_errors(.0))]
    Multiple(Vec<Error>),
}

fn join_errors(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Result of the cgroups module.
pub type Result<T> = std::result::Result<T, Error>;

/// Which cgroup interface the host's controllers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum CgroupVersion {
    /// One hierarchy per controller (also "hybrid" hosts: v1 controllers plus an empty v2 mount).
    V1,
    /// The unified hierarchy mounted at `/sys/fs/cgroup`.
    V2,
}

impl fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupVersion::V1 => f.write_str("cgroup v1"),
            CgroupVersion::V2 => f.write_str("cgroup v2"),
        }
    }
}

/// The host's cgroup version, detected once per process.
///
/// Why statfs and not "does /sys/fs/cgroup/unified exist": hybrid hosts have a cgroup2 mount too,
/// but with no controllers in it; only a cgroup2 filesystem *at* `/sys/fs/cgroup` means the
/// controllers are on v2.
pub fn version() -> CgroupVersion {
    static VERSION: OnceLock<CgroupVersion> = OnceLock::new();
    *VERSION.get_or_init(|| match nix::sys::statfs::statfs(CGROUP_ROOT) {
        Ok(st) if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => {
            CgroupVersion::V2
        }
        _ => CgroupVersion::V1,
    })
}

/// One container's cgroup in every hierarchy of the host. See the module docs for the lifecycle.
///
/// Dropping a `Cgroup` does nothing: the directories outlive the handle until [`Cgroup::destroy`].
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// `linux.cgroupsPath` as given (normalised to start with `/`).
    path: String,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    V1(v1::V1),
    V2(v2::V2),
}

impl Cgroup {
    /// Resolves `cgroups_path` (like `/berth/<id>`, relative to each hierarchy's root) in every
    /// hierarchy. Touches nothing. A path without a leading `/` is taken as if it had one.
    ///
    /// Rejects empty paths, the root itself and `..` components (a spec must not be able to
    /// point the runtime at another tenant's cgroup).
    pub fn new(cgroups_path: &str) -> Result<Cgroup> {
        let path = normalise(cgroups_path)?;
        let backend = match version() {
            CgroupVersion::V1 => Backend::V1(v1::V1::new(&path)?),
            CgroupVersion::V2 => Backend::V2(v2::V2::new(&path)?),
        };
        Ok(Cgroup { path, backend })
    }

    /// The cgroup version this handle drives.
    pub fn version(&self) -> CgroupVersion {
        match self.backend {
            Backend::V1(_) => CgroupVersion::V1,
            Backend::V2(_) => CgroupVersion::V2,
        }
    }

    /// The `cgroupsPath` this handle was made from (with a leading `/`).
    pub fn cgroups_path(&self) -> &str {
        &self.path
    }

    /// Directory per controller (`"memory"` -> `/sys/fs/cgroup/memory/berth/<id>`; on v2 one
    /// entry, `"unified"`), for debugging and for tests.
    pub fn paths(&self) -> Vec<(String, PathBuf)> {
        match &self.backend {
            Backend::V1(b) => b.paths(),
            Backend::V2(b) => vec![("unified".to_string(), b.dir().to_path_buf())],
        }
    }

    /// Creates the cgroup directories (and missing parents) in every hierarchy. Idempotent.
    ///
    /// On v1 it also seeds `cpuset.cpus`/`cpuset.mems` of each new level from its parent; on v2
    /// it enables the controllers in every ancestor's `cgroup.subtree_control`.
    pub fn create(&self) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.create(),
            Backend::V2(b) => b.create(),
        }
    }

    /// Writes the resource limits of `resources`: memory (limit, swap, reservation, swappiness,
    /// OOM killer), cpu (shares/weight, quota/period, cpuset), pids, block I/O (weight and
    /// throttles), hugetlb, and on v1 the device allow/deny list. Fields left `None` are not
    /// touched.
    ///
    /// Device rules on v2 need an eBPF program attached to the cgroup
    /// (`BPF_PROG_TYPE_CGROUP_DEVICE`); this module does not build one yet, so on v2 the device
    /// list is *not* enforced here (the container still only sees the device nodes the runtime
    /// creates in its `/dev`).
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.apply(resources),
            Backend::V2(b) => b.apply(resources),
        }
    }

    /// Moves process `pid` (and with it, its future children) into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.add_process(pid),
            Backend::V2(b) => b.add_process(pid),
        }
    }

    /// Freezes every process of the cgroup and returns once the kernel reports them frozen
    /// (`docker pause`). On timeout the cgroup is thawed again and an error returned.
    pub fn freeze(&self) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.freeze(),
            Backend::V2(b) => b.set_frozen(true),
        }
    }

    /// Thaws the cgroup and returns once the kernel reports it thawed (`docker unpause`).
    pub fn thaw(&self) -> Result<()> {
        match &self.backend {
            Backend::V1(b) => b.thaw(),
            Backend::V2(b) => b.set_frozen(false),
        }
    }

    /// Whether the cgroup is frozen (or freezing) right now.
    pub fn is_frozen(&self) -> Result<bool> {
        match &self.backend {
            Backend::V1(b) => b.is_frozen(),
            Backend::V2(b) => b.is_frozen(),
        }
    }

    /// The pids (in the caller's pid namespace) of every process in the cgroup, sorted.
    pub fn procs(&self) -> Result<Vec<i32>> {
        let file = match &self.backend {
            Backend::V1(b) => b.procs_file(),
            Backend::V2(b) => b.dir().join("cgroup.procs"),
        };
        let content = read(&file)?;
        let mut pids = Vec::new();
        for line in content.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let pid = line.parse::<i32>().map_err(|_| Error::Parse {
                path: file.clone(),
                content: line.to_string(),
            })?;
            pids.push(pid);
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Whether the kernel's OOM killer has killed a process of this cgroup (for `exit.json` and
    /// `State.OOMKilled`). `false` when the counter cannot be read (no memory controller, cgroup
    /// already gone).
    pub fn oom_killed(&self) -> bool {
        let (file, key) = match &self.backend {
            Backend::V1(b) => match b.dir("memory") {
                Some(d) => (d.join("memory.oom_control"), "oom_kill"),
                None => return false,
            },
            Backend::V2(b) => (b.dir().join("memory.events"), "oom_kill"),
        };
        read(&file)
            .ok()
            .and_then(|c| stats::flat_keyed(&c).get(key).copied())
            .is_some_and(|n| n > 0)
    }

    /// Sends `signal` to every process of the cgroup.
    ///
    /// The cgroup is frozen while pids are listed and signalled, then thawed: a process cannot
    /// fork a child that escapes the list between reading `cgroup.procs` and the `kill`. If the
    /// freeze fails (no freezer) the signals are sent anyway. Processes that exit meanwhile
    /// (`ESRCH`) are not errors.
    pub fn kill_all(&self, signal: nix::sys::signal::Signal) -> Result<()> {
        if let Backend::V2(b) = &self.backend {
            if signal == nix::sys::signal::Signal::SIGKILL && b.kill_all_native()? {
                return Ok(());
            }
        }
        let frozen = self.freeze().is_ok();
        let result = self.signal_procs(signal);
        let thawed = if frozen { self.thaw() } else { Ok(()) };
        result.and(thawed)
    }

    fn signal_procs(&self, signal: nix::sys::signal::Signal) -> Result<()> {
        let mut errors = Vec::new();
        for pid in self.procs()? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(source) => errors.push(Error::Signal {
                    pid,
                    signal,
                    source,
                }),
            }
        }
        into_result(errors)
    }

    /// Removes the cgroup directories in every hierarchy (not the shared parent).
    ///
    /// Why the retry: `rmdir` fails with `EBUSY` while the cgroup still has tasks, and a task that
    /// was just killed leaves its cgroup a little after `kill` (and after its parent saw it exit),
    /// so `EBUSY` is retried for up to 2 s. Missing directories are fine (idempotent). Every
    /// hierarchy is tried; all errors are reported.
    pub fn destroy(&self) -> Result<()> {
        let dirs = match &self.backend {
            Backend::V1(b) => b.dirs(),
            Backend::V2(b) => vec![b.dir().to_path_buf()],
        };
        let mut errors = Vec::new();
        for dir in dirs {
            if let Err(e) = remove_dir_retrying(&dir) {
                errors.push(e);
            }
        }
        into_result(errors)
    }

    /// Usage counters of the cgroup (memory, cpu, pids, block I/O). Counters a hierarchy does not
    /// offer are left at zero/empty.
    pub fn stats(&self) -> Result<Stats> {
        match &self.backend {
            Backend::V1(b) => b.stats(),
            Backend::V2(b) => b.stats(),
        }
    }
}

fn normalise(cgroups_path: &str) -> Result<String> {
    let invalid = |reason| Error::InvalidPath {
        path: cgroups_path.to_string(),
        reason,
    };
    let mut out = String::new();
    for comp in cgroups_path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
    {
        if comp == ".." {
            return Err(invalid("'..' is not allowed"));
        }
        if comp.contains('\0') {
            return Err(invalid("contains a NUL byte"));
        }
        out.push('/');
        out.push_str(comp);
    }
    if out.is_empty() {
        return Err(invalid("must name a cgroup below the root"));
    }
    Ok(out)
}

fn into_result(mut errors: Vec<Error>) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Multiple(errors)),
    }
}

/// Reads a whole cgroup file.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a cgroup file holding one number (`max` is returned as `None`).
fn read_u64(path: &Path) -> Result<Option<u64>> {
    let content = read(path)?;
    let t = content.trim();
    if t == "max" {
        return Ok(None);
    }
    t.parse::<u64>().map(Some).map_err(|_| Error::Parse {
        path: path.to_path_buf(),
        content: t.to_string(),
    })
}

/// Writes one value to an existing cgroup file (never creates it: a missing file means an
/// unsupported knob, and cgroupfs would refuse the create anyway).
fn write(path: &Path, value: &str) -> Result<()> {
    use std::io::Write as _;
    let res = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

fn create_dir(path: &Path) -> Result<()> {
    match std::fs::create_dir(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn remove_dir_retrying(dir: &Path) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < DESTROY_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(source) => {
                return Err(Error::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Polls `done` until it returns true or [`FREEZE_TIMEOUT`] passes; `nudge` runs every ~50 ms
/// (to re-issue a request the kernel may have only partly honoured).
fn wait_for(
    path: &Path,
    state: &'static str,
    mut done: impl FnMut() -> Result<bool>,
    mut nudge: impl FnMut() -> Result<()>,
) -> Result<()> {
    let start = Instant::now();
    let mut last_nudge = start;
    let mut pause = Duration::from_micros(50);
    loop {
        if done()? {
            return Ok(());
        }
        if start.elapsed() >= FREEZE_TIMEOUT {
            return Err(Error::Timeout {
                path: path.to_path_buf(),
                state,
                waited: start.elapsed(),
            });
        }
        if last_nudge.elapsed() >= Duration::from_millis(50) {
            nudge()?;
            last_nudge = Instant::now();
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// One line of `/proc/self/mountinfo` that is a cgroup filesystem.
#[derive(Debug, Clone)]
struct CgroupMount {
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    mount_point: PathBuf,
    /// Which cgroup of the hierarchy is the mount's root (`/` on the host, deeper in containers).
    root: String,
    /// v1 controllers of the hierarchy (`["cpu", "cpuacct"]`); empty for cgroup2.
    controllers: Vec<String>,
    v2: bool,
}

impl CgroupMount {
    /// The directory of cgroup `path` (absolute in the hierarchy) under this mount.
    fn dir_of(&self, path: &str) -> PathBuf {
        // Inside a container the mount's root may be the container's own cgroup; a path below it
        // is then addressed relative to that root (what runc does too).
        let rel = if self.root != "/" {
            path.strip_prefix(self.root.as_str())
                .filter(|r| r.is_empty() || r.starts_with('/'))
                .unwrap_or(path)
        } else {
            path
        };
        self.mount_point.join(rel.trim_start_matches('/'))
    }
}

/// The cgroup mounts under [`CGROUP_ROOT`], read once per process.
fn cgroup_mounts() -> Result<&'static [CgroupMount]> {
    static MOUNTS: OnceLock<Vec<CgroupMount>> = OnceLock::new();
    if let Some(m) = MOUNTS.get() {
        return Ok(m);
    }
    let content = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|source| Error::Mountinfo { source })?;
    Ok(MOUNTS.get_or_init(|| parse_mountinfo(&content)))
}

fn parse_mountinfo(content: &str) -> Vec<CgroupMount> {
    let mut mounts = Vec::new();
    for line in content.lines() {
        // id parent major:minor root mount-point options [optional...] - fstype source super-options
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(root), Some(mount_point), Some(fstype)) = (pre.get(3), pre.get(4), post.first())
        else {
            continue;
        };
        if !mount_point.starts_with(CGROUP_ROOT) {
            continue;
        }
        let v2 = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            post.get(2)
                .map(|opts| {
                    opts.split(',')
                        .filter(|o| v1::CONTROLLERS.contains(o))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        if !v2 && controllers.is_empty() {
            // name=systemd and other named hierarchies carry no resource controller.
            continue;
        }
        mounts.push(CgroupMount {
            mount_point: PathBuf::from(unescape_mountinfo(mount_point)),
            root: unescape_mountinfo(root),
            controllers,
            v2,
        });
    }
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
