//! `berth system prune`: docker's sequence of prunes (stopped containers, unused networks,
//! optionally anonymous volumes, dangling or unused images) with one confirmation and one
//! total. Berth has no build cache yet, so that step has nothing to remove.

use anyhow::Result;
use bollard::query_parameters::{
    PruneContainersOptionsBuilder, PruneImagesOptionsBuilder, PruneVolumesOptionsBuilder,
};
use bollard::Docker;
use clap::Args;

use crate::client::daemon_err;
use crate::commands::filters::parse_filters;
use crate::commands::prune::{confirm, image_lines, print_section};
use crate::format::units::human_size;

/// `berth system prune [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
}

/// docker's warning, listing what this invocation removes.
fn warning(args: &SystemPruneArgs) -> String {
    let mut lines = vec![
        "WARNING! This will remove:".to_string(),
        "  - all stopped containers".to_string(),
        "  - all networks not used by at least one container".to_string(),
    ];
    if args.volumes {
        lines.push("  - all anonymous volumes not used by at least one container".to_string());
    }
    lines.push(if args.all {
        "  - all images without at least one container associated to them".to_string()
    } else {
        "  - all dangling images".to_string()
    });
    lines.join("\n")
}

/// Runs `berth system prune`.
pub async fn run(docker: &Docker, args: SystemPruneArgs) -> Result<()> {
    if !args.force && !confirm(&warning(&args)) {
        return Ok(());
    }
    let filters = parse_filters(&args.filter)?;
    let mut reclaimed: i64 = 0;

    let containers = docker
        .prune_containers(Some(
            PruneContainersOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(daemon_err)?;
    print_section(
        "Deleted Containers:",
        containers.containers_deleted.unwrap_or_default(),
    );
    reclaimed += containers.space_reclaimed.unwrap_or(0);

    print_section(
        "Deleted Networks:",
        crate::commands::network::prune_networks(docker, &filters).await?,
    );

    if args.volumes {
        let volumes = docker
            .prune_volumes(Some(
                PruneVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(daemon_err)?;
        print_section(
            "Deleted Volumes:",
            volumes.volumes_deleted.unwrap_or_default(),
        );
        reclaimed += volumes.space_reclaimed.unwrap_or(0);
    }

    let mut image_filters = filters.clone();
    image_filters.insert(
        "dangling".into(),
        vec![if args.all { "false" } else { "true" }.to_string()],
    );
    let images = docker
        .prune_images(Some(
            PruneImagesOptionsBuilder::default()
                .filters(&image_filters)
                .build(),
        ))
        .await
        .map_err(daemon_err)?;
    print_section(
        "Deleted Images:",
        image_lines(images.images_deleted.unwrap_or_default()),
    );
    reclaimed += images.space_reclaimed.unwrap_or(0);

    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(all: bool, volumes: bool) -> SystemPruneArgs {
        SystemPruneArgs {
            all,
            filter: vec![],
            force: true,
            volumes,
        }
    }

    #[test]
    fn warning_lists_what_the_flags_select() {
        let plain = warning(&args(false, false));
        assert!(plain.contains("all dangling images"));
        assert!(!plain.contains("volumes"));
        let all = warning(&args(true, true));
        assert!(all.contains("all images without at least one container"));
        assert!(all.contains("anonymous volumes"));
    }
}
