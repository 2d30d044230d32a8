//! Plain URL downloads, for `docker import http://…` (`POST /images/create?fromSrc=<url>`).
//!
//! This lives in the registry client because it is the crate that owns the HTTP client stack
//! (reqwest on rustls with the ring provider): the image store and the engine stay free of
//! HTTP and take the body as a byte stream.

use futures_util::{StreamExt, TryStreamExt};

use crate::error::{error_chain, Error, ErrorKind, Result};
use crate::{BlobStream, Registry};

/// The most of an error response's body quoted in the error message.
const MAX_ERROR_BODY: usize = 4096;

/// A response being downloaded.
pub struct Download {
    /// the URL fetched (with the scheme Docker adds when it was missing)
    pub url: String,
    /// the announced length (`Content-Length`), if any
    pub content_length: Option<u64>,
    /// the body's chunks as they arrive; a connection lost before the announced length ends
    /// the stream with an error, never with a short clean end
    pub body: BlobStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("url", &self.url)
            .field("content_length", &self.content_length)
            .finish()
    }
}

/// Docker's rule for `fromSrc`: a source without a scheme is an HTTP host.
pub fn normalize_url(src: &str) -> String {
    if src.contains("://") {
        src.to_string()
    } else {
        format!("http://{src}")
    }
}

impl Registry {
    /// `GET url` (http or https, certificates verified, redirects followed) and return the body
    /// as a stream. Like dockerd's `GetWithStatusError`: a status of 400 or more is an error
    /// `failed to GET <url> with status <status>: <body>` (404 classifies as NotFound, 400 as
    /// InvalidArgument, others as Unavailable), and so is a failure to connect.
    pub async fn download(&self, url: &str) -> Result<Download> {
        crate::install_crypto_provider();
        let url = normalize_url(url);
        let parsed = reqwest::Url::parse(&url).map_err(|e| Error::InvalidArgument {
            what: "import source URL".into(),
            reason: format!("{url}: {e}"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::InvalidArgument {
                what: "import source URL".into(),
                reason: format!("{url}: only http and https URLs can be imported"),
            });
        }
        let failed = |message: String, kind: ErrorKind| Error::Download {
            url: url.clone(),
            message,
            kind,
        };
        let http = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            // no overall timeout: rootfs archives can be large; a stalled read still fails
            .read_timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| {
                failed(
                    format!("GET {url}: {}", error_chain(&e)),
                    ErrorKind::Unavailable,
                )
            })?;
        let response = http.get(parsed).send().await.map_err(|e| {
            failed(
                format!("GET {url}: {}", error_chain(&e)),
                ErrorKind::Unavailable,
            )
        })?;
        let status = response.status();
        if status.as_u16() >= 400 {
            let mut text = format!(
                "failed to GET {url} with status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string();
            match response.bytes().await {
                Ok(body) => {
                    let body = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]);
                    text.push_str(": ");
                    text.push_str(body.trim());
                }
                Err(_) => text.push_str(": error reading body"),
            }
            let kind = match status.as_u16() {
                404 => ErrorKind::NotFound,
                400 => ErrorKind::InvalidArgument,
                _ => ErrorKind::Unavailable,
            };
            return Err(failed(text, kind));
        }
        let content_length = response.content_length();
        let body = response
            .bytes_stream()
            .map_err(|e| std::io::Error::other(error_chain(&e)))
            .boxed();
        Ok(Download {
            url,
            content_length,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_without_scheme_is_http() {
        assert_eq!(
            normalize_url("example.com/r.tar"),
            "http://example.com/r.tar"
        );
        assert_eq!(normalize_url("https://h/r.tar"), "https://h/r.tar");
    }

    #[tokio::test]
    async fn refuses_other_schemes() {
        let e = Registry::default()
            .download("ftp://h/x.tar")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }
}
