//! Networks on the wire: `POST /networks/create` bodies into [`NetworkCreate`], records into
//! Docker's network JSON (`GET /networks`, `GET /networks/{id}`).

use berth_engine::{Network, NetworkCreate, NetworkEndpoint};
use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::error::ApiError;

/// Validates a create body (Docker's NetworkCreateRequest).
pub fn create_request(body: &Value) -> Result<NetworkCreate, ApiError> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let name = body["Name"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("network name must not be empty"))?;
    let map = |v: &Value| -> Result<std::collections::BTreeMap<String, String>, ApiError> {
        match v {
            Value::Null => Ok(Default::default()),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_owned()))
                        .ok_or_else(|| ApiError::bad_request(format!("invalid value for {k}")))
                })
                .collect(),
            _ => Err(ApiError::bad_request(
                "invalid Labels/Options: expected an object",
            )),
        }
    };
    let ipam = &body["IPAM"];
    match ipam["Driver"].as_str() {
        None | Some("") | Some("default") => {}
        Some(other) => {
            return Err(ApiError::not_found(format!("plugin \"{other}\" not found")));
        }
    }
    let configs = ipam["Config"].as_array().cloned().unwrap_or_default();
    let v4: Vec<&Value> = configs
        .iter()
        .filter(|c| !c["Subnet"].as_str().unwrap_or("").contains(':'))
        .collect();
    if v4.len() > 1 {
        return Err(ApiError::bad_request(
            "berthd supports one IPv4 subnet per network",
        ));
    }
    if configs.len() > v4.len() {
        return Err(ApiError::bad_request(
            "IPv6 subnets are not supported by berthd",
        ));
    }
    let config = v4.first().copied().cloned().unwrap_or(Value::Null);
    Ok(NetworkCreate {
        name,
        driver: text(&body["Driver"]).unwrap_or_default(),
        subnet: text(&config["Subnet"]),
        gateway: text(&config["Gateway"]),
        ip_range: text(&config["IPRange"]),
        internal: body["Internal"].as_bool().unwrap_or(false),
        attachable: body["Attachable"].as_bool().unwrap_or(false),
        enable_ipv6: body["EnableIPv6"].as_bool().unwrap_or(false),
        labels: map(&body["Labels"])?,
        options: map(&body["Options"])?,
    })
}

/// Docker's network JSON; `endpoints` fill `Containers` (inspect), `None` leaves it empty
/// (list, like Docker's).
pub fn network(n: &Network, endpoints: Option<&[NetworkEndpoint]>) -> Value {
    let config = if n.subnet.is_empty() {
        json!([])
    } else {
        let mut c = json!({"Subnet": n.subnet, "Gateway": n.gateway});
        if let Some(range) = &n.ip_range {
            c["IPRange"] = json!(range);
        }
        json!([c])
    };
    let mut containers = serde_json::Map::new();
    for e in endpoints.unwrap_or(&[]) {
        containers.insert(
            e.container_id.clone(),
            json!({
                "Name": e.container_name,
                "EndpointID": e.attachment.endpoint_id,
                "MacAddress": e.attachment.mac,
                "IPv4Address": format!("{}/{}", e.attachment.ip, e.attachment.prefix),
                "IPv6Address": "",
            }),
        );
    }
    let mut options = json!(n.options);
    if n.builtin && n.name == berth_engine::DEFAULT_NETWORK && !n.bridge.is_empty() {
        options = json!({
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": n.bridge,
            "com.docker.network.driver.mtu": "1500",
        });
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created.to_rfc3339_opts(SecondsFormat::Nanos, true),
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_are_validated() {
        let ok = create_request(&json!({
            "Name": "n1", "Internal": true, "Labels": {"a": "b"},
            "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.9"}]}
        }));
        let ok = ok.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok.subnet.as_deref(), Some("10.5.0.0/24"));
        assert_eq!(ok.gateway.as_deref(), Some("10.5.0.9"));
        assert!(ok.internal);
        assert!(create_request(&json!({})).is_err());
        assert!(create_request(&json!({"Name": "x", "IPAM": {"Driver": "weird"}})).is_err());
        assert!(create_request(
            &json!({"Name": "x", "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}})
        )
        .is_err());
    }

    #[test]
    fn network_json_deserializes_into_the_models() {
        let n = Network {
            id: "a".repeat(64),
            name: "n1".into(),
            driver: "bridge".into(),
            created: chrono::Utc::now(),
            subnet: "10.5.0.0/24".into(),
            gateway: "10.5.0.1".into(),
            ip_range: None,
            subnet_given: true,
            internal: false,
            attachable: false,
            labels: Default::default(),
            options: Default::default(),
            bridge: "br-aaaaaaaaaaaa".into(),
            builtin: false,
        };
        let value = network(&n, None);
        let parsed: berth_api::models::Network =
            serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.name.as_deref(), Some("n1"));
    }
}
