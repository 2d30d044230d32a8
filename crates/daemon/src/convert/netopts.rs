//! The network options of a create request on the wire: `HostConfig.NetworkMode`
//! (`container:<ref>`), `HostConfig.Links`, the MAC address (in `NetworkingConfig` since API
//! 1.44, in `Config.MacAddress` before), and their echo in inspect.

use berth_api::models::NetworkingConfig;
use berth_engine::{Container, Link, NetworkMode};
use serde_json::{json, Value};

use crate::error::ApiError;

/// `HostConfig.NetworkMode` → the engine's mode: a predefined one, `container:<ref>`, or a
/// user-defined network by name or ID (resolved by the engine at create).
pub fn network_mode(mode: &str) -> Result<NetworkMode, ApiError> {
    Ok(match mode {
        "" | "default" | "bridge" => NetworkMode::Bridge,
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        _ => match mode.strip_prefix("container:") {
            Some("") => {
                return Err(ApiError::bad_request(
                    "invalid container format container:<name|id>",
                ))
            }
            Some(target) => NetworkMode::Container(target.to_owned()),
            None => NetworkMode::Network(mode.to_owned()),
        },
    })
}

/// Parses `HostConfig.Links` as Docker's `opts.ParseLink`: `name:alias`, `name` (alias =
/// name), or inspect's own `/name:/parent/alias`.
pub fn links(links: Option<Vec<String>>) -> Result<Vec<Link>, ApiError> {
    let mut out = Vec::new();
    for link in links.unwrap_or_default() {
        if link.is_empty() {
            return Err(ApiError::bad_request("empty string specified for links"));
        }
        let parts: Vec<&str> = link.split(':').collect();
        let (name, alias) = match parts.as_slice() {
            [name] => (*name, name.trim_start_matches('/')),
            [name, alias] if name.starts_with('/') => {
                (*name, alias.rsplit('/').next().unwrap_or(alias))
            }
            [name, alias] => (*name, *alias),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "bad format for links: {link}"
                )))
            }
        };
        out.push(Link {
            id: String::new(),
            name: name.trim_start_matches('/').to_owned(),
            alias: alias.to_owned(),
        });
    }
    Ok(out)
}

/// The MAC address asked for in `NetworkingConfig.EndpointsConfig` (API ≥ 1.44).
pub fn endpoint_mac_address(config: Option<&NetworkingConfig>) -> Option<String> {
    config?
        .endpoints_config
        .as_ref()?
        .values()
        .filter_map(|e| e.mac_address.clone())
        .find(|m| !m.is_empty())
}

/// `Config.MacAddress` of older clients (docker 20.10, docker-py), which the models no longer
/// carry: read from the raw body, used when the endpoint gives none.
pub fn legacy_mac_address(
    mut spec: berth_engine::ContainerSpec,
    body: &[u8],
) -> berth_engine::ContainerSpec {
    if spec.host.mac_address.is_none() {
        spec.host.mac_address = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("MacAddress")?.as_str().map(str::to_owned))
            .filter(|m| !m.is_empty());
    }
    spec
}

/// `HostConfig.Links` as Docker shows them: `/<linked>:/<container>/<alias>`.
pub fn host_config_links(c: &Container) -> Value {
    if c.spec.host.links.is_empty() {
        return Value::Null;
    }
    json!(c
        .spec
        .host
        .links
        .iter()
        .map(|l| format!("/{}:/{}/{}", l.name, c.name, l.alias))
        .collect::<Vec<_>>())
}

/// A list shown as `null` when empty (ExtraHosts), as Docker does.
pub fn list_or_null(list: &[String]) -> Value {
    if list.is_empty() {
        Value::Null
    } else {
        json!(list)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_like_docker() {
        let got = links(Some(vec![
            "web:al".into(),
            "db".into(),
            "/nm-web:/nm-me/x".into(),
        ]))
        .unwrap();
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|l| (l.name.as_str(), l.alias.as_str()))
            .collect();
        assert_eq!(pairs, [("web", "al"), ("db", "db"), ("nm-web", "x")]);
        assert_eq!(
            links(Some(vec!["a:b:c".into()])).unwrap_err().message,
            "bad format for links: a:b:c"
        );
        assert!(links(Some(vec![String::new()])).is_err());
    }

    #[test]
    fn modes_and_macs() {
        assert_eq!(
            network_mode("container:web").unwrap(),
            NetworkMode::Container("web".into())
        );
        assert_eq!(network_mode("default").unwrap(), NetworkMode::Bridge);
        assert_eq!(
            network_mode("mynet").unwrap(),
            NetworkMode::Network("mynet".into())
        );
        assert_eq!(network_mode("container:").unwrap_err().status, 400);
        let config: NetworkingConfig = serde_json::from_value(json!({
            "EndpointsConfig": {"default": {"MacAddress": "02:42:ac:11:00:09"}}
        }))
        .unwrap();
        assert_eq!(
            endpoint_mac_address(Some(&config)).as_deref(),
            Some("02:42:ac:11:00:09")
        );
        let spec = legacy_mac_address(
            berth_engine::ContainerSpec::default(),
            br#"{"Image":"busybox","MacAddress":"02:42:ac:11:00:0a"}"#,
        );
        assert_eq!(spec.host.mac_address.as_deref(), Some("02:42:ac:11:00:0a"));
    }
}
