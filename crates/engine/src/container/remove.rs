//! `rm` and `rename`.

use std::sync::Arc;

use crate::container::model::Status;
use crate::engine::{Engine, Handle};
use crate::error::{Error, Result};
use crate::ids;

impl Engine {
    /// Removes a container. A running one is refused unless `force`, which kills it first.
    /// With `volumes` (`rm -v`, and auto-removal), its anonymous volumes go too, unless another
    /// container uses them; named volumes always stay.
    pub async fn remove(
        self: &Arc<Self>,
        reference: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        match container.state.status {
            // A removal that failed half-way (or was cut off by a crash) is finished now;
            // `handle.op` rules out a concurrent one.
            Status::Removing => return self.finish_removal(&handle),
            Status::Paused if !force => {
                return Err(Error::conflict(format!(
                    "You cannot remove a paused container {}. Unpause and then stop the container before attempting removal or force remove",
                    container.id
                )))
            }
            status if status.is_alive() && !force => {
                return Err(Error::conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    container.id
                )))
            }
            status if status.is_alive() => match self.stop_locked(&handle, Some(0), None, false).await {
                Ok(()) | Err(Error::NotModified { .. }) => {}
                Err(e) => return Err(e),
            },
            _ => {}
        }
        let record = handle.update(|c| c.state.status = Status::Removing);
        self.persist(&record)?;
        self.finish_removal(&handle)?;
        self.release_volumes(&record.mount_points, volumes).await;
        Ok(())
    }

    /// Deletes everything of a container marked `removing`; safe to repeat after a crash.
    pub(crate) fn finish_removal(&self, handle: &Arc<Handle>) -> Result<()> {
        let id = handle.snapshot().id;
        let mut problems = Vec::new();
        let rootfs = self.rootfs_dir(&id);
        if let Err(e) = berth_image::ImageStore::unmount(&rootfs) {
            problems.push(format!("unmount rootfs: {e}"));
        }
        if let Err(e) = self.images.remove_snapshot(&id) {
            problems.push(format!("remove writable layer: {e}"));
        }
        for dir in [self.run_dir(&id), self.container_dir(&id)] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!("remove {}: {e}", dir.display())),
            }
        }
        if !problems.is_empty() {
            // Keep the record (status removing) so a later rm or restart can finish the job.
            return Err(Error::internal(format!(
                "unable to remove container {id}: {}",
                problems.join("; ")
            )));
        }
        self.store.delete(&id)?;
        self.table()?.remove(&id);
        self.execs.drop_container(&id);
        self.emit_container(&handle.snapshot(), "destroy", &[]);
        handle.removed.send_replace(true);
        Ok(())
    }

    /// Renames a container; the new name must be valid and free.
    pub async fn rename(self: &Arc<Self>, reference: &str, new_name: &str) -> Result<()> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if new_name.is_empty() {
            return Err(Error::invalid("Neither old nor new names may be empty"));
        }
        ids::validate_name(new_name)?;
        let handle = self.lookup(reference)?;
        let _op = handle.op.lock().await;
        let container = handle.snapshot();
        if container.name == new_name {
            return Err(Error::conflict(
                "Renaming a container with the same name as its current name",
            ));
        }
        if let Ok(other) = self.lookup(new_name) {
            let other = other.snapshot();
            if other.name == new_name {
                return Err(Error::conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    other.id
                )));
            }
        }
        let record = handle.update(|c| c.name = new_name.to_owned());
        if let Err(e) = self.persist(&record) {
            handle.update(|c| c.name = container.name.clone());
            return Err(e);
        }
        self.emit_container(
            &record,
            "rename",
            &[("oldName", format!("/{}", container.name))],
        );
        Ok(())
    }
}
