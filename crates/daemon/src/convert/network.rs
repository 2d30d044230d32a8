//! Networking on the wire: `HostConfig.PortBindings` into the engine's [`PortBinding`]s, and a
//! container's attachment into Docker's `NetworkSettings`, `Ports` and `PortBindings` shapes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::models::PortMap;
use berth_engine::{Attachment, Container, EndpointSettings, PortBinding};
use serde_json::{json, Value};

use crate::error::ApiError;

/// Validates `HostConfig.PortBindings` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`).
pub fn port_bindings(map: Option<PortMap>) -> Result<Vec<PortBinding>, ApiError> {
    let mut out = Vec::new();
    let mut keys: Vec<(String, Option<Vec<berth_api::models::PortBinding>>)> =
        map.unwrap_or_default().into_iter().collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, bindings) in keys {
        let (port, protocol) = parse_port_key(&key)?;
        let bindings = bindings.unwrap_or_default();
        let bindings = if bindings.is_empty() {
            vec![berth_api::models::PortBinding::default()]
        } else {
            bindings
        };
        for binding in bindings {
            let host_ip = binding.host_ip.unwrap_or_default();
            if !host_ip.is_empty() && host_ip.parse::<Ipv4Addr>().is_err() {
                if host_ip.parse::<std::net::Ipv6Addr>().is_ok() {
                    return Err(ApiError::bad_request(format!(
                        "publishing on IPv6 address {host_ip} is not supported by berthd"
                    )));
                }
                return Err(ApiError::bad_request(format!(
                    "invalid IP address: {host_ip}"
                )));
            }
            let host_port = binding.host_port.unwrap_or_default();
            berth_engine::parse_port_range(&host_port).map_err(|e| {
                ApiError::bad_request(format!("invalid port specification: {host_port:?} ({e})"))
            })?;
            out.push(PortBinding {
                container_port: port,
                protocol: protocol.clone(),
                host_ip,
                host_port,
            });
        }
    }
    Ok(out)
}

/// `80/tcp` -> (80, "tcp"); a missing protocol is tcp.
fn parse_port_key(key: &str) -> Result<(u16, String), ApiError> {
    let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = protocol.to_ascii_lowercase();
    if protocol != "tcp" && protocol != "udp" {
        return Err(ApiError::bad_request(format!(
            "invalid proto: {protocol} (berthd publishes tcp and udp)"
        )));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid port specification: {key:?}")))?;
    Ok((port, protocol))
}

/// `HostConfig.PortBindings` as given.
pub fn host_config_port_bindings(c: &Container) -> Value {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for b in &c.spec.host.port_bindings {
        map.entry(format!("{}/{}", b.container_port, b.protocol))
            .or_default()
            .push(json!({"HostIp": b.host_ip, "HostPort": b.host_port}));
    }
    json!(map)
}

/// The attachment that publishes the container's ports (its first network).
fn publishing(c: &Container) -> Option<&Attachment> {
    c.networks.first()
}

/// `NetworkSettings.Ports`: every exposed or published port; published ones with their host
/// bindings while the container runs, `null` otherwise.
fn ports(c: &Container) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    let Some(attachment) = publishing(c) else {
        return json!({});
    };
    for exposed in &c.exposed_ports {
        map.insert(exposed.clone(), Value::Null);
    }
    for b in &c.spec.host.port_bindings {
        map.insert(format!("{}/{}", b.container_port, b.protocol), Value::Null);
    }
    for p in &attachment.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let entry = map.entry(key).or_insert(Value::Null);
        if !entry.is_array() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()}));
        }
    }
    json!(map)
}

/// One `NetworkSettings.Networks` entry. `attachment` is `None` for a network the stopped
/// container will join at its next start (Docker shows the configuration, addresses empty).
fn endpoint(
    c: &Container,
    network_id: &str,
    user_network: bool,
    wanted: Option<&EndpointSettings>,
    attachment: Option<&Attachment>,
) -> Value {
    let aliases: Vec<String> = attachment
        .map(|a| a.aliases.clone())
        .or_else(|| wanted.map(|w| w.aliases.clone()))
        .unwrap_or_default();
    let requested = attachment
        .and_then(|a| a.requested_ip)
        .or_else(|| wanted.and_then(|w| w.ipv4));
    let ipam = match requested {
        Some(ip) => json!({"IPv4Address": ip.to_string()}),
        None => Value::Null,
    };
    // Docker 20.10 adds the short ID to the aliases on user networks; newer daemons list the
    // names the embedded DNS answers to in DNSNames.
    let (aliases, dns_names) = if user_network {
        let mut with_id = aliases.clone();
        if attachment.is_some() {
            with_id.push(c.short_id().to_owned());
        }
        let mut names = vec![c.name.clone()];
        names.extend(aliases.iter().cloned());
        names.push(c.short_id().to_owned());
        (json!(with_id), json!(names))
    } else {
        (Value::Null, Value::Null)
    };
    json!({
        "IPAMConfig": ipam, "Links": null, "Aliases": aliases,
        "MacAddress": attachment.map(|a| a.mac.clone()).unwrap_or_default(),
        "NetworkID": network_id,
        "EndpointID": attachment.map(|a| a.endpoint_id.clone()).unwrap_or_default(),
        "Gateway": attachment.map(|a| a.gateway.to_string()).unwrap_or_default(),
        "IPAddress": attachment.map(|a| a.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": attachment.map(|a| a.prefix).unwrap_or(0),
        "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DriverOpts": null, "DNSNames": if attachment.is_some() { dns_names } else { Value::Null },
    })
}

/// `NetworkSettings` in Docker's shape: one `Networks` entry per network (attached ones
/// with their addresses); the top-level address fields describe the default bridge only.
/// `builtin`: the IDs of the predefined networks (`host` and `none` are keyed by the mode).
pub fn network_settings(c: &Container, mode_network_id: &str) -> Value {
    let mut networks = serde_json::Map::new();
    let mode = c.spec.host.network_mode.as_str();
    if matches!(mode.as_ref(), "host" | "none") {
        networks.insert(
            mode.into_owned(),
            endpoint(c, mode_network_id, false, None, None),
        );
    }
    let wanted = c.endpoints.clone().unwrap_or_default();
    for w in &wanted {
        let attachment = c.networks.iter().find(|a| a.network_id == w.network);
        let name = attachment
            .map(|a| a.network.clone())
            .unwrap_or_else(|| w.name.clone());
        let user = name != berth_engine::DEFAULT_NETWORK;
        networks.insert(name, endpoint(c, &w.network, user, Some(w), attachment));
    }
    for a in &c.networks {
        if !networks.contains_key(&a.network) {
            let user = a.network != berth_engine::DEFAULT_NETWORK;
            networks.insert(
                a.network.clone(),
                endpoint(c, &a.network_id, user, None, Some(a)),
            );
        }
    }
    let bridge = c
        .networks
        .iter()
        .find(|a| a.network == berth_engine::DEFAULT_NETWORK);
    let ip = bridge.map(|a| a.ip.to_string()).unwrap_or_default();
    let gateway = bridge.map(|a| a.gateway.to_string()).unwrap_or_default();
    let prefix = bridge.map(|a| a.prefix).unwrap_or(0);
    let mac = bridge.map(|a| a.mac.clone()).unwrap_or_default();
    let endpoint_id = bridge.map(|a| a.endpoint_id.clone()).unwrap_or_default();
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": ports(c),
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Networks": networks,
        "EndpointID": endpoint_id,
        "Gateway": gateway, "IPAddress": ip, "IPPrefixLen": prefix, "MacAddress": mac,
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
    })
}

/// `Ports` of a `GET /containers/json` row.
pub fn summary_ports(c: &Container) -> Value {
    let mut rows = Vec::new();
    let published = publishing(c).map(|a| a.ports.as_slice()).unwrap_or(&[]);
    for p in published {
        rows.push(json!({"IP": p.host_ip, "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.protocol}));
    }
    for exposed in &c.exposed_ports {
        let (port, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if !published
            .iter()
            .any(|p| p.container_port == port && p.protocol == protocol)
        {
            rows.push(json!({"PrivatePort": port, "Type": protocol}));
        }
    }
    json!(rows)
}

/// `NetworkingConfig.EndpointsConfig` into endpoint requests (aliases, `--ip`).
pub fn endpoints_config(
    config: Option<berth_api::models::NetworkingConfig>,
) -> Result<Vec<EndpointSettings>, ApiError> {
    let mut out = Vec::new();
    let mut entries: Vec<(String, berth_api::models::EndpointSettings)> = config
        .and_then(|c| c.endpoints_config)
        .unwrap_or_default()
        .into_iter()
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (network, settings) in entries {
        out.push(endpoint_settings(network, settings)?);
    }
    Ok(out)
}

/// One wire EndpointSettings (connect bodies and EndpointsConfig entries).
pub fn endpoint_settings(
    network: String,
    settings: berth_api::models::EndpointSettings,
) -> Result<EndpointSettings, ApiError> {
    let ipv4 = settings
        .ipam_config
        .and_then(|i| i.ipv4_address)
        .filter(|ip| !ip.is_empty());
    let ipv4 = match ipv4 {
        Some(text) => Some(
            text.parse::<Ipv4Addr>()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {text}")))?,
        ),
        None => None,
    };
    Ok(EndpointSettings {
        network,
        name: String::new(),
        aliases: settings.aliases.unwrap_or_default(),
        ipv4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_bindings_are_validated() {
        let map: PortMap = serde_json::from_value(json!({
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "", "HostPort": ""}],
            "90": null,
        }))
        .unwrap_or_default();
        let got = port_bindings(Some(map)).unwrap_or_default();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].protocol, "udp");
        assert_eq!(got[1].host_ip, "127.0.0.1");
        assert_eq!(got[2].container_port, 90);
        for bad in [
            json!({"80/sctp": null}),
            json!({"x/tcp": null}),
            json!({"80/tcp": [{"HostIp": "1.2.3", "HostPort": "1"}]}),
            json!({"80/tcp": [{"HostIp": "", "HostPort": "99999"}]}),
            json!({"80/tcp": [{"HostIp": "", "HostPort": "9-1"}]}),
        ] {
            let map: PortMap = serde_json::from_value(bad.clone()).unwrap_or_default();
            assert!(port_bindings(Some(map)).is_err(), "{bad}");
        }
    }
}
