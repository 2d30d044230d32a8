//! berthd can die at any point: containers keep running under their shims, and a new daemon
//! re-attaches to them and notices those that exited meanwhile.

use std::time::Duration;

use berth_tests::{eventually, Daemon};

#[test]
fn containers_survive_sigkill_of_the_daemon() {
    let mut d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "survivor",
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "shortlived",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 7",
    ]);
    let pid = d.ok(&["inspect", "--format", "{{.State.Pid}}", "survivor"]);
    let socket_mode = std::fs::metadata(&d.socket)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("socket");
    assert_eq!(socket_mode, 0o660, "API socket must be 0660");

    d.kill_daemon();
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "container died with the daemon"
    );
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn().expect("restart berthd");

    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Status}}", "survivor"]),
        "running"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Pid}}", "survivor"]),
        pid
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "shortlived"
        ]),
        "exited 7"
    );
    let before = d.ok(&["logs", "survivor"]).lines().count();
    assert!(
        eventually(Duration::from_secs(5), || d
            .ok(&["logs", "survivor"])
            .lines()
            .count()
            > before + 3),
        "logs stopped"
    );
    d.ok(&["stop", "-t", "1", "survivor"]);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    d.ok(&["rm", "survivor", "shortlived"]);
}
