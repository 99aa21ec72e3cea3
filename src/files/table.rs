//! The `files` table's rows: one per reference to a Notion-hosted file, grouped by what a run
//! reads at once ([`Scope`]) so that a group the run read again holds exactly the references
//! it found (a cover removed in Notion leaves the table), and what became of the file
//! ([`FileStatus`]).

use serde_json::{Value, json};

use super::refs::{FileRef, Origin};

/// What a run reads at once, and so replaces at once, of one page's or database's references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A page object: its `files` properties, cover and icon.
    Page,
    /// A page's blocks.
    Content,
    /// A page's comments.
    Comments,
    /// A database object: its cover and icon.
    Database,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [
        Scope::Page,
        Scope::Content,
        Scope::Comments,
        Scope::Database,
    ];

    /// Its name in `ref_group`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Page => "page",
            Scope::Content => "content",
            Scope::Comments => "comments",
            Scope::Database => "database",
        }
    }

    /// The scope a reference from `origin` belongs to.
    pub fn of(origin: &Origin) -> Scope {
        match origin {
            Origin::Property { .. } | Origin::PageCover | Origin::PageIcon => Scope::Page,
            Origin::Block { .. } => Scope::Content,
            Origin::Comment { .. } => Scope::Comments,
            Origin::DatabaseCover | Origin::DatabaseIcon => Scope::Database,
        }
    }

    /// The `ref_group` of this scope of page (or database) `parent_id`.
    pub fn group(self, parent_id: &str) -> String {
        format!("{parent_id}/{}", self.name())
    }
}

/// A reference's key within its group: `cover`, `icon`, `property:<id>:<n>`, `block:<id>`,
/// `comment:<id>:<n>`.
pub fn ref_id(origin: &Origin) -> String {
    match origin {
        Origin::Property { property_id, index } => format!("property:{property_id}:{index}"),
        Origin::Block { block_id } => format!("block:{block_id}"),
        Origin::PageCover | Origin::DatabaseCover => "cover".into(),
        Origin::PageIcon | Origin::DatabaseIcon => "icon".into(),
        Origin::Comment { comment_id, index } => format!("comment:{comment_id}:{index}"),
    }
}

/// What became of a referenced file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// Its bytes are in the lake.
    Stored,
    /// The file host has no such file (404).
    Missing,
    /// Larger than `--max-file-mb`.
    TooLarge,
    /// Not downloaded: the run's byte budget was spent. The next run tries again.
    Deferred,
    /// The download failed (timeout, broken connection, another HTTP error). The next run
    /// tries again.
    Failed,
}

impl FileStatus {
    /// Every status.
    pub const ALL: [FileStatus; 5] = [
        FileStatus::Stored,
        FileStatus::Missing,
        FileStatus::TooLarge,
        FileStatus::Deferred,
        FileStatus::Failed,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            FileStatus::Stored => "stored",
            FileStatus::Missing => "missing",
            FileStatus::TooLarge => "too_large",
            FileStatus::Deferred => "deferred",
            FileStatus::Failed => "failed",
        }
    }

    /// The status of that name.
    pub fn from_name(name: &str) -> Option<FileStatus> {
        FileStatus::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the next run downloads it again.
    pub fn retried(self) -> bool {
        matches!(self, FileStatus::Deferred | FileStatus::Failed)
    }
}

/// A stored file's content: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// The `Content-Type` the file host gave.
    pub content_type: Option<String>,
}

/// What a run knows of one referenced file: where it is referenced, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The reference.
    pub file: FileRef,
    /// What became of the file.
    pub status: FileStatus,
    /// Why, when it is not stored.
    pub reason: Option<String>,
    /// The content, when stored.
    pub content: Option<Content>,
    /// When a run first saw the reference (microseconds since the epoch).
    pub first_seen: i64,
    /// When a run last saw it.
    pub last_seen: i64,
}

impl FileRecord {
    /// Its group (see [`Scope`]).
    pub fn group(&self) -> String {
        Scope::of(&self.file.origin).group(&self.file.parent_id)
    }

    /// Its `files` row (the columns `schemas/workspace-tables.md` lists).
    pub fn row(&self) -> Value {
        let f = &self.file;
        let (property_id, block_id, comment_id, index) = match &f.origin {
            Origin::Property { property_id, index } => (Some(property_id), None, None, *index),
            Origin::Block { block_id } => (None, Some(block_id), None, 0),
            Origin::Comment { comment_id, index } => (None, None, Some(comment_id), *index),
            _ => (None, None, None, 0),
        };
        let content = self.content.as_ref();
        json!({
            "ref_group": self.group(),
            "ref_id": ref_id(&f.origin),
            "parent_id": f.parent_id,
            "origin": f.origin.kind(),
            "property_id": property_id,
            "block_id": block_id,
            "comment_id": comment_id,
            "item_index": index,
            "name": f.name,
            "notion_key": f.key,
            "status": self.status.name(),
            "reason": self.reason,
            "content_type": content.and_then(|c| c.content_type.clone()),
            "bytes": content.map(|c| c.bytes),
            "sha256": content.map(|c| c.sha256.clone()),
            "lake_path": content.map(|c| super::store::content_path(&c.sha256)),
            "first_seen": micros_rfc3339(self.first_seen),
            "last_seen": micros_rfc3339(self.last_seen),
        })
    }
}

/// An instant in microseconds as RFC 3339 (what the table's timestamp columns decode).
fn micros_rfc3339(micros: i64) -> Value {
    chrono::DateTime::from_timestamp_micros(micros).map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_row_names_its_group_reference_and_content() {
        let file = FileRef {
            parent_id: "p1".into(),
            origin: Origin::Property {
                property_id: "a%3Ab".into(),
                index: 2,
            },
            name: Some("contract.pdf".into()),
            url: "https://host/ws/c.pdf?sig".into(),
            expiry_time: None,
            key: "https://host/ws/c.pdf".into(),
        };
        let record = FileRecord {
            file,
            status: FileStatus::Stored,
            reason: None,
            content: Some(Content {
                sha256: "ab".repeat(32),
                bytes: 10,
                content_type: Some("application/pdf".into()),
            }),
            first_seen: 1_700_000_000_000_000,
            last_seen: 1_700_000_000_000_001,
        };
        let row = record.row();
        assert_eq!(row["ref_group"], "p1/page");
        assert_eq!(row["ref_id"], "property:a%3Ab:2");
        assert_eq!(row["item_index"], 2);
        assert_eq!(row["status"], "stored");
        assert_eq!(
            row["lake_path"],
            format!("files/_sha256/ab/{}", "ab".repeat(32))
        );
        assert_eq!(row["first_seen"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(row["last_seen"], "2023-11-14T22:13:20.000001Z");
        for s in FileStatus::ALL {
            assert_eq!(FileStatus::from_name(s.name()), Some(s));
        }
        assert_eq!(Scope::of(&Origin::DatabaseIcon).group("d"), "d/database");
    }
}
