//! `GET /system/df` reply in Docker's shape.

use berth_engine::DiskUsage;
use serde_json::{json, Value};

/// Docker's `SystemDiskUsage` (API 1.41): image summaries with `SharedSize` and `Containers`,
/// container summaries with `SizeRw`/`SizeRootFs`, volumes with `UsageData`. Berth has no
/// builder, so the build cache is empty.
pub fn disk_usage(usage: &DiskUsage) -> Value {
    let images: Vec<Value> = usage
        .images
        .iter()
        .map(|i| {
            let mut row = super::image_summary(&i.image, i.containers as i64);
            row["SharedSize"] = json!(i.shared_size);
            row
        })
        .collect();
    let containers: Vec<Value> = usage
        .containers
        .iter()
        .map(|c| {
            let mut row = super::summary(&c.container);
            row["SizeRw"] = json!(c.size_rw);
            row["SizeRootFs"] = json!(c.size_root_fs);
            row
        })
        .collect();
    let volumes: Vec<Value> = usage
        .volumes
        .iter()
        .map(|v| {
            let mut row = super::volumes::volume(&v.volume, &v.mountpoint);
            row["UsageData"] = json!({"Size": v.size, "RefCount": v.ref_count});
            row
        })
        .collect();
    json!({
        "LayersSize": usage.layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
        "BuilderSize": 0,
    })
}
