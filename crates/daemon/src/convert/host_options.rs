//! Wire <-> domain for `--init`, `--group-add`, `--device`, `--device-cgroup-rule` and
//! `--sysctl` (their validation is the engine's, at create).

use berth_api::models::DeviceMapping as WireDevice;
use berth_engine::{DeviceMapping, HostSpec};
use serde_json::{json, Value};

/// HostConfig.Devices as the engine takes them: an empty container path means the host's,
/// empty permissions mean `rwm` (what the docker CLI fills in).
pub(super) fn devices(wire: Option<Vec<WireDevice>>) -> Vec<DeviceMapping> {
    wire.unwrap_or_default()
        .into_iter()
        .map(|d| {
            let path_on_host = d.path_on_host.unwrap_or_default();
            DeviceMapping {
                path_in_container: d
                    .path_in_container
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| path_on_host.clone()),
                path_on_host,
                cgroup_permissions: d
                    .cgroup_permissions
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rwm".to_owned()),
            }
        })
        .collect()
}

/// Sets inspect's HostConfig fields for these options, in Docker's shapes (`Init` is null
/// when the request left it to the daemon's default).
pub(super) fn inspect_fields(host_config: &mut Value, h: &HostSpec) {
    let Some(map) = host_config.as_object_mut() else {
        return;
    };
    map.insert("Init".into(), json!(h.init));
    map.insert(
        "GroupAdd".into(),
        if h.group_add.is_empty() {
            Value::Null
        } else {
            json!(h.group_add)
        },
    );
    map.insert(
        "Devices".into(),
        Value::Array(
            h.devices
                .iter()
                .map(|d| {
                    json!({
                        "PathOnHost": d.path_on_host,
                        "PathInContainer": d.path_in_container,
                        "CgroupPermissions": d.cgroup_permissions,
                    })
                })
                .collect(),
        ),
    );
    map.insert(
        "DeviceCgroupRules".into(),
        if h.device_cgroup_rules.is_empty() {
            Value::Null
        } else {
            json!(h.device_cgroup_rules)
        },
    );
    if !h.sysctls.is_empty() {
        map.insert("Sysctls".into(), json!(h.sysctls));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn devices_get_dockers_defaults() {
        let wire = vec![
            WireDevice {
                path_on_host: Some("/dev/null".into()),
                path_in_container: Some(String::new()),
                cgroup_permissions: None,
            },
            WireDevice {
                path_on_host: Some("/dev/zero".into()),
                path_in_container: Some("/dev/z".into()),
                cgroup_permissions: Some("r".into()),
            },
        ];
        let got = devices(Some(wire));
        assert_eq!(got[0].path_in_container, "/dev/null");
        assert_eq!(got[0].cgroup_permissions, "rwm");
        assert_eq!(got[1].path_in_container, "/dev/z");
        assert_eq!(got[1].cgroup_permissions, "r");
        assert!(devices(None).is_empty());
    }

    #[test]
    fn inspect_shapes() {
        let mut h = HostSpec::default();
        let mut value = json!({"Devices": [], "GroupAdd": null});
        inspect_fields(&mut value, &h);
        assert_eq!(value["Init"], Value::Null);
        assert_eq!(value["Devices"], json!([]));
        assert!(value.get("Sysctls").is_none());
        h.init = Some(false);
        h.group_add = vec!["audio".into()];
        h.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        inspect_fields(&mut value, &h);
        assert_eq!(value["Init"], json!(false));
        assert_eq!(value["GroupAdd"], json!(["audio"]));
        assert_eq!(value["Sysctls"], json!({"net.ipv4.ip_forward": "1"}));
    }
}
