//! What a sync reports: per typed table, per fixed table, and for the whole run (the run
//! record written to `_notionlake/runs/<run id>.json`).

use serde::Serialize;

use crate::notion::StatsSnapshot;
use crate::sink::WrittenFile;
use crate::state::SchemaChange;

/// What one fixed table received.
#[derive(Debug, Clone, Serialize)]
pub struct FixedReport {
    /// Table name.
    pub table: String,
    /// Rows written.
    pub rows: usize,
    /// Files written.
    pub files: Vec<WrittenFile>,
}

/// What one table received.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Data source id.
    pub data_source_id: String,
    /// Rows written.
    pub rows: usize,
    /// Values completed through the property-item endpoint.
    pub completed_values: usize,
    /// Files written.
    pub files: Vec<WrittenFile>,
    /// Schema changes since the previous sync.
    pub changes: Vec<SchemaChange>,
}

/// What a run record says of its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The run's last commit: the run is finished.
    Complete,
    /// A checkpoint: a segment of a run that is not finished (the next run resumes it).
    Checkpoint,
}

/// The outcome of a sync.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// Run id (its rows carry it).
    pub run_id: String,
    /// The notionlake version that wrote the run.
    pub notionlake_version: &'static str,
    /// The git commit that version was built from (`unknown` outside a checkout).
    pub notionlake_commit: &'static str,
    /// The segment this record is of: its files and commits carry its id (the run's own id
    /// until the run's first checkpoint).
    pub segment: String,
    /// Finished, or a checkpoint.
    pub status: RunStatus,
    /// The interrupted run this run took up, when it resumed one.
    pub resumed: Option<super::checkpoint::Resumed>,
    /// Checkpoints committed before this record (by this process).
    pub checkpoints: u32,
    /// `full` or `incremental`.
    pub mode: String,
    /// Start (RFC 3339).
    pub started_at: String,
    /// Seconds taken.
    pub duration_secs: f64,
    /// Per table.
    pub tables: Vec<TableReport>,
    /// Rich-text item files.
    pub rich_text_files: Vec<WrittenFile>,
    /// The fixed workspace tables (pages, blocks, users, comments…).
    pub fixed: Vec<FixedReport>,
    /// Tables skipped because the integration lacks a capability.
    pub skipped: Vec<String>,
    /// Deletions recorded.
    pub tombstones: usize,
    /// Warnings (unknown types, vanished data sources…).
    pub warnings: Vec<String>,
    /// Requests made.
    pub requests: StatsSnapshot,
    /// What reading the comments of unedited pages again cost, when the run did.
    pub comments_refresh: Option<RefreshReport>,
    /// Formulas that read the clock (`now()`, `today()`), as `table.Property name`: their
    /// values in the lake are those of the row's last read, and stay so until it is edited.
    pub clock_formulas: Vec<String>,
    /// What reading again the rows whose computed values changed rows can change cost, when
    /// the run did.
    pub dependents: Option<super::dependents::DependentsReport>,
    /// What the webhook events this run consumed were and cost, when there were any.
    pub events: Option<super::events::EventsReport>,
    /// What keeping Notion-hosted files did (so far, for a checkpoint), when the run keeps them.
    pub files: Option<crate::files::keeper::FilesReport>,
}

/// The comments refresh of a run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RefreshReport {
    /// The refresh asked for (`recent:7days`, `all`).
    pub scope: String,
    /// Unedited pages whose comments were read.
    pub pages: usize,
    /// Block discussions read with them (`--comments all`: blocks the lake knows to hold
    /// comments).
    pub blocks: usize,
    /// Pages due that wait for a later run (the per-run budget).
    pub waiting: usize,
    /// Requests it took.
    pub requests: usize,
    /// Comments found on them.
    pub comments: usize,
}
