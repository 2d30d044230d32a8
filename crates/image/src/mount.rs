//! Mount descriptions returned by snapshotters, and helpers to apply them.

use std::fs;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Error, Result};

/// One mount to perform, in containerd's shape: `mount -t <kind> <source> <target> -o <options>`.
///
/// `kind` is `"overlay"` (options carry `lowerdir=`, `upperdir=`, `workdir=`) or `"bind"`
/// (options contain `rbind`/`bind` and optionally `ro`). The target is chosen by the caller
/// (e.g. the runtime's rootfs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// filesystem type: "overlay" or "bind"
    pub kind: String,
    /// source: "overlay" for overlay, a directory for bind
    pub source: String,
    /// mount options
    pub options: Vec<String>,
}

impl Mount {
    /// Mount at `target`, which must exist.
    pub fn mount(&self, target: &Path) -> Result<()> {
        let mut flags = MsFlags::empty();
        let mut data: Vec<&str> = Vec::new();
        let mut readonly = false;
        for o in &self.options {
            match o.as_str() {
                "ro" => readonly = true,
                "rw" => {}
                "bind" => flags |= MsFlags::MS_BIND,
                "rbind" => flags |= MsFlags::MS_BIND | MsFlags::MS_REC,
                "nosuid" => flags |= MsFlags::MS_NOSUID,
                "nodev" => flags |= MsFlags::MS_NODEV,
                "noexec" => flags |= MsFlags::MS_NOEXEC,
                other => data.push(other),
            }
        }
        let err = |source| Error::Mount {
            op: "mount",
            target: target.to_path_buf(),
            source,
        };
        if self.kind == "bind" || flags.contains(MsFlags::MS_BIND) {
            nix::mount::mount(
                Some(self.source.as_str()),
                target,
                None::<&str>,
                flags | MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(err)?;
            if readonly {
                // A bind mount ignores MS_RDONLY on creation; it takes a remount.
                nix::mount::mount(
                    None::<&str>,
                    target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(err)?;
            }
            return Ok(());
        }
        if readonly {
            flags |= MsFlags::MS_RDONLY;
        }
        let data = data.join(",");
        nix::mount::mount(
            Some(self.source.as_str()),
            target,
            Some(self.kind.as_str()),
            flags,
            Some(data.as_str()),
        )
        .map_err(err)
    }
}

/// Create `target` (and parents) and apply `mounts` in order. On failure, mounts already made
/// are undone.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<()> {
    fs::create_dir_all(target).map_err(|e| Error::io("create mount point", target, e))?;
    for (i, m) in mounts.iter().enumerate() {
        if let Err(e) = m.mount(target) {
            for _ in 0..i {
                let _ = unmount(target);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Unmount `target`. Not an error if nothing is mounted there (idempotent). Falls back to a
/// lazy detach if the mount is busy, so the mount disappears from the namespace either way.
pub fn unmount(target: &Path) -> Result<()> {
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        Err(nix::Error::EBUSY) => {
            nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(|source| Error::Mount {
                op: "unmount",
                target: target.to_path_buf(),
                source,
            })
        }
        Err(source) => Err(Error::Mount {
            op: "unmount",
            target: target.to_path_buf(),
            source,
        }),
    }
}

/// Whether `path` is a mount point in this mount namespace (from /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == want)
}

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo octal.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
