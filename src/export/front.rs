//! YAML front matter of an exported page: title, id, url, last edit, and for a database row its
//! properties by Notion name, each as a readable value (a formula's or rollup's result, a date's
//! text, people's names, files' links). Keys and values are written as JSON scalars and flow
//! collections, which YAML reads as they are, so no name or text can break the block.

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

/// A JSON string (a YAML double-quoted scalar).
fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The front matter block of a document, ending with a blank line.
pub(super) fn front_matter(d: &Doc) -> String {
    let mut out = String::from("---\n");
    out.push_str(&format!("title: {}\n", quoted(&d.page.title)));
    out.push_str(&format!("id: {}\n", quoted(&d.page.id)));
    let optional = [("url", &d.url), ("last_edited_time", &d.last_edited_time)];
    for (key, value) in optional {
        if let Some(v) = value {
            out.push_str(&format!("{key}: {}\n", quoted(v)));
        }
    }
    if !d.properties.is_empty() {
        out.push_str("properties:\n");
        for (name, value) in &d.properties {
            out.push_str(&format!("  {}: {value}\n", quoted(name)));
        }
    }
    out.push_str("---\n\n");
    out
}
