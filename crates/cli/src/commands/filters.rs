//! `--filter key=value` flags, gathered into the API's `filters` map.

use anyhow::{bail, Result};
use std::collections::HashMap;

/// Parses repeated `--filter k=v` flags into `{k: [v, ...]}` (docker's `filters.Args`).
pub fn parse_filters(flags: &[String]) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for f in flags {
        let Some((k, v)) = f.split_once('=') else {
            bail!("bad format of filter (expected name=value)");
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() {
            bail!("bad format of filter (expected name=value)");
        }
        out.entry(k).or_default().push(v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f = parse_filters(&[
            "status=exited".into(),
            "label=a=b".into(),
            "status=created".into(),
        ])
        .unwrap();
        assert_eq!(f["status"], vec!["exited", "created"]);
        assert_eq!(f["label"], vec!["a=b"]);
        assert!(parse_filters(&["nothing".into()]).is_err());
    }
}
