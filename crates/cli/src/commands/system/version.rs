//! `berth version`: client and server versions, docker's layout or a `--format` template.

use crate::client::{api_message, connect};
use crate::format::template;
use anyhow::{bail, Result};
use clap::Args;
use serde_json::{json, Value};

/// `berth version [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn client_object(api: &str) -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "APIVersion": api,
        "DefaultAPIVersion": bollard::API_DEFAULT_VERSION.to_string(),
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "Context": "default",
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn print_client(c: &Value) {
    let api = s(c, "ApiVersion");
    let default = s(c, "DefaultAPIVersion");
    let api_line = if api != default {
        format!("{api} (downgraded from {default})")
    } else {
        api
    };
    println!("Client:");
    println!(" Version:           {}", s(c, "Version"));
    println!(" API version:       {api_line}");
    println!(" OS/Arch:           {}/{}", s(c, "Os"), s(c, "Arch"));
    println!(" Context:           {}", s(c, "Context"));
}

fn print_server(server: &Value) {
    let platform = server
        .pointer("/Platform/Name")
        .and_then(Value::as_str)
        .unwrap_or("");
    println!();
    if platform.is_empty() {
        println!("Server:");
    } else {
        println!("Server: {platform}");
    }
    let components = server
        .get("Components")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for comp in components {
        let name = s(&comp, "Name");
        println!(" {name}:");
        println!("  Version:          {}", s(&comp, "Version"));
        let details = comp.get("Details").cloned().unwrap_or(Value::Null);
        if name == "Engine" {
            let min = s(&details, "MinAPIVersion");
            println!(
                "  API version:      {} (minimum version {min})",
                s(&details, "ApiVersion")
            );
            println!("  Go version:       {}", s(&details, "GoVersion"));
            println!("  Git commit:       {}", s(&details, "GitCommit"));
            println!("  Built:            {}", s(&details, "BuildTime"));
            println!(
                "  OS/Arch:          {}/{}",
                s(&details, "Os"),
                s(&details, "Arch")
            );
            println!("  Experimental:     {}", s(&details, "Experimental"));
        } else if let Value::Object(m) = &details {
            for (k, v) in m {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                println!("  {:<18}{v}", format!("{k}:"));
            }
        }
    }
}

/// Runs `berth version`.
pub async fn run(host: &str, args: VersionArgs) -> Result<()> {
    let tmpl = match args.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("json") => Some(template::parse("{{json .}}")?),
        Some(f) => Some(template::parse(f)?),
    };
    let (api, server) = match connect(host).await {
        Ok(docker) => {
            let api = docker.client_version().to_string();
            match docker.version().await {
                Ok(v) => (api, Ok(serde_json::to_value(v)?)),
                Err(e) => (api, Err(api_message(&e))),
            }
        }
        Err(e) => (bollard::API_DEFAULT_VERSION.to_string(), Err(e.to_string())),
    };
    let mut server_v = server.clone().unwrap_or(Value::Null);
    if let Value::Object(m) = &mut server_v {
        if let Some(a) = m.get("ApiVersion").cloned() {
            m.insert("APIVersion".into(), a);
        }
    }
    let client = client_object(&api);
    if let Some(t) = tmpl {
        let out = template::render(&t, &json!({"Client": client, "Server": server_v}))?;
        println!("{out}");
    } else {
        print_client(&client);
        if let Ok(sv) = &server {
            print_server(sv);
        }
    }
    if let Err(e) = server {
        bail!("{e}");
    }
    Ok(())
}
