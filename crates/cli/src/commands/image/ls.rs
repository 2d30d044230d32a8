//! `berth images` (`image ls`): list images, one row per tag.

use crate::client::daemon_err;
use crate::commands::container::create::split_tag;
use crate::commands::filters::parse_filters;
use crate::format::table::{print_list, ListSpec};
use crate::format::template::ListFormat;
use crate::format::{short_id, units};
use anyhow::Result;
use bollard::models::ImageSummary;
use bollard::query_parameters::ListImagesOptionsBuilder;
use bollard::Docker;
use clap::Args;
use serde_json::json;

/// `berth images [OPTIONS] [REPOSITORY[:TAG]]`
#[derive(Args, Debug, Clone)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

const HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

const DEFAULT_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGEST_TABLE: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

fn size_with_precision4(size: i64) -> String {
    // docker's VirtualSize column uses HumanSizeWithPrecision(size, 4)
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if v == 0.0 {
        return format!("0{}", units[i]);
    }
    let digits = v.log10().floor() as i32 + 1;
    let decimals = (4 - digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[i])
}

fn n_a(v: i64, f: impl Fn(i64) -> String) -> String {
    if v < 0 {
        "N/A".to_string()
    } else {
        f(v)
    }
}

/// The rows for one image: one per tag, or one `<none>` row (docker's `imageFormat`).
pub fn rows(img: &ImageSummary, trunc: bool) -> Vec<serde_json::Value> {
    let id = if trunc {
        short_id(&img.id)
    } else {
        img.id.clone()
    };
    let make = |repo: &str, tag: &str, digest: &str| {
        json!({
            "Containers": n_a(img.containers, |v| v.to_string()),
            "CreatedAt": units::go_time_string(img.created),
            "CreatedSince": units::time_ago(img.created),
            "Digest": digest,
            "ID": id,
            "Repository": repo,
            "SharedSize": n_a(img.shared_size, units::human_size),
            "Size": units::human_size(img.size),
            "Tag": tag,
            "UniqueSize": if img.shared_size < 0 { "N/A".to_string() } else { units::human_size(img.size - img.shared_size) },
            "VirtualSize": size_with_precision4(img.size),
        })
    };
    let digest_of = |repo: &str| -> String {
        img.repo_digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, dg)| dg.to_string())
            })
            .unwrap_or_else(|| "<none>".to_string())
    };
    let tags: Vec<&String> = img
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .collect();
    if tags.is_empty() {
        if let Some((repo, digest)) = img.repo_digests.first().and_then(|d| d.split_once('@')) {
            return vec![make(repo, "<none>", digest)];
        }
        return vec![make("<none>", "<none>", "<none>")];
    }
    tags.into_iter()
        .map(|t| {
            let (repo, tag) = split_tag(t);
            let tag = tag.unwrap_or_else(|| "<none>".to_string());
            make(&repo, &tag, &digest_of(&repo))
        })
        .collect()
}

/// Runs `berth images`.
pub async fn run(docker: &Docker, args: ImagesArgs) -> Result<()> {
    let mut filters = parse_filters(&args.filter)?;
    if let Some(r) = &args.reference {
        filters
            .entry("reference".into())
            .or_default()
            .push(r.clone());
    }
    let opts = ListImagesOptionsBuilder::default()
        .all(args.all)
        .digests(args.digests)
        .filters(&filters)
        .build();
    let mut list = docker.list_images(Some(opts)).await.map_err(daemon_err)?;
    list.sort_by_key(|i| std::cmp::Reverse(i.created));
    let trunc = !args.no_trunc;
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for img in &list {
            let id = if trunc {
                short_id(&img.id)
            } else {
                img.id.clone()
            };
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(());
    }
    let mut all_rows = Vec::new();
    for img in &list {
        let mut r = rows(img, trunc);
        r.sort_by(|a, b| {
            a["Repository"]
                .as_str()
                .cmp(&b["Repository"].as_str())
                .then(a["Tag"].as_str().cmp(&b["Tag"].as_str()))
        });
        all_rows.extend(r);
    }
    let spec = ListSpec {
        default_table: if args.digests {
            DIGEST_TABLE
        } else {
            DEFAULT_TABLE
        },
        headers: HEADERS,
    };
    print_list(&ListFormat::parse(args.format.as_deref()), &spec, &all_rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_tag() {
        let img = ImageSummary {
            id: "sha256:3d481f69632e9a2dcb64079b0603c34638c38403ba40401f5349711e2cc4dd01".into(),
            repo_tags: vec!["busybox:latest".into(), "my/bb:v1".into()],
            size: 1_984_000,
            shared_size: -1,
            containers: -1,
            ..Default::default()
        };
        let r = rows(&img, true);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["ID"], "3d481f69632e");
        assert_eq!(r[0]["Repository"], "busybox");
        assert_eq!(r[1]["Tag"], "v1");
        assert_eq!(r[0]["Size"], "1.98MB");
        assert_eq!(r[0]["VirtualSize"], "1.984MB");
        assert_eq!(r[0]["Containers"], "N/A");
        let dangling = ImageSummary {
            id: "sha256:abc".into(),
            ..Default::default()
        };
        assert_eq!(rows(&dangling, true)[0]["Repository"], "<none>");
    }
}
