//! `berth rmi` (`image rm`): untag and delete images.

use crate::client::api_message;
use crate::error::exit;
use anyhow::Result;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use clap::Args;

/// `berth rmi [OPTIONS] IMAGE [IMAGE...]`
#[derive(Args, Debug, Clone)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// Runs `berth rmi`: prints `Untagged: ...` / `Deleted: ...` lines as the daemon reports them.
pub async fn run(docker: &Docker, args: RmiArgs) -> Result<()> {
    let mut failed = false;
    for image in &args.images {
        let opts = RemoveImageOptionsBuilder::default()
            .force(args.force)
            .noprune(args.no_prune)
            .build();
        match docker.remove_image(image, Some(opts), None).await {
            Ok(items) => {
                for item in items {
                    if let Some(u) = item.untagged.filter(|u| !u.is_empty()) {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.deleted.filter(|d| !d.is_empty()) {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{}", api_message(&e));
                failed = true;
            }
        }
    }
    if failed {
        return Err(exit(1));
    }
    Ok(())
}
