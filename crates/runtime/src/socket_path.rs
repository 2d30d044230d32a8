//! Unix socket addresses are limited to 107 bytes (`sun_path`), and state directories under a
//! long `--exec-root` exceed that. A socket in a directory can always be reached through the
//! short path `/proc/self/fd/<dirfd>/<name>`, where `dirfd` is an open handle on the directory.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The longest path `sun_path` holds (108 bytes including the terminating NUL).
const SUN_PATH_MAX: usize = 107;

/// A socket address for `dir/name` that fits `sun_path`. Keep the returned guard alive while
/// the path is used (bind or connect): it holds the directory open.
pub struct ShortSocketPath {
    _dir: Option<File>,
    path: PathBuf,
}

impl ShortSocketPath {
    /// Resolves `dir/name`, going through `/proc/self/fd` only when the plain path is too long.
    pub fn new(dir: &Path, name: &str) -> std::io::Result<ShortSocketPath> {
        let plain = dir.join(name);
        if plain.as_os_str().len() <= SUN_PATH_MAX {
            return Ok(ShortSocketPath {
                _dir: None,
                path: plain,
            });
        }
        let handle = File::open(dir)?;
        let path = PathBuf::from(format!("/proc/self/fd/{}/{name}", handle.as_raw_fd()));
        Ok(ShortSocketPath {
            _dir: Some(handle),
            path,
        })
    }

    /// The path to bind or connect to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn long_directories_still_get_a_working_socket() -> std::io::Result<()> {
        let base = tempfile::tempdir()?;
        let deep = base.path().join("a".repeat(60)).join("b".repeat(60));
        std::fs::create_dir_all(&deep)?;
        let bind_path = ShortSocketPath::new(&deep, "x.sock")?;
        assert!(bind_path.path().starts_with("/proc/self/fd"));
        let listener = UnixListener::bind(bind_path.path())?;
        assert!(
            deep.join("x.sock").exists(),
            "socket must live in the real directory"
        );
        let connect_path = ShortSocketPath::new(&deep, "x.sock")?;
        let _client = UnixStream::connect(connect_path.path())?;
        assert!(listener.accept().is_ok());
        let short = ShortSocketPath::new(Path::new("/tmp"), "y.sock")?;
        assert_eq!(short.path(), Path::new("/tmp/y.sock"));
        Ok(())
    }
}
