//! `docker system df`: space used by images, containers' writable layers and volumes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use berth_image::ImageRecord;

use crate::engine::{Engine, ListOptions};
use crate::error::{Error, Result};
use crate::{Container, MountKind, Volume, VolumeFilters};

/// Everything `system df` reports. Sizes are bytes.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// every layer in the store, each counted once
    pub layers_size: u64,
    /// newest first
    pub images: Vec<ImageDiskUsage>,
    /// newest first
    pub containers: Vec<ContainerDiskUsage>,
    pub volumes: Vec<VolumeDiskUsage>,
}

#[derive(Debug, Clone)]
pub struct ImageDiskUsage {
    pub image: ImageRecord,
    /// bytes in layers other images use too
    pub shared_size: u64,
    /// containers (any state) created from this image
    pub containers: u64,
}

#[derive(Debug, Clone)]
pub struct ContainerDiskUsage {
    pub container: Container,
    /// bytes in the writable layer
    pub size_rw: u64,
    /// `size_rw` plus the image's size (0 for the image part if the image was removed)
    pub size_root_fs: u64,
}

#[derive(Debug, Clone)]
pub struct VolumeDiskUsage {
    pub volume: Volume,
    pub mountpoint: PathBuf,
    /// bytes of the files in the volume
    pub size: u64,
    /// containers (any state) that mount the volume
    pub ref_count: u64,
}

impl Engine {
    /// Measures disk usage on a blocking thread: layer sizes come from the image store's
    /// records; writable layers and volumes are walked (apparent file sizes, hard links once,
    /// as Docker's `directory.Size`). A container whose snapshot vanished meanwhile counts 0.
    pub async fn disk_usage(self: &Arc<Self>) -> Result<DiskUsage> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.disk_usage_blocking())
            .await
            .map_err(|e| Error::internal(format!("disk usage task: {e}")))?
    }

    fn disk_usage_blocking(&self) -> Result<DiskUsage> {
        let containers = self.list(&ListOptions {
            all: true,
            ..Default::default()
        })?;
        let store = self.images.disk_usage().map_err(Error::from)?;
        let records = self.images.list().map_err(Error::from)?;
        let mut users: HashMap<&str, u64> = HashMap::new();
        for c in &containers {
            *users.entry(c.image_id.as_str()).or_default() += 1;
        }
        let images: Vec<ImageDiskUsage> = records
            .into_iter()
            .map(|image| {
                let shared_size = store.images.get(&image.id).map_or(0, |u| u.shared_size);
                let containers = users.get(image.id.as_str()).copied().unwrap_or(0);
                ImageDiskUsage {
                    image,
                    shared_size,
                    containers,
                }
            })
            .collect();
        let image_sizes: HashMap<&str, u64> = images
            .iter()
            .map(|i| (i.image.id.as_str(), i.image.size))
            .collect();
        let container_usage = containers
            .iter()
            .map(|c| {
                let size_rw = match self.images.snapshot_usage(&c.id) {
                    Ok(size) => size,
                    Err(e) => {
                        tracing::debug!(container = %c.id, error = %e, "no writable layer size");
                        0
                    }
                };
                let image = image_sizes.get(c.image_id.as_str()).copied().unwrap_or(0);
                ContainerDiskUsage {
                    container: c.clone(),
                    size_rw,
                    size_root_fs: size_rw + image,
                }
            })
            .collect();
        let mut volumes = Vec::new();
        for volume in self.volume_list(&VolumeFilters::default())? {
            let mountpoint = self.volume_mountpoint(&volume.name);
            let size = berth_image::snapshot::disk_usage(&mountpoint).map_err(Error::from)?;
            let ref_count = containers
                .iter()
                .filter(|c| {
                    c.mount_points
                        .iter()
                        .any(|m| m.kind == MountKind::Volume && m.name == volume.name)
                })
                .count() as u64;
            volumes.push(VolumeDiskUsage {
                volume,
                mountpoint,
                size,
                ref_count,
            });
        }
        Ok(DiskUsage {
            layers_size: store.layers_size,
            images,
            containers: container_usage,
            volumes,
        })
    }
}
