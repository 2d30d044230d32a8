//! `create`: set the container up and park its init right before exec.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::{now_rfc3339, Container, ContainerRecord, EXEC_FIFO};
use crate::bundle::Bundle;
use crate::launch::{launch, LaunchOptions, Launched, Stdio};
use crate::{Error, Result};

/// Options of [`create`].
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// Write the init's pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the pty master here (required when the spec asks for a terminal).
    pub console_socket: Option<PathBuf>,
    /// The process's stdio (`None` entries inherit the caller's).
    pub stdio: Stdio,
}

/// Removes a half-made state directory unless disarmed.
pub(crate) struct DirGuard(pub Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Validates the id, loads the bundle and claims `ROOT/<id>` (fails if it exists).
pub(crate) fn prepare(root: &Path, id: &str, bundle_dir: &Path) -> Result<(DirGuard, Bundle)> {
    crate::bundle::validate_id(id)?;
    let bundle = Bundle::load(bundle_dir)?;
    std::fs::create_dir_all(root).map_err(|e| Error::io("mkdir", root, e))?;
    let dir = root.join(id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::AlreadyExists { id: id.into() })
        }
        Err(e) => return Err(Error::io("mkdir", &dir, e)),
    }
    Ok((DirGuard(Some(dir)), bundle))
}

/// Records a launched container and writes the pid file.
pub(crate) fn record(
    root: &Path,
    id: &str,
    bundle: &Bundle,
    launched: &Launched,
    pid_file: Option<&Path>,
) -> Result<Container> {
    let c = Container {
        root: root.to_path_buf(),
        record: ContainerRecord {
            id: id.into(),
            pid: launched.pid,
            init_start_time: crate::sys::proc_start_time(launched.pid),
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            cgroups_path: launched.cgroup.cgroups_path().to_string(),
            created: now_rfc3339(),
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
        },
    };
    c.save()?;
    if let Some(p) = pid_file {
        crate::sys::write_atomic(p, launched.pid.to_string().as_bytes(), false)?;
    }
    Ok(c)
}

/// OCI `create`: everything up to exec is done and the init waits for [`super::start`].
/// On failure nothing is left (no process, cgroup or state directory).
pub fn create(root: &Path, id: &str, bundle_dir: &Path, opts: CreateOptions) -> Result<Container> {
    let (mut guard, bundle) = prepare(root, id, bundle_dir)?;
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    if terminal && opts.console_socket.is_none() {
        return Err(Error::InvalidArgument(
            "the spec asks for a terminal: --console-socket is required".into(),
        ));
    }
    let dir = root.join(id);
    let fifo = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| Error::sys(format!("mkfifo {}", fifo.display()), e))?;
    let launched = launch(LaunchOptions {
        id,
        bundle: &bundle,
        stdio: opts.stdio,
        exec_fifo: Some(&fifo),
    })?;
    let finish = || -> Result<Container> {
        if let (Some(sock), Some(master)) = (&opts.console_socket, &launched.pty_master) {
            crate::tty::send_console(sock, master.as_fd())?;
        }
        record(root, id, &bundle, &launched, opts.pid_file.as_deref())
    };
    match finish() {
        Ok(c) => {
            guard.0 = None;
            Ok(c)
        }
        Err(e) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(launched.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(launched.pid), None);
            let _ = launched.cgroup.destroy();
            Err(e)
        }
    }
}
