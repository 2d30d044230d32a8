//! Berth's OCI runtime library (the part Docker calls runC).
//!
//! Turns an OCI bundle (`config.json` + rootfs) into a running process: new or joined namespaces,
//! cgroups, mounts, `pivot_root`, devices, capabilities, seccomp, rlimits and a console.
//!
//! Entry points:
//! * [`launch::launch`]: one call from a single-threaded process (the shim, the CLI) that creates the
//!   container process and either returns once it has exec'd, or once it is blocked before exec
//!   (OCI `create` semantics, unblocked by [`container::start`]).
//! * [`launch::exec`]: run another process inside a running container (`docker exec`).
//! * [`container`]: the OCI lifecycle verbs over a state directory (`create`, `start`, `state`,
//!   `kill`, `delete`, `run`, `exec`, `pause`, `resume`), as used by the `berth-runtime` CLI.
//! * [`shim`]: the `berth-shim` supervisor (see docs/contracts.md).
//!
//! Fork/clone and setns happen only in single-threaded processes; never call [`launch::launch`]
//! from a multi-threaded (tokio) process.

pub mod archive;
pub mod bundle;
pub mod cgroups;
pub mod container;
pub mod defaults;
mod error;
mod init;
pub mod launch;
/// Mount option parsing (`ro,nosuid,size=64m` -> flags and data), shared with the engine.
pub mod mount_options {
    pub use crate::init::mounts::{parse_options, MountOpts};
}
pub mod seccomp;
mod seccomp_glue;
pub mod shim;
pub mod signal;
pub mod socket_path;
mod sync;
mod sys;
pub mod tty;

pub use error::{Error, ExecErrorKind, Result};
