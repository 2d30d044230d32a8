//! The network files a container gets (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`),
//! written into its directory and bind-mounted over the image's, with Docker's contents; and
//! the parsing of the options that feed them (`--add-host`, `--dns*`, `--mac-address`).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::container::model::{Container, NetworkMode};
use crate::error::{Error, Result};
use crate::network::{Attachment, NetworkConfig};

/// The value of `--add-host NAME:host-gateway`.
pub const HOST_GATEWAY: &str = "host-gateway";

/// The lines every private /etc/hosts starts with (Docker's `etchosts.defaultContent`).
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Docker's public fallback resolvers when the host has no usable one.
const DEFAULT_NAMESERVERS: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";

/// A linked container as its /etc/hosts line needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkedHost {
    pub ip: String,
    pub alias: String,
    pub name: String,
    pub short_id: String,
}

/// Validates one `--add-host` entry (`NAME:IP`, split at the first `:` so IPv6 works;
/// `IP` may be `host-gateway`). Docker's messages.
pub fn parse_extra_host(entry: &str) -> Result<(&str, &str)> {
    match entry.split_once(':') {
        Some((name, ip)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
            if ip != HOST_GATEWAY && ip.parse::<IpAddr>().is_err() {
                return Err(Error::invalid(format!(
                    "invalid IP address in add-host: {ip:?}"
                )));
            }
            Ok((name, ip))
        }
        _ => Err(Error::invalid(format!(
            "bad format for add-host: {entry:?}"
        ))),
    }
}

/// Validates a `--dns` server (an IP address, as the docker CLI requires).
pub fn validate_dns_server(server: &str) -> Result<()> {
    server
        .parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| Error::invalid(format!("{server} is not an ip address")))
}

/// Validates a `--dns-search` domain (`.` means "no search domains"), as the docker CLI.
pub fn validate_dns_search(domain: &str) -> Result<()> {
    if domain == "." {
        return Ok(());
    }
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.len() > 255 {
        return Err(Error::invalid(format!("domain name {domain:?} too long")));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.split('.').all(valid_label) {
        Ok(())
    } else {
        Err(Error::invalid(format!("{domain} is not a valid domain")))
    }
}

/// Parses a MAC address (`aa:bb:cc:dd:ee:ff`, `aa-bb-…`, or `aabb.ccdd.eeff`) for a
/// container's interface: six bytes, unicast.
pub fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let invalid = || Error::invalid(format!("{text} is not a valid mac address"));
    let hex: String = if text.len() == 14 && text.matches('.').count() == 2 {
        text.split('.').collect()
    } else if text.len() == 17 {
        let sep = text.as_bytes()[2] as char;
        if sep != ':' && sep != '-' {
            return Err(invalid());
        }
        let parts: Vec<&str> = text.split(sep).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return Err(invalid());
        }
        parts.concat()
    } else {
        return Err(invalid());
    };
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
    }
    // The kernel refuses a multicast address on an interface (EADDRNOTAVAIL): say why.
    if mac[0] & 1 != 0 {
        return Err(Error::invalid(format!(
            "{text} is a multicast address, not a valid mac address for a container"
        )));
    }
    Ok(mac)
}

/// Canonical text of a MAC address.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The container's requested MAC address, if any.
pub(crate) fn container_mac(container: &Container) -> Result<Option<[u8; 6]>> {
    container
        .spec
        .host
        .mac_address
        .as_deref()
        .map(parse_mac)
        .transpose()
}

/// `/etc/hosts`: the host's file for `--network host` without `--add-host`; otherwise
/// Docker's default lines, the `--add-host` entries (`host-gateway` resolved to
/// `gateway`), the links, and the container's own line (`ip hostname.domain hostname`).
pub(crate) fn hosts_file(
    container: &Container,
    hostname: &str,
    attachments: &[Attachment],
    links: &[LinkedHost],
    gateway: Option<IpAddr>,
    host_hosts: impl FnOnce() -> String,
) -> Result<String> {
    let host = &container.spec.host;
    if host.network_mode == NetworkMode::Host && host.extra_hosts.is_empty() {
        return Ok(host_hosts());
    }
    let mut hosts = DEFAULT_HOSTS.to_owned();
    for entry in &host.extra_hosts {
        let (name, ip) = parse_extra_host(entry)?;
        let ip = if ip == HOST_GATEWAY {
            gateway
                .ok_or_else(|| Error::invalid("unable to derive the IP value for host-gateway"))?
                .to_string()
        } else {
            ip.to_owned()
        };
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    for link in links {
        // Docker's link line: alias, the linked container's short ID, and its name.
        let mut names = vec![link.alias.as_str(), link.short_id.as_str()];
        if link.name != link.alias {
            names.push(&link.name);
        }
        hosts.push_str(&format!("{}\t{}\n", link.ip, names.join(" ")));
    }
    let names = match container
        .spec
        .domainname
        .as_deref()
        .filter(|d| !d.is_empty())
    {
        Some(domain) => format!("{hostname}.{domain} {hostname}"),
        None => hostname.to_owned(),
    };
    for attachment in attachments {
        hosts.push_str(&format!("{}\t{names}\n", attachment.ip));
    }
    Ok(hosts)
}

/// `/etc/resolv.conf`, as Docker writes it. With any of `--dns`, `--dns-search`,
/// `--dns-option` (or the daemon's `dns`, `dns-search`, `dns-opts`): built from them, the
/// host's values filling what was not given (`search`, `nameserver`s, `options`; a search
/// list of `.` means none). Otherwise the host's file; outside the host's network namespace
/// its loopback and IPv6 nameservers are unreachable and dropped (Docker's
/// `FilterResolvDNS` without IPv6), with Google's resolvers when none is left.
pub(crate) fn resolv_conf(host: &str, container: &Container, config: &NetworkConfig) -> String {
    let spec = &container.spec.host;
    let host_network = spec.network_mode == NetworkMode::Host;
    let pick = |own: &Vec<String>, daemon: &Vec<String>| -> Vec<String> {
        if own.is_empty() {
            daemon.clone()
        } else {
            own.clone()
        }
    };
    let dns = pick(&spec.dns, &config.dns);
    let search = pick(&spec.dns_search, &config.dns_search);
    let options = pick(&spec.dns_options, &config.dns_options);
    if dns.is_empty() && search.is_empty() && options.is_empty() {
        return if host_network {
            host.to_owned()
        } else {
            filter_resolv_conf(host)
        };
    }
    let reachable = |ns: &&str| host_network || is_reachable_nameserver(ns);
    let nameservers: Vec<String> = if dns.is_empty() {
        let kept: Vec<String> = directive(host, "nameserver")
            .filter(reachable)
            .map(str::to_owned)
            .collect();
        if kept.is_empty() && !host_network {
            vec!["8.8.8.8".to_owned(), "8.8.4.4".to_owned()]
        } else {
            kept
        }
    } else {
        dns
    };
    let search = if search.is_empty() {
        last_directive_words(host, "search")
    } else {
        search
    };
    let options = if options.is_empty() {
        last_directive_words(host, "options")
    } else {
        options
    };
    let mut out = String::new();
    let search = search.join(" ");
    if !search.trim().is_empty() && search.trim() != "." {
        out.push_str(&format!("search {search}\n"));
    }
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    let options = options.join(" ");
    if !options.trim().is_empty() {
        out.push_str(&format!("options {options}\n"));
    }
    out
}

/// resolv.conf of a container on a user network: the embedded DNS server (Docker's), which
/// forwards to the `--dns` servers or the host's; the search domains and options as
/// [`resolv_conf`] picks them, with `ndots:0` first so that single names are asked as they are.
pub(crate) fn embedded_resolv_conf(
    host: &str,
    container: &Container,
    config: &NetworkConfig,
) -> String {
    let spec = &container.spec.host;
    let search = if !spec.dns_search.is_empty() {
        spec.dns_search.clone()
    } else if !config.dns_search.is_empty() {
        config.dns_search.clone()
    } else {
        last_directive_words(host, "search")
    };
    let options = if !spec.dns_options.is_empty() {
        spec.dns_options.clone()
    } else {
        config.dns_options.clone()
    };
    let mut out = String::new();
    let search = search.join(" ");
    if !search.trim().is_empty() && search.trim() != "." {
        out.push_str(&format!("search {search}\n"));
    }
    out.push_str("nameserver 127.0.0.11\n");
    let mut all = vec!["ndots:0".to_owned()];
    all.extend(options.into_iter().filter(|o| !o.starts_with("ndots:")));
    out.push_str(&format!("options {}\n", all.join(" ")));
    out
}

/// The DNS servers the embedded DNS of `container` forwards to: its `--dns` (else the
/// daemon's `dns`) servers on port 53; empty = the host's resolvers.
pub(crate) fn embedded_upstreams(
    container: &Container,
    config: &NetworkConfig,
) -> Vec<std::net::SocketAddr> {
    let spec = &container.spec.host;
    let servers = if spec.dns.is_empty() {
        &config.dns
    } else {
        &spec.dns
    };
    servers
        .iter()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .collect()
}

/// The host's resolv.conf without unreachable nameservers; Google's when none is left.
fn filter_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut nameservers = 0;
    for line in host.lines() {
        let mut fields = line.split_whitespace();
        if fields.next() == Some("nameserver") {
            if !is_reachable_nameserver(&fields.next().unwrap_or("")) {
                continue;
            }
            nameservers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if nameservers == 0 {
        out.push_str(DEFAULT_NAMESERVERS);
    }
    out
}

/// A host nameserver a container on a bridge can reach: IPv4 and not loopback.
fn is_reachable_nameserver(address: &&str) -> bool {
    matches!(address.parse::<IpAddr>(), Ok(IpAddr::V4(ip)) if !ip.is_loopback())
}

/// The first word after each `keyword` line.
fn directive<'a>(text: &'a str, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter_map(move |line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(keyword))
            .then(|| words.next())
            .flatten()
    })
}

/// The words of the last `keyword` line (resolv.conf: the last `search`/`options` wins).
fn last_directive_words(text: &str, keyword: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(keyword)).then(|| words.map(str::to_owned).collect::<Vec<_>>())
        })
        .next_back()
        .unwrap_or_default()
}

/// Writes `hostname`, `hosts` and `resolv.conf` into the container's directory `dir` and
/// returns their paths (hostname, hosts, resolv.conf); they are bind-mounted over the
/// image's files, as Docker does.
pub(crate) fn write_etc_files(
    dir: &Path,
    container: &Container,
    attachments: &[Attachment],
    links: &[LinkedHost],
    config: &NetworkConfig,
    default_gateway: Option<IpAddr>,
) -> Result<[PathBuf; 3]> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let host_mode = container.spec.host.network_mode == NetworkMode::Host;
    let hostname = if host_mode && container.spec.hostname.as_deref().unwrap_or("").is_empty() {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        container.hostname.clone()
    };
    let gateway = config.host_gateway_ip.or(default_gateway);
    let hosts = hosts_file(container, &hostname, attachments, links, gateway, || {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    })?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if crate::network::resolver::wants_dns(attachments) {
        embedded_resolv_conf(&host_resolv, container, config)
    } else {
        resolv_conf(&host_resolv, container, config)
    };
    let paths = [
        dir.join("hostname"),
        dir.join("hosts"),
        dir.join("resolv.conf"),
    ];
    for (path, content) in paths.iter().zip([format!("{hostname}\n"), hosts, resolv]) {
        std::fs::write(path, content).map_err(|e| Error::io("write", path, e))?;
    }
    Ok(paths)
}

#[cfg(test)]
#[path = "netfiles_tests.rs"]
mod tests;
