//! Incremental-sync state kept in the lake: the previous run's start (the cursor), the last seen
//! `last_edited_time` of every page, what is known of each data source, and when the last full
//! refresh ran. Stored as `_notionlake/state.json`, written in one put after the data it
//! describes is durable (a conditional put where the store supports it).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Where the state lives in the lake.
pub const STATE_PATH: &str = "_notionlake/state.json";

/// What the lake remembers of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMark {
    /// `last_edited_time` as Notion sent it.
    pub last_edited_time: String,
    /// The page's data source (rows) — for tombstones in its table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// In the trash when last seen.
    #[serde(default)]
    pub trashed: bool,
}

/// What the lake remembers of one data source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceMark {
    /// The data source's `last_edited_time` (schema changes move it).
    pub last_edited_time: Option<String>,
    /// Its database.
    pub database_id: Option<String>,
}

/// The previous run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMark {
    /// Run id.
    pub run_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Whether it was a full refresh.
    pub full: bool,
}

/// The whole incremental state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// Format version.
    pub format: u32,
    /// The last committed run.
    pub last_run: Option<RunMark>,
    /// Incremental runs since the last full refresh.
    pub runs_since_full: u32,
    /// Pages by id.
    pub pages: BTreeMap<String, PageMark>,
    /// Data sources by id.
    pub data_sources: BTreeMap<String, SourceMark>,
}

impl SyncState {
    /// The incremental cursor: the previous run's start, rounded down to the minute (Notion's
    /// timestamps are), minus `margin` for clock skew and index lag. `None` before any run.
    pub fn cursor(&self, margin: Duration) -> Option<DateTime<Utc>> {
        let start = self.last_run.as_ref()?.started_at;
        let secs = start.timestamp();
        let floored = DateTime::from_timestamp(secs - secs.rem_euclid(60), 0)?;
        Some(floored - margin)
    }

    /// True when a page's content should be read again: new, edited since it was last read, or
    /// edited at or after the cursor (a second edit in the same minute keeps the same timestamp).
    pub fn page_changed(
        &self,
        id: &str,
        last_edited_time: &str,
        cursor: Option<DateTime<Utc>>,
    ) -> bool {
        let Some(mark) = self.pages.get(id) else {
            return true;
        };
        if mark.last_edited_time != last_edited_time {
            return true;
        }
        match (cursor, DateTime::parse_from_rfc3339(last_edited_time)) {
            (Some(c), Ok(t)) => t.with_timezone(&Utc) >= c,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cursor_is_the_previous_start_floored_minus_the_margin() {
        let mut s = SyncState::default();
        assert_eq!(s.cursor(Duration::minutes(2)), None);
        s.last_run = Some(RunMark {
            run_id: "r".into(),
            started_at: at("2026-11-24T10:15:42.5Z"),
            full: true,
        });
        assert_eq!(
            s.cursor(Duration::minutes(2)),
            Some(at("2026-11-24T10:13:00Z"))
        );
    }

    #[test]
    fn a_same_minute_edit_at_the_cursor_is_read_again() {
        let mut s = SyncState::default();
        s.pages.insert(
            "p".into(),
            PageMark {
                last_edited_time: "2026-11-24T10:15:00.000Z".into(),
                table: None,
                trashed: false,
            },
        );
        let cursor = Some(at("2026-11-24T10:13:00Z"));
        assert!(
            s.page_changed("p", "2026-11-24T10:15:00.000Z", cursor),
            "same timestamp, but within the cursor window"
        );
        assert!(!s.page_changed(
            "p",
            "2026-11-24T10:15:00.000Z",
            Some(at("2026-11-24T10:20:00Z"))
        ));
        assert!(s.page_changed(
            "p",
            "2026-11-24T10:16:00.000Z",
            Some(at("2026-11-24T10:20:00Z"))
        ));
        assert!(s.page_changed("new", "2026-01-01T00:00:00.000Z", cursor));
    }
}
