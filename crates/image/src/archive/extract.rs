//! Safe extraction of an outer image archive into a private directory, and lexical resolution
//! of the links it contained.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use crate::error::{Error, Result};
use crate::unpack::clean_rel;

/// How many links may be followed while opening one file.
const MAX_HOPS: usize = 16;

/// An extracted archive: regular files and directories under `root`; links only as records.
pub(crate) struct Extracted {
    pub root: PathBuf,
    /// relative path -> link target (symlink target, as written) or hard link target (relative)
    links: HashMap<PathBuf, Link>,
}

enum Link {
    Symbolic(PathBuf),
    Hard(PathBuf),
}

/// Extract the (uncompressed) tar stream `input` into the existing empty directory `root`.
pub(crate) fn extract(input: impl Read, root: &Path) -> Result<Extracted> {
    let mut links = HashMap::new();
    let mut archive = tar::Archive::new(input);
    let entries = archive
        .entries()
        .map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
    let mut any = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
        any = true;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let etype = entry.header().entry_type();
        if matches!(
            etype,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            continue;
        }
        let Some(rel) = clean_rel(&raw).map_err(|r| Error::archive(&name, r))? else {
            continue; // "./"
        };
        let full = root.join(&rel);
        match etype {
            EntryType::Directory => {
                fs::create_dir_all(&full).map_err(|e| Error::io("create dir", &full, e))?;
            }
            EntryType::Regular | EntryType::Continuous => {
                if let Some(parent) = full.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io("create dir", parent, e))?;
                }
                if links.contains_key(&rel) || full.exists() {
                    return Err(Error::archive(&name, "duplicate entry"));
                }
                // No symlink is ever created under root, so the parents are real directories
                // inside it; O_NOFOLLOW|O_EXCL guard the last component anyway.
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&full)
                    .map_err(|e| Error::io("create file", &full, e))?;
                io::copy(&mut entry, &mut f)
                    .map_err(|e| Error::archive(&name, format!("read: {e}")))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| PathBuf::from(OsStr::from_bytes(&b)))
                    .ok_or_else(|| Error::archive(&name, "symlink without a target"))?;
                links.insert(rel, Link::Symbolic(target));
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::archive(&name, "hard link without a target"))?;
                let target = clean_rel(&target)
                    .map_err(|r| Error::archive(&name, format!("hard link target: {r}")))?
                    .ok_or_else(|| Error::archive(&name, "hard link to the archive root"))?;
                links.insert(rel, Link::Hard(target));
            }
            other => {
                return Err(Error::archive(
                    &name,
                    format!("unexpected entry type {other:?} in an image archive"),
                ))
            }
        }
    }
    if !any {
        return Err(Error::archive("<archive>", "empty input"));
    }
    Ok(Extracted {
        root: root.to_path_buf(),
        links,
    })
}

impl Extracted {
    /// Resolve `rel` (a path named by the archive's metadata) to a file inside the extraction,
    /// following the archive's links lexically. A path leaving the archive is an error.
    pub(crate) fn resolve(&self, rel: &str) -> Result<PathBuf> {
        let bad = |reason: &str| Error::archive(rel, reason.to_string());
        let mut current = clean_rel(rel.as_bytes())
            .map_err(|r| bad(&r))?
            .ok_or_else(|| bad("names the archive root"))?;
        for _ in 0..MAX_HOPS {
            // find the first prefix of `current` that is a link
            let mut prefix = PathBuf::new();
            let mut replaced = None;
            let comps: Vec<_> = current.components().collect();
            for (i, c) in comps.iter().enumerate() {
                prefix.push(c);
                if let Some(link) = self.links.get(&prefix) {
                    let rest: PathBuf = comps[i + 1..].iter().collect();
                    let base = match link {
                        Link::Hard(t) => t.clone(),
                        Link::Symbolic(t) => {
                            let parent = prefix.parent().unwrap_or(Path::new(""));
                            normalize(&parent.join(t)).ok_or_else(|| {
                                bad("a symlink in the archive points outside of it")
                            })?
                        }
                    };
                    replaced = Some(base.join(rest));
                    break;
                }
            }
            match replaced {
                Some(next) => current = next,
                None => {
                    let full = self.root.join(&current);
                    return match fs::symlink_metadata(&full) {
                        Ok(m) if m.is_file() => Ok(full),
                        Ok(_) => Err(bad("is not a regular file")),
                        Err(_) => Err(bad("file referenced by the archive's metadata is missing")),
                    };
                }
            }
        }
        Err(bad("too many levels of links"))
    }

    /// Open a file named by the archive's metadata (see [`resolve`](Self::resolve)).
    pub(crate) fn open(&self, rel: &str) -> Result<File> {
        let p = self.resolve(rel)?;
        File::open(&p).map_err(|e| Error::io("open", &p, e))
    }

    /// Read a small file named by the archive's metadata, at most `limit` bytes.
    pub(crate) fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>> {
        let f = self.open(rel)?;
        let mut out = Vec::new();
        f.take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::archive(rel, format!("read: {e}")))?;
        if out.len() as u64 > limit {
            return Err(Error::archive(rel, format!("larger than {limit} bytes")));
        }
        Ok(out)
    }

    /// Whether the archive has `rel` (as a file or a link).
    pub(crate) fn has(&self, rel: &str) -> bool {
        self.links.contains_key(Path::new(rel)) || self.root.join(rel).is_file()
    }
}

/// Lexically normalize a relative path; `None` if it climbs above its start or is absolute.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out: Vec<&OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}
