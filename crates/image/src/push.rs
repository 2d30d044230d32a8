//! `docker push`: upload an image's layers, config and manifest to a registry.
//!
//! Layers are sent compressed. A layer whose compressed blob is already known (pulled, or
//! compressed by an earlier push: the `layer_blobs` table maps diff_id -> blob) is reused;
//! otherwise its plain tar blob is compressed once (gzip by default, zstd on request) into
//! the content store and remembered. Per blob: a HEAD tells whether the repository has it
//! ("Layer already exists"); else, when the blob is known to be in another repository of the
//! same registry, a cross-repository mount is tried ("Mounted from"); else it is uploaded
//! ("Pushed"). An image pushed unchanged from the repository it was pulled from reuses the
//! pulled manifest, so its digest stays the same (as with Docker).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_registry::manifest::{
    self as wire, DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST,
};
use berth_registry::{Compression, Credentials, Descriptor, Reference, Registry};
use bytes::Bytes;
use futures_util::{stream, StreamExt};
use rusqlite::params;
use tokio::io::AsyncReadExt;

use crate::db;
use crate::error::{Error, Result};
use crate::reference;
use crate::store::{resolve_id, ImageStore};

/// dockerd's default `max-concurrent-uploads`.
pub const DEFAULT_CONCURRENT_UPLOADS: usize = 5;
const UPLOAD_CHUNK: usize = 1 << 20;

/// Options of [`push`].
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// credentials for the registry
    pub credentials: Credentials,
    /// compression of layers that have no compressed blob yet (gzip or zstd)
    pub compression: Compression,
    /// blobs uploaded at once (0 = [`DEFAULT_CONCURRENT_UPLOADS`])
    pub max_concurrent_uploads: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            credentials: Credentials::default(),
            compression: Compression::Gzip,
            max_concurrent_uploads: 0,
        }
    }
}

/// A push progress event, in Docker's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProgress {
    /// `The push refers to repository [localhost:5000/app]`
    RefersTo(String),
    /// a layer's state: `Preparing`, `Waiting`, `Pushing`, `Pushed`, `Layer already exists`,
    /// `Mounted from <repo>`; `id` is 12 hex digits of the blob digest
    Layer {
        /// short blob id
        id: String,
        /// Docker's status text
        status: String,
        /// bytes sent (Pushing)
        current: u64,
        /// bytes total (Pushing)
        total: u64,
    },
    /// `<tag>: digest: sha256:... size: N`
    Tagged {
        /// tag pushed
        tag: String,
        /// manifest digest
        digest: String,
        /// manifest size in bytes
        size: u64,
    },
}

/// Progress sink.
pub type PushProgressFn<'a> = &'a (dyn Fn(PushProgress) + Send + Sync);

/// One pushed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    /// familiar reference
    pub reference: String,
    /// manifest digest
    pub digest: String,
    /// manifest size
    pub size: u64,
}

/// Push `name` (`repo` or `repo:tag`). With `tag` given it is used; a name without tag and
/// no `tag` pushes every local tag of the repository (the API's empty `tag=`).
pub async fn push(
    store: &Arc<ImageStore>,
    registry: &Registry,
    name: &str,
    tag: Option<&str>,
    opts: &PushOptions,
    progress: PushProgressFn<'_>,
) -> Result<Vec<PushedTag>> {
    // compressed blobs and the manifest land in the store before their rows
    let _lease = store.lease();
    let full = match tag.filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    };
    let parsed = reference::parse_tag(&full)?;
    let repository = format!("{}/{}", parsed.registry(), parsed.repository());
    let explicit_tag = tag.is_some_and(|t| !t.is_empty()) || has_explicit_tag(name);
    let targets: Vec<Reference> = if explicit_tag {
        vec![parsed.clone()]
    } else {
        let conn = store.lock();
        let prefix = format!("{repository}:");
        db::strings(
            &conn,
            "SELECT reference FROM tags WHERE substr(reference, 1, length(?1)) = ?1 ORDER BY reference",
            &prefix,
        )?
        .into_iter()
        .filter_map(|r| crate::reference_grammar::parse(&r).ok())
        .collect()
    };
    if targets.is_empty() {
        return Err(Error::NotFound {
            name: format!("tag does not exist: {}", reference::familiar_name(&parsed)),
        });
    }
    // validate: every tag names an image
    {
        let conn = store.lock();
        for t in &targets {
            resolve_id(&conn, &reference::canonical(t)).map_err(|_| Error::NotFound {
                name: reference::familiar(t),
            })?;
        }
    }
    progress(PushProgress::RefersTo(format!(
        "The push refers to repository [{}]",
        if parsed.registry() == "docker.io" {
            format!("docker.io/{}", parsed.repository())
        } else {
            repository.clone()
        }
    )));
    let session = registry.session(&parsed, &opts.credentials);
    session.authenticate(&parsed, true).await?;
    let mut out = Vec::new();
    for t in targets {
        out.push(push_one(store, &session, &t, &repository, opts, progress).await?);
    }
    Ok(out)
}

fn has_explicit_tag(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.contains(':') || name.contains('@')
}

struct Plan {
    image_id: String,
    config: Bytes,
    /// (diff_id, descriptor) base first
    layers: Vec<Descriptor>,
    /// reusable manifest (bytes, media type)
    manifest: Option<(Bytes, String)>,
}

async fn push_one(
    store: &Arc<ImageStore>,
    session: &berth_registry::Session,
    target: &Reference,
    repository: &str,
    opts: &PushOptions,
    progress: PushProgressFn<'_>,
) -> Result<PushedTag> {
    let store2 = Arc::clone(store);
    let canonical = reference::canonical(target);
    let compression = opts.compression;
    let plan = tokio::task::spawn_blocking(move || store2.plan_push(&canonical, compression))
        .await
        .map_err(|e| Error::Corrupt {
            what: format!("push task failed: {e}"),
        })??;
    for l in &plan.layers {
        progress(layer(&l.digest, "Preparing", 0, 0));
    }
    let concurrency = match opts.max_concurrent_uploads {
        0 => DEFAULT_CONCURRENT_UPLOADS,
        n => n,
    };
    let mut jobs = Vec::with_capacity(plan.layers.len());
    for l in &plan.layers {
        jobs.push(Box::pin(push_blob(
            store, session, target, repository, l, progress,
        )));
    }
    let results: Vec<Result<()>> = stream::iter(jobs)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(e) = results.into_iter().find_map(|r| r.err()) {
        return Err(e);
    }
    if !session.blob_exists(target, &plan.image_id).await? {
        session.push_small_blob(target, plan.config.clone()).await?;
    }
    let (bytes, media_type) = match plan.manifest {
        Some(m) => m,
        None => build_manifest(&plan.image_id, plan.config.len() as u64, &plan.layers)?,
    };
    let digest = session
        .push_manifest(target, bytes.clone(), &media_type)
        .await?;
    let size = bytes.len() as u64;
    let store2 = Arc::clone(store);
    let repo = repository.to_string();
    let digest2 = digest.clone();
    let image_id = plan.image_id.clone();
    let layers = plan.layers.clone();
    let target2 = target.clone();
    tokio::task::spawn_blocking(move || {
        store2.record_push(&target2, &repo, &image_id, &digest2, &bytes, &layers)
    })
    .await
    .map_err(|e| Error::Corrupt {
        what: format!("push task failed: {e}"),
    })??;
    let tag = target.tag().unwrap_or("latest").to_string();
    progress(PushProgress::Tagged {
        tag,
        digest: digest.clone(),
        size,
    });
    Ok(PushedTag {
        reference: reference::familiar(target),
        digest,
        size,
    })
}

fn layer(digest: &str, status: &str, current: u64, total: u64) -> PushProgress {
    PushProgress::Layer {
        id: digest
            .strip_prefix("sha256:")
            .unwrap_or(digest)
            .chars()
            .take(12)
            .collect(),
        status: status.to_string(),
        current,
        total,
    }
}

async fn push_blob(
    store: &Arc<ImageStore>,
    session: &berth_registry::Session,
    target: &Reference,
    repository: &str,
    desc: &Descriptor,
    progress: PushProgressFn<'_>,
) -> Result<()> {
    if session.blob_exists(target, &desc.digest).await? {
        progress(layer(&desc.digest, "Layer already exists", 0, 0));
        return Ok(());
    }
    let registry = target.registry();
    let sources: Vec<String> = {
        let conn = store.lock();
        db::strings(
            &conn,
            "SELECT repository FROM blob_sources WHERE digest = ?1",
            &desc.digest,
        )?
    };
    for src in sources {
        let Some(repo) = src.strip_prefix(&format!("{registry}/")) else {
            continue;
        };
        if src == repository {
            continue;
        }
        if session.mount_blob(target, repo, &desc.digest).await {
            progress(layer(&desc.digest, &format!("Mounted from {repo}"), 0, 0));
            return Ok(());
        }
    }
    let path = store.content.blob_path(&desc.digest)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::io("open blob", &path, e))?;
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let body = stream::unfold(file, move |mut f| {
        let counter = Arc::clone(&counter);
        async move {
            let mut buf = vec![0u8; UPLOAD_CHUNK];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok(Bytes::from(buf)), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        }
    })
    .boxed();
    let upload = session.push_blob(target, &desc.digest, desc.size, body);
    tokio::pin!(upload);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            r = &mut upload => { r?; break; }
            _ = tick.tick() => {
                let n = sent.load(Ordering::Relaxed);
                if n > 0 {
                    progress(layer(&desc.digest, "Pushing", n, desc.size));
                }
            }
        }
    }
    progress(layer(&desc.digest, "Pushing", desc.size, desc.size));
    progress(layer(&desc.digest, "Pushed", 0, 0));
    Ok(())
}

/// A Docker schema2 manifest, or an OCI manifest when a layer is zstd (schema2 has no zstd).
fn build_manifest(
    config_digest: &str,
    config_size: u64,
    layers: &[Descriptor],
) -> Result<(Bytes, String)> {
    let oci = layers.iter().any(|l| l.media_type == wire::OCI_LAYER_ZSTD);
    let (mt, config_mt) = if oci {
        (OCI_MANIFEST, OCI_CONFIG)
    } else {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    };
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({"mediaType": l.media_type, "size": l.size, "digest": l.digest}))
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": config_mt, "size": config_size, "digest": config_digest},
        "layers": layers,
    });
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Corrupt {
        what: format!("serializing manifest: {e}"),
    })?;
    Ok((Bytes::from(bytes), mt.to_string()))
}

impl ImageStore {
    /// Decide what to send for the image `canonical` names: its config, one blob per layer
    /// (compressing layers that have no compressed blob yet), and a reusable manifest.
    fn plan_push(&self, canonical: &str, compression: Compression) -> Result<Plan> {
        let (image_id, layers, manifests) = {
            let conn = self.lock();
            let image_id = resolve_id(&conn, canonical)?.id;
            let layers: Vec<(String, Option<String>)> = {
                let mut stmt = conn
                    .prepare(
                        "SELECT l.diff_id, l.blob FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id
                         WHERE il.image_id = ?1 ORDER BY il.idx",
                    )
                    .map_err(Error::db("prepare"))?;
                let rows = stmt
                    .query_map([&image_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(Error::db("query layers"))?;
                rows.collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(Error::db("read layers"))?
            };
            let manifests = db::strings(
                &conn,
                "SELECT digest FROM image_manifests WHERE image_id = ?1",
                &image_id,
            )?;
            (image_id, layers, manifests)
        };
        let config = Bytes::from(self.content.read(&image_id)?);
        // an unchanged pulled image: reuse its manifest if every blob is here
        for m in manifests {
            let Ok(bytes) = self.content.read(&m) else {
                continue;
            };
            let Ok(wire::Parsed::Image {
                media_type,
                config: c,
                layers: ls,
            }) = wire::parse(&m, &bytes)
            else {
                continue;
            };
            let compatible = ls.iter().all(|l| {
                l.compression()
                    .is_ok_and(|c| c == compression || c == Compression::None)
            });
            if c.digest == image_id
                && ls.len() == layers.len()
                && compatible
                && ls.iter().all(|l| self.content.contains(&l.digest))
            {
                return Ok(Plan {
                    image_id,
                    config,
                    layers: ls,
                    manifest: Some((Bytes::from(bytes), media_type)),
                });
            }
        }
        let mut descs = Vec::new();
        for (diff_id, plain) in layers {
            descs.push(self.compressed_layer(&diff_id, plain.as_deref(), compression)?);
        }
        Ok(Plan {
            image_id,
            config,
            layers: descs,
            manifest: None,
        })
    }

    /// The compressed blob of a layer: a remembered one, or compress the plain tar now.
    fn compressed_layer(
        &self,
        diff_id: &str,
        plain: Option<&str>,
        compression: Compression,
    ) -> Result<Descriptor> {
        let wanted = compression.docker_media_type();
        let known: Vec<(String, String, i64)> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT digest, media_type, size FROM layer_blobs WHERE diff_id = ?1",
                )
                .map_err(Error::db("prepare"))?;
            let rows = stmt
                .query_map([diff_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(Error::db("query layer blobs"))?;
            rows.collect::<std::result::Result<Vec<_>, _>>()
                .map_err(Error::db("read layer blobs"))?
        };
        for (digest, media_type, size) in &known {
            let d = Descriptor {
                media_type: media_type.clone(),
                digest: digest.clone(),
                size: u64::try_from(*size).unwrap_or(0),
                platform: None,
                urls: None,
            };
            if d.compression().ok() == Some(compression) && self.content.contains(digest) {
                return Ok(Descriptor {
                    media_type: wanted.to_string(),
                    ..d
                });
            }
        }
        // the plain tar: an imported/committed layer's blob (digest == diff_id)
        let source = [Some(diff_id), plain]
            .into_iter()
            .flatten()
            .find(|d| *d == diff_id && self.content.contains(d))
            .ok_or_else(|| Error::BlobNotFound {
                digest: format!("{diff_id} (no blob of this layer is left in the store to push)"),
            })?;
        let mut input = self.content.open_blob(source)?;
        let mut ingest = self.content.ingest()?;
        match compression {
            Compression::Gzip | Compression::None => {
                // level 1: most of gzip's ratio on tar layers at several times the speed of 6
                let mut enc =
                    flate2::write::GzEncoder::new(&mut ingest, flate2::Compression::fast());
                std::io::copy(&mut input, &mut enc)
                    .map_err(|e| Error::io("compress layer", "", e))?;
                enc.finish()
                    .map_err(|e| Error::io("compress layer", "", e))?;
            }
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(&mut ingest, 3)
                    .map_err(|e| Error::io("compress layer", "", e))?;
                std::io::copy(&mut input, &mut enc)
                    .map_err(|e| Error::io("compress layer", "", e))?;
                enc.finish()
                    .map_err(|e| Error::io("compress layer", "", e))?;
            }
        }
        let committed = ingest.commit(None)?;
        let media_type = if compression == Compression::None {
            Compression::Gzip.docker_media_type()
        } else {
            wanted
        };
        let conn = self.lock();
        conn.execute(
            "INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?1, ?2, ?3, ?4)",
            params![diff_id, committed.digest, media_type, committed.size as i64],
        )
        .map_err(Error::db("insert layer blob"))?;
        Ok(Descriptor {
            media_type: media_type.to_string(),
            digest: committed.digest,
            size: committed.size,
            platform: None,
            urls: None,
        })
    }

    /// After a push: keep the manifest, record the repo digest and where the blobs now are.
    fn record_push(
        &self,
        target: &Reference,
        repository: &str,
        image_id: &str,
        digest: &str,
        manifest: &[u8],
        layers: &[Descriptor],
    ) -> Result<()> {
        self.content.write_blob(manifest, Some(digest))?;
        let digest_ref = Reference::with_digest(
            target.registry().to_string(),
            target.repository().to_string(),
            digest.to_string(),
        );
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(Error::db("begin"))?;
        tx.execute(
            "INSERT INTO digests (reference, image_id) VALUES (?1, ?2)
             ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
            params![reference::canonical(&digest_ref), image_id],
        )
        .map_err(Error::db("insert digest"))?;
        tx.execute(
            "INSERT INTO image_manifests (image_id, repository, digest) VALUES (?1, ?2, ?3)
             ON CONFLICT(image_id, repository) DO UPDATE SET digest = excluded.digest",
            params![image_id, repository, digest],
        )
        .map_err(Error::db("insert image manifest"))?;
        for d in layers
            .iter()
            .map(|l| l.digest.as_str())
            .chain(std::iter::once(image_id))
        {
            tx.execute(
                "INSERT OR IGNORE INTO blob_sources (digest, repository) VALUES (?1, ?2)",
                params![d, repository],
            )
            .map_err(Error::db("insert blob source"))?;
        }
        tx.commit().map_err(Error::db("commit push"))
    }
}
