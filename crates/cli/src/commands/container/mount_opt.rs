//! `--mount` values (`type=bind,source=/a,target=/b,readonly`) into the API's `Mount`, with the
//! docker CLI's keys, defaults and messages.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

use crate::format::units::ram_in_bytes;

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => bail!("invalid value for {key}: {value}"),
    }
}

/// Parses one `--mount` value; errors read like the docker CLI's flag errors.
pub fn parse_mount(value: &str) -> Result<Mount> {
    parse_fields(value)
        .map_err(|e| anyhow!("invalid argument \"{value}\" for \"--mount\" flag: {e}"))
}

fn parse_fields(value: &str) -> Result<Mount> {
    let mut mount = Mount::default();
    let mut typ = String::new();
    let mut bind = MountBindOptions::default();
    let mut has_bind = false;
    let mut volume = MountVolumeOptions::default();
    let mut has_volume = false;
    let mut tmpfs = MountTmpfsOptions::default();
    let mut has_tmpfs = false;
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut driver_opts: HashMap<String, String> = HashMap::new();
    let mut driver: Option<String> = None;
    for field in value.split(',').filter(|f| !f.is_empty()) {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim()),
            None => {
                let key = field.trim().to_ascii_lowercase();
                match key.as_str() {
                    "readonly" | "ro" => {
                        mount.read_only = Some(true);
                        continue;
                    }
                    "volume-nocopy" => {
                        volume.no_copy = Some(true);
                        has_volume = true;
                        continue;
                    }
                    _ => bail!("invalid field '{field}' must be a key=value pair"),
                }
            }
        };
        match key.as_str() {
            "type" => typ = val.to_ascii_lowercase(),
            "source" | "src" => mount.source = Some(val.to_owned()),
            "target" | "dst" | "destination" => mount.target = Some(val.to_owned()),
            "readonly" | "ro" => mount.read_only = Some(parse_bool(&key, val)?),
            "consistency" => mount.consistency = Some(val.to_owned()),
            "bind-propagation" => {
                has_bind = true;
                bind.propagation = Some(
                    val.parse::<MountBindOptionsPropagationEnum>()
                        .ok()
                        .filter(|p| *p != MountBindOptionsPropagationEnum::EMPTY)
                        .ok_or_else(|| anyhow!("invalid bind propagation: {val}"))?,
                );
            }
            "bind-nonrecursive" => {
                has_bind = true;
                bind.non_recursive = Some(parse_bool(&key, val)?);
            }
            "volume-nocopy" => {
                has_volume = true;
                volume.no_copy = Some(parse_bool(&key, val)?);
            }
            "volume-label" => {
                has_volume = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                labels.insert(k.to_owned(), v.to_owned());
            }
            "volume-driver" => {
                has_volume = true;
                driver = Some(val.to_owned());
            }
            "volume-opt" => {
                has_volume = true;
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                driver_opts.insert(k.to_owned(), v.to_owned());
            }
            "tmpfs-size" => {
                has_tmpfs = true;
                tmpfs.size_bytes = Some(ram_in_bytes(val)?);
            }
            "tmpfs-mode" => {
                has_tmpfs = true;
                let mode = u32::from_str_radix(val, 8)
                    .map_err(|_| anyhow!("invalid value for {key}: {val}"))?;
                tmpfs.mode = Some(i64::from(mode));
            }
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if typ.is_empty() {
        bail!("type is required");
    }
    if mount.target.as_deref().unwrap_or("").is_empty() {
        bail!("target is required");
    }
    let kind = typ
        .parse::<MountType>()
        .ok()
        .filter(|t| matches!(t, MountType::BIND | MountType::VOLUME | MountType::TMPFS))
        .ok_or_else(|| anyhow!("invalid mount config for type \"{typ}\": mount type unknown"))?;
    if has_bind && kind != MountType::BIND {
        bail!("cannot mix 'bind-*' options with mount type '{typ}'");
    }
    if has_volume && kind != MountType::VOLUME {
        bail!("cannot mix 'volume-*' options with mount type '{typ}'");
    }
    if has_tmpfs && kind != MountType::TMPFS {
        bail!("cannot mix 'tmpfs-*' options with mount type '{typ}'");
    }
    mount.typ = Some(kind);
    if has_bind {
        mount.bind_options = Some(bind);
    }
    if has_volume {
        if !labels.is_empty() {
            volume.labels = Some(labels);
        }
        if driver.is_some() || !driver_opts.is_empty() {
            volume.driver_config = Some(MountVolumeOptionsDriverConfig {
                name: driver,
                options: (!driver_opts.is_empty()).then_some(driver_opts),
            });
        }
        mount.volume_options = Some(volume);
    }
    if has_tmpfs {
        mount.tmpfs_options = Some(tmpfs);
    }
    Ok(mount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_docker_cli_keys() {
        let m =
            parse_mount("type=bind,source=/a,target=/b,readonly,bind-propagation=rslave").unwrap();
        assert_eq!(m.typ, Some(MountType::BIND));
        assert_eq!(m.source.as_deref(), Some("/a"));
        assert_eq!(m.target.as_deref(), Some("/b"));
        assert_eq!(m.read_only, Some(true));
        assert_eq!(
            m.bind_options.unwrap().propagation,
            Some(MountBindOptionsPropagationEnum::RSLAVE)
        );
        let t = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let options = t.tmpfs_options.unwrap();
        assert_eq!(options.size_bytes, Some(1 << 20));
        assert_eq!(options.mode, Some(0o1770));
        let v = parse_mount("type=volume,src=data,target=/d,volume-nocopy,ro=false").unwrap();
        assert_eq!(v.read_only, Some(false));
        assert_eq!(v.volume_options.unwrap().no_copy, Some(true));
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (value, wanted) in [
            ("type=nope,target=/x", "mount type unknown"),
            ("target=/x", "type is required"),
            ("type=bind,source=/a", "target is required"),
            ("type=bind,target=/x,bogus=1", "unexpected key 'bogus'"),
            ("type=bind,target=/x,junk", "must be a key=value pair"),
            (
                "type=volume,target=/x,tmpfs-size=1m",
                "cannot mix 'tmpfs-*'",
            ),
            (
                "type=tmpfs,target=/x,tmpfs-mode=9",
                "invalid value for tmpfs-mode",
            ),
        ] {
            let err = parse_mount(value).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "invalid argument \"{value}\" for \"--mount\" flag"
                )),
                "{err}"
            );
            assert!(err.contains(wanted), "{value}: {err}");
        }
    }
}
