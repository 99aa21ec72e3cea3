//! The fake's routes for users, search, databases and data sources (retrieve and query).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::query::{self, Invalid, Row};
use super::render::{Renderer, ts};
use super::workspace::Page;
use crate::model::normalize_id;
use crate::notion::NotionVersion;

use super::respond::{error, invalid_url, list, not_found, ok, validation};
use super::state::{FakeState, FakeStats};

pub(super) type Q = Query<Vec<(String, String)>>;

pub(super) fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

pub(super) fn version(req_ext: &axum::http::Extensions) -> NotionVersion {
    req_ext.get::<NotionVersion>().copied().unwrap_or_default()
}

pub(super) async fn fallback() -> Response {
    invalid_url()
}

pub(super) async fn fake_stats(State(state): State<Arc<FakeState>>) -> Response {
    Json(state.stats_mut().clone()).into_response()
}

pub(super) async fn reset_stats(State(state): State<Arc<FakeState>>) -> Response {
    *state.stats_mut() = FakeStats::default();
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /__fake/edits`: one edit (see [`super::edits::Edit`]); answers its webhook event.
pub(super) async fn fake_edit(
    State(state): State<Arc<FakeState>>,
    Json(edit): Json<super::edits::Edit>,
) -> Response {
    match state.edit(&edit) {
        Ok(event) => Json(event).into_response(),
        Err(e) => error(404, "object_not_found", e),
    }
}

/// `POST /__fake/webhooks` `{"url", "verification_token"}`: subscribes a receiver.
pub(super) async fn fake_subscribe(
    State(state): State<Arc<FakeState>>,
    Json(body): Json<Value>,
) -> Response {
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let sub = super::webhooks::Subscription::to(text("url"), text("verification_token"));
    match state.subscribe(sub).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(400, "validation_error", e),
    }
}

pub(super) fn restricted(state: &FakeState, capability: &str) -> Option<Response> {
    state.config.restricted.contains(capability).then(|| {
        error(
            403,
            "restricted_resource",
            format!("Insufficient permissions for this endpoint: the integration lacks the {capability} capability."),
        )
    })
}

pub(super) async fn list_users(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Query(query): Q,
) -> Response {
    if let Some(r) = restricted(&state, "users") {
        return r;
    }
    let ws = state.ws();
    let r = Renderer::new(&ws, version(&ext));
    let ids: Vec<&str> = ws.users.iter().map(|u| u.id.as_str()).collect();
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    match query::window(&ids, q(&query, "start_cursor"), size, "", None) {
        Ok(w) => {
            let results = ws.users[w.start..w.end].iter().map(|u| r.user(u)).collect();
            list(results, &w, "user", json!({}))
        }
        Err(e) => validation(e),
    }
}

pub(super) async fn users_me(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
) -> Response {
    let ws = state.ws();
    ok(Renderer::new(&ws, version(&ext)).user(&ws.bot))
}

pub(super) async fn retrieve_user(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = restricted(&state, "users") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    match ws.user(&id) {
        Some(u) => ok(Renderer::new(&ws, version(&ext)).user(u)),
        None => not_found("user", &id, &ws),
    }
}

/// A row as filters and sorts see it.
pub(super) struct PageRow<'a> {
    page: &'a Page,
    props: serde_json::Map<String, Value>,
    /// Relation ids by the name or id a filter used, once read (an `or` of many
    /// `relation contains` conditions reads one relation many times).
    relations: std::cell::RefCell<std::collections::HashMap<String, Vec<String>>>,
}

impl Row for PageRow<'_> {
    fn timestamp(&self, which: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let t = if which == "created_time" {
            self.page.created_time
        } else {
            self.page.last_edited_time
        };
        query::parse_instant(&ts(t))
    }

    fn property(&self, name_or_id: &str) -> Option<Value> {
        self.props.get(name_or_id).cloned().or_else(|| {
            self.props
                .values()
                .find(|v| v.get("id").and_then(Value::as_str) == Some(name_or_id))
                .cloned()
        })
    }

    fn relation(&self, name_or_id: &str) -> Option<Vec<String>> {
        if let Some(ids) = self.relations.borrow().get(name_or_id) {
            return Some(ids.clone());
        }
        let ids = self.read_relation(name_or_id)?;
        self.relations
            .borrow_mut()
            .insert(name_or_id.to_string(), ids.clone());
        Some(ids)
    }
}

impl PageRow<'_> {
    /// Every id relation `name_or_id` lists, from the stored value.
    fn read_relation(&self, name_or_id: &str) -> Option<Vec<String>> {
        let id = self.property(name_or_id)?.get("id")?.as_str()?.to_string();
        let id = super::workspace::decoded_property_id(&id);
        let (_, value) = self
            .page
            .properties
            .iter()
            .find(|(k, _)| super::workspace::decoded_property_id(k) == id)?;
        Some(
            value
                .as_array()?
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str))
                .map(crate::model::normalize_id)
                .collect(),
        )
    }
}

pub(super) async fn search(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    body: Option<Json<Value>>,
) -> Response {
    let v = version(&ext);
    let body = body.map(|b| b.0).unwrap_or_else(|| json!({}));
    if !body.is_object() {
        return validation(Invalid("body should be an object".into()));
    }
    let ws = state.ws();
    let r = Renderer::new(&ws, v);
    let want = match body.pointer("/filter/value").and_then(Value::as_str) {
        None => None,
        Some("page") => Some("page"),
        Some(x) if x == v.container_search_value() => Some("container"),
        Some(x) => {
            return validation(Invalid(format!(
                "body.filter.value should be `page` or `{}`, instead was `{x}`.",
                v.container_search_value()
            )));
        }
    };
    let text = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    // (sort key, id, rendered object)
    let mut found: Vec<(chrono::DateTime<chrono::Utc>, String, Value)> = Vec::new();
    if want != Some("container") {
        for p in &ws.pages {
            if p.searchable
                && ws.is_visible(&p.id)
                && r.page_title(p).to_lowercase().contains(&text)
            {
                found.push((p.last_edited_time, p.id.clone(), Value::Null));
            }
        }
    }
    if want != Some("page") {
        for db_id in &ws.database_order {
            let Some(db) = ws.databases.get(db_id) else {
                continue;
            };
            if !ws.is_visible(db_id) {
                continue;
            }
            if v.has_data_sources() {
                for ds_id in &db.data_sources {
                    if let Some(ds) = ws.data_sources.get(ds_id)
                        && ds.name.to_lowercase().contains(&text)
                    {
                        found.push((ds.last_edited_time, ds.id.clone(), Value::Null));
                    }
                }
            } else if db.title.to_lowercase().contains(&text) && db.data_sources.len() == 1 {
                found.push((db.last_edited_time, db.id.clone(), Value::Null));
            }
        }
    }
    let ascending = body.pointer("/sort/direction").and_then(Value::as_str) == Some("ascending");
    found.sort_by(|a, b| {
        let o = a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1));
        if ascending { o } else { o.reverse() }
    });
    let ids: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    let size = match query::page_size(body.get("page_size")) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    let w = match query::window(
        &ids,
        body.get("start_cursor").and_then(Value::as_str),
        size,
        "",
        None,
    ) {
        Ok(w) => w,
        Err(e) => return validation(e),
    };
    let results = ids[w.start..w.end]
        .iter()
        .filter_map(|id| {
            if let Some(p) = ws.page(id) {
                Some(r.page(p, None))
            } else if let Some(ds) = ws.data_sources.get(*id) {
                Some(r.data_source(ds))
            } else {
                ws.databases.get(*id).and_then(|db| r.database(db))
            }
        })
        .collect();
    list(results, &w, v.page_or_container_type(), json!({}))
}

pub(super) async fn retrieve_database(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    let ws = state.ws();
    let id = normalize_id(&id);
    match ws.databases.get(&id).filter(|_| ws.is_visible(&id)) {
        None => not_found("database", &id, &ws),
        Some(db) => match Renderer::new(&ws, version(&ext)).database(db) {
            Some(v) => ok(v),
            None => multi_source_error(),
        },
    }
}

pub(super) fn multi_source_error() -> Response {
    error(
        400,
        "validation_error",
        "Databases with multiple data sources are not supported in this API version. Upgrade to Notion-Version 2025-09-03.",
    )
}

pub(super) async fn query_database(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
    body: Option<Json<Value>>,
) -> Response {
    if version(&ext).has_data_sources() {
        return invalid_url();
    }
    let ds_id = {
        let ws = state.ws();
        let id = normalize_id(&id);
        match ws.databases.get(&id).filter(|_| ws.is_visible(&id)) {
            None => return not_found("database", &id, &ws),
            Some(db) if db.data_sources.len() != 1 => return multi_source_error(),
            Some(db) => db.data_sources[0].clone(),
        }
    };
    run_query(&state, version(&ext), &ds_id, &query, body.map(|b| b.0))
}

pub(super) async fn retrieve_data_source(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    let v = version(&ext);
    if !v.has_data_sources() {
        return invalid_url();
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    match ws.data_sources.get(&id).filter(|_| ws.is_visible(&id)) {
        Some(ds) => ok(Renderer::new(&ws, v).data_source(ds)),
        None => not_found("data source", &id, &ws),
    }
}

pub(super) async fn query_data_source(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
    body: Option<Json<Value>>,
) -> Response {
    let v = version(&ext);
    if !v.has_data_sources() {
        return invalid_url();
    }
    run_query(&state, v, &normalize_id(&id), &query, body.map(|b| b.0))
}

/// The property names or ids a query body's filter and sorts name.
fn referenced(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(p) = o.get("property").and_then(Value::as_str) {
                out.push(p.to_string());
            }
            o.values().for_each(|x| referenced(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| referenced(x, out)),
        _ => {}
    }
}

/// The ids of the properties a query renders per row: only those its filter and sorts name
/// (a rollup costs a walk of its relation). A name that is no property renders everything, for
/// the filter to reject.
fn rendered_properties(ds: &super::workspace::DataSource, body: &Value) -> Option<Vec<String>> {
    let mut named = Vec::new();
    referenced(body, &mut named);
    named
        .iter()
        .map(|n| {
            ds.properties
                .iter()
                .find(|p| &p.name == n || &p.id == n)
                .map(|p| p.id.clone())
        })
        .collect()
}

pub(super) fn run_query(
    state: &FakeState,
    v: NotionVersion,
    ds_id: &str,
    query: &[(String, String)],
    body: Option<Value>,
) -> Response {
    let ws = state.ws();
    let Some(ds) = ws.data_sources.get(ds_id).filter(|_| ws.is_visible(ds_id)) else {
        return not_found("data source", ds_id, &ws);
    };
    let body = body.unwrap_or_else(|| json!({}));
    if !body.is_object() {
        return validation(Invalid("body should be an object".into()));
    }
    let r = Renderer::new(&ws, v);
    let want_trash = body
        .get("in_trash")
        .or_else(|| body.get("archived"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Property values are rendered only when a filter or a property sort reads them, so that a
    // plain (timestamp-sorted) page of a large table costs O(rows) cheap checks, not renders.
    let sorts_read_props = body
        .get("sorts")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x.get("property").is_some()));
    let needs_props = body.get("filter").is_some_and(|f| !f.is_null()) || sorts_read_props;
    let wanted = rendered_properties(ds, &body);
    let mut rows: Vec<PageRow> = Vec::new();
    for id in &ds.rows {
        let Some(page) = ws.page(id) else { continue };
        if page.in_trash != want_trash {
            continue;
        }
        let row = PageRow {
            page,
            props: if needs_props {
                r.page_properties(page, wanted.as_deref())
            } else {
                serde_json::Map::new()
            },
            relations: Default::default(),
        };
        if let Some(f) = body.get("filter").filter(|f| !f.is_null()) {
            match query::matches(f, &row, 0) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return validation(e),
            }
        }
        rows.push(row);
    }
    // Rows are stored in creation order: a created_time-ascending sort is already satisfied.
    let creation_order = body
        .get("sorts")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.len() == 1
                && s[0].get("timestamp").and_then(Value::as_str) == Some("created_time")
                && s[0].get("direction").and_then(Value::as_str) != Some("descending")
        });
    if let Some(sorts) = body
        .get("sorts")
        .and_then(Value::as_array)
        .filter(|_| !creation_order)
    {
        let mut err = None;
        rows.sort_by(|a, b| match query::compare(sorts, a, b) {
            Ok(o) => o,
            Err(e) => {
                err.get_or_insert(e);
                std::cmp::Ordering::Equal
            }
        });
        if let Some(e) = err {
            return validation(e);
        }
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.page.id.as_str()).collect();
    let size = match query::page_size(body.get("page_size")) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    if state.stale_cursor(body.get("start_cursor").and_then(Value::as_str)) {
        return validation(Invalid(
            "The start_cursor provided is invalid or has expired.".into(),
        ));
    }
    let prefix = format!("s:{}:", &ds.id[..8]);
    let w = match query::window(
        &ids,
        body.get("start_cursor").and_then(Value::as_str),
        size,
        &prefix,
        Some(state.config.query_cap),
    ) {
        Ok(w) => w,
        Err(e) => return validation(e),
    };
    let filter_props: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "filter_properties")
        .map(|(_, v)| v.clone())
        .collect();
    let fp = (!filter_props.is_empty()).then_some(filter_props.as_slice());
    let results = rows[w.start..w.end]
        .iter()
        .map(|row| r.page(row.page, fp))
        .collect();
    list(results, &w, v.page_or_container_type(), json!({}))
}
