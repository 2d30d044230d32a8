//! `state`: the OCI state document of a container.

use std::path::Path;

use super::{Container, OciState};
use crate::Result;

/// Returns the OCI state of container `id` under `root`.
pub fn state(root: &Path, id: &str) -> Result<OciState> {
    Ok(Container::load(root, id)?.oci_state())
}
