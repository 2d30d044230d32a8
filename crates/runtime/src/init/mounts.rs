//! Mount option parsing, path resolution inside the rootfs, and mount helpers.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use crate::{Error, Result};

/// Parsed OCI mount options.
#[derive(Debug, Clone)]
pub struct MountOpts {
    /// Flags to set (ro, nosuid, ...).
    pub flags: MsFlags,
    /// Propagation changes to apply after the mount (each one is its own mount(2) call).
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific data (`mode=755,size=65536k`).
    pub data: String,
    pub bind: bool,
    pub recursive: bool,
}

impl Default for MountOpts {
    fn default() -> Self {
        MountOpts {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            bind: false,
            recursive: false,
        }
    }
}

/// Splits OCI mount options into flags, propagation and data, like runc's `parseMountOptions`.
pub fn parse_options(options: &[String]) -> MountOpts {
    let mut o = MountOpts::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                if let Some(p) = propagation_flags(opt) {
                    o.propagation.push(p);
                }
                continue;
            }
            // Options runc accepts that only matter to other runtimes or are handled elsewhere.
            "tmpcopyup" | "idmap" | "ridmap" | "nosymfollow" | "rro" | "rrw" => continue,
            other => {
                data.push(other);
                continue;
            }
        };
        o.flags.insert(set);
        o.flags.remove(clear);
    }
    o.data = data.join(",");
    o
}

/// The mount(2) flags for a propagation keyword (`rslave`, `private`, ...).
pub(crate) fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Resolves `unsafe_path` inside `root`, following symlinks as if `root` were `/`, so that a
/// malicious symlink in the image cannot point a mount outside the rootfs (the class of bugs
/// behind CVE-2021-30465). Missing components are kept as-is.
pub(crate) fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut pending: VecDeque<std::ffi::OsString> = VecDeque::new();
    let push_components = |p: &Path, q: &mut VecDeque<std::ffi::OsString>, front: bool| {
        let comps: Vec<std::ffi::OsString> = p
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some("..".into()),
                _ => None,
            })
            .collect();
        if front {
            for c in comps.into_iter().rev() {
                q.push_front(c);
            }
        } else {
            q.extend(comps);
        }
    };
    push_components(unsafe_path, &mut pending, false);
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == OsStr::new("..") {
            resolved.pop();
            continue;
        }
        let full = root.join(&resolved).join(&c);
        match std::fs::read_link(&full) {
            Ok(target) => {
                links += 1;
                if links > 255 {
                    return Err(Error::InvalidArgument(format!(
                        "too many symlinks resolving {}",
                        unsafe_path.display()
                    )));
                }
                if target.is_absolute() {
                    resolved.clear();
                }
                push_components(&target, &mut pending, true);
            }
            Err(_) => resolved.push(&c),
        }
    }
    Ok(root.join(resolved))
}

/// mount(2) with error context.
pub(crate) fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
        Error::sys(
            format!(
                "mount {} on {} (type {}, flags {:#x}, data {:?})",
                source.map(|s| s.display().to_string()).unwrap_or_default(),
                target.display(),
                fstype.unwrap_or(""),
                flags.bits(),
                data.unwrap_or("")
            ),
            e,
        )
    })
}

/// The per-mount flags currently set on the mount at `path` (ro, nosuid, nodev, noexec, atime).
///
/// Why: a bind remount must repeat the flags the kernel "locked" on a mount that came from a more
/// privileged mount namespace (nosuid/nodev/noexec/atime), or it fails with EPERM.
pub(crate) fn current_flags(path: &Path) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let mut out = MsFlags::empty();
    if let Ok(st) = statvfs(path) {
        let f = st.flags();
        for (fs, ms) in [
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(fs) {
                out.insert(ms);
            }
        }
    }
    out
}

/// Remounts the bind mount at `path` with `flags` (plus its locked flags).
pub(crate) fn remount_bind(path: &Path, flags: MsFlags) -> Result<()> {
    let keep = current_flags(path) & !MsFlags::MS_RDONLY;
    mount(
        None,
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | keep,
        None,
    )
}

/// Creates `path` as a directory (with parents).
pub(crate) fn mkdir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io("mkdir", path, e))
}

/// Creates an empty file at `path` (and its parent directories) to bind a file onto.
pub(crate) fn touch(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        mkdir_all(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(()),
        Err(_) => std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(|_| ())
            .map_err(|e| Error::io("create", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "strictatime".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "rbind".into(),
            "rprivate".into(),
            "ro".into(),
        ]);
        assert!(o.flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_RDONLY));
        assert!(o.bind && o.recursive);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
    }

    #[test]
    fn secure_join_keeps_symlinks_inside_root(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        std::fs::create_dir_all(root.join("a"))?;
        std::os::unix::fs::symlink("/etc", root.join("a/evil"))?;
        std::os::unix::fs::symlink("../../../../..", root.join("up"))?;
        assert_eq!(
            secure_join(root, Path::new("/a/evil/x"))?,
            root.join("etc/x")
        );
        assert_eq!(secure_join(root, Path::new("/up/y"))?, root.join("y"));
        assert_eq!(secure_join(root, Path::new("../../z"))?, root.join("z"));
        Ok(())
    }
}
