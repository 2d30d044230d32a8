//! The parent side of container creation: one call that clones the container's init into its
//! namespaces, places it in its cgroups, and waits until it has exec'd (or is parked before exec).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

use crate::bundle::Bundle;
use crate::cgroups::Cgroup;
use crate::sync::{self, Msg};
use crate::{Error, Result};

/// The stdio the container's process gets; `None` inherits the caller's fd.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// What to launch.
pub struct LaunchOptions<'a> {
    /// Container id (used for the default cgroup path `/berth/<id>`).
    pub id: &'a str,
    /// The loaded bundle.
    pub bundle: &'a Bundle,
    /// The process's stdio (ignored when the spec asks for a terminal).
    pub stdio: Stdio,
    /// OCI `create` semantics: the init parks before exec until this fifo is opened for reading
    /// ([`crate::container::start`]). `None`: exec right away and return once exec'd.
    pub exec_fifo: Option<&'a Path>,
}

/// A launched container process. Dropping it does not stop anything: the caller owns the
/// process (it is the caller's child) and the cgroup (destroy it after the process is gone).
#[derive(Debug)]
pub struct Launched {
    /// The init's pid as seen from the caller's pid namespace.
    pub pid: i32,
    /// The pty master when the spec asked for a terminal.
    pub pty_master: Option<OwnedFd>,
    /// The container's cgroup (created by this call).
    pub cgroup: Cgroup,
}

/// Creates the container process from `opts.bundle`.
///
/// Must be called from a single-threaded process (it clones). On success the process has
/// exec'd (or, with `exec_fifo`, is parked right before exec with everything else done). On
/// failure nothing is left behind: the child is killed and reaped and the cgroup removed.
/// Exec failures come back as [`Error::Exec`] with a [`crate::ExecErrorKind`].
pub fn launch(opts: LaunchOptions) -> Result<Launched> {
    let b = opts.bundle;
    let spec = &b.spec;
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("spec has no linux section".into()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("spec has no process".into()))?;
    let terminal = process.terminal() == Some(true);

    // Validate and prepare everything that can fail before anything is created.
    let seccomp = match linux.seccomp() {
        Some(s) => Some(crate::seccomp_glue::compile(s)?),
        None => None,
    };
    let mut clone_flags: libc::c_ulong = 0;
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut join_pid: Option<OwnedFd> = None;
    for ns in linux.namespaces().as_deref().unwrap_or(&[]) {
        match ns.path() {
            None => {
                // The cgroup namespace is unshared by the child once it is in its cgroup.
                if ns.typ() != LinuxNamespaceType::Cgroup {
                    clone_flags |= ns.typ() as libc::c_ulong;
                }
            }
            Some(path) => {
                let fd = open_ns(path)?;
                if ns.typ() == LinuxNamespaceType::Pid {
                    join_pid = Some(fd);
                } else {
                    join.push((ns.typ(), fd));
                }
            }
        }
    }
    // Why: joining the user namespace first gives us capabilities over the others it owns.
    join.sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
    let new_userns = clone_flags & libc::CLONE_NEWUSER as libc::c_ulong != 0;
    if new_userns && linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
        return Err(Error::InvalidArgument(
            "a new user namespace needs uidMappings and gidMappings".into(),
        ));
    }
    let fifo = match opts.exec_fifo {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
                .open(p)
                .map_err(|e| Error::io("open", p, e))?,
        ),
        None => None,
    };

    let cgroups_path = b.cgroups_path(opts.id);
    let cgroup = Cgroup::new(&cgroups_path).map_err(|e| Error::cgroup("open", e))?;
    cgroup.create().map_err(|e| Error::cgroup("create", e))?;
    let cleanup_cgroup = |cg: &Cgroup| {
        let _ = cg.destroy();
    };
    if let Some(res) = linux.resources() {
        if let Err(e) = cgroup.apply(res) {
            cleanup_cgroup(&cgroup);
            return Err(Error::cgroup("apply", e));
        }
    }

    let (parent_chan, child_chan) = match sync::pair() {
        Ok(p) => p,
        Err(e) => {
            cleanup_cgroup(&cgroup);
            return Err(e);
        }
    };

    // Why: setns(CLONE_NEWPID) only affects children, so the parent joins the target pid
    // namespace just for the clone and returns to its own right after.
    let own_pidns = match &join_pid {
        Some(target) => {
            let own = open_ns(Path::new("/proc/self/ns/pid"));
            let own = match own {
                Ok(fd) => fd,
                Err(e) => {
                    cleanup_cgroup(&cgroup);
                    return Err(e);
                }
            };
            if let Err(e) = nix::sched::setns(target, nix::sched::CloneFlags::CLONE_NEWPID) {
                cleanup_cgroup(&cgroup);
                return Err(Error::sys("setns pid", e));
            }
            Some(own)
        }
        None => None,
    };

    let stdio_raw: [Option<RawFd>; 3] = [
        opts.stdio.stdin.as_ref().map(|f| f.as_raw_fd()),
        opts.stdio.stdout.as_ref().map(|f| f.as_raw_fd()),
        opts.stdio.stderr.as_ref().map(|f| f.as_raw_fd()),
    ];
    let join_raw: Vec<(LinuxNamespaceType, RawFd)> =
        join.iter().map(|(t, fd)| (*t, fd.as_raw_fd())).collect();

    // SAFETY: the documented contract of this function is a single-threaded caller.
    let cloned = unsafe { crate::sys::clone_fork(clone_flags) };
    let pid = match cloned {
        Ok(None) => {
            drop(parent_chan);
            crate::init::run(crate::init::InitArgs {
                bundle: Some(b),
                process,
                chan: &child_chan,
                stdio: stdio_raw,
                terminal,
                exec_fifo: fifo.as_ref().map(|f| f.as_raw_fd()),
                join: &join_raw,
                seccomp: seccomp.as_ref(),
            })
        }
        Ok(Some(pid)) => pid,
        Err(e) => {
            if let Some(own) = &own_pidns {
                let _ = nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID);
            }
            cleanup_cgroup(&cgroup);
            return Err(e);
        }
    };
    if let Some(own) = &own_pidns {
        let _ = nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID);
    }
    drop(child_chan);
    drop(opts.stdio);

    let fail = |err: Error| -> Error {
        // SAFETY: kill/waitpid on our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        let _ = cgroup.kill_all(nix::sys::signal::Signal::SIGKILL);
        let _ = cgroup.destroy();
        err
    };

    if new_userns {
        if let Err(e) = write_id_maps(pid, linux.uid_mappings(), linux.gid_mappings()) {
            return Err(fail(e));
        }
    }
    if let Err(e) = cgroup.add_process(pid) {
        // Why the retry: a previous container of the same id may have been removing this
        // cgroup (its supervisor's teardown) between our create and add; make it again once.
        let retried = cgroup.create().and_then(|()| cgroup.add_process(pid));
        if retried.is_err() {
            return Err(fail(Error::cgroup("add process", e)));
        }
    }
    if let Err(e) = parent_chan.send(sync::MSG_GO, &[], None) {
        return Err(fail(e));
    }

    let pty_master = match await_ready(&parent_chan, opts.exec_fifo.is_some(), "container init") {
        Ok(pty_master) => pty_master,
        Err(e) => return Err(fail(e)),
    };
    Ok(Launched {
        pid,
        pty_master,
        cgroup,
    })
}

use std::os::unix::fs::OpenOptionsExt;

fn open_ns(path: &Path) -> Result<OwnedFd> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io("open namespace", path, e))
}

fn format_map(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_id_maps(
    pid: i32,
    uid: &Option<Vec<LinuxIdMapping>>,
    gid: &Option<Vec<LinuxIdMapping>>,
) -> Result<()> {
    // gid first: writing uid_map first would not be wrong, but this is the order runc uses.
    if let Some(g) = gid.as_deref().filter(|g| !g.is_empty()) {
        let p = format!("/proc/{pid}/gid_map");
        std::fs::write(&p, format_map(g)).map_err(|e| Error::io("write", &p, e))?;
    }
    if let Some(u) = uid.as_deref().filter(|u| !u.is_empty()) {
        let p = format!("/proc/{pid}/uid_map");
        std::fs::write(&p, format_map(u)).map_err(|e| Error::io("write", &p, e))?;
    }
    Ok(())
}

/// What to exec into a running container (`docker exec`, `runc exec`).
pub struct ExecOptions<'a> {
    /// The container's init pid (in the caller's pid namespace): its namespaces are joined.
    pub init_pid: i32,
    /// The container's cgroup path; the new process joins it.
    pub cgroups_path: Option<&'a str>,
    /// The process to run (args, env, cwd, user, capabilities, rlimits, terminal, ...).
    pub process: &'a oci_spec::runtime::Process,
    /// The container's seccomp filter, applied to the new process too (as Docker does).
    pub seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
    /// The process's stdio (ignored when `process.terminal` is set).
    pub stdio: Stdio,
}

/// A process exec'd into a container. The caller owns it (it is the caller's child): wait for it.
#[derive(Debug)]
pub struct Execed {
    pub pid: i32,
    /// The pty master when `process.terminal` was set.
    pub pty_master: Option<OwnedFd>,
}

/// Waits for the child's side of the setup handshake: an optional pty master, then "ready",
/// then end of stream once the child has exec'd (the channel is close-on-exec). With
/// `stop_at_ready` (create waiting on an exec fifo) it returns at "ready", before the exec.
/// An error or an early end of stream is the child's failure; `who` names it in the message.
fn await_ready(chan: &sync::Channel, stop_at_ready: bool, who: &str) -> Result<Option<OwnedFd>> {
    let mut pty_master = None;
    let mut ready = false;
    loop {
        match chan.recv()? {
            Msg::Pty(fd) => pty_master = Some(fd),
            Msg::Ready if stop_at_ready => return Ok(pty_master),
            Msg::Ready => ready = true,
            Msg::Eof if ready => return Ok(pty_master),
            Msg::Eof => {
                return Err(Error::Init {
                    message: format!("{who} exited during setup"),
                    errno: None,
                })
            }
            Msg::Error(e) => return Err(e),
            Msg::Go => {
                return Err(Error::Init {
                    message: "unexpected go message from init".into(),
                    errno: None,
                })
            }
        }
    }
}

/// Starts `opts.process` inside the running container whose init is `opts.init_pid`: joins every
/// namespace of the init that differs from the caller's, joins the cgroup, and applies the
/// process's credentials, capabilities, rlimits, seccomp and no_new_privileges, then execs.
/// Returns once exec'd; exec failures come back as [`Error::Exec`].
///
/// Must be called from a single-threaded process (it clones).
pub fn exec(opts: ExecOptions) -> Result<Execed> {
    let process = opts.process;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::InvalidArgument("process.args is empty".into()));
    }
    let terminal = process.terminal() == Some(true);
    let seccomp = match opts.seccomp {
        Some(s) => Some(crate::seccomp_glue::compile(s)?),
        None => None,
    };
    let cgroup = match opts.cgroups_path {
        Some(p) => Some(Cgroup::new(p).map_err(|e| Error::cgroup("open", e))?),
        None => None,
    };
    // Namespaces of the init that differ from ours, user first and mount last (joining the
    // mount namespace moves us to the container's root).
    const ORDER: [(LinuxNamespaceType, &str); 7] = [
        (LinuxNamespaceType::User, "user"),
        (LinuxNamespaceType::Ipc, "ipc"),
        (LinuxNamespaceType::Uts, "uts"),
        (LinuxNamespaceType::Network, "net"),
        (LinuxNamespaceType::Pid, "pid"),
        (LinuxNamespaceType::Cgroup, "cgroup"),
        (LinuxNamespaceType::Mount, "mnt"),
    ];
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut join_pid = None;
    for (typ, name) in ORDER {
        let theirs = format!("/proc/{}/ns/{name}", opts.init_pid);
        let same = match (
            std::fs::read_link(&theirs),
            std::fs::read_link(format!("/proc/self/ns/{name}")),
        ) {
            (Ok(a), Ok(b)) => a == b,
            (Err(e), _) => return Err(Error::io("readlink", &theirs, e)),
            (Ok(_), Err(_)) => false,
        };
        if same {
            continue;
        }
        let fd = open_ns(Path::new(&theirs))?;
        if typ == LinuxNamespaceType::Pid {
            join_pid = Some(fd);
        } else {
            join.push((typ, fd));
        }
    }
    // The init must still be the process whose namespaces we opened.
    if crate::sys::proc_state(opts.init_pid).is_none_or(|s| s == 'Z' || s == 'X') {
        return Err(Error::Init {
            message: format!("container init {} is not running", opts.init_pid),
            errno: None,
        });
    }

    let (parent_chan, child_chan) = sync::pair()?;
    let own_pidns = match &join_pid {
        Some(target) => {
            let own = open_ns(Path::new("/proc/self/ns/pid"))?;
            nix::sched::setns(target, nix::sched::CloneFlags::CLONE_NEWPID)
                .map_err(|e| Error::sys("setns pid", e))?;
            Some(own)
        }
        None => None,
    };
    let stdio_raw: [Option<RawFd>; 3] = [
        opts.stdio.stdin.as_ref().map(|f| f.as_raw_fd()),
        opts.stdio.stdout.as_ref().map(|f| f.as_raw_fd()),
        opts.stdio.stderr.as_ref().map(|f| f.as_raw_fd()),
    ];
    let join_raw: Vec<(LinuxNamespaceType, RawFd)> =
        join.iter().map(|(t, fd)| (*t, fd.as_raw_fd())).collect();
    // SAFETY: the documented contract of this function is a single-threaded caller.
    let cloned = unsafe { crate::sys::clone_fork(0) };
    if let Some(own) = &own_pidns {
        if !matches!(cloned, Ok(None)) {
            let _ = nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID);
        }
    }
    let pid = match cloned? {
        None => {
            drop(parent_chan);
            crate::init::run(crate::init::InitArgs {
                bundle: None,
                process,
                chan: &child_chan,
                stdio: stdio_raw,
                terminal,
                exec_fifo: None,
                join: &join_raw,
                seccomp: seccomp.as_ref(),
            })
        }
        Some(pid) => pid,
    };
    drop(child_chan);
    drop(opts.stdio);
    let fail = |err: Error| -> Error {
        // SAFETY: kill/waitpid on our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        err
    };
    if let Some(cg) = &cgroup {
        if let Err(e) = cg.add_process(pid) {
            return Err(fail(Error::cgroup("add process", e)));
        }
    }
    if let Err(e) = parent_chan.send(sync::MSG_GO, &[], None) {
        return Err(fail(e));
    }
    let pty_master = match await_ready(&parent_chan, false, "exec process") {
        Ok(pty_master) => pty_master,
        Err(e) => return Err(fail(e)),
    };
    Ok(Execed { pid, pty_master })
}
