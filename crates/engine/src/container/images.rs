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
        tokio::task::spawn_blocking(move || {
            let imported = images.import(tar, options);
            release_free_heap();
            imported
        })
        .await
        .map_err(|e| Error::internal(format!("import task: {e}")))?
        .map_err(Error::from)
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
        tokio::task::spawn_blocking(move || {
            engine
                .images
                .remove(&reference, force, &|image_id: &str| {
                    engine.image_in_use(image_id)
                })
                .map_err(Error::from)
        })
        .await
        .map_err(|e| Error::internal(format!("remove image task: {e}")))?
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
