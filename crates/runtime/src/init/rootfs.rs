//! Building the container's filesystem view inside its mount namespace: propagation, the rootfs
//! bind, spec mounts, /dev, pivot_root, masked and read-only paths.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};

use super::mounts::{
    current_flags, mkdir_all, mount, parse_options, propagation_flags, remount_bind, secure_join,
    touch,
};
use crate::bundle::Bundle;
use crate::sys::{check, cpath};
use crate::{Error, Result};

/// One cgroup hierarchy to expose inside the container: `name` under /sys/fs/cgroup, bound from
/// the container's own cgroup directory `host_dir` on the host.
#[derive(Debug, Clone)]
pub(crate) struct CgroupBind {
    pub name: String,
    pub host_dir: PathBuf,
    /// cgroup2 (the unified hierarchy).
    pub unified: bool,
}

/// Finds the container's own cgroup directories (call after the parent placed us in our cgroups
/// and before unsharing the cgroup namespace, so the paths are host paths).
pub(crate) fn discover_cgroups() -> Vec<CgroupBind> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let Ok(own) = std::fs::read_to_string("/proc/self/cgroup") else {
        return Vec::new();
    };
    // (hierarchy id, controllers, path)
    let own: Vec<(&str, Vec<&str>, &str)> = own
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some((
                id,
                ctrls.split(',').filter(|c| !c.is_empty()).collect(),
                path,
            ))
        })
        .collect();
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        // Fields: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let (root, mountpoint, fstype, superopts) = (pre[3], pre[4], post[0], post[2]);
        if !mountpoint.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let found = match fstype {
            "cgroup2" => own.iter().find(|(id, c, _)| *id == "0" && c.is_empty()),
            "cgroup" => {
                let opts: Vec<&str> = superopts.split(',').collect();
                own.iter()
                    .find(|(_, c, _)| !c.is_empty() && c.iter().all(|x| opts.contains(x)))
            }
            _ => None,
        };
        let Some((_, _, path)) = found else { continue };
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .trim_start_matches('/');
        let name = if mountpoint == "/sys/fs/cgroup" {
            String::new()
        } else {
            mountpoint.trim_start_matches("/sys/fs/cgroup/").to_string()
        };
        out.push(CgroupBind {
            name,
            host_dir: Path::new(mountpoint).join(rel),
            unified: fstype == "cgroup2",
        });
    }
    out
}

/// Everything the rootfs setup needs besides the bundle.
pub(crate) struct RootfsCtx<'a> {
    pub bundle: &'a Bundle,
    pub cgroups: &'a [CgroupBind],
    pub new_cgroupns: bool,
    pub in_userns: bool,
}

/// Prepares the rootfs and pivots into it. On return, `/` is the container's root and the host's
/// mounts are gone from this mount namespace.
pub(crate) fn setup(ctx: &RootfsCtx) -> Result<()> {
    let b = ctx.bundle;
    let linux = b.spec.linux().as_ref();
    let rootfs = b.rootfs.as_path();

    // Why: by default nothing we mount below may propagate back to the host (rslave, as runc).
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .filter(|p| !p.is_empty())
        .map(|p| {
            propagation_flags(p)
                .ok_or_else(|| Error::InvalidArgument(format!("unknown rootfsPropagation {p:?}")))
        })
        .transpose()?
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(None, Path::new("/"), None, prop | MsFlags::MS_REC, None)?;

    // Why: pivot_root(2) refuses a new root whose parent mount is shared; binding the rootfs
    // onto itself also makes it a mount point even when it is a plain directory.
    if prop.contains(MsFlags::MS_SHARED) {
        if let Some(parent) = mount_point_of(rootfs.parent().unwrap_or(Path::new("/"))) {
            mount(None, &parent, None, MsFlags::MS_PRIVATE, None)?;
        }
    }
    mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;

    let mounts: &[Mount] = b.spec.mounts().as_deref().unwrap_or(&[]);
    let mut dev_is_bind = false;
    let mut has_devpts = false;
    for m in mounts {
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]));
        let typ = m.typ().as_deref().unwrap_or("");
        let bind = opts.bind || typ == "bind";
        if m.destination() == Path::new("/dev") && bind {
            dev_is_bind = true;
        }
        if m.destination() == Path::new("/dev/pts") && typ == "devpts" {
            has_devpts = true;
        }
        mount_one(ctx, m, typ, bind, &opts).map_err(|e| Error::Init {
            message: format!("mount {}: {e}", m.destination().display()),
            errno: e.errno(),
        })?;
    }

    if !dev_is_bind {
        create_devices(
            rootfs,
            linux.and_then(|l| l.devices().as_deref()),
            ctx.in_userns,
        )?;
        dev_symlinks(rootfs, has_devpts)?;
    }

    pivot(rootfs)
}

fn mount_one(
    ctx: &RootfsCtx,
    m: &Mount,
    typ: &str,
    bind: bool,
    opts: &super::mounts::MountOpts,
) -> Result<()> {
    let rootfs = ctx.bundle.rootfs.as_path();
    let dest = secure_join(rootfs, m.destination())?;
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroups(ctx, &dest, opts);
    }
    if bind {
        let src = m
            .source()
            .as_deref()
            .ok_or_else(|| Error::InvalidArgument("bind mount without a source".into()))?;
        let src = if src.is_absolute() {
            src.to_path_buf()
        } else {
            ctx.bundle.dir.join(src)
        };
        let meta = std::fs::metadata(&src).map_err(|e| Error::io("stat", &src, e))?;
        if meta.is_dir() {
            mkdir_all(&dest)?;
        } else {
            touch(&dest)?;
        }
        let mut flags = MsFlags::MS_BIND;
        if opts.recursive {
            flags |= MsFlags::MS_REC;
        }
        mount(Some(&src), &dest, None, flags, None)?;
        // Why: MS_BIND ignores every other flag; ro/nosuid/... need a second, remount call.
        let extra = opts.flags & !(MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            remount_bind(&dest, extra)?;
        }
    } else {
        mkdir_all(&dest)?;
        let source = m
            .source()
            .as_deref()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(typ));
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        let res = mount(Some(&source), &dest, Some(typ), opts.flags, data);
        match res {
            Err(e) if matches!(typ, "sysfs" | "mqueue") && e.errno() == Some(libc::EPERM) => {
                // Why: sysfs needs a private netns and mqueue a private ipcns when we are in a
                // user namespace; fall back to a bind of the host's, as runc does.
                let host = if typ == "sysfs" {
                    "/sys"
                } else {
                    "/dev/mqueue"
                };
                mount(
                    Some(Path::new(host)),
                    &dest,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                )?;
                if !opts.flags.is_empty() {
                    remount_bind(&dest, opts.flags)?;
                }
            }
            other => other?,
        }
    }
    for p in &opts.propagation {
        mount(None, &dest, None, *p, None)?;
    }
    Ok(())
}

/// /sys/fs/cgroup inside the container: the container's own cgroup directories, read-only.
fn mount_cgroups(ctx: &RootfsCtx, dest: &Path, opts: &super::mounts::MountOpts) -> Result<()> {
    mkdir_all(dest)?;
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    // Pure cgroup v2: one hierarchy mounted at /sys/fs/cgroup itself.
    if let Some(v2) = ctx.cgroups.iter().find(|c| c.name.is_empty() && c.unified) {
        if ctx.new_cgroupns {
            return mount(
                Some(Path::new("cgroup2")),
                dest,
                Some("cgroup2"),
                opts.flags,
                None,
            );
        }
        mount(Some(&v2.host_dir), dest, None, MsFlags::MS_BIND, None)?;
        return remount_bind(dest, opts.flags);
    }
    // v1 or hybrid: a tmpfs holding one read-only bind per hierarchy (what Docker shows).
    mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )?;
    for cg in ctx.cgroups {
        if cg.name.is_empty() || !cg.host_dir.is_dir() {
            continue;
        }
        let target = dest.join(&cg.name);
        mkdir_all(&target)?;
        mount(Some(&cg.host_dir), &target, None, MsFlags::MS_BIND, None)?;
        remount_bind(
            &target,
            base | if ro {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            },
        )?;
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct".
        if cg.name.contains(',') {
            for part in cg.name.split(',') {
                let link = dest.join(part);
                if std::fs::symlink_metadata(&link).is_err() {
                    symlink(&cg.name, &link).map_err(|e| Error::io("symlink", &link, e))?;
                }
            }
        }
    }
    if ro {
        mount(
            None,
            dest,
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
            Some("mode=755"),
        )?;
    }
    Ok(())
}

/// The mount point containing `path`, from /proc/self/mountinfo.
fn mount_point_of(path: &Path) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
}

/// The devices every container gets (runc's defaults), plus the spec's.
fn default_devices() -> Vec<(&'static str, u64, u64)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

/// (path, type, major, minor, mode, uid, gid)
type DeviceNode = (
    PathBuf,
    LinuxDeviceType,
    u64,
    u64,
    u32,
    Option<u32>,
    Option<u32>,
);

fn create_devices(rootfs: &Path, spec: Option<&[LinuxDevice]>, in_userns: bool) -> Result<()> {
    let spec = spec.unwrap_or(&[]);
    let mut all: Vec<DeviceNode> = default_devices()
        .into_iter()
        .filter(|(p, _, _)| !spec.iter().any(|d| d.path() == Path::new(p)))
        .map(|(p, maj, min)| {
            (
                PathBuf::from(p),
                LinuxDeviceType::C,
                maj,
                min,
                0o666,
                None,
                None,
            )
        })
        .collect();
    for d in spec {
        all.push((
            d.path().clone(),
            d.typ(),
            d.major() as u64,
            d.minor() as u64,
            d.file_mode().unwrap_or(0o666),
            d.uid(),
            d.gid(),
        ));
    }
    // Why: device nodes are created with exactly the requested mode, not masked by the umask.
    // SAFETY: umask only changes this process's file creation mask.
    let old = unsafe { libc::umask(0) };
    let res = (|| {
        for (path, typ, major, minor, mode, uid, gid) in &all {
            let dest = secure_join(rootfs, path)?;
            if let Some(parent) = dest.parent() {
                mkdir_all(parent)?;
            }
            // Why: mknod is not allowed in a user namespace; bind the host's node instead.
            if in_userns || mknod(&dest, *typ, *major, *minor, *mode).is_err() {
                touch(&dest)?;
                mount(Some(path), &dest, None, MsFlags::MS_BIND, None)?;
                continue;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::chown(&dest, *uid, *gid)
                    .map_err(|e| Error::io("chown", &dest, e))?;
            }
        }
        Ok(())
    })();
    // SAFETY: restores the previous mask.
    unsafe { libc::umask(old) };
    res
}

fn mknod(path: &Path, typ: LinuxDeviceType, major: u64, minor: u64, mode: u32) -> Result<()> {
    let kind = match typ {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::InvalidArgument(format!(
                "device {} has type a",
                path.display()
            )))
        }
    };
    let _ = std::fs::remove_file(path);
    let c = cpath(path)?;
    // SAFETY: valid path string; makedev only combines numbers.
    let ret = unsafe {
        libc::mknod(
            c.as_ptr(),
            kind | (mode & 0o7777),
            libc::makedev(major as u32, minor as u32),
        )
    };
    check(ret as libc::c_long, || format!("mknod {}", path.display())).map(|_| ())
}

fn dev_symlinks(rootfs: &Path, has_devpts: bool) -> Result<()> {
    let dev = rootfs.join("dev");
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    if has_devpts {
        // Why: with a devpts "newinstance" mount the container's ptmx must be the one inside its
        // own devpts, not the host's /dev/ptmx node.
        let ptmx = dev.join("ptmx");
        let _ = std::fs::remove_file(&ptmx);
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        let link = dev.join(name);
        match symlink(target, &link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("symlink", &link, e)),
        }
    }
    Ok(())
}

/// pivot_root into `rootfs` and drop the old root, the way runc does it: `pivot_root(".", ".")`
/// stacks the old root on top of the new one, so a lazy unmount of "." removes it without needing
/// a put_old directory inside the rootfs.
fn pivot(rootfs: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let open_dir = |p: &Path| std::fs::File::open(p).map_err(|e| Error::io("open", p, e));
    let old_root = open_dir(Path::new("/"))?;
    let new_root = open_dir(rootfs)?;
    // SAFETY: fchdir on an fd we own.
    check(
        unsafe { libc::fchdir(new_root.as_raw_fd()) } as libc::c_long,
        || "fchdir(rootfs)".into(),
    )?;
    crate::sys::pivot_root(".", ".")?;
    // SAFETY: fchdir on an fd we own.
    check(
        unsafe { libc::fchdir(old_root.as_raw_fd()) } as libc::c_long,
        || "fchdir(oldroot)".into(),
    )?;
    // Why: make the old root a slave first so the lazy unmount does not propagate to the host.
    mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("umount old root", e))?;
    std::env::set_current_dir("/").map_err(|e| Error::io("chdir", "/", e))
}

/// Hides `paths`: /dev/null bound over files, an empty read-only tmpfs over directories.
pub(crate) fn mask_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("stat", path, e)),
        };
        if meta.is_dir() {
            mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )?;
        } else {
            mount(
                Some(Path::new("/dev/null")),
                path,
                None,
                MsFlags::MS_BIND,
                None,
            )?;
        }
    }
    Ok(())
}

/// Makes `paths` read-only with a bind of each onto itself, then a read-only remount.
pub(crate) fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        match mount(
            Some(path),
            path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ) {
            Ok(()) => {}
            Err(e) if e.errno() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e),
        }
        remount_bind(path, MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

/// root.readonly: remount `/` read-only (keeping its locked flags).
pub(crate) fn readonly_root() -> Result<()> {
    let keep = current_flags(Path::new("/"));
    mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        None,
    )
}

/// Writes `linux.sysctl` entries under /proc/sys (the container's, after pivot_root).
pub(crate) fn write_sysctls(sysctl: &std::collections::HashMap<String, String>) -> Result<()> {
    for (k, v) in sysctl {
        // Keys are dotted (`net.ipv4.ip_forward`); anything path-like could escape /proc/sys.
        if k.is_empty() || k.contains("..") || k.contains('/') {
            return Err(Error::InvalidArgument(format!("invalid sysctl {k:?}")));
        }
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&path, v.as_bytes()).map_err(|e| Error::io("write", &path, e))?;
    }
    Ok(())
}
