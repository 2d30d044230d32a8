//! Host port reservations: a bound (not listening) socket per published port.
//!
//! Published traffic is DNATed before it could reach these sockets; they exist so that the
//! kernel arbitrates conflicts: a port another process (or another container) holds cannot be
//! bound, which fails the start with Docker's error, and while a container runs nobody else can
//! take its port. Port 0 asks the kernel for a free ephemeral port (`-P`, `-p 80`).

use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;

use nix::sys::socket::{
    bind, getsockname, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
};

use crate::error::{Error, Result};
use crate::firewall::Protocol;

/// A reserved host port; released when dropped.
#[derive(Debug)]
pub struct Reservation {
    _socket: OwnedFd,
    pub port: u16,
}

/// Binds `host_ip:port` (every address when `None`; any free port when `port` is 0).
pub fn reserve(host_ip: Option<Ipv4Addr>, port: u16, protocol: Protocol) -> Result<Reservation> {
    let ip = host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let kind = match protocol {
        Protocol::Tcp => SockType::Stream,
        Protocol::Udp => SockType::Datagram,
    };
    let socket = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("create socket", e))?;
    if host_ip.is_some_and(|ip| !ip.is_loopback()) {
        // The address may not be configured yet (Docker lets you publish on it anyway).
        let _ = setsockopt(&socket, sockopt::IpFreebind, &true);
    }
    let address = SockaddrIn::from(std::net::SocketAddrV4::new(ip, port));
    bind(std::os::fd::AsRawFd::as_raw_fd(&socket), &address).map_err(|e| {
        if e == nix::errno::Errno::EADDRINUSE {
            Error::Conflict(format!(
                "Bind for {ip}:{port} failed: port is already allocated"
            ))
        } else {
            Error::Conflict(format!("Bind for {ip}:{port} failed: {e}"))
        }
    })?;
    let bound: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&socket))
        .map_err(|e| Error::sys("getsockname", e))?;
    Ok(Reservation {
        _socket: socket,
        port: bound.port(),
    })
}
