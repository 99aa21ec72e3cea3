//! The fake server's workspace model: users, pages, databases with their data sources, rows,
//! block trees and comments, stored version-neutrally (rendered per version by `render`).
//! Also the builders that the demo and the synthetic generator use to fill it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::{Value, json};

/// A dashed lowercase UUID.
pub type Id = String;

/// Where an object lives in the fake workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FParent {
    /// Top level.
    Workspace,
    /// Under a page.
    Page(Id),
    /// Under a block.
    Block(Id),
    /// A data source of this database (data sources only).
    Database(Id),
    /// A row of this data source.
    DataSource(Id),
}

/// A workspace member or bot.
#[derive(Debug, Clone)]
pub struct User {
    /// User id.
    pub id: Id,
    /// Display name.
    pub name: String,
    /// Avatar URL.
    pub avatar_url: Option<String>,
    /// Person email, or `None` for bots.
    pub email: Option<String>,
    /// True for bots.
    pub is_bot: bool,
}

/// A page: a standalone page or a data-source row.
#[derive(Debug, Clone)]
pub struct Page {
    /// Page id.
    pub id: Id,
    /// Parent.
    pub parent: FParent,
    /// Creation instant (served rounded down to the minute).
    pub created_time: DateTime<Utc>,
    /// Last edit instant (served rounded down to the minute).
    pub last_edited_time: DateTime<Utc>,
    /// Creator user id.
    pub created_by: Id,
    /// Last editor user id.
    pub last_edited_by: Id,
    /// In the trash.
    pub in_trash: bool,
    /// Icon object or null.
    pub icon: Value,
    /// Cover object or null.
    pub cover: Value,
    /// Title rich text of a standalone page (rows keep theirs in `properties`).
    pub title: Value,
    /// Row values by property id: the payload under the type key.
    pub properties: HashMap<String, Value>,
    /// Child block ids, in order.
    pub children: Vec<Id>,
    /// Directly shared with the integration (descendants inherit).
    pub shared: bool,
    /// Returned by search (a page that search misses has this false).
    pub searchable: bool,
    /// Published URL, when published.
    pub public_url: Option<String>,
}

/// A database: a container of data sources.
#[derive(Debug, Clone)]
pub struct Database {
    /// Database id (also the id of its `child_database` block).
    pub id: Id,
    /// Parent (a page, or a block for inline databases).
    pub parent: FParent,
    /// Title.
    pub title: String,
    /// Data source ids, in order.
    pub data_sources: Vec<Id>,
    /// Creation instant (served with millisecond precision in 2025+).
    pub created_time: DateTime<Utc>,
    /// Last edit instant.
    pub last_edited_time: DateTime<Utc>,
    /// Creator.
    pub created_by: Id,
    /// Inline in its parent page.
    pub is_inline: bool,
    /// In the trash.
    pub in_trash: bool,
    /// Icon.
    pub icon: Value,
}

/// One property of a data source's schema.
#[derive(Debug, Clone)]
pub struct PropDef {
    /// Stable property id (URL-encoded form, e.g. `VZa%3E`).
    pub id: String,
    /// Current name.
    pub name: String,
    /// Type name.
    pub kind: String,
    /// Configuration payload.
    pub config: Value,
}

/// A data source: schema and rows.
#[derive(Debug, Clone)]
pub struct DataSource {
    /// Data source id.
    pub id: Id,
    /// Containing database.
    pub database_id: Id,
    /// Name (also its title).
    pub name: String,
    /// Schema, in order.
    pub properties: Vec<PropDef>,
    /// Row page ids in creation order.
    pub rows: Vec<Id>,
    /// Creation instant.
    pub created_time: DateTime<Utc>,
    /// Last edit instant.
    pub last_edited_time: DateTime<Utc>,
    /// Creator.
    pub created_by: Id,
}

/// A block.
#[derive(Debug, Clone)]
pub struct Block {
    /// Block id (for `child_page`/`child_database`, the page/database id).
    pub id: Id,
    /// Parent page or block.
    pub parent: FParent,
    /// Canonical type (`meeting_notes`, not `transcription`).
    pub kind: String,
    /// Payload under the type key.
    pub payload: Value,
    /// Child block ids, in order.
    pub children: Vec<Id>,
    /// Creation instant.
    pub created_time: DateTime<Utc>,
    /// Last edit instant.
    pub last_edited_time: DateTime<Utc>,
    /// Creator.
    pub created_by: Id,
    /// In the trash.
    pub in_trash: bool,
}

/// A comment on a page or a block.
#[derive(Debug, Clone)]
pub struct Comment {
    /// Comment id.
    pub id: Id,
    /// The page or block it is attached to.
    pub parent: FParent,
    /// Thread id.
    pub discussion_id: Id,
    /// Creation instant.
    pub created_time: DateTime<Utc>,
    /// Author.
    pub created_by: Id,
    /// Text.
    pub rich_text: Value,
    /// Attachments, when any.
    pub attachments: Option<Value>,
}

/// The whole fake workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Workspace id.
    pub id: Id,
    /// Workspace name.
    pub name: String,
    /// The integration's bot user (answered by `users/me`).
    pub bot: User,
    /// Members and other bots, in listing order (the integration's bot included).
    pub users: Vec<User>,
    /// Pages in creation order.
    pub pages: Vec<Page>,
    page_index: HashMap<Id, usize>,
    /// Databases by id.
    pub databases: HashMap<Id, Database>,
    /// Database ids in creation order.
    pub database_order: Vec<Id>,
    /// Data sources by id.
    pub data_sources: HashMap<Id, DataSource>,
    /// Blocks by id.
    pub blocks: HashMap<Id, Block>,
    /// Comments in creation order.
    pub comments: Vec<Comment>,
    rng: StdRng,
    clock: DateTime<Utc>,
}

/// A property definition: id, name, type and configuration payload.
pub fn prop(id: &str, name: &str, kind: &str, config: Value) -> PropDef {
    PropDef {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        config,
    }
}

/// Builds one plain rich-text item.
pub fn rt(text: &str) -> Value {
    json!({
        "type": "text",
        "text": {"content": text, "link": null},
        "annotations": annotations(false, false, false),
        "plain_text": text,
        "href": null
    })
}

/// A property id as Notion sends it (URL-encoded, `c%3Emp`), decoded for comparison.
pub fn decoded_property_id(id: &str) -> String {
    percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned()
}

/// The six annotation keys of a rich-text item (bold, italic, strikethrough, underline, code,
/// color).
pub fn annotations(bold: bool, italic: bool, code: bool) -> Value {
    json!({"bold": bold, "italic": italic, "strikethrough": false, "underline": false, "code": code, "color": "default"})
}

/// A mention of a user, as Notion sends it in rich text.
pub fn mention_user(id: &str, name: &str) -> Value {
    json!({"type": "mention", "mention": {"type": "user", "user": {"object": "user", "id": id}},
           "annotations": annotations(false, false, false), "plain_text": format!("@{name}"), "href": null})
}

/// A linked text item.
pub fn link(text: &str, url: &str) -> Value {
    json!({"type": "text", "text": {"content": text, "link": {"url": url}},
           "annotations": annotations(false, false, false), "plain_text": text, "href": url})
}

/// A bold text item.
pub fn bold(text: &str) -> Value {
    json!({"type": "text", "text": {"content": text, "link": null},
           "annotations": annotations(true, false, false), "plain_text": text, "href": null})
}

/// A rich-text array of one plain item.
pub fn rt_array(text: &str) -> Value {
    json!([rt(text)])
}

/// Rounds an instant down to the minute, as Notion serves timestamps.
pub fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}

impl Workspace {
    /// An empty workspace whose ids come from `seed` and whose clock starts at `start`.
    pub fn new(name: &str, seed: u64, start: DateTime<Utc>) -> Workspace {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut id = || uuid_from(&mut rng);
        let ws_id = id();
        let bot = User {
            id: id(),
            name: "notionlake".into(),
            avatar_url: None,
            email: None,
            is_bot: true,
        };
        Workspace {
            id: ws_id,
            name: name.to_string(),
            users: vec![bot.clone()],
            bot,
            pages: Vec::new(),
            page_index: HashMap::new(),
            databases: HashMap::new(),
            database_order: Vec::new(),
            data_sources: HashMap::new(),
            blocks: HashMap::new(),
            comments: Vec::new(),
            rng,
            clock: start,
        }
    }

    /// A fresh deterministic id.
    pub fn new_id(&mut self) -> Id {
        uuid_from(&mut self.rng)
    }

    /// Random bits from the workspace's seeded generator (for generators that need variety).
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Advances the generation clock and returns the new instant.
    pub fn tick(&mut self, secs: i64) -> DateTime<Utc> {
        self.clock += Duration::seconds(secs);
        self.clock
    }

    /// The generation clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock
    }

    /// Adds a person.
    pub fn add_person(&mut self, name: &str, email: &str) -> Id {
        let id = self.new_id();
        self.users.push(User {
            id: id.clone(),
            name: name.into(),
            avatar_url: Some(format!(
                "https://s3-us-west-2.amazonaws.com/public.notion-static.com/{id}/avatar.png"
            )),
            email: Some(email.into()),
            is_bot: false,
        });
        id
    }

    /// Adds another bot.
    pub fn add_bot(&mut self, name: &str) -> Id {
        let id = self.new_id();
        self.users.push(User {
            id: id.clone(),
            name: name.into(),
            avatar_url: None,
            email: None,
            is_bot: true,
        });
        id
    }

    /// A user by id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Adds a standalone page (or a sub-page, when `parent` is a page) and, for a sub-page, its
    /// `child_page` block in the parent. Returns the page id.
    pub fn add_page(&mut self, parent: FParent, title: &str, author: &str) -> Id {
        let id = self.new_id();
        let now = self.tick(30);
        let page = Page {
            id: id.clone(),
            parent: parent.clone(),
            created_time: now,
            last_edited_time: now,
            created_by: author.into(),
            last_edited_by: author.into(),
            in_trash: false,
            icon: Value::Null,
            cover: Value::Null,
            title: rt_array(title),
            properties: HashMap::new(),
            children: Vec::new(),
            shared: false,
            searchable: true,
            public_url: None,
        };
        self.insert_page(page);
        if let FParent::Page(p) | FParent::Block(p) = &parent {
            let block = Block {
                id: id.clone(),
                parent: parent.clone(),
                kind: "child_page".into(),
                payload: json!({"title": title}),
                children: Vec::new(),
                created_time: now,
                last_edited_time: now,
                created_by: author.into(),
                in_trash: false,
            };
            self.attach_block(p, block);
        }
        id
    }

    fn insert_page(&mut self, page: Page) {
        self.page_index.insert(page.id.clone(), self.pages.len());
        self.pages.push(page);
    }

    /// A page by id.
    pub fn page(&self, id: &str) -> Option<&Page> {
        self.page_index.get(id).map(|&i| &self.pages[i])
    }

    /// A page by id, for editing.
    pub fn page_mut(&mut self, id: &str) -> Option<&mut Page> {
        self.page_index.get(id).map(|&i| &mut self.pages[i])
    }

    /// Adds a database under `parent_page` with one data source per entry of `sources`
    /// (name, schema), plus its `child_database` block. Returns the database id and the data
    /// source ids. Each schema must hold exactly one `title` property.
    pub fn add_database(
        &mut self,
        parent_page: &str,
        title: &str,
        author: &str,
        sources: Vec<(String, Vec<PropDef>)>,
    ) -> (Id, Vec<Id>) {
        let db_id = self.new_id();
        let now = self.tick(60);
        let mut ds_ids = Vec::new();
        for (name, properties) in sources {
            let ds_id = self.new_id();
            self.data_sources.insert(
                ds_id.clone(),
                DataSource {
                    id: ds_id.clone(),
                    database_id: db_id.clone(),
                    name,
                    properties,
                    rows: Vec::new(),
                    created_time: now,
                    last_edited_time: now,
                    created_by: author.into(),
                },
            );
            ds_ids.push(ds_id);
        }
        self.databases.insert(
            db_id.clone(),
            Database {
                id: db_id.clone(),
                parent: FParent::Page(parent_page.into()),
                title: title.into(),
                data_sources: ds_ids.clone(),
                created_time: now + Duration::milliseconds(517),
                last_edited_time: now + Duration::milliseconds(517),
                created_by: author.into(),
                is_inline: false,
                in_trash: false,
                icon: Value::Null,
            },
        );
        self.database_order.push(db_id.clone());
        let block = Block {
            id: db_id.clone(),
            parent: FParent::Page(parent_page.into()),
            kind: "child_database".into(),
            payload: json!({"title": title}),
            children: Vec::new(),
            created_time: now,
            last_edited_time: now,
            created_by: author.into(),
            in_trash: false,
        };
        self.attach_block(parent_page, block);
        (db_id, ds_ids)
    }

    /// Adds a row to a data source with values by property id. Returns the page id.
    pub fn add_row(&mut self, ds_id: &str, author: &str, values: Vec<(&str, Value)>) -> Id {
        let id = self.new_id();
        let now = self.tick(37);
        let page = Page {
            id: id.clone(),
            parent: FParent::DataSource(ds_id.into()),
            created_time: now,
            last_edited_time: now,
            created_by: author.into(),
            last_edited_by: author.into(),
            in_trash: false,
            icon: Value::Null,
            cover: Value::Null,
            title: Value::Array(vec![]),
            properties: values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            children: Vec::new(),
            shared: false,
            searchable: true,
            public_url: None,
        };
        self.insert_page(page);
        if let Some(ds) = self.data_sources.get_mut(ds_id) {
            ds.rows.push(id.clone());
        }
        id
    }

    /// Appends a block of `kind` with `payload` under a page or block. Returns the block id.
    pub fn add_block(&mut self, parent: &str, kind: &str, payload: Value, author: &str) -> Id {
        let id = self.new_id();
        let now = self.tick(5);
        let parent_ref = if self.page(parent).is_some() {
            FParent::Page(parent.into())
        } else {
            FParent::Block(parent.into())
        };
        let block = Block {
            id: id.clone(),
            parent: parent_ref,
            kind: kind.into(),
            payload,
            children: Vec::new(),
            created_time: now,
            last_edited_time: now,
            created_by: author.into(),
            in_trash: false,
        };
        self.attach_block(parent, block);
        id
    }

    fn attach_block(&mut self, parent: &str, block: Block) {
        let id = block.id.clone();
        self.blocks.insert(id.clone(), block);
        if let Some(p) = self.page_mut(parent) {
            p.children.push(id);
        } else if let Some(b) = self.blocks.get_mut(parent) {
            b.children.push(id);
        }
    }

    /// Moves page `id` under page `new_parent`, with its `child_page` block; as a move in Notion
    /// may, it leaves the page's `last_edited_time` alone.
    pub fn move_page(&mut self, id: &str, new_parent: &str) {
        let Some(old) = self.page(id).map(|p| p.parent.clone()) else {
            return;
        };
        if let FParent::Page(p) | FParent::Block(p) = &old {
            if let Some(page) = self.page_mut(p) {
                page.children.retain(|c| c != id);
            } else if let Some(block) = self.blocks.get_mut(p) {
                block.children.retain(|c| c != id);
            }
        }
        if let Some(page) = self.page_mut(id) {
            page.parent = FParent::Page(new_parent.into());
        }
        if let Some(mut block) = self.blocks.remove(id) {
            block.parent = FParent::Page(new_parent.into());
            self.attach_block(new_parent, block);
        }
    }

    /// Adds a comment to a page or block; `discussion` continues a thread. Returns the comment.
    pub fn add_comment(
        &mut self,
        target: &str,
        author: &str,
        text: &str,
        discussion: Option<&str>,
    ) -> Id {
        let id = self.new_id();
        let discussion_id = discussion
            .map(str::to_string)
            .unwrap_or_else(|| self.new_id());
        let now = self.tick(45);
        let parent = if self.page(target).is_some() {
            FParent::Page(target.into())
        } else {
            FParent::Block(target.into())
        };
        self.comments.push(Comment {
            id: id.clone(),
            parent,
            discussion_id,
            created_time: now,
            created_by: author.into(),
            rich_text: rt_array(text),
            attachments: None,
        });
        id
    }

    /// The page a block belongs to (walking up through parent blocks).
    pub fn block_root_page(&self, block_id: &str) -> Option<&Page> {
        let mut cur = self.blocks.get(block_id)?.parent.clone();
        for _ in 0..256 {
            match cur {
                FParent::Page(p) => return self.page(&p),
                FParent::Block(b) => cur = self.blocks.get(&b)?.parent.clone(),
                _ => return None,
            }
        }
        None
    }

    /// Whether the integration can see an object (it or an ancestor is shared with the integration).
    pub fn is_visible(&self, id: &str) -> bool {
        let mut cur = id.to_string();
        for _ in 0..256 {
            if let Some(p) = self.page(&cur) {
                if p.shared {
                    return true;
                }
                cur = match &p.parent {
                    FParent::Workspace => return false,
                    FParent::Page(x) | FParent::Block(x) | FParent::Database(x) => x.clone(),
                    FParent::DataSource(ds) => match self.data_sources.get(ds) {
                        Some(d) => d.database_id.clone(),
                        None => return false,
                    },
                };
            } else if let Some(db) = self.databases.get(&cur) {
                cur = match &db.parent {
                    FParent::Page(x) | FParent::Block(x) | FParent::Database(x) => x.clone(),
                    _ => return false,
                };
            } else if let Some(ds) = self.data_sources.get(&cur) {
                cur = ds.database_id.clone();
            } else if let Some(b) = self.blocks.get(&cur) {
                cur = match &b.parent {
                    FParent::Page(x) | FParent::Block(x) => x.clone(),
                    _ => return false,
                };
            } else {
                return false;
            }
        }
        false
    }

    /// Edits a page now (real time, as Notion stamps edits): applies `change`, then moves its
    /// `last_edited_time` and `last_edited_by`.
    pub fn edit_page_now(&mut self, id: &str, user: &str, change: impl FnOnce(&mut Page)) {
        if let Some(p) = self.page_mut(id) {
            change(p);
            p.last_edited_time = Utc::now();
            p.last_edited_by = user.into();
        }
    }

    /// Edits a block now: replaces its payload and moves its own and its page's
    /// `last_edited_time`.
    pub fn edit_block_now(&mut self, id: &str, payload: Value, user: &str) {
        let now = Utc::now();
        if let Some(b) = self.blocks.get_mut(id) {
            b.payload = payload;
            b.last_edited_time = now;
        }
        if let Some(page_id) = self.block_root_page(id).map(|p| p.id.clone()) {
            self.edit_page_now(&page_id, user, |_| {});
        }
    }

    /// Deletes a page for good (emptied from the trash): it vanishes from every listing and
    /// answers 404.
    pub fn delete_page(&mut self, id: &str) {
        let Some(i) = self.page_index.remove(id) else {
            return;
        };
        self.pages.remove(i);
        for (k, p) in self.pages.iter().enumerate().skip(i) {
            self.page_index.insert(p.id.clone(), k);
        }
        for ds in self.data_sources.values_mut() {
            ds.rows.retain(|r| r != id);
        }
        self.blocks.remove(id);
    }

    /// Records an edit of a page at the current clock by `user`.
    pub fn touch_page(&mut self, id: &str, user: &str) {
        let now = self.tick(1);
        if let Some(p) = self.page_mut(id) {
            p.last_edited_time = now;
            p.last_edited_by = user.into();
        }
    }
}

/// A v4-shaped UUID from a seeded generator.
fn uuid_from(rng: &mut StdRng) -> Id {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_floor_rounds_down() {
        let t = DateTime::parse_from_rfc3339("2026-07-04T09:09:59.999Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(minute_floor(t).to_rfc3339(), "2026-07-04T09:09:00+00:00");
    }

    #[test]
    fn visibility_follows_sharing() {
        let mut ws = Workspace::new("w", 1, Utc::now());
        let u = ws.bot.id.clone();
        let root = ws.add_page(FParent::Workspace, "Root", &u);
        let hidden = ws.add_page(FParent::Workspace, "Hidden", &u);
        ws.page_mut(&root).unwrap().shared = true;
        let child = ws.add_page(FParent::Page(root.clone()), "Child", &u);
        let para = ws.add_block(&child, "paragraph", json!({}), &u);
        assert!(ws.is_visible(&child));
        assert!(ws.is_visible(&para));
        assert!(!ws.is_visible(&hidden));
        assert!(!ws.is_visible("nope"));
    }
}

#[cfg(test)]
mod delete_tests {

    #[test]
    fn deleted_pages_are_gone() {
        let (mut ws, ids) = crate::fake::demo::demo_workspace();
        let rows = ws.data_sources[&ids.data_sources["Contacts"]].rows.clone();
        let before = ws.pages.len();
        ws.delete_page(&rows[1]);
        assert_eq!(ws.pages.len(), before - 1);
        assert!(ws.page(&rows[1]).is_none());
        assert!(ws.pages.iter().all(|p| p.id != rows[1]));
        assert!(ws.page(&rows[2]).is_some_and(|p| p.id == rows[2]));
    }
}
