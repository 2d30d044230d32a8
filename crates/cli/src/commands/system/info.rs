//! `berth info`: system-wide information in docker's layout, or a `--format` template.

use crate::client::{connect, daemon_err};
use crate::format::template;
use anyhow::Result;
use bollard::Docker;
use clap::Args;
use serde_json::{json, Value};

/// `berth info [OPTIONS]`
#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// docker's `units.BytesSize`: binary units with 4 significant digits (`23.54GiB`).
pub fn bytes_size(size: i64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if v == 0.0 {
        return format!("0{}", UNITS[i]);
    }
    let digits = v.log10().floor() as i32 + 1;
    let decimals = (4 - digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

fn s(v: &Value, ptr: &str) -> String {
    match v.pointer(ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn list(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Renders the human-readable server section.
pub fn render_server(i: &Value) -> String {
    let mut o = String::new();
    let mut line = |l: String| {
        o.push_str(&l);
        o.push('\n');
    };
    line("Server:".into());
    line(format!(" Containers: {}", s(i, "/Containers")));
    line(format!("  Running: {}", s(i, "/ContainersRunning")));
    line(format!("  Paused: {}", s(i, "/ContainersPaused")));
    line(format!("  Stopped: {}", s(i, "/ContainersStopped")));
    line(format!(" Images: {}", s(i, "/Images")));
    line(format!(" Server Version: {}", s(i, "/ServerVersion")));
    line(format!(" Storage Driver: {}", s(i, "/Driver")));
    if let Some(pairs) = i.pointer("/DriverStatus").and_then(Value::as_array) {
        for p in pairs {
            if let Some([k, v]) = p.as_array().map(Vec::as_slice) {
                line(format!(
                    "  {}: {}",
                    k.as_str().unwrap_or(""),
                    v.as_str().unwrap_or("")
                ));
            }
        }
    }
    line(format!(" Logging Driver: {}", s(i, "/LoggingDriver")));
    line(format!(" Cgroup Driver: {}", s(i, "/CgroupDriver")));
    line(format!(" Cgroup Version: {}", s(i, "/CgroupVersion")));
    line(" Plugins:".into());
    line(format!(
        "  Volume: {}",
        list(i, "/Plugins/Volume").join(" ")
    ));
    line(format!(
        "  Network: {}",
        list(i, "/Plugins/Network").join(" ")
    ));
    line(format!("  Log: {}", list(i, "/Plugins/Log").join(" ")));
    let swarm = s(i, "/Swarm/LocalNodeState");
    line(format!(
        " Swarm: {}",
        if swarm.is_empty() {
            "inactive".into()
        } else {
            swarm
        }
    ));
    let mut runtimes: Vec<String> = i
        .pointer("/Runtimes")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    line(format!(" Runtimes: {}", runtimes.join(" ")));
    line(format!(" Default Runtime: {}", s(i, "/DefaultRuntime")));
    line(format!(" Init Binary: {}", s(i, "/InitBinary")));
    line(format!(
        " containerd version: {}",
        s(i, "/ContainerdCommit/ID")
    ));
    line(format!(" runc version: {}", s(i, "/RuncCommit/ID")));
    line(format!(" init version: {}", s(i, "/InitCommit/ID")));
    let sec = list(i, "/SecurityOptions");
    if !sec.is_empty() {
        line(" Security Options:".into());
        for opt in sec {
            // "name=seccomp,profile=default" -> "seccomp" + "Profile: default"
            let mut name = String::new();
            let mut rest = Vec::new();
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", v)) => name = v.to_string(),
                    Some((k, v)) => {
                        let mut k = k.to_string();
                        if let Some(f) = k.get_mut(0..1) {
                            f.make_ascii_uppercase();
                        }
                        rest.push(format!("{k}: {v}"));
                    }
                    None => name = kv.to_string(),
                }
            }
            line(format!("  {name}"));
            for r in rest {
                line(format!("   {r}"));
            }
        }
    }
    line(format!(" Kernel Version: {}", s(i, "/KernelVersion")));
    line(format!(" Operating System: {}", s(i, "/OperatingSystem")));
    line(format!(" OSType: {}", s(i, "/OSType")));
    line(format!(" Architecture: {}", s(i, "/Architecture")));
    line(format!(" CPUs: {}", s(i, "/NCPU")));
    let mem = i.pointer("/MemTotal").and_then(Value::as_i64).unwrap_or(0);
    line(format!(" Total Memory: {}", bytes_size(mem)));
    line(format!(" Name: {}", s(i, "/Name")));
    line(format!(" ID: {}", s(i, "/ID")));
    line(format!(" Docker Root Dir: {}", s(i, "/DockerRootDir")));
    line(format!(" Debug Mode: {}", s(i, "/Debug")));
    let labels = list(i, "/Labels");
    if !labels.is_empty() {
        line(" Labels:".into());
        for l in labels {
            line(format!("  {l}"));
        }
    }
    line(format!(" Experimental: {}", s(i, "/ExperimentalBuild")));
    let insecure = list(i, "/RegistryConfig/InsecureRegistryCIDRs");
    if !insecure.is_empty() {
        line(" Insecure Registries:".into());
        for r in insecure {
            line(format!("  {r}"));
        }
    }
    line(format!(
        " Live Restore Enabled: {}",
        s(i, "/LiveRestoreEnabled")
    ));
    o
}

/// Runs `berth info`.
pub async fn run(host: &str, args: InfoArgs) -> Result<()> {
    let docker: Docker = connect(host).await?;
    let info = docker.info().await.map_err(daemon_err)?;
    let mut v = serde_json::to_value(info)?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "ClientInfo".into(),
            json!({"Version": env!("CARGO_PKG_VERSION"), "Context": "default", "Debug": false}),
        );
    }
    match args.format.as_deref().map(str::trim) {
        None | Some("") => {
            println!("Client:");
            println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
            println!(" Context:    default");
            println!(" Debug Mode: false");
            println!();
            print!("{}", render_server(&v));
            for w in list(&v, "/Warnings") {
                eprintln!("{w}");
            }
        }
        Some(f) => {
            let text = if f == "json" { "{{json .}}" } else { f };
            let t = template::parse(text)?;
            println!("{}", template::render(&t, &v)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes() {
        assert_eq!(bytes_size(25_275_000_000), "23.54GiB");
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(0), "0B");
    }
}
