//! `docker load`: docker-archive (Docker 20.10 and 25+) and OCI layout archives.

use std::collections::HashMap;
use std::io::{BufReader, Read};

use serde::Deserialize;
use serde_json::Value;

use super::extract::{extract, Extracted};
use crate::content;
use crate::error::{Error, Result};
use crate::reference;
use crate::register::{chain_id, NewImage, NewLayer, UnpackedLayer};
use crate::store::{ImageStore, TempDir};

/// Largest JSON document (manifest, index, config) read from an archive.
const MAX_JSON: u64 = 8 << 20;

/// One image loaded from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// `sha256:<hex>` (the config digest, identical to Docker's id for the same archive)
    pub id: String,
    /// tags applied, familiar form (`busybox:latest`); empty for an untagged image
    pub tags: Vec<String>,
    /// tags that were moved here from another image: (familiar tag, previous image id)
    pub moved: Vec<(String, String)>,
}

/// `manifest.json` entry of a docker-archive.
#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// An image to load: paths inside the archive.
struct Plan {
    config: String,
    tags: Vec<String>,
    layers: Vec<String>,
}

/// A validated plan: config bytes and the parsed parts of it we need.
struct Checked {
    config_bytes: Vec<u8>,
    diff_ids: Vec<String>,
    created: String,
    comment: String,
    tags: Vec<String>,
    layers: Vec<String>,
}

impl ImageStore {
    /// Load the images of an image archive (see [`crate::archive`] for formats). `input` may be
    /// gzip-compressed. Config blobs are kept byte for byte, so image ids equal Docker's; every
    /// layer's content is checked against the config's `rootfs.diff_ids`.
    ///
    /// All archive metadata and every new layer are validated and unpacked before any image is
    /// registered; each image is then registered atomically (layers, config, tags). On an
    /// error before registration nothing was changed. `progress` is called after each image.
    pub fn load(
        &self,
        input: impl Read,
        progress: &mut dyn FnMut(&LoadedImage),
    ) -> Result<Vec<LoadedImage>> {
        let tmp = TempDir::new(&self.root, "load")?;
        let decoded = super::decompressed(input)?;
        let archive = extract(decoded, &tmp.path)?;
        let plans = if archive.has("manifest.json") {
            docker_plans(&archive)?
        } else if archive.has("index.json") {
            oci_plans(&archive)?
        } else if archive.has("repositories") {
            return Err(Error::Unsupported {
                what: "legacy image archives without manifest.json".into(),
            });
        } else {
            return Err(Error::archive(
                "<archive>",
                "not an image archive: neither manifest.json nor index.json found",
            ));
        };
        if plans.is_empty() {
            return Err(Error::archive("manifest.json", "no images in the archive"));
        }
        let checked = plans
            .into_iter()
            .map(|p| check(&archive, p))
            .collect::<Result<Vec<_>>>()?;

        // unpack every new layer (verified against its diff_id) before registering anything
        let mut unpacked: HashMap<String, UnpackedLayer> = HashMap::new();
        let mut images = Vec::new();
        for c in &checked {
            let mut layers = Vec::new();
            let mut parent: Option<String> = None;
            for (path, diff_id) in c.layers.iter().zip(&c.diff_ids) {
                let chain = chain_id(parent.as_deref(), diff_id);
                if !unpacked.contains_key(&chain) && !self.has_layer(&chain)? {
                    let f = archive.open(path)?;
                    let tar = super::decompressed(BufReader::new(f))?;
                    let layer = self
                        .unpack_new_layer(tar, Some(diff_id))
                        .map_err(|e| match e {
                            Error::DigestMismatch { expected, actual } => Error::archive(
                                path.as_str(),
                                format!(
                                    "layer content does not match the config: expected diff id {expected}, got {actual}"
                                ),
                            ),
                            other => other,
                        })?;
                    unpacked.insert(chain.clone(), layer);
                }
                layers.push((diff_id.clone(), chain.clone(), parent.clone()));
                parent = Some(chain);
            }
            images.push(layers);
        }

        let mut loaded = Vec::new();
        for (c, layers) in checked.into_iter().zip(images) {
            let new_layers = layers
                .into_iter()
                .map(|(diff_id, chain, parent)| NewLayer {
                    content: unpacked.remove(&chain),
                    diff_id,
                    chain_id: chain,
                    parent,
                })
                .collect();
            let tags_familiar: Vec<String> = c
                .tags
                .iter()
                .map(|t| {
                    reference::parse(t)
                        .map(|r| reference::familiar(&r))
                        .unwrap_or_else(|_| t.clone())
                })
                .collect();
            let r = self.register(
                NewImage {
                    config_bytes: c.config_bytes,
                    created: c.created,
                    parent: String::new(),
                    comment: c.comment,
                    tags: c.tags,
                },
                new_layers,
            )?;
            let image = LoadedImage {
                id: r.record.id,
                tags: tags_familiar,
                moved: r.moved,
            };
            progress(&image);
            loaded.push(image);
        }
        Ok(loaded)
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(archive: &Extracted, rel: &str) -> Result<T> {
    let bytes = archive.read(rel, MAX_JSON)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::archive(rel, format!("invalid JSON: {e}")))
}

fn docker_plans(archive: &Extracted) -> Result<Vec<Plan>> {
    let entries: Vec<ManifestEntry> = parse_json(archive, "manifest.json")?;
    Ok(entries
        .into_iter()
        .map(|e| Plan {
            config: e.config,
            tags: e.repo_tags.unwrap_or_default(),
            layers: e.layers,
        })
        .collect())
}

/// Blob path of a descriptor's digest inside an OCI layout.
fn blob_path(desc: &Value, what: &str) -> Result<String> {
    let digest = desc
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::archive(what, "descriptor without a digest"))?;
    let hex = content::digest_hex(digest)
        .map_err(|_| Error::archive(what, format!("unsupported digest {digest:?}")))?;
    Ok(format!("blobs/sha256/{hex}"))
}

fn oci_plans(archive: &Extracted) -> Result<Vec<Plan>> {
    let index: Value = parse_json(archive, "index.json")?;
    let mut plans = Vec::new();
    collect_manifests(archive, &index, "index.json", None, 0, &mut plans)?;
    Ok(plans)
}

fn is_index(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

fn collect_manifests(
    archive: &Extracted,
    index: &Value,
    what: &str,
    name: Option<String>,
    depth: usize,
    plans: &mut Vec<Plan>,
) -> Result<()> {
    if depth > 4 {
        return Err(Error::archive(what, "image indexes nested too deeply"));
    }
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::archive(what, "index without a manifests list"))?;
    let host = crate::import::host_arch();
    // With several platforms, load the host's; an index for one image names it once.
    let platform_ok = |d: &Value| match d.get("platform") {
        None => true,
        Some(p) => {
            p.get("os").and_then(Value::as_str).unwrap_or("linux") == "linux"
                && p.get("architecture")
                    .and_then(Value::as_str)
                    .unwrap_or(host)
                    == host
        }
    };
    for desc in manifests {
        if !platform_ok(desc) {
            continue;
        }
        let annotations = desc.get("annotations");
        let ann = |k: &str| {
            annotations
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        // containerd/Docker name images with io.containerd.image.name; plain OCI tools put a
        // full reference (or only a tag, useless without a repository) in ref.name.
        let this_name = ann("io.containerd.image.name")
            .or_else(|| {
                ann("org.opencontainers.image.ref.name")
                    .filter(|r| r.contains(':') || r.contains('/'))
            })
            .filter(|r| reference::parse_tag(r).is_ok())
            .or_else(|| name.clone());
        let media = desc.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let path = blob_path(desc, what)?;
        let doc: Value = parse_json(archive, &path)?;
        let doc_media = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(media);
        if is_index(doc_media) || (doc_media.is_empty() && doc.get("manifests").is_some()) {
            collect_manifests(archive, &doc, &path, this_name, depth + 1, plans)?;
            continue;
        }
        let config = doc
            .get("config")
            .ok_or_else(|| Error::archive(path.as_str(), "manifest without a config"))?;
        let layers = doc
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::archive(path.as_str(), "manifest without layers"))?
            .iter()
            .map(|l| blob_path(l, &path))
            .collect::<Result<Vec<_>>>()?;
        plans.push(Plan {
            config: blob_path(config, &path)?,
            tags: this_name.into_iter().collect(),
            layers,
        });
    }
    Ok(())
}

/// Read and validate one image's config and tags.
fn check(archive: &Extracted, plan: Plan) -> Result<Checked> {
    let config_bytes = archive.read(&plan.config, MAX_JSON)?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::archive(plan.config.as_str(), format!("invalid JSON: {e}")))?;
    // the typed parse catches configs the rest of the store could not read back
    serde_json::from_slice::<oci_spec::image::ImageConfiguration>(&config_bytes)
        .map_err(|e| Error::archive(plan.config.as_str(), format!("invalid image config: {e}")))?;
    let diff_ids: Vec<String> = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|d| d.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    for d in &diff_ids {
        content::digest_hex(d)
            .map_err(|_| Error::archive(plan.config.as_str(), format!("invalid diff id {d:?}")))?;
    }
    if diff_ids.len() != plan.layers.len() {
        return Err(Error::archive(
            plan.config.as_str(),
            format!(
                "the config lists {} layers but the manifest {}",
                diff_ids.len(),
                plan.layers.len()
            ),
        ));
    }
    for l in &plan.layers {
        archive.resolve(l)?;
    }
    let tags = plan
        .tags
        .iter()
        .map(|t| reference::parse_tag(t).map(|r| reference::canonical(&r)))
        .collect::<Result<Vec<_>>>()?;
    let created = config
        .get("created")
        .and_then(Value::as_str)
        .filter(|c| chrono::DateTime::parse_from_rfc3339(c).is_ok())
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_string();
    let comment = config
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(Checked {
        config_bytes,
        diff_ids,
        created,
        comment,
        tags,
        layers: plan.layers,
    })
}
