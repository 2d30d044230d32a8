//! Docker credential helpers: `credsStore` (one helper for every registry) and `credHelpers`
//! (a helper per registry host) in the docker config. A helper is the program
//! `docker-credential-<name>` on PATH, spoken to as the docker CLI does:
//! `store` reads `{"ServerURL","Username","Secret"}` on stdin, `get` reads the server URL and
//! prints that JSON (or fails with "credentials not found"), `erase` reads the server URL.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Map, Value};

use super::credentials::DOCKER_HUB_KEY;

/// The helper that holds the credentials of the `auths` key `key`, if the config names one.
pub fn helper_for(config: &Map<String, Value>, key: &str) -> Option<String> {
    // credHelpers is keyed by host name: Docker Hub's key is `index.docker.io`
    let host = if key == DOCKER_HUB_KEY {
        "index.docker.io"
    } else {
        key
    };
    config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|h| h.get(host))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn run(helper: &str, action: &str, input: &[u8]) -> Result<(bool, String)> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow!("error getting credentials - err: exec: {program:?}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // a helper that exits without reading its input is its own business
        let _ = stdin.write_all(input);
    }
    let out = child.wait_with_output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    }
    Ok((out.status.success(), text))
}

/// `get`: the username and secret for `server`, `None` when the helper has none.
pub fn get(helper: &str, server: &str) -> Result<Option<(String, String)>> {
    let (ok, text) = run(helper, "get", server.as_bytes())?;
    if !ok {
        if text.contains("credentials not found") {
            return Ok(None);
        }
        bail!("error getting credentials - err: {helper}: {text}");
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("error getting credentials - err: {helper}: bad reply: {e}"))?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (user, secret) = (field("Username"), field("Secret"));
    if user.is_empty() && secret.is_empty() {
        return Ok(None);
    }
    Ok(Some((user, secret)))
}

/// `store`: save `user`/`secret` for `server`.
pub fn store(helper: &str, server: &str, user: &str, secret: &str) -> Result<()> {
    let body = json!({"ServerURL": server, "Username": user, "Secret": secret}).to_string();
    let (ok, text) = run(helper, "store", body.as_bytes())?;
    if !ok {
        bail!("error storing credentials - err: {helper}: {text}");
    }
    Ok(())
}

/// `erase`: forget the credentials of `server` (a helper without them is not an error).
pub fn erase(helper: &str, server: &str) -> Result<()> {
    let (ok, text) = run(helper, "erase", server.as_bytes())?;
    if !ok && !text.contains("credentials not found") {
        bail!("error erasing credentials - err: {helper}: {text}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_registry_helper_wins_over_the_store() {
        let config: Map<String, Value> = serde_json::from_value(json!({
            "credsStore": "desktop",
            "credHelpers": {"index.docker.io": "hub", "quay.io": "quay"}
        }))
        .unwrap();
        assert_eq!(helper_for(&config, DOCKER_HUB_KEY).as_deref(), Some("hub"));
        assert_eq!(helper_for(&config, "quay.io").as_deref(), Some("quay"));
        assert_eq!(
            helper_for(&config, "127.0.0.1:5000").as_deref(),
            Some("desktop")
        );
        assert_eq!(helper_for(&Map::new(), "quay.io"), None);
    }
}
