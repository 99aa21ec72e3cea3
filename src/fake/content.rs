//! The fake's routes for pages, page properties (paginated property items, rollups computed
//! over every related page), blocks and their children, and comments.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::query::{self, Invalid};
use super::render::Renderer;
use super::workspace::{FParent, Page, PropDef, decoded_property_id};
use crate::model::normalize_id;

use super::respond::{list, not_found, ok, validation};
use super::routes::{Q, q, restricted, version};
use super::state::FakeState;

pub(super) async fn retrieve_page(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
) -> Response {
    let ws = state.ws();
    let id = normalize_id(&id);
    let filter_props: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "filter_properties")
        .map(|(_, v)| v.clone())
        .collect();
    match ws.page(&id).filter(|_| ws.is_visible(&id)) {
        Some(p) => ok(Renderer::new(&ws, version(&ext)).page(
            p,
            (!filter_props.is_empty()).then_some(filter_props.as_slice()),
        )),
        None => not_found("page", &id, &ws),
    }
}

pub(super) async fn page_property(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path((id, prop_id)): Path<(String, String)>,
    Query(query): Q,
) -> Response {
    let v = version(&ext);
    let ws = state.ws();
    let id = normalize_id(&id);
    let Some(page) = ws.page(&id).filter(|_| ws.is_visible(&id)) else {
        return not_found("page", &id, &ws);
    };
    let r = Renderer::new(&ws, v);
    let wanted = decoded_property_id(&prop_id);
    let prop = match &page.parent {
        FParent::DataSource(ds) => ws
            .data_sources
            .get(ds)
            .and_then(|d| {
                d.properties
                    .iter()
                    .find(|p| decoded_property_id(&p.id) == wanted)
            })
            .cloned(),
        _ if wanted == "title" => Some(super::workspace::PropDef {
            id: "title".into(),
            name: "title".into(),
            kind: "title".into(),
            config: json!({}),
        }),
        _ => None,
    };
    let Some(prop) = prop else {
        return not_found("property", &prop_id, &ws);
    };
    let full = if prop.kind == "title" && !matches!(page.parent, FParent::DataSource(_)) {
        page.title.clone()
    } else {
        r.property_value(page, &prop)
    };
    let kind = prop.kind.as_str();
    let item = |kind: &str, value: Value| json!({"object": "property_item", "id": prop.id, "type": kind, kind: value});
    let items: Vec<Value> = match kind {
        "title" | "rich_text" | "people" => full
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|x| item(kind, x))
            .collect(),
        "relation" => full
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|x| item("relation", x))
            .collect(),
        "rollup" => return rollup_property(&r, page, &prop, &query),
        _ => return ok(item(kind, full)),
    };
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    let start = match q(&query, "start_cursor") {
        None => 0,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if n < items.len() => n,
            _ => {
                return validation(Invalid(format!(
                    "The start_cursor provided is invalid: {c}"
                )));
            }
        },
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    let mut descriptor = json!({"id": prop.id, "type": kind, "next_url": next.as_ref().map(|c| format!("https://api.notion.com/v1/pages/{id}/properties/{}?start_cursor={c}", prop.id))});
    descriptor[kind] = json!({});
    let body = json!({
        "object": "list",
        "results": items[start..end],
        "next_cursor": next,
        "has_more": next.is_some(),
        "type": "property_item",
        "property_item": descriptor,
    });
    ok(body)
}

/// A rollup through the property-item endpoint: the related pages' values, a page of them per
/// answer, with the rollup over every page so far in `property_item.rollup` (partial until the
/// last page; a show-original rollup's array stays empty there, its items are the results).
pub(super) fn rollup_property(
    r: &Renderer,
    page: &Page,
    prop: &PropDef,
    query: &[(String, String)],
) -> Response {
    let size = match query::page_size(q(query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    let pages = r.rollup_pages(page, prop, size);
    let at = match q(query, "start_cursor") {
        None => 0,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if n < pages.len() => n,
            _ => {
                return validation(Invalid(format!(
                    "The start_cursor provided is invalid: {c}"
                )));
            }
        },
    };
    let Some((values, mut rollup)) = pages.get(at).cloned() else {
        return validation(Invalid("no such page".into()));
    };
    let next = (at + 1 < pages.len()).then(|| (at + 1).to_string());
    if rollup.get("type").and_then(Value::as_str) == Some("array") {
        rollup["array"] = json!([]);
    }
    let results: Vec<Value> = values
        .into_iter()
        .map(|x| {
            let t = x
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unsupported")
                .to_string();
            let inner = x.get(&t).cloned().unwrap_or(Value::Null);
            json!({"object": "property_item", "id": prop.id, "type": t, t.as_str(): inner})
        })
        .collect();
    let url = |c: &String| {
        format!(
            "https://api.notion.com/v1/pages/{}/properties/{}?start_cursor={c}",
            page.id, prop.id
        )
    };
    ok(json!({
        "object": "list",
        "results": results,
        "next_cursor": next,
        "has_more": next.is_some(),
        "type": "property_item",
        "property_item": {"id": prop.id, "type": "rollup", "rollup": rollup, "next_url": next.as_ref().map(url)},
    }))
}

pub(super) async fn retrieve_block(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = restricted(&state, "content") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    let r = Renderer::new(&ws, version(&ext));
    if !ws.is_visible(&id) {
        return not_found("block", &id, &ws);
    }
    if let Some(p) = ws.page(&id) {
        return ok(r.page_as_block(p));
    }
    match ws.blocks.get(&id) {
        Some(b) => ok(r.block(b)),
        None => not_found("block", &id, &ws),
    }
}

pub(super) async fn block_children(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
) -> Response {
    if let Some(r) = restricted(&state, "content") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    let r = Renderer::new(&ws, version(&ext));
    if !ws.is_visible(&id) {
        return not_found("block", &id, &ws);
    }
    let children: &[String] = if let Some(p) = ws.page(&id) {
        &p.children
    } else if let Some(b) = ws.blocks.get(&id) {
        r.children_of(b)
    } else {
        return not_found("block", &id, &ws);
    };
    if state.stale_cursor(q(&query, "start_cursor")) {
        return validation(Invalid(
            "The start_cursor provided is invalid or has expired.".into(),
        ));
    }
    let live: Vec<&str> = children
        .iter()
        .filter(|c| ws.blocks.get(*c).is_some_and(|b| !b.in_trash))
        .map(String::as_str)
        .collect();
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    match query::window(&live, q(&query, "start_cursor"), size, "", None) {
        Ok(w) => {
            let results = live[w.start..w.end]
                .iter()
                .filter_map(|c| ws.blocks.get(*c))
                .map(|b| r.block(b))
                .collect();
            list(results, &w, "block", json!({}))
        }
        Err(e) => validation(e),
    }
}

pub(super) async fn list_comments(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Query(query): Q,
) -> Response {
    if let Some(r) = restricted(&state, "comments") {
        return r;
    }
    let ws = state.ws();
    let Some(block_id) = q(&query, "block_id").map(normalize_id) else {
        return validation(Invalid(
            "block_id should be defined, instead was `undefined`.".into(),
        ));
    };
    if !ws.is_visible(&block_id)
        || (ws.page(&block_id).is_none() && !ws.blocks.contains_key(&block_id))
    {
        return not_found("block", &block_id, &ws);
    }
    let r = Renderer::new(&ws, version(&ext));
    let mine: Vec<&super::workspace::Comment> = ws
        .comments
        .iter()
        .filter(|c| matches!(&c.parent, FParent::Page(x) | FParent::Block(x) if *x == block_id))
        .collect();
    let ids: Vec<&str> = mine.iter().map(|c| c.id.as_str()).collect();
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    match query::window(&ids, q(&query, "start_cursor"), size, "", None) {
        Ok(w) => {
            let results = mine[w.start..w.end].iter().map(|c| r.comment(c)).collect();
            list(results, &w, "comment", json!({}))
        }
        Err(e) => validation(e),
    }
}

pub(super) async fn retrieve_comment(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = restricted(&state, "comments") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    let r = Renderer::new(&ws, version(&ext));
    let found =
        ws.comments.iter().find(|c| c.id == id).filter(
            |c| matches!(&c.parent, FParent::Page(p) | FParent::Block(p) if ws.is_visible(p)),
        );
    match found {
        Some(c) => ok(r.comment(c)),
        None => not_found("comment", &id, &ws),
    }
}
