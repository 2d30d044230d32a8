//! Interactive sessions on a real terminal, driven through tmux: `run -it` sees the terminal's
//! size and follows resizes (SIGWINCH -> /resize), ctrl-p ctrl-q detaches and leaves the
//! container running, `attach` reconnects and exits with the container's status. The same with
//! the real docker CLI against berthd.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use berth_tests::{bin_dir, require, Daemon};

const DOCKER: &str = "/usr/local/bin/docker";

/// A tmux server on a private socket; killed (with its sessions) on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn new(dir: &Path) -> Tmux {
        Tmux {
            socket: dir.join("tmux.sock"),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Starts `shell_cmd` in a detached session of the given size; its exit status is written
    /// to `status_file` when it ends.
    fn session(&self, name: &str, cols: u16, rows: u16, shell_cmd: &str, status_file: &Path) {
        let wrapped = format!(
            "{shell_cmd}; echo $? > {}.tmp; mv {0}.tmp {0}; sleep 600",
            status_file.display()
        );
        let out = self.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            &wrapped,
        ]);
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        let _ = self.cmd(&["set-option", "-t", name, "status", "off"]);
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(
            out.status.success(),
            "tmux send-keys: {}",
            text(&out.stderr)
        );
    }

    fn screen(&self, name: &str) -> String {
        text(
            &self
                .cmd(&["capture-pane", "-p", "-J", "-t", name, "-S", "-200"])
                .stdout,
        )
    }

    fn pane_size(&self, name: &str) -> String {
        text(
            &self
                .cmd(&[
                    "display-message",
                    "-p",
                    "-t",
                    name,
                    "#{pane_height} #{pane_width}",
                ])
                .stdout,
        )
        .trim()
        .to_string()
    }

    /// Waits until the pane shows `want`; panics with the screen otherwise.
    fn wait_for(&self, name: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen(name);
            if screen.contains(want) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {want:?} in:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits for the wrapped command's exit status.
fn exit_status(file: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::fs::read_to_string(file) {
            return s.trim().parse().expect("status file holds a number");
        }
        assert!(Instant::now() < deadline, "client never exited");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn running(d: &Daemon, name: &str) -> bool {
    let out = d.berth(&["inspect", "-f", "{{.State.Running}}", name]);
    text(&out.stdout).trim() == "true"
}

/// Types `stty size` and returns the "rows cols" the container reports after `marker`.
fn stty_size(t: &Tmux, session: &str, marker: &str) -> String {
    t.keys(session, &[&format!("echo {marker}-$(stty size)"), "Enter"]);
    let want = format!("{marker}-");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let screen = t.screen(session);
        // The echoed command line also contains the marker; the output line has digits after it.
        let found = screen
            .lines()
            .filter_map(|l| l.split_once(&want).map(|(_, rest)| rest.trim().to_string()))
            .find(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_digit()));
        if let Some(size) = found {
            return size;
        }
        assert!(Instant::now() < deadline, "no stty output in:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `says_detached`: whether the client prints "read escape sequence" on detach (berth does;
/// the docker 20.10 CLI leaves the screen as it is).
fn interactive_session(d: &Daemon, client: &str, name: &str, says_detached: bool) {
    if !require(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux (scripts/install-deps.sh)",
    ) {
        return;
    }
    let t = Tmux::new(d.root.path());
    let status1 = d.root.path().join(format!("{name}-run.status"));
    t.session(
        "run",
        80,
        24,
        &format!("{client} run -it --name {name} busybox sh"),
        &status1,
    );
    t.wait_for("run", "# ");
    assert_eq!(stty_size(&t, "run", "A"), t.pane_size("run"));
    let out = t.cmd(&["resize-window", "-t", "run", "-x", "100", "-y", "30"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let resized = t.pane_size("run");
    assert_ne!(resized, "24 80");
    // The resize reaches the container asynchronously (SIGWINCH -> /resize); ask until seen.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        let seen = stty_size(&t, "run", &format!("B{n}"));
        if seen == resized {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "container size {seen}, terminal {resized}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    t.keys("run", &["C-p", "C-q"]);
    assert_eq!(exit_status(&status1), 0, "{}", t.screen("run"));
    if says_detached {
        t.wait_for("run", "read escape sequence");
    }
    assert!(running(d, name), "detach stopped the container");

    let status2 = d.root.path().join(format!("{name}-attach.status"));
    t.session(
        "attach",
        90,
        20,
        &format!("{client} attach {name}"),
        &status2,
    );
    // The shell gives no new prompt on attach; a command shows the session is live.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stty_size(&t, "attach", "C"), t.pane_size("attach"));
    t.keys("attach", &["exit 3", "Enter"]);
    assert_eq!(exit_status(&status2), 3, "{}", t.screen("attach"));
    assert!(!running(d, name));
    d.ok(&["rm", name]);
}

#[test]
fn berth_run_it_resize_detach_attach() {
    let d = Daemon::start();
    let client = format!(
        "env -u DOCKER_HOST BERTH_HOST={} DOCKER_CONFIG={} {}",
        d.host(),
        d.root.path().display(),
        bin_dir().join("berth").display()
    );
    interactive_session(&d, &client, "pty-berth", true);
}

#[test]
fn docker_cli_run_it_resize_detach_attach() {
    let d = Daemon::start();
    if !require(
        Path::new(DOCKER).exists(),
        "the docker CLI at /usr/local/bin/docker",
    ) {
        return;
    }
    let client = format!(
        "env DOCKER_HOST={} DOCKER_CONFIG={} {DOCKER}",
        d.host(),
        d.root.path().display()
    );
    interactive_session(&d, &client, "pty-docker", false);
}

/// `exec -it` with the detach keys from config.json's `detachKeys`: the session ends, the
/// client exits 0, and the exec'd shell keeps running in the container.
#[test]
fn exec_it_detaches_with_config_detach_keys() {
    let d = Daemon::start();
    if !require(
        Command::new("tmux").arg("-V").output().is_ok(),
        "tmux (scripts/install-deps.sh)",
    ) {
        return;
    }
    d.ok(&["run", "-d", "--name", "ex", "busybox", "sleep", "600"]);
    let config = d.root.path().join("cfg");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::write(config.join("config.json"), r#"{"detachKeys":"ctrl-x,x"}"#)
        .expect("config.json");
    let t = Tmux::new(d.root.path());
    let status = d.root.path().join("exec.status");
    t.session(
        "exec",
        80,
        24,
        &format!(
            "env -u DOCKER_HOST BERTH_HOST={} DOCKER_CONFIG={} {} exec -it ex sh",
            d.host(),
            config.display(),
            bin_dir().join("berth").display()
        ),
        &status,
    );
    t.wait_for("exec", "# ");
    assert_eq!(stty_size(&t, "exec", "E"), t.pane_size("exec"));
    // ctrl-p ctrl-q is not the sequence here: it reaches the shell and nothing detaches.
    t.keys("exec", &["C-p", "C-q", "echo still-$((40+2))", "Enter"]);
    t.wait_for("exec", "still-42");
    t.keys("exec", &["C-x", "x"]);
    assert_eq!(exit_status(&status), 0, "{}", t.screen("exec"));
    t.wait_for("exec", "read escape sequence");
    let ps = d.ok(&["exec", "ex", "ps", "-o", "pid,args"]);
    assert!(
        ps.lines().any(|l| l.trim().ends_with(" sh")),
        "the exec'd shell is gone:\n{ps}"
    );
    d.ok(&["rm", "-f", "ex"]);
}
