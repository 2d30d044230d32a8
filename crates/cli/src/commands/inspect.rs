//! `berth inspect`, `container inspect`, `image inspect`: the daemon's JSON, as docker prints it
//! (a 4-space indented array), or one rendered `--format` template per object.

use crate::client::{api_message, status_code};
use crate::error::exit;
use crate::format::{docker_json_indent, template};
use anyhow::Result;
use bollard::query_parameters::InspectContainerOptionsBuilder;
use bollard::Docker;
use clap::{Args, ValueEnum};

/// Object kinds `--type` accepts.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum ObjectType {
    Container,
    Image,
    Volume,
}

/// `berth inspect [OPTIONS] NAME|ID [NAME|ID...]`
#[derive(Args, Debug, Clone)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub typ: Option<ObjectType>,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

/// `container inspect` / `image inspect` (no `--type`).
#[derive(Args, Debug, Clone)]
pub struct TypedInspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true, value_name = "NAME|ID")]
    pub names: Vec<String>,
}

impl TypedInspectArgs {
    /// The equivalent `inspect --type` invocation.
    pub fn with_type(self, typ: ObjectType) -> InspectArgs {
        InspectArgs {
            format: self.format,
            size: self.size,
            typ: Some(typ),
            names: self.names,
        }
    }
}

enum Lookup {
    Found(serde_json::Value),
    NotFound(String),
    Failed(String),
}

async fn inspect_container(docker: &Docker, name: &str, size: bool) -> Lookup {
    let opts = InspectContainerOptionsBuilder::default().size(size).build();
    match docker.inspect_container(name, Some(opts)).await {
        Ok(c) => match serde_json::to_value(c) {
            Ok(v) => Lookup::Found(v),
            Err(e) => Lookup::Failed(e.to_string()),
        },
        Err(e) if status_code(&e) == Some(404) => Lookup::NotFound(api_message(&e)),
        Err(e) => Lookup::Failed(api_message(&e)),
    }
}

async fn inspect_image(docker: &Docker, name: &str) -> Lookup {
    match docker.inspect_image(name).await {
        Ok(i) => match serde_json::to_value(i) {
            Ok(v) => Lookup::Found(v),
            Err(e) => Lookup::Failed(e.to_string()),
        },
        Err(e) if status_code(&e) == Some(404) => Lookup::NotFound(api_message(&e)),
        Err(e) => Lookup::Failed(api_message(&e)),
    }
}

async fn inspect_volume(docker: &Docker, name: &str) -> Lookup {
    match docker.inspect_volume(name).await {
        Ok(v) => match serde_json::to_value(v) {
            Ok(v) => Lookup::Found(v),
            Err(e) => Lookup::Failed(e.to_string()),
        },
        Err(e) if status_code(&e) == Some(404) => Lookup::NotFound(api_message(&e)),
        Err(e) => Lookup::Failed(api_message(&e)),
    }
}

/// Renders objects as docker does: the template per object (`json` means `{{json .}}`), or the
/// indented array.
pub fn render(format: Option<&str>, objects: &[serde_json::Value]) -> Result<String> {
    match format.map(str::trim) {
        None | Some("") => Ok(format!(
            "{}\n",
            docker_json_indent(&serde_json::Value::Array(objects.to_vec()))?
        )),
        Some(f) => {
            let text = if f == "json" { "{{json .}}" } else { f };
            let t = template::parse(text)?;
            let mut out = String::new();
            for o in objects {
                out.push_str(&template::render(&t, o)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// Runs `berth inspect`.
pub async fn run(docker: &Docker, args: InspectArgs) -> Result<()> {
    if let Some(f) = args.format.as_deref() {
        // Fail on a bad template before asking the daemon anything, as docker does.
        if f.trim() != "json" && !f.trim().is_empty() {
            template::parse(f)?;
        }
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let result = match args.typ {
            Some(ObjectType::Container) => inspect_container(docker, name, args.size).await,
            Some(ObjectType::Image) => inspect_image(docker, name).await,
            Some(ObjectType::Volume) => inspect_volume(docker, name).await,
            // Docker's order: container, image, then volume.
            None => match inspect_container(docker, name, args.size).await {
                Lookup::NotFound(_) => match inspect_image(docker, name).await {
                    Lookup::NotFound(_) => match inspect_volume(docker, name).await {
                        Lookup::NotFound(_) => {
                            Lookup::NotFound(format!("Error: No such object: {name}"))
                        }
                        other => other,
                    },
                    other => other,
                },
                other => other,
            },
        };
        match result {
            Lookup::Found(v) => found.push(v),
            Lookup::NotFound(m) | Lookup::Failed(m) => errors.push(m),
        }
    }
    let out = render(args.format.as_deref(), &found)?;
    print!("{out}");
    for e in &errors {
        eprintln!("{e}");
    }
    if !errors.is_empty() {
        return Err(exit(1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_indented_array() {
        let v = vec![serde_json::json!({"Id": "x"})];
        assert_eq!(
            render(None, &v).unwrap(),
            "[\n    {\n        \"Id\": \"x\"\n    }\n]\n"
        );
        assert_eq!(render(None, &[]).unwrap(), "[]\n");
        assert_eq!(render(Some("{{.Id}}"), &v).unwrap(), "x\n");
        assert_eq!(render(Some("json"), &v).unwrap(), "{\"Id\":\"x\"}\n");
    }
}
