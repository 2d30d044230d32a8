//! `docker pull --all-tags`: every tag of a repository, one pull after the other.

use std::sync::Arc;

use berth_registry::{Reference, Registry};

use crate::error::{Error, Result};
use crate::pull::{pull_tag, status_line, ProgressFn, PullOptions, Pulled};
use crate::reference;
use crate::store::ImageStore;

/// Whether `name` names a repository only (no `:tag` in its last component, no `@digest`).
pub fn is_name_only(name: &str) -> bool {
    !name.contains('@') && !name.rsplit('/').next().unwrap_or(name).contains(':')
}

/// Pull every tag the registry lists for the repository `name` (which must carry no tag or
/// digest), as dockerd does for `fromImage` without a tag: per tag `<tag>: Pulling from`, the
/// layers and `Digest:`, then one `Status:` line for the repository. Layers shared between the
/// tags are downloaded once. Stops at the first tag that fails (the tags pulled before it
/// stay, as with Docker).
pub async fn pull_all_tags(
    store: &Arc<ImageStore>,
    registry: &Registry,
    name: &str,
    opts: &PullOptions,
    progress: ProgressFn<'_>,
) -> Result<Vec<Pulled>> {
    if !is_name_only(name) {
        return Err(Error::InvalidReference {
            reference: name.to_string(),
            reason: "tag can't be used with --all-tags/-a".into(),
        });
    }
    let parsed = reference::parse(name)?;
    let repo = reference::familiar_name(&parsed);
    let r = Reference::with_tag(
        parsed.registry().to_string(),
        parsed.repository().to_string(),
        "latest".to_string(),
    );
    let tags = {
        let session = registry.session(&r, &opts.credentials);
        session.authenticate(&r, false).await?;
        session.list_tags(&r).await?
    };
    let mut pulled = Vec::with_capacity(tags.len());
    for tag in &tags {
        let one = format!("{repo}:{tag}");
        pulled.push(pull_tag(store, registry, &one, opts, progress, false).await?);
    }
    progress(status_line(pulled.iter().any(|p| p.downloaded), &repo));
    Ok(pulled)
}

#[cfg(test)]
mod tests {
    use super::is_name_only;

    #[test]
    fn name_only() {
        assert!(is_name_only("busybox"));
        assert!(is_name_only("localhost:5000/a/b"));
        assert!(!is_name_only("localhost:5000/a/b:v1"));
        assert!(!is_name_only("busybox:latest"));
        assert!(!is_name_only("busybox@sha256:abc"));
    }
}
