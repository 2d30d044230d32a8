//! `exec`: run an additional process inside a created or running container.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use super::run::{block_forwarded, wait_forwarding};
use super::{Container, Status};
use crate::bundle::Bundle;
use crate::launch::{self, Stdio};
use crate::{Error, Result};

/// Where the container to exec into is found.
#[derive(Debug, Clone)]
pub enum ExecTarget {
    /// A container under the state root (`berth-runtime create/run`).
    Id(String),
    /// A container this runtime did not record (e.g. one started by `berth-shim`): its init pid
    /// and its bundle (for the cgroup path and the seccomp profile).
    Pid { init_pid: i32, bundle: PathBuf },
}

/// Options of [`exec`].
#[derive(Debug, Default)]
pub struct ExecOptions {
    /// Send the pty master here (when the process asks for a terminal).
    pub console_socket: Option<PathBuf>,
    /// Return once the process started instead of waiting for it.
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
}

/// Runs `process` in the target container with the caller's stdio. Foreground: forwards signals
/// and returns the process's exit code; detached: returns 0 once it exec'd.
/// Must be called from a single-threaded process.
pub fn exec(root: &Path, target: &ExecTarget, process: &Process, opts: ExecOptions) -> Result<i32> {
    let (init_pid, bundle_dir, cgroups_path) = match target {
        ExecTarget::Id(id) => {
            let c = Container::load(root, id)?;
            c.require("exec", &[Status::Created, Status::Running])?;
            (
                c.record.pid,
                c.record.bundle.clone(),
                Some(c.record.cgroups_path.clone()),
            )
        }
        ExecTarget::Pid { init_pid, bundle } => (*init_pid, bundle.clone(), None),
    };
    let bundle = Bundle::load(&bundle_dir)?;
    let cgroups_path = cgroups_path.unwrap_or_else(|| bundle.cgroups_path("exec"));
    let terminal = process.terminal() == Some(true);
    if terminal && opts.console_socket.is_none() {
        return Err(Error::InvalidArgument(
            "a terminal needs --console-socket".into(),
        ));
    }
    let set = if opts.detach {
        nix::sys::signal::SigSet::empty()
    } else {
        block_forwarded()?
    };
    let execed = launch::exec(launch::ExecOptions {
        init_pid,
        cgroups_path: Some(&cgroups_path),
        process,
        seccomp: bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref()),
        stdio: Stdio::default(),
    })?;
    if let (Some(sock), Some(master)) = (&opts.console_socket, &execed.pty_master) {
        crate::tty::send_console(sock, master.as_fd())?;
    }
    drop(execed.pty_master);
    if let Some(p) = &opts.pid_file {
        crate::sys::write_atomic(p, execed.pid.to_string().as_bytes(), false)?;
    }
    if opts.detach {
        return Ok(0);
    }
    wait_forwarding(execed.pid, &set)
}
