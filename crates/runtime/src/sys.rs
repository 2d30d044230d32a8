//! Thin syscall wrappers that nix lacks or makes awkward, with errors carrying context.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use crate::{Error, Result};

/// Converts a path to a C string (paths with NUL bytes are rejected).
pub(crate) fn cpath(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::InvalidArgument(format!("path contains a nul byte: {}", path.display()))
    })
}

/// Maps a libc return value to a Result, capturing errno.
pub(crate) fn check(ret: libc::c_long, op: impl FnOnce() -> String) -> Result<libc::c_long> {
    if ret == -1 {
        Err(Error::sys(op(), Errno::last()))
    } else {
        Ok(ret)
    }
}

/// `clone(2)` used like `fork(2)` but with namespace flags: the child continues on a copy-on-write
/// copy of the caller's stack. Returns `None` in the child, the child's pid in the parent.
///
/// # Safety
/// The caller must be single-threaded (like `fork`): in the child only the calling thread exists,
/// and locks held by other threads would stay locked forever.
pub(crate) unsafe fn clone_fork(flags: libc::c_ulong) -> Result<Option<libc::pid_t>> {
    // SAFETY: raw clone with a null stack pointer behaves like fork (the child gets a CoW copy of
    // the stack); the caller guarantees single-threadedness. SIGCHLD makes the child waitable
    // like a forked one. Argument order (flags, stack, ptid, ctid, tls) only matters for the
    // pointers, which are all null here.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        -1 => Err(Error::sys(format!("clone({flags:#x})"), Errno::last())),
        0 => Ok(None),
        pid => Ok(Some(pid as libc::pid_t)),
    }
}

/// `pivot_root(new_root, put_old)`.
pub(crate) fn pivot_root(new_root: &str, put_old: &str) -> Result<()> {
    let a = cpath(Path::new(new_root))?;
    let b = cpath(Path::new(put_old))?;
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) };
    check(ret, || "pivot_root".into()).map(|_| ())
}

/// Marks every fd >= `from` close-on-exec (so nothing of ours leaks into the container).
pub(crate) fn cloexec_from(from: u32) -> Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes fd flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    // Why: close_range(CLOEXEC) is Linux >= 5.11; fall back to walking /proc/self/fd.
    let dir =
        std::fs::read_dir("/proc/self/fd").map_err(|e| Error::io("read", "/proc/self/fd", e))?;
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .filter(|fd: &RawFd| *fd >= from as RawFd)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on an fd number; a stale number just fails with EBADF.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// `dup2(old, new)` clearing CLOEXEC on `new`.
pub(crate) fn dup2(old: RawFd, new: RawFd) -> Result<()> {
    // SAFETY: dup2 on fd numbers; `new` is replaced atomically.
    let ret = unsafe { libc::dup2(old, new) };
    check(ret as libc::c_long, || format!("dup2({old}, {new})")).map(|_| ())
}

/// Duplicates `fd` to a number >= `min` with CLOEXEC set.
pub(crate) fn dup_cloexec_above(fd: RawFd, min: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new fd we then own.
    let ret = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    check(ret as libc::c_long, || format!("dup({fd})"))?;
    // SAFETY: ret is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret) })
}

/// `pidfd_open(pid)`: an fd that polls readable when the process exits.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags, returns a new fd.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    check(ret, || format!("pidfd_open({pid})"))?;
    // SAFETY: ret is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// The start time of `pid` (field 22 of /proc/PID/stat, in clock ticks since boot), used to tell
/// a live container init from a recycled pid. `None` when the process is gone.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Why: comm (field 2) may contain spaces and parentheses; fields restart after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // rest starts at field 3 (state); start time is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The one-letter state of `pid` from /proc/PID/stat (`Z` zombie, `X` dead, ...).
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.chars().next()
}

/// Writes `data` to `path` atomically: temp file in the same directory, optional fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8], fsync: bool) -> Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(data).map_err(|e| Error::io("write", &tmp, e))?;
    if fsync {
        f.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))?;
    if fsync {
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
    }
    Ok(())
}

/// Sets or clears O_NONBLOCK.
pub(crate) fn set_nonblocking(fd: &impl AsRawFd, on: bool) -> Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL only read and change file status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    check(flags as libc::c_long, || "fcntl(F_GETFL)".into())?;
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFL, new) };
    check(ret as libc::c_long, || "fcntl(F_SETFL)".into()).map(|_| ())
}

/// A pipe with both ends CLOEXEC: (read, write).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))
}
