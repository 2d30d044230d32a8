//! `docker image prune`: remove images no container uses.

use std::sync::Arc;

use berth_image::{ImageRecord, RemovedItem};

use crate::engine::Engine;
use crate::error::Result;

/// What an image prune removed.
#[derive(Debug, Default)]
pub struct ImagesPruned {
    pub items: Vec<RemovedItem>,
    /// bytes of the layers of the deleted images
    pub space_reclaimed: u64,
}

impl Engine {
    /// Removes unused images: only dangling (untagged) ones unless `all`; `keep(image)` may
    /// veto an image (the caller's until/label filters). Images used by a container and images
    /// with children (a committed image's parent) are never pruned. Failures to remove one
    /// image are logged and skipped, as Docker does.
    pub async fn prune_images(
        self: &Arc<Self>,
        all: bool,
        keep: &(dyn Fn(&ImageRecord) -> bool + Sync),
    ) -> Result<ImagesPruned> {
        let images = self.images.list()?;
        let mut pruned = ImagesPruned::default();
        for image in &images {
            let dangling = image.repo_tags.is_empty();
            if (!all && !dangling) || keep(image) || self.image_in_use(&image.id) {
                continue;
            }
            if images.iter().any(|other| other.parent == image.id) {
                continue;
            }
            // untag every reference first, so a multi-tag image goes without a conflict
            match self.remove_image(&image.id, true).await {
                Ok(items) => {
                    if items
                        .iter()
                        .any(|i| matches!(i, RemovedItem::Deleted(id) if *id == image.id))
                    {
                        pruned.space_reclaimed += image.size;
                    }
                    pruned.items.extend(items);
                }
                Err(e) => tracing::warn!(image = %image.id, error = %e, "prune: skipping image"),
            }
        }
        Ok(pruned)
    }
}
