//! `berth create`, and the create-with-pull step `run` shares with it.

use super::opts::ContainerOpts;
use crate::client::{api_message, status_code};
use crate::error::{exit, report_error};
use anyhow::Result;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bollard::Docker;
use clap::{ArgAction, Args};

/// `berth create [OPTIONS] IMAGE [COMMAND] [ARG...]`
#[derive(Args, Debug, Clone)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Pull image before creating ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Print usage
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE"
    )]
    pub args: Vec<String>,
}

/// Adds `:latest` to a reference without tag or digest, as docker prints it.
pub fn with_default_tag(image: &str) -> String {
    if image.contains('@') {
        return image.to_string();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Splits `name[:tag]` (a `:` after the last `/`) into repository and tag.
pub fn split_tag(reference: &str) -> (String, Option<String>) {
    if let Some((repo, digest)) = reference.split_once('@') {
        return (repo.to_string(), Some(digest.to_string()));
    }
    let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    match reference[slash..].rfind(':') {
        Some(i) => (
            reference[..slash + i].to_string(),
            Some(reference[slash + i + 1..].to_string()),
        ),
        None => (reference.to_string(), None),
    }
}

/// Pulls `image`, printing the daemon's progress to stderr (bars on a terminal, docker's
/// non-tty lines otherwise).
pub async fn pull(docker: &Docker, image: &str) -> Result<(), bollard::errors::Error> {
    crate::commands::image::pull::pull_with(docker, image, None, false).await
}

fn is_no_such_image(e: &bollard::errors::Error) -> bool {
    status_code(e) == Some(404)
        && api_message(e)
            .to_ascii_lowercase()
            .contains("no such image")
}

/// `POST /containers/create`; on "no such image" prints docker's notice, pulls and retries.
/// Failures are reported as docker's `run`/`create` do and end with status 125.
pub async fn create_container(
    docker: &Docker,
    cmd_name: &str,
    name: Option<&str>,
    body: ContainerCreateBody,
    pull_policy: &str,
) -> Result<String> {
    let pull_missing = match pull_policy {
        "missing" | "" => true,
        "never" => false,
        "always" => {
            let image = body.image.clone().unwrap_or_default();
            if let Err(e) = pull(docker, &image).await {
                report_error(cmd_name, &api_message(&e), true);
                return Err(exit(125));
            }
            false
        }
        other => {
            report_error(
                cmd_name,
                &format!("invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""),
                true,
            );
            return Err(exit(125));
        }
    };
    let options = name.map(|n| CreateContainerOptionsBuilder::default().name(n).build());
    let image = body.image.clone().unwrap_or_default();
    let resp = match docker.create_container(options.clone(), body.clone()).await {
        Ok(r) => r,
        Err(e) if pull_missing && is_no_such_image(&e) => {
            eprintln!(
                "Unable to find image '{}' locally",
                with_default_tag(&image)
            );
            if let Err(pe) = pull(docker, &image).await {
                report_error(cmd_name, &api_message(&pe), true);
                return Err(exit(125));
            }
            match docker.create_container(options, body).await {
                Ok(r) => r,
                Err(e) => {
                    report_error(cmd_name, &api_message(&e), true);
                    return Err(exit(125));
                }
            }
        }
        Err(e) => {
            report_error(cmd_name, &api_message(&e), true);
            return Err(exit(125));
        }
    };
    for w in resp.warnings.iter().filter(|w| !w.is_empty()) {
        eprintln!("WARNING: {w}");
    }
    Ok(resp.id)
}

/// Runs `berth create`: prints the new container's full ID.
pub async fn run(docker: &Docker, args: CreateArgs) -> Result<()> {
    let (image, cmd) = args
        .args
        .split_first()
        .map(|(i, c)| (i.clone(), c.to_vec()))
        .unwrap_or_default();
    let body = match args.opts.to_body(&image, &cmd) {
        Ok(b) => b,
        Err(e) => {
            report_error("create", &e.to_string(), true);
            return Err(exit(125));
        }
    };
    let id = create_container(
        docker,
        "create",
        args.opts.name.as_deref(),
        body,
        &args.pull,
    )
    .await?;
    println!("{id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1"), "busybox:1");
        assert_eq!(
            with_default_tag("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(
            split_tag("localhost:5000/x:2"),
            ("localhost:5000/x".into(), Some("2".into()))
        );
        assert_eq!(split_tag("busybox"), ("busybox".into(), None));
    }
}
