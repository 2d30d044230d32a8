//! `docker pull`: resolve a reference at a registry, download the layers concurrently and
//! unpack each while it streams, then publish the image in one transaction.
//!
//! Per layer, one pass over the data: the async side forwards the body's chunks (already
//! digest-checked by the registry client) to a blocking worker that tees the compressed bytes
//! into a content-store ingest (hashed: the blob digest), decompresses (gzip, zstd or none),
//! and hands the tar stream to [`pipelined_unpack`] which hashes it (the diff_id) while a
//! second thread unpacks it into a temporary layer directory. Both digests are verified before
//! the layer is published (blob renamed into place, directory renamed to `layers/<chain>`,
//! row inserted). A layer is published as soon as it is complete, so an interrupted pull
//! leaves whole layers (reused by the next pull: "Already exists") and no image; the image
//! rows, tag and repo digest are written last, in one transaction.

use std::fs;
use std::io::{self, Read, Write};
use std::sync::Arc;

use berth_registry::{
    Compression, Credentials, Descriptor, Platform, Reference, Registry, Resolved,
};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{stream, StreamExt};
use oci_spec::image::ImageConfiguration;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use crate::content::{self, PendingBlob};
use crate::db;
use crate::error::{Error, Result};
use crate::import::pipelined_unpack;
use crate::reference;
use crate::store::{ImageRecord, ImageStore, TempDir};
use crate::unpack::UnpackStats;

/// dockerd's default `max-concurrent-downloads`.
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;
/// Report download progress at most every this many bytes per layer.
const PROGRESS_STEP: u64 = 512 * 1024;

/// Options of [`pull`].
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `os[/arch[/variant]]` to pick from an index; default the host's
    pub platform: Option<String>,
    /// credentials for the registry (anonymous when empty)
    pub credentials: Credentials,
    /// layers downloaded at once (0 = [`DEFAULT_CONCURRENT_DOWNLOADS`])
    pub max_concurrent_downloads: usize,
}

/// A pull progress event, in the order Docker reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    /// `<tag>: Pulling from <repository path>`
    PullingFrom {
        /// tag or digest being pulled
        id: String,
        /// repository path, e.g. `library/busybox`
        repository: String,
    },
    /// a layer's state changed; `id` is the first 12 hex digits of its blob digest
    Layer {
        /// short layer id
        id: String,
        /// Docker's status text
        status: LayerStatus,
        /// bytes done (downloading)
        current: u64,
        /// bytes total (downloading)
        total: u64,
    },
    /// `Digest: sha256:...`
    Digest(String),
    /// the final `Status: ...` line
    Status(String),
}

/// Docker's per-layer status texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerStatus {
    /// the layer is already in the store
    AlreadyExists,
    /// queued
    PullingFsLayer,
    /// waiting for a download slot
    Waiting,
    /// bytes arriving (and being unpacked)
    Downloading,
    /// digests being checked
    VerifyingChecksum,
    /// download done
    DownloadComplete,
    /// layer published
    PullComplete,
}

impl LayerStatus {
    /// Docker's wording.
    pub fn text(self) -> &'static str {
        match self {
            LayerStatus::AlreadyExists => "Already exists",
            LayerStatus::PullingFsLayer => "Pulling fs layer",
            LayerStatus::Waiting => "Waiting",
            LayerStatus::Downloading => "Downloading",
            LayerStatus::VerifyingChecksum => "Verifying Checksum",
            LayerStatus::DownloadComplete => "Download complete",
            LayerStatus::PullComplete => "Pull complete",
        }
    }
}

/// What [`pull`] produced.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// the image
    pub image: ImageRecord,
    /// the digest the reference resolved to (index digest for multi-platform images)
    pub digest: String,
    /// the reference in familiar form (`busybox:latest`)
    pub reference: String,
    /// false when the reference already named this image ("Image is up to date")
    pub downloaded: bool,
}

/// Progress sink; called from the pulling task (never from a blocking thread).
pub type ProgressFn<'a> = &'a (dyn Fn(PullProgress) + Send + Sync);

/// Pull `name` (Docker's reference grammar: `busybox`, `host:port/repo:tag`, `repo@sha256:…`)
/// into `store`. Validates the reference and platform before any request. On error nothing of
/// the image is recorded; complete layers stay for the next attempt.
pub async fn pull(
    store: &Arc<ImageStore>,
    registry: &Registry,
    name: &str,
    opts: &PullOptions,
    progress: ProgressFn<'_>,
) -> Result<Pulled> {
    pull_tag(store, registry, name, opts, progress, true).await
}

/// [`pull`], with the final `Status:` line only when `report_status` (a pull of all tags
/// reports one status for the repository).
pub(crate) async fn pull_tag(
    store: &Arc<ImageStore>,
    registry: &Registry,
    name: &str,
    opts: &PullOptions,
    progress: ProgressFn<'_>,
    report_status: bool,
) -> Result<Pulled> {
    // blobs land in the store before the rows naming them: keep sweeps off them meanwhile
    let _lease = store.lease();
    let parsed = reference::parse(name)?;
    // name:tag@digest pulls by digest (Docker ignores the tag for the fetch)
    let r = match parsed.digest() {
        Some(d) => Reference::with_digest(
            parsed.registry().to_string(),
            parsed.repository().to_string(),
            d.to_string(),
        ),
        None => parsed.clone(),
    };
    let explicit_platform = opts.platform.as_deref().filter(|p| !p.is_empty());
    let platform = Platform::parse(explicit_platform.unwrap_or(""))?;
    let concurrency = match opts.max_concurrent_downloads {
        0 => DEFAULT_CONCURRENT_DOWNLOADS,
        n => n,
    };

    let session = registry.session(&r, &opts.credentials);
    session.authenticate(&r, false).await?;
    let resolved = session.resolve(&r, &platform).await?;
    progress(PullProgress::PullingFrom {
        id: r.digest().or(r.tag()).unwrap_or("latest").to_string(),
        repository: r.repository().to_string(),
    });

    // config: verified, parsed, and checked against the manifest and platform
    let config_bytes = if store.content.contains(&resolved.config.digest) {
        Bytes::from(store.content.read(&resolved.config.digest)?)
    } else {
        session.fetch_blob(&r, &resolved.config).await?
    };
    let config: ImageConfiguration =
        serde_json::from_slice(&config_bytes).map_err(|e| invalid(&r, format!("config: {e}")))?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != resolved.layers.len() {
        return Err(invalid(
            &r,
            format!(
                "manifest has {} layers but the config lists {} diff_ids",
                resolved.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    for d in &diff_ids {
        berth_registry::manifest::check_digest(&r.whole(), d)?;
    }
    if explicit_platform.is_some() && resolved.index.is_none() {
        let os = config.os().to_string();
        let arch = config.architecture().to_string();
        if os != platform.os || arch != platform.architecture {
            return Err(Error::InvalidArgument {
                what: format!("image {}", reference::familiar(&parsed)),
                reason: format!(
                    "image with reference {} was found but does not match the specified platform: wanted {platform}, actual: {os}/{arch}",
                    reference::familiar(&parsed)
                ),
            });
        }
    }
    let chains = chain_ids(&diff_ids);

    // which layers are missing
    let mut missing = Vec::new();
    {
        let conn = store.lock();
        for (i, desc) in resolved.layers.iter().enumerate() {
            if db::layer_exists(&conn, &chains[i])? {
                progress(layer_event(desc, LayerStatus::AlreadyExists, 0, 0));
            } else {
                missing.push(i);
            }
        }
    }
    for (n, &i) in missing.iter().enumerate() {
        progress(layer_event(
            &resolved.layers[i],
            LayerStatus::PullingFsLayer,
            0,
            0,
        ));
        if n >= concurrency {
            progress(layer_event(&resolved.layers[i], LayerStatus::Waiting, 0, 0));
        }
    }
    let mut jobs = Vec::with_capacity(missing.len());
    for i in missing {
        let job = LayerJob {
            desc: resolved.layers[i].clone(),
            diff_id: diff_ids[i].clone(),
            chain_id: chains[i].clone(),
            parent: (i > 0).then(|| chains[i - 1].clone()),
        };
        // boxed: keeps the closure-free future type simple enough for `tokio::spawn`
        jobs.push(Box::pin(download_layer(store, &session, &r, job, progress)));
    }
    let results: Vec<Result<()>> = stream::iter(jobs)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(e) = results.into_iter().find_map(|r| r.err()) {
        return Err(e);
    }

    // publish the image
    let store2 = Arc::clone(store);
    let parsed2 = parsed.clone();
    let resolved2 = resolved.clone();
    let (image, downloaded) = tokio::task::spawn_blocking(move || {
        store2.commit_pulled(&parsed2, &resolved2, &config_bytes, &config, &chains)
    })
    .await
    .map_err(|e| Error::Corrupt {
        what: format!("pull task failed: {e}"),
    })??;
    let familiar = reference::familiar(&parsed);
    progress(PullProgress::Digest(resolved.digest.clone()));
    if report_status {
        progress(status_line(downloaded, &familiar));
    }
    Ok(Pulled {
        image,
        digest: resolved.digest,
        reference: familiar,
        downloaded,
    })
}

/// Docker's last line of a pull.
pub(crate) fn status_line(downloaded: bool, familiar: &str) -> PullProgress {
    PullProgress::Status(if downloaded {
        format!("Downloaded newer image for {familiar}")
    } else {
        format!("Image is up to date for {familiar}")
    })
}

fn invalid(r: &Reference, reason: String) -> Error {
    Error::Registry(berth_registry::Error::InvalidManifest {
        reference: r.whole(),
        reason,
    })
}

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}

fn layer_event(desc: &Descriptor, status: LayerStatus, current: u64, total: u64) -> PullProgress {
    PullProgress::Layer {
        id: short(&desc.digest),
        status,
        current,
        total,
    }
}

/// OCI chain ids: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => content::sha256_digest(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

struct LayerJob {
    desc: Descriptor,
    diff_id: String,
    chain_id: String,
    parent: Option<String>,
}

async fn download_layer(
    store: &Arc<ImageStore>,
    session: &berth_registry::Session,
    r: &Reference,
    job: LayerJob,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let compression = job.desc.compression()?;
    let mut body = session.blob_stream(r, &job.desc.digest).await?;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    let worker = {
        let store = Arc::clone(store);
        let digest = job.desc.digest.clone();
        let diff_id = job.diff_id.clone();
        tokio::task::spawn_blocking(move || {
            unpack_stream(&store, rx, &digest, &diff_id, compression)
        })
    };
    let total = job.desc.size;
    let mut received: u64 = 0;
    let mut reported: u64 = 0;
    let mut failure: Option<Error> = None;
    let mut worker_gone = false;
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => {
                received += chunk.len() as u64;
                if received > total {
                    failure = Some(size_error(&job.desc, received));
                    let _ = tx
                        .send(Err(io::Error::other("blob larger than announced")))
                        .await;
                    break;
                }
                if tx.send(Ok(chunk)).await.is_err() {
                    worker_gone = true;
                    break; // the worker stopped: its error is reported below
                }
                if received - reported >= PROGRESS_STEP || received == total {
                    reported = received;
                    progress(layer_event(
                        &job.desc,
                        LayerStatus::Downloading,
                        received,
                        total,
                    ));
                }
            }
            Err(e) => {
                let err = session.stream_error(r, &job.desc.digest, e);
                let _ = tx.send(Err(io::Error::other(err.to_string()))).await;
                failure = Some(err.into());
                break;
            }
        }
    }
    if failure.is_none() && !worker_gone && received != total {
        failure = Some(size_error(&job.desc, received));
        let _ = tx
            .send(Err(io::Error::other("blob shorter than announced")))
            .await;
    }
    drop(tx);
    let unpacked = worker.await.map_err(|e| Error::Corrupt {
        what: format!("layer worker failed: {e}"),
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let (blob, tmp, stats) = unpacked?;
    progress(layer_event(&job.desc, LayerStatus::VerifyingChecksum, 0, 0));
    progress(layer_event(&job.desc, LayerStatus::DownloadComplete, 0, 0));
    let store2 = Arc::clone(store);
    let desc = job.desc.clone();
    tokio::task::spawn_blocking(move || {
        store2.publish_layer(
            blob,
            tmp,
            &job.chain_id,
            &job.diff_id,
            job.parent.as_deref(),
            &stats,
            &desc,
        )
    })
    .await
    .map_err(|e| Error::Corrupt {
        what: format!("layer publish failed: {e}"),
    })??;
    progress(layer_event(&job.desc, LayerStatus::PullComplete, 0, 0));
    Ok(())
}

fn size_error(desc: &Descriptor, received: u64) -> Error {
    Error::Registry(berth_registry::Error::DigestMismatch {
        what: format!("blob {} size", desc.digest),
        expected: format!("{} bytes", desc.size),
        actual: format!("{received} bytes"),
    })
}

/// The blocking half of a layer download: tee into the blob ingest, decompress, unpack,
/// verify both digests. Returns the verified (not yet visible) blob and the unpacked layer
/// in a temporary directory (removed on drop).
fn unpack_stream(
    store: &ImageStore,
    rx: mpsc::Receiver<io::Result<Bytes>>,
    digest: &str,
    diff_id: &str,
    compression: Compression,
) -> Result<(PendingBlob, TempDir, UnpackStats)> {
    let tmp = TempDir::new(&store.root, "pull")?;
    let diff_dir = tmp.path.join("diff");
    fs::create_dir(&diff_dir).map_err(|e| Error::io("create dir", &diff_dir, e))?;
    fs::set_permissions(
        &diff_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(|e| Error::io("chmod", &diff_dir, e))?;
    let tee = Tee {
        rx,
        current: Bytes::new(),
        ingest: store.content.ingest()?,
    };
    let mut hasher = HashWriter(Sha256::new());
    let (stats, mut tee) = match compression {
        Compression::Gzip => {
            let mut dec = flate2::read::MultiGzDecoder::new(tee);
            let stats = pipelined_unpack(&mut dec, &mut hasher, &diff_dir)?;
            (stats, dec.into_inner())
        }
        Compression::Zstd => {
            let mut dec = zstd::stream::read::Decoder::new(tee)
                .map_err(|e| Error::archive("<archive>", format!("zstd: {e}")))?;
            let stats = pipelined_unpack(&mut dec, &mut hasher, &diff_dir)?;
            (stats, dec.finish().into_inner())
        }
        Compression::None => {
            let mut tee = tee;
            let stats = pipelined_unpack(&mut tee, &mut hasher, &diff_dir)?;
            (stats, tee)
        }
    };
    // whatever the decoder did not need still belongs to the blob
    io::copy(&mut tee, &mut io::sink())
        .map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
    let blob = tee.ingest.finish(Some(digest))?;
    let actual_diff = format!("sha256:{}", hex::encode(hasher.0.finalize()));
    if actual_diff != diff_id {
        return Err(Error::DigestMismatch {
            expected: diff_id.to_string(),
            actual: actual_diff,
        });
    }
    let f = fs::File::open(&diff_dir).map_err(|e| Error::io("open", &diff_dir, e))?;
    nix::unistd::syncfs(&f).map_err(|e| Error::io("syncfs", &diff_dir, e.into()))?;
    Ok((blob, tmp, stats))
}

/// Reads the body chunks and writes every byte read into the blob ingest.
struct Tee {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    ingest: content::IngestWriter,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.ingest.write_all(&chunk)?;
                    self.current = chunk;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ImageStore {
    /// Make a verified layer visible: blob into place, directory to `layers/<chain>`, row.
    /// If another pull published the same layer meanwhile, ours is dropped.
    #[allow(clippy::too_many_arguments)]
    fn publish_layer(
        &self,
        blob: PendingBlob,
        tmp: TempDir,
        chain_id: &str,
        diff_id: &str,
        parent: Option<&str>,
        stats: &UnpackStats,
        desc: &Descriptor,
    ) -> Result<()> {
        let mut conn = self.lock();
        let committed = blob.commit()?;
        let remember = |conn: &rusqlite::Connection| {
            conn.execute(
                "INSERT OR IGNORE INTO layer_blobs (diff_id, digest, media_type, size) VALUES (?1, ?2, ?3, ?4)",
                params![diff_id, committed.digest, desc.media_type, committed.size as i64],
            )
            .map_err(Error::db("insert layer blob"))
        };
        if db::layer_exists(&conn, chain_id)? {
            remember(&conn)?;
            return Ok(());
        }
        let layer_dir = self.layer_dir(chain_id)?;
        if layer_dir.exists() {
            fs::remove_dir_all(&layer_dir)
                .map_err(|e| Error::io("remove stale layer dir", &layer_dir, e))?;
        }
        fs::rename(&tmp.path, &layer_dir)
            .map_err(|e| Error::io("rename layer dir", &layer_dir, e))?;
        let result = (|| -> Result<()> {
            content::fsync_dir(&self.root.join("layers"))?;
            let tx = conn.transaction().map_err(Error::db("begin"))?;
            tx.execute(
                "INSERT INTO layers (chain_id, diff_id, parent, size, blob) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![chain_id, diff_id, parent, stats.size as i64, committed.digest],
            )
            .map_err(Error::db("insert layer"))?;
            remember(&tx)?;
            tx.commit().map_err(Error::db("commit layer"))
        })();
        if let Err(e) = result {
            if let Err(u) = fs::remove_dir_all(&layer_dir) {
                tracing::error!(path = %layer_dir.display(), error = %u, "rolling back layer");
            }
            return Err(e);
        }
        tmp.disarm();
        Ok(())
    }

    /// Write the config and manifest blobs and the image rows, tag and repo digest in one
    /// transaction. Returns the image and whether the reference changed.
    fn commit_pulled(
        &self,
        r: &Reference,
        resolved: &Resolved,
        config_bytes: &[u8],
        config: &ImageConfiguration,
        chains: &[String],
    ) -> Result<(ImageRecord, bool)> {
        let image_id = resolved.config.digest.clone();
        self.content.write_blob(config_bytes, Some(&image_id))?;
        self.content
            .write_blob(&resolved.manifest, Some(&resolved.manifest_digest))?;
        if let Some((index, _)) = &resolved.index {
            self.content.write_blob(index, Some(&resolved.digest))?;
        }
        let created = config
            .created()
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
            .to_rfc3339_opts(SecondsFormat::Nanos, true);
        let repository = format!("{}/{}", r.registry(), r.repository());
        let digest_ref = Reference::with_digest(
            r.registry().to_string(),
            r.repository().to_string(),
            resolved.digest.clone(),
        );
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(Error::db("begin"))?;
        let mut size: i64 = 0;
        for c in chains {
            size += tx
                .query_row("SELECT size FROM layers WHERE chain_id = ?1", [c], |row| {
                    row.get::<_, i64>(0)
                })
                .optional()
                .map_err(Error::db("read layer"))?
                .ok_or_else(|| Error::Corrupt {
                    what: format!("layer {c} vanished during the pull"),
                })?;
        }
        let existed = tx
            .query_row(
                "SELECT 1 FROM images WHERE id = ?1",
                [&image_id],
                |_| Ok(()),
            )
            .optional()
            .map_err(Error::db("query image"))?
            .is_some();
        tx.execute(
            "INSERT OR IGNORE INTO images (id, created, parent, comment, size) VALUES (?1, ?2, '', '', ?3)",
            params![image_id, created, size],
        )
        .map_err(Error::db("insert image"))?;
        for (i, c) in chains.iter().enumerate() {
            tx.execute(
                "INSERT OR IGNORE INTO image_layers (image_id, idx, chain_id) VALUES (?1, ?2, ?3)",
                params![image_id, i as i64, c],
            )
            .map_err(Error::db("insert image layer"))?;
        }
        let mut changed = !existed;
        if r.tag().is_some() {
            let canonical = reference::canonical(r);
            let before: Option<String> = tx
                .query_row(
                    "SELECT image_id FROM tags WHERE reference = ?1",
                    [&canonical],
                    |row| row.get(0),
                )
                .optional()
                .map_err(Error::db("query tag"))?;
            changed |= before.as_deref() != Some(image_id.as_str());
            tx.execute(
                "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)
                 ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
                params![canonical, image_id],
            )
            .map_err(Error::db("insert tag"))?;
        }
        tx.execute(
            "INSERT INTO digests (reference, image_id) VALUES (?1, ?2)
             ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
            params![reference::canonical(&digest_ref), image_id],
        )
        .map_err(Error::db("insert digest"))?;
        tx.execute(
            "INSERT INTO image_manifests (image_id, repository, digest) VALUES (?1, ?2, ?3)
             ON CONFLICT(image_id, repository) DO UPDATE SET digest = excluded.digest",
            params![image_id, repository, resolved.manifest_digest],
        )
        .map_err(Error::db("insert image manifest"))?;
        for d in std::iter::once(&resolved.config).chain(resolved.layers.iter()) {
            tx.execute(
                "INSERT OR IGNORE INTO blob_sources (digest, repository) VALUES (?1, ?2)",
                params![d.digest, repository],
            )
            .map_err(Error::db("insert blob source"))?;
        }
        tx.commit().map_err(Error::db("commit pull"))?;
        let record = self.load_record(&conn, &image_id)?;
        Ok((record, changed))
    }
}

/// Docker's rule when a tag is removed: if no other tag of the same repository remains, the
/// repository's digest references (`repo@sha256:…` from a pull or push) go with it, so
/// `rmi repo:tag` of a pulled image deletes it. `refs` (canonical) and `items` are updated.
pub(crate) fn untag_orphan_digests(
    conn: &rusqlite::Connection,
    removed: &str,
    refs: &mut Vec<String>,
    items: &mut Vec<crate::store::RemovedItem>,
) -> Result<()> {
    let Ok(r) = crate::reference_grammar::parse(removed) else {
        return Ok(());
    };
    if r.digest().is_some() && r.tag().is_none() {
        return Ok(());
    }
    let repo = format!("{}/{}", r.registry(), r.repository());
    let same_repo = |x: &str| {
        crate::reference_grammar::parse(x)
            .is_ok_and(|o| format!("{}/{}", o.registry(), o.repository()) == repo)
    };
    let is_digest = |x: &str| x.contains('@');
    if refs.iter().any(|x| !is_digest(x) && same_repo(x)) {
        return Ok(());
    }
    let (gone, keep): (Vec<String>, Vec<String>) =
        refs.drain(..).partition(|x| is_digest(x) && same_repo(x));
    *refs = keep;
    for d in gone {
        conn.execute("DELETE FROM digests WHERE reference = ?1", [&d])
            .map_err(Error::db("delete digest"))?;
        items.push(crate::store::RemovedItem::Untagged(
            reference::familiar_str(&d),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        assert_eq!(
            chains[1],
            content::sha256_digest(format!("{a} {b}").as_bytes())
        );
    }
}
