//! The embedded DNS server a container on a user-defined network sees at 127.0.0.11:53, as
//! Docker's: container names, aliases and short ids of the requester's networks resolve to
//! their addresses; everything else is forwarded to the host's resolvers.
//!
//! Behaviour (Docker's `libnetwork/resolver.go`):
//! - `A` for a known name: the addresses, TTL 600. `AAAA` for a known name: NOERROR without
//!   records (no IPv6 here), so clients do not wait on upstream. `PTR` for a container address:
//!   its name. A name `a.b.c` is tried whole, then as `a.b` on network `c`, then `a` on
//!   network `b.c` ([`Resolve::resolve_on_network`]).
//! - Everything else, including a name with a search-domain suffix (`web.example.com`, which
//!   Docker answers NXDOMAIN from upstream: the container's resolv.conf has `ndots:0`, so the
//!   bare name is always tried first), is forwarded to at most three upstreams in order: UDP,
//!   retried over TCP when truncated; TCP clients are forwarded over TCP. No answer in time
//!   from any upstream → SERVFAIL. With `forward == false` (internal networks) other names
//!   get SERVFAIL, as in Docker 20.10.
//! - Bounded work: at most [`Options::max_forwards`] forwards in flight per server (more get
//!   SERVFAIL at once), at most [`Options::max_tcp_connections`] TCP clients, and every task
//!   belongs to the server, so a query storm cannot grow memory or tasks without limit.
//!
//! Why our own loop on `hickory-proto` messages rather than `hickory-server`: the server needs
//! to know the requesting container per socket, answer from a synchronous lookup, forward
//! with per-server limits and stop every task (and so close both sockets) when dropped;
//! `hickory-server`'s catalog/authority model adds a resolver stack and none of those.

mod answer;
mod forward;
mod upstream;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{Error, Result};
use crate::netns::NetNs;
use answer::Outcome;
use forward::Forwarder;

pub use upstream::{
    host_upstream_resolvers, nameservers, upstream_resolvers, DEFAULT_NAMESERVERS,
    HOST_RESOLV_CONF, SYSTEMD_RESOLV_CONF,
};

/// The address Docker's embedded DNS listens on inside every container.
pub const DNS_ADDRESS: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53);

/// Name lookups for the embedded DNS server, implemented by the engine from its state.
///
/// Called on the tokio runtime for every query, synchronously: implementations must answer
/// from memory and not block on I/O.
pub trait Resolve: Send + Sync + 'static {
    /// IPv4 addresses of `name` (lowercase, no trailing dot) as seen by container `requester`
    /// (full id); empty when the name is not a container name/alias/short id on the
    /// requester's networks (it is then forwarded).
    fn resolve(&self, requester: &str, name: &str) -> Vec<Ipv4Addr>;
    /// The name for a PTR lookup of `ip` on the requester's networks, if any.
    fn reverse(&self, requester: &str, ip: Ipv4Addr) -> Option<String>;
    /// IPv4 addresses of `name` on the requester's network called `network` (Docker resolves
    /// `web.mynet` as `web` on network `mynet`); asked only after [`Resolve::resolve`] of the
    /// whole name came back empty. Default: nothing.
    fn resolve_on_network(&self, requester: &str, name: &str, network: &str) -> Vec<Ipv4Addr> {
        let _ = (requester, name, network);
        Vec::new()
    }
}

/// Tunables of one server; [`Options::default`] is what [`EmbeddedDns::start`] uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen inside the namespace (UDP and TCP).
    pub listen: SocketAddrV4,
    /// Time allowed for each upstream exchange (Docker: 4 s).
    pub upstream_timeout: Duration,
    /// Forwards in flight at once; queries beyond it get SERVFAIL (Docker caps at 1024 per
    /// daemon; this is per container).
    pub max_forwards: usize,
    /// TCP clients served at once; further connections are closed.
    pub max_tcp_connections: usize,
    /// A TCP client idle this long is disconnected.
    pub tcp_idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: DNS_ADDRESS,
            upstream_timeout: Duration::from_secs(4),
            max_forwards: 100,
            max_tcp_connections: 16,
            tcp_idle_timeout: Duration::from_secs(10),
        }
    }
}

/// A running embedded DNS server for one container. Dropping it stops the server: its tasks
/// are aborted, which closes both listening sockets and every upstream exchange in flight.
#[derive(Debug)]
pub struct EmbeddedDns {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for EmbeddedDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl EmbeddedDns {
    /// Binds UDP and TCP on 127.0.0.11:53 inside `netns` and serves on the current tokio
    /// runtime (call it from a runtime thread or a `spawn_blocking` closure).
    /// `upstream`: the host's resolvers to forward other names to (see
    /// [`host_upstream_resolvers`]); `forward == false` (internal networks): answer only
    /// container names.
    pub fn start(
        netns: &NetNs,
        requester: String,
        upstream: Vec<SocketAddr>,
        forward: bool,
        resolver: Arc<dyn Resolve>,
    ) -> Result<EmbeddedDns> {
        Self::start_with(
            netns,
            requester,
            upstream,
            forward,
            resolver,
            Options::default(),
        )
    }

    /// [`EmbeddedDns::start`] with explicit [`Options`].
    pub fn start_with(
        netns: &NetNs,
        requester: String,
        upstream: Vec<SocketAddr>,
        forward: bool,
        resolver: Arc<dyn Resolve>,
        options: Options,
    ) -> Result<EmbeddedDns> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::Internal("the embedded dns server must start on a tokio runtime".into())
        })?;
        let listen = SocketAddr::V4(options.listen);
        // Sockets keep the namespace they were created in: bind on a thread inside it, then
        // hand the descriptors to tokio on ours.
        let (udp, tcp) = netns.run(move || {
            let socket_err = |op, source| Error::Socket {
                op,
                addr: listen,
                source,
            };
            let udp = std::net::UdpSocket::bind(listen).map_err(|e| socket_err("bind udp", e))?;
            udp.set_nonblocking(true)
                .map_err(|e| socket_err("configure udp", e))?;
            let tcp = std::net::TcpListener::bind(listen).map_err(|e| socket_err("bind tcp", e))?;
            tcp.set_nonblocking(true)
                .map_err(|e| socket_err("configure tcp", e))?;
            Ok((udp, tcp))
        })?;
        let _guard = runtime.enter();
        let to_tokio = |op, source| Error::Socket {
            op,
            addr: listen,
            source,
        };
        let udp = UdpSocket::from_std(udp).map_err(|e| to_tokio("register udp", e))?;
        let tcp = TcpListener::from_std(tcp).map_err(|e| to_tokio("register tcp", e))?;
        let server = Arc::new(Server {
            requester,
            forward,
            resolver,
            forwarder: Forwarder {
                upstream,
                timeout: options.upstream_timeout,
            },
            forwards: Arc::new(Semaphore::new(options.max_forwards)),
            options,
        });
        let tasks = vec![
            runtime.spawn(serve_udp(server.clone(), Arc::new(udp))),
            runtime.spawn(serve_tcp(server, tcp)),
        ];
        Ok(EmbeddedDns { tasks })
    }
}

struct Server {
    requester: String,
    forward: bool,
    resolver: Arc<dyn Resolve>,
    forwarder: Forwarder,
    forwards: Arc<Semaphore>,
    options: Options,
}

impl Server {
    /// The reply to a query that was not answered locally; `udp_limit` as in
    /// [`Forwarder::forward`]. Must hold a forward permit.
    async fn forwarded(
        &self,
        raw: &[u8],
        query: &hickory_proto::op::Message,
        udp_limit: Option<usize>,
    ) -> Option<Vec<u8>> {
        match self.forwarder.forward(raw, udp_limit).await {
            Some(reply) => Some(reply),
            None => answer::encode(
                answer::reply(query, ResponseCode::ServFail, Vec::new()),
                udp_limit,
            ),
        }
    }

    /// SERVFAIL for `query`, when it may not be forwarded.
    fn refuse(
        &self,
        query: &hickory_proto::op::Message,
        udp_limit: Option<usize>,
    ) -> Option<Vec<u8>> {
        answer::encode(
            answer::reply(query, ResponseCode::ServFail, Vec::new()),
            udp_limit,
        )
    }
}

async fn serve_udp(server: Arc<Server>, socket: Arc<UdpSocket>) {
    let mut inflight = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, client) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(error) => {
                    // ICMP errors for earlier replies surface here; the socket stays usable.
                    tracing::debug!(%error, "embedded dns udp receive");
                    continue;
                }
            },
            Some(_) = inflight.join_next(), if !inflight.is_empty() => continue,
        };
        let raw = &buf[..len];
        let reply = match answer::decide(raw, &server.requester, server.resolver.as_ref()) {
            Outcome::Drop => continue,
            Outcome::Reply(msg) => {
                let limit = answer::udp_limit(&msg);
                answer::encode(msg, Some(limit))
            }
            Outcome::Forward(query) => {
                let limit = answer::udp_limit(&query);
                if !server.forward {
                    server.refuse(&query, Some(limit))
                } else if let Ok(permit) = server.forwards.clone().try_acquire_owned() {
                    let (server, socket, raw) = (server.clone(), socket.clone(), raw.to_vec());
                    inflight.spawn(async move {
                        let reply = server.forwarded(&raw, &query, Some(limit)).await;
                        drop(permit);
                        if let Some(reply) = reply {
                            send_udp(&socket, &reply, client).await;
                        }
                    });
                    continue;
                } else {
                    tracing::warn!(requester = %server.requester, "too many dns queries in flight");
                    server.refuse(&query, Some(limit))
                }
            }
        };
        if let Some(reply) = reply {
            send_udp(&socket, &reply, client).await;
        }
    }
}

async fn send_udp(socket: &UdpSocket, reply: &[u8], client: SocketAddr) {
    if let Err(error) = socket.send_to(reply, client).await {
        tracing::debug!(%client, %error, "embedded dns udp reply");
    }
}

async fn serve_tcp(server: Arc<Server>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(server.options.max_tcp_connections));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::debug!(%error, "embedded dns tcp accept");
                    // Out of descriptors and the like: give other work a chance.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("embedded dns: too many tcp clients, closing one");
            continue;
        };
        let server = server.clone();
        connections.spawn(async move {
            if let Err(error) = serve_connection(&server, stream).await {
                tracing::debug!(%error, "embedded dns tcp client");
            }
            drop(slot);
        });
    }
}

/// Serves length-prefixed queries on one TCP connection until the client closes it or idles.
async fn serve_connection(server: &Server, mut stream: TcpStream) -> std::io::Result<()> {
    let idle = server.options.tcp_idle_timeout;
    loop {
        let len = match tokio::time::timeout(idle, stream.read_u16()).await {
            Ok(Ok(len)) => len,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let mut raw = vec![0u8; usize::from(len)];
        tokio::time::timeout(idle, stream.read_exact(&mut raw))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        let reply = match answer::decide(&raw, &server.requester, server.resolver.as_ref()) {
            Outcome::Drop => continue,
            Outcome::Reply(msg) => answer::encode(msg, None),
            Outcome::Forward(query) => {
                if !server.forward {
                    server.refuse(&query, None)
                } else if let Ok(_permit) = server.forwards.clone().try_acquire_owned() {
                    server.forwarded(&raw, &query, None).await
                } else {
                    server.refuse(&query, None)
                }
            }
        };
        let Some(reply) = reply else { continue };
        let Ok(len) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}
