//! The network crate's error type.

use std::path::PathBuf;

/// Errors from namespace, netlink, IPAM and firewall operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: nix::Error,
    },
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The user asked for something invalid (bad CIDR, bad port spec, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// A resource is taken: a host port, an address, an overlapping subnet.
    #[error("{0}")]
    Conflict(String),
    /// The address pool is exhausted.
    #[error("no available addresses in {0}")]
    Exhausted(String),
    #[error("nftables: {0}")]
    Firewall(String),
    #[error("{0}")]
    Internal(String),
    /// A socket operation on an address failed (the embedded DNS server's listeners).
    #[error("{op} {addr}: {source}")]
    Socket {
        op: &'static str,
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn netlink(op: &str, source: std::io::Error) -> Error {
        Error::Netlink {
            op: op.to_owned(),
            source,
        }
    }

    pub(crate) fn sys(op: &str, source: nix::Error) -> Error {
        Error::Sys {
            op: op.to_owned(),
            source,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
