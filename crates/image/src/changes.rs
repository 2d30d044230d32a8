//! `docker import --change` / `docker commit --change` instructions applied to an image config.
//!
//! Supported: CMD, ENTRYPOINT (JSON exec form or shell form -> `["/bin/sh","-c",...]`), ENV,
//! LABEL (`k=v ...` or legacy `k v`), EXPOSE (`80`, `80/udp`, ranges), USER, VOLUME (JSON or
//! words), WORKDIR (relative paths join the previous one), STOPSIGNAL. ONBUILD and HEALTHCHECK are
//! accepted and ignored (not representable in an OCI config). Anything else is an error.
//! Variable substitution (`$VAR`) is not performed.

use std::collections::HashMap;

use oci_spec::image::Config;

use crate::error::{Error, Result};

/// Apply `changes` in order to `config`.
pub fn apply_changes(config: &mut Config, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        for line in change.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            apply_one(config, line, &mut cmd_set)?;
        }
    }
    Ok(())
}

fn apply_one(config: &mut Config, line: &str, cmd_set: &mut bool) -> Result<()> {
    let invalid = |reason: String| Error::InvalidChange {
        change: line.to_string(),
        reason,
    };
    let (instr, rest) = match line.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (line, ""),
    };
    let instr = instr.to_ascii_uppercase();
    match instr.as_str() {
        "CMD" => {
            config.set_cmd(Some(command_form(rest)));
            *cmd_set = true;
        }
        "ENTRYPOINT" => {
            config.set_entrypoint(Some(command_form(rest)));
            // As in a Dockerfile: ENTRYPOINT resets a CMD that was not set alongside it.
            if !*cmd_set {
                config.set_cmd(None);
            }
        }
        "ENV" => {
            let pairs = key_values(rest).map_err(invalid)?;
            let mut env = config.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                let entry = format!("{k}={v}");
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str()))
                {
                    Some(slot) => *slot = entry,
                    None => env.push(entry),
                }
            }
            config.set_env(Some(env));
        }
        "LABEL" => {
            let pairs = key_values(rest).map_err(invalid)?;
            let mut labels: HashMap<String, String> = config.labels().clone().unwrap_or_default();
            labels.extend(pairs);
            config.set_labels(Some(labels));
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            let words = split_words(rest).map_err(invalid)?;
            if words.is_empty() {
                return Err(invalid("EXPOSE requires at least one argument".into()));
            }
            for w in words {
                for p in port_spec(&w).map_err(invalid)? {
                    if !ports.contains(&p) {
                        ports.push(p);
                    }
                }
            }
            config.set_exposed_ports(Some(ports));
        }
        "USER" => {
            if rest.is_empty() {
                return Err(invalid("USER requires exactly one argument".into()));
            }
            config.set_user(Some(rest.to_string()));
        }
        "VOLUME" => {
            let vols = match json_array(rest) {
                Some(v) => v,
                None => split_words(rest).map_err(invalid)?,
            };
            if vols.is_empty() || vols.iter().any(|v| v.trim().is_empty()) {
                return Err(invalid(
                    "VOLUME specified can not be an empty string".into(),
                ));
            }
            let mut all = config.volumes().clone().unwrap_or_default();
            for v in vols {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
            config.set_volumes(Some(all));
        }
        "WORKDIR" => {
            if rest.is_empty() {
                return Err(invalid("WORKDIR requires exactly one argument".into()));
            }
            let base = config.working_dir().clone().unwrap_or_else(|| "/".into());
            let joined = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("{base}/{rest}")
            };
            config.set_working_dir(Some(clean_abs(&joined)));
        }
        "STOPSIGNAL" => {
            let ok = !rest.is_empty()
                && (rest.parse::<u32>().is_ok()
                    || rest
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-'));
            if !ok {
                return Err(invalid(format!("invalid signal: {rest}")));
            }
            config.set_stop_signal(Some(rest.to_string()));
        }
        "ONBUILD" | "HEALTHCHECK" => {
            tracing::warn!(change = %line, "change instruction ignored");
        }
        other => {
            return Err(invalid(format!("{other} is not a valid change command")));
        }
    }
    Ok(())
}

/// JSON exec form if `s` is a JSON array of strings, else shell form.
fn command_form(s: &str) -> Vec<String> {
    match json_array(s) {
        Some(v) => v,
        None => vec!["/bin/sh".into(), "-c".into(), s.to_string()],
    }
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if !s.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// Docker's name/value parsing: `k=v k2="v 2"` or the legacy `k value with spaces`.
fn key_values(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let words = split_words(s)?;
    let Some(first) = words.first() else {
        return Err("requires at least one argument".into());
    };
    if !first.contains('=') {
        // legacy form: first word is the key, the rest of the line the value
        let (k, v) = match s.split_once(char::is_whitespace) {
            Some((k, v)) => (k.to_string(), unquote(v.trim())?),
            None => return Err(format!("{first} must have two arguments")),
        };
        return Ok(vec![(k, v)]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                return Err(format!(
                    "key-value pair {w:?} must be of the form name=value"
                ))
            }
        }
    }
    Ok(out)
}

fn unquote(s: &str) -> std::result::Result<String, String> {
    Ok(split_words(s)?.join(" "))
}

/// Split on unquoted whitespace, removing quotes; backslash escapes outside single quotes.
fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, '"') | (None, '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            (_, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `80` -> `80/tcp`; `80/udp`; `8000-8002/tcp` -> three ports.
fn port_spec(w: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = match w.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (w, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let parse = |p: &str| -> std::result::Result<u16, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("invalid port: {p}")),
        }
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let p = parse(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("invalid port range: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Lexically clean an absolute path.
fn clean_abs(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<Config> {
        let mut c = Config::default();
        let v: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &v)?;
        Ok(c)
    }

    #[test]
    fn cmd_forms() -> Result<()> {
        let c = apply(&[r#"CMD ["sh"]"#])?;
        assert_eq!(c.cmd().as_deref(), Some(&["sh".to_string()][..]));
        let c = apply(&["CMD echo hi"])?;
        assert_eq!(
            c.cmd().clone(),
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        let c = apply(&[r#"ENTRYPOINT ["/bin/app", "-x"]"#, "cmd [\"a\"]"])?;
        assert_eq!(
            c.entrypoint().clone(),
            Some(vec!["/bin/app".into(), "-x".into()])
        );
        assert_eq!(c.cmd().clone(), Some(vec!["a".into()]));
        Ok(())
    }

    #[test]
    fn env_expose_workdir_user_label_volume() -> Result<()> {
        let c = apply(&[
            "ENV A=b C=d",
            "ENV A=z",
            r#"ENV E="hello world""#,
            "ENV LEGACY some value",
            "EXPOSE 80/tcp 53/udp 8000-8001",
            "WORKDIR /x",
            "WORKDIR y/../z",
            "USER nobody",
            r#"LABEL a=1 "b c"=2"#,
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /more",
            "STOPSIGNAL SIGKILL",
            "ONBUILD RUN true",
        ])?;
        assert_eq!(
            c.env().clone(),
            Some(vec![
                "A=z".into(),
                "C=d".into(),
                "E=hello world".into(),
                "LEGACY=some value".into()
            ])
        );
        assert_eq!(
            c.exposed_ports().clone(),
            Some(vec![
                "80/tcp".into(),
                "53/udp".into(),
                "8000/tcp".into(),
                "8001/tcp".into()
            ])
        );
        assert_eq!(c.working_dir().as_deref(), Some("/x/z"));
        assert_eq!(c.user().as_deref(), Some("nobody"));
        let labels = c.labels().clone().unwrap_or_default();
        assert_eq!(labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(labels.get("b c").map(String::as_str), Some("2"));
        assert_eq!(
            c.volumes().clone(),
            Some(vec!["/data".into(), "/logs".into(), "/more".into()])
        );
        assert_eq!(c.stop_signal().as_deref(), Some("SIGKILL"));
        Ok(())
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "RUN true",
            "FROM x",
            "EXPOSE 99999",
            "EXPOSE 80/xyz",
            "ENV",
            "USER",
            "WORKDIR",
            "LABEL =x",
        ] {
            assert!(
                matches!(apply(&[bad]), Err(Error::InvalidChange { .. })),
                "{bad} accepted"
            );
        }
    }
}
