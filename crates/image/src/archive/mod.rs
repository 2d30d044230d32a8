//! Image archives: `docker save` / `docker load`.
//!
//! Formats read: the docker-archive (`manifest.json` + `<id>.json` configs + layer tars, as
//! Docker 20.10 writes it, and the OCI-layout-in-docker-archive of Docker 25+, whose
//! `manifest.json` points into `blobs/sha256/`), and a plain OCI image layout (`oci-layout`,
//! `index.json`, `blobs/`). The outer archive may be gzip-compressed; layers may be plain or gzip.
//! Format written: Docker 20.10's docker-archive, which every Docker version loads.
//!
//! Security (the archive is untrusted): the outer archive is extracted into a private directory
//! under the store's `tmp/` holding only regular files and directories; entry names with `..`
//! or absolute paths, device nodes and fifos are rejected; symlinks and hard links (Docker writes
//! them for layers shared between images) are recorded, never created, and resolved lexically
//! inside the archive when a file is opened. Layer contents go through [`crate::unpack`].

mod extract;
mod load;
mod save;

use std::io::{BufRead, BufReader, Read};

pub use load::LoadedImage;

use crate::error::{Error, Result};

/// Wrap `input` in a decompressor chosen by its magic bytes (gzip, or none).
pub(crate) fn decompressed<'a>(input: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let magic = input
        .fill_buf()
        .map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
    match magic {
        [0x1f, 0x8b, ..] => Ok(Box::new(flate2::bufread::MultiGzDecoder::new(input))),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Err(Error::Unsupported {
            what: "zstd-compressed archives".into(),
        }),
        [0x42, 0x5a, 0x68, ..] | [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, ..] => {
            Err(Error::Unsupported {
                what: "bzip2/xz-compressed archives".into(),
            })
        }
        _ => Ok(Box::new(input)),
    }
}
