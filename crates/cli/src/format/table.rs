//! List output for `ps`, `images` and friends: docker's default tables, `table TEMPLATE`,
//! `json`, and raw templates, all rendered from one JSON object per row.

use super::template::{self, ListFormat};
use anyhow::Result;
use std::io::Write;

/// How a list command names its columns and what its default table shows.
pub struct ListSpec {
    /// Template of the default table, without the `table` prefix (columns separated by `\t`).
    pub default_table: &'static str,
    /// Template field name -> header text, e.g. `("ID", "CONTAINER ID")`.
    pub headers: &'static [(&'static str, &'static str)],
}

/// A tab writer configured like docker's (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`).
/// Go counts the padding inside its minimum width; the Rust crate adds it on top.
pub fn tab_writer<W: Write>(w: W) -> tabwriter::TabWriter<W> {
    tabwriter::TabWriter::new(w).minwidth(7).padding(3)
}

fn header_value(spec: &ListSpec) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in spec.headers {
        m.insert(
            (*k).to_string(),
            serde_json::Value::String((*v).to_string()),
        );
    }
    serde_json::Value::Object(m)
}

/// Go's `json.Marshal` escapes `<`, `>` and `&`; they only occur inside JSON strings.
pub fn escape_html(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Renders `rows` as `format` asks and returns the text (each row ends with a newline).
pub fn render_list(
    format: &ListFormat,
    spec: &ListSpec,
    rows: &[serde_json::Value],
) -> Result<String> {
    let (text, table) = match format {
        ListFormat::DefaultTable => (spec.default_table.to_string(), true),
        ListFormat::Table(t) => (t.clone(), true),
        ListFormat::Json => ("{{json .}}".to_string(), false),
        ListFormat::Raw(t) => (t.clone(), false),
    };
    let tmpl = template::parse(&text)?;
    let mut body = String::new();
    if table {
        body.push_str(&template::render(&tmpl, &header_value(spec))?);
        body.push('\n');
    }
    for row in rows {
        let line = template::render(&tmpl, row)?;
        if *format == ListFormat::Json {
            // `--format json` is marshalled by docker with Go's HTML-escaping encoder.
            body.push_str(&escape_html(&line));
        } else {
            body.push_str(&line);
        }
        body.push('\n');
    }
    if !table {
        return Ok(body);
    }
    let mut tw = tab_writer(Vec::new());
    tw.write_all(body.as_bytes())?;
    tw.flush()?;
    let out = tw
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Renders and prints a list to stdout.
pub fn print_list(format: &ListFormat, spec: &ListSpec, rows: &[serde_json::Value]) -> Result<()> {
    let out = render_list(format, spec, rows)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC: ListSpec = ListSpec {
        default_table: "{{.ID}}\t{{.Image}}\t{{.Names}}",
        headers: &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Names", "NAMES"),
        ],
    };

    #[test]
    fn default_table_matches_docker_spacing() {
        let rows = vec![json!({"ID": "0123456789ab", "Image": "busybox", "Names": "x"})];
        let out = render_list(&ListFormat::DefaultTable, &SPEC, &rows).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   x\n"
        );
    }

    #[test]
    fn custom_table_and_raw() {
        let rows = vec![json!({"ID": "abc", "Image": "busybox", "Names": "x"})];
        let t = ListFormat::parse(Some("table {{.ID}}\\t{{.Names}}"));
        assert_eq!(
            render_list(&t, &SPEC, &rows).unwrap(),
            "CONTAINER ID   NAMES\nabc            x\n"
        );
        let raw = ListFormat::parse(Some("{{.ID}}: {{.Names}}"));
        assert_eq!(render_list(&raw, &SPEC, &rows).unwrap(), "abc: x\n");
        let dangling = vec![json!({"Tag": "<none>"})];
        assert_eq!(
            render_list(&ListFormat::Json, &SPEC, &dangling).unwrap(),
            "{\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
        let j = ListFormat::parse(Some("json"));
        assert_eq!(
            render_list(&j, &SPEC, &rows).unwrap(),
            "{\"ID\":\"abc\",\"Image\":\"busybox\",\"Names\":\"x\"}\n"
        );
    }
}
