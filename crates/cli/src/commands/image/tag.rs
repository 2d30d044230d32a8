//! `berth tag` (`image tag`).

use crate::client::daemon_err;
use crate::commands::container::create::split_tag;
use anyhow::Result;
use bollard::query_parameters::TagImageOptionsBuilder;
use bollard::Docker;
use clap::Args;

/// `berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`
#[derive(Args, Debug, Clone)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

/// Runs `berth tag`.
pub async fn run(docker: &Docker, args: TagArgs) -> Result<()> {
    let (repo, tag) = split_tag(&args.target);
    let opts = TagImageOptionsBuilder::default()
        .repo(&repo)
        .tag(tag.as_deref().unwrap_or("latest"))
        .build();
    docker
        .tag_image(&args.source, Some(opts))
        .await
        .map_err(daemon_err)
}
