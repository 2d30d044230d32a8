//! `berth save` and `berth load`: image archives through `GET /images/get` and
//! `POST /images/load`.

use std::io::{IsTerminal, Write};

use crate::client::api_message;
use anyhow::{anyhow, bail, Result};
use bollard::query_parameters::ImportImageOptions;
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::import::reader_stream;

/// `berth save [OPTIONS] IMAGE [IMAGE...]`
#[derive(Args, Debug, Clone)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// `berth load [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Runs `berth save`: streams the archive to the file (written to a temporary name and
/// renamed when complete, so a failed save leaves no truncated archive) or to stdout.
pub async fn save(docker: &Docker, args: SaveArgs) -> Result<()> {
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let stream = docker.export_images(&names);
    write_tar_stream(stream, args.output.as_deref(), "save image").await
}

/// Runs `berth load`: prints the daemon's `Loaded image: …` lines.
pub async fn load(docker: &Docker, args: LoadArgs) -> Result<()> {
    type ByteStream =
        std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send>>;
    let stream: ByteStream = match &args.input {
        Some(path) => {
            let f = tokio::fs::File::open(path)
                .await
                .map_err(|e| anyhow!("open {path}: {e}"))?;
            Box::pin(reader_stream(f))
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            Box::pin(reader_stream(tokio::io::stdin()))
        }
    };
    let opts = ImportImageOptions {
        quiet: args.quiet,
        ..Default::default()
    };
    let mut s = docker.import_image(
        opts,
        bollard::body_try_stream(stream.map(|r| r.map(Into::into))),
        None,
    );
    let mut stdout = std::io::stdout();
    while let Some(item) = s.next().await {
        let info = item.map_err(|e| anyhow!("{}", api_message(&e)))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("{err}");
        }
        if let Some(line) = info.stream {
            let _ = stdout.write_all(line.as_bytes());
        }
    }
    Ok(())
}

/// Writes a tar archive streamed by the daemon to `output` (a temporary name renamed into
/// place when complete, removed on failure, so an error never leaves a truncated archive) or
/// to stdout, which must not be a terminal. `what` names the operation in errors
/// ("failed to save image: …").
pub(crate) async fn write_tar_stream(
    mut stream: impl futures_util::Stream<Item = Result<bytes::Bytes, bollard::errors::Error>> + Unpin,
    output: Option<&str>,
    what: &str,
) -> Result<()> {
    match output {
        Some(path) => {
            let tmp = format!("{path}.berth-tmp");
            let result = async {
                let mut f = tokio::fs::File::create(&tmp)
                    .await
                    .map_err(|e| anyhow!("failed to {what}: open {path}: {e}"))?;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| anyhow!("{}", api_message(&e)))?;
                    f.write_all(&chunk).await?;
                }
                f.sync_all().await?;
                tokio::fs::rename(&tmp, path).await?;
                Ok::<(), anyhow::Error>(())
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            result
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let mut out = tokio::io::stdout();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| anyhow!("{}", api_message(&e)))?;
                out.write_all(&chunk).await?;
            }
            out.flush().await?;
            Ok(())
        }
    }
}
