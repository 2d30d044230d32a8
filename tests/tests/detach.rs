//! Detach keys in the daemon's attach stream: ctrl-p ctrl-q (or `detachKeys`) ends the
//! session, the container keeps running, and a later attach reaches the same shell.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use berth_tests::Daemon;

/// A hijacked attach connection (what the docker CLI opens).
fn attach(d: &Daemon, name: &str, detach_keys: Option<&str>) -> (UnixStream, String) {
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let keys = detach_keys
        .map(|k| format!("&detachKeys={k}"))
        .unwrap_or_default();
    write!(
        s,
        "POST /containers/{name}/attach?stream=1&stdin=1&stdout=1&stderr=1{keys} HTTP/1.1\r\n\
         Host: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

/// Reads until `want` appears (or the peer closes / the deadline passes); returns all read.
fn read_until(s: &mut UnixStream, want: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if !want.is_empty() && String::from_utf8_lossy(&seen).contains(want) {
            break;
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// Whether the daemon closes the session (EOF) rather than leaving it open until the timeout.
fn closed_by_daemon(s: &mut UnixStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

#[test]
fn detach_keys_end_the_session_and_the_container_keeps_running() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "-i", "-t", "--name", "att", "busybox", "sh"]);

    let (mut s, head) = attach(&d, "att", None);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(b"echo mark$((40+2))\n").unwrap();
    let out = read_until(&mut s, "mark42");
    assert!(out.contains("mark42"), "{out:?}");
    // ctrl-p ctrl-q: the daemon closes the session.
    s.write_all(&[0x10, 0x11]).unwrap();
    assert!(
        closed_by_daemon(&mut s),
        "ctrl-p ctrl-q did not end the session"
    );
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Running}}", "att"]),
        "true"
    );

    // Custom keys on a second attach; ctrl-p alone is now ordinary input.
    let (mut s, head) = attach(&d, "att", Some("ctrl-x,y"));
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(b"echo again$((1+1))\n").unwrap();
    assert!(read_until(&mut s, "again2").contains("again2"));
    s.write_all(&[0x10, 0x11, b'\n']).unwrap();
    s.write_all(b"echo still$((2+2))\n").unwrap();
    assert!(
        read_until(&mut s, "still4").contains("still4"),
        "ctrl-p ctrl-q detached despite detachKeys"
    );
    s.write_all(&[0x18, b'y']).unwrap();
    assert!(closed_by_daemon(&mut s), "ctrl-x y did not end the session");
    assert_eq!(
        d.ok(&["inspect", "--format", "{{.State.Running}}", "att"]),
        "true"
    );

    // A third attach reaches the same shell and ends it.
    let (mut s, _) = attach(&d, "att", None);
    s.write_all(b"exit 7\n").unwrap();
    let _ = read_until(&mut s, "");
    assert_eq!(d.ok(&["wait", "att"]), "7");

    let bad = d
        .raw_request(
            "POST",
            "/containers/att/attach?stdin=1&detachKeys=shift-a",
            "",
        )
        .unwrap();
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    assert!(
        bad.contains("Invalid detach keys (shift-a) provided"),
        "{bad}"
    );
}
