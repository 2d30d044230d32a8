//! End-to-end test support: a real `berthd` on a private socket and data root, a busybox
//! image built from Debian's busybox-static, and helpers to run the `berth` CLI (or the real
//! docker CLI) against it. Everything a test starts is torn down when its [`Daemon`] drops,
//! even when the test fails.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where the release binaries are: `BERTH_BIN_DIR`, else the target directory this test
/// binary was built into (`target/release/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Fails loudly when a prerequisite is missing under CI, and tells the developer otherwise.
pub fn require(condition: bool, what: &str) -> bool {
    if !condition {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and the test prerequisite is missing: {what}");
        }
        eprintln!("skipping: {what}");
    }
    condition
}

/// A busybox rootfs tarball built from /bin/busybox, shared by every test process of a run.
///
/// Why shared and not per process: nextest runs each test in its own process, and a
/// tarball per process (4 MB, left behind for the next test to reuse) filled /tmp with
/// gigabytes over a run. The name carries /bin/busybox's size and mtime, so an upgraded
/// busybox gets a new tarball; it is written under a temporary name and renamed into place,
/// so concurrent test processes never see a partial file.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        let busybox = std::fs::metadata("/bin/busybox")
            .expect("stat /bin/busybox (apt-get install busybox-static)");
        let tar = std::env::temp_dir().join(format!(
            "berth-test-busybox-{}-{}.tar",
            busybox.size(),
            busybox.mtime()
        ));
        if tar.exists() {
            return tar;
        }
        // Built beside its final name, so publishing it is one rename on one filesystem.
        let dir = tempfile::Builder::new()
            .prefix("berth-busybox-")
            .tempdir_in(tar.parent().unwrap_or(Path::new("/tmp")))
            .expect("tempdir");
        let root = dir.path().join("rootfs");
        for sub in ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/web"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy /bin/busybox");
        let list = Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
            }
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000:web:/home/web:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .expect("passwd");
        std::fs::write(root.join("etc/group"), "root:x:0:\nweb:x:1000:\naudio:x:29:web\nnogroup:x:65534:\n").expect("group");
        let partial = dir.path().join("busybox.tar");
        let status = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&partial).arg(".").status().expect("tar");
        assert!(status.success(), "tar of busybox rootfs failed");
        std::fs::rename(&partial, &tar).expect("publish busybox tarball");
        tar
    })
}

/// A running berthd with its own socket, data root and exec root.
pub struct Daemon {
    pub root: tempfile::TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
    /// This daemon's own default bridge (removed with its nft table on drop).
    pub bridge: String,
}

impl Daemon {
    /// Starts berthd and imports `busybox:latest`.
    pub fn start() -> Daemon {
        Daemon::start_with_config(&serde_json::json!({}))
    }

    /// Starts berthd with `config` as its daemon.json (dockerd's keys, e.g.
    /// `{"insecure-registries": [..]}` or `{"bip": ".."}`) and imports `busybox:latest`.
    ///
    /// Tests run in parallel, each with its own daemon: unless the config names them, every
    /// daemon gets its own bridge (`bt` + random hex) and a /24 of 10.64.0.0/10 that no host
    /// route uses, so their bridges, addresses and nft tables never collide.
    pub fn start_with_config(config: &serde_json::Value) -> Daemon {
        let root = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let socket = root.path().join("berth.sock");
        let mut config = config.clone();
        if let Some(object) = config.as_object_mut() {
            if !object.contains_key("bridge") {
                object.insert(
                    "bridge".into(),
                    serde_json::json!(format!("bt{}", random_hex(8))),
                );
            }
            if !object.contains_key("bip") {
                object.insert("bip".into(), serde_json::json!(free_test_subnet()));
            }
            if !object.contains_key("default-address-pools") {
                object.insert(
                    "default-address-pools".into(),
                    serde_json::json!([{"base": free_test_pool(), "size": 24}]),
                );
            }
        }
        let bridge = config["bridge"].as_str().unwrap_or("berth0").to_owned();
        let mut daemon = Daemon {
            root,
            socket,
            child: None,
            bridge,
        };
        std::fs::write(daemon.root.path().join("daemon.json"), config.to_string())
            .expect("write daemon.json");
        daemon.spawn().expect("start berthd");
        let out = daemon.berth(&[
            "import",
            busybox_tar().to_str().expect("utf-8 path"),
            "busybox:latest",
        ]);
        assert!(
            out.status.success(),
            "import busybox: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        daemon
    }

    fn data_root(&self) -> PathBuf {
        self.root.path().join("data")
    }

    fn exec_root(&self) -> PathBuf {
        self.root.path().join("exec")
    }

    /// Starts (or restarts) the berthd process and waits for its socket.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("berthd.log"))?;
        let child = Command::new(bin_dir().join("berthd"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.root.path().join("berthd.pid"))
            .arg("--config-file")
            .arg(self.root.path().join("daemon.json"))
            .arg("--log-level")
            .arg("debug")
            // A startup error is reported in a CI log that keeps only its tail: keep it short.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning berthd")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self
                .raw_request("GET", "/_ping", "")
                .is_ok_and(|r| r.contains("OK"))
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!("berthd exited with {status}: {}", self.log_tail(20));
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("berthd did not come up: {}", self.log_tail(20))
    }

    /// Kills berthd with SIGKILL (containers must survive this).
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Whether the daemon process is still alive.
    pub fn is_alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// berthd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("berthd.log")).unwrap_or_default()
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// DOCKER_HOST-style address of this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs `berth ARGS` against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_cmd(args).output().expect("run berth")
    }

    /// A `berth` command aimed at this daemon, for callers that need stdin or env.
    pub fn berth_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin_dir().join("berth"));
        cmd.env("BERTH_HOST", self.host())
            .env_remove("DOCKER_HOST")
            .args(args);
        cmd
    }

    /// Runs `berth ARGS`, asserts success, returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon log tail: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log(), 30)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Sends one raw HTTP/1.1 request on the socket and returns the whole response text.
    pub fn raw_request(&self, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    /// The full ID of a container.
    pub fn container_id(&self, name: &str) -> String {
        self.ok(&["inspect", "--format", "{{.Id}}", name])
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_alive() {
            let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.berth(&["rm", "-f", id]);
            }
            // User-defined networks take their bridge and nft table with them.
            let nets = self.berth(&[
                "network",
                "ls",
                "-q",
                "--no-trunc",
                "--filter",
                "type=custom",
            ]);
            for id in String::from_utf8_lossy(&nets.stdout).split_whitespace() {
                let _ = self.berth(&["network", "rm", id]);
            }
            if let Some(pid) = self.child.as_ref().map(|c| c.id()) {
                // SAFETY: plain kill(2) of our own child.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            }
            if let Some(mut child) = self.child.take() {
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if self.bridge != "none" && self.bridge != "berth0" {
            // The daemon leaves its bridge and table for the next start (as dockerd does);
            // a test daemon's go with it, and with them any veth still attached.
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &format!("berth_{}", self.bridge)])
                .stderr(Stdio::null())
                .status();
            let _ = Command::new("ip")
                .args(["link", "del", &self.bridge])
                .stderr(Stdio::null())
                .status();
            remove_docker_user_rules(&self.bridge);
        }
        // Whatever a failed test left mounted under our root goes too (deepest first).
        let root = self.root.path().to_string_lossy().into_owned();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for mount in mounts {
            let _ = nix::mount::umount2(mount.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Random lowercase hex of `n` characters.
pub fn random_hex(n: usize) -> String {
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("random uuid");
    uuid.chars()
        .filter(char::is_ascii_hexdigit)
        .take(n)
        .collect()
}

/// A `10.x.y.1/24` whose subnet no host route covers.
pub fn free_test_subnet() -> String {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for _ in 0..1000 {
        let bytes = u32::from_str_radix(&random_hex(4), 16).unwrap_or(0);
        let (x, y) = (64 + (bytes >> 8) % 64, bytes % 256);
        // /proc/net/route shows the destination as a little-endian hex word.
        let word = format!("{:08X}", u32::from_le_bytes([10, x as u8, y as u8, 0]));
        if !routes.contains(&word) {
            return format!("10.{x}.{y}.1/24");
        }
    }
    panic!("no free test subnet in 10.64.0.0/10");
}

/// A `10.x.y.0/20` (x in 128..192) for a test daemon's `default-address-pools`, so user
/// networks of daemons running in parallel get different subnets.
pub fn free_test_pool() -> String {
    let routes = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    for _ in 0..1000 {
        let bytes = u32::from_str_radix(&random_hex(4), 16).unwrap_or(0);
        let (x, y) = (128 + (bytes >> 8) % 64, (bytes % 16) * 16);
        let taken = (0..16).any(|n| {
            let word = format!(
                "{:08X}",
                u32::from_le_bytes([10, x as u8, (y + n) as u8, 0])
            );
            routes.contains(&word)
        });
        if !taken {
            return format!("10.{x}.{y}.0/20");
        }
    }
    panic!("no free test pool in 10.128.0.0/10");
}

/// Removes what a test daemon inserted into Docker's DOCKER-USER chain for `bridge`.
fn remove_docker_user_rules(bridge: &str) {
    let Ok(out) = Command::new("nft")
        .args(["-a", "list", "chain", "ip", "filter", "DOCKER-USER"])
        .stderr(Stdio::null())
        .output()
    else {
        return;
    };
    let quoted = format!("\"{bridge}\"");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.contains(&quoted) {
            if let Some(handle) = line.rsplit("# handle ").next() {
                let _ = Command::new("nft")
                    .args([
                        "delete",
                        "rule",
                        "ip",
                        "filter",
                        "DOCKER-USER",
                        "handle",
                        handle.trim(),
                    ])
                    .status();
            }
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `check` every 20 ms until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// stdout of an Output as trimmed text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// stderr of an Output as trimmed text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

/// Every cgroup directory of container `id` that still exists on the host.
pub fn leftover_cgroups(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
        for entry in entries.flatten() {
            for candidate in [entry.path().join("berth").join(id), entry.path().join(id)] {
                if candidate.exists() {
                    found.push(candidate);
                }
            }
        }
    }
    found
}

/// Mount points that mention container `id`.
pub fn leftover_mounts(id: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(id))
        .map(str::to_owned)
        .collect()
}

/// PIDs of zombie processes whose parent is `parent`.
pub fn zombie_children(parent: u32) -> Vec<u32> {
    let mut zombies = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name: state, ppid, ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let (state, ppid) = (
            fields.next(),
            fields.next().and_then(|p| p.parse::<u32>().ok()),
        );
        if state == Some("Z") && ppid == Some(parent) {
            zombies.extend(
                entry
                    .file_name()
                    .to_str()
                    .and_then(|p| p.parse::<u32>().ok()),
            );
        }
    }
    zombies
}
