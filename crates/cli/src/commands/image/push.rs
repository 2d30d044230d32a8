//! `berth push` (`image push`).

use anyhow::Result;
use bollard::query_parameters::PushImageOptions;
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;

use super::credentials;
use super::progress::Progress;
use crate::client::api_message;
use crate::commands::container::create::split_tag;
use crate::error::exit;

/// `berth push [OPTIONS] NAME[:TAG]`
#[derive(Args, Debug, Clone)]
pub struct PushArgs {
    /// Push all tags of the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Accepted for compatibility (content trust is not supported)
    #[arg(long = "disable-content-trust", default_value_t = true)]
    pub disable_content_trust: bool,
    pub name: String,
}

/// Runs `berth push`.
pub async fn run(docker: &Docker, args: PushArgs) -> Result<()> {
    let (repo, tag) = split_tag(&args.name);
    if args.all_tags && tag.is_some() {
        eprintln!("tag can't be used with --all-tags/-a");
        return Err(exit(1));
    }
    let tag = match (args.all_tags, tag) {
        (true, _) => None,
        (false, Some(t)) => Some(t),
        (false, None) => {
            if !args.quiet {
                println!("Using default tag: latest");
            }
            Some("latest".to_string())
        }
    };
    let creds = credentials::lookup(&credentials::registry_of(&repo));
    let options = PushImageOptions {
        tag: tag.clone(),
        platform: None,
    };
    let mut stream = docker.push_image(&repo, Some(options), creds);
    let mut progress = Progress::new(args.quiet);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(status) = info.status {
                    let detail = info.progress_detail.as_ref();
                    let current = detail.and_then(|d| d.current).map(|v| v as u64);
                    let total = detail.and_then(|d| d.total).map(|v| v as u64);
                    if status.contains(": digest: ") {
                        progress.finish();
                        if !args.quiet {
                            println!("{status}");
                        }
                    } else {
                        progress.update(None, &status, current, total);
                    }
                }
            }
            Err(e) => {
                progress.finish();
                eprintln!("{}", api_message(&e));
                return Err(exit(1));
            }
        }
    }
    progress.finish();
    if args.quiet {
        match tag {
            Some(t) => println!("{repo}:{t}"),
            None => println!("{repo}"),
        }
    }
    Ok(())
}
