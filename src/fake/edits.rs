//! The fake's edit API for tests and demos (`POST /__fake/edits`, or [`super::FakeNotion::edit`]):
//! change a property, add a comment, edit a block anywhere in a page's tree, move a page under
//! another, move a page to the trash or restore it, delete it for good. Each edit is stamped now, as Notion stamps edits, and gives the
//! webhook event Notion would send for it (shape of developers.notion.com's webhook reference).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::workspace::{FParent, Workspace, rt_array};
use crate::model::normalize_id;

/// One edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum Edit {
    /// Sets property `property` (id) of row `page` to `value` (the stored value's shape).
    SetProperty {
        /// The row.
        page: String,
        /// The property id.
        property: String,
        /// The new value.
        value: Value,
    },
    /// Adds a comment to `page`, or to one of its blocks.
    AddComment {
        /// The page.
        page: String,
        /// The comment's text.
        text: String,
        /// The block discussed, if not the page.
        #[serde(default)]
        block: Option<String>,
    },
    /// Replaces the rich text of block `block` (at any depth) with `text`.
    EditBlock {
        /// The block.
        block: String,
        /// Its new text.
        text: String,
    },
    /// Moves page `page` to the trash.
    Trash {
        /// The page.
        page: String,
    },
    /// Restores page `page` from the trash.
    Restore {
        /// The page.
        page: String,
    },
    /// Deletes page `page` for good (no trash): only a full refresh finds it gone.
    Delete {
        /// The page.
        page: String,
    },
    /// Moves page `page` under page `parent` (its edit time stays).
    Move {
        /// The page.
        page: String,
        /// Its new parent page.
        parent: String,
    },
}

/// The subscription id the fake's events carry.
const SUBSCRIPTION_ID: &str = "6c1b3a7e-0000-4000-8000-00000000e5b5";

/// The author of the fake's edits: the workspace's first person.
fn author(ws: &Workspace) -> String {
    ws.users
        .iter()
        .find(|u| !u.is_bot)
        .map_or_else(|| ws.bot.id.clone(), |u| u.id.clone())
}

/// The envelope every event shares.
fn event(ws: &Workspace, kind: &str, entity: (&str, &str), data: Value, author: &str) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "workspace_id": ws.id,
        "workspace_name": ws.name,
        "subscription_id": SUBSCRIPTION_ID,
        "integration_id": ws.bot.id,
        "type": kind,
        "authors": [{"id": author, "type": "person"}],
        "attempt_number": 1,
        "api_version": "2025-09-03",
        "entity": {"id": entity.0, "type": entity.1},
        "data": data,
    })
}

/// A page's parent as events name it.
fn parent_of(ws: &Workspace, page: &str) -> Value {
    match ws.page(page).map(|p| &p.parent) {
        Some(FParent::DataSource(ds)) => json!({"id": ds, "type": "data_source"}),
        Some(FParent::Page(p)) => json!({"id": p, "type": "page"}),
        Some(FParent::Block(b)) => json!({"id": b, "type": "block"}),
        _ => json!({"id": ws.id, "type": "space"}),
    }
}

/// Applies `edit` to the workspace; returns the webhook event Notion would send.
pub fn apply(ws: &mut Workspace, edit: &Edit) -> Result<Value, String> {
    let who = author(ws);
    let missing = |what: &str, id: &str| format!("no {what} {id} in the fake workspace");
    match edit {
        Edit::SetProperty {
            page,
            property,
            value,
        } => {
            let page = normalize_id(page);
            ws.page(&page).ok_or_else(|| missing("page", &page))?;
            ws.edit_page_now(&page, &who, |p| {
                p.properties.insert(property.clone(), value.clone());
            });
            let data = json!({"parent": parent_of(ws, &page), "updated_properties": [property]});
            Ok(event(
                ws,
                "page.properties_updated",
                (&page, "page"),
                data,
                &who,
            ))
        }
        Edit::AddComment { page, text, block } => {
            let page = normalize_id(page);
            ws.page(&page).ok_or_else(|| missing("page", &page))?;
            let target = block.as_deref().map_or_else(|| page.clone(), normalize_id);
            let id = ws.add_comment(&target, &who, text, None);
            let parent = match block {
                Some(_) => json!({"id": target, "type": "block"}),
                None => json!({"id": page, "type": "page"}),
            };
            let data = json!({"page_id": page, "parent": parent});
            Ok(event(ws, "comment.created", (&id, "comment"), data, &who))
        }
        Edit::EditBlock { block, text } => {
            let block = normalize_id(block);
            let b = ws
                .blocks
                .get(&block)
                .ok_or_else(|| missing("block", &block))?;
            let mut payload = b.payload.clone();
            payload["rich_text"] = rt_array(text);
            ws.edit_block_now(&block, payload, &who);
            let page = ws
                .block_root_page(&block)
                .map(|p| p.id.clone())
                .ok_or_else(|| missing("page holding block", &block))?;
            let data = json!({"parent": parent_of(ws, &page), "updated_blocks": [{"id": block, "type": "block"}]});
            Ok(event(
                ws,
                "page.content_updated",
                (&page, "page"),
                data,
                &who,
            ))
        }
        Edit::Move { page, parent } => {
            let (page, parent) = (normalize_id(page), normalize_id(parent));
            ws.page(&page).ok_or_else(|| missing("page", &page))?;
            ws.page(&parent).ok_or_else(|| missing("page", &parent))?;
            ws.move_page(&page, &parent);
            let data = json!({"parent": parent_of(ws, &page)});
            Ok(event(ws, "page.moved", (&page, "page"), data, &who))
        }
        Edit::Delete { page } => {
            let page = normalize_id(page);
            ws.page(&page).ok_or_else(|| missing("page", &page))?;
            let data = json!({"parent": parent_of(ws, &page)});
            ws.delete_page(&page);
            Ok(event(ws, "page.deleted", (&page, "page"), data, &who))
        }
        Edit::Trash { page } | Edit::Restore { page } => {
            let page = normalize_id(page);
            ws.page(&page).ok_or_else(|| missing("page", &page))?;
            let trash = matches!(edit, Edit::Trash { .. });
            ws.edit_page_now(&page, &who, |p| p.in_trash = trash);
            let kind = if trash {
                "page.deleted"
            } else {
                "page.undeleted"
            };
            let data = json!({"parent": parent_of(ws, &page)});
            Ok(event(ws, kind, (&page, "page"), data, &who))
        }
    }
}
