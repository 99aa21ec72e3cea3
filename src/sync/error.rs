//! The errors of a sync, each saying what to do about it.

use crate::notion::NotionError;
use crate::sink::SinkError;

/// A failed sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Talking to Notion failed.
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// Writing the lake failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The lake's stored webhook events cannot be read.
    #[error(transparent)]
    Events(#[from] crate::webhooks::log::EventLogError),
    /// Building Arrow data failed (a bug: please report it with the table name).
    #[error("could not build the Arrow data of table {table}: {source}")]
    Arrow {
        /// Table.
        table: String,
        /// Error.
        source: arrow::error::ArrowError,
    },
    /// Another sync holds the lake.
    #[error(transparent)]
    Locked(#[from] crate::state::lock::LockError),
    /// The lake's last complete run is recent enough (`skip_synced_within`): this one was
    /// skipped, which is no failure.
    #[error("synced recently: run {run} started {started_at}")]
    RecentlySynced {
        /// The last complete run.
        run: String,
        /// When it started.
        started_at: chrono::DateTime<chrono::Utc>,
    },
    /// A run restricted to roots or databases while an interrupted run of the whole workspace
    /// waits to be resumed.
    #[error(
        "run {run} was interrupted and is not finished; run `notionlake sync` without --root or --database first, which resumes it"
    )]
    ResumePending {
        /// The interrupted run.
        run: String,
    },
    /// The run was asked to stop (SIGTERM, SIGINT): its progress is committed, and the next
    /// sync resumes it.
    #[error(
        "stopped as asked{}; the next sync resumes where it stopped ({pages_left} pages left to read)",
        .checkpoint.as_ref().map(|c| format!(" after checkpoint {c}")).unwrap_or_default()
    )]
    Stopped {
        /// The last checkpoint committed.
        checkpoint: Option<String>,
        /// Pages whose content was left to read.
        pages_left: usize,
    },
    /// The lake's state is unreadable.
    #[error(
        "the lake's schema registry ({path}) is not valid JSON: {message}; restore it from a backup, or delete it to rebuild column names from scratch"
    )]
    CorruptRegistry {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// The lake's incremental state is unreadable.
    #[error(
        "the lake's sync state ({path}) is not valid: {message}; restore it from a backup, or delete it (the next sync is then a full refresh)"
    )]
    CorruptState {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// More rows than Notion returns per query were created in one minute, and no property of
    /// the data source divides them into parts under that cap.
    #[error(
        "table {table}: {window} are more than Notion returns for one query, and no property filter divides them below that limit (tried: {}); add a property of type ID (unique_id) to the data source in Notion, which numbers every row, then sync again",
        if .tried.is_empty() { "none available".to_string() } else { .tried.join(", ") }
    )]
    Unsplittable {
        /// Table.
        table: String,
        /// The rows that could not be divided.
        window: String,
        /// The filters tried, in order.
        tried: Vec<String>,
    },
    /// `--format` differs from the format the lake's tables are stored in.
    #[error(
        "the lake at {lake} holds {lake_format} tables; this sync asked for {asked}. A lake keeps one format: drop --format (or pass --format {lake_format}), or sync into a new lake with --format {asked}"
    )]
    FormatMismatch {
        /// The lake.
        lake: String,
        /// Its format.
        lake_format: &'static str,
        /// The format asked for.
        asked: &'static str,
    },
    /// `--content markdown-api` with a Notion-Version that has no markdown endpoint.
    #[error(
        "--content markdown-api reads GET /v1/pages/{{id}}/markdown, which Notion-Version {version} does not have; pass --notion-version 2025-09-03 or later, or use --content blocks"
    )]
    MarkdownApiVersion {
        /// The version asked for.
        version: &'static str,
    },
    /// `--ascii-names` on a lake whose names keep every script.
    #[error(
        "this lake names its tables and columns in every script, so --ascii-names cannot apply to it (a lake never mixes the two styles); sync into a new lake with --ascii-names, or drop the flag"
    )]
    NamingMismatch,
    /// A task of the run (the write side, a page crawl) stopped without an error of its own:
    /// a bug.
    #[error(
        "a task of the sync failed: {0}; this is a bug, please report it (nothing of this run was committed)"
    )]
    Internal(String),
    /// The temporary files that hold page marks past the memory budget failed.
    #[error(
        "could not use a temporary file in {dir} for the page marks of the sync: {source}; free space there, or point TMPDIR at a directory with room"
    )]
    Spill {
        /// The temporary directory.
        dir: String,
        /// The error.
        source: std::io::Error,
    },
}

impl From<crate::state::commit::CommitError> for SyncError {
    fn from(e: crate::state::commit::CommitError) -> Self {
        match e {
            crate::state::commit::CommitError::Sink(e) => SyncError::Sink(e),
            crate::state::commit::CommitError::Lock(e) => SyncError::Locked(e),
        }
    }
}

impl SyncError {
    /// A failure of the temporary files that hold page marks past the memory budget.
    pub fn spill(source: std::io::Error) -> SyncError {
        SyncError::Spill {
            dir: std::env::temp_dir().display().to_string(),
            source,
        }
    }
}
