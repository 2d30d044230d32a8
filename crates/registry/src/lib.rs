//! Berth's registry client: the Docker Registry HTTP API v2 / OCI distribution protocol.
//!
//! Protocol only: manifests and indexes (Docker schema2, OCI), platform selection, blobs as
//! digest-verified byte streams, blob existence checks, cross-repository mounts, uploads,
//! login checks and the catalog. It knows nothing of disk: the image store
//! (`berth-image`) drives pull and push on top of it.
//!
//! Transport: `oci-client` (reqwest + rustls with the ring provider, on the caller's tokio
//! runtime). Where oci-client has no call for something (the bare `/v2/` login check), its
//! reqwest client type is used directly with the same TLS setup.
//!
//! Plain HTTP is used only for registries on localhost, 127.0.0.0/8, ::1 and the ones
//! configured as insecure (dockerd's `--insecure-registry`: a host, `host:port` or an IPv4
//! CIDR); everything else is HTTPS with certificate verification.

pub mod download;
mod error;
pub mod manifest;
mod search;
mod tags;
mod token;

use std::sync::Once;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::{RegistryToken, RegistryTokenType};
use oci_client::RegistryOperation;

pub use error::{Error, ErrorKind, Result};
pub use manifest::{Compression, Descriptor, Platform};
pub use oci_client::Reference;
pub use search::SearchResult;

use manifest::Parsed;

/// Largest manifest or config accepted (Docker's limit for manifests is 4 MiB).
const MAX_SMALL_BLOB: u64 = 8 << 20;

/// Credentials for one registry (what `docker login` stores and `X-Registry-Auth` carries).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// user name (empty for anonymous)
    pub username: String,
    /// password or personal access token
    pub password: String,
    /// an OAuth identity token (refresh token), used as the password with user `<token>`
    pub identity_token: String,
    /// a registry bearer token used as-is
    pub registry_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    fn to_oci(&self) -> RegistryAuth {
        if !self.registry_token.is_empty() {
            RegistryAuth::Bearer(self.registry_token.clone())
        } else if !self.identity_token.is_empty() {
            RegistryAuth::Basic("<token>".into(), self.identity_token.clone())
        } else if !self.username.is_empty() {
            RegistryAuth::Basic(self.username.clone(), self.password.clone())
        } else {
            RegistryAuth::Anonymous
        }
    }

    /// Whether any credential is set.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.identity_token.is_empty() && self.registry_token.is_empty()
    }
}

/// Client configuration (dockerd's registry options).
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// registries reached over plain HTTP: `host`, `host:port` or an IPv4 CIDR
    pub insecure: Vec<String>,
}

/// A registry client. Cheap to clone; safe to share. Each operation (pull, push, login)
/// should use one [`Session`] so tokens are reused across its requests.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    config: RegistryConfig,
}

/// The image manifest a reference resolved to.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// the digest the reference resolved to (the index's when it was an index): Docker's
    /// "Digest:" line and the RepoDigest
    pub digest: String,
    /// the index / manifest list bytes and media type, when the reference named one
    pub index: Option<(Bytes, String)>,
    /// digest of the image manifest
    pub manifest_digest: String,
    /// the image manifest bytes
    pub manifest: Bytes,
    /// its media type
    pub media_type: String,
    /// config descriptor
    pub config: Descriptor,
    /// layers, base first
    pub layers: Vec<Descriptor>,
}

/// A blob body: chunks as they arrive, verified against the digest by oci-client (the stream
/// yields an error instead of its end when the bytes do not match).
pub type BlobStream = BoxStream<'static, std::io::Result<Bytes>>;

impl Registry {
    /// A client with `config`.
    pub fn new(config: RegistryConfig) -> Registry {
        Registry { config }
    }

    /// Whether `registry` (`host[:port]`) is reached over plain HTTP.
    pub fn is_insecure(&self, registry: &str) -> bool {
        is_insecure(registry, &self.config.insecure)
    }

    /// Start a session against the registry of `reference` with `credentials`.
    pub fn session(&self, reference: &Reference, credentials: &Credentials) -> Session {
        install_crypto_provider();
        let registry = reference.resolve_registry().to_string();
        let protocol = if self.is_insecure(reference.registry()) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            // Blobs are sent in one PUT with their length: the distribution server and Docker
            // Hub take it, and it is one round trip instead of one per 4 MiB chunk.
            use_monolithic_push: true,
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            ..Default::default()
        };
        Session {
            client: oci_client::Client::new(config),
            auth: credentials.to_oci(),
            base_url: format!("{}://{registry}", self.scheme(reference.registry())),
            registry,
            http: tokio::sync::OnceCell::new(),
            challenge: tokio::sync::OnceCell::new(),
        }
    }

    /// `http` or `https` for `registry` (`host[:port]`).
    fn scheme(&self, registry: &str) -> &'static str {
        if self.is_insecure(registry) {
            "http"
        } else {
            "https"
        }
    }
}

/// A plain reqwest client with Berth's user agent and timeouts, for the calls oci-client has
/// no method for (login, token requests).
fn http_client(registry: &str) -> Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| error::transport(registry, &e))
}

/// One operation's connection to a registry (token cache, keep-alive connections).
pub struct Session {
    client: oci_client::Client,
    auth: RegistryAuth,
    /// the registry host as requests address it (`registry-1.docker.io` for `docker.io`)
    registry: String,
    /// `scheme://registry`
    base_url: String,
    http: tokio::sync::OnceCell<reqwest::Client>,
    /// the registry's bearer challenge, read once (`None`: open or basic-auth registry)
    challenge: tokio::sync::OnceCell<Option<token::Challenge>>,
}

impl Session {
    /// Authenticate for `op` on the repository of `reference` (a no-op for anonymous access
    /// to an open registry). Pull and push call this first.
    pub async fn authenticate(&self, reference: &Reference, push: bool) -> Result<()> {
        let op = if push {
            RegistryOperation::Push
        } else {
            RegistryOperation::Pull
        };
        self.client
            .auth(reference, &self.auth, op)
            .await
            .map(|_| ())
            .map_err(|e| Error::from_oci("authenticate", reference, e))
    }

    /// Fetch a token for `scopes` and make it the one oci-client uses for `op` on `reference`.
    /// Nothing to do unless the registry uses bearer tokens and the caller brought no token
    /// of its own. The credentials go to the token server, as Docker sends them.
    async fn authorize(
        &self,
        reference: &Reference,
        op: RegistryOperation,
        scopes: &[String],
    ) -> Result<()> {
        if matches!(self.auth, RegistryAuth::Bearer(_)) {
            return Ok(());
        }
        let Some(challenge) = self.challenge().await? else {
            return Ok(());
        };
        let login = match &self.auth {
            RegistryAuth::Basic(user, password) => Some((user.as_str(), password.as_str())),
            _ => None,
        };
        let http = self.http().await?;
        let token = token::fetch(http, &self.registry, challenge, scopes, login).await?;
        // oci-client looks a cached token up only for registries it holds credentials for
        self.client
            .store_auth_if_needed(&self.registry, &self.auth)
            .await;
        self.client
            .tokens
            .insert(
                reference,
                op,
                RegistryTokenType::Bearer(RegistryToken::Token { token }),
            )
            .await;
        Ok(())
    }

    async fn http(&self) -> Result<&reqwest::Client> {
        self.http
            .get_or_try_init(|| async { http_client(&self.registry) })
            .await
    }

    /// `GET /v2/` once; the bearer challenge of a 401, if it carries one.
    async fn challenge(&self) -> Result<Option<&token::Challenge>> {
        let found = self
            .challenge
            .get_or_try_init(|| async {
                let url = format!("{}/v2/", self.base_url);
                let reply = self
                    .http()
                    .await?
                    .get(&url)
                    .send()
                    .await
                    .map_err(|e| error::transport(&self.registry, &e))?;
                match reply.headers().get(reqwest::header::WWW_AUTHENTICATE) {
                    Some(value) if reply.status() == reqwest::StatusCode::UNAUTHORIZED => {
                        token::Challenge::parse(&self.registry, value.to_str().unwrap_or(""))
                    }
                    _ => Ok(None),
                }
            })
            .await?;
        Ok(found.as_ref())
    }

    /// Fetch a manifest by tag or digest; resolve an index to the entry for `platform`.
    /// Every document is verified against its digest (the reference's, or the index entry's).
    pub async fn resolve(&self, reference: &Reference, platform: &Platform) -> Result<Resolved> {
        let (bytes, digest) = self.fetch_manifest(reference).await?;
        let name = reference.whole();
        match manifest::parse(&name, &bytes)? {
            Parsed::Image {
                media_type,
                config,
                layers,
            } => Ok(Resolved {
                digest: digest.clone(),
                index: None,
                manifest_digest: digest,
                manifest: bytes,
                media_type,
                config,
                layers,
            }),
            Parsed::Index {
                media_type,
                manifests,
            } => {
                let entry = manifest::select(&manifests, platform)?;
                let child = Reference::with_digest(
                    reference.registry().to_string(),
                    reference.repository().to_string(),
                    entry.digest.clone(),
                );
                let (child_bytes, child_digest) = self.fetch_manifest(&child).await?;
                match manifest::parse(&name, &child_bytes)? {
                    Parsed::Image {
                        media_type: mt,
                        config,
                        layers,
                    } => Ok(Resolved {
                        digest,
                        index: Some((bytes, media_type)),
                        manifest_digest: child_digest,
                        manifest: child_bytes,
                        media_type: mt,
                        config,
                        layers,
                    }),
                    Parsed::Index { .. } => Err(Error::InvalidManifest {
                        reference: name,
                        reason: "an index entry points to another index".into(),
                    }),
                }
            }
        }
    }

    async fn fetch_manifest(&self, reference: &Reference) -> Result<(Bytes, String)> {
        let (bytes, _) = self
            .client
            .pull_manifest_raw(reference, &self.auth, manifest::ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| Error::from_oci("fetch manifest", reference, e))?;
        if bytes.len() as u64 > MAX_SMALL_BLOB {
            return Err(Error::InvalidManifest {
                reference: reference.whole(),
                reason: format!("{} bytes is too large", bytes.len()),
            });
        }
        // Our own hash, not the registry's Docker-Content-Digest header: the header is a claim.
        let digest = manifest::sha256(&bytes);
        if let Some(expected) = reference.digest() {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    what: format!("manifest of {}", reference.whole()),
                    expected: expected.to_string(),
                    actual: digest,
                });
            }
        }
        Ok((bytes, digest))
    }

    /// Fetch a small blob (a config) whole, verified against its digest and size.
    pub async fn fetch_blob(&self, reference: &Reference, desc: &Descriptor) -> Result<Bytes> {
        if desc.size > MAX_SMALL_BLOB {
            return Err(Error::InvalidManifest {
                reference: reference.whole(),
                reason: format!("config blob of {} bytes is too large", desc.size),
            });
        }
        let mut stream = self.blob_stream(reference, &desc.digest).await?;
        let mut out = Vec::with_capacity(desc.size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.stream_error(reference, &desc.digest, e))?;
            out.extend_from_slice(&chunk);
            if out.len() as u64 > desc.size {
                break;
            }
        }
        let actual = manifest::sha256(&out);
        if actual != desc.digest || out.len() as u64 != desc.size {
            return Err(Error::DigestMismatch {
                what: format!("blob {}", desc.digest),
                expected: desc.digest.clone(),
                actual,
            });
        }
        Ok(Bytes::from(out))
    }

    /// Stream a blob. oci-client hashes the body and fails the stream's last item if it does
    /// not match `digest`; callers hash again where they store the bytes.
    pub async fn blob_stream(&self, reference: &Reference, digest: &str) -> Result<BlobStream> {
        manifest::check_digest(&reference.whole(), digest)?;
        let sized = self
            .client
            .pull_blob_stream(reference, digest)
            .await
            .map_err(|e| Error::from_oci("fetch blob", reference, e))?;
        Ok(sized.stream)
    }

    /// Turn a stream item error into an [`Error`] naming the blob.
    pub fn stream_error(&self, reference: &Reference, digest: &str, e: std::io::Error) -> Error {
        let text = error::error_chain(&e);
        if text.contains("digest") {
            Error::DigestMismatch {
                what: format!("blob {digest} of {}", reference.whole()),
                expected: digest.to_string(),
                actual: text,
            }
        } else {
            Error::Registry {
                registry: self.registry.clone(),
                op: "download blob",
                message: text,
                unavailable: true,
            }
        }
    }

    /// Whether the repository of `reference` has the blob.
    pub async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool> {
        self.client
            .blob_exists(reference, digest)
            .await
            .map_err(|e| Error::from_oci("check blob", reference, e))
    }

    /// Ask the registry to link a blob from another repository of the same registry
    /// (no upload). Returns false when the registry declined (then upload it).
    pub async fn mount_blob(
        &self,
        reference: &Reference,
        from_repository: &str,
        digest: &str,
    ) -> bool {
        let source = Reference::with_digest(
            reference.registry().to_string(),
            from_repository.to_string(),
            digest.to_string(),
        );
        // The registry checks `pull` on the source repository too; oci-client's token for
        // this repository does not carry it.
        let scopes = [
            format!("repository:{}:pull,push", reference.repository()),
            format!("repository:{from_repository}:pull"),
        ];
        if let Err(e) = self
            .authorize(reference, RegistryOperation::Push, &scopes)
            .await
        {
            tracing::debug!(error = %e, digest, from = from_repository, "no token for a blob mount");
            return false;
        }
        match self.client.mount_blob(reference, &source, digest).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, digest, from = from_repository, "blob mount declined");
                false
            }
        }
    }

    /// Upload a blob of known digest and size from a byte stream (one monolithic PUT).
    pub async fn push_blob(
        &self,
        reference: &Reference,
        digest: &str,
        size: u64,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<()> {
        let body = body.map_err(oci_client::errors::OciDistributionError::IoError);
        self.client
            .push_blob_stream(reference, body, digest, Some(size))
            .await
            .map(|_| ())
            .map_err(|e| Error::from_oci("upload blob", reference, e))
    }

    /// Upload a small blob (config) from memory.
    pub async fn push_small_blob(&self, reference: &Reference, bytes: Bytes) -> Result<String> {
        let digest = manifest::sha256(&bytes);
        let size = bytes.len() as u64;
        let body = futures_util::stream::once(async move { Ok(bytes) }).boxed();
        self.push_blob(reference, &digest, size, body).await?;
        Ok(digest)
    }

    /// PUT a manifest under the tag or digest of `reference`; returns its digest.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<String> {
        let digest = manifest::sha256(&bytes);
        let ct = reqwest::header::HeaderValue::from_str(media_type).map_err(|e| {
            Error::InvalidArgument {
                what: "manifest media type".into(),
                reason: e.to_string(),
            }
        })?;
        self.client
            .push_manifest_raw(reference, bytes, ct)
            .await
            .map_err(|e| Error::from_oci("upload manifest", reference, e))?;
        Ok(digest)
    }

    /// The registry host this session talks to.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub(crate) fn client(&self) -> &oci_client::Client {
        &self.client
    }

    pub(crate) fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// Make the catalog readable for `probe`'s requests: a bearer registry wants a token
    /// with `registry:catalog:*`.
    pub(crate) async fn authorize_catalog(&self, probe: &Reference) -> Result<()> {
        self.authorize(
            probe,
            RegistryOperation::Pull,
            &["registry:catalog:*".to_string()],
        )
        .await
    }
}

/// reqwest is built without a default crypto provider (so no aws-lc build): install ring's
/// once per process before the first client is made.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider was installed first; that one is used then.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Docker's rule: localhost, 127.0.0.0/8 and ::1 are always insecure; others when listed.
pub fn is_insecure(registry: &str, listed: &[String]) -> bool {
    let host = host_of(registry);
    if host == "localhost" || host.ends_with(".localhost") || host == "::1" {
        return true;
    }
    let ip: Option<std::net::Ipv4Addr> = host.parse().ok();
    if ip.is_some_and(|ip| ip.octets()[0] == 127) {
        return true;
    }
    listed.iter().any(|entry| {
        let entry = entry
            .trim()
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if entry == registry || entry == host {
            return true;
        }
        match (entry.split_once('/'), ip) {
            (Some((net, bits)), Some(ip)) => {
                let (Ok(net), Ok(bits)) = (net.parse::<std::net::Ipv4Addr>(), bits.parse::<u32>())
                else {
                    return false;
                };
                if bits > 32 {
                    return false;
                }
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                u32::from(ip) & mask == u32::from(net) & mask
            }
            _ => false,
        }
    })
}

fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_rules() {
        let listed = vec!["myreg:5000".to_string(), "10.1.0.0/16".to_string()];
        assert!(is_insecure("localhost:5000", &[]));
        assert!(is_insecure("127.0.0.1:41234", &[]));
        assert!(is_insecure("127.9.9.9", &[]));
        assert!(is_insecure("[::1]:5000", &[]));
        assert!(!is_insecure("docker.io", &listed));
        assert!(!is_insecure("myreg:5001", &listed));
        assert!(is_insecure("myreg:5000", &listed));
        assert!(is_insecure("10.1.2.3:5000", &listed));
        assert!(!is_insecure("10.2.2.3:5000", &listed));
        assert!(!is_insecure("128.0.0.1", &listed));
    }
}
