//! Tar streams out of and into the confined root (see [`super::confine`]).

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use super::{absolute, base_name, not_found_or, ArchiveError};

/// How [`extract`] treats existing files and ownership (Docker's PUT query parameters).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: refuse to replace a directory with a non-directory or the
    /// reverse (the docker CLI always sets it).
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID` with a container user: every extracted entry is owned by this uid:gid.
    /// Otherwise the tar's numeric ownership is kept.
    pub chown: Option<(u32, u32)>,
}

fn tar_error(path: &Path, e: std::io::Error) -> ArchiveError {
    ArchiveError::io("tar", path, e)
}

/// Writes `path` as a tar stream: a directory with its content under the directory's base
/// name (`.` when the path ends in `/.`), anything else (a symlink included) as one entry.
/// Symlinks are archived as symlinks, never followed. Ownership, modes and mtimes are kept.
pub fn write_tar(path: &str, out: impl Write) -> Result<(), ArchiveError> {
    let path = absolute(path);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| not_found_or(&path, "stat", e))?;
    let name = match base_name(&path).as_str() {
        "/" => ".".to_owned(),
        other => other.to_owned(),
    };
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    builder.follow_symlinks(false);
    if meta.is_dir() {
        // `dir/`, `dir/.` and `link-to-dir/` name what they resolve to, inside our root.
        let source = std::fs::canonicalize(&path).map_err(|e| not_found_or(&path, "resolve", e))?;
        builder
            .append_dir_all(&name, &source)
            .map_err(|e| tar_error(&source, e))?;
    } else {
        builder
            .append_path_with_name(&path, &name)
            .map_err(|e| tar_error(Path::new(&path), e))?;
    }
    builder
        .into_inner()
        .and_then(|mut out| out.flush())
        .map_err(|e| tar_error(Path::new(&path), e))
}

/// Extracts the tar stream `input` into the directory `path` (which must exist; a symlink to
/// a directory inside the root is followed, as Docker does). Entries with `..` are skipped and
/// no entry is written through a symlink that leads outside `path` (the tar crate checks each
/// parent's canonical path); the confinement keeps everything inside the container anyway.
pub fn extract(path: &str, input: impl Read, opts: ExtractOptions) -> Result<(), ArchiveError> {
    let path = absolute(path);
    let meta = std::fs::metadata(&path).map_err(|e| not_found_or(&path, "stat", e))?;
    if !meta.is_dir() {
        return Err(ArchiveError::Invalid {
            message: format!("extraction point is not a directory: {path}"),
        });
    }
    let dir = std::fs::canonicalize(&path).map_err(|e| not_found_or(&path, "resolve", e))?;
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let entries = archive.entries().map_err(|e| invalid_tar(&dir, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid_tar(&dir, e))?;
        let relative = entry.path().map_err(|e| invalid_tar(&dir, e))?.into_owned();
        let Some(target) = inside(&dir, &relative) else {
            continue;
        };
        let is_dir = entry.header().entry_type().is_dir();
        if opts.no_overwrite_dir_non_dir && target != dir {
            if let Ok(existing) = std::fs::symlink_metadata(&target) {
                if existing.is_dir() && !is_dir {
                    return Err(ArchiveError::Invalid {
                        message: format!(
                            "cannot overwrite directory {:?} with non-directory {:?}",
                            target.display().to_string(),
                            relative.display().to_string()
                        ),
                    });
                }
                if !existing.is_dir() && is_dir {
                    return Err(ArchiveError::Invalid {
                        message: format!(
                            "cannot overwrite non-directory {:?} with directory {:?}",
                            target.display().to_string(),
                            relative.display().to_string()
                        ),
                    });
                }
            }
        }
        let unpacked = entry
            .unpack_in(&dir)
            .map_err(|e| unpack_error(&target, e))?;
        if let (true, Some((uid, gid))) = (unpacked, opts.chown) {
            nix::unistd::fchownat(
                nix::fcntl::AT_FDCWD,
                &target,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|e| ArchiveError::io("chown", &target, std::io::Error::from(e)))?;
        }
    }
    Ok(())
}

/// `dir` joined with the normal components of `relative`; `None` when it has a `..`.
fn inside(dir: &Path, relative: &Path) -> Option<PathBuf> {
    let mut target = dir.to_path_buf();
    for part in relative.components() {
        match part {
            Component::Normal(p) => target.push(p),
            Component::ParentDir => return None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(target)
}

fn invalid_tar(dir: &Path, e: std::io::Error) -> ArchiveError {
    ArchiveError::Invalid {
        message: format!("invalid tar stream for {}: {e}", dir.display()),
    }
}

fn unpack_error(target: &Path, e: std::io::Error) -> ArchiveError {
    // The tar crate wraps the OS error; find EROFS to report a read-only mount as such.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.raw_os_error() == Some(libc::EROFS) {
                return ArchiveError::ReadOnly {
                    message: format!("cannot write {}: read-only file system", target.display()),
                };
            }
        }
        source = err.source();
    }
    ArchiveError::io("extract", target, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_skips_parent_components() {
        let dir = Path::new("/d");
        assert_eq!(inside(dir, Path::new("a/b")), Some(PathBuf::from("/d/a/b")));
        assert_eq!(inside(dir, Path::new("./a")), Some(PathBuf::from("/d/a")));
        assert_eq!(inside(dir, Path::new("/a")), Some(PathBuf::from("/d/a")));
        assert_eq!(inside(dir, Path::new("a/../../x")), None);
    }
}
