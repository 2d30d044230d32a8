//! `berth-shim`: the per-container supervisor (see docs/contracts.md, "engine -> berth-shim").
//!
//! The first process parses arguments, forks the supervisor and relays its one-line JSON
//! handshake to stdout. The supervisor (own session, child subreaper, stdio on /dev/null) creates
//! the container with [`crate::launch::launch`], then runs a single-threaded poll(2) loop over the
//! container's output, a signalfd and `shim.sock`, writes the json-file log, and when the init
//! exits records `exit.json`, removes the cgroup and exits.

pub mod log;
mod supervisor;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use crate::{Error, Result};

/// Parsed command line of `berth-shim`.
#[derive(Debug, Clone)]
pub struct Args {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub log_path: PathBuf,
    /// 0 = unlimited.
    pub log_max_size: u64,
    pub log_max_file: u32,
    pub stdin: bool,
    pub tty: bool,
}

impl Args {
    /// Parses `--id ID --bundle DIR --state-dir DIR --log-path FILE [--log-max-size BYTES]
    /// [--log-max-file N] [--stdin] [--tty]` (also `--flag=value`).
    pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args> {
        let mut id = None;
        let mut bundle = None;
        let mut state_dir = None;
        let mut log_path = None;
        let mut log_max_size = 0u64;
        let mut log_max_file = 1u32;
        let mut stdin = false;
        let mut tty = false;
        let mut it = args.into_iter().skip(1);
        let bad = |m: String| Error::InvalidArgument(m);
        while let Some(arg) = it.next() {
            let arg = arg
                .into_string()
                .map_err(|a| bad(format!("non-utf8 argument {a:?}")))?;
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it
                        .next()
                        .and_then(|v| v.into_string().ok())
                        .ok_or_else(|| bad(format!("{name} needs a value"))),
                }
            };
            match flag.as_str() {
                "--id" => id = Some(value("--id")?),
                "--bundle" => bundle = Some(PathBuf::from(value("--bundle")?)),
                "--state-dir" => state_dir = Some(PathBuf::from(value("--state-dir")?)),
                "--log-path" => log_path = Some(PathBuf::from(value("--log-path")?)),
                "--log-max-size" => {
                    let v = value("--log-max-size")?;
                    log_max_size = v
                        .parse()
                        .map_err(|_| bad(format!("invalid --log-max-size {v:?}")))?;
                }
                "--log-max-file" => {
                    let v = value("--log-max-file")?;
                    log_max_file = v
                        .parse()
                        .map_err(|_| bad(format!("invalid --log-max-file {v:?}")))?;
                }
                "--stdin" => stdin = true,
                "--tty" => tty = true,
                other => return Err(bad(format!("unknown argument {other:?}"))),
            }
        }
        let need = |v: Option<PathBuf>, n: &str| v.ok_or_else(|| bad(format!("{n} is required")));
        let id = id.ok_or_else(|| bad("--id is required".into()))?;
        crate::bundle::validate_id(&id)?;
        Ok(Args {
            id,
            bundle: need(bundle, "--bundle")?,
            state_dir: need(state_dir, "--state-dir")?,
            log_path: need(log_path, "--log-path")?,
            log_max_size,
            log_max_file,
            stdin,
            tty,
        })
    }
}

/// The handshake line for a failure.
pub(crate) fn error_line(e: &Error) -> String {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"error\":\"");
    log::escape_into(&mut out, &e.to_string());
    out.extend_from_slice(b"\",\"kind\":\"");
    out.extend_from_slice(e.exec_kind().as_str().as_bytes());
    out.extend_from_slice(b"\"}\n");
    String::from_utf8_lossy(&out).into_owned()
}

/// Entry point of the `berth-shim` binary; returns the process exit status.
///
/// Must run single-threaded (it forks, and the supervisor clones the container).
pub fn main(argv: impl IntoIterator<Item = OsString>) -> i32 {
    let stdout = std::io::stdout();
    let emit = |line: &str| {
        let mut out = stdout.lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    let args = match Args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            emit(&error_line(&e));
            return 1;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.state_dir) {
        emit(&error_line(&Error::io("mkdir", &args.state_dir, e)));
        return 1;
    }
    let (hs_read, hs_write) = match crate::sys::pipe() {
        Ok(p) => p,
        Err(e) => {
            emit(&error_line(&e));
            return 1;
        }
    };
    // SAFETY: the shim is single-threaded here (no threads are ever started), so fork is sound.
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            emit(&error_line(&Error::sys("fork", e)));
            1
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(hs_read);
            let code = supervisor::run(&args, hs_write);
            // SAFETY: leave without running the parent's atexit/stdio teardown twice.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(hs_write);
            relay_handshake(hs_read, emit)
        }
    }
}

/// Reads the supervisor's handshake line and prints it; 0 on success, 1 on error.
fn relay_handshake(hs_read: OwnedFd, emit: impl Fn(&str)) -> i32 {
    let mut f = std::fs::File::from(hs_read);
    let mut line = String::new();
    let _ = f.read_to_string(&mut line);
    let line = line.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        emit(&error_line(&Error::Init {
            message: "shim supervisor exited without a handshake".into(),
            errno: None,
        }));
        return 1;
    }
    emit(&format!("{line}\n"));
    if line.contains("\"error\"") {
        1
    } else {
        0
    }
}

/// Writes the handshake line to the pipe and closes it.
pub(crate) fn send_handshake(fd: OwnedFd, line: &str) {
    let mut f = std::fs::File::from(fd);
    let _ = f.write_all(line.as_bytes());
    let _ = f.as_raw_fd();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_flags() -> Result<()> {
        let a = Args::parse(
            [
                "berth-shim",
                "--id",
                "abc",
                "--bundle",
                "/b",
                "--state-dir=/s",
                "--log-path",
                "/l",
                "--log-max-size",
                "100",
                "--log-max-file",
                "3",
                "--stdin",
                "--tty",
            ]
            .into_iter()
            .map(OsString::from),
        )?;
        assert_eq!(a.id, "abc");
        assert_eq!(a.state_dir, PathBuf::from("/s"));
        assert_eq!(
            (a.log_max_size, a.log_max_file, a.stdin, a.tty),
            (100, 3, true, true)
        );
        assert!(Args::parse(["x", "--id", "a"].into_iter().map(OsString::from)).is_err());
        Ok(())
    }

    #[test]
    fn error_line_is_json_with_kind() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let e = Error::Exec {
            path: "nope".into(),
            kind: crate::ExecErrorKind::NotFound,
            message: "executable file not found in $PATH".into(),
        };
        let v: serde_json::Value = serde_json::from_str(error_line(&e).trim())?;
        assert_eq!(v["kind"], "not_found");
        assert!(v["error"].as_str().unwrap_or("").contains("nope"));
        Ok(())
    }
}
