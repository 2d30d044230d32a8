//! The parent <-> container-init sync channel.
//!
//! A `SOCK_SEQPACKET` socketpair with both ends close-on-exec: message boundaries are kept, fds can
//! ride along (SCM_RIGHTS), and a successful `execve` in the child closes its end, which the parent
//! sees as EOF. Protocol:
//!
//! ```text
//! parent                              child (container init)
//!   clone ------------------------------> joins namespaces, waits
//!   writes uid/gid maps, joins cgroups
//!   'G' (go) ---------------------------> sets up rootfs, console, ...
//!        <------------------------------- 'P' + pty master fd (terminal only)
//!        <------------------------------- 'R' ready (about to exec / block on exec fifo)
//!        <------------------------------- 'E' + JSON error (any stage, then the child exits)
//!        <------------------------------- EOF: execve succeeded
//! ```

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::{Error, ExecErrorKind, Result};

pub(crate) const MSG_GO: u8 = b'G';
pub(crate) const MSG_PTY: u8 = b'P';
pub(crate) const MSG_READY: u8 = b'R';
pub(crate) const MSG_ERROR: u8 = b'E';

/// An error as sent from the child.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct WireError {
    pub message: String,
    #[serde(default)]
    pub errno: Option<i32>,
    /// Set when the failure is the exec itself (or the PATH lookup before it).
    #[serde(default)]
    pub exec: Option<(String, ExecErrorKind)>,
}

impl WireError {
    pub(crate) fn into_error(self) -> Error {
        match self.exec {
            Some((path, kind)) => Error::Exec {
                path,
                kind,
                message: self.message,
            },
            None => Error::Init {
                message: self.message,
                errno: self.errno,
            },
        }
    }
}

/// One end of the sync channel.
pub(crate) struct Channel(pub OwnedFd);

/// A received message.
pub(crate) enum Msg {
    Go,
    Pty(OwnedFd),
    Ready,
    Error(Error),
    /// The peer closed its end (for the parent: the child exec'd or died).
    Eof,
}

pub(crate) fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub(crate) fn send(&self, tag: u8, payload: &[u8], fd: Option<RawFd>) -> Result<()> {
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag);
        buf.extend_from_slice(payload);
        let iov = [IoSlice::new(&buf)];
        let fds;
        let cmsgs: &[ControlMessage] = match fd {
            Some(fd) => {
                fds = [fd];
                &[ControlMessage::ScmRights(&fds)]
            }
            None => &[],
        };
        loop {
            // Why MSG_NOSIGNAL: the parent may be gone (e.g. `create` exited before a later exec
            // error); a SIGPIPE would kill the init instead of letting it report and exit.
            match sendmsg::<()>(
                self.0.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("sync send", e)),
            }
        }
    }

    pub(crate) fn send_error(&self, err: &Error) {
        let message = match err {
            Error::Exec { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let wire = WireError {
            message,
            errno: err.errno(),
            exec: match err {
                Error::Exec { path, kind, .. } => Some((path.clone(), *kind)),
                _ => None,
            },
        };
        if let Ok(json) = serde_json::to_vec(&wire) {
            let _ = self.send(MSG_ERROR, &json, None);
        }
    }

    pub(crate) fn recv(&self) -> Result<Msg> {
        let mut buf = vec![0u8; 16 * 1024];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let res = recvmsg::<()>(
                self.0.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let msg = match res {
                Ok(m) => m,
                Err(nix::errno::Errno::EINTR) => continue,
                // Why: ECONNRESET is what a SEQPACKET peer's death can look like.
                Err(nix::errno::Errno::ECONNRESET) => return Ok(Msg::Eof),
                Err(e) => return Err(Error::sys("sync recv", e)),
            };
            let mut fd = None;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(fds) = c {
                        for raw in fds {
                            // SAFETY: the kernel installed this fd for us; we own it now.
                            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                            if fd.is_none() {
                                fd = Some(owned);
                            }
                        }
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(Msg::Eof);
            }
            let tag = buf[0];
            let payload = &buf[1..n];
            return Ok(match tag {
                MSG_GO => Msg::Go,
                MSG_READY => Msg::Ready,
                MSG_PTY => match fd {
                    Some(fd) => Msg::Pty(fd),
                    None => Msg::Error(Error::Init {
                        message: "pty message without a file descriptor".into(),
                        errno: None,
                    }),
                },
                MSG_ERROR => match serde_json::from_slice::<WireError>(payload) {
                    Ok(w) => Msg::Error(w.into_error()),
                    Err(e) => Msg::Error(Error::Init {
                        message: format!("undecodable error from init: {e}"),
                        errno: None,
                    }),
                },
                other => Msg::Error(Error::Init {
                    message: format!("unexpected sync message {other:#x}"),
                    errno: None,
                }),
            });
        }
    }
}
