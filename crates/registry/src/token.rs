//! Bearer tokens from a registry's token server (the distribution token protocol), for the
//! requests oci-client cannot scope itself.
//!
//! oci-client asks for `repository:<repo>:pull[,push]` only. Docker asks for more where a
//! request needs it, and so does Berth: a cross-repository mount also needs `pull` on the source
//! repository, the catalog needs `registry:catalog:*`, and `login` asks with no scope just to
//! have the credentials checked. Tokens fetched here are put into oci-client's token cache so
//! the request that follows uses them.

use crate::error::{error_chain, Error, Result};

/// A `WWW-Authenticate: Bearer realm="…",service="…"` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// the token server's URL
    pub realm: String,
    /// the registry's service name, passed back to the token server
    pub service: Option<String>,
}

impl Challenge {
    /// Parse the `WWW-Authenticate` value `registry` sent. `None` when it is not a bearer
    /// challenge (basic auth, or garbage); an error when it is one without a realm.
    pub fn parse(registry: &str, header: &str) -> Result<Option<Challenge>> {
        let header = header.trim();
        let Some(params) = header
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .map(|_| &header[7..])
        else {
            return Ok(None);
        };
        let mut realm = None;
        let mut service = None;
        for (key, value) in auth_params(params) {
            match key.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "service" => service = Some(value),
                _ => {}
            }
        }
        let realm = realm.ok_or_else(|| Error::Registry {
            registry: registry.to_string(),
            op: "authenticate",
            message: format!("bearer challenge without realm: {header}"),
            unavailable: false,
        })?;
        Ok(Some(Challenge { realm, service }))
    }
}

/// `key="value", key=value` pairs of an auth challenge; commas inside quotes (scopes such as
/// `repository:a:pull,push`) do not split.
fn auth_params(params: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (
                quoted[..end].to_string(),
                quoted.get(end + 1..).unwrap_or(""),
            )
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key, value));
        rest = remainder.trim_start().trim_start_matches(',');
    }
    out
}

/// User name and password sent to the token server (basic auth), if any.
pub(crate) type Login<'a> = Option<(&'a str, &'a str)>;

/// GET a token for `scopes` from the challenge's realm. A 401 or 403 from the token server
/// means the credentials are wrong: [`Error::Unauthorized`] with Docker's wording.
pub(crate) async fn fetch(
    http: &reqwest::Client,
    registry: &str,
    challenge: &Challenge,
    scopes: &[String],
    login: Login<'_>,
) -> Result<String> {
    let mut query: Vec<(&str, &str)> = vec![("client_id", "berth")];
    if let Some(service) = &challenge.service {
        query.push(("service", service));
    }
    if let Some((user, _)) = login {
        query.push(("account", user));
    }
    for scope in scopes {
        query.push(("scope", scope));
    }
    let mut request = http.get(&challenge.realm).query(&query);
    if let Some((user, password)) = login {
        request = request.basic_auth(user, Some(password));
    }
    let reply = request
        .send()
        .await
        .map_err(|e| crate::error::transport(registry, &e))?;
    let status = reply.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(Error::Unauthorized {
            message: format!(
                "login to {registry} failed: unauthorized: incorrect username or password"
            ),
        });
    }
    let body: serde_json::Value = match reply.error_for_status() {
        Ok(reply) => reply.json().await.map_err(|e| Error::Registry {
            registry: registry.to_string(),
            op: "fetch token",
            message: format!(
                "{}: unreadable token reply: {}",
                challenge.realm,
                error_chain(&e)
            ),
            unavailable: false,
        })?,
        Err(e) => {
            return Err(Error::Registry {
                registry: registry.to_string(),
                op: "fetch token",
                message: format!("{}: {status}: {}", challenge.realm, error_chain(&e)),
                unavailable: status.is_server_error(),
            })
        }
    };
    // The spec names the field `token`; OAuth-style servers send `access_token`.
    ["token", "access_token"]
        .iter()
        .find_map(|field| body.get(field).and_then(|t| t.as_str()))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::Registry {
            registry: registry.to_string(),
            op: "fetch token",
            message: format!("{}: the reply holds no token", challenge.realm),
            unavailable: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = Challenge::parse(
            "reg",
            r#"Bearer realm="http://127.0.0.1:5001/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope""#,
        )
        .expect("parses")
        .expect("a bearer challenge");
        assert_eq!(c.realm, "http://127.0.0.1:5001/token");
        assert_eq!(c.service.as_deref(), Some("reg"));

        let c = Challenge::parse("reg", "bearer realm=https://auth.example/token, service=x")
            .expect("parses")
            .expect("a bearer challenge");
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("x"));
    }

    #[test]
    fn basic_is_not_bearer_and_a_realm_is_required() {
        assert!(matches!(
            Challenge::parse("reg", r#"Basic realm="x""#),
            Ok(None)
        ));
        assert!(matches!(Challenge::parse("reg", ""), Ok(None)));
        let Err(err) = Challenge::parse("reg", r#"Bearer service="reg""#) else {
            panic!("a challenge without realm was accepted");
        };
        assert!(err.to_string().contains("without realm"), "{err}");
    }
}
