//! The container's init: the code that runs in the cloned child, from namespace joins to execve.
//!
//! Runs in a freshly cloned, single-threaded process. Every failure is sent to the parent over the
//! sync channel (see [`crate::sync`]) and the child exits; success ends in `execve`, which closes
//! the close-on-exec channel (the parent reads EOF).

pub(crate) mod mounts;
pub(crate) mod rootfs;
mod security;

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::bundle::Bundle;
use crate::sync::{Channel, Msg, MSG_PTY, MSG_READY};
use crate::sys::{check, cloexec_from, dup2, dup_cloexec_above};
use crate::{Error, ExecErrorKind, Result};

/// The PATH used for the lookup when the spec's env has none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the parent hands to the child (all of it already prepared before clone).
pub(crate) struct InitArgs<'a> {
    /// The container to set up; `None` to exec into an existing container (its namespaces are
    /// all in `join`).
    pub bundle: Option<&'a Bundle>,
    /// The process to run.
    pub process: &'a Process,
    pub chan: &'a Channel,
    /// fds to install as 0, 1, 2; `None` keeps the inherited one.
    pub stdio: [Option<RawFd>; 3],
    /// Allocate a pty inside the container and send the master to the parent.
    pub terminal: bool,
    /// O_PATH fd of the exec fifo: block on it before exec (OCI create semantics).
    pub exec_fifo: Option<RawFd>,
    /// Namespaces to join, already opened by the parent: (type, fd). User namespace first.
    pub join: &'a [(LinuxNamespaceType, RawFd)],
    /// Compiled seccomp filter, if the spec has one.
    pub seccomp: Option<&'a crate::seccomp_glue::Filter>,
}

/// Runs the init and never returns: exec, or report the error and exit.
pub(crate) fn run(args: InitArgs) -> ! {
    let err = match setup_and_exec(&args) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    args.chan.send_error(&err);
    // SAFETY: _exit skips atexit handlers and destructors of the parent's copied state, which is
    // what a forked child must do.
    unsafe { libc::_exit(1) }
}

enum Never {}

fn setup_and_exec(a: &InitArgs) -> Result<Never> {
    let process = a.process;

    // Why (CVE-2019-5736): until execve this process *is* the host's runtime binary; while
    // non-dumpable, processes already in the container cannot open /proc/<us>/exe to overwrite
    // it. execve of the container's binary makes the process dumpable again.
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("prctl(PR_SET_DUMPABLE)", e))?;

    // Join existing namespaces (the pid namespace was joined by the parent before clone; the
    // user namespace comes first so we hold capabilities over the ones it owns).
    for (typ, fd) in a.join {
        let flag = nix::sched::CloneFlags::from_bits_truncate(*typ as i32);
        // SAFETY: fd is an open namespace fd owned by the parent's copy of our memory.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
        nix::sched::setns(bfd, flag).map_err(|e| Error::sys(format!("setns {typ}"), e))?;
    }

    // Wait for the parent: uid/gid maps written and our pid in the container's cgroups.
    match a.chan.recv()? {
        Msg::Go => {}
        Msg::Eof => {
            return Err(Error::Init {
                message: "parent went away before go".into(),
                errno: None,
            })
        }
        _ => {
            return Err(Error::Init {
                message: "unexpected sync message while waiting for go".into(),
                errno: None,
            })
        }
    }

    install_stdio(a)?;
    if let Some(b) = a.bundle {
        setup_container(b, process)?;
    }

    if a.terminal {
        setup_console(a.chan, process)?;
    }

    // Like runc: create the working directory if the image lacks it (as root, before the switch).
    let cwd = process.cwd();
    if std::fs::symlink_metadata(cwd).is_err() {
        std::fs::create_dir_all(cwd).map_err(|e| Error::io("mkdir", cwd, e))?;
    }

    if let Some(r) = process.rlimits() {
        security::apply_rlimits(r)?;
    }

    // Nothing of ours may leak into the container (CVE-2024-21626 was a leaked cgroup fd).
    cloexec_from(3)?;

    let nnp = process.no_new_privileges() == Some(true);
    // Why: loading a filter needs CAP_SYS_ADMIN or no_new_privs. Without no_new_privs we load it
    // while still privileged; with it, as late as possible so it covers the least setup code.
    if let (Some(prog), false) = (a.seccomp, nnp) {
        load_seccomp(prog)?;
    }

    let plan = security::plan_caps(process.capabilities().as_ref())?;
    if let Some(plan) = &plan {
        security::apply_bounding(plan)?;
    }
    // Keep permitted capabilities across the uid change; they are set explicitly right after.
    nix::sys::prctl::set_keepcaps(true).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))?;
    security::set_user(process.user())?;
    nix::sys::prctl::set_keepcaps(false).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))?;
    // chdir after the user switch: the process must be able to reach its own cwd.
    std::env::set_current_dir(cwd).map_err(|e| Error::io("chdir", cwd, e))?;
    if let Some(plan) = &plan {
        security::apply_caps(plan)?;
    }
    if let Some(mask) = process.user().umask() {
        // SAFETY: umask only changes this process's creation mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }

    let env: Vec<CString> = process
        .env()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .filter_map(|e| CString::new(e.as_bytes()).ok())
        .collect();
    let args: Vec<CString> = process
        .args()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::InvalidArgument("process.args contains a nul byte".into()))?;
    let arg0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .ok_or_else(|| Error::InvalidArgument("process.args is empty".into()))?;
    let path_env = process
        .env()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let exe = lookup(arg0, path_env)?;
    refuse_own_binary(&exe)?;

    if nnp {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| Error::sys("prctl(PR_SET_NO_NEW_PRIVS)", e))?;
        if let Some(prog) = a.seccomp {
            load_seccomp(prog)?;
        }
    }

    a.chan.send(MSG_READY, &[], None)?;

    if let Some(fifo) = a.exec_fifo {
        wait_exec_fifo(fifo)?;
    }

    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        apply_apparmor(profile)?;
    }
    reset_signals();
    let exe_c = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidArgument("executable path contains a nul byte".into()))?;
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: argv/envp are NULL-terminated arrays of pointers into CStrings that live until the
    // call returns (it only returns on failure).
    unsafe { libc::execve(exe_c.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let errno = nix::errno::Errno::last();
    Err(Error::Exec {
        path: exe.display().to_string(),
        kind: ExecErrorKind::from_errno(errno as i32),
        message: errno.desc().to_lowercase(),
    })
}

/// The container-creation part of the init: user namespace root, cgroup namespace, hostname,
/// rootfs and pivot_root, sysctls, read-only and masked paths. Skipped for exec.
fn setup_container(b: &Bundle, process: &Process) -> Result<()> {
    let new_userns = b.new_namespace(LinuxNamespaceType::User);
    if new_userns {
        // Why: until now our ids were the host's, unmapped in the new namespace (files created
        // with unmapped ids fail with EOVERFLOW); become the namespace's root like runc.
        // SAFETY: plain credential syscalls.
        unsafe {
            if libc::setresgid(0, 0, 0) != 0 {
                return Err(Error::sys(
                    "setresgid 0 in user namespace",
                    nix::errno::Errno::last(),
                ));
            }
            if libc::setresuid(0, 0, 0) != 0 {
                return Err(Error::sys(
                    "setresuid 0 in user namespace",
                    nix::errno::Errno::last(),
                ));
            }
        }
    }
    let cgroups = rootfs::discover_cgroups();
    let new_cgroupns = b.new_namespace(LinuxNamespaceType::Cgroup);
    if new_cgroupns {
        // Why here and not in clone: the cgroup namespace root is the cgroup we are in at unshare
        // time, and only now are we in the container's cgroup.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| Error::sys("unshare cgroup namespace", e))?;
    }

    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::io("write", "/proc/self/oom_score_adj", e))?;
    }

    set_hostname(b)?;

    rootfs::setup(&rootfs::RootfsCtx {
        bundle: b,
        cgroups: &cgroups,
        new_cgroupns,
        in_userns: new_userns,
    })?;

    let spec = &b.spec;
    let linux = spec.linux().as_ref();
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        rootfs::write_sysctls(sysctl)?;
    }
    if let Some(p) = linux.and_then(|l| l.readonly_paths().as_deref()) {
        rootfs::readonly_paths(p)?;
    }
    if let Some(p) = linux.and_then(|l| l.masked_paths().as_deref()) {
        rootfs::mask_paths(p)?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        rootfs::readonly_root()?;
    }

    Ok(())
}

fn load_seccomp(prog: &crate::seccomp_glue::Filter) -> Result<()> {
    crate::seccomp_glue::apply(prog)
}

fn set_hostname(b: &Bundle) -> Result<()> {
    let spec = &b.spec;
    let private_uts = b.namespace(LinuxNamespaceType::Uts).is_some();
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !private_uts {
            return Err(Error::Unsupported(
                "cannot set hostname without a private uts namespace".into(),
            ));
        }
        nix::unistd::sethostname(h).map_err(|e| Error::sys("sethostname", e))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !private_uts {
            return Err(Error::Unsupported(
                "cannot set domainname without a private uts namespace".into(),
            ));
        }
        // SAFETY: pointer and length of a live string.
        let ret = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
        check(ret as libc::c_long, || "setdomainname".into())?;
    }
    Ok(())
}

/// Installs the caller-provided fds as 0, 1, 2.
fn install_stdio(a: &InitArgs) -> Result<()> {
    // Why the detour through high fds: a source fd may itself be 0, 1 or 2 and would be clobbered
    // by an earlier dup2.
    let mut high = Vec::new();
    for (i, fd) in a.stdio.iter().enumerate() {
        if let Some(fd) = fd {
            high.push((i as RawFd, dup_cloexec_above(*fd, 10)?));
        }
    }
    for (target, fd) in &high {
        dup2(fd.as_raw_fd(), *target)?;
    }
    Ok(())
}

/// Allocates a pty in the container's devpts, sends the master to the parent and makes the slave
/// our controlling terminal and stdio.
fn setup_console(chan: &Channel, process: &Process) -> Result<()> {
    let ptmx = Path::new("/dev/ptmx");
    let master = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(ptmx)
        .map_err(|e| Error::io("open", ptmx, e))?;
    let mfd = master.as_raw_fd();
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int we own.
    check(
        unsafe { libc::ioctl(mfd, libc::TIOCSPTLCK, &unlock) } as libc::c_long,
        || "unlockpt".into(),
    )?;
    // Why TIOCGPTPEER: opens the slave through the master, immune to /dev/pts path tricks.
    // SAFETY: returns a new fd for the slave side.
    let slave = unsafe {
        libc::ioctl(
            mfd,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    check(slave as libc::c_long, || "ioctl(TIOCGPTPEER)".into())?;
    if let Some(size) = process.console_size() {
        let ws = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads the struct we own.
        unsafe { libc::ioctl(mfd, libc::TIOCSWINSZ, &ws) };
    }
    chan.send(MSG_PTY, b"/dev/ptmx", Some(mfd))?;
    drop(master);
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    // SAFETY: makes the slave fd our controlling terminal.
    check(
        unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } as libc::c_long,
        || "ioctl(TIOCSCTTY)".into(),
    )?;
    for t in 0..3 {
        dup2(slave, t)?;
    }
    // SAFETY: closing our extra copy of the slave.
    unsafe { libc::close(slave) };
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

/// Resolves the executable like execvp: names with a slash are used as-is, others are searched
/// in PATH. Reports not-found (127) and not-executable (126) distinctly.
fn lookup(arg0: &str, path: &str) -> Result<PathBuf> {
    let not_found = |p: &str, msg: &str| Error::Exec {
        path: p.to_string(),
        kind: ExecErrorKind::NotFound,
        message: msg.to_string(),
    };
    if arg0.contains('/') {
        return match std::fs::metadata(arg0) {
            Ok(m) if m.is_dir() => Err(Error::Exec {
                path: arg0.into(),
                kind: ExecErrorKind::NotExecutable,
                message: "is a directory".into(),
            }),
            Ok(_) => Ok(PathBuf::from(arg0)),
            Err(_) => Err(not_found(arg0, "no such file or directory")),
        };
    }
    let mut denied = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        let Ok(meta) = std::fs::metadata(&cand) else {
            continue;
        };
        if meta.is_dir() {
            continue;
        }
        let c = match CString::new(cand.as_os_str().as_bytes()) {
            Ok(c) => c,
            Err(_) => continue,
        };
        // SAFETY: valid C string.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            return Ok(cand);
        }
        denied.get_or_insert(cand);
    }
    match denied {
        Some(p) => Err(Error::Exec {
            path: p.display().to_string(),
            kind: ExecErrorKind::NotExecutable,
            message: "permission denied".into(),
        }),
        None => Err(not_found(
            arg0,
            &format!("executable file not found in $PATH ({path})"),
        )),
    }
}

/// Asks AppArmor to confine the process with `profile` from its next execve. Hosts without
/// AppArmor ignore the profile (the engine only sets one when AppArmor is enabled, like Docker).
fn apply_apparmor(profile: &str) -> Result<()> {
    let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    if !enabled {
        return Ok(());
    }
    let data = format!("exec {profile}");
    // Newer kernels expose the per-LSM path; older ones only the shared one.
    let res = std::fs::write("/proc/self/attr/apparmor/exec", &data)
        .or_else(|_| std::fs::write("/proc/self/attr/exec", &data));
    res.map_err(|e| Error::io("apply apparmor profile", "/proc/self/attr/exec", e))
}

/// Refuses to exec the runtime's own binary (reachable as /proc/self/exe from inside the
/// container): a container process running it could later rewrite the host binary through
/// /proc/PID/exe (CVE-2019-5736).
fn refuse_own_binary(exe: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (Ok(target), Ok(own)) = (std::fs::metadata(exe), std::fs::metadata("/proc/self/exe"))
    else {
        return Ok(());
    };
    if target.dev() == own.dev() && target.ino() == own.ino() {
        return Err(Error::Exec {
            path: exe.display().to_string(),
            kind: ExecErrorKind::NotExecutable,
            message: "refusing to execute the runtime's own binary".into(),
        });
    }
    Ok(())
}

/// Blocks until `start` opens the exec fifo for reading, then writes one byte (OCI create).
fn wait_exec_fifo(fifo: RawFd) -> Result<()> {
    use std::io::Write;
    // Why via /proc/self/fd: the fifo lives on the host, outside our new root; the O_PATH fd
    // opened before clone is the only way back to it. Opening O_WRONLY blocks until a reader.
    let path = format!("/proc/self/fd/{fifo}");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| Error::io("open exec fifo", &path, e))?;
    f.write_all(b"0")
        .map_err(|e| Error::io("write exec fifo", &path, e))?;
    Ok(())
}

/// Restores default signal dispositions and an empty mask (the shim blocks signals for its
/// signalfd, and Rust ignores SIGPIPE; both would leak into the container otherwise).
fn reset_signals() {
    for sig in 1..32 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: setting a default disposition is always valid.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    // SAFETY: an empty sigset built by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}
