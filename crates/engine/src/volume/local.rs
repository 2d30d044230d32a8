//! The `local` driver's options (`type`, `device`, `o`), as Docker's: with them, the volume's
//! data directory is a mount of `device` (a tmpfs, or a host path with `o=bind`) made when a
//! container starts and undone when no container references the volume any more.

use std::collections::BTreeMap;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

/// Options the local driver understands.
const VALID: &[&str] = &["type", "device", "o"];

/// Checks options as Docker's local driver does: known keys only, and `type`, `device` and
/// `o` need each other (`o` needs `device`). Returns a message without the volume's name.
pub(crate) fn validate_options(options: &BTreeMap<String, String>) -> Result<(), String> {
    for key in options.keys() {
        if !VALID.contains(&key.as_str()) {
            return Err(format!("invalid option: \"{key}\""));
        }
    }
    let has = |k: &str| options.get(k).is_some_and(|v| !v.is_empty());
    for (option, needs) in [("device", "type"), ("type", "device"), ("o", "device")] {
        if options.contains_key(option) && !has(needs) {
            return Err(format!("missing required option: \"{needs}\""));
        }
    }
    Ok(())
}

/// Splits `o` into mount flags and filesystem data, like Docker's `mount.ParseOptions`, with
/// the runtime's parser (bind/rbind become the matching flags).
fn parse_o(o: &str) -> (MsFlags, String) {
    let options: Vec<String> = o
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let parsed = berth_runtime::mount_options::parse_options(&options);
    let mut flags = parsed.flags;
    if parsed.bind {
        flags |= MsFlags::MS_BIND;
    }
    if parsed.recursive {
        flags |= MsFlags::MS_REC;
    }
    (flags, parsed.data)
}

/// Mounts `device` on `data_dir` per `options`, unless the options are empty or it is mounted
/// already.
pub(crate) fn mount(options: &BTreeMap<String, String>, data_dir: &Path) -> Result<(), String> {
    let (Some(typ), Some(device)) = (options.get("type"), options.get("device")) else {
        return Ok(());
    };
    if is_mountpoint(data_dir) {
        return Ok(());
    }
    let (flags, data) = parse_o(options.get("o").map(String::as_str).unwrap_or(""));
    let fstype = (!flags.contains(MsFlags::MS_BIND)).then_some(typ.as_str());
    let data = (!data.is_empty()).then_some(data.as_str());
    nix::mount::mount(Some(device.as_str()), data_dir, fstype, flags, data)
        .map_err(|e| format!("mount {device} on {}: {e}", data_dir.display()))?;
    // Why: MS_BIND ignores the other flags; `o=bind,ro` needs a remount to become read-only.
    let extra = flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    if flags.contains(MsFlags::MS_BIND) && !extra.is_empty() {
        let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
        if let Err(e) =
            nix::mount::mount(None::<&str>, data_dir, None::<&str>, remount, None::<&str>)
        {
            let _ = nix::mount::umount2(data_dir, MntFlags::MNT_DETACH);
            return Err(format!("remount {}: {e}", data_dir.display()));
        }
    }
    Ok(())
}

/// Unmounts the volume's data directory if something is mounted there.
pub(crate) fn unmount(data_dir: &Path) -> crate::error::Result<()> {
    if !is_mountpoint(data_dir) {
        return Ok(());
    }
    berth_image::mount::unmount(data_dir).map_err(crate::error::Error::from)
}

fn is_mountpoint(path: &Path) -> bool {
    crate::container::start::is_mountpoint(path)
}

/// Bytes used by the regular files under `dir` (not following symlinks).
pub(crate) fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_like_dockers_local_driver() {
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_options(&opts(&[])).is_ok());
        assert!(validate_options(&opts(&[("type", "tmpfs"), ("device", "tmpfs")])).is_ok());
        assert_eq!(
            validate_options(&opts(&[("type", "tmpfs")])).unwrap_err(),
            "missing required option: \"device\""
        );
        assert_eq!(
            validate_options(&opts(&[("o", "size=1m"), ("device", "tmpfs")])).unwrap_err(),
            "missing required option: \"type\""
        );
        assert_eq!(
            validate_options(&opts(&[("size", "1m")])).unwrap_err(),
            "invalid option: \"size\""
        );
    }

    #[test]
    fn o_splits_into_flags_and_data() {
        let (flags, data) = parse_o("bind,ro,size=10m,uid=1000");
        assert!(flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY));
        assert_eq!(data, "size=10m,uid=1000");
    }
}
