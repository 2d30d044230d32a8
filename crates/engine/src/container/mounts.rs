//! A new container's mounts: `--volumes-from`, then `-v`/`--mount`/`--tmpfs`, then anonymous
//! volumes (`-v /path`, the image's VOLUME list) for targets still free — Docker's order and
//! precedence — resolved into [`MountPoint`]s with volumes created on first use.

use std::collections::BTreeMap;
use std::path::Path;

use crate::container::model::{
    Container, ContainerSpec, MountKind, MountOrigin, MountPoint, MountRequest,
};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::volume::{self, VolumeCreate, ANONYMOUS_LABEL, LOCAL_DRIVER};

/// Docker's default propagation for bind mounts and volumes.
const DEFAULT_PROPAGATION: &str = "rprivate";

/// The mounts of a container being created, and the volumes made for it (to undo on failure).
pub(crate) struct ResolvedMounts {
    pub points: Vec<MountPoint>,
    pub created_volumes: Vec<String>,
}

impl Engine {
    /// Validates every mount request of `spec` (plus the image's `image_volumes`), then creates
    /// what they need: named volumes on first use, anonymous volumes, missing `-v` bind
    /// sources. On failure, volumes created here are removed again. The caller holds
    /// `volume_lock` until the container is recorded.
    pub(crate) fn resolve_mounts(
        &self,
        spec: &ContainerSpec,
        image_volumes: &[String],
    ) -> Result<ResolvedMounts> {
        let host = &spec.host;
        // Validate first.
        let mut inherited: Vec<MountPoint> = Vec::new();
        for entry in &host.volumes_from {
            inherited.extend(self.volumes_from(entry)?);
        }
        let mut explicit: BTreeMap<&str, &MountRequest> = BTreeMap::new();
        for request in &host.mounts {
            validate_target(&request.target)?;
            if request.origin == MountOrigin::Volumes {
                continue;
            }
            if explicit.insert(request.target.as_str(), request).is_some() {
                return Err(Error::invalid(format!(
                    "Duplicate mount point: {}",
                    request.target
                )));
            }
            match request.kind {
                MountKind::Bind => {
                    if !Path::new(&request.source).is_absolute() {
                        return Err(Error::invalid(format!(
                            "invalid mount config for type \"bind\": invalid mount path: '{}' mount path must be absolute",
                            request.source
                        )));
                    }
                    if !request.create_source && !Path::new(&request.source).exists() {
                        return Err(Error::invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {}",
                            request.source
                        )));
                    }
                }
                MountKind::Volume if !request.source.is_empty() => {
                    volume::validate_name(&request.source)?;
                }
                MountKind::Volume | MountKind::Tmpfs => {}
            }
        }

        // Then act, undoing created volumes if a later step fails.
        let mut resolved = ResolvedMounts {
            points: Vec::new(),
            created_volumes: Vec::new(),
        };
        let result = self.make_mount_points(spec, image_volumes, inherited, &mut resolved);
        if let Err(e) = result {
            self.undo_volumes(&resolved.created_volumes);
            return Err(e);
        }
        sort_by_depth(&mut resolved.points);
        Ok(resolved)
    }

    fn make_mount_points(
        &self,
        spec: &ContainerSpec,
        image_volumes: &[String],
        inherited: Vec<MountPoint>,
        out: &mut ResolvedMounts,
    ) -> Result<()> {
        let host = &spec.host;
        let explicit_targets: Vec<&str> = host
            .mounts
            .iter()
            .filter(|r| r.origin != MountOrigin::Volumes)
            .map(|r| r.target.as_str())
            .collect();
        // Explicit mounts override inherited ones at the same target.
        out.points.extend(
            inherited
                .into_iter()
                .filter(|m| !explicit_targets.contains(&m.destination.as_str())),
        );
        for request in host
            .mounts
            .iter()
            .filter(|r| r.origin != MountOrigin::Volumes)
        {
            let point = match request.kind {
                MountKind::Bind => {
                    if request.create_source && !Path::new(&request.source).exists() {
                        // `-v /host:/ctr` creates a missing host directory, as Docker does.
                        std::fs::create_dir_all(&request.source)
                            .map_err(|e| Error::io("create", &request.source, e))?;
                    }
                    bind_point(request)
                }
                MountKind::Volume => self.volume_point(request, out)?,
                MountKind::Tmpfs => MountPoint {
                    kind: MountKind::Tmpfs,
                    name: String::new(),
                    source: String::new(),
                    destination: request.target.clone(),
                    driver: String::new(),
                    mode: request.mode.clone(),
                    rw: !request.readonly,
                    propagation: String::new(),
                    anonymous: false,
                    copy_up: false,
                    tmpfs_options: request.tmpfs_options.clone(),
                },
            };
            out.points.push(point);
        }
        // Anonymous volumes for `-v /path` and the image's VOLUMEs whose target is still free.
        let anonymous_targets: Vec<String> = host
            .mounts
            .iter()
            .filter(|r| r.origin == MountOrigin::Volumes)
            .map(|r| r.target.clone())
            .chain(image_volumes.iter().map(|v| clean_target(v)))
            .collect();
        for target in anonymous_targets {
            if out.points.iter().any(|p| p.destination == target) {
                continue;
            }
            let request = MountRequest {
                kind: MountKind::Volume,
                source: String::new(),
                target,
                readonly: false,
                mode: String::new(),
                propagation: None,
                create_source: false,
                no_copy: false,
                tmpfs_options: Vec::new(),
                origin: MountOrigin::Volumes,
            };
            let point = self.volume_point(&request, out)?;
            out.points.push(point);
        }
        Ok(())
    }

    /// A volume mount point; creates the volume (anonymous when unnamed) if it does not exist.
    fn volume_point(&self, request: &MountRequest, out: &mut ResolvedMounts) -> Result<MountPoint> {
        let anonymous = request.source.is_empty();
        let existing = if anonymous {
            None
        } else {
            self.volumes.get(&request.source)?
        };
        let volume = match existing {
            Some(v) => v,
            None => {
                let labels = if anonymous {
                    BTreeMap::from([(ANONYMOUS_LABEL.to_owned(), String::new())])
                } else {
                    BTreeMap::new()
                };
                let v = self.volume_create_locked(VolumeCreate {
                    name: (!anonymous).then(|| request.source.clone()),
                    driver: LOCAL_DRIVER.to_owned(),
                    driver_opts: BTreeMap::new(),
                    labels,
                })?;
                out.created_volumes.push(v.name.clone());
                v
            }
        };
        Ok(MountPoint {
            kind: MountKind::Volume,
            name: volume.name.clone(),
            source: self.volume_mountpoint(&volume.name).display().to_string(),
            destination: request.target.clone(),
            driver: volume.driver,
            mode: request.mode.clone(),
            rw: !request.readonly,
            propagation: String::new(),
            anonymous,
            copy_up: !request.no_copy,
            tmpfs_options: Vec::new(),
        })
    }

    /// The mount points `--volumes-from CONTAINER[:ro|rw]` inherits: the other container's
    /// volumes and binds (not its tmpfs mounts), read-only when it or `:ro` says so.
    fn volumes_from(&self, entry: &str) -> Result<Vec<MountPoint>> {
        let (reference, mode) = match entry.rsplit_once(':') {
            Some((r, m)) => (r, m),
            None => (entry, ""),
        };
        if !matches!(mode, "" | "ro" | "rw") {
            return Err(Error::invalid(format!("invalid mode: {mode}")));
        }
        if reference.is_empty() {
            return Err(Error::invalid(format!(
                "invalid volumes-from specification: '{entry}'"
            )));
        }
        let other: Container = self.lookup(reference)?.snapshot();
        Ok(other
            .mount_points
            .into_iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .map(|m| MountPoint {
                rw: m.rw && mode != "ro",
                mode: if mode.is_empty() {
                    m.mode
                } else {
                    mode.to_owned()
                },
                anonymous: false,
                copy_up: false,
                ..m
            })
            .collect())
    }

    /// Removes volumes made by a create that then failed. Best effort.
    pub(crate) fn undo_volumes(&self, names: &[String]) {
        for name in names {
            let dir = self.volume_mountpoint(name);
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir_all(parent);
            }
            if let Err(e) = self.volumes.delete(name) {
                tracing::error!(volume = %name, error = %e, "undoing volume of a failed create");
            }
        }
    }
}

fn bind_point(request: &MountRequest) -> MountPoint {
    MountPoint {
        kind: MountKind::Bind,
        name: String::new(),
        source: request.source.clone(),
        destination: request.target.clone(),
        driver: String::new(),
        mode: request.mode.clone(),
        rw: !request.readonly,
        propagation: request
            .propagation
            .clone()
            .unwrap_or_else(|| DEFAULT_PROPAGATION.to_owned()),
        anonymous: false,
        copy_up: false,
        tmpfs_options: Vec::new(),
    }
}

/// Mount targets must be absolute, and not the root itself.
fn validate_target(target: &str) -> Result<()> {
    if !target.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid mount config: invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    if clean_target(target) == "/" {
        return Err(Error::invalid(format!(
            "invalid specification: destination can't be '/' in '{target}'"
        )));
    }
    Ok(())
}

/// A container path with `.`, `..`, repeated and trailing slashes removed (Go's path.Clean
/// for absolute paths).
pub fn clean_target(target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Parents before children, so that `/a` does not hide a mount at `/a/b`; stable otherwise.
fn sort_by_depth(points: &mut [MountPoint]) {
    points.sort_by_key(|p| p.destination.matches('/').count());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_cleaned_and_checked() {
        assert_eq!(clean_target("/data/"), "/data");
        assert_eq!(clean_target("/a/./b/../c//"), "/a/c");
        assert_eq!(clean_target("/../.."), "/");
        assert!(validate_target("relative").is_err());
        assert!(validate_target("/").is_err());
        assert!(validate_target("/x/..").is_err());
        assert!(validate_target("/x").is_ok());
    }

    #[test]
    fn parents_mount_first() {
        let point = |d: &str| MountPoint {
            kind: MountKind::Tmpfs,
            name: String::new(),
            source: String::new(),
            destination: d.into(),
            driver: String::new(),
            mode: String::new(),
            rw: true,
            propagation: String::new(),
            anonymous: false,
            copy_up: false,
            tmpfs_options: vec![],
        };
        let mut points = vec![point("/a/b/c"), point("/a"), point("/z/y"), point("/b")];
        sort_by_depth(&mut points);
        let order: Vec<&str> = points.iter().map(|p| p.destination.as_str()).collect();
        assert_eq!(order, vec!["/a", "/b", "/z/y", "/a/b/c"]);
    }
}
