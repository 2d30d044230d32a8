//! `berth history` (`image history`): an image's layers and the steps that made them.

use crate::client::daemon_err;
use crate::format::table::{print_list, ListSpec};
use crate::format::template::ListFormat;
use crate::format::{short_id, units};
use anyhow::Result;
use bollard::Docker;
use clap::Args;
use serde_json::json;

/// `berth history [OPTIONS] IMAGE`
#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, action = clap::ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub image: String,
}

const DEFAULT_TABLE: &str = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
const HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// Runs `berth history`.
pub async fn run(docker: &Docker, args: HistoryArgs) -> Result<()> {
    let items = docker
        .image_history(&args.image)
        .await
        .map_err(daemon_err)?;
    let trunc = !args.no_trunc;
    if args.quiet {
        for h in &items {
            println!(
                "{}",
                if trunc && h.id.starts_with("sha256:") {
                    short_id(&h.id)
                } else {
                    h.id.clone()
                }
            );
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|h| {
            let mut created_by = h.created_by.replace('\t', " ");
            if trunc && created_by.chars().count() > 45 {
                created_by = created_by.chars().take(44).collect::<String>() + "…";
            }
            json!({
                "ID": if trunc && h.id.starts_with("sha256:") { short_id(&h.id) } else { h.id.clone() },
                "CreatedSince": if args.human { units::time_ago(h.created) } else { units::go_time_string(h.created) },
                "CreatedAt": units::go_time_string(h.created),
                "CreatedBy": created_by,
                "Size": if args.human { units::human_size(h.size) } else { h.size.to_string() },
                "Comment": h.comment,
            })
        })
        .collect();
    let spec = ListSpec {
        default_table: DEFAULT_TABLE,
        headers: HEADERS,
    };
    print_list(&ListFormat::parse(args.format.as_deref()), &spec, &rows)
}
