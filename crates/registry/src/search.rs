//! Login checks and catalog search: the registry calls that are not about one image.

use crate::error::{transport, Error, Result};
use crate::{token, Credentials, Reference, Registry};

/// One search hit (the fields of Docker's `GET /images/search` rows a catalog can fill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    /// repository name as the user would pull it (`registry/repo`)
    pub name: String,
    /// description (a catalog has none)
    pub description: String,
    /// stars (a catalog has none)
    pub star_count: u64,
    /// official image flag (a catalog has none)
    pub is_official: bool,
}

/// Repositories read from a catalog at most (the catalog is paged; this bounds the work).
const CATALOG_LIMIT: usize = 10_000;

impl Registry {
    /// Check credentials against `registry` (`host[:port]`) the way `docker login` does:
    /// `GET /v2/`, then, for a bearer-token registry, a token request with the credentials.
    /// Returns the status text Docker shows ("Login Succeeded").
    ///
    /// oci-client has no call for this (its `auth` needs a repository and accepts basic
    /// credentials without trying them), so it uses reqwest directly.
    pub async fn login(&self, registry: &str, credentials: &Credentials) -> Result<String> {
        let host = if registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            registry
        };
        let http = crate::http_client(registry)?;
        let url = format!("{}://{host}/v2/", self.scheme(registry));
        let (user, pass) = if credentials.identity_token.is_empty() {
            (credentials.username.as_str(), credentials.password.as_str())
        } else {
            ("<token>", credentials.identity_token.as_str())
        };
        let first = http
            .get(&url)
            .send()
            .await
            .map_err(|e| transport(registry, &e))?;
        if first.status().is_success() {
            return Ok("Login Succeeded".into());
        }
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Err(Error::Registry {
                registry: registry.to_string(),
                op: "login",
                message: format!("GET {url}: {}", first.status()),
                unavailable: true,
            });
        }
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if let Some(challenge) = token::Challenge::parse(registry, challenge)? {
            // no scope: the token server only checks the credentials, as for `docker login`
            token::fetch(&http, registry, &challenge, &[], Some((user, pass))).await?;
            return Ok("Login Succeeded".into());
        }
        let r = http
            .get(&url)
            .basic_auth(user, Some(pass))
            .send()
            .await
            .map_err(|e| transport(registry, &e))?;
        if r.status().is_success() {
            Ok("Login Succeeded".into())
        } else {
            Err(Error::Unauthorized {
                message: format!(
                    "login to {registry} failed: unauthorized: incorrect username or password"
                ),
            })
        }
    }

    /// Search the catalog (`/v2/_catalog`) of `registry` for repositories whose name contains
    /// `term`. Registries without a catalog (Docker Hub among them) give a clear
    /// [`Error::Unsupported`].
    pub async fn search(
        &self,
        registry: &str,
        term: &str,
        credentials: &Credentials,
    ) -> Result<Vec<SearchResult>> {
        if registry == "docker.io" {
            // Docker Hub's search is a separate web API, not the registry protocol
            return Err(Error::Unsupported {
                what: "searching Docker Hub: it offers no registry catalog; search a registry that does, e.g. `berth search localhost:5000/name`".into(),
            });
        }
        let probe = Reference::with_tag(
            registry.to_string(),
            "library/catalog".into(),
            "latest".into(),
        );
        let session = self.session(&probe, credentials);
        session.authorize_catalog(&probe).await?;
        let mut repos: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = session
                .client()
                .catalog(&probe, session.auth(), Some(1000), last.as_deref())
                .await
                .map_err(|e| {
                    let mapped = Error::from_oci("list catalog", &probe, e);
                    match mapped.kind() {
                        crate::ErrorKind::NotFound | crate::ErrorKind::InvalidArgument => Error::Unsupported {
                            what: format!(
                                "searching {registry}: the registry offers no catalog (/v2/_catalog) to search ({mapped})"
                            ),
                        },
                        crate::ErrorKind::Unauthorized => Error::Unauthorized {
                            message: format!(
                                "searching {registry}: the registry's catalog needs a login with access to it (docker login {registry})"
                            ),
                        },
                        _ => mapped,
                    }
                })?;
            let n = page.repositories.len();
            last = page.repositories.last().cloned();
            repos.extend(page.repositories);
            if n < 1000 || repos.len() >= CATALOG_LIMIT {
                break;
            }
        }
        let term = term.to_ascii_lowercase();
        Ok(repos
            .into_iter()
            .filter(|r| r.contains(&term))
            .map(|r| SearchResult {
                name: if registry == "docker.io" {
                    r
                } else {
                    format!("{registry}/{r}")
                },
                description: String::new(),
                star_count: 0,
                is_official: false,
            })
            .collect())
    }
}
