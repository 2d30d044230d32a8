//! The `berth-runtime` CLI round trip, like runc's: create, state, start, kill, delete; `run
//! --detach`; `--console-socket`; `spec`.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
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

fn state(f: &Fixture) -> Result<Value, Box<dyn std::error::Error>> {
    let out = f.runtime(&["state", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn create_start_state_kill_delete() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "lifecycle",
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; echo started > /tmp/started; sleep 100 & wait",
        ],
    )?;
    f.spec["annotations"] = json!({"org.example": "yes"});
    f.write_spec()?;
    let bundle = f.bundle();
    let pid_file = f.dir.path().join("pid");
    let out = f.runtime_detached(&[
        "create",
        "--bundle",
        bundle.to_str().ok_or("path")?,
        "--pid-file",
        pid_file.to_str().ok_or("path")?,
        &f.id,
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = state(&f)?;
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], json!(f.id));
    assert_eq!(s["ociVersion"], "1.0.2");
    assert_eq!(s["annotations"]["org.example"], "yes");
    assert_eq!(s["bundle"], json!(bundle));
    let pid = s["pid"].as_i64().ok_or("pid")? as i32;
    assert_eq!(std::fs::read_to_string(&pid_file)?.trim(), pid.to_string());
    // Parked before exec: the process has not run yet.
    assert!(!f.rootfs().join("tmp/started").exists());
    assert!(!process_gone(pid));

    // Status guards.
    let again =
        f.runtime_detached(&["create", "--bundle", bundle.to_str().ok_or("path")?, &f.id])?;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let out = f.runtime(&["start", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(10), || f
        .rootfs()
        .join("tmp/started")
        .exists()));
    assert_eq!(state(&f)?["status"], "running");
    let out = f.runtime(&["start", &f.id])?;
    assert!(!out.status.success(), "second start must fail");
    let out = f.runtime(&["delete", &f.id])?;
    assert!(
        !out.status.success(),
        "delete of a running container needs --force"
    );

    let out = f.runtime(&["kill", &f.id, "SIGTERM"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(10), || state(&f)
        .is_ok_and(|s| s["status"] == "stopped")));

    let out = f.runtime(&["delete", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!f.root().join(&f.id).exists());
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    let out = f.runtime(&["state", &f.id])?;
    assert!(!out.status.success());
    Ok(())
}

#[test]
fn delete_force_kills_running_container() -> TestResult {
    require_env!();
    let f = Fixture::new("forcedel", &["sleep", "100"])?;
    f.write_spec()?;
    let bundle = f.bundle();
    let out = f.runtime_detached(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().ok_or("path")?,
        &f.id,
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = state(&f)?;
    assert_eq!(s["status"], "running");
    let pid = s["pid"].as_i64().ok_or("pid")? as i32;
    let out = f.runtime(&["kill", "--all", &f.id, "CONT"])?;
    assert!(
        out.status.success(),
        "SIGCONT to all: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = f.runtime(&["delete", "--force", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(5), || process_gone(pid)));
    assert!(!f.root().join(&f.id).exists());
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    Ok(())
}

#[test]
fn console_socket_receives_pty_master() -> TestResult {
    require_env!();
    let mut f = Fixture::new("console", &["sh", "-c", "tty; echo hi-from-tty"])?;
    f.spec["process"]["terminal"] = json!(true);
    f.write_spec()?;
    let sock_path = f.dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path)?;
    let bundle = f.bundle();
    let out = f.runtime_detached(&[
        "create",
        "--bundle",
        bundle.to_str().ok_or("path")?,
        "--console-socket",
        sock_path.to_str().ok_or("path")?,
        &f.id,
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (conn, _) = listener.accept()?;
    let master = recv_fd(&conn)?;
    let out = f.runtime(&["start", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut output = Vec::new();
    let mut file = std::fs::File::from(master);
    // Reading the master ends with EIO once the container (the only slave holder) exits.
    let _ = std::io::Read::read_to_end(&mut file, &mut output);
    let text = String::from_utf8_lossy(&output);
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("hi-from-tty"), "{text:?}");
    Ok(())
}

fn recv_fd(conn: &std::os::unix::net::UnixStream) -> Result<OwnedFd, Box<dyn std::error::Error>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this fd for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err("no fd received".into())
}

#[test]
fn spec_writes_a_runnable_default_config() -> TestResult {
    require_env!();
    let f = Fixture::new("spec", &["true"])?;
    let dir = tempfile::tempdir()?;
    let out = std::process::Command::new(RUNTIME)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec: Value = serde_json::from_slice(&std::fs::read(dir.path().join("config.json"))?)?;
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert!(spec["linux"]["maskedPaths"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    // Refuses to overwrite, like runc.
    let again = std::process::Command::new(RUNTIME)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()?;
    assert!(!again.status.success());
    drop(f);
    Ok(())
}

#[test]
fn exec_into_running_container() -> TestResult {
    require_env!();
    let f = Fixture::new("exec", &["sleep", "100"])?;
    f.write_spec()?;
    let bundle = f.bundle();
    let out = f.runtime_detached(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().ok_or("path")?,
        &f.id,
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Same pid namespace, hostname and cgroup as the init; a pid other than 1.
    let out = f.runtime(&[
        "exec",
        &f.id,
        "sh",
        "-c",
        "echo $$; hostname; grep -c /berth/ /proc/self/cgroup >/dev/null && echo in-cgroup; cat /proc/1/comm",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_ne!(lines[0], "1");
    assert_eq!(&lines[1..], &["rt-host", "in-cgroup", "sleep"]);
    // Exit codes, user switch, not-found.
    let out = f.runtime(&[
        "exec",
        "--user",
        "1000:1000",
        &f.id,
        "sh",
        "-c",
        "id -u; exit 7",
    ])?;
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000\n");
    let out = f.runtime(&["exec", &f.id, "no-such-command"])?;
    assert_eq!(out.status.code(), Some(127));
    // By init pid + bundle (how a shim-started container is reached).
    let pid = state(&f)?["pid"].as_i64().ok_or("pid")?.to_string();
    let out = std::process::Command::new(RUNTIME)
        .args([
            "exec",
            "--init-pid",
            &pid,
            "--bundle",
            bundle.to_str().ok_or("path")?,
            "x",
        ])
        .args(["cat", "/proc/1/cmdline"])
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sleep\u{0}100\u{0}");
    Ok(())
}

#[test]
fn pause_resume_and_force_delete_while_paused() -> TestResult {
    require_env!();
    let f = Fixture::new("pause", &["sleep", "100"])?;
    f.write_spec()?;
    let bundle = f.bundle();
    let out = f.runtime_detached(&[
        "run",
        "-d",
        "--bundle",
        bundle.to_str().ok_or("path")?,
        &f.id,
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = state(&f)?["pid"].as_i64().ok_or("pid")? as i32;
    let out = f.runtime(&["pause", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&f)?["status"], "paused");
    assert!(
        !f.runtime(&["pause", &f.id])?.status.success(),
        "pause twice"
    );
    let out = f.runtime(&["resume", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&f)?["status"], "running");
    assert!(f.runtime(&["pause", &f.id])?.status.success());
    let out = f.runtime(&["delete", "--force", &f.id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(5), || process_gone(pid)));
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    Ok(())
}

#[test]
fn foreground_run_with_terminal_uses_our_stdio() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "fgtty",
        &["sh", "-c", "tty; read line; echo got-$line; exit 5"],
    )?;
    f.spec["process"]["terminal"] = json!(true);
    f.write_spec()?;
    let bundle = f.bundle();
    let mut child = std::process::Command::new(RUNTIME)
        .arg("--root")
        .arg(f.root())
        .args(["run", "--bundle", bundle.to_str().ok_or("path")?, &f.id])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        std::io::Write::write_all(&mut stdin, b"hello\n")?;
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{text:?}");
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("got-hello"), "{text:?}");
    Ok(())
}
