//! berth-init as a process: exit statuses, signal forwarding, reaping, and static linking.
//! (Inside containers, as pid 1, it is tested end to end in tests/tests/init.rs.)
#![allow(clippy::unwrap_used)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = env!("CARGO_BIN_EXE_berth-init");

fn status(args: &[&str]) -> Option<i32> {
    Command::new(INIT)
        .args(args)
        .stderr(Stdio::null())
        .status()
        .expect("run berth-init")
        .code()
}

#[test]
fn exit_statuses_propagate() {
    assert_eq!(status(&["--", "sh", "-c", "exit 3"]), Some(3));
    assert_eq!(status(&["--", "true"]), Some(0));
    assert_eq!(status(&["--", "sh", "-c", "kill -KILL $$"]), Some(137));
    assert_eq!(status(&["--", "/nonexistent/command"]), Some(127));
    assert_eq!(status(&["--", "/"]), Some(126));
    assert_eq!(status(&[]), Some(1));
}

#[test]
fn signals_reach_the_child() {
    for (signal, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGINT, 130),
        (libc::SIGHUP, 129),
    ] {
        let mut child = Command::new(INIT)
            .args(["--", "sleep", "100"])
            .spawn()
            .expect("spawn");
        // Let the init block its signals and start sleep; an early signal is simply queued.
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait") {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("berth-init did not forward signal {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(exit.code(), Some(code), "signal {signal}");
    }
    // A signal the child handles does not end it; the child's own exit status comes back.
    let out = Command::new(INIT)
        .args([
            "--",
            "sh",
            "-c",
            "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = out.id() as i32;
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let out = out.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ready\ngot-usr1\n");
}

#[test]
fn orphans_are_reaped() {
    // The subshells exit at once, orphaning their sleeps to the init (a subreaper here, pid 1
    // in a container); once the sleeps end, no zombie may remain under the init.
    let out = Command::new(INIT)
        .args([
            "--",
            "sh",
            "-c",
            "(sleep 0.1 &); (sleep 0.1 &); sleep 0.6; ps -o stat= --ppid $PPID",
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('Z'), "zombies left under berth-init: {text}");
}

/// The program headers of an ELF64 file: (type) for each.
fn program_header_types(elf: &[u8]) -> Vec<u32> {
    assert_eq!(&elf[..4], b"\x7fELF");
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count)
        .map(|i| {
            let o = phoff + i * size;
            u32::from_le_bytes(elf[o..o + 4].try_into().unwrap())
        })
        .collect()
}

#[test]
fn runs_without_a_libc() {
    const PT_INTERP: u32 = 3;
    let elf = std::fs::read(INIT).expect("read binary");
    assert!(
        !program_header_types(&elf).contains(&PT_INTERP),
        "berth-init asks for a dynamic loader"
    );
    // An empty root with nothing but the init: it must start and report its version.
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::copy(INIT, root.path().join("init")).expect("copy");
    let dir = root.path().to_path_buf();
    let mut cmd = Command::new("/init");
    cmd.arg("--version");
    // SAFETY: chroot and chdir in the forked child before exec (tests run as root).
    unsafe {
        cmd.pre_exec(move || {
            std::os::unix::fs::chroot(&dir)?;
            std::env::set_current_dir("/")
        })
    };
    let out = cmd.output().expect("run in empty root");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("berth-init version"));
}
