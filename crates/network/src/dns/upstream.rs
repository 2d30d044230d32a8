//! The host's resolvers, which the embedded DNS server forwards other names to.
//!
//! Decision: forwarding happens from the daemon's own network namespace (see
//! [`super::forward`]), so a loopback resolver on the host (dnsmasq on 127.0.0.1,
//! systemd-resolved's stub on 127.0.0.53) is reachable and is kept. Only when
//! /etc/resolv.conf lists nothing but loopback resolvers and systemd-resolved publishes the
//! real upstreams in /run/systemd/resolve/resolv.conf are those used instead, as Docker
//! does: they keep working if the stub is restarted and skip one hop. With no nameserver at
//! all, Docker's defaults (Google's public resolvers) apply.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// The host's resolver configuration.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of real upstream servers (not the 127.0.0.53 stub).
pub const SYSTEMD_RESOLV_CONF: &str = "/run/systemd/resolve/resolv.conf";
/// Docker's fallback nameservers when the host has none.
pub const DEFAULT_NAMESERVERS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 4, 4)),
];

/// Reads the host's upstream resolvers (port 53) from /etc/resolv.conf, with the
/// systemd-resolved and default fallbacks described in the module docs. An unreadable file
/// counts as an empty one.
pub fn host_upstream_resolvers() -> Vec<SocketAddr> {
    let etc = read(Path::new(HOST_RESOLV_CONF));
    let systemd = read(Path::new(SYSTEMD_RESOLV_CONF));
    upstream_resolvers(&etc, Some(&systemd))
        .into_iter()
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), %error, "reading resolver configuration");
        }
        String::new()
    })
}

/// The upstream choice from the texts of /etc/resolv.conf and (if present) systemd-resolved's
/// resolv.conf.
pub fn upstream_resolvers(etc: &str, systemd: Option<&str>) -> Vec<IpAddr> {
    let host = nameservers(etc);
    if !host.is_empty() && host.iter().all(IpAddr::is_loopback) {
        let real: Vec<IpAddr> = systemd
            .map(nameservers)
            .unwrap_or_default()
            .into_iter()
            .filter(|ip| !ip.is_loopback())
            .collect();
        if !real.is_empty() {
            return real;
        }
    }
    if host.is_empty() {
        return DEFAULT_NAMESERVERS.to_vec();
    }
    host
}

/// The `nameserver` addresses of a resolv.conf text, in order. Link-local IPv6 servers with a
/// zone (`fe80::1%eth0`) are skipped: a zone names a host interface.
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|addr| addr.parse().ok())
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parses_nameserver_lines_only() {
        let text = "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver  ::1 \n\
                    nameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n";
        assert_eq!(nameservers(text), ips(&["10.0.0.2", "::1"]));
    }

    #[test]
    fn loopback_only_prefers_systemd_upstreams() {
        let etc = "nameserver 127.0.0.53\noptions edns0\n";
        let systemd = "nameserver 192.168.1.1\nnameserver 127.0.0.1\n";
        assert_eq!(
            upstream_resolvers(etc, Some(systemd)),
            ips(&["192.168.1.1"])
        );
        // No systemd file, or only loopback there: keep the loopback stub (it works because
        // forwarding happens from the host namespace).
        assert_eq!(upstream_resolvers(etc, None), ips(&["127.0.0.53"]));
        assert_eq!(
            upstream_resolvers(etc, Some("nameserver 127.0.0.1\n")),
            ips(&["127.0.0.53"])
        );
    }

    #[test]
    fn real_resolvers_are_kept_and_none_means_docker_defaults() {
        let etc = "nameserver 127.0.0.1\nnameserver 1.1.1.1\n";
        assert_eq!(
            upstream_resolvers(etc, Some("nameserver 9.9.9.9")),
            ips(&["127.0.0.1", "1.1.1.1"])
        );
        assert_eq!(upstream_resolvers("", None), ips(&["8.8.8.8", "8.8.4.4"]));
    }
}
