//! YAML front matter of an exported page: title, id, url, last edit, cover and icon, and for a
//! database row its properties by Notion name, each as a readable value (a formula's or
//! rollup's result, a date's text, people's names, files' links). Keys and values are written as double-quoted scalars
//! and flow collections with every control character escaped, so no name or text can break
//! the block, and every YAML reader (PyYAML, serde_yaml) reads back the same text.

use std::collections::{BTreeMap, HashMap};

use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use super::{Doc, ExportError, json_rows, text};
use crate::shell::{RegisteredTable, literal};

/// A column value as a reader of the front matter wants it.
fn readable(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            // Formula and rollup results: the value under their type.
            if let Some(inner) = o.get("type").and_then(Value::as_str).and_then(|t| o.get(t)) {
                return readable(inner);
            }
            if let Some(start) = o.get("start_text") {
                return match o.get("end_text") {
                    Some(end) => serde_json::json!({"start": start, "end": end}),
                    None => start.clone(),
                };
            }
            for key in ["text", "state", "url", "name"] {
                if let Some(x) = o.get(key) {
                    return x.clone();
                }
            }
            Value::Object(o.iter().map(|(k, v)| (k.clone(), readable(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(readable).collect()),
        other => other.clone(),
    }
}

/// Fills the properties of the documents that are database rows, from their data source's
/// typed table and the `properties` table's names.
pub(super) async fn attach_properties(
    ctx: &SessionContext,
    tables: &[RegisteredTable],
    docs: &mut [Doc],
) -> Result<(), ExportError> {
    let mut by_source: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        if let Some(s) = &d.page.data_source_id {
            by_source.entry(s.clone()).or_default().push(i);
        }
    }
    for (source, indexes) in by_source {
        let props = json_rows(
            ctx,
            &format!(
                "SELECT \"table\", \"column\", name, type FROM properties WHERE data_source_id = {} ORDER BY name",
                literal(&source)
            ),
        )
        .await?;
        let Some(table) = props.first().and_then(|p| text(p, "table")) else {
            continue;
        };
        if !tables.iter().any(|t| t.name == table) {
            continue;
        }
        let ids = indexes
            .iter()
            .map(|i| literal(&docs[*i].page.id))
            .collect::<Vec<_>>()
            .join(",");
        let rows: HashMap<String, Map<String, Value>> = json_rows(
            ctx,
            &format!(
                "SELECT * FROM {} WHERE _id IN ({ids})",
                crate::shell::quote(&table)
            ),
        )
        .await?
        .into_iter()
        .filter_map(|r| text(&r, "_id").map(|id| (id, r)))
        .collect();
        for i in indexes {
            let Some(row) = rows.get(&docs[i].page.id) else {
                continue;
            };
            docs[i].properties = props
                .iter()
                .filter(|p| text(p, "type").as_deref() != Some("title"))
                .filter_map(|p| {
                    let (name, column) = (text(p, "name")?, text(p, "column")?);
                    Some((name, row.get(&column).map_or(Value::Null, readable)))
                })
                .collect();
        }
    }
    Ok(())
}

/// A YAML double-quoted scalar that every YAML reader reads back as `s`: quotes and
/// backslashes escaped, and every character YAML does not allow raw or reads as a line break
/// written as an escape (C0 controls, DEL, C1 controls (U+0085 among them), U+2028, U+2029,
/// U+FFFE, U+FFFF).
pub(crate) fn quoted(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value as a YAML flow value, its strings (keys too) as [`quoted`] writes them.
pub(super) fn flow(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) => {
            let pairs: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", quoted(k), flow(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
        scalar => scalar.to_string(),
    }
}

/// The front matter block of a document, ending with a blank line.
pub(super) fn front_matter(d: &Doc) -> String {
    let mut out = String::from("---\n");
    out.push_str(&format!("title: {}\n", quoted(&d.page.title)));
    out.push_str(&format!("id: {}\n", quoted(&d.page.id)));
    let optional = [
        ("url", &d.url),
        ("last_edited_time", &d.last_edited_time),
        ("cover", &d.cover),
        ("icon", &d.icon),
    ];
    for (key, value) in optional {
        if let Some(v) = value {
            out.push_str(&format!("{key}: {}\n", quoted(v)));
        }
    }
    if !d.properties.is_empty() {
        out.push_str("properties:\n");
        for (name, value) in &d.properties {
            out.push_str(&format!("  {}: {}\n", quoted(name), flow(value)));
        }
    }
    out.push_str("---\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: DEL, C1 controls and U+2028/2029 went into the front matter raw, and
    /// PyYAML refused the file (or read a line break).
    #[test]
    fn every_control_character_reads_back_through_yaml() {
        let mut nasty: String = (0u32..0x20)
            .chain(0x7f..0xa0)
            .chain([0x2028, 0x2029, 0xfeff, 0xfffe, 0xffff])
            .filter_map(char::from_u32)
            .collect();
        nasty.push_str(" \"quoted\" back\\slash: #not-a-comment {x} [y] é 会 🦀");
        let doc = Doc {
            page: super::super::PageInfo {
                id: "p".into(),
                title: nasty.clone(),
                ..Default::default()
            },
            properties: vec![(
                nasty.clone(),
                serde_json::json!({"k": [nasty.clone(), 1.5, null, true]}),
            )],
            ..Doc::default()
        };
        let block = front_matter(&doc);
        let yaml = block
            .trim_start_matches("---\n")
            .trim_end_matches("---\n\n");
        let read: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(read["title"].as_str(), Some(nasty.as_str()));
        let props = read["properties"].as_mapping().unwrap();
        let (k, v) = props.iter().next().unwrap();
        assert_eq!(k.as_str(), Some(nasty.as_str()));
        assert_eq!(v["k"][0].as_str(), Some(nasty.as_str()));
        assert_eq!(v["k"][1].as_f64(), Some(1.5));
        // Nothing YAML forbids is left raw.
        assert!(
            !yaml
                .chars()
                .any(|c| (c < ' ' && c != '\n') || ('\u{7f}'..='\u{9f}').contains(&c)),
            "{yaml:?}"
        );
    }
}
