//! Secure, single-pass unpacking of a layer tar into a directory, converting OCI whiteouts to
//! the overlay format (`.wh.NAME` -> 0/0 char device `NAME`; `.wh..wh..opq` -> xattr
//! `trusted.overlay.opaque=y` on the directory).
//!
//! Security contract (why: CVE-2018-15664-class and "tar slip" escapes):
//! - entry names are cleaned lexically; `..` components and absolute paths are rejected;
//! - every parent directory of an entry is resolved component by component with `lstat` inside the
//!   layer root and must be a real directory: an entry is never written through a symlink, even one
//!   created earlier by the same archive;
//! - an existing file at the final path is removed before the new entry is created, and files are
//!   created with `O_CREAT|O_EXCL|O_NOFOLLOW`, so a symlink in the last component is never followed;
//! - hard link targets must name an existing non-directory inside the layer, reached without
//!   symlinks;
//! - `trusted.overlay.*` xattrs from the archive are dropped: they would let a layer forge overlay
//!   metadata (redirects, metacopy) that the kernel trusts.
//!
//! Ownership, permission bits (incl. setuid), mtimes, xattrs, hard links, symlinks, fifos and
//! device nodes are reproduced as recorded (the daemon runs as root).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, FileTimes, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tar::EntryType;

use crate::error::{Error, Result};
use crate::sys;

/// Prefix of an OCI whiteout file.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Overlayfs' opaque directory xattr.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

const COPY_BUFFER: usize = 1 << 20;

/// What an unpack produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Sum of the sizes of the regular files written (hard links counted once).
    pub size: u64,
    /// Number of tar entries applied.
    pub entries: u64,
    /// Bytes of the uncompressed tar stream consumed (including trailing padding).
    pub tar_bytes: u64,
}

/// Unpack the uncompressed tar stream `reader` into the existing directory `root`, then drain
/// the reader to its end (so a hashing reader sees the whole stream, as Docker's diff_id does).
///
/// On error the directory is left partially written: the caller unpacks into a temporary
/// directory and removes it on failure.
pub fn unpack_layer<R: Read>(reader: R, root: &Path) -> Result<(R, UnpackStats)> {
    let mut counted = CountingReader {
        inner: reader,
        count: 0,
    };
    let mut u = Unpacker {
        root: root.to_path_buf(),
        buf: vec![0u8; COPY_BUFFER],
        verified: HashSet::new(),
        dirs: Vec::new(),
        stats: UnpackStats::default(),
    };
    {
        let mut archive = tar::Archive::new(&mut counted);
        let entries = archive
            .entries()
            .map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::archive("<archive>", format!("read: {e}")))?;
            u.apply(&mut entry)?;
        }
    }
    u.finish()?;
    io::copy(&mut counted, &mut io::sink())
        .map_err(|e| Error::archive("<archive>", format!("read trailing data: {e}")))?;
    let mut stats = u.stats;
    stats.tar_bytes = counted.count;
    Ok((counted.inner, stats))
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: (i64, i64),
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Unpacker {
    root: PathBuf,
    buf: Vec<u8>,
    /// Relative directories already checked to be real directories in this unpack. Cleared
    /// whenever something is removed, since a removal can turn a checked path into a symlink.
    verified: HashSet<PathBuf>,
    dirs: Vec<(PathBuf, (i64, i64))>,
    stats: UnpackStats,
}

/// Clean an entry name: strip `./`, reject `..` and absolute paths. `Ok(None)` is the root itself.
pub(crate) fn clean_rel(raw: &[u8]) -> std::result::Result<Option<PathBuf>, String> {
    if raw.contains(&0) {
        return Err("name contains a NUL byte".into());
    }
    let path = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    let mut absolute = false;
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => absolute = true,
            Component::CurDir => {}
            Component::ParentDir => return Err("path contains a '..' component".into()),
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        return Ok(None);
    }
    if absolute {
        return Err("absolute path".into());
    }
    Ok(Some(out))
}

impl Unpacker {
    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let etype = entry.header().entry_type();
        if matches!(
            etype,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_rel(&raw).map_err(|r| Error::archive(&name, r))?;
        let meta = read_meta(entry, &name)?;
        self.stats.entries += 1;

        let Some(rel) = rel else {
            // The archive's root entry ("./"): apply its metadata to the layer root.
            if !etype.is_dir() {
                return Err(Error::archive(&name, "root entry is not a directory"));
            }
            let root = self.root.clone();
            apply_meta(&root, &meta)?;
            self.dirs.push((root, meta.mtime));
            return Ok(());
        };
        let file_name = rel
            .file_name()
            .ok_or_else(|| Error::archive(&name, "empty file name"))?
            .to_os_string();
        let fname_bytes = file_name.as_bytes();

        if fname_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            return self.whiteout(&rel, fname_bytes, &name);
        }

        let parent = self.ensure_parent(rel.parent(), &name)?;
        let full = parent.join(&file_name);
        match fs::symlink_metadata(&full) {
            Ok(m) => {
                if !(etype.is_dir() && m.is_dir()) {
                    remove_any(&full, &m)?;
                    self.verified.clear();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("lstat", &full, e)),
        }

        match etype {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.write_file(entry, &full, &meta)?;
            }
            EntryType::Directory => {
                match fs::create_dir(&full) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::io("create dir", &full, e)),
                }
                apply_meta(&full, &meta)?;
                self.dirs.push((full, meta.mtime));
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::archive(&name, "symlink without target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(Error::archive(&name, "invalid symlink target"));
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &full)
                    .map_err(|e| Error::io("create symlink", &full, e))?;
                sys::lchown(&full, meta.uid, meta.gid)
                    .map_err(|e| Error::io("lchown", &full, e))?;
                set_xattrs(&full, &meta.xattrs, true)?;
                sys::lutimes(&full, meta.mtime.0, meta.mtime.1)
                    .map_err(|e| Error::io("set times", &full, e))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| Error::archive(&name, "hard link without target"))?
                    .into_owned();
                let target_rel = clean_rel(&target)
                    .map_err(|r| Error::archive(&name, format!("hard link target: {r}")))?
                    .ok_or_else(|| Error::archive(&name, "hard link to the layer root"))?;
                let target_abs = self.resolve_existing(&target_rel, &name)?;
                fs::hard_link(&target_abs, &full).map_err(|e| Error::io("hard link", &full, e))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let kind = match etype {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let h = entry.header();
                let (major, minor) = if etype == EntryType::Fifo {
                    (0, 0)
                } else {
                    (
                        device_number(h, &name, true)?,
                        device_number(h, &name, false)?,
                    )
                };
                sys::mknod(&full, kind, 0o600, major, minor)
                    .map_err(|e| Error::io("mknod", &full, e))?;
                apply_meta(&full, &meta)?;
                sys::lutimes(&full, meta.mtime.0, meta.mtime.1)
                    .map_err(|e| Error::io("set times", &full, e))?;
            }
            other => {
                return Err(Error::archive(
                    &name,
                    format!("unsupported entry type {other:?}"),
                ));
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, rel: &Path, fname: &[u8], name: &str) -> Result<()> {
        let dir = self.ensure_parent(rel.parent(), name)?;
        if fname == OPAQUE_WHITEOUT.as_bytes() {
            return sys::lsetxattr(&dir, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|e| Error::io("set opaque xattr", &dir, e));
        }
        if fname.starts_with(b".wh..wh.") {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content.
            return Ok(());
        }
        let target = &fname[WHITEOUT_PREFIX.len()..];
        if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/') {
            return Err(Error::archive(name, "invalid whiteout name"));
        }
        let full = dir.join(OsStr::from_bytes(target));
        match fs::symlink_metadata(&full) {
            Ok(m) => {
                remove_any(&full, &m)?;
                self.verified.clear();
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("lstat", &full, e)),
        }
        // Overlay's whiteout: a 0/0 character device hides NAME in lower layers.
        sys::mknod(&full, libc::S_IFCHR, 0, 0, 0).map_err(|e| Error::io("mknod whiteout", &full, e))
    }

    /// Make sure every component of `parent` exists as a real directory inside the root,
    /// creating missing ones (0755, root-owned, as Docker does). Refuses symlinks.
    fn ensure_parent(&mut self, parent: Option<&Path>, name: &str) -> Result<PathBuf> {
        let Some(parent) = parent.filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(self.root.clone());
        };
        if self.verified.contains(parent) {
            return Ok(self.root.join(parent));
        }
        let mut abs = self.root.clone();
        let mut rel = PathBuf::new();
        for c in parent.components() {
            abs.push(c);
            rel.push(c);
            if self.verified.contains(&rel) {
                continue;
            }
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::archive(
                        name,
                        format!(
                            "parent {} is a symbolic link; refusing to write through it",
                            rel.display()
                        ),
                    ))
                }
                Ok(_) => {
                    return Err(Error::archive(
                        name,
                        format!("parent {} is not a directory", rel.display()),
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&abs).map_err(|e| Error::io("create dir", &abs, e))?;
                    fs::set_permissions(&abs, fs::Permissions::from_mode(0o755))
                        .map_err(|e| Error::io("chmod", &abs, e))?;
                }
                Err(e) => return Err(Error::io("lstat", &abs, e)),
            }
            self.verified.insert(rel.clone());
        }
        Ok(abs)
    }

    /// Resolve an existing hard link target inside the root without following symlinks.
    fn resolve_existing(&mut self, rel: &Path, name: &str) -> Result<PathBuf> {
        let mut abs = self.root.clone();
        let parent = rel.parent().unwrap_or(Path::new(""));
        for c in parent.components() {
            abs.push(c);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(Error::archive(
                        name,
                        format!("hard link target {} is not inside the layer", rel.display()),
                    ))
                }
            }
        }
        let target = self.root.join(rel);
        match fs::symlink_metadata(&target) {
            Ok(m) if !m.is_dir() => Ok(target),
            Ok(_) => Err(Error::archive(
                name,
                format!("hard link target {} is a directory", rel.display()),
            )),
            Err(_) => Err(Error::archive(
                name,
                format!(
                    "hard link target {} does not exist in the layer",
                    rel.display()
                ),
            )),
        }
    }

    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        full: &Path,
        meta: &Meta,
    ) -> Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(full)
            .map_err(|e| Error::io("create file", full, e))?;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::archive(
                        full.strip_prefix(&self.root)
                            .unwrap_or(full)
                            .display()
                            .to_string(),
                        format!("read data: {e}"),
                    ))
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| Error::io("write file", full, e))?;
            self.stats.size += n as u64;
        }
        std::os::unix::fs::fchown(&file, Some(meta.uid), Some(meta.gid))
            .map_err(|e| Error::io("chown", full, e))?;
        // chmod after chown: chown clears setuid/setgid bits.
        file.set_permissions(fs::Permissions::from_mode(meta.mode))
            .map_err(|e| Error::io("chmod", full, e))?;
        // xattrs after chown: chown clears security.capability.
        set_xattrs(full, &meta.xattrs, false)?;
        let t = to_system_time(meta.mtime);
        file.set_times(FileTimes::new().set_accessed(t).set_modified(t))
            .map_err(|e| Error::io("set times", full, e))?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        // Directory mtimes last: creating children changed them.
        for (dir, mtime) in self.dirs.iter().rev() {
            match sys::lutimes(dir, mtime.0, mtime.1) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("set times", dir, e)),
            }
        }
        Ok(())
    }
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, name: &str) -> Result<Meta> {
    let h = entry.header();
    let bad = |what: &str, e: io::Error| Error::archive(name, format!("{what}: {e}"));
    let old = h.as_old();
    // Like Go's archive/tar (Docker), an empty numeric field (all NUL/space) reads as 0.
    let num = |what: &str, raw: &[u8], v: io::Result<u64>| -> Result<u64> {
        match v {
            Ok(v) => Ok(v),
            Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
            Err(e) => Err(bad(what, e)),
        }
    };
    let mut uid = num("uid", &old.uid, h.uid())?;
    let mut gid = num("gid", &old.gid, h.gid())?;
    let mode = num("mode", &old.mode, h.mode().map(u64::from))? as u32 & 0o7777;
    let mut mtime = (num("mtime", &old.mtime, h.mtime())? as i64, 0i64);
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad("pax header", e))?;
            let Ok(key) = ext.key() else { continue };
            if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.push((x.to_string(), ext.value_bytes().to_vec()));
            } else if key == "uid" || key == "gid" {
                let v: u64 = ext
                    .value()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| Error::archive(name, format!("invalid pax {key}")))?;
                if key == "uid" {
                    uid = v;
                } else {
                    gid = v;
                }
            } else if key == "mtime" {
                if let Some(t) = ext.value().ok().and_then(parse_pax_time) {
                    mtime = t;
                }
            }
        }
    }
    let uid = u32::try_from(uid).map_err(|_| Error::archive(name, "uid out of range"))?;
    let gid = u32::try_from(gid).map_err(|_| Error::archive(name, "gid out of range"))?;
    Ok(Meta {
        uid,
        gid,
        mode,
        mtime,
        xattrs,
    })
}

/// Device major/minor; an empty field (all NUL/space) reads as 0, like Go's archive/tar.
fn device_number(h: &tar::Header, name: &str, major: bool) -> Result<u32> {
    let (v, range) = if major {
        (h.device_major(), 329..337)
    } else {
        (h.device_minor(), 337..345)
    };
    match v {
        Ok(v) => Ok(v.unwrap_or(0)),
        Err(_) if h.as_bytes()[range].iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(Error::archive(name, format!("device number: {e}"))),
    }
}

fn parse_pax_time(v: &str) -> Option<(i64, i64)> {
    let (s, frac) = match v.split_once('.') {
        Some((s, f)) => (s, f),
        None => (v, ""),
    };
    let secs: i64 = s.parse().ok()?;
    let mut nanos = 0i64;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10)? as i64;
        nanos += d * 10i64.pow(8 - i as u32);
    }
    if secs < 0 && nanos > 0 {
        // "-1.5" means 1.5 s before the epoch.
        return Some((secs - 1, 1_000_000_000 - nanos));
    }
    Some((secs, nanos))
}

fn to_system_time((s, n): (i64, i64)) -> SystemTime {
    if s >= 0 {
        UNIX_EPOCH + Duration::new(s as u64, n as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(s.unsigned_abs()) + Duration::from_nanos(n as u64)
    }
}

/// chown, chmod (not for symlinks), xattrs.
fn apply_meta(path: &Path, meta: &Meta) -> Result<()> {
    sys::lchown(path, meta.uid, meta.gid).map_err(|e| Error::io("lchown", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode))
        .map_err(|e| Error::io("chmod", path, e))?;
    set_xattrs(path, &meta.xattrs, false)
}

fn set_xattrs(path: &Path, xattrs: &[(String, Vec<u8>)], symlink: bool) -> Result<()> {
    for (name, value) in xattrs {
        if name.starts_with("trusted.overlay.") {
            tracing::warn!(path = %path.display(), xattr = %name, "dropping overlay xattr from layer archive");
            continue;
        }
        if let Err(e) = sys::lsetxattr(path, name, value) {
            let unsupported = e.raw_os_error() == Some(libc::ENOTSUP)
                || (symlink && e.raw_os_error() == Some(libc::EPERM));
            if unsupported {
                tracing::warn!(path = %path.display(), xattr = %name, error = %e, "xattr not supported, skipped");
                continue;
            }
            return Err(Error::io("set xattr", path, e));
        }
    }
    Ok(())
}

fn remove_any(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let r = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    r.map_err(|e| Error::io("remove", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_rel_rules() {
        assert_eq!(clean_rel(b"./a/b"), Ok(Some(PathBuf::from("a/b"))));
        assert_eq!(clean_rel(b"a//b/"), Ok(Some(PathBuf::from("a/b"))));
        assert_eq!(clean_rel(b"./"), Ok(None));
        assert_eq!(clean_rel(b"/"), Ok(None));
        assert!(clean_rel(b"../x").is_err());
        assert!(clean_rel(b"a/../../x").is_err());
        assert!(clean_rel(b"/etc/passwd").is_err());
    }

    #[test]
    fn pax_time() {
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("12"), Some((12, 0)));
        assert_eq!(parse_pax_time("x"), None);
    }
}
