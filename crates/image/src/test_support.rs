//! Helpers for the crate's tests: root/kernel feature gating, mount guards, tar builders.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::mount;

pub type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// Under `CI=true` a missing feature fails the test; elsewhere the test is skipped (returns
/// false) with a note on stderr.
pub fn require(ok: bool, what: &str) -> bool {
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required feature missing under CI=true: {what}");
    }
    eprintln!("SKIP: {what}");
    false
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Unmounts `path` (lazily, repeatedly) when dropped, so a failing test leaves nothing mounted.
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        for _ in 0..4 {
            if !mount::is_mounted(&self.0) {
                break;
            }
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

pub fn mountinfo_mentions(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.contains(&*path.to_string_lossy())
}

/// A busybox rootfs (bin/busybox + applet symlinks, etc/passwd, etc/group) in `dir/rootfs`,
/// tarred with GNU tar into `dir/busybox.tar`. None if busybox is not installed.
pub fn busybox_tar(dir: &Path) -> Option<PathBuf> {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())?;
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("bin")).ok()?;
    fs::create_dir_all(root.join("etc")).ok()?;
    fs::create_dir_all(root.join("tmp")).ok()?;
    fs::copy(bb, root.join("bin/busybox")).ok()?;
    let list = Command::new(bb).arg("--list").output().ok()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .ok()?;
    fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").ok()?;
    let tar = dir.join("busybox.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .ok()?;
    st.success().then_some(tar)
}

/// Builds tars with arbitrary (also malicious) raw names, bypassing the tar crate's checks.
pub struct RawTar {
    b: tar::Builder<Vec<u8>>,
}

impl RawTar {
    pub fn new() -> RawTar {
        RawTar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        {
            let raw = &mut h.as_old_mut().name;
            raw.fill(0);
            raw[..name.len()].copy_from_slice(name.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    fn link_header(name: &str, kind: tar::EntryType, target: &str) -> tar::Header {
        let mut h = Self::header(name, kind, 0, 0o777);
        {
            let raw = &mut h.as_old_mut().linkname;
            raw.fill(0);
            raw[..target.len()].copy_from_slice(target.as_bytes());
        }
        h
    }

    pub fn file(mut self, name: &str, data: &[u8]) -> RawTar {
        let mut h = Self::header(name, tar::EntryType::Regular, data.len() as u64, 0o644);
        h.set_cksum();
        let _ = self.b.append(&h, data);
        self
    }

    pub fn dir(mut self, name: &str) -> RawTar {
        let mut h = Self::header(name, tar::EntryType::Directory, 0, 0o755);
        h.set_cksum();
        let _ = self.b.append(&h, std::io::empty());
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> RawTar {
        let mut h = Self::link_header(name, tar::EntryType::Symlink, target);
        h.set_cksum();
        let _ = self.b.append(&h, std::io::empty());
        self
    }

    pub fn hardlink(mut self, name: &str, target: &str) -> RawTar {
        let mut h = Self::link_header(name, tar::EntryType::Link, target);
        h.set_cksum();
        let _ = self.b.append(&h, std::io::empty());
        self
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.b.into_inner().unwrap_or_default()
    }

    pub fn builder(&mut self) -> &mut tar::Builder<Vec<u8>> {
        &mut self.b
    }
}

/// Every path under `root` (relative), sorted, excluding the SQLite files.
pub fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if rel.starts_with("meta.db") {
                continue;
            }
            if fs::symlink_metadata(&p)
                .map(|m| m.is_dir())
                .unwrap_or(false)
            {
                stack.push(p);
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}
