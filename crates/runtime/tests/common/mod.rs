//! Shared fixtures for the runtime's integration tests: a busybox rootfs, Docker-like specs, and
//! guards that clean up containers, cgroups and state even when a test fails.
//!
//! These tests need root, a real kernel and /bin/busybox (apt-get install busybox-static). When
//! something is missing they skip with a message, except under `CI=true`, where they fail loudly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const RUNTIME: &str = env!("CARGO_BIN_EXE_berth-runtime");
pub const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

/// Returns false (after printing why) when the environment cannot run these tests; panics under
/// CI=true instead.
pub fn environment_ok() -> bool {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root");
    }
    if !Path::new("/bin/busybox").exists() {
        missing.push("/bin/busybox (apt-get install busybox-static)");
    }
    if !Path::new("/proc/self/ns/pid").exists() {
        missing.push("namespaces");
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!("runtime integration test needs: {}", missing.join(", "));
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// A bundle directory with a busybox rootfs, a state root, and cleanup on drop.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub id: String,
    pub spec: Value,
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Fixture {
    /// A fresh bundle for a container running `args`.
    pub fn new(name: &str, args: &[&str]) -> Result<Fixture, Box<dyn std::error::Error>> {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("rt-{name}-{}-{n}", std::process::id());
        let dir = tempfile::Builder::new().prefix("berth-rt-").tempdir()?;
        // Reachable by a container root mapped to an unprivileged host uid (user namespaces).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )?;
        make_rootfs(&dir.path().join("rootfs"))?;
        let spec = base_spec(&id, args);
        Ok(Fixture { dir, id, spec })
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("state-root")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn cgroups_path(&self) -> String {
        format!("/berth/{}", self.id)
    }

    /// Writes config.json from `self.spec`.
    pub fn write_spec(&self) -> TestResult {
        std::fs::write(
            self.dir.path().join("config.json"),
            serde_json::to_vec_pretty(&self.spec)?,
        )?;
        Ok(())
    }

    /// `berth-runtime [--root R] ARGS...`
    pub fn runtime(&self, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        let root = self.root();
        let mut cmd = Command::new(RUNTIME);
        cmd.arg("--root").arg(&root).args(args);
        Ok(cmd.output()?)
    }

    /// Like [`Fixture::runtime`] but with stdout/stderr going to files: the container inherits
    /// them (as with runc), so a pipe would stay open as long as the container runs.
    pub fn runtime_detached(&self, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        let out_path = self.dir.path().join("runtime.out");
        let err_path = self.dir.path().join("runtime.err");
        let status = Command::new(RUNTIME)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?)
            .status()?;
        Ok(Output {
            status,
            stdout: std::fs::read(&out_path)?,
            stderr: std::fs::read(&err_path)?,
        })
    }

    /// Writes the spec and runs the container in the foreground; returns (exit code, stdout,
    /// stderr).
    pub fn run(&self) -> Result<(i32, String, String), Box<dyn std::error::Error>> {
        self.write_spec()?;
        let bundle = self.bundle();
        let out = self.runtime(&["run", "--bundle", bundle.to_str().ok_or("path")?, &self.id])?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Every cgroup directory of this container that still exists.
    pub fn leftover_cgroups(&self) -> Vec<PathBuf> {
        cgroup_dirs(&self.cgroups_path())
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let root = self.root();
        let _ = Command::new(RUNTIME)
            .arg("--root")
            .arg(&root)
            .args(["delete", "--force", &self.id])
            .output();
        for dir in cgroup_dirs(&self.cgroups_path()) {
            if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill has no memory-safety preconditions.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while dir.exists() && std::fs::remove_dir(&dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The candidate directories of cgroup `path` in every hierarchy under /sys/fs/cgroup.
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !e.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
                out.push(p.join(rel));
            }
        }
    }
    out.push(Path::new("/sys/fs/cgroup").join(rel));
    out
}

/// A busybox rootfs: bin/busybox, one symlink per applet, etc/passwd, etc/group.
pub fn make_rootfs(root: &Path) -> TestResult {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin)?;
    for d in ["etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::copy("/bin/busybox", bin.join("busybox"))?;
    let list = Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    Ok(())
}

/// Docker's defaults (from `berth_runtime::defaults`) around `args`.
pub fn base_spec(id: &str, args: &[&str]) -> Value {
    use berth_runtime::defaults;
    let caps: Vec<String> = defaults::default_capabilities()
        .iter()
        .map(|c| format!("CAP_{c}"))
        .collect();
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "noNewPrivileges": false,
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "rt-host",
        "mounts": serde_json::to_value(defaults::default_mounts()).unwrap_or(json!([])),
        "linux": {
            "cgroupsPath": format!("/berth/{id}"),
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"},
            ],
            "maskedPaths": defaults::default_masked_paths(),
            "readonlyPaths": defaults::default_readonly_paths(),
        },
    })
}

/// The CapEff bitmask for the capability names in `caps`.
pub fn cap_mask(caps: &[oci_spec::runtime::Capability]) -> u64 {
    caps.iter()
        .map(|c| 1u64 << berth_runtime::defaults::capability_number(*c))
        .fold(0, |a, b| a | b)
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` is gone (or a zombie).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(true),
    }
}
