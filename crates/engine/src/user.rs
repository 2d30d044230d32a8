//! Resolving `--user` (`name`, `uid`, `name:group`, `uid:gid`) against the container's own
//! /etc/passwd and /etc/group, as Docker does before starting the process.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The numeric identity the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: every group in /etc/group listing the user by name.
    pub additional_gids: Vec<u32>,
    /// The user's home directory, for a default `HOME`.
    pub home: String,
}

/// Resolves `user` (empty = root) inside `rootfs`. Unknown names are errors with Docker's
/// wording; numeric IDs need no entry in the files.
pub fn resolve(rootfs: &Path, user: &str) -> Result<ResolvedUser> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = read_in_root(rootfs, "etc/passwd");
    let groups = read_in_root(rootfs, "etc/group");

    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| {
            f.len() >= 4
                && (f[0] == user_part || (user_part.parse::<u32>().is_ok() && f[2] == user_part))
        });
    let (uid, mut gid, name, home) = match (&entry, user_part.parse::<u32>()) {
        (Some(f), _) => (
            parse_id(f[2], user)?,
            parse_id(f[3], user)?,
            f[0].to_owned(),
            f.get(5).copied().unwrap_or("/").to_owned(),
        ),
        (None, Ok(uid)) => (uid, 0, String::new(), "/".to_owned()),
        (None, Err(_)) => {
            return Err(Error::invalid(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };

    if let Some(group) = group_part {
        gid = match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => groups
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == group)
                .map(|f| parse_id(f[2], user))
                .transpose()?
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "unable to find group {group}: no matching entries in group file"
                    ))
                })?,
        };
    }

    // Like runc: the primary group first, then every group listing the user as a member.
    let mut additional_gids = vec![gid];
    if !name.is_empty() {
        for fields in groups.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            if fields.len() >= 4 && fields[3].split(',').any(|m| m == name) {
                if let Ok(member_gid) = fields[2].parse::<u32>() {
                    if !additional_gids.contains(&member_gid) {
                        additional_gids.push(member_gid);
                    }
                }
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// Resolves `--group-add` entries inside `rootfs`: group names through the container's
/// /etc/group, numbers as they are (they need no entry). Unknown names are errors with Docker's
/// wording.
pub fn resolve_groups(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let file = read_in_root(rootfs, "etc/group");
    let entries: Vec<Vec<&str>> = file
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    let mut gids = Vec::new();
    for group in groups {
        let by_name = entries
            .iter()
            .find(|f| f[0] == group)
            .and_then(|f| f[2].parse::<u32>().ok());
        let gid = by_name
            .or_else(|| group.parse::<u32>().ok())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "Unable to find group {group}: no matching entries in group file"
                ))
            })?;
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
    Ok(gids)
}

fn parse_id(field: &str, user: &str) -> Result<u32> {
    field.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid id {field:?} in passwd/group entry for user {user}"
        ))
    })
}

/// Reads a file of the container's filesystem, resolving symlinks inside `root` so that a
/// malicious image cannot make the daemon read a host file. Missing files read as empty.
fn read_in_root(root: &Path, relative: &str) -> String {
    resolve_in_root(root, Path::new(relative))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// Resolves `path` as the container would see it with `root` as `/`: every symlink, absolute
/// or relative, is interpreted inside `root`, and `..` never climbs above it. Returns the host
/// path, or `None` when a component is missing or the symlink chain is too long.
pub fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<PathBuf> = vec![path.to_path_buf()];
    let mut links_followed = 0;
    while let Some(next) = pending.pop() {
        let mut components = next.components().peekable();
        let mut rest = Vec::new();
        while let Some(c) = components.next() {
            match c {
                Component::RootDir | Component::Prefix(_) => resolved.clear(),
                Component::CurDir => {}
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => {
                    let candidate = resolved.join(name);
                    let host = root.join(&candidate);
                    match std::fs::symlink_metadata(&host) {
                        Ok(meta) if meta.file_type().is_symlink() => {
                            links_followed += 1;
                            if links_followed > 40 {
                                return None;
                            }
                            let target = std::fs::read_link(&host).ok()?;
                            rest.extend(components.by_ref().map(|c| c.as_os_str().to_owned()));
                            let mut remaining = PathBuf::new();
                            for r in &rest {
                                remaining.push(r);
                            }
                            pending.push(remaining);
                            pending.push(target);
                            break;
                        }
                        Ok(_) => resolved = candidate,
                        Err(_) => return None,
                    }
                }
            }
        }
    }
    Some(root.join(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1000:1000::/home/web:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\naudio:x:29:web\nvideo:x:44:web,nobody\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn resolves_names_ids_and_groups() {
        let root = rootfs();
        let web = resolve(root.path(), "web").unwrap();
        assert_eq!((web.uid, web.gid), (1000, 1000));
        assert_eq!(web.additional_gids, vec![1000, 29, 44]);
        assert_eq!(web.home, "/home/web");
        let root_user = resolve(root.path(), "").unwrap();
        assert_eq!((root_user.uid, root_user.gid), (0, 0));
        let numeric = resolve(root.path(), "4242:4343").unwrap();
        assert_eq!((numeric.uid, numeric.gid), (4242, 4343));
        let named_group = resolve(root.path(), "nobody:web").unwrap();
        assert_eq!((named_group.uid, named_group.gid), (65534, 1000));
        assert_eq!(resolve(root.path(), "1000").unwrap().home, "/home/web");
    }

    #[test]
    fn added_groups_resolve_by_name_or_number() {
        let root = rootfs();
        let groups = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            resolve_groups(root.path(), &names)
        };
        assert_eq!(
            groups(&["audio", "1234", "video", "29"]).unwrap(),
            vec![29, 1234, 44]
        );
        assert_eq!(groups(&[]).unwrap(), Vec::<u32>::new());
        let err = groups(&["ghosts"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Unable to find group ghosts: no matching entries in group file"
        );
        assert!(groups(&["-1"]).is_err());
    }

    #[test]
    fn unknown_names_are_clear_errors() {
        let root = rootfs();
        let err = resolve(root.path(), "ghost").unwrap_err().to_string();
        assert!(err.contains("unable to find user ghost"), "{err}");
        let err = resolve(root.path(), "web:ghosts").unwrap_err().to_string();
        assert!(err.contains("unable to find group ghosts"), "{err}");
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let root = rootfs();
        let etc = root.path().join("etc");
        std::fs::remove_file(etc.join("passwd")).unwrap();
        // An absolute link must resolve inside the root, never to the host's /etc/passwd.
        std::os::unix::fs::symlink("/etc/../../../../etc/shadow-not-here", etc.join("passwd"))
            .unwrap();
        assert!(resolve_in_root(root.path(), Path::new("etc/passwd")).is_none());
        std::fs::write(etc.join("real"), "x").unwrap();
        std::fs::remove_file(etc.join("passwd")).unwrap();
        std::os::unix::fs::symlink("/../../etc/real", etc.join("passwd")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), Path::new("etc/passwd")).unwrap(),
            etc.join("real")
        );
    }
}
