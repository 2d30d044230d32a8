//! Request handlers, grouped as the Engine API groups its endpoints.

pub mod archive;
pub mod commit;
pub mod container_prune;
pub mod containers;
pub mod events;
pub mod exec;
pub mod image_archive;
pub mod image_prune;
pub mod images;
pub mod import_url;
pub mod registry;
pub mod streams;
pub mod system;
pub mod volumes;

use serde::Deserialize;

/// Docker's boolean query values: `1`, `true`, `True` are true; `0`, `false`, empty are false.
pub fn flag(value: &Option<String>) -> bool {
    matches!(
        value.as_deref().map(str::to_ascii_lowercase).as_deref(),
        Some("1" | "true" | "yes")
    )
}

/// An integer query value, with Docker's error message on garbage.
pub fn int(name: &str, value: &Option<String>) -> crate::error::ApiResult<Option<i64>> {
    match value.as_deref() {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            crate::error::ApiError::bad_request(format!("invalid value for {name}: {v:?}"))
        }),
    }
}

/// Query parameters shared by several endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct CommonQuery {
    pub t: Option<String>,
    pub timeout: Option<String>,
    pub signal: Option<String>,
    pub condition: Option<String>,
    pub name: Option<String>,
    pub force: Option<String>,
    pub v: Option<String>,
    pub ps_args: Option<String>,
    pub h: Option<String>,
    pub w: Option<String>,
}
pub mod networks;
pub mod system_df;
