//! Image operations that need to know about containers (import runs off the async threads;
//! removal checks which images containers use).

use std::io::Read;
use std::sync::Arc;

use berth_image::{ImageRecord, ImportOptions, RemovedItem};

use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// Imports a rootfs tarball as a new image. `tar` is read on a blocking thread.
    pub async fn import_image(
        self: &Arc<Self>,
        tar: Box<dyn Read + Send>,
        options: ImportOptions,
    ) -> Result<ImageRecord> {
        let images = self.images.clone();
        let image = tokio::task::spawn_blocking(move || {
            let imported = images.import(tar, options);
            release_free_heap();
            imported
        })
        .await
        .map_err(|e| Error::internal(format!("import task: {e}")))?
        .map_err(Error::from)?;
        // Docker names the imported image by its ID, then tags it if a reference was given.
        self.emit_image("import", &image.id, &image.id);
        for tag in &image.repo_tags {
            self.emit_image("tag", &image.id, tag);
        }
        Ok(image)
    }

    /// Tags image `source` as `target` and reports a `tag` event.
    pub fn tag_image(&self, source: &str, target: &str) -> Result<()> {
        self.images.tag(source, target)?;
        if let Ok(image) = self.images.resolve(target) {
            self.emit_image("tag", &image.id, target);
        }
        Ok(())
    }

    /// Removes an image with Docker's rmi semantics; images used by containers are conflicts
    /// unless `force`.
    pub async fn remove_image(
        self: &Arc<Self>,
        reference: &str,
        force: bool,
    ) -> Result<Vec<RemovedItem>> {
        let engine = self.clone();
        let reference = reference.to_owned();
        let image_id = self.images.resolve(&reference).ok().map(|i| i.id);
        let removed = tokio::task::spawn_blocking(move || {
            engine
                .images
                .remove(&reference, force, &|image_id: &str| {
                    engine.image_in_use(image_id)
                })
                .map_err(Error::from)
        })
        .await
        .map_err(|e| Error::internal(format!("remove image task: {e}")))??;
        let image_id = image_id.unwrap_or_default();
        for item in &removed {
            match item {
                RemovedItem::Untagged(name) => self.emit_image("untag", &image_id, name),
                // Layer chain IDs are deleted too; only the image itself is an event.
                RemovedItem::Deleted(id) if *id == image_id => self.emit_image("delete", id, id),
                RemovedItem::Deleted(_) => {}
            }
        }
        Ok(removed)
    }
}

/// Gives the heap freed by a large operation back to the kernel. glibc keeps freed memory in
/// per-thread arenas; after an import that is megabytes of idle daemon RSS.
fn release_free_heap() {
    // SAFETY: malloc_trim only walks glibc's own allocator state; no pointers are involved.
    unsafe {
        libc::malloc_trim(0);
    }
}
