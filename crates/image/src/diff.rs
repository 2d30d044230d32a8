//! Directory trees as tar streams: a container's flattened filesystem (`docker export`) and an
//! overlay upper directory as an OCI layer diff (`docker commit`), where overlay whiteouts (0/0
//! character devices) become `.wh.NAME` files and opaque directories (`trusted.overlay.opaque=y`)
//! get a `.wh..wh..opq` entry.
//!
//! Entries are written in sorted order (deterministic output), without the root directory, with
//! owner, permission bits (incl. setuid/sticky), mtime, xattrs (PAX `SCHILY.xattr.*` records,
//! never `trusted.overlay.*`), hard links (the second and later names of an inode become link
//! entries), symlinks, fifos and device nodes. Sockets are skipped, as Docker does.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use crate::error::{Error, Result};
use crate::naive_diff::Change;
use crate::sys;
use crate::unpack::{OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

/// How to read the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// a plain directory tree (a mounted root filesystem)
    Plain,
    /// an overlayfs upper directory: translate whiteouts and opaque markers to OCI form
    OverlayUpper,
}

/// Write `root`'s contents as an uncompressed tar to `out` and return `out`.
pub fn write_tree<W: Write>(root: &Path, out: W, kind: TreeKind) -> Result<W> {
    let mut w = TreeWriter {
        tar: tar::Builder::new(out),
        kind,
        links: HashMap::new(),
    };
    w.dir(root, Path::new(""))?;
    w.tar
        .into_inner()
        .map_err(|e| Error::io("write tar", root, e))
}

/// Write the entries `changes` names (read from `root`; deletions as `.wh.` whiteouts) as an
/// uncompressed tar, each preceded by its parent directories not written yet, and return
/// `out`. `changes` must be sorted by path (as [`crate::naive_diff::changes`] returns them).
pub(crate) fn write_changes<W: Write>(root: &Path, changes: &[Change], out: W) -> Result<W> {
    let mut w = TreeWriter {
        tar: tar::Builder::new(out),
        kind: TreeKind::Plain,
        links: HashMap::new(),
    };
    let mut written: HashSet<PathBuf> = HashSet::new();
    for change in changes {
        let path = change.path();
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        let mut ancestor = PathBuf::new();
        for component in parent.components() {
            ancestor.push(component);
            if written.insert(ancestor.clone()) {
                let (Some(up), Some(dir_name)) = (ancestor.parent(), ancestor.file_name()) else {
                    continue;
                };
                w.entry(&root.join(&ancestor), up, dir_name)?;
            }
        }
        match change {
            Change::Present(_) => {
                if written.insert(path.to_path_buf()) {
                    w.entry(&root.join(path), parent, name)?;
                }
            }
            Change::Deleted(_) => {
                let dir = root.join(parent);
                let meta = fs::symlink_metadata(&dir).map_err(|e| Error::io("lstat", &dir, e))?;
                w.whiteout(parent, name, &meta)?;
            }
        }
    }
    w.tar
        .into_inner()
        .map_err(|e| Error::io("write tar", root, e))
}

struct TreeWriter<W: Write> {
    tar: tar::Builder<W>,
    kind: TreeKind,
    /// (dev, ino) -> first archive name, for hard links
    links: HashMap<(u64, u64), PathBuf>,
}

impl<W: Write> TreeWriter<W> {
    fn dir(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(|e| Error::io("read dir", dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| Error::io("read dir", dir, e))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            if self.entry(&path, rel, &name)? {
                self.dir(&path, &rel.join(&name))?;
            }
        }
        Ok(())
    }

    /// Writes the one entry `path`, archived as `rel/name` (a directory without its
    /// contents). Returns whether it is a directory to descend into.
    fn entry(&mut self, path: &Path, rel: &Path, name: &std::ffi::OsStr) -> Result<bool> {
        let arc = rel.join(name);
        let meta = fs::symlink_metadata(path).map_err(|e| Error::io("lstat", path, e))?;
        let ft = meta.file_type();
        if self.kind == TreeKind::OverlayUpper && ft.is_char_device() && meta.rdev() == 0 {
            self.whiteout(rel, name, &meta)?;
            return Ok(false);
        }
        if ft.is_socket() {
            return Ok(false);
        }
        self.xattrs(path, &arc)?;
        if ft.is_dir() {
            let mut h = header(EntryType::Directory, &meta);
            h.set_size(0);
            self.append(&mut h, &arc, io::empty())?;
            if self.kind == TreeKind::OverlayUpper
                && sys::lgetxattr(path, OVERLAY_OPAQUE_XATTR)
                    .map_err(|e| Error::io("lgetxattr", path, e))?
                    .is_some_and(|v| v == b"y")
            {
                let mut h = header(EntryType::Regular, &meta);
                h.set_size(0);
                h.set_mode(0o644);
                self.append(&mut h, &arc.join(OPAQUE_WHITEOUT), io::empty())?;
            }
            return Ok(true);
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(|e| Error::io("readlink", path, e))?;
            let mut h = header(EntryType::Symlink, &meta);
            h.set_size(0);
            self.tar
                .append_link(&mut h, &arc, &target)
                .map_err(|e| Error::io("write tar", path, e))?;
        } else if ft.is_file() {
            if meta.nlink() > 1 {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut h = header(EntryType::Link, &meta);
                    h.set_size(0);
                    self.tar
                        .append_link(&mut h, &arc, &first)
                        .map_err(|e| Error::io("write tar", path, e))?;
                    return Ok(false);
                }
                self.links.insert(key, arc.clone());
            }
            let f = File::open(path).map_err(|e| Error::io("open", path, e))?;
            let mut h = header(EntryType::Regular, &meta);
            h.set_size(meta.len());
            // a file that changes size while being read fails the tar writer: a clear
            // error instead of a corrupt archive
            self.append(&mut h, &arc, f)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            let mut h = header(kind, &meta);
            h.set_size(0);
            if kind != EntryType::Fifo {
                let rdev = meta.rdev();
                h.set_device_major(libc::major(rdev))
                    .and_then(|()| h.set_device_minor(libc::minor(rdev)))
                    .map_err(|e| Error::io("write tar", path, e))?;
            }
            self.append(&mut h, &arc, io::empty())?;
        }
        Ok(false)
    }

    /// A `.wh.NAME` entry in `rel` (the deletion of `rel/name`).
    fn whiteout(&mut self, rel: &Path, name: &std::ffi::OsStr, meta: &fs::Metadata) -> Result<()> {
        let mut wh_name = std::ffi::OsString::from(WHITEOUT_PREFIX);
        wh_name.push(name);
        let mut h = header(EntryType::Regular, meta);
        h.set_size(0);
        h.set_mode(0o644);
        self.append(&mut h, &rel.join(wh_name), io::empty())
    }

    fn append(&mut self, h: &mut Header, arc: &Path, data: impl io::Read) -> Result<()> {
        self.tar
            .append_data(h, arc, data)
            .map_err(|e| Error::io("write tar", arc, e))
    }

    /// A PAX extended header with the entry's xattrs, written before the entry itself.
    fn xattrs(&mut self, path: &Path, arc: &Path) -> Result<()> {
        let names = sys::llistxattr(path).map_err(|e| Error::io("llistxattr", path, e))?;
        let mut records = Vec::new();
        for name in names {
            // overlay's own metadata and SELinux labels of this host do not belong in an image
            if name.starts_with("trusted.overlay.") || name == "security.selinux" {
                continue;
            }
            let Some(value) =
                sys::lgetxattr(path, &name).map_err(|e| Error::io("lgetxattr", path, e))?
            else {
                continue;
            };
            pax_record(&mut records, &format!("SCHILY.xattr.{name}"), &value);
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::XHeader);
        h.set_size(records.len() as u64);
        h.set_mode(0o644);
        // the PAX header's own name is informational; keep it short and ASCII
        let name = format!(
            "PaxHeaders/{}",
            String::from_utf8_lossy(arc.file_name().map(|n| n.as_bytes()).unwrap_or(b"x"))
                .chars()
                .take(80)
                .collect::<String>()
        );
        h.set_path(&name)
            .or_else(|_| h.set_path("PaxHeaders/entry"))
            .map_err(|e| Error::io("write tar", arc, e))?;
        h.set_cksum();
        self.tar
            .append(&h, records.as_slice())
            .map_err(|e| Error::io("write tar", arc, e))
    }
}

/// One PAX record: `"<len> <key>=<value>\n"` where len counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn header(kind: EntryType, meta: &fs::Metadata) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(meta.mtime().max(0) as u64);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, "SCHILY.xattr.user.a", b"b");
        let s = String::from_utf8(out).expect("utf8");
        let (len, _) = s.split_once(' ').expect("space");
        assert_eq!(len.parse::<usize>().expect("num"), s.len());
    }
}
