//! Network modes and options that involve other containers or the container's identity:
//! `--network container:<ref>` (join another container's namespace), legacy `--link` on the
//! default bridge, and the create-time checks of `--add-host`, `--dns*`, `--mac-address` and
//! their conflicts with the network mode (Docker's messages).
//!
//! References are resolved to full IDs at create (so a later rename changes nothing); the
//! peers are looked up again at every start, where they must be running.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::container::model::{Container, ContainerSpec, Link, NetworkMode, Status};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::netfiles::{self, LinkedHost};

/// How many `container:` hops are followed to find the namespace's owner.
const MAX_JOIN_DEPTH: usize = 16;

/// The create-time checks of the networking options, in Docker's order and with its
/// messages (`runconfig.validateNetContainerMode`, `validateNetMode`, the CLI's parsers).
pub(crate) fn validate(spec: &ContainerSpec) -> Result<()> {
    let host = &spec.host;
    let conflict = |what: &str| Err(Error::invalid(format!("conflicting options: {what}")));
    if let NetworkMode::Container(target) = &host.network_mode {
        if target.is_empty() {
            return Err(Error::invalid(
                "Invalid network mode: invalid container format container:<name|id>",
            ));
        }
        if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
            return conflict("hostname and the network mode");
        }
        if !host.links.is_empty() {
            return conflict("container type network can't be used with links. This would result in undefined behavior");
        }
        if !host.dns.is_empty() {
            return conflict("dns and the network mode");
        }
        if !host.extra_hosts.is_empty() {
            return conflict("custom host-to-IP mapping and the network mode");
        }
    }
    let shared = matches!(
        host.network_mode,
        NetworkMode::Container(_) | NetworkMode::Host
    );
    if shared && host.mac_address.is_some() {
        return conflict("mac-address and the network mode");
    }
    if let NetworkMode::Container(_) = host.network_mode {
        if !host.port_bindings.is_empty() || host.publish_all_ports {
            return conflict("port publishing and the container type network mode");
        }
        if !spec.exposed_ports.is_empty() {
            return conflict("port exposing and the container type network mode");
        }
    }
    if host.network_mode == NetworkMode::Host && !host.links.is_empty() {
        return conflict(
            "host type networking can't be used with links. This would result in undefined behavior",
        );
    }
    for entry in &host.extra_hosts {
        netfiles::parse_extra_host(entry)?;
    }
    for server in &host.dns {
        netfiles::validate_dns_server(server)?;
    }
    for domain in &host.dns_search {
        netfiles::validate_dns_search(domain)?;
    }
    if let Some(mac) = &host.mac_address {
        netfiles::parse_mac(mac)?;
    }
    for link in &host.links {
        if link.alias.is_empty() || link.alias.contains(['/', ':']) {
            return Err(Error::invalid(format!(
                "bad format for links: {}:{}",
                link.name, link.alias
            )));
        }
    }
    Ok(())
}

/// A linked container as a start sees it.
#[derive(Debug, Clone)]
pub(crate) struct LinkTarget {
    pub alias: String,
    pub name: String,
    pub id: String,
    pub ip: Ipv4Addr,
    pub env: Vec<String>,
    /// `80/tcp`, `8000-8002/udp` is never stored: ranges are expanded by create.
    pub exposed_ports: Vec<String>,
}

/// The container whose network namespace a `container:` container joins.
#[derive(Debug, Clone)]
pub(crate) struct Joined {
    /// `/proc/<pid>/ns/net` of the running target.
    pub netns: PathBuf,
    /// The container whose /etc files are shared (the end of a `container:` chain).
    pub etc_owner: String,
    pub hostname: String,
    pub domainname: Option<String>,
}

/// The other containers a start depends on.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    pub joined: Option<Joined>,
    pub links: Vec<LinkTarget>,
}

impl Peers {
    /// The /etc/hosts lines of the links.
    pub fn linked_hosts(&self) -> Vec<LinkedHost> {
        self.links
            .iter()
            .map(|l| LinkedHost {
                ip: l.ip.to_string(),
                alias: l.alias.clone(),
                name: l.name.clone(),
                short_id: l.id[..12.min(l.id.len())].to_owned(),
            })
            .collect()
    }

    /// The container as its process is started: the links' environment under its own (its
    /// own variables win), and a joined container's hostname and domain name.
    pub fn apply<'a>(&self, container: &'a Container) -> Cow<'a, Container> {
        if self.links.is_empty() && self.joined.is_none() {
            return Cow::Borrowed(container);
        }
        let mut effective = container.clone();
        if !self.links.is_empty() {
            let mut env = link_env(&container.name, &self.links);
            for own in &container.env {
                let key = own.split('=').next().unwrap_or(own);
                env.retain(|e| e.split('=').next() != Some(key));
                env.push(own.clone());
            }
            effective.env = env;
        }
        if let Some(joined) = &self.joined {
            effective.hostname = joined.hostname.clone();
            effective.spec.domainname = joined.domainname.clone();
        }
        Cow::Owned(effective)
    }
}

impl Engine {
    /// Resolves the `container:` target and the links of a create request to full IDs and
    /// current names (Docker's "No such container" errors when one does not exist).
    pub(crate) fn resolve_network_refs(&self, spec: &mut ContainerSpec) -> Result<()> {
        if let Some(mac) = &spec.host.mac_address {
            spec.host.mac_address = Some(netfiles::format_mac(&netfiles::parse_mac(mac)?));
        }
        if let NetworkMode::Container(target) = &spec.host.network_mode {
            let id = self.lookup(target)?.snapshot().id;
            spec.host.network_mode = NetworkMode::Container(id);
        }
        for link in &mut spec.host.links {
            let reference = link.name.strip_prefix('/').unwrap_or(&link.name).to_owned();
            if reference.is_empty() {
                return Err(Error::invalid(
                    "could not get container for : invalid name or ID supplied: \"\"",
                ));
            }
            let target = self.lookup(&reference).map_err(|e| match e {
                Error::NotFound { message } => Error::NotFound {
                    message: format!("could not get container for {reference}: {message}"),
                },
                other => other,
            })?;
            let record = target.snapshot();
            *link = Link {
                id: record.id,
                name: record.name,
                alias: link.alias.clone(),
            };
        }
        Ok(())
    }

    /// Looks up the peers of a starting container; they must be running (Docker's errors).
    pub(crate) fn network_peers(&self, container: &Container) -> Result<Peers> {
        let mut peers = Peers::default();
        if let NetworkMode::Container(target) = &container.spec.host.network_mode {
            let record = self.lookup(target)?.snapshot();
            if record.id == container.id {
                return Err(Error::invalid("cannot join own network"));
            }
            match record.state.status {
                Status::Running | Status::Paused if record.state.pid > 0 => {}
                Status::Restarting => {
                    return Err(Error::conflict(format!(
                        "Container {} is restarting, wait until the container is running",
                        record.id
                    )))
                }
                _ => {
                    return Err(Error::conflict(format!(
                        "cannot join network of a non running container: {target}"
                    )))
                }
            }
            peers.joined = Some(Joined {
                netns: PathBuf::from(format!("/proc/{}/ns/net", record.state.pid)),
                etc_owner: self.etc_owner(&record),
                hostname: record.hostname.clone(),
                domainname: record.spec.domainname.clone(),
            });
        }
        for link in &container.spec.host.links {
            let child = self
                .lookup(&link.id)
                .map_err(|_| {
                    Error::not_found(format!(
                        "could not get container for {}: No such container: {}",
                        link.name, link.name
                    ))
                })?
                .snapshot();
            if !matches!(child.state.status, Status::Running | Status::Paused) {
                return Err(Error::conflict(format!(
                    "Cannot link to a non running container: /{} AS /{}/{}",
                    child.name, container.name, link.alias
                )));
            }
            let ip = child
                .networks
                .iter()
                .find(|a| a.network == crate::network::DEFAULT_NETWORK)
                .map(|a| a.ip)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "Cannot link to /{}, as it does not belong to the default network",
                        child.name
                    ))
                })?;
            peers.links.push(LinkTarget {
                alias: link.alias.clone(),
                name: child.name.clone(),
                id: child.id.clone(),
                ip,
                env: child.env.clone(),
                exposed_ports: child.exposed_ports.clone(),
            });
        }
        Ok(peers)
    }

    /// The hostname and domain name of the container a `container:` container joins.
    pub(crate) fn joined_identity(
        &self,
        container: &Container,
    ) -> Option<(String, Option<String>)> {
        let NetworkMode::Container(target) = &container.spec.host.network_mode else {
            return None;
        };
        let record = self.lookup(target).ok()?.snapshot();
        Some((record.hostname, record.spec.domainname))
    }

    /// The container whose /etc/hostname, hosts and resolv.conf `container` uses: itself, or
    /// for `container:` the end of the chain of joined containers.
    pub(crate) fn etc_owner(&self, container: &Container) -> String {
        let mut owner = container.id.clone();
        let mut mode = container.spec.host.network_mode.clone();
        for _ in 0..MAX_JOIN_DEPTH {
            let NetworkMode::Container(target) = &mode else {
                break;
            };
            let Ok(handle) = self.lookup(target) else {
                break;
            };
            let record = handle.snapshot();
            if record.id == owner {
                break;
            }
            owner = record.id;
            mode = record.spec.host.network_mode;
        }
        owner
    }
}

/// Docker's link environment (`daemon/links/links.go`) for the links of container `me`:
/// `ALIAS_NAME=/me/alias`, per exposed port `ALIAS_PORT_<port>_<PROTO>{,_ADDR,_PORT,_PROTO}`
/// (runs of consecutive ports as `_START`/`_END` ranges), `ALIAS_PORT` for the first port,
/// and `ALIAS_ENV_<var>` for the linked container's variables but HOME and PATH.
pub(crate) fn link_env(me: &str, links: &[LinkTarget]) -> Vec<String> {
    let mut env = Vec::new();
    for link in links {
        let alias = link.alias.to_ascii_uppercase().replace('-', "_");
        let ip = link.ip;
        let mut ports: Vec<(u16, String)> = link
            .exposed_ports
            .iter()
            .filter_map(|p| {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                Some((port.parse().ok()?, proto.to_ascii_lowercase()))
            })
            .collect();
        // Docker's order: by port number, tcp before other protocols on the same number.
        ports.sort_by(|a, b| a.0.cmp(&b.0).then((a.1 != "tcp").cmp(&(b.1 != "tcp"))));
        ports.dedup();
        if let Some((port, proto)) = ports.first() {
            env.push(format!("{alias}_PORT={proto}://{ip}:{port}"));
        }
        let mut i = 0;
        while i < ports.len() {
            let (port, proto) = &ports[i];
            let upper = proto.to_ascii_uppercase();
            let j = next_contiguous(&ports, i);
            if j > i + 1 {
                let (last, last_proto) = &ports[j];
                let last_upper = last_proto.to_ascii_uppercase();
                env.push(format!(
                    "{alias}_PORT_{port}_{upper}_START={proto}://{ip}:{port}"
                ));
                env.push(format!("{alias}_PORT_{port}_{upper}_ADDR={ip}"));
                env.push(format!("{alias}_PORT_{port}_{upper}_PROTO={proto}"));
                env.push(format!("{alias}_PORT_{port}_{upper}_PORT_START={port}"));
                env.push(format!(
                    "{alias}_PORT_{port}_{last_upper}_END={last_proto}://{ip}:{last}"
                ));
                env.push(format!("{alias}_PORT_{port}_{last_upper}_PORT_END={last}"));
                i = j + 1;
                continue;
            }
            env.push(format!("{alias}_PORT_{port}_{upper}={proto}://{ip}:{port}"));
            env.push(format!("{alias}_PORT_{port}_{upper}_ADDR={ip}"));
            env.push(format!("{alias}_PORT_{port}_{upper}_PORT={port}"));
            env.push(format!("{alias}_PORT_{port}_{upper}_PROTO={proto}"));
            i += 1;
        }
        env.push(format!("{alias}_NAME=/{me}/{}", link.alias));
        for var in &link.env {
            let Some((key, value)) = var.split_once('=') else {
                continue;
            };
            if key == "HOME" || key == "PATH" {
                continue;
            }
            env.push(format!("{alias}_ENV_{key}={value}"));
        }
    }
    env
}

/// The index of the last port of the run of consecutive port numbers starting at `start`
/// (Docker's `nextContiguous`, which ignores the protocol).
fn next_contiguous(ports: &[(u16, String)], start: usize) -> usize {
    let first = u32::from(ports[start].0);
    for (offset, (i, (port, _))) in ports.iter().enumerate().skip(start + 1).enumerate() {
        // The port expected here if the run continues: one more than the previous.
        let expected = first + offset as u32 + 1;
        if u32::from(*port) > expected {
            return i - 1;
        }
    }
    ports.len() - 1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn target(alias: &str, ports: &[&str]) -> LinkTarget {
        LinkTarget {
            alias: alias.into(),
            name: "nm-web".into(),
            id: "e".repeat(64),
            ip: Ipv4Addr::new(172, 17, 0, 2),
            env: vec![
                "PATH=/bin".into(),
                "FOO=bar".into(),
                "X=a b".into(),
                "HOME=/root".into(),
            ],
            exposed_ports: ports.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn link_env_matches_dockers() {
        let mut env = link_env("nm-me", &[target("al", &["80/tcp", "53/udp"])]);
        env.sort();
        assert_eq!(
            env,
            [
                "AL_ENV_FOO=bar",
                "AL_ENV_X=a b",
                "AL_NAME=/nm-me/al",
                "AL_PORT=udp://172.17.0.2:53",
                "AL_PORT_53_UDP=udp://172.17.0.2:53",
                "AL_PORT_53_UDP_ADDR=172.17.0.2",
                "AL_PORT_53_UDP_PORT=53",
                "AL_PORT_53_UDP_PROTO=udp",
                "AL_PORT_80_TCP=tcp://172.17.0.2:80",
                "AL_PORT_80_TCP_ADDR=172.17.0.2",
                "AL_PORT_80_TCP_PORT=80",
                "AL_PORT_80_TCP_PROTO=tcp",
            ]
        );
        let env = link_env("me", &[target("my-db", &[])]);
        assert!(env.contains(&"MY_DB_NAME=/me/my-db".to_owned()));
        assert!(!env.iter().any(|e| e.starts_with("MY_DB_PORT")));
    }

    #[test]
    fn contiguous_ports_become_ranges() {
        let env = link_env(
            "me",
            &[target(
                "r",
                &["8000/tcp", "8001/tcp", "8002/tcp", "9000/tcp"],
            )],
        );
        for wanted in [
            "R_PORT=tcp://172.17.0.2:8000",
            "R_PORT_8000_TCP_START=tcp://172.17.0.2:8000",
            "R_PORT_8000_TCP_PORT_START=8000",
            "R_PORT_8000_TCP_END=tcp://172.17.0.2:8002",
            "R_PORT_8000_TCP_PORT_END=8002",
            "R_PORT_9000_TCP=tcp://172.17.0.2:9000",
        ] {
            assert!(env.contains(&wanted.to_owned()), "{wanted} in {env:?}");
        }
        assert!(!env.iter().any(|e| e.starts_with("R_PORT_8001")));
    }

    #[test]
    fn own_environment_wins_over_link_environment() {
        let mut spec = ContainerSpec::default();
        spec.host.links = vec![];
        let container = Container {
            id: "c".repeat(64),
            name: "me".into(),
            created: chrono::Utc::now(),
            spec,
            image_id: String::new(),
            path: "sh".into(),
            args: vec![],
            env: vec!["AL_ENV_FOO=mine".into(), "A=1".into()],
            cmd: vec![],
            entrypoint: vec![],
            working_dir: String::new(),
            user: String::new(),
            hostname: "h".into(),
            labels: Default::default(),
            exposed_ports: vec![],
            volumes: vec![],
            stop_signal: "SIGTERM".into(),
            state: Default::default(),
            mount_points: vec![],
            networks: Vec::new(),
            endpoints: None,
        };
        let peers = Peers {
            joined: None,
            links: vec![target("al", &[])],
        };
        let effective = peers.apply(&container);
        assert!(effective.env.contains(&"AL_ENV_FOO=mine".to_owned()));
        assert!(!effective.env.contains(&"AL_ENV_FOO=bar".to_owned()));
        assert_eq!(effective.env.last().map(String::as_str), Some("A=1"));
        assert_eq!(peers.linked_hosts()[0].short_id, "eeeeeeeeeeee".to_owned());
    }

    #[test]
    fn conflicts_use_dockers_messages() {
        let mut spec = ContainerSpec::default();
        spec.host.network_mode = NetworkMode::Container("x".into());
        spec.hostname = Some("h".into());
        let err = |spec: &ContainerSpec| validate(spec).unwrap_err().to_string();
        assert_eq!(
            err(&spec),
            "conflicting options: hostname and the network mode"
        );
        spec.hostname = None;
        spec.host.dns = vec!["1.1.1.1".into()];
        assert_eq!(err(&spec), "conflicting options: dns and the network mode");
        spec.host.dns = vec![];
        spec.host.mac_address = Some("02:42:ac:11:00:09".into());
        assert_eq!(
            err(&spec),
            "conflicting options: mac-address and the network mode"
        );
        spec.host.mac_address = None;
        spec.host.publish_all_ports = true;
        assert_eq!(
            err(&spec),
            "conflicting options: port publishing and the container type network mode"
        );
        spec.host.publish_all_ports = false;
        spec.exposed_ports = vec!["80/tcp".into()];
        assert_eq!(
            err(&spec),
            "conflicting options: port exposing and the container type network mode"
        );
        spec.exposed_ports = vec![];
        spec.host.dns_search = vec!["x.com".into()];
        assert!(
            validate(&spec).is_ok(),
            "dns-search is allowed, as in Docker"
        );
        spec.host.network_mode = NetworkMode::Container(String::new());
        assert!(err(&spec).starts_with("Invalid network mode"));
        spec.host.network_mode = NetworkMode::Host;
        spec.host.links = vec![Link {
            id: String::new(),
            name: "a".into(),
            alias: "b".into(),
        }];
        assert!(err(&spec).contains("host type networking can't be used with links"));
    }
}
