//! `berth import`: create an image from a root filesystem tarball (file, stdin or URL) through
//! `POST /images/create?fromSrc=...`.

use crate::client::api_message;
use crate::commands::container::create::split_tag;
use anyhow::{anyhow, bail, Result};
use bollard::query_parameters::CreateImageOptionsBuilder;
use bollard::Docker;
use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

/// `berth import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]`
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|-
    pub source: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// Chunks of a local file or stdin, streamed as the request body.
pub(crate) fn reader_stream<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    r: R,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    futures_util::stream::unfold(Some(r), |state| async move {
        let mut r = state?;
        let mut buf = vec![0u8; 256 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// Runs `berth import`; prints the new image ID (`sha256:...`).
pub async fn run(docker: &Docker, args: ImportArgs) -> Result<()> {
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let from_src = if args.source == "-" || !is_url {
        "-".to_string()
    } else {
        args.source.clone()
    };
    let mut b = CreateImageOptionsBuilder::default().from_src(&from_src);
    if let Some(r) = &args.reference {
        let (repo, tag) = split_tag(r);
        b = b.repo(&repo);
        if let Some(t) = tag.as_deref() {
            b = b.tag(t);
        }
    }
    if let Some(m) = &args.message {
        b = b.message(m);
    }
    if !args.change.is_empty() {
        b = b.changes(args.change.clone());
    }
    if let Some(p) = &args.platform {
        b = b.platform(p);
    }
    let body = if from_src == "-" {
        let stream: std::pin::Pin<
            Box<dyn futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send>,
        > = if args.source == "-" {
            Box::pin(reader_stream(tokio::io::stdin()))
        } else {
            let f = tokio::fs::File::open(&args.source)
                .await
                .map_err(|e| anyhow!("open {}: {}", args.source, e.kind_msg()))?;
            Box::pin(reader_stream(f))
        };
        Some(bollard::body_try_stream(stream.map(|r| r.map(Into::into))))
    } else {
        None
    };
    let mut s = docker.create_image(Some(b.build()), body, None);
    let mut printed = false;
    while let Some(item) = s.next().await {
        let info = item.map_err(|e| anyhow!("{}", api_message(&e)))?;
        if let Some(status) = info.status.filter(|s| !s.is_empty()) {
            if status.starts_with("sha256:") || !printed && info.id.is_none() {
                println!("{status}");
                printed = true;
            }
        }
    }
    if !printed {
        bail!("import: the daemon returned no image ID");
    }
    Ok(())
}

trait KindMsg {
    fn kind_msg(&self) -> String;
}

impl KindMsg for std::io::Error {
    /// Go's wording for the common cases (`no such file or directory`).
    fn kind_msg(&self) -> String {
        match self.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".into(),
            std::io::ErrorKind::PermissionDenied => "permission denied".into(),
            _ => self.to_string(),
        }
    }
}
