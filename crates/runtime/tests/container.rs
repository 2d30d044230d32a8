//! Containers run through `berth-runtime run` (the library's launch path), asserting what the
//! process observes from inside.

mod common;

use common::*;
use serde_json::json;

macro_rules! require_env {
    () => {
        if !environment_ok() {
            return Ok(());
        }
    };
}

#[test]
fn pid1_hostname_and_cleanup() -> TestResult {
    require_env!();
    let f = Fixture::new("pid1", &["sh", "-c", "echo $$; hostname"])?;
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "1\nrt-host\n");
    assert!(
        f.leftover_cgroups().is_empty(),
        "{:?}",
        f.leftover_cgroups()
    );
    assert!(!f.root().join(&f.id).exists(), "state dir left behind");
    Ok(())
}

#[test]
fn capabilities_match_spec() -> TestResult {
    require_env!();
    let f = Fixture::new(
        "caps",
        &["sh", "-c", "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status"],
    )?;
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    let want = cap_mask(&berth_runtime::defaults::default_capabilities());
    for line in out.lines() {
        let (name, hex) = line.split_once(':').ok_or("bad line")?;
        let got = u64::from_str_radix(hex.trim(), 16)?;
        assert_eq!(got, want, "{name}: got {got:#x} want {want:#x}");
    }
    assert_eq!(out.lines().count(), 3);
    Ok(())
}

#[test]
fn ambient_caps_for_non_root_user() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "ambient",
        &["sh", "-c", "grep CapEff /proc/self/status; id -u"],
    )?;
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    f.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    f.spec["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps,
    });
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "CapEff:\t0000000000000400\n1000\n");
    Ok(())
}

#[test]
fn masked_and_readonly_paths() -> TestResult {
    require_env!();
    let script = "wc -c < /proc/keys; ls -A /sys/firmware | wc -l; \
                  touch /sys/firmware/x 2>/dev/null && echo firmware-writable; \
                  echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable; \
                  grep ' /proc/sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1";
    let f = Fixture::new("mask", &["sh", "-c", script])?;
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "0\n0\nro\n");
    Ok(())
}

#[test]
fn readonly_root() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "roroot",
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo writable; touch /dev/shm/y && echo shm-ok",
        ],
    )?;
    f.spec["root"]["readonly"] = json!(true);
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "shm-ok\n");
    Ok(())
}

#[test]
fn seccomp_filter_is_loaded() -> TestResult {
    require_env!();
    for nnp in [false, true] {
        let mut f = Fixture::new(
            "seccomp",
            &[
                "sh",
                "-c",
                "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status",
            ],
        )?;
        let profile = berth_runtime::defaults::default_seccomp_profile(
            &berth_runtime::defaults::default_capabilities(),
        );
        f.spec["linux"]["seccomp"] = serde_json::to_value(profile)?;
        f.spec["process"]["noNewPrivileges"] = json!(nnp);
        let (code, out, err) = f.run()?;
        assert_eq!(code, 0, "stderr: {err}");
        assert_eq!(
            out,
            format!("NoNewPrivs:\t{}\nSeccomp:\t2\n", u8::from(nnp))
        );
    }
    Ok(())
}

#[test]
fn user_and_groups() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "user",
        &[
            "sh",
            "-c",
            "id -u; id -g; id -G; grep CapEff /proc/self/status",
        ],
    )?;
    f.spec["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1001");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, vec!["10", "1001", "20"]);
    // A non-root user without ambient caps has an empty effective set after exec, as in Docker.
    assert_eq!(lines[3], "CapEff:\t0000000000000000");
    Ok(())
}

#[test]
fn env_and_created_cwd() -> TestResult {
    require_env!();
    let mut f = Fixture::new("env", &["sh", "-c", "echo $FOO; pwd"])?;
    f.spec["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    f.spec["process"]["cwd"] = json!("/work/dir");
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "bar baz\n/work/dir\n");
    Ok(())
}

#[test]
fn rlimits_applied_and_clamped_to_hard_limit() -> TestResult {
    require_env!();
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) }, 0);
    let mut f = Fixture::new("rlimit", &["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -Hs"])?;
    f.spec["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        // Above our hard limit: clamped to it instead of failing (no CAP_SYS_RESOURCE here).
        {"type": "RLIMIT_STACK", "soft": 8388608, "hard": u64::MAX},
    ]);
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], &["123", "456"]);
    let mut stack = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut stack) },
        0
    );
    let want = if stack.rlim_max == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        (stack.rlim_max / 1024).to_string()
    };
    assert_eq!(lines[2], want);
    Ok(())
}

#[test]
fn exit_codes_propagate() -> TestResult {
    require_env!();
    let f = Fixture::new("exit3", &["sh", "-c", "exit 3"])?;
    assert_eq!(f.run()?.0, 3);
    // SIGKILL from outside (init ignores it from inside its own pid namespace) -> 128+9.
    let f = Fixture::new("sigkill", &["sleep", "100"])?;
    f.write_spec()?;
    let bundle = f.bundle();
    let mut child = std::process::Command::new(RUNTIME)
        .arg("--root")
        .arg(f.root())
        .args(["run", "--bundle", bundle.to_str().ok_or("path")?, &f.id])
        .spawn()?;
    assert!(wait_until(std::time::Duration::from_secs(10), || {
        f.root().join(&f.id).join("state.json").exists()
    }));
    let out = f.runtime(&["kill", &f.id, "KILL"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(child.wait()?.code(), Some(137));
    Ok(())
}

#[test]
fn exec_failures_map_to_126_and_127() -> TestResult {
    require_env!();
    let f = Fixture::new("notfound", &["no-such-binary"])?;
    let (code, _, err) = f.run()?;
    assert_eq!(code, 127, "stderr: {err}");
    assert!(err.contains("not found"), "{err}");
    assert!(f.leftover_cgroups().is_empty());
    assert!(!f.root().join(&f.id).exists());
    let f = Fixture::new("notexec", &["/etc/passwd"])?;
    let (code, _, err) = f.run()?;
    assert_eq!(code, 126, "stderr: {err}");
    Ok(())
}

#[test]
fn cgroup_limits_and_mount_visible() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "cglimit",
        &["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max; touch /sys/fs/cgroup/memory/x 2>/dev/null && echo rw; true"],
    )?;
    f.spec["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}});
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "67108864\n50\n");
    Ok(())
}

#[test]
fn devices_and_dev_symlinks() -> TestResult {
    require_env!();
    let f = Fixture::new(
        "devices",
        &["sh", "-c", "for d in null zero full random urandom tty; do test -c /dev/$d || echo missing $d; done; \
                       readlink /dev/ptmx; readlink /dev/fd; readlink /dev/stdin; head -c 4 /dev/zero | wc -c; echo ok > /dev/null"],
    )?;
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "pts/ptmx\n/proc/self/fd\n/proc/self/fd/0\n4\n");
    Ok(())
}

#[test]
fn user_namespace_with_mappings() -> TestResult {
    require_env!();
    let mut f = Fixture::new(
        "userns",
        &["sh", "-c", "id -u; cat /proc/self/uid_map; echo $$"],
    )?;
    f.spec["linux"]["namespaces"]
        .as_array_mut()
        .ok_or("namespaces")?
        .push(json!({"type": "user"}));
    f.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    f.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (code, out, err) = f.run()?;
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, vec!["0", "100000", "65536"]);
    assert_eq!(lines[2], "1");
    Ok(())
}

#[test]
fn joins_existing_network_namespace() -> TestResult {
    require_env!();
    // A network namespace held by a helper process; the container joins it by path.
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "30"])
        .spawn()?;
    let ns = format!("/proc/{}/ns/net", holder.id());
    let own = std::fs::read_link("/proc/self/ns/net")?;
    let joined = wait_until(std::time::Duration::from_secs(5), || {
        std::fs::read_link(&ns).is_ok_and(|l| l != own)
    });
    let result = (|| -> TestResult {
        assert!(joined, "helper did not unshare its netns");
        let target = std::fs::read_link(&ns)?;
        let mut f = Fixture::new("joinnet", &["sh", "-c", "readlink /proc/self/ns/net"])?;
        for n in f.spec["linux"]["namespaces"].as_array_mut().ok_or("ns")? {
            if n["type"] == "network" {
                n["path"] = json!(ns);
            }
        }
        let (code, out, err) = f.run()?;
        assert_eq!(code, 0, "stderr: {err}");
        assert_eq!(out.trim(), target.to_string_lossy());
        Ok(())
    })();
    let _ = holder.kill();
    let _ = holder.wait();
    result
}

#[test]
fn refuses_to_exec_the_runtime_binary() -> TestResult {
    require_env!();
    // CVE-2019-5736: /proc/self/exe is the host's runtime binary until the container's exec.
    let f = Fixture::new("selfexe", &["/proc/self/exe", "--version"])?;
    let (code, out, err) = f.run()?;
    assert_eq!(code, 126, "stdout: {out} stderr: {err}");
    assert!(err.contains("own binary"), "{err}");
    Ok(())
}
