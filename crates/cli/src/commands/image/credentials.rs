//! Docker's client-side credential store: `~/.docker/config.json` (or `$DOCKER_CONFIG`),
//! `auths` keyed by registry (`https://index.docker.io/v1/` for Docker Hub) with
//! `base64(user:password)`. Written with mode 0600 through a temporary file and a rename;
//! keys other than the one being changed are preserved. Where the config names a credential
//! helper (`credHelpers` for the registry, else `credsStore`), the secret goes to the helper
//! and `auths` keeps an empty entry for the registry, as the docker CLI does.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde_json::{json, Map, Value};

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// The config file path.
pub fn config_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow!("cannot find the docker config: HOME is not set"))?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The registry a reference names: the first path component when it looks like a host
/// (has `.` or `:`, or is `localhost`), else Docker Hub (`docker.io`).
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((host, _)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            host.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The `auths` key of a registry.
pub fn key_of(registry: &str) -> String {
    let r = registry
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let r = r.split('/').next().unwrap_or(r);
    match r {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.into(),
        other => other.to_string(),
    }
}

fn read() -> Result<Map<String, Value>> {
    let path = config_path()?;
    match std::fs::read(&path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes)
            .with_context(|| format!("reading {}", path.display()))?
        {
            Value::Object(m) => Ok(m),
            _ => Err(anyhow!("{} is not a JSON object", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write(config: &Map<String, Value>) -> Result<()> {
    let path = config_path()?;
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("bad config path {}", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let text = serde_json::to_string_pretty(config)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Where [`store`] put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// base64 in this config file (unencrypted)
    File(PathBuf),
    /// with this credential helper
    Helper(String),
}

/// Store `user`/`password` for `registry`.
pub fn store(registry: &str, user: &str, password: &str) -> Result<Stored> {
    let mut config = read()?;
    let key = key_of(registry);
    let helper = super::cred_helpers::helper_for(&config, &key);
    if let Some(h) = &helper {
        super::cred_helpers::store(h, &key, user, password)?;
    }
    let auths = config
        .entry("auths")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow!("\"auths\" in the docker config is not an object"))?;
    match helper {
        Some(h) => {
            auths.insert(key, json!({}));
            write(&config)?;
            Ok(Stored::Helper(h))
        }
        None => {
            let auth =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            auths.insert(key, json!({ "auth": auth }));
            write(&config)?;
            Ok(Stored::File(config_path()?))
        }
    }
}

/// Remove the credentials of `registry`; false when there were none.
pub fn erase(registry: &str) -> Result<bool> {
    let mut config = read()?;
    let key = key_of(registry);
    let helper = super::cred_helpers::helper_for(&config, &key);
    if let Some(h) = &helper {
        super::cred_helpers::erase(h, &key)?;
    }
    let removed = helper.is_some()
        | config
            .get_mut("auths")
            .and_then(Value::as_object_mut)
            .and_then(|a| a.remove(&key_of(registry)))
            .is_some();
    if removed {
        write(&config)?;
    }
    Ok(removed)
}

/// The stored credentials of `registry`, for `X-Registry-Auth`.
pub fn lookup(registry: &str) -> Option<DockerCredentials> {
    let config = read().ok()?;
    let key = key_of(registry);
    if let Some(helper) = super::cred_helpers::helper_for(&config, &key) {
        return match super::cred_helpers::get(&helper, &key) {
            Ok(Some((user, secret))) => Some(helper_credentials(&key, user, secret)),
            Ok(None) => None,
            Err(e) => {
                eprintln!("{e}");
                None
            }
        };
    }
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.get(&key).or_else(|| {
        // entries written with a scheme (`http://host:5000`) still match
        auths.iter().find(|(k, _)| key_of(k) == key).map(|(_, v)| v)
    })?;
    let encoded = entry.get("auth").and_then(Value::as_str).unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (user, pass) = decoded.split_once(':').unwrap_or(("", ""));
    let identity = entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .map(str::to_string);
    if user.is_empty() && identity.is_none() {
        return None;
    }
    Some(DockerCredentials {
        username: Some(user.to_string()),
        password: Some(pass.to_string()),
        serveraddress: Some(key),
        identitytoken: identity,
        ..Default::default()
    })
}

/// Credentials from a helper: the user `<token>` means the secret is an identity token.
fn helper_credentials(key: &str, user: String, secret: String) -> DockerCredentials {
    if user == "<token>" {
        return DockerCredentials {
            identitytoken: Some(secret),
            serveraddress: Some(key.to_string()),
            ..Default::default()
        };
    }
    DockerCredentials {
        username: Some(user),
        password: Some(secret),
        serveraddress: Some(key.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_keys() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("user/app"), "docker.io");
        assert_eq!(registry_of("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_of("quay.io/x/y"), "quay.io");
        assert_eq!(key_of("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(key_of("http://127.0.0.1:5000/"), "127.0.0.1:5000");
    }
}
