//! Bad input gets a clear error, the daemon stays up, and nothing is written where it must
//! not be.

use std::io::Write;

use berth_tests::{stderr, Daemon};

#[test]
fn malformed_api_bodies_and_parameters() {
    let mut d = Daemon::start();
    let reply = d
        .raw_request("POST", "/v1.41/containers/create", "{not json")
        .expect("request");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("\"message\""), "{reply}");
    let reply = d
        .raw_request("POST", "/containers/create", r#"{"Image": 42}"#)
        .expect("request");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let reply = d
        .raw_request("GET", "/containers/json?filters=%7Bbad", "")
        .expect("request");
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let reply = d
        .raw_request("GET", "/v1.99/containers/json", "")
        .expect("request");
    assert!(
        reply.starts_with("HTTP/1.1 400") && reply.contains("too new"),
        "{reply}"
    );
    let reply = d
        .raw_request("GET", "/containers/nope/json", "")
        .expect("request");
    assert!(
        reply.starts_with("HTTP/1.1 404") && reply.contains("No such container: nope"),
        "{reply}"
    );
    let reply = d
        .raw_request(
            "POST",
            "/containers/create",
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":1000}}"#,
        )
        .expect("request");
    assert!(
        reply.starts_with("HTTP/1.1 400") && reply.contains("Minimum memory limit"),
        "{reply}"
    );
    assert!(d.is_alive(), "daemon died on bad input");
    assert!(
        d.ok(&["ps", "-aq"]).is_empty(),
        "a failed create left a container"
    );
}

#[test]
fn bad_cli_values_are_rejected() {
    let d = Daemon::start();
    for args in [
        vec!["run", "--rm", "--memory", "lots", "busybox", "true"],
        vec!["run", "--rm", "--cpus", "1000", "busybox", "true"],
        vec!["run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"],
        vec!["run", "--rm", "--name", "bad name", "busybox", "true"],
        vec!["run", "--rm", "--stop-signal", "SIGNOPE", "busybox", "true"],
        vec![
            "run",
            "--rm",
            "--security-opt",
            "seccomp=/no/such/profile.json",
            "busybox",
            "true",
        ],
    ] {
        let out = d.berth(&args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?} gave no message");
    }
    assert!(
        d.ok(&["ps", "-aq"]).is_empty(),
        "rejected runs left containers"
    );
}

fn tar_with(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(0o755);
        header.set_size(data.len() as u64);
        // Write names raw: the tar crate refuses `..` in set_path, and we need the bad ones.
        let name = header.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            header.set_link_name(link).expect("link name");
        }
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    builder.into_inner().expect("tar")
}

#[test]
fn malicious_archives_write_nothing_outside() {
    let d = Daemon::start();
    let sentinel = tempfile::tempdir().expect("sentinel");
    let escape = sentinel.path().join("escaped");
    let dotdot = format!("../../../../../../../../..{}", escape.display());
    let cases: Vec<Vec<u8>> = vec![
        tar_with(&[(dotdot.as_str(), tar::EntryType::Regular, b"x", None)]),
        tar_with(&[
            (
                "link",
                tar::EntryType::Symlink,
                b"",
                Some(sentinel.path().to_str().expect("path")),
            ),
            ("link/escaped", tar::EntryType::Regular, b"x", None),
        ]),
    ];
    for archive in cases {
        let mut child = d
            .berth_cmd(&["import", "-", "evil:latest"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("import");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&archive)
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        assert!(!out.status.success(), "malicious archive imported");
        assert!(!stderr(&out).is_empty());
        assert!(!escape.exists(), "archive wrote outside its target");
    }
    let images = d.ok(&["images", "--format", "{{.Repository}}"]);
    assert!(
        !images.contains("evil"),
        "a rejected import left an image: {images}"
    );
}
