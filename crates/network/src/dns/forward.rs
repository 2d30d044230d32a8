//! Forwarding of names the embedded server does not own to the host's resolvers.
//!
//! Every exchange uses a fresh socket created by the daemon on its own (host) network
//! namespace: the source port is random per query (RFC 5452), and host loopback resolvers
//! such as systemd-resolved's 127.0.0.53 are reachable, which they would not be from inside
//! the container.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

/// Docker asks at most this many upstream servers per query (`maxExtDNS`).
const MAX_UPSTREAMS: usize = 3;

/// Forwards raw queries to a fixed list of upstream resolvers, in order.
#[derive(Debug)]
pub(crate) struct Forwarder {
    pub(crate) upstream: Vec<SocketAddr>,
    /// Time allowed for each upstream exchange (a TCP retry after truncation gets its own).
    pub(crate) timeout: Duration,
}

impl Forwarder {
    /// Sends `query` to the upstreams until one answers with something other than SERVFAIL
    /// or REFUSED, which Docker treats as "try the next one".
    ///
    /// `udp_limit` is `Some(max reply size)` for a client that asked over UDP: the query goes
    /// over UDP and, when the answer is truncated, is retried over TCP; the full answer is
    /// returned when it fits the client's limit, else the truncated one (so the client
    /// itself retries over TCP). `None` (a TCP client) forwards over TCP.
    ///
    /// Returns `None` when no upstream answered at all (the caller replies SERVFAIL).
    pub(crate) async fn forward(&self, query: &[u8], udp_limit: Option<usize>) -> Option<Vec<u8>> {
        if query.len() < 12 {
            return None;
        }
        let id = [query[0], query[1]];
        let mut failure = None;
        for &server in self.upstream.iter().take(MAX_UPSTREAMS) {
            let result = match udp_limit {
                Some(limit) => self.over_udp(server, query, id, limit).await,
                None => tcp_exchange(server, query, id, self.timeout).await,
            };
            match result {
                Ok(reply) if matches!(rcode(&reply), 2 | 5) => {
                    tracing::debug!(%server, rcode = rcode(&reply), "upstream dns failure");
                    failure = Some(reply);
                }
                Ok(reply) => return Some(reply),
                Err(error) => tracing::debug!(%server, %error, "forwarding dns query"),
            }
        }
        failure
    }

    async fn over_udp(
        &self,
        server: SocketAddr,
        query: &[u8],
        id: [u8; 2],
        limit: usize,
    ) -> std::io::Result<Vec<u8>> {
        let reply = udp_exchange(server, query, id, self.timeout).await?;
        if !truncated(&reply) {
            return Ok(reply);
        }
        match tcp_exchange(server, query, id, self.timeout).await {
            Ok(full) if full.len() <= limit => Ok(full),
            Ok(_) => Ok(reply),
            Err(error) => {
                tracing::debug!(%server, %error, "tcp retry after truncated dns answer");
                Ok(reply)
            }
        }
    }
}

async fn udp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: [u8; 2],
    limit: Duration,
) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    // A connected socket only receives from `server` and reports ICMP port unreachable as
    // ECONNREFUSED, so a dead upstream fails at once instead of at the timeout.
    socket.connect(server).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = timeout_at(deadline, socket.recv(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        // Ignore stray datagrams that are not the response to this query.
        if n >= 12 && buf[..2] == id && buf[2] & 0x80 != 0 {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: [u8; 2],
    limit: Duration,
) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let exchange = async {
        let len = u16::try_from(query.len())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let mut stream = TcpStream::connect(server).await?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        let len = stream.read_u16().await?;
        let mut reply = vec![0u8; usize::from(len)];
        stream.read_exact(&mut reply).await?;
        if reply.len() < 12 || reply[..2] != id {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "upstream answered another query",
            ));
        }
        Ok(reply)
    };
    timeout_at(deadline, exchange)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

fn truncated(reply: &[u8]) -> bool {
    reply.len() >= 12 && reply[2] & 0x02 != 0
}

fn rcode(reply: &[u8]) -> u8 {
    reply.get(3).map_or(0, |b| b & 0x0f)
}
