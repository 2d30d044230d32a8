//! `berth system df`: disk usage of images, containers, volumes (and the empty build cache),
//! from `GET /system/df`, printed as docker 20.10 prints it.

use anyhow::Result;
use clap::Args;
use serde_json::{json, Value};

use crate::format::table::{print_list, ListSpec};
use crate::format::template::ListFormat;
use crate::format::{short_id, units};

/// `berth system df [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Pretty-print usage using a Go template
    #[arg(long)]
    pub format: Option<String>,
}

const SUMMARY: ListSpec = ListSpec {
    default_table: "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    headers: &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ],
};

const IMAGES: ListSpec = ListSpec {
    default_table: "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
    headers: &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
        ("Containers", "CONTAINERS"),
    ],
};

const CONTAINERS: ListSpec = ListSpec {
    default_table: "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
    headers: &[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Size", "SIZE"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("Names", "NAMES"),
    ],
};

const VOLUMES: ListSpec = ListSpec {
    default_table: "{{.Name}}\t{{.Links}}\t{{.Size}}",
    headers: &[
        ("Name", "VOLUME NAME"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ],
};

const BUILD_CACHE_HEADER: &str =
    "CACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED";

/// Runs `berth system df`.
pub async fn run(host: &str, args: DfArgs) -> Result<()> {
    // the 1.41 shape, not what bollard's models (API 1.52) describe
    let usage = crate::raw_http::request(host, "GET", "/system/df", &[], None)
        .await?
        .json()?;
    if args.verbose {
        return print_verbose(&usage);
    }
    let format = ListFormat::parse(args.format.as_deref());
    print_list(&format, &SUMMARY, &summary_rows(&usage))
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn list(usage: &Value, key: &str) -> Vec<Value> {
    usage[key].as_array().cloned().unwrap_or_default()
}

/// `size (pct%)` as docker shows reclaimable space; no percentage when the total is 0.
fn reclaimable(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!(
            "{} ({}%)",
            human_size4(reclaimable),
            reclaimable * 100 / total
        )
    } else {
        human_size4(reclaimable)
    }
}

/// The four summary rows, with docker's arithmetic (cli/command/formatter/disk_usage.go).
fn summary_rows(usage: &Value) -> Vec<Value> {
    let images = list(usage, "Images");
    let layers = int(&usage["LayersSize"]);
    let used: i64 = images
        .iter()
        .filter(|i| int(&i["Containers"]) != 0 && int(&i["SharedSize"]) >= 0)
        .map(|i| int(&i["Size"]) - int(&i["SharedSize"]))
        .sum();
    let containers = list(usage, "Containers");
    let active = |c: &Value| {
        let s = c["State"].as_str().unwrap_or("");
        s.contains("running") || s.contains("paused") || s.contains("restarting")
    };
    let rw: i64 = containers.iter().map(|c| int(&c["SizeRw"])).sum();
    let rw_free: i64 = containers
        .iter()
        .filter(|c| !active(c))
        .map(|c| int(&c["SizeRw"]))
        .sum();
    let volumes = list(usage, "Volumes");
    let vsize = |v: &Value| int(&v["UsageData"]["Size"]).max(0);
    let vrefs = |v: &Value| int(&v["UsageData"]["RefCount"]);
    let vol_total: i64 = volumes.iter().map(vsize).sum();
    let vol_free: i64 = volumes.iter().filter(|v| vrefs(v) == 0).map(vsize).sum();
    let row = |t: &str, total: usize, active: usize, size: i64, reclaim: String| {
        json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(),
               "Size": human_size4(size), "Reclaimable": reclaim})
    };
    vec![
        row(
            "Images",
            images.len(),
            images.iter().filter(|i| int(&i["Containers"]) > 0).count(),
            layers,
            reclaimable(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| active(c)).count(),
            rw,
            reclaimable(rw_free, rw),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes.iter().filter(|v| vrefs(v) > 0).count(),
            vol_total,
            reclaimable(vol_free, vol_total),
        ),
        row("Build Cache", 0, 0, 0, human_size4(0)),
    ]
}

fn print_verbose(usage: &Value) -> Result<()> {
    let table = ListFormat::DefaultTable;
    println!("Images space usage:\n");
    print_list(&table, &IMAGES, &image_rows(usage))?;
    println!("\nContainers space usage:\n");
    print_list(&table, &CONTAINERS, &container_rows(usage))?;
    println!("\nLocal Volumes space usage:\n");
    print_list(&table, &VOLUMES, &volume_rows(usage))?;
    println!("\nBuild cache usage: {}\n", human_size4(0));
    println!("{BUILD_CACHE_HEADER}");
    Ok(())
}

/// One row per tag, `<none>` for untagged images (as `docker images`).
fn image_rows(usage: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for image in list(usage, "Images") {
        let size = int(&image["Size"]);
        let shared = int(&image["SharedSize"]);
        let na = |v: i64, f: fn(i64) -> String| if v < 0 { "N/A".into() } else { f(v) };
        let mut tags: Vec<(String, String)> = image["RepoTags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "<none>:<none>")
                    .map(|t| match t.rsplit_once(':') {
                        Some((r, tag)) if !tag.contains('/') => (r.to_owned(), tag.to_owned()),
                        _ => (t.to_owned(), "<none>".to_owned()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        if tags.is_empty() {
            tags.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in tags {
            rows.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": short_id(image["Id"].as_str().unwrap_or("")),
                "CreatedSince": units::time_ago(int(&image["Created"])),
                "Size": units::human_size(size),
                "SharedSize": na(shared, human_size4),
                "UniqueSize": if shared < 0 { "N/A".to_owned() } else { human_size4(size - shared) },
                "Containers": int(&image["Containers"]).to_string(),
            }));
        }
    }
    rows
}

fn container_rows(usage: &Value) -> Vec<Value> {
    list(usage, "Containers")
        .iter()
        .map(|c| {
            let command = c["Command"].as_str().unwrap_or("");
            let names: Vec<&str> = c["Names"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(Value::as_str)
                        .map(|n| n.trim_start_matches('/'))
                        .collect()
                })
                .unwrap_or_default();
            let local_volumes = c["Mounts"].as_array().map_or(0, |m| {
                m.iter()
                    .filter(|m| m["Driver"].as_str() == Some("local"))
                    .count()
            });
            json!({
                "ID": short_id(c["Id"].as_str().unwrap_or("")),
                "Image": c["Image"].as_str().unwrap_or(""),
                // Go's strconv.Quote of the command cut to 20 columns
                "Command": serde_json::to_string(&ellipsis(command, 20)).unwrap_or_default(),
                "LocalVolumes": local_volumes.to_string(),
                // docker drops the virtual size in this table
                "Size": units::human_size(int(&c["SizeRw"])),
                "RunningFor": units::time_ago(int(&c["Created"])),
                "Status": c["Status"].as_str().unwrap_or(""),
                "Names": names.join(","),
            })
        })
        .collect()
}

fn volume_rows(usage: &Value) -> Vec<Value> {
    list(usage, "Volumes")
        .iter()
        .map(|v| {
            let size = int(&v["UsageData"]["Size"]);
            json!({
                "Name": v["Name"].as_str().unwrap_or(""),
                "Links": int(&v["UsageData"]["RefCount"]).to_string(),
                "Size": if size < 0 { "N/A".to_owned() } else { human_size4(size) },
            })
        })
        .collect()
}

/// docker's `formatter.Ellipsis`: at most `width` characters, the last one `…` when cut.
fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// go-units' `HumanSize` (4 significant digits, decimal units): `1984229` -> `1.984MB`.
pub fn human_size4(size: i64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if v == 0.0 {
        return format!("0{}", UNITS[i]);
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (4 - digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_reclaimable_match_docker() {
        assert_eq!(human_size4(1984229), "1.984MB");
        assert_eq!(human_size4(4), "4B");
        assert_eq!(human_size4(0), "0B");
        assert_eq!(reclaimable(4, 4), "4B (100%)");
        assert_eq!(reclaimable(0, 0), "0B");
        assert_eq!(ellipsis("sleep 300", 20), "sleep 300");
        assert_eq!(
            ellipsis("abcdefghijklmnopqrstuvwxyz", 20).chars().count(),
            20
        );
    }

    #[test]
    fn summary_counts_active_and_reclaimable() {
        let usage = json!({
            "LayersSize": 1000,
            "Images": [{"Size": 1000, "SharedSize": 0, "Containers": 1}],
            "Containers": [{"State": "running", "SizeRw": 30}, {"State": "exited", "SizeRw": 10}],
            "Volumes": [{"UsageData": {"Size": 50, "RefCount": 0}}],
        });
        let rows = summary_rows(&usage);
        assert_eq!(rows[0]["Reclaimable"], "0B (0%)");
        assert_eq!(rows[1]["Active"], "1");
        assert_eq!(rows[1]["Reclaimable"], "10B (25%)");
        assert_eq!(rows[2]["Reclaimable"], "50B (100%)");
    }
}
