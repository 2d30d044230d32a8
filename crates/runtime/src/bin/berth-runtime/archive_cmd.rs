//! `berth-runtime archive --confinement JSON {stat|get|put} PATH`: the helper berthd runs for
//! `docker cp` (see docs/contracts.md). Errors go to stderr as one JSON line
//! `{"error": "...", "kind": "not_found"|"invalid"|"read_only"|"other"}` with exit status 1.

use std::io::Write;

use berth_runtime::archive::{self, ArchiveError, Confinement, ExtractOptions};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ArchiveOp {
    /// Print the path's stat as one JSON line.
    Stat { path: String },
    /// Print the path's stat as one JSON line, then the path as a tar stream.
    Get { path: String },
    /// Extract the tar stream on stdin into the directory PATH.
    Put {
        path: String,
        #[arg(long)]
        no_overwrite_dir_non_dir: bool,
        /// UID:GID to own every extracted entry.
        #[arg(long)]
        chown: Option<String>,
    },
}

/// Runs one archive operation; returns the exit status.
pub fn run(confinement: &str, op: &ArchiveOp) -> i32 {
    match run_inner(confinement, op) {
        Ok(()) => 0,
        Err(e) => {
            let line = serde_json::json!({ "error": e.to_string(), "kind": e.kind() });
            eprintln!("{line}");
            1
        }
    }
}

fn run_inner(confinement: &str, op: &ArchiveOp) -> Result<(), ArchiveError> {
    let conf: Confinement =
        serde_json::from_str(confinement).map_err(|e| ArchiveError::Invalid {
            message: format!("invalid confinement: {e}"),
        })?;
    // Parse everything from the user before touching the filesystem.
    let chown = match op {
        ArchiveOp::Put {
            chown: Some(spec), ..
        } => Some(parse_chown(spec)?),
        _ => None,
    };
    archive::confine(&conf)?;
    let stdout = std::io::stdout();
    let io_err = |e| ArchiveError::io("write", "stdout", e);
    match op {
        ArchiveOp::Stat { path } => {
            let stat = archive::stat(path)?;
            let mut out = stdout.lock();
            writeln!(out, "{}", json(&stat)?).map_err(io_err)?;
        }
        ArchiveOp::Get { path } => {
            let stat = archive::stat(path)?;
            let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
            writeln!(out, "{}", json(&stat)?).map_err(io_err)?;
            archive::write_tar(path, &mut out)?;
            out.flush().map_err(io_err)?;
        }
        ArchiveOp::Put {
            path,
            no_overwrite_dir_non_dir,
            ..
        } => {
            let opts = ExtractOptions {
                no_overwrite_dir_non_dir: *no_overwrite_dir_non_dir,
                chown,
            };
            let stdin = std::io::stdin();
            archive::extract(path, std::io::BufReader::new(stdin.lock()), opts)?;
        }
    }
    Ok(())
}

fn json(stat: &archive::PathStat) -> Result<String, ArchiveError> {
    serde_json::to_string(stat).map_err(|e| ArchiveError::Invalid {
        message: format!("encode stat: {e}"),
    })
}

fn parse_chown(spec: &str) -> Result<(u32, u32), ArchiveError> {
    let bad = || ArchiveError::Invalid {
        message: format!("invalid --chown {spec:?}: want UID:GID"),
    };
    let (uid, gid) = spec.split_once(':').ok_or_else(bad)?;
    Ok((
        uid.parse().map_err(|_| bad())?,
        gid.parse().map_err(|_| bad())?,
    ))
}
