//! `docker import`: a rootfs tarball becomes a one-layer image.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use oci_spec::image::{Arch, Config, HistoryBuilder, ImageConfigurationBuilder, Os, RootFsBuilder};
use rusqlite::params;

use crate::changes::apply_changes;
use crate::content;
use crate::db;
use crate::error::{Error, Result};
use crate::reference;
use crate::store::{ImageRecord, ImageStore, ImportOptions, TempDir};
use crate::unpack;

const READ_BUFFER: usize = 1 << 20;

impl ImageStore {
    /// Import a rootfs tarball (plain, gzip or zstd, detected by magic; bzip2 and xz are refused) as a
    /// one-layer image, the way `docker import` does.
    ///
    /// The input is read once: the decompressed stream is hashed (the layer's diff_id), unpacked
    /// into a temporary layer directory and teed into the layer blob (the uncompressed tar, so the
    /// blob digest equals the diff_id, as Docker stores imports). A layer already present (same
    /// diff_id) is reused and the new copy dropped. The config follows Docker's shape:
    /// architecture/os (host or `platform`), `rootfs.diff_ids`, `created` now, one history entry
    /// with `comment` = message or "Imported from -", and `config` from `changes`.
    ///
    /// With `reference`, the image is tagged (the tag moves from any other image).
    /// Options are validated before any data is read. On any error the store is left exactly as it
    /// was (temporary files removed, database transaction rolled back).
    pub fn import(&self, tar: impl Read, opts: ImportOptions) -> Result<ImageRecord> {
        // validate first
        let target = opts
            .reference
            .as_deref()
            .map(reference::parse_tag)
            .transpose()?;
        let (arch, variant) = parse_platform(opts.platform.as_deref())?;
        let mut config = Config::default();
        apply_changes(&mut config, &opts.changes)?;
        let comment = opts
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Imported from -".to_string());

        // stream: decompress -> tee into the blob -> unpack (hashing happens in the ingest writer)
        let started = Instant::now();
        let tmp = TempDir::new(&self.root, "import")?;
        let diff_dir = tmp.path.join("diff");
        fs::create_dir(&diff_dir).map_err(|e| Error::io("create dir", &diff_dir, e))?;
        // The layer root's mode shows through as the container's `/` unless the archive has a
        // `./` entry: don't let the daemon's umask decide it.
        fs::set_permissions(
            &diff_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(|e| Error::io("chmod", &diff_dir, e))?;
        let mut ingest = self.content.ingest()?;
        let mut input = BufReader::with_capacity(READ_BUFFER, tar);
        let magic = input
            .fill_buf()
            .map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
        let decoded: Box<dyn Read> = match magic {
            [0x1f, 0x8b, ..] => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Box::new(
                zstd::stream::read::Decoder::with_buffer(input)
                    .map_err(|e| Error::archive("<archive>", format!("zstd: {e}")))?,
            ),
            [0x42, 0x5a, 0x68, ..] | [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ..] => {
                return Err(Error::Unsupported {
                    what: "bzip2/xz-compressed archives".into(),
                })
            }
            _ => Box::new(input),
        };
        let stats = pipelined_unpack(decoded, &mut ingest, &diff_dir)?;
        if stats.tar_bytes == 0 {
            return Err(Error::archive("<archive>", "empty input"));
        }
        let unpacked = started.elapsed();
        let blob = ingest.finish(None)?;
        let diff_id = blob.digest().to_string();
        let chain_id = diff_id.clone();
        sync_tree(&diff_dir)?;
        let elapsed = started.elapsed();
        tracing::info!(
            diff_id = %diff_id,
            entries = stats.entries,
            tar_bytes = stats.tar_bytes,
            unpack_ms = unpacked.as_millis() as u64,
            total_ms = elapsed.as_millis() as u64,
            mb_per_s = (stats.tar_bytes as f64 / 1e6) / unpacked.as_secs_f64().max(1e-9),
            "layer unpacked"
        );

        // config
        let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
        let oci = |e: oci_spec::OciSpecError| Error::Corrupt {
            what: format!("building image config: {e}"),
        };
        let history = HistoryBuilder::default()
            .created(created.clone())
            .created_by("")
            .comment(comment.clone())
            .build()
            .map_err(oci)?;
        let rootfs = RootFsBuilder::default()
            .typ("layers")
            .diff_ids(vec![diff_id.clone()])
            .build()
            .map_err(oci)?;
        let mut builder = ImageConfigurationBuilder::default()
            .created(created.clone())
            .architecture(arch)
            .os(Os::Linux)
            .config(config)
            .rootfs(rootfs)
            .history(vec![history]);
        if let Some(v) = variant {
            builder = builder.variant(v);
        }
        let image_config = builder.build().map_err(oci)?;
        // Via a Value: sorted keys make the blob deterministic, and Docker's top-level "comment"
        // (not in the OCI struct) is kept.
        let mut value = serde_json::to_value(&image_config).map_err(|e| Error::Corrupt {
            what: format!("serializing image config: {e}"),
        })?;
        if let serde_json::Value::Object(m) = &mut value {
            m.insert("comment".into(), serde_json::Value::String(comment.clone()));
        }
        let config_bytes = serde_json::to_vec(&value).map_err(|e| Error::Corrupt {
            what: format!("serializing image config: {e}"),
        })?;
        let image_id = content::sha256_digest(&config_bytes);

        // commit: under the lock, one transaction; undo disk changes if it fails
        let mut conn = self.lock();
        let mut undo: Vec<PathBuf> = Vec::new();
        let result = (|| -> Result<()> {
            let tx = conn.transaction().map_err(Error::db("begin"))?;
            let layer_dir = self.layer_dir(&chain_id)?;
            // The layer blob is kept only with a new layer: if the layer exists it already has
            // its blob (or came from a compressed one), and a second copy would be garbage.
            let new_layer = if db::layer_exists(&tx, &chain_id)? {
                None
            } else {
                if layer_dir.exists() {
                    fs::remove_dir_all(&layer_dir)
                        .map_err(|e| Error::io("remove stale layer dir", &layer_dir, e))?;
                }
                fs::rename(&tmp.path, &layer_dir)
                    .map_err(|e| Error::io("rename layer dir", &layer_dir, e))?;
                undo.push(layer_dir.clone());
                content::fsync_dir(&self.root.join("layers"))?;
                tx.execute(
                    "INSERT INTO layers (chain_id, diff_id, parent, size, blob)
                     VALUES (?1, ?2, NULL, ?3, ?4)",
                    params![chain_id, diff_id, stats.size as i64, diff_id],
                )
                .map_err(Error::db("insert layer"))?;
                Some(())
            };
            if new_layer.is_some() {
                let c = blob.commit()?;
                if c.created {
                    undo.push(self.content.blob_path(&c.digest)?);
                }
            }
            let c = self.content.write_blob(&config_bytes, Some(&image_id))?;
            if c.created {
                undo.push(self.content.blob_path(&c.digest)?);
            }
            tx.execute(
                "INSERT OR IGNORE INTO images (id, created, parent, comment, size) VALUES (?1, ?2, '', ?3, ?4)",
                params![image_id, created, comment, stats.size as i64],
            )
            .map_err(Error::db("insert image"))?;
            tx.execute(
                "INSERT OR IGNORE INTO image_layers (image_id, idx, chain_id) VALUES (?1, 0, ?2)",
                params![image_id, chain_id],
            )
            .map_err(Error::db("insert image layer"))?;
            if let Some(t) = &target {
                tx.execute(
                    "INSERT INTO tags (reference, image_id) VALUES (?1, ?2)
                     ON CONFLICT(reference) DO UPDATE SET image_id = excluded.image_id",
                    params![reference::canonical(t), image_id],
                )
                .map_err(Error::db("insert tag"))?;
            }
            tx.commit().map_err(Error::db("commit import"))
        })();
        if let Err(e) = result {
            crate::sys::remove_published(&undo, "import");
            return Err(e);
        }
        let layer_was_new = undo
            .first()
            .is_some_and(|p| p.starts_with(self.root.join("layers")));
        if layer_was_new {
            tmp.disarm();
        }
        let record = self.load_record(&conn, &image_id);
        drop(conn);
        record
    }
}

const CHUNK: usize = 1 << 20;
const CHUNKS_IN_FLIGHT: usize = 4;

/// Read (and decompress) `input` on the calling thread, writing every byte to `tee` (the blob
/// ingest, which hashes it), while a scoped thread unpacks the same bytes into `dir`: the two
/// halves overlap (decompression and hashing vs. file creation). At most
/// `CHUNKS_IN_FLIGHT` chunks are buffered. A read error on the input is passed to the unpacker
/// as an error (never as a clean end of stream, which could look like a complete archive).
pub(crate) fn pipelined_unpack<W: Write>(
    mut input: impl Read,
    tee: &mut W,
    dir: &Path,
) -> Result<unpack::UnpackStats> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let unpacker = scope.spawn(move || {
            let reader = ChannelReader {
                rx,
                chunk: Vec::new(),
                pos: 0,
            };
            unpack::unpack_layer(reader, dir).map(|(_, stats)| stats)
        });
        let mut producer_error = None;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match read_full(&mut input, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    producer_error = Some(Error::archive("<archive>", format!("read: {e}")));
                    break;
                }
            };
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if let Err(e) = tee.write_all(&buf) {
                let _ = tx.send(Err(io::Error::other("layer blob write failed")));
                producer_error = Some(Error::io("write layer blob", dir, e));
                break;
            }
            if tx.send(Ok(buf)).is_err() {
                // the unpacker stopped: its error is the one to report
                break;
            }
        }
        drop(tx);
        let unpacked = unpacker.join().map_err(|_| Error::Corrupt {
            what: "layer unpack thread panicked".into(),
        })?;
        match producer_error {
            Some(e) => Err(e),
            None => unpacked,
        }
    })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // sender gone after the last chunk: end of stream
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// `os[/arch[/variant]]` or `arch`; only linux. Default: the host architecture.
fn parse_platform(p: Option<&str>) -> Result<(Arch, Option<String>)> {
    let host = host_arch();
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok((Arch::from(host), None));
    };
    let invalid = |reason: String| Error::InvalidArgument {
        what: format!("platform {p:?}"),
        reason,
    };
    let parts: Vec<&str> = p.split('/').collect();
    let (os, arch, variant) = match parts.as_slice() {
        [os] if *os == "linux" => ("linux", host, None),
        [arch] => ("linux", *arch, None),
        [os, arch] => (*os, *arch, None),
        [os, arch, v] => (*os, *arch, Some(v.to_string())),
        _ => return Err(invalid("expected os[/arch[/variant]]".into())),
    };
    if os != "linux" {
        return Err(invalid(format!("operating system {os:?} is not supported")));
    }
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i686" => "386",
        a => a,
    };
    let known = [
        "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le",
    ];
    if !known.contains(&arch) {
        return Err(invalid(format!("unknown architecture {arch:?}")));
    }
    Ok((Arch::from(arch), variant))
}

pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// Flush the unpacked layer to disk before it is published: one `syncfs` of its filesystem
/// instead of an fsync per file.
pub(crate) fn sync_tree(dir: &std::path::Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    nix::unistd::syncfs(&f).map_err(|e| Error::io("syncfs", dir, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() -> Result<()> {
        assert_eq!(parse_platform(None)?.0, Arch::from(host_arch()));
        assert_eq!(
            parse_platform(Some("linux/arm64/v8"))?,
            (Arch::ARM64, Some("v8".into()))
        );
        assert_eq!(parse_platform(Some("linux/x86_64"))?.0, Arch::Amd64);
        assert!(parse_platform(Some("windows/amd64")).is_err());
        assert!(parse_platform(Some("linux/bogus")).is_err());
        Ok(())
    }
}
