//! `berth pull` (`image pull`), and the pull step `run`/`create` use for a missing image.

use crate::client::api_message;
use crate::commands::container::create::{split_tag, with_default_tag};
use crate::error::exit;
use anyhow::Result;
use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;

use super::credentials;
use super::progress::Progress;

/// `berth pull NAME[:TAG|@DIGEST]`
#[derive(Args, Debug, Clone)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable (os[/arch[/variant]])
    #[arg(long)]
    pub platform: Option<String>,
    /// Accepted for compatibility (content trust is not supported)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    pub name: String,
}

/// Runs `berth pull`; prints the reference pulled, as docker's last line does.
pub async fn run(docker: &Docker, args: PullArgs) -> Result<()> {
    let name_only = !args.name.contains('@') && split_tag(&args.name).1.is_none();
    if args.all_tags && !name_only {
        eprintln!("tag can't be used with --all-tags/-a");
        return Err(exit(1));
    }
    if name_only && !args.all_tags && !args.quiet {
        println!("Using default tag: latest");
    }
    let pulled = if args.all_tags {
        pull_all_tags(docker, &args.name, args.platform.as_deref(), args.quiet).await
    } else {
        pull_with(docker, &args.name, args.platform.as_deref(), args.quiet).await
    };
    if let Err(e) = pulled {
        eprintln!("{}", api_message(&e));
        return Err(exit(1));
    }
    // with --all-tags Docker prints the repository's full name, else the full reference
    let name = if args.all_tags {
        args.name.clone()
    } else {
        with_default_tag(&args.name)
    };
    let full = if credentials::registry_of(&name) == "docker.io" && !name.starts_with("docker.io/")
    {
        if name.contains('/') {
            format!("docker.io/{name}")
        } else {
            format!("docker.io/library/{name}")
        }
    } else {
        name
    };
    println!("{full}");
    Ok(())
}

/// Pull `image` (credentials from the docker config for its registry) and render progress.
pub async fn pull_with(
    docker: &Docker,
    image: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<(), bollard::errors::Error> {
    let (repo, tag) = split_tag(image);
    pull_request(
        docker,
        &repo,
        Some(tag.as_deref().unwrap_or("latest")),
        platform,
        quiet,
    )
    .await
}

/// Pull every tag of the repository `repo` (`fromImage` without a tag, as the docker CLI sends
/// `pull --all-tags`).
async fn pull_all_tags(
    docker: &Docker,
    repo: &str,
    platform: Option<&str>,
    quiet: bool,
) -> Result<(), bollard::errors::Error> {
    pull_request(docker, repo, None, platform, quiet).await
}

async fn pull_request(
    docker: &Docker,
    repo: &str,
    tag: Option<&str>,
    platform: Option<&str>,
    quiet: bool,
) -> Result<(), bollard::errors::Error> {
    let mut builder = CreateImageOptionsBuilder::default().from_image(repo);
    if let Some(t) = tag {
        builder = builder.tag(t);
    }
    if let Some(p) = platform {
        builder = builder.platform(p);
    }
    let creds = credentials::lookup(&credentials::registry_of(repo));
    let mut stream = docker.create_image(Some(builder.build()), None, creds);
    let mut progress = Progress::new(quiet);
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(i) => i,
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        };
        if let Some(status) = info.status {
            let detail = info.progress_detail.as_ref();
            let current = detail.and_then(|d| d.current).map(|v| v as u64);
            let total = detail.and_then(|d| d.total).map(|v| v as u64);
            match info.id.as_deref() {
                // "latest: Pulling from library/busybox"
                Some(id) if status.starts_with("Pulling from") => {
                    progress.update(None, &format!("{id}: {status}"), None, None)
                }
                id => progress.update(id, &status, current, total),
            }
        }
    }
    progress.finish();
    Ok(())
}
