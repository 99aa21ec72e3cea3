//! The fixed-schema workspace tables — `pages`, `databases`, `data_sources`, `properties`,
//! `blocks`, `users`, `comments`, `tombstones`, `documents`, `files` (documented in `schemas/workspace-tables.md`): their Arrow
//! schemas, and the conversion of Notion objects into flat rows that arrow-json decodes into
//! batches of exactly those schemas. Pure: no I/O.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::{Map, Value, json};

use super::mapping::ts_type;
use crate::model::{Parent, canonical_block_type, is_trashed, normalize_id, plain_text};

/// The fixed-schema tables of the lake (every table that is not a data source's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FixedTable {
    /// Every page: rows and standalone pages.
    Pages,
    /// Databases (containers of data sources).
    Databases,
    /// Data sources (the tables).
    DataSources,
    /// The properties of every data source.
    Properties,
    /// Page content, one row per block.
    Blocks,
    /// Workspace members and bots.
    Users,
    /// Page and block comments.
    Comments,
    /// Deletions: trashed or vanished rows and pages.
    Tombstones,
    /// Each crawled page's content rendered as one Markdown document.
    Documents,
    /// References to Notion-hosted files, and where their bytes are kept in the lake.
    Files,
}

impl FixedTable {
    /// Every fixed table, in the order a sync writes them.
    pub const ALL: [FixedTable; 10] = [
        FixedTable::Pages,
        FixedTable::Databases,
        FixedTable::DataSources,
        FixedTable::Properties,
        FixedTable::Blocks,
        FixedTable::Users,
        FixedTable::Comments,
        FixedTable::Tombstones,
        FixedTable::Documents,
        FixedTable::Files,
    ];

    /// Its name in the lake (its directory, and its view in SQL).
    pub fn name(self) -> &'static str {
        match self {
            FixedTable::Pages => "pages",
            FixedTable::Databases => "databases",
            FixedTable::DataSources => "data_sources",
            FixedTable::Properties => "properties",
            FixedTable::Blocks => "blocks",
            FixedTable::Users => "users",
            FixedTable::Comments => "comments",
            FixedTable::Tombstones => "tombstones",
            FixedTable::Documents => "documents",
            FixedTable::Files => "files",
        }
    }

    /// The fixed table of that name.
    pub fn from_name(name: &str) -> Option<FixedTable> {
        FixedTable::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether a run lists the table's rows in full, once (`users`): the rows one run
    /// writes are the whole table, and a run's later segments write none of it.
    pub fn listed_whole(self) -> bool {
        matches!(self, FixedTable::Users)
    }

    /// Its Arrow schema.
    pub fn schema(self) -> SchemaRef {
        fixed_schema(self)
    }
}

/// The side table of formatted rich-text values, written beside the fixed tables.
pub const RICH_TEXT_TABLE: &str = "rich_text_items";

/// Every table name the lake itself uses: the fixed tables and the rich-text side table. A
/// data-source table never takes one of these (nor its `_history` name).
pub fn own_tables() -> impl Iterator<Item = &'static str> {
    FixedTable::ALL
        .into_iter()
        .map(FixedTable::name)
        .chain([RICH_TEXT_TABLE])
}

fn s(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn t(name: &str) -> Field {
    Field::new(name, ts_type(), true)
}
fn b(name: &str) -> Field {
    Field::new(name, DataType::Boolean, true)
}
fn i(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}
fn l(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}
fn list(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    )
}

/// The schema of a fixed table.
fn fixed_schema(table: FixedTable) -> SchemaRef {
    let mut fields = match table {
        FixedTable::Pages => vec![
            s("id"),
            s("title"),
            s("url"),
            s("parent_type"),
            s("parent_id"),
            s("data_source_id"),
            s("database_id"),
            t("created_time"),
            t("last_edited_time"),
            s("created_by"),
            s("last_edited_by"),
            b("in_trash"),
            s("icon"),
            s("cover"),
            s("public_url"),
        ],
        FixedTable::Databases => vec![
            s("id"),
            s("title"),
            s("parent_type"),
            s("parent_id"),
            b("is_inline"),
            b("in_trash"),
            t("created_time"),
            t("last_edited_time"),
            s("url"),
            list("data_source_ids"),
        ],
        FixedTable::DataSources => vec![
            s("id"),
            s("database_id"),
            s("title"),
            s("table"),
            i("property_count"),
            t("created_time"),
            t("last_edited_time"),
            b("in_trash"),
            s("url"),
        ],
        FixedTable::Properties => vec![
            s("data_source_id"),
            s("table"),
            s("property_id"),
            s("name"),
            s("type"),
            s("column"),
            s("config"),
        ],
        FixedTable::Blocks => vec![
            s("id"),
            s("page_id"),
            s("parent_id"),
            s("parent_type"),
            i("depth"),
            i("position"),
            s("type"),
            b("has_children"),
            s("plain_text"),
            b("checked"),
            s("language"),
            s("url"),
            s("title"),
            s("synced_from"),
            t("created_time"),
            t("last_edited_time"),
            s("created_by"),
            s("last_edited_by"),
            b("in_trash"),
            s("raw"),
        ],
        FixedTable::Users => vec![s("id"), s("type"), s("name"), s("email"), s("avatar_url")],
        FixedTable::Comments => vec![
            s("id"),
            s("discussion_id"),
            s("parent_type"),
            s("parent_id"),
            s("page_id"),
            s("created_by"),
            t("created_time"),
            t("last_edited_time"),
            s("plain_text"),
            s("rich_text"),
            s("display_name"),
            list("attachment_urls"),
        ],
        FixedTable::Tombstones => vec![s("table"), s("id"), s("reason")],
        FixedTable::Documents => document_fields(),
        FixedTable::Files => file_fields(),
    };
    fields.push(Field::new("_synced_at", ts_type(), false));
    fields.push(s("_run_id"));
    Arc::new(Schema::new(fields))
}

/// The columns of `documents`.
fn document_fields() -> Vec<Field> {
    vec![
        s("page_id"),
        s("title"),
        s("url"),
        s("parent_type"),
        s("parent_id"),
        t("last_edited_time"),
        s("markdown"),
        s("content_source"),
        s("text"),
        i("word_count"),
        i("block_count"),
        s("headings"),
        list("links_pages"),
        list("links_databases"),
        list("links_urls"),
        i("placeholder_count"),
        s("placeholders"),
    ]
}

/// The columns of `files`.
fn file_fields() -> Vec<Field> {
    vec![
        s("ref_group"),
        s("ref_id"),
        s("parent_id"),
        s("origin"),
        s("property_id"),
        s("block_id"),
        s("comment_id"),
        i("item_index"),
        s("name"),
        s("notion_key"),
        s("status"),
        s("reason"),
        s("content_type"),
        l("bytes"),
        s("sha256"),
        s("lake_path"),
        t("first_seen"),
        t("last_seen"),
    ]
}

fn id_of(v: &Value, key: &str) -> Value {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| json!(normalize_id(s)))
        .unwrap_or(Value::Null)
}

fn parent_cols(row: &mut Map<String, Value>, obj: &Value) {
    let p = obj.get("parent").map(Parent::from_json);
    row.insert("parent_type".into(), json!(p.as_ref().map(Parent::kind)));
    row.insert("parent_id".into(), json!(p.as_ref().and_then(Parent::id)));
}

fn icon_text(v: Option<&Value>) -> Value {
    let Some(icon) = v.filter(|x| !x.is_null()) else {
        return Value::Null;
    };
    let kind = icon.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "emoji" => icon.get("emoji").cloned().unwrap_or(Value::Null),
        "external" | "file" | "custom_emoji" => icon
            .pointer(&format!("/{kind}/url"))
            .cloned()
            .unwrap_or(Value::Null),
        _ => json!(icon.to_string()),
    }
}

fn common(row: &mut Map<String, Value>, obj: &Value) {
    for k in ["created_time", "last_edited_time"] {
        row.insert(k.into(), obj.get(k).cloned().unwrap_or(Value::Null));
    }
}

/// The title of a page: its `title`-typed property, whatever its name.
pub fn page_title(page: &Value) -> String {
    page.get("properties")
        .and_then(Value::as_object)
        .and_then(|props| {
            props
                .values()
                .find(|p| p.get("type").and_then(Value::as_str) == Some("title"))
        })
        .map(|p| plain_text(p.get("title").unwrap_or(&Value::Null)))
        .unwrap_or_default()
}

/// A `pages` row.
pub fn page_row(page: &Value) -> Value {
    let mut r = Map::new();
    r.insert("id".into(), id_of(page, "id"));
    r.insert("title".into(), json!(page_title(page)));
    r.insert(
        "url".into(),
        page.get("url").cloned().unwrap_or(Value::Null),
    );
    parent_cols(&mut r, page);
    let (ds, db) = match page.get("parent").map(Parent::from_json) {
        Some(Parent::DataSource { id, database_id }) => (Some(id), database_id),
        Some(Parent::Database { id }) => (None, Some(id)),
        _ => (None, None),
    };
    r.insert("data_source_id".into(), json!(ds));
    r.insert("database_id".into(), json!(db));
    common(&mut r, page);
    r.insert(
        "created_by".into(),
        page.pointer("/created_by/id")
            .cloned()
            .unwrap_or(Value::Null),
    );
    r.insert(
        "last_edited_by".into(),
        page.pointer("/last_edited_by/id")
            .cloned()
            .unwrap_or(Value::Null),
    );
    r.insert("in_trash".into(), json!(is_trashed(page)));
    r.insert("icon".into(), icon_text(page.get("icon")));
    r.insert("cover".into(), icon_text(page.get("cover")));
    r.insert(
        "public_url".into(),
        page.get("public_url").cloned().unwrap_or(Value::Null),
    );
    Value::Object(r)
}

/// A `databases` row.
pub fn database_row(db: &Value, data_source_ids: &[String]) -> Value {
    let mut r = Map::new();
    r.insert("id".into(), id_of(db, "id"));
    r.insert(
        "title".into(),
        json!(plain_text(db.get("title").unwrap_or(&Value::Null))),
    );
    parent_cols(&mut r, db);
    r.insert(
        "is_inline".into(),
        db.get("is_inline").cloned().unwrap_or(Value::Null),
    );
    r.insert("in_trash".into(), json!(is_trashed(db)));
    common(&mut r, db);
    r.insert("url".into(), db.get("url").cloned().unwrap_or(Value::Null));
    r.insert("data_source_ids".into(), json!(data_source_ids));
    Value::Object(r)
}

/// A `data_sources` row (from the schema object: a 2025+ data source or a 2022 database).
pub fn data_source_row(
    obj: &Value,
    id: &str,
    database_id: Option<&str>,
    table: &str,
    property_count: usize,
) -> Value {
    let mut r = Map::new();
    r.insert("id".into(), json!(id));
    r.insert("database_id".into(), json!(database_id));
    r.insert(
        "title".into(),
        json!(plain_text(obj.get("title").unwrap_or(&Value::Null))),
    );
    r.insert("table".into(), json!(table));
    r.insert("property_count".into(), json!(property_count));
    common(&mut r, obj);
    r.insert("in_trash".into(), json!(is_trashed(obj)));
    r.insert("url".into(), obj.get("url").cloned().unwrap_or(Value::Null));
    Value::Object(r)
}

/// A `users` row.
pub fn user_row(u: &Value) -> Value {
    json!({
        "id": id_of(u, "id"),
        "type": u.get("type"),
        "name": u.get("name"),
        "email": u.pointer("/person/email"),
        "avatar_url": u.get("avatar_url"),
    })
}

/// The fields people query, by block type (checked, language, url, title, synced_from).
fn block_fields(kind: &str, payload: &Value) -> (Value, Value, Value, Value, Value) {
    let checked = if kind == "to_do" {
        payload.get("checked").cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let language = if kind == "code" {
        payload.get("language").cloned().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let url = match kind {
        "bookmark" | "embed" | "link_preview" => payload.get("url").cloned().unwrap_or(Value::Null),
        "image" | "video" | "pdf" | "audio" | "file" => {
            let t = payload.get("type").and_then(Value::as_str).unwrap_or("");
            payload
                .pointer(&format!("/{t}/url"))
                .cloned()
                .unwrap_or(Value::Null)
        }
        _ => Value::Null,
    };
    let title = match kind {
        "child_page" | "child_database" => payload.get("title").cloned().unwrap_or(Value::Null),
        "meeting_notes" => json!(plain_text(payload.get("title").unwrap_or(&Value::Null))),
        _ => Value::Null,
    };
    let synced_from = if kind == "synced_block" {
        payload
            .pointer("/synced_from/block_id")
            .cloned()
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (checked, language, url, title, synced_from)
}

/// The plain text of a block: its rich text, caption, table cells, or equation.
pub fn block_text(kind: &str, payload: &Value) -> Value {
    if let Some(rt) = payload.get("rich_text") {
        return json!(plain_text(rt));
    }
    if kind == "table_row" {
        let cells: Vec<String> = payload
            .get("cells")
            .and_then(Value::as_array)
            .map(|c| c.iter().map(plain_text).collect())
            .unwrap_or_default();
        return json!(cells.join(" | "));
    }
    if kind == "equation" {
        return payload.get("expression").cloned().unwrap_or(Value::Null);
    }
    if let Some(c) = payload
        .get("caption")
        .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
    {
        return json!(plain_text(c));
    }
    Value::Null
}

/// A `blocks` row; `kind` is canonical (`meeting_notes` for `transcription`).
pub fn block_row(block: &Value, page_id: &str, depth: usize, position: usize) -> Value {
    let wire_kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let kind = canonical_block_type(wire_kind);
    let payload = block.get(wire_kind).cloned().unwrap_or(Value::Null);
    let (checked, language, url, title, synced_from) = block_fields(kind, &payload);
    let mut r = Map::new();
    r.insert("id".into(), id_of(block, "id"));
    r.insert("page_id".into(), json!(page_id));
    parent_cols(&mut r, block);
    r.insert("depth".into(), json!(depth));
    r.insert("position".into(), json!(position));
    r.insert("type".into(), json!(kind));
    r.insert(
        "has_children".into(),
        block.get("has_children").cloned().unwrap_or(Value::Null),
    );
    r.insert("plain_text".into(), block_text(kind, &payload));
    r.insert("checked".into(), checked);
    r.insert("language".into(), language);
    r.insert("url".into(), url);
    r.insert("title".into(), title);
    r.insert("synced_from".into(), synced_from);
    common(&mut r, block);
    r.insert(
        "created_by".into(),
        block
            .pointer("/created_by/id")
            .cloned()
            .unwrap_or(Value::Null),
    );
    r.insert(
        "last_edited_by".into(),
        block
            .pointer("/last_edited_by/id")
            .cloned()
            .unwrap_or(Value::Null),
    );
    r.insert("in_trash".into(), json!(is_trashed(block)));
    r.insert("raw".into(), json!(payload.to_string()));
    Value::Object(r)
}

/// A `comments` row; `page_id` is the page the comment's page or block belongs to.
pub fn comment_row(c: &Value, page_id: &str) -> Value {
    let mut r = Map::new();
    r.insert("id".into(), id_of(c, "id"));
    r.insert("discussion_id".into(), id_of(c, "discussion_id"));
    parent_cols(&mut r, c);
    r.insert("page_id".into(), json!(page_id));
    r.insert(
        "created_by".into(),
        c.pointer("/created_by/id").cloned().unwrap_or(Value::Null),
    );
    common(&mut r, c);
    r.insert(
        "plain_text".into(),
        json!(plain_text(c.get("rich_text").unwrap_or(&Value::Null))),
    );
    r.insert(
        "rich_text".into(),
        json!(c.get("rich_text").map(Value::to_string)),
    );
    r.insert(
        "display_name".into(),
        c.pointer("/display_name/resolved_name")
            .cloned()
            .unwrap_or(Value::Null),
    );
    let urls: Vec<Value> = c
        .get("attachments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.pointer("/file/url").cloned())
                .collect()
        })
        .unwrap_or_default();
    r.insert("attachment_urls".into(), Value::Array(urls));
    Value::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flatten::mapping::type_name;
    use arrow::array::AsArray;

    #[test]
    fn fixed_tables_match_the_doc() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/workspace-tables.md");
        let text = std::fs::read_to_string(path).expect("schemas/workspace-tables.md exists");
        for table in FixedTable::ALL.map(FixedTable::name) {
            let section = text
                .split(&format!("\n## {table}\n"))
                .nth(1)
                .unwrap_or_else(|| panic!("no section for {table}"));
            let section = section.split("\n## ").next().unwrap_or_default();
            let doc: Vec<(String, String)> = section
                .lines()
                .filter(|l| l.starts_with("| `"))
                .map(|l| {
                    let cells: Vec<&str> = l
                        .split(" | ")
                        .map(|c| c.trim_matches(|ch: char| ch == '|' || ch == ' ' || ch == '`'))
                        .collect();
                    (cells[0].to_string(), cells[1].to_string())
                })
                .collect();
            let code: Vec<(String, String)> = FixedTable::from_name(table)
                .unwrap()
                .schema()
                .fields()
                .iter()
                .filter(|f| !f.name().starts_with('_'))
                .map(|f| (f.name().clone(), type_name(f.data_type())))
                .collect();
            assert_eq!(doc, code, "schemas/workspace-tables.md, table {table}");
        }
    }

    fn batch_of(
        table: FixedTable,
        run: &crate::flatten::RunInfo,
        rows: &[Value],
    ) -> arrow::array::RecordBatch {
        let mut b = crate::flatten::fixed_batch::FixedBatchBuilder::new(table, run);
        for r in rows {
            b.append(r);
        }
        let batch = b.finish().unwrap();
        assert_eq!(batch.schema(), table.schema());
        batch
    }

    #[test]
    fn rows_decode_into_the_fixed_schemas() {
        let page = json!({"object": "page", "id": "38c9ce7b60a48156a1b7cf948b230f66", "created_time": "2026-06-27T17:00:00.000Z",
            "last_edited_time": "2026-06-27T17:00:00.000Z", "created_by": {"object": "user", "id": "u1"}, "last_edited_by": {"object": "user", "id": "u1"},
            "icon": {"type": "emoji", "emoji": "🐞"}, "cover": null, "parent": {"type": "data_source_id", "data_source_id": "ds", "database_id": "db"},
            "in_trash": false, "properties": {"Name": {"id": "title", "type": "title", "title": [{"plain_text": "Bug"}]}}, "url": "u", "public_url": null});
        let run = crate::flatten::RunInfo {
            run_id: "r1".into(),
            synced_at: 1_795_478_400_000_000,
        };
        let batch = batch_of(FixedTable::Pages, &run, &[page_row(&page)]);
        assert_eq!(batch.num_rows(), 1);
        let created = batch
            .column_by_name("created_time")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(created.value(0), 1_782_579_600_000_000);
        let synced = batch
            .column_by_name("_synced_at")
            .unwrap()
            .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(synced.value(0), run.synced_at);
        assert_eq!(
            batch
                .column_by_name("_run_id")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "r1"
        );
        assert_eq!(
            batch.schema().fields().len(),
            FixedTable::Pages.schema().fields().len()
        );
        let block = json!({"object": "block", "id": "b1", "type": "to_do", "to_do": {"rich_text": [{"plain_text": "x"}], "checked": true},
            "parent": {"type": "page_id", "page_id": "p"}, "has_children": false, "created_time": "2026-06-27T17:00:00.000Z", "last_edited_time": "2026-06-27T17:00:00.000Z"});
        let row = block_row(&block, "p", 1, 0);
        assert_eq!(row["checked"], true);
        assert_eq!(row["plain_text"], "x");
        let batch = batch_of(FixedTable::Blocks, &run, &[row]);
        let checked = batch.column_by_name("checked").unwrap().as_boolean();
        assert!(checked.value(0));
        let meeting = json!({"object": "block", "id": "b2", "type": "transcription", "transcription": {"title": [{"plain_text": "Call"}]}});
        assert_eq!(block_row(&meeting, "p", 1, 0)["type"], "meeting_notes");
        for t in FixedTable::ALL {
            assert_eq!(batch_of(t, &run, &[]).num_rows(), 0);
            assert_eq!(FixedTable::from_name(t.name()), Some(t));
        }
    }
}
