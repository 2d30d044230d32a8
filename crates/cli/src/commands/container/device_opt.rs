//! `--device HOST[:CONTAINER][:PERMISSIONS]`, parsed as the docker CLI does (the daemon checks
//! the paths and permissions).

use anyhow::{bail, Result};
use bollard::models::DeviceMapping;

/// Whether `mode` is a cgroup permission string (`r`, `rw`, `rwm`, ...).
fn is_mode(mode: &str) -> bool {
    !mode.is_empty()
        && mode.len() <= 3
        && mode.chars().all(|c| "rwm".contains(c))
        && mode
            .chars()
            .enumerate()
            .all(|(i, c)| !mode[..i].contains(c))
}

/// Parses one `--device`: `/dev/x`, `/dev/x:/dev/y`, `/dev/x:rw` or `/dev/x:/dev/y:rw`.
pub fn parse_device(spec: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, permissions) = match parts.as_slice() {
        [host] => (*host, "", "rwm"),
        [host, second] if is_mode(second) => (*host, "", *second),
        [host, container] => (*host, *container, "rwm"),
        [host, container, permissions] => (*host, *container, *permissions),
        _ => bail!("invalid device specification: {spec}"),
    };
    if !is_mode(permissions) {
        bail!("bad mode specified: {permissions}");
    }
    let container = if container.is_empty() {
        host
    } else {
        container
    };
    for path in [host, container] {
        if !path.starts_with('/') {
            bail!("{path} is not an absolute path");
        }
    }
    Ok(DeviceMapping {
        path_on_host: Some(host.to_owned()),
        path_in_container: Some(container.to_owned()),
        cgroup_permissions: Some(permissions.to_owned()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parsed(spec: &str) -> (String, String, String) {
        let d = parse_device(spec).unwrap();
        (
            d.path_on_host.unwrap(),
            d.path_in_container.unwrap(),
            d.cgroup_permissions.unwrap(),
        )
    }

    #[test]
    fn docker_device_forms() {
        let t = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(parsed("/dev/null"), t("/dev/null", "/dev/null", "rwm"));
        assert_eq!(parsed("/dev/null:r"), t("/dev/null", "/dev/null", "r"));
        assert_eq!(parsed("/dev/null:/dev/n"), t("/dev/null", "/dev/n", "rwm"));
        assert_eq!(
            parsed("/dev/null:/dev/n:rw"),
            t("/dev/null", "/dev/n", "rw")
        );
        let err = |s: &str| parse_device(s).unwrap_err().to_string();
        assert_eq!(err("/dev/null:/dev/n:rx"), "bad mode specified: rx");
        assert_eq!(err("/dev/null:/dev/n:rwmm"), "bad mode specified: rwmm");
        assert_eq!(err("/dev/null:/dev/a:/b"), "bad mode specified: /b");
        assert_eq!(err("relative"), "relative is not an absolute path");
        assert_eq!(err("/dev/null:mynull"), "mynull is not an absolute path");
        assert_eq!(err("/a:/b:r:x"), "invalid device specification: /a:/b:r:x");
    }
}
