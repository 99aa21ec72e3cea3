//! Where an unfinished run stands. A long run commits its progress in segments (checkpoints):
//! each segment commits the rows read so far, as ordinary commits of their tables, and with
//! them the state, which then holds a [`ResumePoint`]: what is done and what is left. The next
//! run resumes from it instead of starting over; the run's last commit clears it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A data source read in part: its rows are read again from `created_on_or_after` (the query
/// sorts by `created_time`, so every row before it is committed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFrom {
    /// The data source.
    pub data_source_id: String,
    /// The `created_time` its next query starts at.
    pub created_on_or_after: String,
}

/// A page whose content is still to be read, with its document head (the page columns of its
/// document: title, url, parent, edit time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingPage {
    /// The page.
    pub id: String,
    /// Its document head, as the crawl keeps it.
    pub head: Value,
}

/// What an unfinished run has done and what is left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// The run: the id of its first segment (its rows carry it).
    pub run_id: String,
    /// The segments committed so far.
    pub segments: u32,
    /// The last segment committed.
    pub last_segment: String,
    /// When the run started: its reads count as made at this instant, and the next run's
    /// cursor comes from it.
    pub started_at: DateTime<Utc>,
    /// A full refresh (deletions are found at its end, from every page it saw).
    pub full: bool,
    /// The cursor of an incremental run.
    pub cursor: Option<DateTime<Utc>>,
    /// Data sources whose rows are all read.
    #[serde(default)]
    pub sources_done: BTreeSet<String>,
    /// A data source read in part.
    #[serde(default)]
    pub source_from: Option<SourceFrom>,
    /// Pages whose content is still to read.
    #[serde(default)]
    pub crawl: Vec<PendingPage>,
    /// Child pages still to retrieve.
    #[serde(default)]
    pub retrieve: Vec<String>,
    /// Rows read because they changed, by data source: their dependents are still to read.
    #[serde(default)]
    pub changed: BTreeMap<String, Vec<String>>,
    /// Requests made by the run so far, in every segment.
    #[serde(default)]
    pub requests: u64,
    /// The `_synced_at` of the last segment's rows (µs): a later segment's rows are later.
    #[serde(default)]
    pub synced_at: i64,
    /// The webhook event batches the run was acting on: left pending in the lake, so the
    /// resumed run reads them again (and consumes them with its last commit).
    #[serde(default)]
    pub events_in_use: Vec<String>,
}

impl ResumePoint {
    /// Pages whose content is still to read.
    pub fn pages_left(&self) -> usize {
        self.crawl.len() + self.retrieve.len()
    }
}
