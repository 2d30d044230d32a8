//! Loading an OCI bundle: `config.json` plus the rootfs it points at.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::{Error, Result};

/// A loaded bundle: the spec and the absolute rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory (absolute).
    pub dir: PathBuf,
    /// The parsed `config.json`.
    pub spec: Spec,
    /// `root.path` made absolute (relative paths are relative to the bundle).
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Loads `DIR/config.json` and validates what the runtime relies on (a root, a process with
    /// args, a mount namespace).
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("getcwd", ".", e))?
                .join(dir)
        };
        let config = dir.join("config.json");
        let text = std::fs::read(&config).map_err(|e| Error::io("read", &config, e))?;
        let spec: Spec = serde_json::from_slice(&text).map_err(|e| Error::Spec {
            path: config.clone(),
            message: e.to_string(),
        })?;
        Self::from_spec(dir, spec)
    }

    /// Wraps an already-parsed spec whose relative paths are relative to `dir`.
    pub fn from_spec(dir: PathBuf, spec: Spec) -> Result<Bundle> {
        let config = dir.join("config.json");
        let invalid = |message: &str| Error::Spec {
            path: config.clone(),
            message: message.to_string(),
        };
        let root = spec.root().as_ref().ok_or_else(|| invalid("no root"))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            dir.join(root.path())
        };
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| invalid("no process"))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(invalid("process.args is empty"));
        }
        if !process.cwd().is_absolute() {
            return Err(invalid("process.cwd must be absolute"));
        }
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| invalid("no linux section"))?;
        let has_mnt = linux
            .namespaces()
            .as_ref()
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount));
        if !has_mnt {
            return Err(Error::Unsupported(
                "a mount namespace is required (pivot_root needs one)".into(),
            ));
        }
        if !rootfs.is_dir() {
            return Err(invalid(&format!(
                "root.path {} is not a directory",
                rootfs.display()
            )));
        }
        Ok(Bundle { dir, spec, rootfs })
    }

    /// The cgroup path for this container: `linux.cgroupsPath`, or `/berth/<id>`.
    pub fn cgroups_path(&self, id: &str) -> String {
        self.spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("/berth/{id}"))
    }

    /// The namespace entry of type `typ`, if the spec lists one.
    pub fn namespace(&self, typ: LinuxNamespaceType) -> Option<&oci_spec::runtime::LinuxNamespace> {
        self.spec
            .linux()
            .as_ref()?
            .namespaces()
            .as_ref()?
            .iter()
            .find(|n| n.typ() == typ)
    }

    /// True when the spec asks for a *new* namespace of type `typ` (listed without a path).
    pub fn new_namespace(&self, typ: LinuxNamespaceType) -> bool {
        self.namespace(typ).is_some_and(|n| n.path().is_none())
    }
}

/// Validates a container id the way runc does: `^[\w+-\.]+$`, no `.`/`..`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid container id {id:?}"
        )))
    }
}
