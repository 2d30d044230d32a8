//! Networking on the wire: `HostConfig.PortBindings` into the engine's [`PortBinding`]s, and a
//! container's attachment into Docker's `NetworkSettings`, `Ports` and `PortBindings` shapes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::models::PortMap;
use berth_engine::{Container, PortBinding};
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

/// `NetworkSettings.Ports`: every exposed or published port; published ones with their host
/// bindings while the container runs, `null` otherwise.
fn ports(c: &Container) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    let Some(attachment) = &c.network else {
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

/// `NetworkSettings` in Docker's shape.
pub fn network_settings(c: &Container, network_id: &str) -> Value {
    let mode = c.spec.host.network_mode.as_str();
    let a = c.network.as_ref();
    let ip = a.map(|a| a.ip.to_string()).unwrap_or_default();
    let gateway = a.map(|a| a.gateway.to_string()).unwrap_or_default();
    let prefix = a.map(|a| a.prefix).unwrap_or(0);
    let mac = a.map(|a| a.mac.clone()).unwrap_or_default();
    let endpoint = a.map(|a| a.endpoint_id.clone()).unwrap_or_default();
    let net_id = if mode == "bridge" { network_id } else { "" };
    // A `container:` container has no network of its own (Docker shows none).
    let networks = if matches!(
        c.spec.host.network_mode,
        berth_engine::NetworkMode::Container(_)
    ) {
        json!({})
    } else {
        json!({
            mode.as_ref(): {
                "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": mac,
                "NetworkID": net_id, "EndpointID": endpoint, "Gateway": gateway,
                "IPAddress": ip, "IPPrefixLen": prefix, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": null,
                "DNSNames": null,
            }
        })
    };
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": ports(c),
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Networks": networks,
        "EndpointID": endpoint,
        "Gateway": gateway, "IPAddress": ip, "IPPrefixLen": prefix, "MacAddress": mac,
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
    })
}

/// `Ports` of a `GET /containers/json` row.
pub fn summary_ports(c: &Container) -> Value {
    let mut rows = Vec::new();
    let published = c
        .network
        .as_ref()
        .map(|a| a.ports.as_slice())
        .unwrap_or(&[]);
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
