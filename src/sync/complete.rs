//! Completion of values that page objects cut at 25 references: relations, people, and titles
//! or texts with 25 mentions are read whole from the property-item endpoint, and rollups
//! computed over a truncated relation are read again over every related page. Only truncated
//! values cost a request.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::model::PropertySchema;
use crate::notion::{NotionClient, NotionError};

/// True when a page-object value was cut at 25 references: a relation with `has_more`, 25
/// people, or a title or text with 25 mentions.
fn is_truncated(prop: &Value) -> bool {
    match prop.get("type").and_then(Value::as_str) {
        Some("relation") => prop
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        Some("people") => prop
            .get("people")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() >= 25),
        Some(t @ ("title" | "rich_text")) => {
            prop.get(t).and_then(Value::as_array).is_some_and(|a| {
                a.iter()
                    .filter(|i| i.get("type").and_then(Value::as_str) == Some("mention"))
                    .count()
                    >= 25
            })
        }
        _ => false,
    }
}

/// A property id as Notion sends it (URL-encoded, e.g. `c%3Emp`), decoded for comparison.
fn decoded_id(id: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(id).decode_utf8_lossy()
}

/// The rollups of `page` computed over a relation truncated on this row: the page object
/// computes them over the first 25 related pages only. (name, property id) pairs.
fn rollups_over_truncated_relations(
    page: &Value,
    schema: &[PropertySchema],
) -> Vec<(String, String)> {
    let Some(props) = page.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let truncated: HashSet<std::borrow::Cow<'_, str>> = props
        .values()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("relation") && is_truncated(p))
        .filter_map(|p| p.get("id").and_then(Value::as_str).map(decoded_id))
        .collect();
    if truncated.is_empty() {
        return Vec::new();
    }
    props
        .iter()
        .filter(|(_, p)| p.get("type").and_then(Value::as_str) == Some("rollup"))
        .filter_map(|(name, p)| {
            let id = p.get("id")?.as_str()?;
            let relation = schema
                .iter()
                .find(|s| decoded_id(&s.id) == decoded_id(id))?
                .config
                .get("relation_property_id")?
                .as_str()?;
            truncated
                .contains(&decoded_id(relation))
                .then(|| (name.clone(), id.to_string()))
        })
        .collect()
}

/// A rollup's value from the property-item endpoint's answer (every page read): the last
/// page's `property_item.rollup`, with a show-original rollup's items taken from the results.
fn rollup_from_items(full: &Value) -> Value {
    let mut value = full
        .pointer("/property_item/rollup")
        .cloned()
        .unwrap_or(Value::Null);
    if value.get("type").and_then(Value::as_str) == Some("array") {
        let items: Vec<Value> = full
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|i| {
                        let t = i.get("type")?.as_str()?;
                        Some(json!({"type": t, t: i.get(t).cloned().unwrap_or(Value::Null)}))
                    })
                    .collect()
            })
            .unwrap_or_default();
        value["array"] = Value::Array(items);
    }
    value
}

fn property_pointer(name: &str) -> String {
    format!("/properties/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Replaces truncated values of a page with their complete lists from the property-item
/// endpoint, and rollups computed over a truncated relation with their value over every
/// related page. `schema` is the data source's (it says which relation a rollup reads).
/// Returns how many values were completed.
pub async fn complete_truncated(
    client: &NotionClient,
    page: &mut Value,
    schema: &[PropertySchema],
) -> Result<usize, NotionError> {
    let Some(page_id) = page.get("id").and_then(Value::as_str).map(str::to_string) else {
        return Ok(0);
    };
    let rollups = rollups_over_truncated_relations(page, schema);
    for (name, prop_id) in &rollups {
        let full = client.page_property(&page_id, prop_id).await?;
        if let Some(p) = page.pointer_mut(&property_pointer(name)) {
            p["rollup"] = rollup_from_items(&full);
        }
    }
    let truncated: Vec<(String, String, String)> = page
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| is_truncated(p))
                .filter_map(|(name, p)| {
                    Some((
                        name.clone(),
                        p.get("id")?.as_str()?.to_string(),
                        p.get("type")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, prop_id, kind) in &truncated {
        let full = client.page_property(&page_id, prop_id).await?;
        let items: Vec<Value> = full
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|i| i.get(kind.as_str()).cloned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(p) = page.pointer_mut(&property_pointer(name)) {
            p[kind.as_str()] = Value::Array(items);
            if kind == "relation" {
                p["has_more"] = json!(false);
            }
        }
    }
    Ok(truncated.len() + rollups.len())
}
