//! `berth cp`: copy files between a container and the local filesystem, with the docker CLI's
//! semantics (moby pkg/archive `PrepareArchiveCopy`): `dir/.` copies a directory's content,
//! a missing destination takes the source's place under the destination's name, `-` streams a
//! tar on stdin/stdout, `-L` follows a symlink source, `-a` keeps the container user's ownership.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;

use crate::client::api_message;

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// `berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-` and `SRC_PATH|- CONTAINER:DEST_PATH`
#[derive(Args, Debug, Clone)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy (accepted; berth prints no progress)
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "SRC")]
    pub src: String,
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// A `CONTAINER:PATH` argument or a local path (docker's `splitCpArg`).
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((container, path)) => (Some(container), path),
        None => (None, arg),
    }
}

/// Runs `berth cp`.
pub async fn run(docker: &Docker, args: CpArgs) -> Result<()> {
    match (split(&args.src), split(&args.dest)) {
        ((Some(_), _), (Some(_), _)) => bail!("copying between containers is not supported"),
        ((None, _), (None, _)) => bail!("must specify at least one container source"),
        ((Some(container), path), (None, dest)) => {
            from_container(docker, container, path, dest, args.follow_link).await
        }
        ((None, src), (Some(container), path)) => {
            to_container(docker, src, container, path, &args).await
        }
    }
}

/// `SplitPathDirEntry`: the cleaned parent and base of `path`, keeping a trailing `/.`.
fn split_dir_entry(path: &str) -> (String, String) {
    let current_dir = path == "." || path.ends_with("/.");
    let cleaned = clean(path);
    if current_dir {
        // `dir/.`: Go's Dir/Base of "dir/." are "dir" and ".".
        return (cleaned, ".".to_owned());
    }
    let p = Path::new(&cleaned);
    let base = match cleaned.as_str() {
        "/" => "/".to_owned(),
        _ => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".to_owned()),
    };
    let dir = match p.parent() {
        Some(d) if d.as_os_str().is_empty() => ".".to_owned(),
        Some(d) => d.to_string_lossy().into_owned(),
        None => "/".to_owned(),
    };
    (dir, base)
}

/// Lexical clean (Go's `filepath.Clean`).
fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.")
}

/// Where to extract and how to rename the top entry (docker's `PrepareArchiveCopy`).
/// Returns `(directory to extract into, entry base to rename, new base)`.
fn prepare(
    src_path: &str,
    src_is_dir: bool,
    dst_path: &str,
    dst: Option<bool>,
) -> Result<(String, Option<(String, String)>)> {
    let (dst_dir, dst_base) = split_dir_entry(dst_path);
    let (_, src_base) = split_dir_entry(src_path);
    match dst {
        Some(true) => Ok((dst_path.to_owned(), None)),
        Some(false) if src_is_dir => bail!("cannot copy a directory to a file"),
        None if !src_is_dir && asserts_directory(dst_path) => {
            bail!("destination directory {dst_path:?} does not exist")
        }
        _ => Ok((dst_dir, Some((src_base, dst_base)))),
    }
}

/// Replaces the first component of `name` when it is `old`.
fn rebase(name: &Path, old: &str, new: &str) -> PathBuf {
    let mut components = name
        .components()
        .filter(|c| !matches!(c, Component::RootDir));
    let first = components.next();
    let first_str = first.map(|c| c.as_os_str().to_string_lossy().into_owned());
    if first_str.as_deref() != Some(old) {
        return name.to_path_buf();
    }
    let mut out = PathBuf::from(new);
    out.extend(components);
    out
}

async fn from_container(
    docker: &Docker,
    container: &str,
    path: &str,
    dest: &str,
    follow_link: bool,
) -> Result<()> {
    let mut src_path = path.to_owned();
    let mut rebase_name: Option<String> = None;
    if follow_link {
        let opts = ContainerArchiveInfoOptionsBuilder::default()
            .path(&src_path)
            .build();
        let stat = docker
            .get_container_archive_info(container, Some(opts))
            .await
            .map_err(|e| anyhow!("{}", stat_message(&e, container, &src_path)))?;
        if stat.file_mode & GO_MODE_SYMLINK != 0 && !stat.link_target.is_empty() {
            rebase_name = Some(split_dir_entry(path).1);
            src_path = stat.link_target.clone();
        }
    }
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(&src_path)
        .build();
    let mut stream = docker.download_from_container(container, Some(opts));
    // The first chunk tells whether the request succeeded (errors arrive before any body).
    let first = match stream.next().await {
        Some(Ok(chunk)) => Some(chunk),
        Some(Err(e)) => bail!("{}", api_message(&e)),
        None => None,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Bytes, String>>(16);
    if let Some(chunk) = first {
        let _ = tx.send(Ok(chunk));
    }
    let feeder = tokio::spawn(async move {
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|e| api_message(&e));
            let failed = item.is_err();
            let tx = tx.clone();
            let sent = tokio::task::spawn_blocking(move || tx.send(item).is_ok()).await;
            if failed || !matches!(sent, Ok(true)) {
                break;
            }
        }
    });
    let reader = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    let dest = dest.to_owned();
    let result = tokio::task::spawn_blocking(move || -> Result<()> {
        if dest == "-" {
            let mut reader = reader;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            std::io::copy(&mut reader, &mut out).context("writing to stdout")?;
            out.flush().context("writing to stdout")?;
            return Ok(());
        }
        extract_local(reader, &src_path, rebase_name, &dest)
    })
    .await
    .map_err(|e| anyhow!("copy task: {e}"))?;
    feeder.abort();
    result
}

/// Extracts the container's tar (`reader`) at the local `dest`, as the docker CLI does.
fn extract_local(
    reader: impl Read,
    src_path: &str,
    rebase_name: Option<String>,
    dest: &str,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().context("reading archive")?.peekable();
    // Whether the source is a directory: its first entry is the source itself.
    let src_is_dir = match entries.peek() {
        Some(Ok(e)) => e.header().entry_type().is_dir(),
        _ => false,
    };
    let (_, served_base) = split_dir_entry(src_path);
    // `-L`: the archive names the link's target; rename it after the link first.
    let renamed_src = match &rebase_name {
        Some(name) => {
            let (dir, _) = split_dir_entry(src_path);
            format!("{dir}/{name}")
        }
        None => src_path.to_owned(),
    };
    let dst_info = local_dest_info(dest)?;
    let (dst_dir, rename) = prepare(&renamed_src, src_is_dir, &dst_info.0, dst_info.1)?;
    let dst_dir = PathBuf::from(dst_dir);
    let canonical_dir = std::fs::canonicalize(&dst_dir)
        .with_context(|| format!("destination directory {} does not exist", dst_dir.display()))?;
    for entry in entries {
        let mut entry = entry.context("reading archive")?;
        let mut name = entry.path().context("reading archive")?.into_owned();
        if let Some(link_base) = &rebase_name {
            name = rebase(&name, &served_base, link_base);
        }
        if let Some((old, new)) = &rename {
            name = rebase(&name, old, new);
        }
        let Some(target) = join_inside(&dst_dir, &name) else {
            continue;
        };
        if target == dst_dir {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            // Never write through a symlink that leads out of the destination (a container
            // controls the archive's content).
            let real = std::fs::canonicalize(parent)
                .with_context(|| format!("resolving {}", parent.display()))?;
            if !real.starts_with(&canonical_dir) {
                bail!(
                    "invalid archive entry {}: it would be written outside {}",
                    name.display(),
                    dst_dir.display()
                );
            }
        }
        if let Ok(existing) = std::fs::symlink_metadata(&target) {
            let is_dir = entry.header().entry_type().is_dir();
            if existing.is_dir() && !is_dir {
                bail!(
                    "cannot overwrite directory {:?} with non-directory {:?}",
                    target.display().to_string(),
                    name.display().to_string()
                );
            }
            if !existing.is_dir() && is_dir {
                bail!(
                    "cannot overwrite non-directory {:?} with directory {:?}",
                    target.display().to_string(),
                    name.display().to_string()
                );
            }
        }
        entry.set_preserve_permissions(true);
        entry
            .unpack(&target)
            .with_context(|| format!("extracting {}", target.display()))?;
    }
    // Why drain: the archive's end-of-archive blocks can arrive before the daemon learns that
    // the copy failed (a tar writer that fails still writes its terminator), and the failure
    // then comes as a broken body after them. Reading to the end surfaces it.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).context("reading archive")?;
    Ok(())
}

/// The local destination's path (a symlink followed) and whether it is a directory.
fn local_dest_info(dest: &str) -> Result<(String, Option<bool>)> {
    match std::fs::symlink_metadata(dest) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(dest) {
            Ok(real) => {
                let is_dir = real.is_dir();
                Ok((real.to_string_lossy().into_owned(), Some(is_dir)))
            }
            Err(_) => Ok((dest.to_owned(), None)),
        },
        Ok(meta) => Ok((dest.to_owned(), Some(meta.is_dir()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((dest.to_owned(), None)),
        Err(e) => Err(anyhow!("{dest}: {e}")),
    }
}

/// `dir` joined with `name`'s normal components; `None` if `name` climbs with `..`.
fn join_inside(dir: &Path, name: &Path) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    Some(out)
}

fn stat_message(e: &bollard::errors::Error, container: &str, path: &str) -> String {
    match e {
        // HEAD replies have no body: word a 404 as docker does.
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => format!(
            "Error response from daemon: Could not find the file {path} in container {container}"
        ),
        other => api_message(other),
    }
}

async fn to_container(
    docker: &Docker,
    src: &str,
    container: &str,
    path: &str,
    args: &CpArgs,
) -> Result<()> {
    let mut dst_path = path.to_owned();
    let info = |p: &str| {
        ContainerArchiveInfoOptionsBuilder::default()
            .path(p)
            .build()
    };
    let mut dst_stat = docker
        .get_container_archive_info(container, Some(info(&dst_path)))
        .await;
    if let Ok(stat) = &dst_stat {
        if stat.file_mode & GO_MODE_SYMLINK != 0 {
            // Copy to where the link leads (inside the container), as docker does.
            let target = stat.link_target.clone();
            dst_path = target;
            dst_stat = docker
                .get_container_archive_info(container, Some(info(&dst_path)))
                .await;
        }
    }
    let dst = match &dst_stat {
        Ok(stat) => Some(stat.file_mode & GO_MODE_DIR != 0),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => None,
        Err(e) => bail!("{}", stat_message(e, container, &dst_path)),
    };

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (upload_dir, producer) = if src == "-" {
        if dst != Some(true) {
            bail!("destination \"{container}:{dst_path}\" must be a directory");
        }
        let producer = tokio::task::spawn_blocking(move || -> Result<()> {
            let stdin = std::io::stdin();
            copy_to_channel(stdin.lock(), &tx)
        });
        (dst_path.clone(), producer)
    } else {
        let source = local_source(src, args.follow_link)?;
        let (upload_dir, rename) = prepare(&source.path, source.is_dir, &dst_path, dst)?;
        // The top entry's name in the tar: the rebase name (-L or `link/`), then the rename.
        let (_, base) = split_dir_entry(&source.path);
        let mut name = source.rebase_name.clone().unwrap_or(base);
        if let Some((_, new)) = rename {
            name = new;
        }
        let real = source.real.clone();
        let producer = tokio::task::spawn_blocking(move || -> Result<()> {
            let writer = ChannelWriter { tx };
            let mut builder = tar::Builder::new(writer);
            builder.mode(tar::HeaderMode::Complete);
            builder.follow_symlinks(false);
            let meta =
                std::fs::symlink_metadata(&real).with_context(|| format!("{}", real.display()))?;
            if meta.is_dir() {
                builder.append_dir_all(&name, &real)
            } else {
                builder.append_path_with_name(&real, &name)
            }
            .with_context(|| format!("archiving {}", real.display()))?;
            builder
                .into_inner()
                .and_then(|mut w| w.flush())
                .context("archiving")?;
            Ok(())
        });
        (upload_dir, producer)
    };
    let stream = async_stream_from(&mut rx);
    let mut opts = UploadToContainerOptionsBuilder::default()
        .path(&upload_dir)
        .no_overwrite_dir_non_dir("true");
    if args.archive {
        opts = opts.copy_uidgid("true");
    }
    let uploaded = docker
        .upload_to_container(container, Some(opts.build()), bollard::body_stream(stream))
        .await;
    let produced = producer.await.map_err(|e| anyhow!("archive task: {e}"))?;
    uploaded.map_err(|e| anyhow!("{}", api_message(&e)))?;
    produced
}

/// Moves the receiver's items into a `'static` stream for the request body.
fn async_stream_from(
    rx: &mut tokio::sync::mpsc::Receiver<Bytes>,
) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
    let (replacement_tx, replacement_rx) = tokio::sync::mpsc::channel(1);
    drop(replacement_tx);
    let rx = std::mem::replace(rx, replacement_rx);
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}

struct LocalSource {
    /// The path as docker names it (symlinks in the parent resolved).
    path: String,
    /// The file to archive.
    real: PathBuf,
    is_dir: bool,
    rebase_name: Option<String>,
}

/// docker's `CopyInfoSourcePath` / `ResolveHostSourcePath`.
fn local_source(src: &str, follow_link: bool) -> Result<LocalSource> {
    let not_found = |e: std::io::Error| anyhow!("could not find the file {src}: {e}");
    let (path, rebase_name) = if follow_link {
        let real = std::fs::canonicalize(src).map_err(not_found)?;
        let (_, src_base) = split_dir_entry(src);
        let real_str = real.to_string_lossy().into_owned();
        let (_, real_base) = split_dir_entry(&real_str);
        let rebase = (src_base != real_base).then_some(src_base);
        (real_str, rebase)
    } else {
        let (dir, base) = split_dir_entry(src);
        let real_dir = std::fs::canonicalize(&dir).map_err(not_found)?;
        let mut resolved = real_dir.to_string_lossy().into_owned();
        if !resolved.ends_with('/') {
            resolved.push('/');
        }
        resolved.push_str(&base);
        (resolved, None)
    };
    let trailing_slash = src.ends_with('/') && !src.ends_with("/.");
    let real = if trailing_slash {
        std::fs::canonicalize(&path).map_err(not_found)?
    } else {
        PathBuf::from(&path)
    };
    let meta = std::fs::symlink_metadata(&real).map_err(not_found)?;
    // `link/` names the directory the link leads to, under the link's name.
    let rebase_name = match (rebase_name, trailing_slash) {
        (Some(r), _) => Some(r),
        (None, true) => Some(split_dir_entry(src).1),
        (None, false) => None,
    };
    Ok(LocalSource {
        path,
        real,
        is_dir: meta.is_dir(),
        rebase_name,
    })
}

fn copy_to_channel(mut input: impl Read, tx: &tokio::sync::mpsc::Sender<Bytes>) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).context("reading stdin")?;
        if n == 0 {
            return Ok(());
        }
        if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
            return Ok(());
        }
    }
}

/// A blocking `Write` into the request body channel.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "upload ended"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A blocking `Read` over the response body's chunks.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(message)) => return Err(std::io::Error::other(message)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_args_like_docker() {
        assert_eq!(split("ctr:/etc"), (Some("ctr"), "/etc"));
        assert_eq!(split("./a:b"), (None, "./a:b"));
        assert_eq!(split("/abs:x"), (None, "/abs:x"));
        assert_eq!(split("file"), (None, "file"));
    }

    #[test]
    fn dir_entries() {
        assert_eq!(split_dir_entry("/tmp/d/."), ("/tmp/d".into(), ".".into()));
        assert_eq!(split_dir_entry("/tmp/d/"), ("/tmp".into(), "d".into()));
        assert_eq!(split_dir_entry("d"), (".".into(), "d".into()));
        assert_eq!(clean("a/../../b/./c/"), "../b/c");
    }

    #[test]
    fn prepare_follows_docker_rules() {
        // Existing directory: extract into it, no rename.
        assert_eq!(
            prepare("/a/f", false, "/d", Some(true)).ok(),
            Some(("/d".into(), None))
        );
        // Missing destination: extract into its parent under its name.
        assert_eq!(
            prepare("/a/dir", true, "/x/new", None).ok(),
            Some(("/x".into(), Some(("dir".into(), "new".into()))))
        );
        assert!(prepare("/a/dir", true, "/x/file", Some(false)).is_err());
        assert!(prepare("/a/f", false, "/x/missing/", None).is_err());
        assert_eq!(rebase(Path::new("./f"), ".", "new"), PathBuf::from("new/f"));
        assert_eq!(rebase(Path::new("d/f"), "x", "new"), PathBuf::from("d/f"));
    }
}
