//! The mount parts of a create request (HostConfig.Binds, .Mounts, .Tmpfs, Config.Volumes)
//! into [`MountRequest`]s, with the rules and messages of Docker's Linux mount parser.

use std::collections::HashMap;

use berth_api::models::{Mount, MountType};
use berth_engine::{clean_target, MountKind, MountOrigin, MountPoint, MountRequest};
use serde_json::{json, Value};

use crate::error::ApiError;

fn invalid_spec(raw: &str) -> ApiError {
    ApiError::bad_request(format!("invalid volume specification: '{raw}'"))
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// The parts of a `-v` mode (`ro,z,rshared,nocopy`), checked as Docker's `ValidMountMode`:
/// each category at most once.
#[derive(Debug, Default, PartialEq)]
struct Mode {
    readonly: bool,
    propagation: Option<String>,
    no_copy: bool,
}

fn parse_mode(mode: &str) -> Option<Mode> {
    let mut out = Mode::default();
    if mode.is_empty() {
        return Some(out);
    }
    let (mut access, mut label, mut propagation, mut copy, mut consistency) =
        (false, false, false, false, false);
    let once = |seen: &mut bool| !std::mem::replace(seen, true);
    for part in mode.split(',') {
        let fresh = match part {
            "rw" => once(&mut access),
            "ro" => {
                out.readonly = true;
                once(&mut access)
            }
            // SELinux relabelling: meaningless without SELinux, accepted as Docker does.
            "z" | "Z" => once(&mut label),
            "nocopy" => {
                out.no_copy = true;
                once(&mut copy)
            }
            "consistent" | "cached" | "delegated" => once(&mut consistency),
            p if PROPAGATIONS.contains(&p) => {
                out.propagation = Some(p.to_owned());
                once(&mut propagation)
            }
            _ => return None,
        };
        if !fresh {
            return None;
        }
    }
    Some(out)
}

/// One `-v` entry: `/ctr`, `name:/ctr[:mode]` or `/host:/ctr[:mode]`.
pub fn parse_bind(raw: &str) -> Result<MountRequest, ApiError> {
    if raw.matches(':').count() > 2 {
        return Err(invalid_spec(raw));
    }
    let fields: Vec<&str> = raw.splitn(3, ':').collect();
    if fields[0].is_empty() {
        return Err(invalid_spec(raw));
    }
    let (source, target, mode) = match fields.as_slice() {
        [target] => ("", *target, ""),
        // `/foo:rw` names a destination and a mode: volumes cannot have a mode.
        [_, second] if parse_mode(second).is_some() && !second.starts_with('/') => {
            return Err(invalid_spec(raw))
        }
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(invalid_spec(raw)),
    };
    if target.is_empty() {
        return Err(invalid_spec(raw));
    }
    let parsed =
        parse_mode(mode).ok_or_else(|| ApiError::bad_request(format!("invalid mode: {mode}")))?;
    check_target(target)?;
    let kind = if source.starts_with('/') {
        MountKind::Bind
    } else {
        MountKind::Volume
    };
    if kind == MountKind::Volume && parsed.propagation.is_some() {
        return Err(invalid_spec(raw));
    }
    Ok(MountRequest {
        kind,
        source: if kind == MountKind::Bind {
            clean_target(source)
        } else {
            source.to_owned()
        },
        target: clean_target(target),
        readonly: parsed.readonly,
        mode: mode.to_owned(),
        propagation: parsed.propagation,
        create_source: true,
        no_copy: parsed.no_copy,
        tmpfs_options: Vec::new(),
        origin: MountOrigin::Binds,
    })
}

fn check_target(target: &str) -> Result<(), ApiError> {
    if !target.starts_with('/') {
        return Err(ApiError::bad_request(format!(
            "invalid mount config: invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    if clean_target(target) == "/" {
        return Err(ApiError::bad_request(format!(
            "invalid specification: destination can't be '/' in '{target}'"
        )));
    }
    Ok(())
}

/// One `--mount` (HostConfig.Mounts entry), checked as Docker's `validateMountConfig`.
pub fn parse_mount(mount: &Mount) -> Result<MountRequest, ApiError> {
    let kind = match mount.typ {
        Some(MountType::BIND) => MountKind::Bind,
        Some(MountType::VOLUME) => MountKind::Volume,
        Some(MountType::TMPFS) => MountKind::Tmpfs,
        other => {
            let name = other.map(|t| t.to_string()).unwrap_or_default();
            return Err(ApiError::bad_request(format!(
                "invalid mount config for type \"{name}\": mount type unknown"
            )));
        }
    };
    let type_error = |message: String| {
        ApiError::bad_request(format!(
            "invalid mount config for type \"{}\": {message}",
            kind.as_str()
        ))
    };
    let target = mount.target.clone().unwrap_or_default();
    if target.is_empty() {
        return Err(type_error("field Target must not be empty".into()));
    }
    check_target(&target)?;
    let source = mount.source.clone().unwrap_or_default();
    let mut request = MountRequest {
        kind,
        source: String::new(),
        target: clean_target(&target),
        readonly: mount.read_only.unwrap_or(false),
        mode: String::new(),
        propagation: None,
        create_source: false,
        no_copy: false,
        tmpfs_options: Vec::new(),
        origin: MountOrigin::Mounts,
    };
    if kind != MountKind::Bind && mount.bind_options.is_some() {
        return Err(type_error("field BindOptions must not be specified".into()));
    }
    if kind != MountKind::Volume && mount.volume_options.is_some() {
        return Err(type_error(
            "field VolumeOptions must not be specified".into(),
        ));
    }
    if kind != MountKind::Tmpfs && mount.tmpfs_options.is_some() {
        return Err(type_error(
            "field TmpfsOptions must not be specified".into(),
        ));
    }
    match kind {
        MountKind::Bind => {
            if source.is_empty() {
                return Err(type_error("field Source must not be empty".into()));
            }
            if !source.starts_with('/') {
                return Err(type_error(format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            request.source = clean_target(&source);
            let options = mount.bind_options.clone().unwrap_or_default();
            request.propagation = options
                .propagation
                .map(|p| p.to_string())
                .filter(|p| !p.is_empty());
            request.create_source = options.create_mountpoint.unwrap_or(false);
        }
        MountKind::Volume => {
            request.source = source;
            let options = mount.volume_options.clone().unwrap_or_default();
            request.no_copy = options.no_copy.unwrap_or(false);
            if let Some(driver) = options
                .driver_config
                .and_then(|d| d.name)
                .filter(|d| !d.is_empty() && d != berth_engine::LOCAL_DRIVER)
            {
                return Err(ApiError::not_found(format!(
                    "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
                )));
            }
        }
        MountKind::Tmpfs => {
            if !source.is_empty() {
                return Err(type_error("field Source must not be specified".into()));
            }
            let options = mount.tmpfs_options.clone().unwrap_or_default();
            if let Some(size) = options.size_bytes {
                if size < 0 {
                    return Err(type_error(format!("invalid tmpfs size: {size}")));
                }
                if size > 0 {
                    request.tmpfs_options.push(format!("size={size}"));
                }
            }
            if let Some(mode) = options.mode {
                if !(0..=0o7777).contains(&mode) {
                    return Err(type_error(format!("invalid tmpfs mode: {mode:o}")));
                }
                request.tmpfs_options.push(format!("mode={mode:o}"));
            }
        }
    }
    Ok(request)
}

/// One `--tmpfs TARGET[:OPTIONS]` (HostConfig.Tmpfs entry).
pub fn parse_tmpfs(target: &str, options: &str) -> Result<MountRequest, ApiError> {
    check_target(target)?;
    let mut tmpfs_options = Vec::new();
    let mut readonly = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", value)) => {
                let valid = value.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G', '%']);
                if valid.is_empty() || !valid.chars().all(|c| c.is_ascii_digit()) {
                    return Err(ApiError::bad_request(format!(
                        "invalid tmpfs option \"{option}\" for {target}"
                    )));
                }
            }
            Some(("mode", value)) => {
                if value.is_empty() || u32::from_str_radix(value, 8).is_err() {
                    return Err(ApiError::bad_request(format!(
                        "invalid tmpfs option \"{option}\" for {target}"
                    )));
                }
            }
            Some(("uid" | "gid" | "nr_inodes" | "nr_blocks", _)) => {}
            None if option == "ro" => readonly = true,
            None if matches!(
                option,
                "rw" | "exec" | "noexec" | "suid" | "nosuid" | "dev" | "nodev"
            ) => {}
            _ => {
                return Err(ApiError::bad_request(format!(
                    "invalid tmpfs option \"{option}\" for {target}"
                )))
            }
        }
        if option != "ro" && option != "rw" {
            tmpfs_options.push(option.to_owned());
        }
    }
    Ok(MountRequest {
        kind: MountKind::Tmpfs,
        source: String::new(),
        target: clean_target(target),
        readonly,
        mode: String::new(),
        propagation: None,
        create_source: false,
        no_copy: false,
        tmpfs_options,
        origin: MountOrigin::Tmpfs,
    })
}

/// Every mount request of a create body, in Docker's order (Binds, Mounts, Tmpfs, Volumes).
pub fn requests(
    binds: &[String],
    mounts: &[Mount],
    tmpfs: &HashMap<String, String>,
    volumes: &[String],
) -> Result<Vec<MountRequest>, ApiError> {
    let mut out = Vec::new();
    for bind in binds {
        out.push(parse_bind(bind)?);
    }
    for mount in mounts {
        out.push(parse_mount(mount)?);
    }
    let mut tmpfs: Vec<(&String, &String)> = tmpfs.iter().collect();
    tmpfs.sort();
    for (target, options) in tmpfs {
        out.push(parse_tmpfs(target, options)?);
    }
    for target in volumes {
        check_target(target)?;
        out.push(MountRequest {
            kind: MountKind::Volume,
            source: String::new(),
            target: clean_target(target),
            readonly: false,
            mode: String::new(),
            propagation: None,
            create_source: false,
            no_copy: false,
            tmpfs_options: Vec::new(),
            origin: MountOrigin::Volumes,
        });
    }
    Ok(out)
}

/// HostConfig.Mounts as given, rebuilt from the requests that came from `--mount`.
pub fn host_config_mounts(requests: &[MountRequest]) -> Value {
    let mounts: Vec<Value> = requests
        .iter()
        .filter(|r| r.origin == MountOrigin::Mounts)
        .map(|r| {
            let mut m = json!({"Type": r.kind.as_str(), "Target": r.target});
            if !r.source.is_empty() {
                m["Source"] = json!(r.source);
            }
            if r.readonly {
                m["ReadOnly"] = json!(true);
            }
            if let Some(p) = &r.propagation {
                m["BindOptions"] = json!({"Propagation": p});
            }
            if r.no_copy {
                m["VolumeOptions"] = json!({"NoCopy": true});
            }
            if r.kind == MountKind::Tmpfs && !r.tmpfs_options.is_empty() {
                let mut t = serde_json::Map::new();
                for option in &r.tmpfs_options {
                    match option.split_once('=') {
                        Some(("size", v)) => {
                            t.insert("SizeBytes".into(), json!(v.parse::<i64>().unwrap_or(0)));
                        }
                        Some(("mode", v)) => {
                            t.insert("Mode".into(), json!(i64::from_str_radix(v, 8).unwrap_or(0)));
                        }
                        _ => {}
                    }
                }
                m["TmpfsOptions"] = Value::Object(t);
            }
            m
        })
        .collect();
    if mounts.is_empty() {
        Value::Null
    } else {
        Value::Array(mounts)
    }
}

/// Inspect's `Mounts` array, in Docker's `MountPoint` shape.
pub fn mount_points(points: &[MountPoint]) -> Value {
    Value::Array(
        points
            .iter()
            .map(|p| {
                let mut m = json!({
                    "Type": p.kind.as_str(),
                    "Source": p.source,
                    "Destination": p.destination,
                    "Mode": p.mode,
                    "RW": p.rw,
                    "Propagation": p.propagation,
                });
                if p.kind == MountKind::Volume {
                    m["Name"] = json!(p.name);
                    m["Driver"] = json!(p.driver);
                }
                m
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_dockers_linux_parser() {
        let b = parse_bind("/host/dir/:/ctr:ro").unwrap();
        assert_eq!(b.kind, MountKind::Bind);
        assert_eq!(
            (b.source.as_str(), b.target.as_str()),
            ("/host/dir", "/ctr")
        );
        assert!(b.readonly && b.create_source);
        assert_eq!(b.mode, "ro");
        let v = parse_bind("data:/var/lib/data").unwrap();
        assert_eq!(v.kind, MountKind::Volume);
        assert_eq!(v.source, "data");
        assert!(!v.readonly);
        let a = parse_bind("/only/target").unwrap();
        assert_eq!((a.kind, a.source.as_str()), (MountKind::Volume, ""));
        let z = parse_bind("/h:/c:rw,z,rshared").unwrap();
        assert_eq!(z.propagation.as_deref(), Some("rshared"));
        assert!(!z.readonly);
        assert!(parse_bind("data:/d:nocopy").unwrap().no_copy);
    }

    #[test]
    fn bad_binds_get_dockers_messages() {
        for raw in [":/x", "/a:/b:ro:extra", "/foo:rw", "a:"] {
            let err = parse_bind(raw).unwrap_err();
            assert_eq!(err.status, 400, "{raw}");
            assert!(
                err.message.contains("invalid volume specification"),
                "{raw}: {}",
                err.message
            );
        }
        assert!(parse_bind("/a:relative")
            .unwrap_err()
            .message
            .contains("must be absolute"));
        assert_eq!(
            parse_bind("/a:/b:bogus").unwrap_err().message,
            "invalid mode: bogus"
        );
        assert!(parse_bind("/a:/b:ro,rw").is_err());
        assert!(parse_bind("/a:/").is_err());
        assert!(parse_bind("vol:/b:rshared").is_err());
    }

    fn mount(value: Value) -> Mount {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn mounts_are_validated_per_type() {
        let b = parse_mount(&mount(
            json!({"Type": "bind", "Source": "/h", "Target": "/c",
            "ReadOnly": true, "BindOptions": {"Propagation": "rslave"}}),
        ))
        .unwrap();
        assert!(b.readonly && !b.create_source);
        assert_eq!(b.propagation.as_deref(), Some("rslave"));
        let t = parse_mount(&mount(json!({"Type": "tmpfs", "Target": "/t",
            "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o700}})))
        .unwrap();
        assert_eq!(t.tmpfs_options, vec!["size=1048576", "mode=700"]);
        let v = parse_mount(&mount(json!({"Type": "volume", "Target": "/v",
            "VolumeOptions": {"NoCopy": true}})))
        .unwrap();
        assert!(v.no_copy && v.source.is_empty());
        for bad in [
            json!({"Type": "bind", "Target": "/c"}),
            json!({"Type": "bind", "Source": "rel", "Target": "/c"}),
            json!({"Type": "volume", "Source": "v"}),
            json!({"Type": "volume", "Source": "v", "Target": "rel"}),
            json!({"Type": "tmpfs", "Source": "x", "Target": "/t"}),
            json!({"Type": "tmpfs", "Target": "/t", "BindOptions": {}}),
        ] {
            assert_eq!(
                parse_mount(&mount(bad.clone())).unwrap_err().status,
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn tmpfs_options_are_checked() {
        let t = parse_tmpfs("/run", "size=64m,mode=1777").unwrap();
        assert_eq!(t.tmpfs_options, vec!["size=64m", "mode=1777"]);
        assert!(parse_tmpfs("/run", "ro").unwrap().readonly);
        assert!(parse_tmpfs("/run", "size=lots").is_err());
        assert!(parse_tmpfs("/run", "mode=999").is_err());
        assert!(parse_tmpfs("/run", "bogus").is_err());
        assert!(parse_tmpfs("run", "").is_err());
    }

    #[test]
    fn inspect_shapes_deserialize_into_dockers_models() {
        let points = vec![MountPoint {
            kind: MountKind::Volume,
            name: "data".into(),
            source: "/var/lib/berth/volumes/data/_data".into(),
            destination: "/data".into(),
            driver: "local".into(),
            mode: "z".into(),
            rw: true,
            propagation: String::new(),
            anonymous: false,
            copy_up: false,
            tmpfs_options: vec![],
        }];
        let parsed: Vec<berth_api::models::MountPoint> =
            serde_json::from_value(mount_points(&points)).unwrap();
        assert_eq!(parsed[0].name.as_deref(), Some("data"));
        let requests = vec![parse_mount(&mount(json!({"Type": "tmpfs", "Target": "/t",
            "TmpfsOptions": {"SizeBytes": 4096, "Mode": 0o1777}})))
        .unwrap()];
        let echoed: Vec<Mount> = serde_json::from_value(host_config_mounts(&requests)).unwrap();
        let options = echoed[0].tmpfs_options.clone().unwrap();
        assert_eq!(
            (options.size_bytes, options.mode),
            (Some(4096), Some(0o1777))
        );
    }
}
