//! Error type of the registry client.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Coarse class of an [`Error`], for callers mapping errors to protocol status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The repository, tag, manifest or blob does not exist (404).
    NotFound,
    /// The registry refused the credentials, or none were given where needed (401/403).
    Unauthorized,
    /// The reference, manifest, platform or content is invalid or unsupported (400).
    InvalidArgument,
    /// The registry could not be reached or answered with a server error (500).
    Unavailable,
}

/// Errors of the registry client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry says the repository, tag or manifest does not exist.
    #[error("manifest for {reference} not found: {message}")]
    NotFound {
        /// the reference asked for
        reference: String,
        /// the registry's explanation
        message: String,
    },
    /// Authentication failed or is required.
    #[error("{message}")]
    Unauthorized {
        /// Docker-like explanation (mentions `login`)
        message: String,
    },
    /// A manifest or index is malformed or not of a kind this client handles.
    #[error("invalid manifest for {reference}: {reason}")]
    InvalidManifest {
        /// the reference whose manifest was read
        reference: String,
        /// what is wrong
        reason: String,
    },
    /// A manifest list / index has no entry for the requested platform.
    #[error(
        "no matching manifest for {platform} in the manifest list entries (available: {available})"
    )]
    NoMatchingPlatform {
        /// the platform wanted, `os/arch[/variant]`
        platform: String,
        /// the platforms the index offers
        available: String,
    },
    /// Content did not match its digest.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// what was verified
        what: String,
        /// the digest that was announced
        expected: String,
        /// the digest of the received bytes
        actual: String,
    },
    /// Something the client does not support (media type, digest algorithm, search).
    #[error("unsupported: {what}")]
    Unsupported {
        /// what is unsupported
        what: String,
    },
    /// An argument is invalid (platform string, registry address, credentials).
    #[error("invalid argument: {what}: {reason}")]
    InvalidArgument {
        /// which argument
        what: String,
        /// what is wrong
        reason: String,
    },
    /// The registry could not be reached or failed.
    #[error("registry {registry}: {op}: {message}")]
    Registry {
        /// registry host
        registry: String,
        /// what we were doing
        op: &'static str,
        /// the error text
        message: String,
        /// whether it is a transport / server failure (else a refusal of the request)
        unavailable: bool,
    },
    /// Downloading a URL (`docker import http://…`) failed; `message` is Docker's wording and
    /// names the URL.
    #[error("{message}")]
    Download {
        /// the URL asked for
        url: String,
        /// what went wrong
        message: String,
        /// how the failure classifies (404 -> NotFound, 400 -> InvalidArgument, else Unavailable)
        kind: ErrorKind,
    },
    /// Reading or writing a credentials file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// the operation
        op: &'static str,
        /// the file
        path: PathBuf,
        /// the OS error
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The coarse class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::InvalidManifest { .. }
            | Error::NoMatchingPlatform { .. }
            | Error::DigestMismatch { .. }
            | Error::Unsupported { .. }
            | Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::Registry { unavailable, .. } => {
                if *unavailable {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::InvalidArgument
                }
            }
            Error::Io { .. } => ErrorKind::Unavailable,
            Error::Download { kind, .. } => *kind,
        }
    }

    /// Convert an oci-client error met while doing `op` against `reference`.
    pub(crate) fn from_oci(
        op: &'static str,
        reference: &oci_client::Reference,
        e: oci_client::errors::OciDistributionError,
    ) -> Error {
        use oci_client::errors::{OciDistributionError as E, OciErrorCode};
        let registry = reference.registry().to_string();
        let repo = reference.repository();
        let denied = |_| {
            Error::Unauthorized {
            message: format!(
                "{op} access denied for {registry}/{repo}, repository does not exist or may require 'docker login'"
            ),
        }
        };
        match e {
            E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => denied(()),
            E::ImageManifestNotFoundError(m) => Error::NotFound {
                reference: reference.whole(),
                message: m,
            },
            E::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let message = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", camel_words(&format!("{:?}", e.code)), e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    denied(())
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                            | OciErrorCode::NotFound
                    )
                }) {
                    Error::NotFound {
                        reference: reference.whole(),
                        message,
                    }
                } else {
                    Error::Registry {
                        registry,
                        op,
                        message,
                        unavailable: false,
                    }
                }
            }
            E::DigestError(d) => Error::Registry {
                registry,
                op,
                message: format!("digest mismatch: {d}"),
                unavailable: false,
            },
            E::ServerError { code, message, .. } if code == 404 => Error::NotFound {
                reference: reference.whole(),
                message,
            },
            E::ServerError { code, .. } if code == 401 || code == 403 => denied(()),
            E::RequestError(r)
                if matches!(r.status().map(|s| s.as_u16()), Some(401) | Some(403)) =>
            {
                denied(())
            }
            E::RequestError(r) => Error::Registry {
                registry,
                op,
                message: error_chain(&r),
                unavailable: true,
            },
            other => Error::Registry {
                registry,
                op,
                message: other.to_string(),
                unavailable: matches!(other, E::ServerError { .. } | E::IoError(_)),
            },
        }
    }
}

/// A request that did not get a reply from `registry` (connection refused, TLS, timeout):
/// worth retrying, so `unavailable`.
pub(crate) fn transport(registry: &str, e: &reqwest::Error) -> Error {
    Error::Registry {
        registry: registry.to_string(),
        op: "connect",
        message: error_chain(e),
        unavailable: true,
    }
}

/// An error and its sources on one line (reqwest hides the useful part in `source()`).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let t = src.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = src.source();
    }
    s
}

/// `ManifestUnknown` -> `manifest unknown` (Docker prints registry error codes this way).
fn camel_words(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
