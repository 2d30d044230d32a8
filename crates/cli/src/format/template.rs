//! Go templates for `--format`, with the functions the docker CLI adds (`json`, `join`, `split`,
//! `lower`, `upper`, `title`, `pad`, `truncate`) applied to JSON values.

use anyhow::{anyhow, Result};
use gtmpl::{Context, FuncError, Template, Value};
use std::collections::HashMap;

/// Converts a JSON value into a template value. Objects become maps so that `.Field` and
/// `index .Labels "k"` both work and a missing key renders as `<no value>` instead of failing.
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                Value::from(i)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// The inverse of [`to_value`], used by the `json` function. Map keys come out sorted, as Go
/// marshals maps.
pub fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else {
                serde_json::Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let mut m = serde_json::Map::new();
            for k in keys {
                if let Some(val) = o.get(k) {
                    m.insert(k.clone(), to_json(val));
                }
            }
            serde_json::Value::Object(m)
        }
    }
}

fn arg_str(args: &[Value], i: usize, name: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::NoValue) | Some(Value::Nil) => Ok(String::new()),
        Some(v) => Ok(v.to_string()),
        None => Err(FuncError::AtLeastXArgs(name.to_string(), i + 1)),
    }
}

fn arg_int(args: &[Value], i: usize, name: &str) -> Result<i64, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n.as_i64().ok_or(FuncError::UnableToConvertFromValue),
        Some(Value::String(s)) => s.parse().map_err(|_| FuncError::UnableToConvertFromValue),
        Some(_) => Err(FuncError::UnableToConvertFromValue),
        None => Err(FuncError::AtLeastXArgs(name.to_string(), i + 1)),
    }
}

fn json_fn(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .ok_or_else(|| FuncError::ExactlyXArgs("json".into(), 1))?;
    let s = serde_json::to_string(&to_json(v)).map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::String(s))
}

fn join_fn(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1, "join")?;
    let items: Vec<String> = match args.first() {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Value::NoValue) | Some(Value::Nil) => Vec::new(),
        Some(other) => vec![other.to_string()],
        None => return Err(FuncError::ExactlyXArgs("join".into(), 2)),
    };
    Ok(Value::String(items.join(&sep)))
}

fn split_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "split")?;
    let sep = arg_str(args, 1, "split")?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn lower_fn(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "lower")?.to_lowercase()))
}

fn upper_fn(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "upper")?.to_uppercase()))
}

fn title_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    Ok(Value::String(out))
}

fn pad_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "pad")?;
    let left = arg_int(args, 1, "pad")?.max(0) as usize;
    let right = arg_int(args, 2, "pad")?.max(0) as usize;
    if s.is_empty() {
        return Ok(Value::String(s));
    }
    Ok(Value::String(format!(
        "{}{}{}",
        " ".repeat(left),
        s,
        " ".repeat(right)
    )))
}

fn truncate_fn(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "truncate")?;
    let n = arg_int(args, 1, "truncate")?.max(0) as usize;
    Ok(Value::String(s.chars().take(n).collect()))
}

/// Go's `%v` rendering of a value, which is what a Go template prints for `{{.X}}`:
/// `[a b]` for slices, `map[k:v]` for maps, `<nil>` for null.
pub fn go_format(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".to_string(),
        Value::Nil => "<nil>".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) | Value::Map(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{k}:{}", o.get(k).map(go_format).unwrap_or_default()))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

fn go_format_fn(args: &[Value]) -> Result<Value, FuncError> {
    let v = args
        .first()
        .ok_or_else(|| FuncError::ExactlyXArgs(PRINT_FN.into(), 1))?;
    Ok(Value::String(go_format(v)))
}

/// Name of the internal function that prints action results the way Go does.
const PRINT_FN: &str = "__berth_print";

/// Keywords of actions that print nothing themselves.
const CONTROL_WORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// Wraps every printing action `{{PIPELINE}}` as `{{__berth_print (PIPELINE)}}` so values print
/// as Go's `%v` instead of gtmpl's debug form. Control actions, comments and variable
/// declarations are left alone.
pub fn wrap_print_actions(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // Find the closing "}}" outside string literals.
        let bytes = after.as_bytes();
        let mut i = 0;
        let mut quote: Option<u8> = None;
        let mut end = None;
        while i < bytes.len() {
            let c = bytes[i];
            match quote {
                Some(q) => {
                    if c == b'\\' && q == b'"' {
                        i += 1;
                    } else if c == q {
                        quote = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'`' || c == b'\'' {
                        quote = Some(c);
                    } else if c == b'}' && bytes.get(i + 1) == Some(&b'}') {
                        end = Some(i);
                        break;
                    }
                }
            }
            i += 1;
        }
        let Some(end) = end else {
            // Unterminated: leave it for the parser to report.
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (ltrim, body) = match inner.strip_prefix("- ") {
            Some(b) => ("- ", b),
            None => ("", inner),
        };
        let (body, rtrim) = match body.strip_suffix(" -") {
            Some(b) => (b, " -"),
            None => (body, ""),
        };
        let trimmed = body.trim();
        let first = trimmed
            .split(|c: char| c.is_whitespace() || c == '(')
            .next()
            .unwrap_or("");
        let leave = trimmed.is_empty()
            || trimmed.starts_with("/*")
            || CONTROL_WORDS.contains(&first)
            || (trimmed.starts_with('$') && (trimmed.contains(":=") || trimmed.contains(" = ")));
        if leave {
            out.push_str("{{");
            out.push_str(inner);
            out.push_str("}}");
        } else {
            out.push_str(&format!("{{{{{ltrim}{PRINT_FN} ({trimmed}){rtrim}}}}}"));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Parses a template with docker's extra functions.
pub fn parse(text: &str) -> Result<Template> {
    let mut t = Template::default();
    t.add_func(PRINT_FN, go_format_fn as gtmpl::Func);
    t.add_funcs(&[
        ("json", json_fn as gtmpl::Func),
        ("join", join_fn as gtmpl::Func),
        ("split", split_fn as gtmpl::Func),
        ("lower", lower_fn as gtmpl::Func),
        ("upper", upper_fn as gtmpl::Func),
        ("title", title_fn as gtmpl::Func),
        ("pad", pad_fn as gtmpl::Func),
        ("truncate", truncate_fn as gtmpl::Func),
    ]);
    t.parse(wrap_print_actions(text))
        .map_err(|e| anyhow!("template parsing error: {e}"))?;
    Ok(t)
}

/// Renders a parsed template against a JSON value.
pub fn render(t: &Template, data: &serde_json::Value) -> Result<String> {
    render_value(t, to_value(data))
}

/// Renders a parsed template against a template value.
pub fn render_value(t: &Template, data: Value) -> Result<String> {
    t.render(&Context::from(data))
        .map_err(|e| anyhow!("template: {e}"))
}

/// A `--format` value for list commands, split as docker does: `table` (default columns),
/// `table TEMPLATE`, `json`, or a raw `TEMPLATE`.
#[derive(Debug, Clone, PartialEq)]
pub enum ListFormat {
    /// The command's default table.
    DefaultTable,
    /// A table whose columns come from a template, with a header row.
    Table(String),
    /// One JSON object per line.
    Json,
    /// A raw template per item, no header.
    Raw(String),
}

impl ListFormat {
    /// Parses a `--format` flag value (None means the default table).
    pub fn parse(format: Option<&str>) -> ListFormat {
        let Some(f) = format else {
            return ListFormat::DefaultTable;
        };
        let trimmed = f.trim();
        if trimmed.is_empty() || trimmed == "table" {
            return ListFormat::DefaultTable;
        }
        if trimmed == "json" {
            return ListFormat::Json;
        }
        if let Some(rest) = trimmed.strip_prefix("table") {
            return ListFormat::Table(unescape(rest.trim_matches(' ')));
        }
        ListFormat::Raw(unescape(trimmed))
    }
}

/// Docker replaces the two-character sequences `\t` and `\n` in list formats.
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: serde_json::Value) -> String {
        render(&parse(t).unwrap(), &v).unwrap()
    }

    #[test]
    fn docker_examples() {
        let c = json!({
            "Id": "abc123",
            "State": {"Pid": 4242, "Status": "running", "Running": true},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "com.x": "y"}, "Cmd": ["sh"]},
        });
        assert_eq!(r("{{.State.Pid}}", c.clone()), "4242");
        assert_eq!(r("{{.Id}}", c.clone()), "abc123");
        assert_eq!(r("{{.State.Status}}", c.clone()), "running");
        assert_eq!(
            r("{{range .Config.Env}}{{.}} {{end}}", c.clone()),
            "A=1 B=2 "
        );
        assert_eq!(r(r#"{{index .Config.Labels "k"}}"#, c.clone()), "v");
        assert_eq!(r(r#"{{index .Config.Labels "com.x"}}"#, c.clone()), "y");
        assert_eq!(r("{{json .Config.Env}}", c.clone()), r#"["A=1","B=2"]"#);
        assert_eq!(
            r("{{json .State}}", c.clone()),
            r#"{"Pid":4242,"Running":true,"Status":"running"}"#
        );
        assert_eq!(r(r#"{{join .Config.Env ","}}"#, c.clone()), "A=1,B=2");
        assert_eq!(r("{{upper .State.Status}}", c.clone()), "RUNNING");
        assert_eq!(r("{{title .State.Status}}", c.clone()), "Running");
        assert_eq!(
            r(r#"{{range split "a:b" ":"}}[{{.}}]{{end}}"#, c.clone()),
            "[a][b]"
        );
        assert_eq!(r("{{if .State.Running}}up{{end}}", c.clone()), "up");
        assert_eq!(r("{{.Missing}}", c.clone()), "<no value>");
        assert_eq!(
            r("{{.Config.Cmd}} {{.Config.Env}}", c.clone()),
            "[sh] [A=1 B=2]"
        );
        assert_eq!(r("{{.Config.Labels}}", c.clone()), "map[com.x:y k:v]");
        assert_eq!(r("{{- .Id -}} x", c.clone()), "abc123x");
        assert_eq!(r("{{with .State}}{{.Pid}}{{end}}", c.clone()), "4242");
        assert_eq!(r("{{$p := .State.Pid}}{{$p}}", c.clone()), "4242");
        assert_eq!(
            r("{{/* c */}}{{.State.Pid | printf \"%d\"}}", c.clone()),
            "4242"
        );
        assert_eq!(r("{{.Nothing}}", json!({"Nothing": null})), "<nil>");
        assert_eq!(r(r#"{{index .Config.Labels "}}"}}"#, c), "<no value>");
    }

    #[test]
    fn list_formats() {
        assert_eq!(ListFormat::parse(None), ListFormat::DefaultTable);
        assert_eq!(ListFormat::parse(Some("table")), ListFormat::DefaultTable);
        assert_eq!(ListFormat::parse(Some("json")), ListFormat::Json);
        assert_eq!(
            ListFormat::parse(Some("table {{.ID}}\\t{{.Names}}")),
            ListFormat::Table("{{.ID}}\t{{.Names}}".into())
        );
        assert_eq!(
            ListFormat::parse(Some("{{.ID}}\\t{{.Names}}")),
            ListFormat::Raw("{{.ID}}\t{{.Names}}".into())
        );
    }
}
