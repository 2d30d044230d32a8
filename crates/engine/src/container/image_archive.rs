//! `docker save` / `docker load` through the engine: the image store does the work on a
//! blocking thread; the engine reports Docker's `save`/`load`/`tag` events.

use std::io::{Read, Write};
use std::sync::Arc;

use berth_image::LoadedImage;

use crate::engine::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// Resolves every name (NotFound for the first unknown one), so a save can fail before any
    /// byte of the archive is sent. Returns the image ids.
    pub fn check_save(&self, names: &[String]) -> Result<Vec<String>> {
        names
            .iter()
            .map(|n| self.images.resolve(n).map(|i| i.id).map_err(Error::from))
            .collect()
    }

    /// Writes the images `names` name as one docker-archive to `out` (on a blocking thread).
    pub async fn save_images(
        self: &Arc<Self>,
        names: Vec<String>,
        out: Box<dyn Write + Send>,
    ) -> Result<()> {
        let ids = self.check_save(&names)?;
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || images.save(&names, out))
            .await
            .map_err(|e| Error::internal(format!("save task: {e}")))?
            .map_err(Error::from)?;
        for id in ids {
            self.emit_image("save", &id, &id);
        }
        Ok(())
    }

    /// Loads an image archive read from `input` (on a blocking thread) and reports one `load`
    /// event per image and a `tag` event per tag.
    pub async fn load_images(
        self: &Arc<Self>,
        input: Box<dyn Read + Send>,
    ) -> Result<Vec<LoadedImage>> {
        let images = self.images.clone();
        let loaded = tokio::task::spawn_blocking(move || images.load(input, &mut |_| {}))
            .await
            .map_err(|e| Error::internal(format!("load task: {e}")))?
            .map_err(Error::from)?;
        for image in &loaded {
            self.emit_image("load", &image.id, &image.id);
            for tag in &image.tags {
                self.emit_image("tag", &image.id, tag);
            }
        }
        Ok(loaded)
    }
}
