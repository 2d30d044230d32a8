//! `berth-shim` against docs/contracts.md: handshake, state.json, exit.json, json-file log and
//! rotation, shim.sock requests (kill, kill all, stdin, resize), signal forwarding, cleanup.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

macro_rules! require_env {
    () => {
        if !environment_ok() {
            return Ok(());
        }
    };
}

/// A shim started for a fixture; kills a still-running shim on drop.
struct Shim {
    state_dir: PathBuf,
    log: PathBuf,
    handshake: Value,
    status: i32,
}

impl Shim {
    fn start(f: &Fixture, extra: &[&str]) -> Result<Shim, Box<dyn std::error::Error>> {
        f.write_spec()?;
        let state_dir = f.dir.path().join("shim-state");
        let log = f.dir.path().join("logs").join("container.log");
        let out = Command::new(SHIM)
            .args(["--id", &f.id, "--bundle"])
            .arg(f.bundle())
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--log-path")
            .arg(&log)
            .args(extra)
            .output()?;
        let stdout = String::from_utf8(out.stdout)?;
        assert_eq!(
            stdout.lines().count(),
            1,
            "exactly one handshake line: {stdout:?}"
        );
        let handshake: Value = serde_json::from_str(stdout.trim())?;
        Ok(Shim {
            state_dir,
            log,
            handshake,
            status: out.status.code().unwrap_or(-1),
        })
    }

    fn shim_pid(&self) -> i32 {
        self.handshake["shim_pid"].as_i64().unwrap_or(0) as i32
    }

    fn pid(&self) -> i32 {
        self.handshake["pid"].as_i64().unwrap_or(0) as i32
    }

    /// Waits for the shim to exit and returns exit.json.
    fn wait_exit(&self) -> Result<Value, Box<dyn std::error::Error>> {
        let pid = self.shim_pid();
        assert!(
            wait_until(Duration::from_secs(20), || process_gone(pid)),
            "shim {pid} did not exit"
        );
        Ok(serde_json::from_slice(&std::fs::read(
            self.state_dir.join("exit.json"),
        )?)?)
    }

    /// Waits until the container logged "ready" (its signal trap is installed).
    fn wait_ready(&self) -> TestResult {
        let ok = wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("ready"))
        });
        assert!(ok, "container never logged ready");
        Ok(())
    }

    fn request(&self, req: Value) -> Result<Value, Box<dyn std::error::Error>> {
        let mut s = UnixStream::connect(self.state_dir.join("shim.sock"))?;
        s.write_all(format!("{req}\n").as_bytes())?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        Ok(serde_json::from_str(line.trim())?)
    }

    /// The log entries of `path` as (stream, log) pairs.
    fn entries(path: &Path) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
        let text = std::fs::read_to_string(path)?;
        let mut out = Vec::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line)?;
            assert!(
                v["time"].as_str().is_some_and(|t| t.ends_with('Z')),
                "{line}"
            );
            out.push((
                v["stream"].as_str().unwrap_or("").to_string(),
                v["log"].as_str().unwrap_or("").to_string(),
            ));
        }
        Ok(out)
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let pid = self.shim_pid();
        if pid > 0 && !process_gone(pid) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let cpid = self.pid();
        if cpid > 0 && !process_gone(cpid) {
            // SAFETY: as above.
            unsafe { libc::kill(cpid, libc::SIGKILL) };
        }
    }
}

#[test]
fn handshake_state_exit_and_log() -> TestResult {
    require_env!();
    let f = Fixture::new(
        "shimlog",
        &[
            "sh",
            "-c",
            "echo hello; echo oops >&2; printf partial; exit 3",
        ],
    )?;
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    assert!(shim.shim_pid() > 0 && shim.pid() > 0);
    let state: Value = serde_json::from_slice(&std::fs::read(shim.state_dir.join("state.json"))?)?;
    assert_eq!(state["pid"], shim.handshake["pid"]);
    assert_eq!(state["shim_pid"], shim.handshake["shim_pid"]);
    assert!(state["started_at"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z')));
    let exit = shim.wait_exit()?;
    assert_eq!(exit["exit_code"], 3);
    assert_eq!(exit["oom_killed"], false);
    assert!(exit["finished_at"].as_str().is_some());
    let mut entries = Shim::entries(&shim.log)?;
    // stdout and stderr are separate pipes: only the order within a stream is defined.
    entries.sort();
    assert_eq!(
        entries,
        vec![
            ("stderr".into(), "oops\n".into()),
            ("stdout".into(), "hello\n".into()),
            ("stdout".into(), "partial".into()),
        ]
    );
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    assert!(process_gone(shim.pid()));
    assert!(!shim.state_dir.join("shim.sock").exists());
    Ok(())
}

#[test]
fn log_rotation() -> TestResult {
    require_env!();
    let f = Fixture::new(
        "shimrot",
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done",
        ],
    )?;
    let shim = Shim::start(&f, &["--log-max-size", "2000", "--log-max-file", "3"])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    assert_eq!(shim.wait_exit()?["exit_code"], 0);
    let dir = shim.log.parent().ok_or("log dir")?;
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["container.log", "container.log.1", "container.log.2"]
    );
    for n in &names {
        assert!(std::fs::metadata(dir.join(n))?.len() <= 2000, "{n} too big");
    }
    let last = Shim::entries(&shim.log)?;
    assert_eq!(last.last().map(|e| e.1.as_str()), Some("line-199\n"));
    Ok(())
}

#[test]
fn kill_via_socket_and_cleanup() -> TestResult {
    require_env!();
    // pid 1 of a pid namespace only receives signals it has a handler for (SIGKILL aside).
    let f = Fixture::new(
        "shimkill",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; sleep 100 & wait",
        ],
    )?;
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    assert!(
        !f.leftover_cgroups().is_empty(),
        "cgroup should exist while running"
    );
    assert!(shim.request(json!({"resize": {"height": 10, "width": 10}}))?["error"].is_string());
    shim.wait_ready()?;
    assert_eq!(shim.request(json!({"kill": 15}))?, json!({"ok": true}));
    let exit = shim.wait_exit()?;
    assert_eq!(exit["exit_code"], 42);
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    Ok(())
}

#[test]
fn kill_all_via_socket() -> TestResult {
    require_env!();
    let f = Fixture::new("shimkillall", &["sh", "-c", "sleep 100 & sleep 100 & wait"])?;
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    assert_eq!(
        shim.request(json!({"kill": 9, "all": true}))?,
        json!({"ok": true})
    );
    assert_eq!(shim.wait_exit()?["exit_code"], 137);
    assert!(f.leftover_cgroups().is_empty());
    Ok(())
}

#[test]
fn stdin_via_socket() -> TestResult {
    require_env!();
    let f = Fixture::new("shimstdin", &["sh", "-c", "cat; echo eof"])?;
    let shim = Shim::start(&f, &["--stdin"])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    {
        let mut s = UnixStream::connect(shim.state_dir.join("shim.sock"))?;
        s.write_all(b"{\"stdin\": true}\n")?;
        let mut reader = BufReader::new(s.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        assert_eq!(line, "{\"ok\":true}\n");
        s.write_all(b"first\nsecond\n")?;
    } // closing the connection closes the container's stdin
    assert_eq!(shim.wait_exit()?["exit_code"], 0);
    let logs: Vec<String> = Shim::entries(&shim.log)?.into_iter().map(|e| e.1).collect();
    assert_eq!(logs.concat(), "first\nsecond\neof\n");
    Ok(())
}

#[test]
fn tty_mode_logs_pty_output() -> TestResult {
    require_env!();
    let f = Fixture::new("shimtty", &["sh", "-c", "tty; stty size"])?;
    let shim = Shim::start(&f, &["--tty"])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    assert_eq!(shim.wait_exit()?["exit_code"], 0);
    let out: String = Shim::entries(&shim.log)?.into_iter().map(|e| e.1).collect();
    assert!(out.starts_with("/dev/pts/0\r\n"), "{out:?}");
    Ok(())
}

#[test]
fn sigterm_to_shim_is_forwarded() -> TestResult {
    require_env!();
    let f = Fixture::new(
        "shimsig",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; sleep 100 & wait",
        ],
    )?;
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    shim.wait_ready()?;
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(shim.shim_pid(), libc::SIGTERM) }, 0);
    assert_eq!(shim.wait_exit()?["exit_code"], 42);
    Ok(())
}

#[test]
fn exec_failure_handshake_leaves_nothing() -> TestResult {
    require_env!();
    let f = Fixture::new("shimnf", &["/no/such/binary"])?;
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 1);
    assert_eq!(shim.handshake["kind"], "not_found", "{}", shim.handshake);
    assert!(shim.handshake["error"]
        .as_str()
        .is_some_and(|e| e.contains("/no/such/binary")));
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    let f = Fixture::new("shimnx", &["/etc/passwd"])?;
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 1);
    assert_eq!(
        shim.handshake["kind"], "not_executable",
        "{}",
        shim.handshake
    );
    // The supervisor exits too (nothing left running).
    let pid = shim.handshake["shim_pid"].as_i64().unwrap_or(0) as i32;
    assert_eq!(pid, 0);
    Ok(())
}

#[test]
fn oom_kill_is_recorded() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "shimoom",
        &[
            "sh",
            "-c",
            "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
        ],
    )?;
    f.spec["linux"]["resources"] = json!({"memory": {"limit": 16777216, "swap": 16777216}});
    let shim = Shim::start(&f, &[])?;
    assert_eq!(shim.status, 0, "{}", shim.handshake);
    let exit = shim.wait_exit()?;
    assert_eq!(exit["exit_code"], 137);
    assert_eq!(exit["oom_killed"], true);
    Ok(())
}
