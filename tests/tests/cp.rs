//! `berth cp` and `/containers/{id}/archive` against a real berthd: files, directories and
//! symlinks both ways with modes and ownership kept, stopped containers, volumes, read-only
//! mounts, and escape attempts (CVE-2018-15664 class) that must never touch the host.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use berth_tests::{eventually, leftover_mounts, stderr, stdout, Daemon};

fn host_tree(dir: &Path) {
    let d = dir.join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("f"), "hello\n").unwrap();
    std::fs::write(d.join("sub/g"), "deep\n").unwrap();
    std::fs::set_permissions(d.join("f"), std::fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::symlink("f", d.join("l")).unwrap();
    for p in ["", "f", "sub", "sub/g"] {
        std::os::unix::fs::lchown(d.join(p), Some(1234), Some(2345)).unwrap();
    }
}

/// A host directory the containers must never be able to reach.
fn secret_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-cp-secret-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::write(dir.path().join("secret"), "host secret\n").unwrap();
    dir
}

#[test]
fn cp_files_directories_and_symlinks_both_ways() {
    let d = Daemon::start();
    let host = tempfile::tempdir().unwrap();
    host_tree(host.path());
    d.ok(&["run", "-d", "--name", "cpc", "busybox", "sleep", "300"]);
    let src = host.path().join("d");
    d.ok(&["cp", src.to_str().unwrap(), "cpc:/tmp/"]);
    // Docker keeps the tar's numeric owners and the modes.
    let seen = d.ok(&[
        "exec",
        "cpc",
        "sh",
        "-c",
        "stat -c '%a %u %g' /tmp/d/f /tmp/d/sub/g; cat /tmp/d/f; readlink /tmp/d/l",
    ]);
    assert_eq!(seen, "751 1234 2345\n644 1234 2345\nhello\nf");

    // A directory out, under a new name (the destination does not exist yet).
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("copy");
    d.ok(&["cp", "cpc:/tmp/d", copy.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(copy.join("sub/g")).unwrap(),
        "deep\n"
    );
    let f = std::fs::metadata(copy.join("f")).unwrap();
    assert_eq!(f.permissions().mode() & 0o7777, 0o751);
    assert_eq!(std::fs::read_link(copy.join("l")).unwrap(), Path::new("f"));

    // `dir/.` copies the content into an existing directory; into an existing directory
    // without `/.` the directory itself lands inside.
    let content = out.path().join("content");
    std::fs::create_dir(&content).unwrap();
    d.ok(&["cp", "cpc:/tmp/d/.", content.to_str().unwrap()]);
    assert!(content.join("f").is_file() && content.join("sub").is_dir());
    d.ok(&["cp", "cpc:/tmp/d", content.to_str().unwrap()]);
    assert!(content.join("d/sub/g").is_file());

    // A symlink is copied as a symlink; with -L as the file it points to.
    let link = out.path().join("link");
    d.ok(&["cp", "cpc:/tmp/d/l", link.to_str().unwrap()]);
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("f"));
    let followed = out.path().join("followed");
    d.ok(&["cp", "-L", "cpc:/tmp/d/l", followed.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&followed).unwrap(), "hello\n");

    // A single file into the container under a new name, and a symlink into it.
    d.ok(&["cp", src.join("f").to_str().unwrap(), "cpc:/renamed"]);
    d.ok(&["cp", src.join("l").to_str().unwrap(), "cpc:/tmp/"]);
    let seen = d.ok(&["exec", "cpc", "sh", "-c", "cat /renamed; readlink /tmp/l"]);
    assert_eq!(seen, "hello\nf");

    // Errors a user sees.
    let missing = d.berth(&["cp", "cpc:/nope", out.path().to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("Could not find the file /nope in container cpc"),
        "{}",
        stderr(&missing)
    );
    let to_file = d.berth(&["cp", src.to_str().unwrap(), "cpc:/renamed"]);
    assert!(!to_file.status.success());
    assert!(
        stderr(&to_file).contains("cannot copy a directory to a file"),
        "{}",
        stderr(&to_file)
    );
    let both = d.berth(&["cp", "cpc:/a", "cpc:/b"]);
    assert!(stderr(&both).contains("copying between containers is not supported"));
}

#[test]
fn cp_streams_tar_on_stdin_and_stdout() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cpc", "busybox", "sleep", "300"]);
    d.ok(&["exec", "cpc", "sh", "-c", "mkdir /x && echo one > /x/a"]);
    let out = d.berth(&["cp", "cpc:/x", "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["x/", "x/a"]);

    // The same tar back in, elsewhere.
    d.ok(&["exec", "cpc", "mkdir", "/y"]);
    let mut child = d
        .berth_cmd(&["cp", "-", "cpc:/y"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&out.stdout).unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(d.ok(&["exec", "cpc", "cat", "/y/x/a"]), "one");
}

#[test]
fn cp_into_and_out_of_a_stopped_container_and_its_volume() {
    let d = Daemon::start();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in.txt"), "from host\n").unwrap();
    let bind = tempfile::tempdir().unwrap();
    d.ok(&[
        "create",
        "--name",
        "cpc",
        "-v",
        "vol:/data",
        "-v",
        &format!("{}:/bound", bind.path().display()),
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt /etc/in.txt; echo made > /data/out.txt",
    ]);
    let file = host.path().join("in.txt");
    d.ok(&["cp", file.to_str().unwrap(), "cpc:/data/"]);
    d.ok(&["cp", file.to_str().unwrap(), "cpc:/etc/"]);
    d.ok(&["cp", file.to_str().unwrap(), "cpc:/bound/"]);
    let id = d.container_id("cpc");
    assert!(
        leftover_mounts(&id).is_empty(),
        "cp left mounts: {:?}",
        leftover_mounts(&id)
    );
    // The file went into the bind source on the host, and into the volume.
    assert_eq!(
        std::fs::read_to_string(bind.path().join("in.txt")).unwrap(),
        "from host\n"
    );
    let out = d.ok(&["start", "-a", "cpc"]);
    assert_eq!(out, "from host\nfrom host");
    // Out of the volume of the (now exited) container.
    let back = host.path().join("out.txt");
    d.ok(&["cp", "cpc:/data/out.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "made\n");
    // The exited container's rootfs is unmounted by the engine's exit handling, which may
    // still be running when `start -a` returns.
    assert!(
        eventually(Duration::from_secs(10), || leftover_mounts(&id).is_empty()),
        "mounts left after exit and cp: {:?}",
        leftover_mounts(&id)
    );
}

#[test]
fn cp_refuses_read_only_mounts_and_rootfs() {
    let d = Daemon::start();
    let host = tempfile::tempdir().unwrap();
    let file = host.path().join("f");
    std::fs::write(&file, "x").unwrap();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "-v",
        "rov:/ro:ro",
        "busybox",
        "sleep",
        "300",
    ]);
    let out = d.berth(&["cp", file.to_str().unwrap(), "ro:/ro/"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("read-only file system"),
        "{}",
        stderr(&out)
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "rootro",
        "--read-only",
        "busybox",
        "sleep",
        "300",
    ]);
    let out = d.berth(&["cp", file.to_str().unwrap(), "rootro:/tmp/"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("read-only file system"),
        "{}",
        stderr(&out)
    );
    // Reading from them still works.
    let dest = host.path().join("passwd");
    d.ok(&["cp", "rootro:/etc/passwd", dest.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&dest).unwrap().starts_with("root:"));
}

#[test]
fn cp_never_resolves_paths_outside_the_container() {
    let d = Daemon::start();
    let secret = secret_dir();
    let hostdir = secret.path().to_str().unwrap().to_owned();
    d.ok(&["run", "-d", "--name", "cpc", "busybox", "sleep", "300"]);
    // Symlinks in the container that would lead to the host directory if resolved on the host.
    d.ok(&[
        "exec",
        "cpc",
        "sh",
        "-c",
        &format!("ln -s {hostdir} /abs && ln -s ../../../../../../../..{hostdir} /rel && mkdir /t"),
    ]);
    let out = tempfile::tempdir().unwrap();
    for src in [
        "cpc:/abs/secret",
        "cpc:/rel/secret",
        "cpc:/abs/",
        "cpc:/rel/.",
    ] {
        let dest = out.path().join("got");
        let res = d.berth(&["cp", src, dest.to_str().unwrap()]);
        assert!(!res.status.success(), "cp {src} succeeded");
        assert!(!dest.exists(), "cp {src} produced a file");
    }
    let res = d.berth(&[
        "cp",
        "-L",
        "cpc:/abs",
        out.path().join("got").to_str().unwrap(),
    ]);
    assert!(
        !res.status.success(),
        "cp -L of a host-pointing link succeeded"
    );

    let file = out.path().join("pwn");
    std::fs::write(&file, "pwned\n").unwrap();
    for dest in ["cpc:/abs/", "cpc:/rel/", "cpc:/abs", "cpc:/rel"] {
        let _ = d.berth(&["cp", file.to_str().unwrap(), dest]);
    }
    // A tar whose symlink entry points at the host directory, then a file through it, and a
    // `..` entry: extracted into /t, nothing may land on the host.
    let mut builder = tar::Builder::new(Vec::new());
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    link.set_mode(0o777);
    builder.append_link(&mut link, "esc", &hostdir).unwrap();
    for name in ["esc/pwn", "../../../../../../..{hostdir}/pwn2"] {
        let name = name.replace("{hostdir}", &hostdir);
        let mut h = tar::Header::new_gnu();
        h.set_size(6);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Bypass the builder's path checks: a hostile client sends what it likes.
        let bytes = name.as_bytes();
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        builder.append(&h, &b"pwned\n"[..]).unwrap();
    }
    let tarball = builder.into_inner().unwrap();
    let mut child = d
        .berth_cmd(&["cp", "-", "cpc:/t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let _ = child.stdin.take().unwrap().write_all(&tarball);
    }
    let _ = child.wait_with_output();

    let mut listing: Vec<String> = std::fs::read_dir(secret.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(listing, vec!["secret"], "the host directory was written to");
    assert_eq!(
        std::fs::read_to_string(secret.path().join("secret")).unwrap(),
        "host secret\n"
    );
}

#[test]
fn cp_races_with_a_symlink_swap_stay_inside_the_container() {
    let d = Daemon::start();
    let secret = secret_dir();
    let hostdir = secret.path().to_str().unwrap().to_owned();
    // The container flips /w between a real directory and a symlink to the host directory's
    // path as fast as it can while we copy into and out of it.
    d.ok(&[
        "run", "-d", "--name", "cpc", "busybox", "sh", "-c",
        &format!(
            "mkdir -p /real && echo inside > /real/secret; \
             while :; do ln -sfn {hostdir} /w.new; mv -T /w.new /w; ln -sfn /real /w.new; mv -T /w.new /w; done"
        ),
    ]);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("pwn");
    std::fs::write(&file, "pwned\n").unwrap();
    for i in 0..30 {
        let _ = d.berth(&["cp", file.to_str().unwrap(), "cpc:/w/"]);
        let dest = out.path().join(format!("got{i}"));
        let res = d.berth(&["cp", "cpc:/w/secret", dest.to_str().unwrap()]);
        if res.status.success() {
            assert_eq!(std::fs::read_to_string(&dest).unwrap(), "inside\n");
        }
    }
    let mut listing: Vec<String> = std::fs::read_dir(secret.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(listing, vec!["secret"], "the host directory was written to");
}

#[test]
fn archive_api_stat_header_and_errors() {
    let d = Daemon::start();
    d.ok(&["run", "-d", "--name", "cpc", "busybox", "sleep", "300"]);
    d.ok(&["exec", "cpc", "sh", "-c", "mkdir /dir && ln -s /dir /ln"]);
    let head = d
        .raw_request("HEAD", "/containers/cpc/archive?path=/ln", "")
        .unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let line = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("x-docker-container-path-stat:")
        })
        .expect("stat header");
    let encoded = line.split_once(':').unwrap().1.trim();
    let decoded = std::process::Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(encoded.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let stat: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(stat["name"], "ln");
    assert_eq!(stat["linkTarget"], "/dir");
    assert_eq!(
        stat["mode"].as_u64().unwrap() & (1 << 27),
        1 << 27,
        "{stat}"
    );

    let missing = d
        .raw_request("GET", "/containers/cpc/archive?path=/nope", "")
        .unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let not_dir = d
        .raw_request("PUT", "/containers/cpc/archive?path=/etc/passwd", "")
        .unwrap();
    assert!(not_dir.starts_with("HTTP/1.1 400"), "{not_dir}");
    assert!(not_dir.contains("not a directory"), "{not_dir}");
    let no_path = d.raw_request("GET", "/containers/cpc/archive", "").unwrap();
    assert!(no_path.starts_with("HTTP/1.1 400"), "{no_path}");
    // The daemon is fine afterwards.
    assert_eq!(
        stdout(&d.berth(&["exec", "cpc", "echo", "ok"])).trim(),
        "ok"
    );
}

/// The real docker CLI (API 1.50) copies both ways through berthd.
#[test]
fn docker_cli_cp_against_berthd() {
    const DOCKER: &str = "/usr/local/bin/docker";
    if !berth_tests::require(
        Path::new(DOCKER).exists(),
        "docker CLI at /usr/local/bin/docker",
    ) {
        return;
    }
    let d = Daemon::start();
    let docker = |args: &[&str]| {
        let out = std::process::Command::new(DOCKER)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.root.path())
            .args(args)
            .output()
            .expect("docker");
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let host = tempfile::tempdir().unwrap();
    host_tree(host.path());
    docker(&["run", "-d", "--name", "dcp", "busybox", "sleep", "300"]);
    let src = host.path().join("d");
    docker(&["cp", src.to_str().unwrap(), "dcp:/tmp/"]);
    docker(&["cp", src.to_str().unwrap(), "dcp:/tmp/renamed"]);
    let seen = docker(&[
        "exec",
        "dcp",
        "sh",
        "-c",
        "stat -c '%a %u %g' /tmp/d/f; cat /tmp/renamed/sub/g; readlink /tmp/d/l",
    ]);
    assert_eq!(seen.trim(), "751 1234 2345\ndeep\nf");
    let out = tempfile::tempdir().unwrap();
    docker(&[
        "cp",
        "dcp:/tmp/d",
        out.path().join("back").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("back/f")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_link(out.path().join("back/l")).unwrap(),
        Path::new("f")
    );
    docker(&[
        "cp",
        "-L",
        "dcp:/tmp/d/l",
        out.path().join("deref").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("deref")).unwrap(),
        "hello\n"
    );
    docker(&["stop", "-t", "0", "dcp"]);
    docker(&["cp", src.join("f").to_str().unwrap(), "dcp:/stopped"]);
    docker(&[
        "cp",
        "dcp:/stopped",
        out.path().join("stopped").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.path().join("stopped")).unwrap(),
        "hello\n"
    );
    let missing = std::process::Command::new(DOCKER)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.root.path())
        .args(["cp", "dcp:/nope", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("Could not find the file /nope"),
        "{}",
        stderr(&missing)
    );
}
