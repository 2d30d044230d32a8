//! `GET /v2/<name>/tags/list`: the tags of a repository (for `docker pull --all-tags`).

use crate::error::{Error, Result};
use crate::{Reference, Session};

/// Tags read from one repository at most (bounds the work on a hostile registry).
const TAG_LIMIT: usize = 10_000;

impl Session {
    /// The tags of the repository of `reference`, in the registry's order (distribution sorts
    /// them lexically). Call [`Session::authenticate`] first. An empty repository is
    /// [`Error::NotFound`], as for a missing one.
    pub async fn list_tags(&self, reference: &Reference) -> Result<Vec<String>> {
        let response = self
            .client()
            .list_tags(reference, self.auth(), None, None)
            .await
            .map_err(|e| Error::from_oci("list tags", reference, e))?;
        let mut tags = response.tags;
        if tags.len() > TAG_LIMIT {
            tags.truncate(TAG_LIMIT);
        }
        if tags.is_empty() {
            return Err(Error::NotFound {
                reference: format!("{}/{}", reference.registry(), reference.repository()),
                message: "the repository has no tags".into(),
            });
        }
        Ok(tags)
    }
}
