//! Berth's nftables table: NAT for a bridge and the published ports of its containers.
//!
//! Layout (one `ip` table per bridge, named by the daemon, `berth` for `berth0`):
//!
//! * maps `any_addr`/`any_port` (`proto . port -> container ip` / `container port`, for ports
//!   published on every host address) and `ip_addr`/`ip_port` (`host ip . proto . port -> …`,
//!   for `-p 127.0.0.1:…`);
//! * `prerouting`/`output` nat chains that DNAT traffic for a local address through the maps
//!   (a miss in a map lookup is no match, so unrelated traffic passes untouched);
//! * `postrouting`: masquerade the bridge's subnet going elsewhere, connections from 127/8
//!   (needs `route_localnet` on the bridge) and hairpin connections (container -> published
//!   port of a container on the same bridge). Other published connections keep the client's
//!   source address: there is no userland proxy in the data path;
//! * `forward`: accept the bridge's traffic.
//!
//! A container's ports are map elements: adding or removing them is one `nft` transaction,
//! atomic, with no rule handles to track, and re-adding an existing element is harmless, so the
//! table can be rebuilt on daemon start from the running containers without duplicates.
//!
//! Why the `DOCKER-USER` rules: a dockerd on the same host sets the iptables(-nft) `FORWARD`
//! policy to drop, and in nftables a drop in any base chain is final whatever other tables
//! accept. Docker reserves the `DOCKER-USER` chain (which it creates but never flushes) for
//! other software's rules, so when it exists Berth inserts accept rules for its own bridge
//! there and removes exactly those on teardown. Docker's own rules are never changed.

use std::collections::BTreeSet;

use nftables::schema::Nftables;
use serde_json::{json, Value};

use super::{Firewall, PortMapping, Protocol};
use crate::error::{Error, Result};
use crate::ipam::Subnet;

/// The nftables firewall of one bridge network.
#[derive(Debug, Clone)]
pub struct NftFirewall {
    pub table: String,
    pub bridge: String,
    pub subnet: Subnet,
    /// No route out (`--internal`): no masquerade, and forwarding off the bridge is dropped.
    pub internal: bool,
}

const DOCKER_USER: (&str, &str) = ("filter", "DOCKER-USER");

impl Firewall for NftFirewall {
    /// (Re)creates the table from scratch in one transaction (dropping any elements a crashed
    /// daemon left), enables forwarding, and adds the DOCKER-USER accept rules.
    fn setup(&self) -> Result<()> {
        let table = self.table.as_str();
        let bridge = self.bridge.as_str();
        let subnet = json!({"prefix": {"addr": self.subnet.network().to_string(), "len": self.subnet.prefix}});
        let local = json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}});
        let ip_key = json!({"concat": [
            {"payload": {"protocol": "ip", "field": "daddr"}}, {"meta": {"key": "l4proto"}},
            {"payload": {"protocol": "th", "field": "dport"}}]});
        let any_key = json!({"concat": [
            {"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]});
        let by_ip = json!({"dnat": {"family": "ip",
            "addr": {"map": {"key": ip_key, "data": "@ip_addr"}},
            "port": {"map": {"key": ip_key, "data": "@ip_port"}}}});
        let by_port = json!({"dnat": {"family": "ip",
            "addr": {"map": {"key": any_key, "data": "@any_addr"}},
            "port": {"map": {"key": any_key, "data": "@any_port"}}}});
        let oif = |op: &str| json!({"match": {"op": op, "left": {"meta": {"key": "oifname"}}, "right": bridge}});
        let iif = |op: &str| json!({"match": {"op": op, "left": {"meta": {"key": "iifname"}}, "right": bridge}});
        let saddr = |prefix: &Value| json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": prefix}});
        let dnatted =
            json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}});
        let established = json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}});
        let rule = |chain: &str, expr: Vec<Value>| json!({"add": {"rule": {"family": "ip", "table": table, "chain": chain, "expr": expr}}});
        let chain = |name: &str, kind: &str, hook: &str, prio: i32| json!({"add": {"chain": {"family": "ip", "table": table, "name": name, "type": kind, "hook": hook, "prio": prio, "policy": "accept"}}});
        let map = |name: &str, key: Value, data: &str| json!({"add": {"map": {"family": "ip", "table": table, "name": name, "type": key, "map": data}}});
        let mut commands = vec![
            json!({"add": {"table": {"family": "ip", "name": table}}}),
            json!({"delete": {"table": {"family": "ip", "name": table}}}),
            json!({"add": {"table": {"family": "ip", "name": table}}}),
            // Why two maps per key (address, port) rather than one with concatenated data:
            // nft 1.0.6 cannot read a concatenated map data type from JSON (it crashes).
            map(
                "any_addr",
                json!(["inet_proto", "inet_service"]),
                "ipv4_addr",
            ),
            map(
                "any_port",
                json!(["inet_proto", "inet_service"]),
                "inet_service",
            ),
            map(
                "ip_addr",
                json!(["ipv4_addr", "inet_proto", "inet_service"]),
                "ipv4_addr",
            ),
            map(
                "ip_port",
                json!(["ipv4_addr", "inet_proto", "inet_service"]),
                "inet_service",
            ),
            chain("prerouting", "nat", "prerouting", -100),
            chain("output", "nat", "output", -100),
            chain("postrouting", "nat", "postrouting", 100),
            chain("forward", "filter", "forward", 0),
        ];
        if !self.internal {
            for name in ["prerouting", "output"] {
                commands.push(rule(name, vec![local.clone(), by_ip.clone()]));
                commands.push(rule(name, vec![local.clone(), by_port.clone()]));
            }
            commands.push(rule(
                "postrouting",
                vec![saddr(&subnet), oif("!="), json!({"masquerade": null})],
            ));
            let loopback = json!({"prefix": {"addr": "127.0.0.0", "len": 8}});
            commands.push(rule(
                "postrouting",
                vec![oif("=="), saddr(&loopback), json!({"masquerade": null})],
            ));
            commands.push(rule(
                "postrouting",
                vec![
                    oif("=="),
                    dnatted.clone(),
                    saddr(&subnet),
                    json!({"masquerade": null}),
                ],
            ));
            commands.push(rule("forward", vec![iif("=="), json!({"accept": null})]));
        } else {
            // Internal: traffic may stay on the bridge but never leave it.
            commands.push(rule(
                "forward",
                vec![iif("=="), oif("!="), json!({"drop": null})],
            ));
            commands.push(rule(
                "forward",
                vec![oif("=="), iif("!="), json!({"drop": null})],
            ));
        }
        commands.push(rule(
            "forward",
            vec![oif("=="), established.clone(), json!({"accept": null})],
        ));
        commands.push(rule(
            "forward",
            vec![oif("=="), dnatted.clone(), json!({"accept": null})],
        ));
        // Isolation (Docker's DOCKER-ISOLATION chains): nothing else is forwarded onto this
        // bridge from another interface, so two networks cannot reach each other; a drop in
        // any table's base chain is final.
        commands.push(rule(
            "forward",
            vec![oif("=="), iif("!="), json!({"drop": null})],
        ));
        apply(commands)?;
        write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        // Why: DNAT of 127.0.0.1:PORT to a container needs the kernel to route a 127/8
        // source out of the bridge, which it refuses unless route_localnet is set there.
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
            "1",
        )?;
        self.docker_user(true)
    }

    /// Removes the table and the DOCKER-USER rules (the bridge is going away).
    fn teardown(&self) -> Result<()> {
        let result = apply(vec![
            json!({"add": {"table": {"family": "ip", "name": self.table}}}),
            json!({"delete": {"table": {"family": "ip", "name": self.table}}}),
        ]);
        let docker = self.docker_user(false);
        result.and(docker)
    }

    /// Adds a container's published ports in one transaction.
    fn publish(&self, ports: &[PortMapping]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        apply(self.elements("add", ports))
    }

    /// Removes a container's published ports in one transaction.
    fn unpublish(&self, ports: &[PortMapping]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        apply(self.elements("delete", ports))
    }

    /// Reads the four maps back and pairs each key's address with its port.
    fn published(&self) -> Result<BTreeSet<PortMapping>> {
        let listed = nftables::helper::get_current_ruleset_raw(
            nftables::helper::DEFAULT_NFT,
            ["-j", "list", "table", "ip", self.table.as_str()],
        )
        .map_err(|e| Error::Firewall(format!("list table {}: {e}", self.table)))?;
        let listed: Value = serde_json::from_str(&listed)
            .map_err(|e| Error::Firewall(format!("parse table {}: {e}", self.table)))?;
        let map = |name: &str| -> Vec<(Vec<Value>, Value)> {
            let Some(found) = listed["nftables"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["map"]["name"] == name)
            else {
                return Vec::new();
            };
            found["map"]["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    let key = pair[0]["concat"].as_array()?.clone();
                    Some((key, pair[1].clone()))
                })
                .collect()
        };
        let mut out = BTreeSet::new();
        for (prefix, with_ip) in [("any", false), ("ip", true)] {
            let ports = map(&format!("{prefix}_port"));
            for (key, addr) in map(&format!("{prefix}_addr")) {
                let Some((_, port)) = ports.iter().find(|(k, _)| k == &key) else {
                    continue;
                };
                let (host_ip, rest) = match (with_ip, key.split_first()) {
                    (true, Some((ip, rest))) => (ip.as_str().and_then(|t| t.parse().ok()), rest),
                    _ => (None, &key[..]),
                };
                let mapping = (|| {
                    Some(PortMapping {
                        host_ip,
                        protocol: match rest.first()?.as_str()? {
                            "tcp" => Protocol::Tcp,
                            "udp" => Protocol::Udp,
                            _ => return None,
                        },
                        host_port: u16::try_from(rest.get(1)?.as_u64()?).ok()?,
                        container_ip: addr.as_str()?.parse().ok()?,
                        container_port: u16::try_from(port.as_u64()?).ok()?,
                    })
                })();
                match mapping {
                    Some(m) if with_ip == m.host_ip.is_some() => {
                        out.insert(m);
                    }
                    _ => {
                        return Err(Error::Firewall(format!(
                            "unexpected element in {}: {key:?}",
                            self.table
                        )))
                    }
                }
            }
        }
        Ok(out)
    }
}

impl NftFirewall {
    fn elements(&self, verb: &str, ports: &[PortMapping]) -> Vec<Value> {
        let mut commands = Vec::new();
        for p in ports {
            let (prefix, key) = match p.host_ip {
                Some(ip) => (
                    "ip",
                    json!({"concat": [ip.to_string(), p.protocol.as_str(), p.host_port]}),
                ),
                None => ("any", json!({"concat": [p.protocol.as_str(), p.host_port]})),
            };
            for (suffix, data) in [
                ("addr", json!(p.container_ip.to_string())),
                ("port", json!(p.container_port)),
            ] {
                let name = format!("{prefix}_{suffix}");
                commands.push(json!({verb: {"element": {"family": "ip", "table": self.table, "name": name, "elem": [[key.clone(), data]]}}}));
            }
        }
        commands
    }

    /// Inserts (`add`) or removes Berth's accept rules for this bridge in Docker's DOCKER-USER
    /// chain, when that chain exists. Existing copies are always removed first.
    fn docker_user(&self, add: bool) -> Result<()> {
        let (table, chain) = DOCKER_USER;
        let listed = nftables::helper::get_current_ruleset_raw(
            nftables::helper::DEFAULT_NFT,
            ["-j", "-a", "list", "chain", "ip", table, chain],
        );
        let Ok(listed) = listed else {
            return Ok(()); // no dockerd rules on this host
        };
        let listed: Value = serde_json::from_str(&listed)
            .map_err(|e| Error::Firewall(format!("parse {chain}: {e}")))?;
        let mut commands = Vec::new();
        for object in listed["nftables"].as_array().into_iter().flatten() {
            let rule = &object["rule"];
            let ours = rule["expr"][0]["match"]["right"] == self.bridge.as_str()
                && rule["expr"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|s| s.get("accept").is_some()));
            if let (true, Some(handle)) = (ours, rule["handle"].as_u64()) {
                commands.push(json!({"delete": {"rule": {"family": "ip", "table": table, "chain": chain, "handle": handle, "expr": []}}}));
            }
        }
        if add {
            let bridge = self.bridge.as_str();
            let meta = |key: &str| json!({"match": {"op": "==", "left": {"meta": {"key": key}}, "right": bridge}});
            let rules = [
                vec![meta("iifname"), json!({"accept": null})],
                vec![
                    meta("oifname"),
                    json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}),
                    json!({"accept": null}),
                ],
                vec![
                    meta("oifname"),
                    json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}),
                    json!({"accept": null}),
                ],
            ];
            for expr in rules {
                commands.push(json!({"insert": {"rule": {"family": "ip", "table": table, "chain": chain, "expr": expr}}}));
            }
        }
        if commands.is_empty() {
            return Ok(());
        }
        apply(commands)
    }
}

/// Runs one `nft -j -f -` transaction. The commands are checked against the `nftables`
/// crate's schema before `nft` sees them; nft's own message is kept for errors.
fn apply(commands: Vec<Value>) -> Result<()> {
    use std::io::Write;
    let document = json!({"nftables": commands});
    let parsed: Nftables<'_> = serde_json::from_value(document)
        .map_err(|e| Error::Firewall(format!("invalid ruleset: {e}")))?;
    let payload =
        serde_json::to_vec(&parsed).map_err(|e| Error::Firewall(format!("encode ruleset: {e}")))?;
    let mut child = std::process::Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Firewall(format!("run nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&payload)
            .map_err(|e| Error::Firewall(format!("write to nft: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::Firewall(format!("wait for nft: {e}")))?;
    if !output.status.success() {
        // nft reports errors on stderr, some (JSON parse errors) on stdout.
        let mut message = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if message.is_empty() {
            message = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        }
        if message.is_empty() {
            message = format!(
                "nft failed ({}) on {}",
                output.status,
                String::from_utf8_lossy(&payload)
            );
        }
        return Err(Error::Firewall(message));
    }
    Ok(())
}

fn write_sysctl(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

/// Whether `nft` can be run at all (for clear errors at daemon start).
pub fn available() -> bool {
    std::process::Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
