//! Console helpers: handing a pty master to a `--console-socket` (as runc does) and resizing.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use crate::{Error, Result};

/// Connects to the unix socket at `socket` and sends `master` with SCM_RIGHTS; the message body is
/// the pty's name, like runc's `utils.SendFile`.
pub fn send_console(socket: &Path, master: BorrowedFd<'_>) -> Result<()> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| Error::io("connect console socket", socket, e))?;
    let fds = [master.as_raw_fd()];
    let name = b"/dev/ptmx";
    let iov = [IoSlice::new(name)];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| Error::sys("send console fd", e))?;
    Ok(())
}

/// Sets the window size of the pty behind `fd`.
pub fn resize(fd: BorrowedFd<'_>, height: u16, width: u16) -> Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct we own.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    crate::sys::check(ret as libc::c_long, || "ioctl(TIOCSWINSZ)".into()).map(|_| ())
}
