//! Compatibility checks of the `berth` binary against a real dockerd (docker-anchor).
//!
//! Dev-only, so ignored by default: they need a dockerd. Run them with
//! `BERTH_TEST_DOCKER_HOST=unix:///run/docker-anchor.sock cargo test --release -p berth-cli -- --ignored`
//! after `shared/tools/docker-anchor start` (which provides a `busybox` image). The same CLI
//! against berthd is covered by the end-to-end suite in tests/. Every test
//! names its containers and images uniquely and removes them, even when it fails.

use std::process::{Command, Output, Stdio};

/// The dockerd to test against; these tests are only run on request (`--ignored`), so a
/// missing address is an error, not a skip.
fn host() -> Option<String> {
    match std::env::var("BERTH_TEST_DOCKER_HOST") {
        Ok(h) if !h.is_empty() => Some(h),
        _ => panic!(
            "set BERTH_TEST_DOCKER_HOST to a dockerd socket (e.g. unix:///run/docker-anchor.sock)"
        ),
    }
}

fn berth(host: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", host])
        .args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .output()
        .expect("run berth")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth-test-{prefix}-{}-{nanos}", std::process::id())
}

/// Removes a container when dropped, so a failing assertion still cleans up.
struct ContainerGuard<'a> {
    host: &'a str,
    name: String,
}

impl Drop for ContainerGuard<'_> {
    fn drop(&mut self) {
        let _ = berth(self.host, &["rm", "-f", &self.name]);
    }
}

/// Removes image references when dropped.
struct ImageGuard<'a> {
    host: &'a str,
    refs: Vec<String>,
}

impl Drop for ImageGuard<'_> {
    fn drop(&mut self) {
        for r in &self.refs {
            let _ = berth(self.host, &["rmi", "-f", r]);
        }
    }
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn run_rm_echo_prints_hello() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(stdout(&o), "hello\n", "stderr: {}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn run_exit_code_is_propagated() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", stderr(&o));
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn run_stdout_and_stderr_are_demultiplexed() {
    let Some(h) = host() else { return };
    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ],
    );
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn run_missing_command_exits_127() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["run", "--rm", "busybox", "no-such-command-xyz"]);
    assert_eq!(o.status.code(), Some(127), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("berth: Error response from daemon: "),
        "{err}"
    );
    assert!(err.contains("executable file not found"), "{err}");
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn run_missing_image_fails_with_125() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["run", "--rm", "berth-no-such-image:zz", "true"]);
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.contains("Unable to find image 'berth-no-such-image:zz' locally"),
        "{err}"
    );
    assert!(err.contains("berth: "), "{err}");
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn run_flags_reach_the_container() {
    let Some(h) = host() else { return };
    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "65534",
            "-h",
            "boxname",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u) $(hostname)",
        ],
    );
    assert_eq!(
        stdout(&o),
        "1 /tmp 65534 boxname\n",
        "stderr: {}",
        stderr(&o)
    );
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn detached_lifecycle_ps_logs_stop_rm() {
    let Some(h) = host() else { return };
    let name = unique("detach");
    let _g = ContainerGuard {
        host: &h,
        name: name.clone(),
    };
    let o = berth(
        &h,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo ready; echo oops >&2; exec sleep 300",
        ],
    );
    let id = stdout(&o).trim().to_string();
    assert_eq!(
        id.len(),
        64,
        "run -d prints the full id: {id:?} {}",
        stderr(&o)
    );
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let ps = berth(&h, &["ps", "--filter", &format!("name={name}")]);
    let out = stdout(&ps);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("CONTAINER ID   IMAGE"), "{out}");
    assert!(header.ends_with("NAMES"), "{out}");
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with(&id[..12]), "{out}");
    assert!(row.contains("Up "), "{out}");
    assert!(row.ends_with(&name), "{out}");

    let q = berth(
        &h,
        &[
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("name={name}"),
        ],
    );
    assert_eq!(stdout(&q).trim(), id);
    let f = berth(
        &h,
        &[
            "container",
            "ls",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}\\t{{.State}}",
        ],
    );
    assert_eq!(stdout(&f), format!("{name}\trunning\n"));

    // The output may need a moment to reach the log.
    let mut logs = berth(&h, &["logs", &name]);
    for _ in 0..20 {
        if stdout(&logs) == "ready\n" && stderr(&logs) == "oops\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        logs = berth(&h, &["logs", &name]);
    }
    assert_eq!(stdout(&logs), "ready\n");
    assert_eq!(stderr(&logs), "oops\n");

    let st = berth(&h, &["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(stdout(&st), "running\n");

    let stop = berth(&h, &["stop", "-t", "1", &name]);
    assert_eq!(stdout(&stop), format!("{name}\n"), "{}", stderr(&stop));
    let st = berth(
        &h,
        &[
            "container",
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Running}}",
            &name,
        ],
    );
    assert_eq!(stdout(&st), "exited false\n");

    let rm = berth(&h, &["rm", &name]);
    assert_eq!(stdout(&rm), format!("{name}\n"));
    assert_eq!(rm.status.code(), Some(0));
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn missing_container_errors_like_docker() {
    let Some(h) = host() else { return };
    let o = berth(&h, &["rm", "berth-no-such-container"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "Error response from daemon: No such container: berth-no-such-container\n"
    );
    let o = berth(&h, &["rm", "-f", "berth-no-such-container"]);
    assert_eq!(o.status.code(), Some(0));
    let o = berth(&h, &["inspect", "berth-no-such-container"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "[]\n");
    assert_eq!(
        stderr(&o),
        "Error: No such object: berth-no-such-container\n"
    );
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn inspect_templates() {
    let Some(h) = host() else { return };
    let name = unique("inspect");
    let _g = ContainerGuard {
        host: &h,
        name: name.clone(),
    };
    let o = berth(
        &h,
        &[
            "create", "--name", &name, "-e", "A=1", "-e", "B=2", "-l", "k=v", "busybox", "true",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    let f = |t: &str| stdout(&berth(&h, &["inspect", "-f", t, &name]));
    assert_eq!(f("{{.State.Status}}"), "created\n");
    assert_eq!(f("{{.Id}}"), format!("{id}\n"));
    assert_eq!(f("{{range .Config.Env}}{{.}} {{end}}"), "A=1 B=2 \n");
    assert_eq!(f(r#"{{index .Config.Labels "k"}}"#), "v\n");
    assert_eq!(f("{{json .Config.Cmd}}"), "[\"true\"]\n");
    let raw = stdout(&berth(&h, &["inspect", &name]));
    assert!(raw.starts_with("[\n    {\n        \"Id\": "), "{raw}");
    let v: serde_json::Value = serde_json::from_str(&raw).expect("inspect prints JSON");
    assert_eq!(v[0]["Id"], serde_json::Value::String(id));
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn images_tag_rmi_import() {
    let Some(h) = host() else { return };
    let repo = unique("img");
    let tagged = format!("{repo}:v1");
    let imported = format!("{repo}-imp:1");
    let _g = ImageGuard {
        host: &h,
        refs: vec![tagged.clone(), imported.clone()],
    };

    let o = berth(&h, &["tag", "busybox", &tagged]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ls = stdout(&berth(&h, &["images", &repo]));
    let mut lines = ls.lines();
    assert_eq!(
        lines
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]),
        "{ls}"
    );
    let row = lines.next().unwrap_or_default();
    assert!(row.starts_with(&repo) && row.contains(" v1 "), "{ls}");
    let q = stdout(&berth(&h, &["images", "-q", &tagged]));
    assert_eq!(q.trim().len(), 12, "{q}");

    // A one-file root filesystem tarball, imported from a file and from stdin.
    let dir = std::env::temp_dir().join(unique("rootfs"));
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::write(dir.join("etc/hello"), "hi\n").expect("write");
    let tarball = dir.with_extension("tar");
    let st = Command::new("tar")
        .args(["-C"])
        .arg(&dir)
        .args(["-cf"])
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let tar = tarball.to_string_lossy().into_owned();
    let o = berth(
        &h,
        &[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-m",
            "msg",
            &tar,
            &imported,
        ],
    );
    let id = stdout(&o).trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "{id:?} {}",
        stderr(&o)
    );
    let cmd = stdout(&berth(
        &h,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .Config.Cmd}} {{.Comment}}",
            &imported,
        ],
    ));
    assert_eq!(cmd, "[\"/bin/sh\"] msg\n");

    let stdin_import = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &h, "image", "import", "-", &format!("{repo}-imp:2")])
        .stdin(std::fs::File::open(&tarball).expect("open tarball"))
        .output()
        .expect("run berth");
    let id2 = stdout(&stdin_import).trim().to_string();
    assert!(
        id2.starts_with("sha256:"),
        "{id2:?} {}",
        stderr(&stdin_import)
    );
    let rm2 = berth(&h, &["image", "rm", &format!("{repo}-imp:2")]);
    assert!(
        stdout(&rm2).contains(&format!("Untagged: {repo}-imp:2")),
        "{}",
        stdout(&rm2)
    );

    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&tarball);

    let rmi = berth(&h, &["rmi", &tagged, &imported]);
    let out = stdout(&rmi);
    assert!(out.contains(&format!("Untagged: {tagged}")), "{out}");
    assert!(out.contains(&format!("Untagged: {imported}")), "{out}");
    assert!(out.contains(&format!("Deleted: {id}")), "{out}");

    let missing = berth(&h, &["rmi", &tagged]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).starts_with("Error response from daemon: "));
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn version_and_info_reach_the_server() {
    let Some(h) = host() else { return };
    let v = berth(&h, &["version", "--format", "{{.Server.APIVersion}}"]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    assert!(stdout(&v).starts_with("1."), "{}", stdout(&v));
    let i = berth(&h, &["info", "--format", "{{.NCPU}}"]);
    assert!(stdout(&i).trim().parse::<u32>().is_ok(), "{}", stdout(&i));
}

#[test]
#[ignore = "needs a dockerd: set BERTH_TEST_DOCKER_HOST and pass --ignored"]
fn exec_in_running_container() {
    let Some(h) = host() else { return };
    let name = unique("exec");
    let _g = ContainerGuard {
        host: &h,
        name: name.clone(),
    };
    let o = berth(
        &h,
        &["run", "-d", "--name", &name, "busybox", "sleep", "300"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = berth(
        &h,
        &[
            "exec",
            "-e",
            "A=5",
            "-w",
            "/tmp",
            &name,
            "sh",
            "-c",
            "echo $A $(pwd); echo err >&2; exit 4",
        ],
    );
    assert_eq!(stdout(&e), "5 /tmp\n");
    assert_eq!(stderr(&e), "err\n");
    assert_eq!(e.status.code(), Some(4));
}
