//! What a sync is asked to do: [`SyncOptions`] and the [`Selection`] of tables, with each
//! default defined once (the command line uses the same constants).

use crate::sink::ParquetOptions;

/// Options of a sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Parquet settings.
    pub parquet: ParquetOptions,
    /// What to extract.
    pub selection: Selection,
    /// Which comments to read.
    pub comments: crate::sync::CommentsMode,
    /// Whose comments an incremental sync reads again besides the pages whose edit time moved
    /// (a new comment does not move it).
    pub comments_refresh: CommentsRefresh,
    /// Requests a run spends on the `recent:<duration>` comments refresh at most (see
    /// `refresh_plan`).
    pub comments_refresh_budget: usize,
    /// How page content is read (blocks, or Notion's markdown endpoint).
    pub content: crate::sync::ContentMode,
    /// Deepest block nesting followed.
    pub max_depth: usize,
    /// Pages crawled at once (all share the client's rate limiter).
    pub concurrency: usize,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Read everything again (and detect vanished pages) even if an earlier run exists.
    pub full_refresh: bool,
    /// Make every Nth run a full refresh (0: only when asked).
    pub full_every: u32,
    /// How far before the previous run's start incremental reads begin (clock skew, index lag).
    pub safety_margin: chrono::Duration,
    /// Validity of the lake lock between refreshes.
    pub lock_ttl: std::time::Duration,
    /// Page marks (the per-page incremental state) held in memory; the rest spill to sorted
    /// temporary files, so a sync's memory does not grow with the workspace.
    pub marks_in_memory: usize,
    /// The table format: `None` keeps the lake's (Delta for a new lake); a format other than
    /// the lake's is refused.
    pub format: Option<crate::sink::TableFormat>,
    /// Name the tables and columns of a new lake with ASCII letters only.
    pub ascii_names: bool,
    /// The instant the run counts as started (the system clock when `None`): the cursor of the
    /// next run and the minute every read of this run is taken to be made in. Set it to replay
    /// a run at a known time.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// How often a long run commits its progress (a checkpoint) at the next safe point; zero
    /// commits only at the boundaries (the tables before the content crawl).
    pub checkpoint_every: std::time::Duration,
    /// Asks the run to stop: it checkpoints at the next safe point and ends with
    /// [`crate::sync::SyncError::Stopped`].
    pub stop: Option<super::checkpoint::StopSignal>,
    /// Whether and within which limits Notion-hosted files are kept in the lake.
    pub files: crate::files::FilesOptions,
    /// Skip the run (with [`crate::sync::SyncError::RecentlySynced`]) when the lake's last
    /// complete run, by any process, started less than this long ago and no interrupted run
    /// waits: machines running the same connections then sync each once per round. Checked
    /// under the lake lock, so two processes never both take the same round.
    pub skip_synced_within: Option<std::time::Duration>,
    /// What started the run: a scheduled run counts toward `full_every`; a run started by
    /// webhook events (between the scheduled ones) never becomes a full refresh and does not
    /// count.
    pub trigger: RunTrigger,
}

/// What started a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunTrigger {
    /// A run of the schedule: the command line, cron, or a watch loop's interval.
    #[default]
    Scheduled,
    /// A watch loop's run started soon after webhook events landed.
    Events,
}

/// Which unedited pages an incremental sync reads the comments of again: Notion does not move a
/// page's `last_edited_time` when someone comments on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentsRefresh {
    /// Only pages whose edit time moved.
    None,
    /// Also pages edited within this long before the run (one request each).
    Recent(std::time::Duration),
    /// Also every other page (one request each).
    All,
}

impl CommentsRefresh {
    /// `recent:7d`.
    pub const DEFAULT: CommentsRefresh =
        CommentsRefresh::Recent(std::time::Duration::from_secs(7 * 86_400));
}

impl std::str::FromStr for CommentsRefresh {
    type Err = String;

    /// `none`, `all` or `recent:<duration>` (`recent:7d`, `recent:36h`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "none" => Ok(CommentsRefresh::None),
            "all" => Ok(CommentsRefresh::All),
            other => {
                let span = other.strip_prefix("recent:").ok_or_else(|| {
                    format!("{other:?}: expected none, all or recent:<duration> such as recent:7d")
                })?;
                humantime::parse_duration(span)
                    .map(CommentsRefresh::Recent)
                    .map_err(|e| format!("{span:?} is not a duration like 7d or 36h ({e})"))
            }
        }
    }
}

impl std::fmt::Display for CommentsRefresh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommentsRefresh::None => f.write_str("none"),
            CommentsRefresh::All => f.write_str("all"),
            CommentsRefresh::Recent(d) => write!(f, "recent:{}", humantime::format_duration(*d)),
        }
    }
}

/// Deepest block nesting followed by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Page titles a sync keeps for the links documents make (about 60 bytes each); links to pages
/// past them that carry no title of their own show as "Untitled", with a warning.
pub const TITLES_IN_MEMORY: usize = 200_000;

/// Every Nth run is a full refresh by default.
pub const DEFAULT_FULL_EVERY: u32 = 24;

/// Pages crawled at once by default: enough to keep 3 requests/s busy despite latency.
pub const MAX_IN_FLIGHT_PAGES: usize = 4;

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            parquet: ParquetOptions::default(),
            selection: Selection::default(),
            comments: crate::sync::CommentsMode::Pages,
            content: crate::sync::ContentMode::Blocks,
            comments_refresh: CommentsRefresh::DEFAULT,
            comments_refresh_budget: super::refresh_plan::DEFAULT_BUDGET,
            max_depth: DEFAULT_MAX_DEPTH,
            concurrency: MAX_IN_FLIGHT_PAGES,
            progress: false,
            full_refresh: false,
            full_every: DEFAULT_FULL_EVERY,
            safety_margin: chrono::Duration::minutes(2),
            format: None,
            lock_ttl: crate::state::lock::LOCK_TTL,
            marks_in_memory: crate::state::marks::DEFAULT_MARKS_IN_MEMORY,
            ascii_names: false,
            now: None,
            checkpoint_every: super::checkpoint::DEFAULT_CHECKPOINT_EVERY,
            stop: None,
            files: crate::files::FilesOptions::default(),
            skip_synced_within: None,
            trigger: RunTrigger::Scheduled,
        }
    }
}

impl SyncOptions {
    /// Only the data-source tables (no crawl of page content, users or comments).
    pub fn tables_only() -> Self {
        SyncOptions {
            selection: Selection {
                pages: false,
                databases: false,
                blocks: false,
                users: false,
                ..Selection::default()
            },
            comments: crate::sync::CommentsMode::None,
            ..SyncOptions::default()
        }
    }
}

/// What a sync extracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// One typed table per data source (and `rich_text_items`).
    pub tables: bool,
    /// The `pages` table.
    pub pages: bool,
    /// The `databases`, `data_sources` and `properties` tables.
    pub databases: bool,
    /// The `blocks` table (crawls every page's content).
    pub blocks: bool,
    /// The `users` table.
    pub users: bool,
    /// Restrict the sync to these pages and their subtrees (none: everything shared).
    pub roots: Vec<String>,
    /// Restrict data sources to these databases (none: every database found).
    pub only_databases: Vec<String>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            tables: true,
            pages: true,
            databases: true,
            blocks: true,
            users: true,
            roots: Vec::new(),
            only_databases: Vec::new(),
        }
    }
}
