//! What a container changed in a vfs snapshot, found by comparing its root filesystem with the
//! layers it was copied from (Docker's "naive diff", used by its vfs driver too).
//!
//! A vfs snapshot is a full copy, so there is no upper directory to read the changes from.
//! Instead every path of the root is looked up in the layers' merged view, resolved top-down
//! without mounting anything (whiteouts and opaque directories hide what is below them):
//!
//! * a path the layers do not have is added;
//! * a path whose type, mode, owner, device or xattrs differ, or (not for directories, whose
//!   size and mtime say nothing) whose size, mtime or symlink target differ, is changed. The
//!   vfs copy keeps mtimes to the nanosecond, so an untouched file compares equal;
//! * a name the merged view of a directory has and the root does not is deleted.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sys;
use crate::unpack::{OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

/// One change, by path relative to the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Change {
    /// Added or changed: the root's entry goes into the layer.
    Present(PathBuf),
    /// Gone from the root: a whiteout goes into the layer.
    Deleted(PathBuf),
}

impl Change {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Change::Present(p) | Change::Deleted(p) => p,
        }
    }
}

/// The changes of `root` against `lowers` (layer directories in overlay form, top-most
/// first), sorted by path (parents before children).
pub(crate) fn changes(root: &Path, lowers: &[PathBuf]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(root, lowers, Path::new(""), &mut out)?;
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

fn walk(root: &Path, lowers: &[PathBuf], rel: &Path, out: &mut Vec<Change>) -> Result<()> {
    let dir = root.join(rel);
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&dir).map_err(|e| Error::io("read dir", &dir, e))? {
        names.insert(
            entry
                .map_err(|e| Error::io("read dir", &dir, e))?
                .file_name(),
        );
    }
    for name in &names {
        let rel_path = rel.join(name);
        let path = root.join(&rel_path);
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("lstat", &path, e))?;
        if meta.file_type().is_socket() {
            continue; // never in a layer (the tar writer skips them too)
        }
        match base_entry(lowers, &rel_path)? {
            Some(base) => {
                let base_meta =
                    fs::symlink_metadata(&base).map_err(|e| Error::io("lstat", &base, e))?;
                if !same(&path, &meta, &base, &base_meta)? {
                    out.push(Change::Present(rel_path.clone()));
                }
                if meta.is_dir() && base_meta.is_dir() {
                    walk(root, lowers, &rel_path, out)?;
                    continue;
                }
            }
            None => out.push(Change::Present(rel_path.clone())),
        }
        if meta.is_dir() {
            walk(root, lowers, &rel_path, out)?;
        }
    }
    for gone in base_children(lowers, rel)? {
        if !names.contains(&gone) {
            out.push(Change::Deleted(rel.join(gone)));
        }
    }
    Ok(())
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> Result<bool> {
    Ok(sys::lgetxattr(dir, OVERLAY_OPAQUE_XATTR)
        .map_err(|e| Error::io("lgetxattr", dir, e))?
        .is_some_and(|v| v == b"y"))
}

fn lstat(path: &Path) -> Result<Option<Metadata>> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Ok(None),
        Err(e) => Err(Error::io("lstat", path, e)),
    }
}

/// Whether `layer` hides every lower layer's `rel`: a whiteout or non-directory at one of its
/// ancestors, or an opaque ancestor directory.
fn hides_below(layer: &Path, rel: &Path) -> Result<bool> {
    let mut ancestor = PathBuf::new();
    let parents: Vec<_> = rel
        .parent()
        .into_iter()
        .flat_map(Path::components)
        .collect();
    for component in parents {
        ancestor.push(component);
        let path = layer.join(&ancestor);
        match lstat(&path)? {
            None => return Ok(false),
            Some(meta) if !meta.is_dir() => return Ok(true),
            Some(_) if is_opaque(&path)? => return Ok(true),
            Some(_) => {}
        }
    }
    Ok(false)
}

/// Where the merged view of `lowers` has `rel`, if it has it.
fn base_entry(lowers: &[PathBuf], rel: &Path) -> Result<Option<PathBuf>> {
    for layer in lowers {
        let path = layer.join(rel);
        match lstat(&path)? {
            Some(meta) if is_whiteout(&meta) => return Ok(None),
            Some(_) => return Ok(Some(path)),
            None => {}
        }
        if hides_below(layer, rel)? {
            return Ok(None);
        }
    }
    Ok(None)
}

/// The names the merged view of `lowers` has in directory `rel`.
fn base_children(lowers: &[PathBuf], rel: &Path) -> Result<BTreeSet<OsString>> {
    let mut visible = BTreeSet::new();
    let mut hidden = BTreeSet::new();
    for layer in lowers {
        let dir = layer.join(rel);
        match lstat(&dir)? {
            Some(meta) if meta.is_dir() => {
                for entry in fs::read_dir(&dir).map_err(|e| Error::io("read dir", &dir, e))? {
                    let entry = entry.map_err(|e| Error::io("read dir", &dir, e))?;
                    let name = entry.file_name();
                    if hidden.contains(&name) || visible.contains(&name) {
                        continue;
                    }
                    let meta = entry.metadata().map_err(|e| Error::io("lstat", &dir, e))?;
                    if is_whiteout(&meta) {
                        hidden.insert(name);
                    } else {
                        visible.insert(name);
                    }
                }
                if is_opaque(&dir)? {
                    break;
                }
            }
            // a whiteout or a file here ends the directory for every layer below
            Some(_) => break,
            None => {}
        }
        if hides_below(layer, &rel.join("x"))? {
            break;
        }
    }
    // Names starting with the whiteout prefix never name real files in overlay form.
    visible.retain(|n| !n.to_string_lossy().starts_with(WHITEOUT_PREFIX));
    Ok(visible)
}

/// Whether the root's entry equals the layers' one, by Docker's naive-diff rules.
fn same(path: &Path, meta: &Metadata, base: &Path, base_meta: &Metadata) -> Result<bool> {
    let kind = |m: &Metadata| m.mode() & libc::S_IFMT;
    if kind(meta) != kind(base_meta)
        || meta.mode() != base_meta.mode()
        || meta.uid() != base_meta.uid()
        || meta.gid() != base_meta.gid()
        || meta.rdev() != base_meta.rdev()
    {
        return Ok(false);
    }
    if !meta.is_dir()
        && (meta.len() != base_meta.len()
            || meta.mtime() != base_meta.mtime()
            || meta.mtime_nsec() != base_meta.mtime_nsec())
    {
        return Ok(false);
    }
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(|e| Error::io("readlink", path, e))?;
        let base_target = fs::read_link(base).map_err(|e| Error::io("readlink", base, e))?;
        if target != base_target {
            return Ok(false);
        }
    }
    Ok(xattrs(path)? == xattrs(base)?)
}

/// An entry's xattrs, without overlay's own.
fn xattrs(path: &Path) -> Result<Vec<(String, Option<Vec<u8>>)>> {
    let mut out = Vec::new();
    for name in sys::llistxattr(path).map_err(|e| Error::io("llistxattr", path, e))? {
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        let value = sys::lgetxattr(path, &name).map_err(|e| Error::io("lgetxattr", path, e))?;
        out.push((name, value));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn whiteout(path: &Path) -> TestResult {
        sys::mknod(path, libc::S_IFCHR, 0, 0, 0)?;
        Ok(())
    }

    /// What `cp -a` of the merged view would give, built by hand: the vfs snapshot.
    fn copy_times(from: &Path, to: &Path) -> TestResult {
        let meta = fs::symlink_metadata(from)?;
        sys::lutimes(to, meta.mtime(), meta.mtime_nsec())?;
        Ok(())
    }

    #[test]
    fn changes_follow_whiteouts_and_opaque_directories_of_the_layers() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (bottom, top, root) = (
            tmp.path().join("bottom"),
            tmp.path().join("top"),
            tmp.path().join("root"),
        );
        for dir in ["a", "c"] {
            fs::create_dir_all(bottom.join(dir))?;
        }
        fs::write(bottom.join("a/kept"), "kept")?;
        fs::write(bottom.join("a/edited"), "old")?;
        fs::write(bottom.join("gone-below"), "x")?;
        fs::write(bottom.join("c/hidden"), "hidden by the opaque c above")?;
        fs::create_dir_all(top.join("c"))?;
        sys::lsetxattr(&top.join("c"), OVERLAY_OPAQUE_XATTR, b"y")?;
        fs::write(top.join("c/new"), "new in top")?;
        whiteout(&top.join("gone-below"))?;
        // The snapshot: the merged view (a/kept, a/edited, c/new), then the container's work.
        for dir in ["a", "c"] {
            fs::create_dir_all(root.join(dir))?;
        }
        for (file, from) in [
            ("a/kept", bottom.join("a/kept")),
            ("a/edited", bottom.join("a/edited")),
            ("c/new", top.join("c/new")),
        ] {
            fs::copy(&from, root.join(file))?;
            copy_times(&from, &root.join(file))?;
        }
        fs::write(root.join("a/edited"), "new content")?;
        fs::write(root.join("added"), "added")?;
        fs::remove_file(root.join("c/new"))?;
        let lowers = vec![top.clone(), bottom.clone()];
        let found = changes(&root, &lowers)?;
        assert_eq!(
            found,
            vec![
                Change::Present("a/edited".into()),
                Change::Present("added".into()),
                Change::Deleted("c/new".into()),
            ],
            "c/hidden is behind the opaque c, gone-below behind a whiteout: neither is a deletion"
        );
        // Written as a layer: the edited file with its parent, the addition, the whiteout.
        let tar = crate::diff::write_changes(&root, &found, Vec::new())?;
        let mut names = Vec::new();
        for entry in tar::Archive::new(tar.as_slice()).entries()? {
            names.push(entry?.path()?.to_string_lossy().into_owned());
        }
        assert_eq!(names, ["a", "a/edited", "added", "c", "c/.wh.new"]);
        Ok(())
    }
}
