//! `docker cp`: stat, read and write paths of a container, running or stopped, through the
//! confined `berth-runtime archive` helper (docs/contracts.md). berthd never resolves a path
//! of the container itself: the helper does, chrooted in a private mount namespace holding
//! the container's rootfs, volumes and binds (CVE-2018-15664; see berth_runtime::archive).
//!
//! While an archive operation runs it holds the container's lifecycle lock (as Docker holds
//! the container lock), so a stopped container's rootfs, mounted for the copy, cannot be
//! started or removed underneath it; it is unmounted again when the operation ends.

use std::path::Path;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use berth_runtime::archive::PathStat;
use berth_runtime::archive::{ArchiveMount, Confinement};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::oneshot;

use crate::container::model::{Container, MountKind, Status};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::user;

/// `PUT /containers/{id}/archive` options.
#[derive(Debug, Clone, Default)]
pub struct ArchivePut {
    /// The directory (inside the container) to extract into.
    pub path: String,
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Give extracted entries the container user's uid/gid (when the container has a user).
    pub copy_uid_gid: bool,
}

/// Holds the container's lifecycle lock (and its rootfs mounted) until dropped.
struct Lease {
    confinement: Confinement,
    /// The rootfs, for resolving the container's user (`copyUIDGID`).
    rootfs: std::path::PathBuf,
    user: String,
    _release: oneshot::Sender<()>,
}

/// A tar stream of a container path (`GET /containers/{id}/archive`). Dropping it before the
/// end stops the helper and releases the container.
pub struct ArchiveReader {
    stdout: BufReader<ChildStdout>,
    child: Child,
    reference: String,
    path: String,
    _lease: Lease,
}

impl ArchiveReader {
    /// After the stream's end: whether the helper wrote the whole archive. A path that changed
    /// under the helper can fail it half-way; the caller must then fail the response rather
    /// than end it as if the (truncated) archive were complete.
    pub async fn finish(&mut self) -> Result<()> {
        helper_result(&mut self.child, &self.reference, &self.path).await
    }
}

impl AsyncRead for ArchiveReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

/// An extraction in progress (`PUT /containers/{id}/archive`): write the tar into
/// [`ArchiveWriter::stdin`], then call [`ArchiveWriter::finish`].
pub struct ArchiveWriter {
    pub stdin: Option<ChildStdin>,
    child: Child,
    reference: String,
    path: String,
    engine: Arc<Engine>,
    container: Container,
    _lease: Lease,
}

impl ArchiveWriter {
    /// Closes the tar stream, waits for the helper and reports its verdict.
    pub async fn finish(mut self) -> Result<()> {
        drop(self.stdin.take());
        helper_result(&mut self.child, &self.reference, &self.path).await?;
        self.engine
            .emit_container(&self.container, "extract-to-dir", &[]);
        Ok(())
    }
}

impl Engine {
    /// `HEAD /containers/{id}/archive`: the stat of `path` inside the container.
    pub async fn archive_stat(self: &Arc<Self>, reference: &str, path: &str) -> Result<PathStat> {
        let lease = self.lease(reference).await?;
        let mut child = self.helper(&lease, &["stat", path], false)?;
        let mut out = String::new();
        if let Some(stdout) = child.stdout.as_mut() {
            stdout
                .read_to_string(&mut out)
                .await
                .map_err(|e| Error::io("read", "archive helper", e))?;
        }
        helper_result(&mut child, reference, path).await?;
        parse_stat(&out)
    }

    /// `GET /containers/{id}/archive`: the stat of `path` and a tar stream of it.
    pub async fn archive_get(
        self: &Arc<Self>,
        reference: &str,
        path: &str,
    ) -> Result<(PathStat, ArchiveReader)> {
        let container = self.lookup(reference)?.snapshot();
        let lease = self.lease(reference).await?;
        let mut child = self.helper(&lease, &["get", path], false)?;
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::internal("archive helper has no stdout"));
        };
        let mut stdout = BufReader::with_capacity(256 * 1024, stdout);
        let mut line = String::new();
        let read = stdout
            .read_line(&mut line)
            .await
            .map_err(|e| Error::io("read", "archive helper", e))?;
        if read == 0 {
            // The helper failed before writing anything: its stderr says why.
            helper_result(&mut child, reference, path).await?;
            return Err(Error::internal("archive helper ended without output"));
        }
        let stat = parse_stat(&line)?;
        self.emit_container(&container, "archive-path", &[]);
        Ok((
            stat,
            ArchiveReader {
                stdout,
                child,
                reference: reference.to_owned(),
                path: path.to_owned(),
                _lease: lease,
            },
        ))
    }

    /// `PUT /containers/{id}/archive`: starts extracting a tar into `put.path`.
    pub async fn archive_put(
        self: &Arc<Self>,
        reference: &str,
        put: &ArchivePut,
    ) -> Result<ArchiveWriter> {
        let container = self.lookup(reference)?.snapshot();
        let lease = self.lease(reference).await?;
        let mut args: Vec<String> = vec!["put".into(), put.path.clone()];
        if put.no_overwrite_dir_non_dir {
            args.push("--no-overwrite-dir-non-dir".into());
        }
        if put.copy_uid_gid && !lease.user.is_empty() {
            let (rootfs, name) = (lease.rootfs.clone(), lease.user.clone());
            let resolved = tokio::task::spawn_blocking(move || user::resolve(&rootfs, &name))
                .await
                .map_err(|e| Error::internal(format!("resolve user task: {e}")))??;
            args.push(format!("--chown={}:{}", resolved.uid, resolved.gid));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = self.helper(&lease, &args, true)?;
        Ok(ArchiveWriter {
            stdin: child.stdin.take(),
            child,
            reference: reference.to_owned(),
            path: put.path.clone(),
            engine: self.clone(),
            container,
            _lease: lease,
        })
    }

    /// Takes the container's lifecycle lock in a task of its own (so the lock can outlive this
    /// call, inside the returned lease), mounts a stopped container's rootfs, and describes the
    /// container's filesystem for the helper.
    async fn lease(self: &Arc<Self>, reference: &str) -> Result<Lease> {
        let handle = self.lookup(reference)?;
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(Container, bool)>>();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let engine = self.clone();
        tokio::spawn(async move {
            let _op = handle.op.lock().await;
            let container = handle.snapshot();
            if matches!(container.state.status, Status::Removing | Status::Dead) {
                let _ = ready_tx.send(Err(Error::conflict(format!(
                    "container {} is marked for removal",
                    container.id
                ))));
                return;
            }
            let rootfs = engine.rootfs_dir(&container.id);
            let mount_engine = engine.clone();
            let id = container.id.clone();
            let mount_rootfs = rootfs.clone();
            let mounted = tokio::task::spawn_blocking(move || {
                if crate::container::start::is_mountpoint(&mount_rootfs) {
                    return Ok(false);
                }
                let mounts = mount_engine.images.snapshot_mounts(&id)?;
                berth_image::mount::mount_all(&mounts, &mount_rootfs)?;
                Ok::<bool, Error>(true)
            })
            .await
            .map_err(|e| Error::internal(format!("mount task: {e}")))
            .and_then(|r| r);
            let mounted_here = match mounted {
                Ok(m) => m,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            if ready_tx.send(Ok((container, mounted_here))).is_ok() {
                // Held until the lease (and so the helper's stream) is dropped.
                let _ = release_rx.await;
            }
            if mounted_here {
                let rootfs = rootfs.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if let Err(e) = berth_image::ImageStore::unmount(&rootfs) {
                        tracing::warn!(rootfs = %rootfs.display(), error = %e, "unmounting rootfs after cp");
                    }
                })
                .await;
            }
        });
        let (container, _) = ready_rx
            .await
            .map_err(|_| Error::internal("archive lease task ended"))??;
        let rootfs = self.rootfs_dir(&container.id);
        let mounts = container
            .mount_points
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs && !m.source.is_empty())
            .map(|m| ArchiveMount {
                source: m.source.clone().into(),
                destination: m.destination.clone(),
                readonly: !m.rw,
            })
            .collect();
        Ok(Lease {
            confinement: Confinement {
                rootfs: rootfs.clone(),
                mounts,
                readonly_rootfs: container.spec.host.readonly_rootfs,
            },
            rootfs,
            user: container.user.clone(),
            _release: release_tx,
        })
    }

    /// Spawns `berth-runtime archive --confinement JSON ARGS…` (stdout and stderr piped).
    fn helper(&self, lease: &Lease, args: &[&str], stdin: bool) -> Result<Child> {
        let confinement = serde_json::to_string(&lease.confinement)
            .map_err(|e| Error::internal(format!("encode confinement: {e}")))?;
        let mut cmd = Command::new(&self.config.runtime_binary);
        cmd.arg("archive")
            .arg("--confinement")
            .arg(confinement)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.spawn()
            .map_err(|e| Error::io("spawn", Path::new(&self.config.runtime_binary), e))
    }
}

/// Waits for the helper; maps its JSON error line to an engine error.
async fn helper_result(child: &mut Child, reference: &str, path: &str) -> Result<()> {
    let mut err = String::new();
    if let Some(stderr) = child.stderr.as_mut() {
        let _ = stderr.read_to_string(&mut err).await;
    }
    let status = child
        .wait()
        .await
        .map_err(|e| Error::io("wait", "archive helper", e))?;
    if status.success() {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct HelperError {
        error: String,
        kind: String,
    }
    let reported = err
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<HelperError>(l).ok());
    let Some(reported) = reported else {
        return Err(Error::internal(format!(
            "archive helper failed ({status}): {}",
            err.trim()
        )));
    };
    Err(match reported.kind.as_str() {
        "not_found" => Error::NotFound {
            message: format!("Could not find the file {path} in container {reference}"),
        },
        "invalid" | "read_only" => Error::invalid(reported.error),
        _ => Error::internal(reported.error),
    })
}

fn parse_stat(line: &str) -> Result<PathStat> {
    serde_json::from_str(line.trim())
        .map_err(|e| Error::internal(format!("archive helper stat {line:?}: {e}")))
}
