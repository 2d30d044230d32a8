//! Registry wire formats: the `X-Registry-Auth` header and `POST /auth` body become
//! [`Credentials`]; pull/push progress becomes Docker's JSON progress messages.

use base64::Engine as _;
use berth_image::pull::PullProgress;
use berth_image::push::PushProgress;
use berth_image::registry::Credentials;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;

/// Docker's AuthConfig (`X-Registry-Auth`, `POST /auth`).
/// Clients send absent fields as `null` (bollard does): read them as empty.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
pub struct AuthConfig {
    #[serde(default, deserialize_with = "nullable")]
    pub username: String,
    #[serde(default, deserialize_with = "nullable")]
    pub password: String,
    /// base64("user:password"), the form config.json stores
    #[serde(default, deserialize_with = "nullable")]
    pub auth: String,
    #[serde(default, deserialize_with = "nullable", rename = "serveraddress")]
    pub server_address: String,
    #[serde(default, deserialize_with = "nullable", rename = "identitytoken")]
    pub identity_token: String,
    #[serde(default, deserialize_with = "nullable", rename = "registrytoken")]
    pub registry_token: String,
}

impl AuthConfig {
    /// The credentials it carries (`auth` filled in from user/password when only it is set).
    pub fn credentials(&self) -> Result<Credentials, ApiError> {
        let (mut username, mut password) = (self.username.clone(), self.password.clone());
        if username.is_empty() && !self.auth.is_empty() {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(self.auth.trim())
                .map_err(|e| ApiError::bad_request(format!("invalid auth field: {e}")))?;
            let text = String::from_utf8(raw)
                .map_err(|_| ApiError::bad_request("invalid auth field: not UTF-8"))?;
            let (u, p) = text.split_once(':').ok_or_else(|| {
                ApiError::bad_request("invalid auth field: expected user:password")
            })?;
            username = u.to_string();
            password = p.to_string();
        }
        Ok(Credentials {
            username,
            password,
            identity_token: self.identity_token.clone(),
            registry_token: self.registry_token.clone(),
        })
    }
}

/// Decode `X-Registry-Auth` (base64url of the AuthConfig JSON; Docker clients send it with
/// or without padding, and some send standard base64). Absent or `{}` means anonymous.
pub fn registry_auth_header(value: Option<&str>) -> Result<Credentials, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Credentials::default());
    };
    let trimmed = v.trim_end_matches('=');
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Credentials::default());
    }
    let config: AuthConfig = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::bad_request(format!("invalid X-Registry-Auth header: {e}")))?;
    config.credentials()
}

/// Docker's text progress bar (`[=====>      ]  1.2MB/3.4MB`).
fn bar(current: u64, total: u64) -> String {
    if total == 0 {
        return String::new();
    }
    let width = 50usize;
    let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let mut s = String::from("[");
    for i in 0..width {
        s.push(if i < filled {
            '='
        } else if i == filled {
            '>'
        } else {
            ' '
        });
    }
    s.push(']');
    format!("{s} {}/{}", human(current), human(total))
}

fn human(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.3}GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.4}MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.4}kB", n / 1e3)
    } else {
        format!("{n}B")
    }
}

fn progress_line(id: &str, status: &str, current: u64, total: u64) -> Value {
    if total > 0 {
        json!({"status": status, "progressDetail": {"current": current, "total": total},
               "progress": bar(current, total), "id": id})
    } else {
        json!({"status": status, "progressDetail": {}, "id": id})
    }
}

/// One pull progress message.
pub fn pull_progress(p: &PullProgress) -> Value {
    match p {
        PullProgress::PullingFrom { id, repository } => {
            json!({"status": format!("Pulling from {repository}"), "id": id})
        }
        PullProgress::Layer {
            id,
            status,
            current,
            total,
        } => progress_line(id, status.text(), *current, *total),
        PullProgress::Digest(d) => json!({"status": format!("Digest: {d}")}),
        PullProgress::Status(s) => json!({"status": format!("Status: {s}")}),
    }
}

/// The messages of one push progress event. The tag line is a status message followed by a
/// separate `aux` message, as dockerd sends them (the docker CLI consumes `aux` messages
/// without printing them).
pub fn push_progress(p: &PushProgress) -> Vec<Value> {
    match p {
        PushProgress::RefersTo(s) => vec![json!({"status": s})],
        PushProgress::Layer {
            id,
            status,
            current,
            total,
        } => vec![progress_line(id, status, *current, *total)],
        PushProgress::Tagged { tag, digest, size } => vec![
            json!({"status": format!("{tag}: digest: {digest} size: {size}")}),
            json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}}),
        ],
    }
}

/// One `Importing` message of an import from a URL (no id, as dockerd sends it; without a
/// known length the progress text is the byte count alone).
pub fn import_progress(current: u64, total: u64) -> Value {
    if total > 0 {
        json!({"status": "Importing", "progressDetail": {"current": current, "total": total},
               "progress": bar(current, total)})
    } else {
        json!({"status": "Importing", "progressDetail": {"current": current},
               "progress": human(current)})
    }
}

/// A mid-stream error message.
pub fn stream_error(message: &str) -> Value {
    json!({"errorDetail": {"message": message}, "error": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_registry_auth() -> Result<(), String> {
        let json = r#"{"username":"u","password":"p:w","serveraddress":"localhost:5000"}"#;
        let header = base64::engine::general_purpose::URL_SAFE.encode(json);
        let c = registry_auth_header(Some(&header)).map_err(|e| e.message)?;
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p:w"));
        let auth = base64::engine::general_purpose::STANDARD.encode("a:b");
        let json = format!(r#"{{"auth":"{auth}"}}"#);
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let c = registry_auth_header(Some(&header)).map_err(|e| e.message)?;
        assert_eq!((c.username.as_str(), c.password.as_str()), ("a", "b"));
        assert!(registry_auth_header(None)
            .map_err(|e| e.message)?
            .is_empty());
        assert!(registry_auth_header(Some("e30="))
            .map_err(|e| e.message)?
            .is_empty());
        assert!(registry_auth_header(Some("!!!")).is_err());
        let nulls = base64::engine::general_purpose::STANDARD
            .encode(r#"{"username":null,"password":null,"serveraddress":null}"#);
        assert!(registry_auth_header(Some(&nulls))
            .map_err(|e| e.message)?
            .is_empty());
        Ok(())
    }
}
