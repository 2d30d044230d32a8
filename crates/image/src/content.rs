//! Content-addressed blob store: `blobs/sha256/<hex>`, written through `ingest/`.
//!
//! Blobs are immutable once committed. A blob is written to a temporary file in `ingest/`,
//! hashed while written, fsynced, verified against the expected digest (if any), and renamed into
//! place; the directory is fsynced after the rename. Readers therefore never see a partial blob.
//! Committing a blob that already exists is a no-op (the temporary file is dropped).
//! Deleting blobs is the image store's job (garbage collection under its lock).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

const WRITE_BUFFER: usize = 1 << 20;

/// The blob store. Cheap to clone; all methods are safe to call concurrently.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

/// Outcome of committing an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// `sha256:<hex>` of the content
    pub digest: String,
    /// size in bytes
    pub size: u64,
    /// false when the blob already existed and nothing was written
    pub created: bool,
}

impl ContentStore {
    /// Open (creating directories) the store rooted at `root` (`<root>/blobs/sha256`, `<root>/ingest`).
    /// Leftover ingest files from a crash are removed, so open one per root per process: inside
    /// the daemon use [`ImageStore::content`](crate::ImageStore::content) instead.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("blobs").join("sha256");
        let ingest = root.join("ingest");
        fs::create_dir_all(&blobs).map_err(|e| Error::io("create dir", &blobs, e))?;
        if ingest.exists() {
            fs::remove_dir_all(&ingest).map_err(|e| Error::io("clean ingest dir", &ingest, e))?;
        }
        fs::create_dir_all(&ingest).map_err(|e| Error::io("create dir", &ingest, e))?;
        Ok(ContentStore { blobs, ingest })
    }

    /// Path of a blob on disk (which may not exist). Errors on a malformed digest.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.blobs.join(digest_hex(digest)?))
    }

    /// Whether the blob exists.
    pub fn contains(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Read a whole blob into memory (for configs and manifests, not layers).
    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound {
                digest: digest.to_string(),
            },
            _ => Error::io("read blob", &path, e),
        })
    }

    /// Open a blob for streaming.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let path = self.blob_path(digest)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound {
                digest: digest.to_string(),
            },
            _ => Error::io("open blob", &path, e),
        })
    }

    /// Start writing a new blob. Dropping the writer without committing removes the temporary file.
    pub fn ingest(&self) -> Result<IngestWriter> {
        let name = format!("ingest-{}", random_hex(8)?);
        let path = self.ingest.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| Error::io("create ingest file", &path, e))?;
        Ok(IngestWriter {
            file: Some(BufWriter::with_capacity(WRITE_BUFFER, file)),
            hasher: Sha256::new(),
            path,
            size: 0,
            blobs: self.blobs.clone(),
        })
    }

    /// Write a small blob (config, manifest) in one call.
    pub fn write_blob(&self, bytes: &[u8], expected: Option<&str>) -> Result<Committed> {
        let mut w = self.ingest()?;
        w.write_all(bytes)
            .map_err(|e| Error::io("write ingest file", w.path.clone(), e))?;
        w.commit(expected)
    }

    /// Remove a blob (no error if it is already gone).
    pub(crate) fn delete(&self, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove blob", &path, e)),
        }
    }
}

/// A blob being written. Implements [`Write`]; bytes are hashed as they are written.
/// Commit with [`IngestWriter::commit`]; dropping it discards the data.
#[derive(Debug)]
pub struct IngestWriter {
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    path: PathBuf,
    size: u64,
    blobs: PathBuf,
}

impl IngestWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flush and fsync the data and compute the digest, without moving the blob into place yet.
    /// Errors with [`Error::DigestMismatch`] if `expected` is given and differs.
    pub fn finish(mut self, expected: Option<&str>) -> Result<PendingBlob> {
        let writer = self.file.take().ok_or_else(|| Error::Corrupt {
            what: "ingest writer already finished".into(),
        })?;
        let file = writer
            .into_inner()
            .map_err(|e| Error::io("flush ingest file", &self.path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync ingest file", &self.path, e))?;
        let hasher = std::mem::take(&mut self.hasher);
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if let Some(expected) = expected {
            if expected != digest {
                return Err(Error::DigestMismatch {
                    expected: expected.to_string(),
                    actual: digest,
                });
            }
        }
        let path = std::mem::take(&mut self.path);
        Ok(PendingBlob {
            digest,
            size: self.size,
            path,
            blobs: self.blobs.clone(),
        })
    }

    /// [`finish`](Self::finish) and move into place.
    pub fn commit(self, expected: Option<&str>) -> Result<Committed> {
        self.finish(expected)?.commit()
    }
}

impl Write for IngestWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest writer finished"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for IngestWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A fully written, fsynced and verified blob that is not yet visible in the store.
/// Dropping it discards the data.
#[derive(Debug)]
pub struct PendingBlob {
    digest: String,
    size: u64,
    path: PathBuf,
    blobs: PathBuf,
}

impl PendingBlob {
    /// `sha256:<hex>` of the content.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Rename into `blobs/sha256/<hex>` and fsync the directory.
    pub fn commit(mut self) -> Result<Committed> {
        let dst = self.blobs.join(digest_hex(&self.digest)?);
        let committed = |created| Committed {
            digest: self.digest.clone(),
            size: self.size,
            created,
        };
        if dst.is_file() {
            return Ok(committed(false));
        }
        fs::rename(&self.path, &dst).map_err(|e| Error::io("rename blob", &dst, e))?;
        self.path = PathBuf::new();
        fsync_dir(&self.blobs)?;
        Ok(committed(true))
    }
}

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The hex part of a `sha256:<64 hex>` digest; rejects anything else (so a digest can never
/// name a path outside the blob directory).
pub(crate) fn digest_hex(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if crate::reference::is_full_hex_id(h) => Ok(h),
        _ => Err(Error::InvalidArgument {
            what: "digest".into(),
            reason: format!("{digest:?} is not a sha256 digest"),
        }),
    }
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync dir", dir, e))
}

pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Io {
        op: "getrandom",
        path: PathBuf::new(),
        source: io::Error::other(e.to_string()),
    })?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_commit_verify_and_dedupe() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", "", e))?;
        let cs = ContentStore::open(dir.path())?;
        let c = cs.write_blob(b"hello", None)?;
        assert!(c.created);
        assert_eq!(
            c.digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(cs.read(&c.digest)?, b"hello");
        assert!(!cs.write_blob(b"hello", Some(&c.digest))?.created);
        let bad = cs.write_blob(b"other", Some(&c.digest));
        assert!(matches!(bad, Err(Error::DigestMismatch { .. })));
        // nothing left in ingest/
        let n = fs::read_dir(dir.path().join("ingest"))
            .map_err(|e| Error::io("readdir", "", e))?
            .count();
        assert_eq!(n, 0);
        assert!(cs.blob_path("sha256:../../etc").is_err());
        Ok(())
    }
}
