//! The webhook events Notion delivers. Every event shares one envelope (`id`, `timestamp`,
//! `type`, `entity`, `data`, `attempt_number`…); the events carry no content, only what changed:
//! a page's updated blocks or properties, a comment's page, a data source's schema.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One delivered event, as much of it as a sync reads (the lake keeps the whole body).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookEvent {
    /// Unique id of the event: retries of one delivery carry the same id.
    pub id: String,
    /// When the change happened (orders events).
    #[serde(default)]
    pub timestamp: String,
    /// `page.content_updated`, `comment.created`…
    #[serde(rename = "type")]
    pub kind: String,
    /// The object that changed.
    pub entity: Entity,
    /// Event-specific data (`updated_blocks`, `updated_properties`, `page_id`, `parent`).
    #[serde(default)]
    pub data: Value,
    /// Which delivery attempt this is (1 to 8).
    #[serde(default)]
    pub attempt_number: u32,
}

/// The object an event is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entity {
    /// Its id.
    pub id: String,
    /// `page`, `block`, `comment`, `database`, `data_source`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// What an event is, as far as a sync acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `page.created`, `page.properties_updated`, `page.moved`, `page.undeleted`: the page
    /// (a row, its values) is read again.
    PageChanged,
    /// `page.content_updated`: the blocks it lists (and their subtrees) are read again.
    PageContent,
    /// `page.deleted`: the page is read again, and its deletion recorded.
    PageDeleted,
    /// `comment.created`, `comment.updated`, `comment.deleted`: the page's discussion is read
    /// again.
    Comment,
    /// `data_source.*` and `database.*` changes: the data source's schema and rows are read.
    DataSource,
    /// Events no read follows from (`page.locked`, `page.unlocked`, types added later).
    Ignored,
}

impl EventKind {
    /// The kind of an event type.
    pub fn of(kind: &str) -> EventKind {
        match kind {
            "page.created" | "page.properties_updated" | "page.moved" | "page.undeleted" => {
                EventKind::PageChanged
            }
            "page.content_updated" => EventKind::PageContent,
            "page.deleted" => EventKind::PageDeleted,
            "comment.created" | "comment.updated" | "comment.deleted" => EventKind::Comment,
            k if k.starts_with("data_source.") || k.starts_with("database.") => {
                EventKind::DataSource
            }
            _ => EventKind::Ignored,
        }
    }
}

impl WebhookEvent {
    /// What the event is.
    pub fn kind(&self) -> EventKind {
        EventKind::of(&self.kind)
    }

    /// The ids of the blocks a `page.content_updated` event lists.
    pub fn updated_blocks(&self) -> Vec<String> {
        self.data
            .get("updated_blocks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|b| b.get("id").and_then(Value::as_str))
            .map(crate::model::normalize_id)
            .collect()
    }

    /// The page a comment event is about: `data.page_id`, or the parent when it is a page.
    pub fn comment_page(&self) -> Option<String> {
        self.data
            .get("page_id")
            .and_then(Value::as_str)
            .or_else(|| {
                let parent = self.data.get("parent")?;
                (parent.get("type").and_then(Value::as_str) == Some("page"))
                    .then(|| parent.get("id").and_then(Value::as_str))
                    .flatten()
            })
            .map(crate::model::normalize_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_parse_and_classify() {
        let e: WebhookEvent = serde_json::from_value(json!({
            "id": "ev1", "timestamp": "2026-11-30T10:00:00.000Z", "workspace_id": "w",
            "type": "page.content_updated", "attempt_number": 2,
            "entity": {"id": "0F0E0D0C0B0A09080706050403020100", "type": "page"},
            "data": {"parent": {"id": "p", "type": "space"}, "updated_blocks": [{"id": "00000000-0000-0000-0000-0000000000AA", "type": "block"}]}
        }))
        .unwrap();
        assert_eq!(e.kind(), EventKind::PageContent);
        assert_eq!(e.attempt_number, 2);
        assert_eq!(
            e.updated_blocks(),
            vec!["00000000-0000-0000-0000-0000000000aa".to_string()]
        );
        let c: WebhookEvent = serde_json::from_value(json!({
            "id": "ev2", "type": "comment.created",
            "entity": {"id": "c1", "type": "comment"},
            "data": {"page_id": "00000000000000000000000000000001", "parent": {"id": "b", "type": "block"}}
        }))
        .unwrap();
        assert_eq!(c.kind(), EventKind::Comment);
        assert_eq!(
            c.comment_page().as_deref(),
            Some("00000000-0000-0000-0000-000000000001")
        );
        assert_eq!(EventKind::of("page.locked"), EventKind::Ignored);
        assert_eq!(
            EventKind::of("data_source.schema_updated"),
            EventKind::DataSource
        );
        assert_eq!(EventKind::of("page.undeleted"), EventKind::PageChanged);
    }
}
