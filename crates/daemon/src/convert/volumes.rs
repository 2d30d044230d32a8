//! Volumes in Docker's `Volume` shape, and `volume create` bodies into [`VolumeCreate`].

use std::path::Path;

use berth_api::models::VolumeCreateRequest;
use berth_engine::{Volume, VolumeCreate};
use chrono::SecondsFormat;
use serde_json::{json, Value};

/// Docker's `Volume` object (without `UsageData`, which only `system df` reports).
pub fn volume(v: &Volume, mountpoint: &Path) -> Value {
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": mountpoint,
        "CreatedAt": v.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        "Labels": v.labels,
        "Scope": "local",
        "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
    })
}

/// `POST /volumes/create` body.
pub fn create_request(body: VolumeCreateRequest) -> VolumeCreate {
    VolumeCreate {
        name: body.name,
        driver: body.driver.unwrap_or_default(),
        driver_opts: body.driver_opts.unwrap_or_default().into_iter().collect(),
        labels: body.labels.unwrap_or_default().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_have_the_docker_models_shape() {
        let v = Volume {
            name: "data".into(),
            driver: "local".into(),
            labels: [("a".to_owned(), "b".to_owned())].into(),
            options: Default::default(),
            created: chrono::Utc::now(),
        };
        let parsed: berth_api::models::Volume =
            serde_json::from_value(volume(&v, Path::new("/x/_data"))).unwrap();
        assert_eq!(parsed.name, "data");
        assert_eq!(parsed.mountpoint, "/x/_data");
    }
}
