//! YAML front matter of an exported page: title, id, url, last edit, cover and icon, and for a
//! database row its properties by Notion name, each as a readable value (a formula's or
//! rollup's result, a date's text, people's names, related pages' titles and links, files'
//! links). Keys and values are written as double-quoted scalars
//! and flow collections with every control character escaped, so no name or text can break
//! the block, and every YAML reader (PyYAML, serde_yaml) reads back the same text.

use std::collections::{BTreeMap, HashMap};

use datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

use super::{Doc, ExportError, PropValue, json_rows, text};
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

/// Every user's name by id, when the lake has the users table.
async fn user_names(
    ctx: &SessionContext,
    tables: &[RegisteredTable],
) -> Result<HashMap<String, String>, ExportError> {
    if !tables.iter().any(|t| t.name == "users") {
        return Ok(HashMap::new());
    }
    Ok(json_rows(ctx, "SELECT id, name FROM users")
        .await?
        .into_iter()
        .filter_map(|r| Some((text(&r, "id")?, text(&r, "name")?)))
        .collect())
}

/// A column value of a property of type `kind` as the front matter shows it: related pages
/// kept by id (to be written as titles and links), people and the created-by and
/// edited-by users by name (from the users table when the value carries none), the rest
/// [`readable`].
fn property_value(kind: &str, value: &Value, users: &HashMap<String, String>) -> PropValue {
    let name_of = |v: &Value| -> Value {
        let id = v.get("id").and_then(Value::as_str).or(v.as_str());
        match v.get("name").filter(|n| !n.is_null()) {
            Some(name) => name.clone(),
            None => id
                .and_then(|id| users.get(id))
                .map_or(v.clone(), |n| Value::String(n.clone())),
        }
    };
    match (kind, value) {
        ("relation", Value::Array(ids)) => PropValue::Pages(
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect(),
        ),
        ("people", Value::Array(people)) => {
            PropValue::Value(Value::Array(people.iter().map(name_of).collect()))
        }
        ("created_by" | "last_edited_by", v) if !v.is_null() => PropValue::Value(name_of(v)),
        (_, v) => PropValue::Value(readable(v)),
    }
}

/// Related pages as the front matter shows them: each page's title, and a relative link from
/// the folder `dir` when the export holds it (`link_of` gives it).
pub(super) fn related_pages(
    ids: &[String],
    title_of: impl Fn(&str) -> Option<String>,
    link_of: impl Fn(&str) -> Option<String>,
) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| {
                let mut o = Map::new();
                match title_of(id) {
                    Some(title) => o.insert("title".into(), Value::String(title)),
                    // A page the integration cannot see: its id is all the lake knows.
                    None => o.insert("id".into(), Value::String(id.clone())),
                };
                if let Some(link) = link_of(id) {
                    o.insert("link".into(), Value::String(link));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

/// Fills the properties of the documents that are database rows, from their data source's
/// typed table and the `properties` table's names.
pub(super) async fn attach_properties(
    ctx: &SessionContext,
    tables: &[RegisteredTable],
    docs: &mut [Doc],
) -> Result<(), ExportError> {
    let users = user_names(ctx, tables).await?;
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
                    let kind = text(p, "type").unwrap_or_default();
                    let value = row.get(&column).unwrap_or(&Value::Null);
                    Some((name, property_value(&kind, value, &users)))
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
            let value = match value {
                PropValue::Value(v) => flow(v),
                PropValue::Pages(ids) => flow(&related_pages(ids, |_| None, |_| None)),
            };
            out.push_str(&format!("  {}: {}\n", quoted(name), value));
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
                PropValue::Value(serde_json::json!({"k": [nasty.clone(), 1.5, null, true]})),
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
