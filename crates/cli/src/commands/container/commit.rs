//! `berth commit` (`POST /commit`) and `berth export` (`GET /containers/{id}/export`).

use crate::client::api_message;
use crate::commands::container::create::split_tag;
use crate::commands::image::archive::write_tar_stream;
use anyhow::{anyhow, Result};
use bollard::query_parameters::CommitContainerOptions;
use bollard::Docker;
use clap::{ArgAction, Args};

/// `berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`
#[derive(Args, Debug, Clone)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `berth export [OPTIONS] CONTAINER`
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    pub container: String,
}

/// Runs `berth commit`; prints the new image ID.
pub async fn commit(docker: &Docker, args: CommitArgs) -> Result<()> {
    let (repo, tag) = match &args.reference {
        Some(r) => {
            let (repo, tag) = split_tag(r);
            (Some(repo), tag)
        }
        None => (None, None),
    };
    let opts = CommitContainerOptions {
        container: Some(args.container.clone()),
        repo,
        tag,
        comment: args.message.clone(),
        author: args.author.clone(),
        pause: args.pause,
        changes: (!args.change.is_empty()).then(|| args.change.join("\n")),
    };
    let r = docker
        .commit_container(opts, bollard::models::ContainerConfig::default())
        .await
        .map_err(|e| anyhow!("{}", api_message(&e)))?;
    println!("{}", r.id);
    Ok(())
}

/// Runs `berth export`: the archive goes to `-o FILE` (renamed into place when complete) or
/// to stdout (never a terminal).
pub async fn export(docker: &Docker, args: ExportArgs) -> Result<()> {
    let stream = docker.export_container(&args.container);
    write_tar_stream(stream, args.output.as_deref(), "export container").await
}
