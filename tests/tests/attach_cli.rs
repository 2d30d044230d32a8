//! `berth attach` without a terminal: stdin piped to the container, its output and exit
//! status back; clear errors for stopped containers and bad detach keys.

use std::io::Write;
use std::process::Stdio;

use berth_tests::Daemon;

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn attach_pipes_stdin_and_exits_with_the_container() {
    let d = Daemon::start();
    d.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "a1",
        "busybox",
        "sh",
        "-c",
        "read x; echo got $x; echo err >&2; exit 4",
    ]);
    let mut child = d
        .berth_cmd(&["attach", "a1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth attach");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("write stdin");
    let out = child.wait_with_output().expect("berth attach");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello\n");
    assert_eq!(stderr(&out), "err\n");

    let out = d.berth(&["attach", "a1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("You cannot attach to a stopped container"),
        "{}",
        stderr(&out)
    );
    d.ok(&["start", "a1"]);
    let out = d.berth(&["attach", "--detach-keys", "ctrl-", "a1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Invalid detach keys (ctrl-) provided"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["run", "--detach-keys", "bogus-key", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Invalid detach keys"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "-f", "a1"]);
    assert!(
        d.ok(&["ps", "-aq"]).is_empty(),
        "a refused run left a container"
    );
}
