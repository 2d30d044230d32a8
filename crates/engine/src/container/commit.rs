//! `docker commit` and `docker export`: a container's writable layer as a new image, and its
//! flattened filesystem as a tar.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use berth_image::diff::{write_tree, TreeKind};
use berth_image::{CommitOptions, ImageRecord};
use oci_spec::image::Config;

use crate::container::model::{Container, Status};
use crate::engine::Engine;
use crate::error::{Error, Result};

/// What `POST /commit` asks for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]` to tag the new image with
    pub reference: Option<String>,
    pub comment: String,
    pub author: String,
    /// `--change` instructions
    pub changes: Vec<String>,
    /// freeze the container while its layer is read (Docker's default)
    pub pause: bool,
}

impl Engine {
    /// Commits a container's changes as a new image (see
    /// [`berth_image::ImageStore::commit_snapshot`]). A running container is paused meanwhile
    /// when `pause` is set, and unpaused afterwards even if the commit fails.
    pub async fn commit_container(
        self: &Arc<Self>,
        reference: &str,
        request: CommitRequest,
    ) -> Result<ImageRecord> {
        let handle = self.lookup(reference)?;
        let container = handle.snapshot();
        let options = CommitOptions {
            reference: request.reference.clone(),
            comment: request.comment.clone(),
            author: request.author.clone(),
            changes: request.changes.clone(),
            config: container_config(&container),
            container_id: container.id.clone(),
            created_by: created_by(&container),
        };
        let paused = request.pause && container.state.status == Status::Running;
        if paused {
            self.pause(&container.id).await?;
        }
        let images = self.images.clone();
        let key = container.id.clone();
        let result = tokio::task::spawn_blocking(move || images.commit_snapshot(&key, options))
            .await
            .map_err(|e| Error::internal(format!("commit task: {e}")));
        if paused {
            if let Err(e) = self.unpause(&container.id).await {
                tracing::error!(container = %container.id, error = %e, "unpausing after commit");
            }
        }
        let image = result?.map_err(Error::from)?;
        self.emit_container(&container, "commit", &[]);
        for tag in &image.repo_tags {
            self.emit_image("tag", &image.id, tag);
        }
        Ok(image)
    }

    /// Writes a container's flattened root filesystem as a tar to `out` (on a blocking thread).
    /// A container whose root is not mounted (stopped, created) is mounted on a private
    /// directory for the duration, with its lifecycle lock held so it cannot start meanwhile.
    pub async fn export_container(
        self: &Arc<Self>,
        reference: &str,
        out: Box<dyn Write + Send>,
    ) -> Result<()> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        let rootfs = self.rootfs_dir(&container.id);
        let images = self.images.clone();
        let run_dir = self.run_dir(&container.id);
        let id = container.id.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            if is_mounted(&rootfs) {
                write_tree(&rootfs, out, TreeKind::Plain).map_err(Error::from)?;
                return Ok(());
            }
            let target = run_dir.join("export");
            std::fs::create_dir_all(&target).map_err(|e| Error::io("create", &target, e))?;
            images.mount_snapshot(&id, &target).map_err(Error::from)?;
            let written = write_tree(&target, out, TreeKind::Plain);
            let unmounted = berth_image::ImageStore::unmount(&target);
            let _ = std::fs::remove_dir(&target);
            written.map_err(Error::from)?;
            unmounted.map_err(Error::from)
        })
        .await
        .map_err(|e| Error::internal(format!("export task: {e}")))??;
        self.emit_container(&container, "export", &[]);
        Ok(())
    }
}

fn is_mounted(path: &Path) -> bool {
    berth_image::mount::is_mounted(path)
}

/// The image config of a container: the image's settings merged with the container's.
fn container_config(c: &Container) -> Config {
    let mut config = Config::default();
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    config.set_env(some(&c.env));
    config.set_cmd(some(&c.cmd));
    config.set_entrypoint(some(&c.entrypoint));
    config.set_working_dir((!c.working_dir.is_empty()).then(|| c.working_dir.clone()));
    config.set_user((!c.user.is_empty()).then(|| c.user.clone()));
    config.set_exposed_ports(some(&c.exposed_ports));
    config.set_volumes(some(&c.volumes));
    config.set_stop_signal((!c.stop_signal.is_empty()).then(|| c.stop_signal.clone()));
    config.set_labels((!c.labels.is_empty()).then(|| {
        c.labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }));
    config
}

/// Docker records the container's command line as the history entry's `created_by`.
fn created_by(c: &Container) -> String {
    std::iter::once(c.path.as_str())
        .chain(c.args.iter().map(String::as_str))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
