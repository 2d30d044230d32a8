//! Disk usage of images and layers, for `docker system df`.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::store::ImageStore;

/// Layer space of one image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUsage {
    /// unpacked bytes of all the image's layers
    pub size: u64,
    /// the part of `size` in layers that other images use too
    pub shared_size: u64,
}

/// Layer space of the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// unpacked bytes of every layer in the store, each counted once (Docker's `LayersSize`)
    pub layers_size: u64,
    /// per image id
    pub images: HashMap<String, ImageUsage>,
}

impl ImageStore {
    /// Layer sizes per image and for the store, from the recorded unpacked sizes (one query, no
    /// walk of the layer dirs). A layer is shared when more than one image lists it.
    pub fn disk_usage(&self) -> Result<StoreUsage> {
        let conn = self.lock();
        let layers_size: i64 = conn
            .query_row("SELECT COALESCE(SUM(size), 0) FROM layers", [], |r| {
                r.get(0)
            })
            .map_err(Error::db("sum layer sizes"))?;
        let mut stmt = conn
            .prepare(
                "SELECT il.image_id, l.size,
                        (SELECT COUNT(DISTINCT x.image_id) FROM image_layers x WHERE x.chain_id = il.chain_id)
                 FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id",
            )
            .map_err(Error::db("prepare layer usage"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(Error::db("query layer usage"))?;
        let mut images: HashMap<String, ImageUsage> = HashMap::new();
        for row in rows {
            let (id, size, users) = row.map_err(Error::db("read layer usage"))?;
            let size = size.max(0) as u64;
            let usage = images.entry(id).or_default();
            usage.size += size;
            if users > 1 {
                usage.shared_size += size;
            }
        }
        Ok(StoreUsage {
            layers_size: layers_size.max(0) as u64,
            images,
        })
    }
}
