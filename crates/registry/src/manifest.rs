//! Manifests, indexes and descriptors as the registry serves them (Docker schema2 and OCI),
//! parsed with our own small serde structs so unknown fields and media types are kept or
//! rejected deliberately rather than by a generic model.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Docker v2 schema2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI layers.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Media types sent in `Accept` when fetching a manifest.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    OCI_INDEX,
];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// a plain tar (blob digest == diff_id)
    None,
    /// gzip
    Gzip,
    /// zstd
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer with this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => OCI_LAYER,
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
        }
    }

    /// The media type Docker uses in schema2 manifests (zstd exists only as an OCI type).
    pub fn docker_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => DOCKER_LAYER_GZIP,
            other => other.oci_media_type(),
        }
    }
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// media type of the content
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    /// size in bytes
    pub size: u64,
    /// platform, in index entries
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
    /// alternate download locations (foreign layers); never followed
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    /// The compression of a layer descriptor; errors for media types that are not layers.
    pub fn compression(&self) -> Result<Compression> {
        match self.media_type.as_str() {
            DOCKER_LAYER_GZIP | OCI_LAYER_GZIP => Ok(Compression::Gzip),
            OCI_LAYER_ZSTD => Ok(Compression::Zstd),
            OCI_LAYER | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
            other => Err(Error::Unsupported {
                what: format!("layer media type {other:?} (layer {})", self.digest),
            }),
        }
    }
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// e.g. `amd64`
    pub architecture: String,
    /// e.g. `linux`
    pub os: String,
    /// e.g. `v8`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest or index.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// an image manifest: config and layers, base first
    Image {
        /// media type (from the document, or inferred)
        media_type: String,
        /// config descriptor
        config: Descriptor,
        /// layer descriptors, base first
        layers: Vec<Descriptor>,
    },
    /// a manifest list / index
    Index {
        /// media type
        media_type: String,
        /// entries
        manifests: Vec<Descriptor>,
    },
}

/// Parse and validate a manifest document (`reference` only names it in errors).
pub fn parse(reference: &str, bytes: &[u8]) -> Result<Parsed> {
    let invalid = |reason: String| Error::InvalidManifest {
        reference: reference.to_string(),
        reason,
    };
    let raw: Raw = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    match raw.schema_version {
        Some(2) => {}
        Some(1) => {
            return Err(Error::Unsupported {
                what: format!(
                    "{reference} uses the deprecated image manifest schema 1; push it again with a newer client"
                ),
            })
        }
        other => return Err(invalid(format!("schemaVersion {other:?} is not 2"))),
    }
    let mt = raw.media_type.unwrap_or_default();
    if let Some(manifests) = raw.manifests {
        if !(mt.is_empty() || mt == DOCKER_MANIFEST_LIST || mt == OCI_INDEX) {
            return Err(invalid(format!("index with media type {mt:?}")));
        }
        for d in &manifests {
            check_digest(reference, &d.digest)?;
        }
        return Ok(Parsed::Index {
            media_type: if mt.is_empty() { OCI_INDEX.into() } else { mt },
            manifests,
        });
    }
    let (Some(config), Some(layers)) = (raw.config, raw.layers) else {
        return Err(invalid("neither an image manifest nor an index".into()));
    };
    if !(mt.is_empty() || mt == DOCKER_MANIFEST || mt == OCI_MANIFEST) {
        return Err(Error::Unsupported {
            what: format!("manifest media type {mt:?} of {reference}"),
        });
    }
    if !(config.media_type == DOCKER_CONFIG || config.media_type == OCI_CONFIG) {
        return Err(Error::Unsupported {
            what: format!(
                "config media type {:?} of {reference} (not a container image)",
                config.media_type
            ),
        });
    }
    check_digest(reference, &config.digest)?;
    for l in &layers {
        check_digest(reference, &l.digest)?;
        l.compression()?;
    }
    Ok(Parsed::Image {
        media_type: if mt.is_empty() {
            OCI_MANIFEST.into()
        } else {
            mt
        },
        config,
        layers,
    })
}

/// Accept only `sha256:<64 lowercase hex>` (the store names files by it).
pub fn check_digest(reference: &str, digest: &str) -> Result<()> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(())
        }
        _ => Err(Error::Unsupported {
            what: format!("digest {digest:?} in {reference} (only sha256 is supported)"),
        }),
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A platform to select from an index: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// operating system
    pub os: String,
    /// architecture in Go's names (`amd64`, `arm64`)
    pub architecture: String,
    /// variant, if asked for
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform (linux and the host architecture).
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    /// Parse `os[/arch[/variant]]` (Docker's `--platform`); empty means the host.
    pub fn parse(s: &str) -> Result<Platform> {
        if s.is_empty() {
            return Ok(Platform::host());
        }
        let parts: Vec<&str> = s.split('/').collect();
        let host = Platform::host();
        let norm = |a: &str| match a {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_ascii_lowercase(),
        };
        let p = match parts.as_slice() {
            [os] if *os == "linux" => host,
            [os, arch] => Platform {
                os: os.to_ascii_lowercase(),
                architecture: norm(arch),
                variant: None,
            },
            [os, arch, v] => Platform {
                os: os.to_ascii_lowercase(),
                architecture: norm(arch),
                variant: Some(v.to_string()),
            },
            _ => {
                return Err(Error::InvalidArgument {
                    what: format!("platform {s:?}"),
                    reason: "expected os[/arch[/variant]]".into(),
                })
            }
        };
        if p.os.is_empty() || p.architecture.is_empty() {
            return Err(Error::InvalidArgument {
                what: format!("platform {s:?}"),
                reason: "expected os[/arch[/variant]]".into(),
            });
        }
        Ok(p)
    }

    /// Whether an index entry's platform matches (a missing variant on either side matches).
    pub fn matches(&self, p: &PlatformSpec) -> bool {
        p.os == self.os
            && p.architecture == self.architecture
            && match (&self.variant, &p.variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Pick the index entry for `platform`: exact variant first, then any entry without a
/// mismatching variant.
pub fn select<'a>(manifests: &'a [Descriptor], platform: &Platform) -> Result<&'a Descriptor> {
    let exact = manifests.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| platform.matches(p) && p.variant == platform.variant)
    });
    if let Some(d) = exact.or_else(|| {
        manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
    }) {
        return Ok(d);
    }
    let available = manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::NoMatchingPlatform {
        platform: platform.to_string(),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schema2_and_rejects_bad_manifests() {
        let d = format!("sha256:{}", "a".repeat(64));
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{d}","size":1}},"layers":[{{"mediaType":"{DOCKER_LAYER_GZIP}","digest":"{d}","size":2}}]}}"#
        );
        assert!(matches!(parse("x", m.as_bytes()), Ok(Parsed::Image { .. })));
        let bad_layer = m.replace(DOCKER_LAYER_GZIP, "application/x-weird");
        let e = parse("x", bad_layer.as_bytes()).err();
        assert!(matches!(e, Some(Error::Unsupported { .. })), "{e:?}");
        let bad_digest = m.replace(&d, "sha256:../../etc/passwd");
        assert!(parse("x", bad_digest.as_bytes()).is_err());
        assert!(parse("x", b"{not json").is_err());
        assert!(parse("x", br#"{"schemaVersion":1}"#).is_err());
    }

    #[test]
    fn selects_platforms() -> Result<()> {
        let entry = |arch: &str, v: Option<&str>| Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "b".repeat(64)),
            size: 1,
            platform: Some(PlatformSpec {
                architecture: arch.into(),
                os: "linux".into(),
                variant: v.map(str::to_string),
            }),
            urls: None,
        };
        let list = vec![
            entry("arm", Some("v7")),
            entry("arm64", Some("v8")),
            entry("amd64", None),
        ];
        assert_eq!(
            select(&list, &Platform::parse("linux/arm64")?)?.platform,
            list[1].platform
        );
        assert_eq!(
            select(&list, &Platform::parse("linux/amd64")?)?.platform,
            list[2].platform
        );
        assert!(select(&list, &Platform::parse("linux/s390x")?).is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        Ok(())
    }
}
