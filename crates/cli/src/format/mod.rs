//! Output formatting: tables, Go templates, human units, JSON the way docker prints it.

pub mod table;
pub mod template;
pub mod units;

use anyhow::Result;

/// Docker's `inspect` output: a JSON array indented with 4 spaces, with `<`, `>` and `&`
/// escaped as Go's encoder does.
pub fn docker_json_indent(v: &serde_json::Value) -> Result<String> {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    let s = String::from_utf8(buf)?;
    // These characters only occur inside JSON strings, so a textual replace is exact.
    Ok(s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

/// Strips `sha256:` and shortens an ID to 12 characters, like docker's `stringid.TruncateID`.
pub fn short_id(id: &str) -> String {
    let id = id.split_once(':').map(|(_, rest)| rest).unwrap_or(id);
    id.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indent_like_docker() {
        let v = serde_json::json!([{"Id": "a", "Args": [], "X": {"k": "<v>"}}]);
        assert_eq!(
            docker_json_indent(&v).unwrap(),
            "[\n    {\n        \"Id\": \"a\",\n        \"Args\": [],\n        \"X\": {\n            \"k\": \"\\u003cv\\u003e\"\n        }\n    }\n]"
        );
    }

    #[test]
    fn ids() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
    }
}
