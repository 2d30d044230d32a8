//! `berth ps` (`container ls`): list containers with docker's columns and `--format` fields.

use crate::client::daemon_err;
use crate::commands::filters::parse_filters;
use crate::format::table::{print_list, ListSpec};
use crate::format::template::ListFormat;
use crate::format::{short_id, units};
use anyhow::Result;
use bollard::models::{ContainerSummary, PortSummary};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use clap::Args;
use serde_json::json;

/// `berth ps [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i32,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("State", "STATE"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
const SIZE_TABLE: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";

/// docker's `Ellipsis`: cut to `max` characters, the last one replaced by `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote` for the characters that occur in commands.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// docker's `DisplayablePorts`, without range folding: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn display_ports(ports: &[PortSummary]) -> String {
    let mut items: Vec<(String, u16)> = ports
        .iter()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            let s = match p.public_port {
                Some(public) if public != 0 => {
                    let ip = p.ip.clone().unwrap_or_default();
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip
                    };
                    format!("{ip}:{public}->{}/{proto}", p.private_port)
                }
                _ => format!("{}/{proto}", p.private_port),
            };
            (s, p.private_port)
        })
        .collect();
    items.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    items.dedup();
    items
        .into_iter()
        .map(|(s, _)| s)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The object `--format` templates see for one container (docker's `ContainerContext`).
pub fn row(c: &ContainerSummary, trunc: bool) -> serde_json::Value {
    let id = c.id.clone().unwrap_or_default();
    let command = c.command.clone().unwrap_or_default();
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.created.unwrap_or(0);
    let mut names: Vec<String> = c
        .names
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    if trunc {
        names.retain(|n| !n.contains('/'));
    }
    let mut labels: Vec<String> = c
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let mounts = c.mounts.clone().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = m
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| m.source.clone())
                .unwrap_or_default();
            if trunc {
                ellipsis(&n, 15)
            } else {
                n
            }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let mut networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let size = match (c.size_rw, c.size_root_fs) {
        (None, None) => String::new(),
        (rw, root) => {
            let rw = units::human_size(rw.unwrap_or(0));
            match root {
                Some(r) if r > 0 => format!("{rw} (virtual {})", units::human_size(r)),
                _ => rw,
            }
        }
    };
    let image = c.image.clone().unwrap_or_default();
    let image = if trunc && image.starts_with("sha256:") {
        short_id(&image)
    } else {
        image
    };
    json!({
        "ID": if trunc { short_id(&id) } else { id },
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": units::go_time_string(created),
        "RunningFor": units::time_ago(created),
        "Ports": display_ports(c.ports.as_deref().unwrap_or(&[])),
        "State": c.state.map(|s| s.to_string()).unwrap_or_default(),
        "Status": c.status.clone().unwrap_or_default(),
        "Size": size,
        "Names": names.join(","),
        "Labels": labels.join(","),
        "Mounts": mount_names.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
    })
}

/// Runs `berth ps`.
pub async fn run(docker: &Docker, args: PsArgs) -> Result<()> {
    let filters = parse_filters(&args.filter)?;
    let limit = if args.latest { 1 } else { args.last };
    let mut b = ListContainersOptionsBuilder::default()
        .all(args.all || limit > 0)
        .size(args.size)
        .filters(&filters);
    if limit > 0 {
        b = b.limit(limit);
    }
    let list = docker
        .list_containers(Some(b.build()))
        .await
        .map_err(daemon_err)?;
    let trunc = !args.no_trunc;
    let rows: Vec<serde_json::Value> = list.iter().map(|c| row(c, trunc)).collect();
    let format = if args.quiet {
        ListFormat::Raw("{{.ID}}".into())
    } else {
        ListFormat::parse(args.format.as_deref())
    };
    let spec = ListSpec {
        default_table: if args.size { SIZE_TABLE } else { DEFAULT_TABLE },
        headers: HEADERS,
    };
    print_list(&format, &spec, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_column() {
        assert_eq!(ellipsis("echo hello", 20), "echo hello");
        assert_eq!(
            ellipsis("sh -c 'while true; do sleep 1; done'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(go_quote("sh -c \"x\""), "\"sh -c \\\"x\\\"\"");
    }

    #[test]
    fn ports() {
        let p = vec![
            PortSummary {
                ip: Some("0.0.0.0".into()),
                private_port: 80,
                public_port: Some(8080),
                typ: Some(bollard::models::PortSummaryTypeEnum::TCP),
            },
            PortSummary {
                ip: None,
                private_port: 53,
                public_port: None,
                typ: Some(bollard::models::PortSummaryTypeEnum::UDP),
            },
        ];
        assert_eq!(display_ports(&p), "53/udp, 0.0.0.0:8080->80/tcp");
    }

    #[test]
    fn row_fields() {
        let c = ContainerSummary {
            id: Some("0123456789abcdef0123".into()),
            names: Some(vec!["/web".into()]),
            image: Some("busybox".into()),
            command: Some("echo hello".into()),
            created: Some(0),
            status: Some("Exited (0) 2 minutes ago".into()),
            ..Default::default()
        };
        let r = row(&c, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"echo hello\"");
        assert_eq!(r["Size"], "");
    }
}
