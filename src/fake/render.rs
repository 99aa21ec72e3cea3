//! Renders the fake workspace's objects as Notion JSON for one `Notion-Version`: parents,
//! `archived`/`in_trash`, database vs data-source shapes, `transcription` vs `meeting_notes`,
//! minute-rounded timestamps, and the 25-reference truncation of page property values.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::workspace::{
    Block, Comment, DataSource, Database, FParent, Page, PropDef, User, Workspace, minute_floor,
};
use crate::notion::NotionVersion;

/// Page objects carry at most this many references per property (relations, people,
/// mentions); the property-item endpoint gives the rest.
pub const MAX_REFS_IN_PAGE: usize = 25;

/// A timestamp as pages, blocks and data sources carry it: minute-rounded, `…:00.000Z`.
pub fn ts(t: DateTime<Utc>) -> String {
    minute_floor(t).format("%Y-%m-%dT%H:%M:00.000Z").to_string()
}

/// A 2025+ database-container timestamp: millisecond precision with `+00:00`.
fn ts_ms(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()
}

/// A partial user reference.
pub fn user_ref(id: &str) -> Value {
    json!({"object": "user", "id": id})
}

/// Renders one object kind of the workspace for one version.
#[derive(Debug, Clone, Copy)]
pub struct Renderer<'a> {
    ws: &'a Workspace,
    v: NotionVersion,
}

fn id32(id: &str) -> String {
    id.replace('-', "")
}

fn slug(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

impl<'a> Renderer<'a> {
    /// A renderer of `ws` for version `v`.
    pub fn new(ws: &'a Workspace, v: NotionVersion) -> Self {
        Renderer { ws, v }
    }

    /// The workspace rendered.
    pub fn workspace(&self) -> &'a Workspace {
        self.ws
    }

    fn trash_flags(&self, obj: &mut Map<String, Value>, in_trash: bool) {
        if self.v.has_archived_alias() {
            obj.insert("archived".into(), json!(in_trash));
        }
        obj.insert("in_trash".into(), json!(in_trash));
    }

    /// A user object. The integration's own bot carries its `bot` payload (owner, workspace);
    /// other bots an empty one. Recordings of 2025-09-03 show `workspace_id`,
    /// `workspace_limits` and `person.email_verified`, which the 2022-06-28 recordings lack.
    pub fn user(&self, u: &User) -> Value {
        let mut o = json!({
            "object": "user",
            "id": u.id,
            "name": u.name,
            "avatar_url": u.avatar_url,
        });
        let newer = self.v.has_data_sources();
        if u.is_bot {
            o["type"] = json!("bot");
            o["bot"] = if u.id == self.ws.bot.id {
                let mut b = json!({
                    "owner": {"type": "workspace", "workspace": true},
                    "workspace_name": self.ws.name,
                });
                if newer {
                    b["workspace_id"] = json!(self.ws.id);
                    b["workspace_limits"] = json!({"max_file_upload_size_in_bytes": 5242880});
                }
                b
            } else {
                json!({})
            };
        } else {
            o["type"] = json!("person");
            o["person"] = json!({"email": u.email});
            if newer {
                o["person"]["email_verified"] = json!(true);
            }
        }
        o
    }

    /// A full user object by id, or a partial reference when unknown.
    fn user_full(&self, id: &str) -> Value {
        self.ws
            .user(id)
            .map(|u| self.user(u))
            .unwrap_or_else(|| user_ref(id))
    }

    fn parent(&self, p: &FParent) -> Value {
        match p {
            FParent::Workspace => json!({"type": "workspace", "workspace": true}),
            FParent::Page(id) => json!({"type": "page_id", "page_id": id}),
            FParent::Block(id) => json!({"type": "block_id", "block_id": id}),
            FParent::Database(id) => json!({"type": "database_id", "database_id": id}),
            FParent::DataSource(ds) => {
                let db = self
                    .ws
                    .data_sources
                    .get(ds)
                    .map(|d| d.database_id.clone())
                    .unwrap_or_default();
                if self.v.has_data_sources() {
                    json!({"type": "data_source_id", "data_source_id": ds, "database_id": db})
                } else {
                    json!({"type": "database_id", "database_id": db})
                }
            }
        }
    }

    /// The plain title of a page.
    pub fn page_title(&self, page: &Page) -> String {
        let title = match &page.parent {
            FParent::DataSource(ds) => self
                .ws
                .data_sources
                .get(ds)
                .and_then(|d| d.properties.iter().find(|p| p.kind == "title"))
                .and_then(|p| page.properties.get(&p.id))
                .cloned()
                .unwrap_or(Value::Null),
            _ => page.title.clone(),
        };
        crate::model::plain_text(&title)
    }

    /// A page object.
    pub fn page(&self, page: &Page, filter_properties: Option<&[String]>) -> Value {
        let title = self.page_title(page);
        let mut o = Map::new();
        o.insert("object".into(), json!("page"));
        o.insert("id".into(), json!(page.id));
        o.insert("created_time".into(), json!(ts(page.created_time)));
        o.insert("last_edited_time".into(), json!(ts(page.last_edited_time)));
        o.insert("created_by".into(), user_ref(&page.created_by));
        o.insert("last_edited_by".into(), user_ref(&page.last_edited_by));
        o.insert("cover".into(), page.cover.clone());
        o.insert("icon".into(), page.icon.clone());
        o.insert("parent".into(), self.parent(&page.parent));
        self.trash_flags(&mut o, page.in_trash);
        if self.v.has_data_sources() {
            o.insert("is_archived".into(), json!(false));
            o.insert("is_locked".into(), json!(false));
        }
        o.insert(
            "properties".into(),
            Value::Object(self.page_properties(page, filter_properties)),
        );
        o.insert(
            "url".into(),
            json!(format!(
                "https://www.notion.so/{}-{}",
                slug(&title),
                id32(&page.id)
            )),
        );
        o.insert("public_url".into(), json!(page.public_url));
        Value::Object(o)
    }

    fn schema_of(&self, page: &Page) -> Option<&'a DataSource> {
        match &page.parent {
            FParent::DataSource(ds) => self.ws.data_sources.get(ds),
            _ => None,
        }
    }

    /// The `properties` map of a page, values truncated at 25 references.
    pub fn page_properties(&self, page: &Page, filter: Option<&[String]>) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(ds) = self.schema_of(page) else {
            out.insert(
                "title".into(),
                json!({"id": "title", "type": "title", "title": page.title}),
            );
            return out;
        };
        for prop in &ds.properties {
            if filter.is_some_and(|f| !f.iter().any(|id| id == &prop.id)) {
                continue;
            }
            let full = self.property_value(page, prop);
            let mut entry = json!({"id": prop.id, "type": prop.kind});
            match prop.kind.as_str() {
                "relation" => {
                    let items = full.as_array().cloned().unwrap_or_default();
                    let more = items.len() > MAX_REFS_IN_PAGE;
                    entry["relation"] =
                        Value::Array(items.into_iter().take(MAX_REFS_IN_PAGE).collect());
                    entry["has_more"] = json!(more);
                }
                "people" => {
                    let items = full.as_array().cloned().unwrap_or_default();
                    entry["people"] =
                        Value::Array(items.into_iter().take(MAX_REFS_IN_PAGE).collect());
                }
                "title" | "rich_text" => {
                    entry[prop.kind.as_str()] = truncate_mentions(&full);
                }
                // Computed over the related pages the truncated relation shows.
                "rollup" if self.computes_rollup(page, prop) => {
                    entry["rollup"] = self.rollup_value(page, prop, Some(MAX_REFS_IN_PAGE), 0);
                }
                kind => entry[kind] = full,
            }
            out.insert(prop.name.clone(), entry);
        }
        out
    }

    /// The complete (untruncated) value of one property of a row.
    pub fn property_value(&self, page: &Page, prop: &PropDef) -> Value {
        match prop.kind.as_str() {
            "created_time" => return json!(ts(page.created_time)),
            "last_edited_time" => return json!(ts(page.last_edited_time)),
            "created_by" => return self.user_full(&page.created_by),
            "last_edited_by" => return self.user_full(&page.last_edited_by),
            "rollup" if self.computes_rollup(page, prop) => {
                return self.rollup_value(page, prop, None, 0);
            }
            _ => {}
        }
        if let Some(v) = page.properties.get(&prop.id) {
            if prop.kind == "people" {
                let people = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|p| match p.get("object").and_then(Value::as_str) {
                                Some("user") => p
                                    .get("id")
                                    .and_then(Value::as_str)
                                    .map(|id| self.user_full(id))
                                    .unwrap_or_else(|| p.clone()),
                                _ => p.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                return Value::Array(people);
            }
            return v.clone();
        }
        match prop.kind.as_str() {
            "title" | "rich_text" | "multi_select" | "people" | "files" | "relation" => json!([]),
            "checkbox" => json!(false),
            "button" => json!({}),
            "formula" => json!({"type": "string", "string": null}),
            "rollup" => {
                json!({"type": "number", "number": null, "function": prop.config.get("function").cloned().unwrap_or(json!("count"))})
            }
            "unique_id" => {
                json!({"prefix": prop.config.get("prefix").cloned().unwrap_or(Value::Null), "number": null})
            }
            _ => Value::Null,
        }
    }

    /// The schema map of a data source: name → `{id, name, description, type, <type>: config}`.
    pub fn schema(&self, ds: &DataSource) -> Map<String, Value> {
        ds.properties
            .iter()
            .map(|p| {
                let mut e = json!({"id": p.id, "name": p.name, "type": p.kind});
                // Property descriptions are absent from the 2022-06-28 recordings.
                if self.v.has_data_sources() {
                    e["description"] = Value::Null;
                }
                e[p.kind.as_str()] = p.config.clone();
                (p.name.clone(), e)
            })
            .collect()
    }

    fn db_url(db: &Database) -> String {
        format!("https://www.notion.so/{}", id32(&db.id))
    }

    /// A database object: a container (2025+) or a single table with its schema (2022-06-28).
    /// Under 2022-06-28 a database with several data sources cannot be rendered (`None`).
    pub fn database(&self, db: &Database) -> Option<Value> {
        let mut o = Map::new();
        o.insert("object".into(), json!("database"));
        o.insert("id".into(), json!(db.id));
        o.insert("cover".into(), Value::Null);
        o.insert("icon".into(), db.icon.clone());
        o.insert("title".into(), super::workspace::rt_array(&db.title));
        o.insert("description".into(), json!([]));
        o.insert("parent".into(), self.parent(&db.parent));
        o.insert("is_inline".into(), json!(db.is_inline));
        self.trash_flags(&mut o, db.in_trash);
        o.insert("url".into(), json!(Self::db_url(db)));
        o.insert("public_url".into(), Value::Null);
        if self.v.has_data_sources() {
            o.insert("is_locked".into(), json!(false));
            o.insert("created_time".into(), json!(ts_ms(db.created_time)));
            o.insert("last_edited_time".into(), json!(ts_ms(db.last_edited_time)));
            let sources: Vec<Value> = db
                .data_sources
                .iter()
                .filter_map(|id| self.ws.data_sources.get(id))
                .map(|d| json!({"id": d.id, "name": d.name}))
                .collect();
            o.insert("data_sources".into(), Value::Array(sources));
        } else {
            if db.data_sources.len() != 1 {
                return None;
            }
            let ds = self.ws.data_sources.get(&db.data_sources[0])?;
            o.insert("created_time".into(), json!(ts(db.created_time)));
            o.insert("last_edited_time".into(), json!(ts(db.last_edited_time)));
            o.insert("created_by".into(), user_ref(&db.created_by));
            o.insert("last_edited_by".into(), user_ref(&db.created_by));
            o.insert("properties".into(), Value::Object(self.schema(ds)));
        }
        Some(Value::Object(o))
    }

    /// A data-source object (2025+).
    pub fn data_source(&self, ds: &DataSource) -> Value {
        let db = self.ws.databases.get(&ds.database_id);
        let mut o = Map::new();
        o.insert("object".into(), json!("data_source"));
        o.insert("id".into(), json!(ds.id));
        o.insert("cover".into(), Value::Null);
        o.insert(
            "icon".into(),
            db.map(|d| d.icon.clone()).unwrap_or(Value::Null),
        );
        o.insert("created_time".into(), json!(ts(ds.created_time)));
        o.insert("created_by".into(), user_ref(&ds.created_by));
        o.insert("last_edited_by".into(), user_ref(&ds.created_by));
        o.insert("last_edited_time".into(), json!(ts(ds.last_edited_time)));
        o.insert("title".into(), super::workspace::rt_array(&ds.name));
        o.insert("description".into(), json!([]));
        o.insert("properties".into(), Value::Object(self.schema(ds)));
        o.insert(
            "parent".into(),
            json!({"type": "database_id", "database_id": ds.database_id}),
        );
        o.insert(
            "database_parent".into(),
            db.map(|d| self.parent(&d.parent)).unwrap_or(Value::Null),
        );
        o.insert("is_inline".into(), json!(db.is_some_and(|d| d.is_inline)));
        let trashed = db.is_some_and(|d| d.in_trash);
        self.trash_flags(&mut o, trashed);
        o.insert(
            "url".into(),
            json!(db.map(Self::db_url).unwrap_or_default()),
        );
        o.insert("public_url".into(), Value::Null);
        Value::Object(o)
    }

    /// The children a block exposes (a synced-block copy mirrors its original's).
    pub fn children_of(&self, block: &Block) -> &'a [String] {
        if block.kind == "synced_block"
            && let Some(orig) = block
                .payload
                .pointer("/synced_from/block_id")
                .and_then(Value::as_str)
        {
            return self
                .ws
                .blocks
                .get(orig)
                .map(|b| b.children.as_slice())
                .unwrap_or(&[]);
        }
        if block.kind == "child_page" {
            return self
                .ws
                .page(&block.id)
                .map(|p| p.children.as_slice())
                .unwrap_or(&[]);
        }
        self.ws
            .blocks
            .get(&block.id)
            .map(|b| b.children.as_slice())
            .unwrap_or(&[])
    }

    /// A block object.
    pub fn block(&self, b: &Block) -> Value {
        let kind = if b.kind == "meeting_notes" {
            self.v.meeting_notes_block_type()
        } else {
            b.kind.as_str()
        };
        let has_children = b.kind != "child_database" && !self.children_of(b).is_empty();
        let mut o = Map::new();
        o.insert("object".into(), json!("block"));
        o.insert("id".into(), json!(b.id));
        o.insert("parent".into(), self.parent(&b.parent));
        o.insert("created_time".into(), json!(ts(b.created_time)));
        o.insert("last_edited_time".into(), json!(ts(b.last_edited_time)));
        o.insert("created_by".into(), user_ref(&b.created_by));
        o.insert("last_edited_by".into(), user_ref(&b.created_by));
        o.insert("has_children".into(), json!(has_children));
        self.trash_flags(&mut o, b.in_trash);
        o.insert("type".into(), json!(kind));
        let mut payload = b.payload.clone();
        if b.kind == "paragraph" {
            // Paragraphs gained an `icon` key (usually null) in 2025; older recordings lack it.
            if let Some(p) = payload.as_object_mut() {
                if self.v.has_data_sources() {
                    p.entry("icon").or_insert(Value::Null);
                } else {
                    p.remove("icon");
                }
            }
        }
        o.insert(kind.into(), payload);
        Value::Object(o)
    }

    /// A page seen through the block endpoints: a `child_page` block.
    pub fn page_as_block(&self, page: &Page) -> Value {
        let block = Block {
            id: page.id.clone(),
            parent: page.parent.clone(),
            kind: "child_page".into(),
            payload: json!({"title": self.page_title(page)}),
            children: page.children.clone(),
            created_time: page.created_time,
            last_edited_time: page.last_edited_time,
            created_by: page.created_by.clone(),
            in_trash: page.in_trash,
        };
        self.block(&block)
    }

    /// A comment object.
    pub fn comment(&self, c: &Comment) -> Value {
        let mut o = json!({
            "object": "comment",
            "id": c.id,
            "parent": self.parent(&c.parent),
            "discussion_id": c.discussion_id,
            "created_time": ts(c.created_time),
            "last_edited_time": ts(c.created_time),
            "created_by": user_ref(&c.created_by),
            "rich_text": c.rich_text,
        });
        if self.v.has_data_sources() {
            let author = self.ws.user(&c.created_by);
            let kind = if author.is_some_and(|u| u.is_bot) {
                "integration"
            } else {
                "user"
            };
            o["display_name"] =
                json!({"type": kind, "resolved_name": author.map(|u| u.name.clone())});
        }
        if let Some(a) = &c.attachments {
            o["attachments"] = a.clone();
        }
        o
    }
}

/// Keeps rich-text items up to the 25th mention, as page objects do.
fn truncate_mentions(rich_text: &Value) -> Value {
    let Some(items) = rich_text.as_array() else {
        return rich_text.clone();
    };
    let mut mentions = 0;
    let kept = items
        .iter()
        .filter(|i| {
            if i.get("type").and_then(Value::as_str) == Some("mention") {
                mentions += 1;
                mentions <= MAX_REFS_IN_PAGE
            } else {
                true
            }
        })
        .cloned()
        .collect();
    Value::Array(kept)
}
