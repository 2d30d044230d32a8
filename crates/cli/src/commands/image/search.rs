//! `berth search`: a registry's catalog through `GET /images/search`.

use std::io::Write;

use anyhow::Result;
use base64::Engine as _;
use bollard::models::ImageSearchResponseItem;
use clap::Args;

use super::credentials;
use crate::error::exit;

/// `berth search [OPTIONS] TERM`
#[derive(Args, Debug, Clone)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars=N, is-official=true|false)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Max number of search results
    #[arg(long)]
    pub limit: Option<i32>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Pretty-print with a Go template ({{.Name}}, {{.Description}}, {{.StarCount}}, {{.IsOfficial}})
    #[arg(long)]
    pub format: Option<String>,
    /// `host:port/term` searches that registry's catalog; a bare term Docker Hub
    pub term: String,
}

/// Runs `berth search`: `GET /images/search` with the stored credentials of the registry
/// searched in `X-Registry-Auth` (bollard's call takes none), as `docker search` sends them.
pub async fn run(host: &str, args: SearchArgs) -> Result<()> {
    let mut filters = std::collections::BTreeMap::<String, Vec<String>>::new();
    for f in &args.filter {
        let Some((k, v)) = f.split_once('=') else {
            eprintln!("bad format of filter (expected name=value)");
            return Err(exit(1));
        };
        filters
            .entry(k.to_string())
            .or_default()
            .push(v.to_string());
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("term", &args.term);
    if let Some(limit) = args.limit {
        query.append_pair("limit", &limit.to_string());
    }
    if !filters.is_empty() {
        query.append_pair("filters", &serde_json::to_string(&filters)?);
    }
    let mut headers = Vec::new();
    if let Some(creds) = credentials::lookup(&credentials::registry_of(&args.term)) {
        let json = serde_json::to_vec(&creds)?;
        headers.push((
            "X-Registry-Auth",
            base64::engine::general_purpose::URL_SAFE.encode(json),
        ));
    }
    let path = format!("/images/search?{}", query.finish());
    let reply = crate::raw_http::request(host, "GET", &path, &headers, None).await?;
    let rows: Vec<ImageSearchResponseItem> = match reply.json() {
        Ok(value) => serde_json::from_value(value)?,
        Err(e) => {
            eprintln!("{e}");
            return Err(exit(1));
        }
    };
    let mut out = std::io::stdout().lock();
    if let Some(fmt) = &args.format {
        for r in &rows {
            let line = fmt
                .replace("{{.Name}}", r.name.as_deref().unwrap_or(""))
                .replace("{{.Description}}", r.description.as_deref().unwrap_or(""))
                .replace("{{.StarCount}}", &r.star_count.unwrap_or(0).to_string())
                .replace(
                    "{{.IsOfficial}}",
                    if r.is_official.unwrap_or(false) {
                        "true"
                    } else {
                        "false"
                    },
                )
                .replace("\\t", "\t");
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    let mut tw = tabwriter::TabWriter::new(Vec::new()).padding(3);
    writeln!(tw, "NAME\tDESCRIPTION\tSTARS\tOFFICIAL")?;
    for r in &rows {
        let mut desc = r.description.clone().unwrap_or_default().replace('\n', " ");
        if !args.no_trunc && desc.chars().count() > 45 {
            desc = desc.chars().take(44).collect::<String>() + "…";
        }
        let official = if r.is_official.unwrap_or(false) {
            "[OK]"
        } else {
            ""
        };
        writeln!(
            tw,
            "{}\t{}\t{}\t{}",
            r.name.as_deref().unwrap_or(""),
            desc,
            r.star_count.unwrap_or(0),
            official
        )?;
    }
    tw.flush()?;
    out.write_all(&tw.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
    Ok(())
}
