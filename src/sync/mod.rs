//! A sync of the workspace, laid out as the data flows:
//! - [`run`]: the steps of a run in order, and [`sync_workspace`];
//! - `context`: the network side's state every step works on (`Run`), pending data sources and
//!   the crawl queue;
//! - `discover`: users, search, selected roots and databases, databases found later;
//! - `extract`: one data source — schema and metadata, then its rows in `created_time` windows
//!   past Notion's per-query cap ([`split`] divides a minute past it), stale-cursor restarts;
//! - `complete`: values page objects truncate at 25 references, read whole;
//! - `pages`: page marks (what changed since the last run), `pages` rows, tombstones;
//! - [`events`]: webhook events read first and turned into work (`in_place`: a page's updated
//!   blocks read again without its whole tree);
//!   [`latency`] measures how long they took to reach the lake; [`trigger`] starts a watch
//!   loop's next run soon after new event batches land;
//! - [`dependents`]: rows whose rollups or formulas read a changed row, read again;
//! - `refresh`: comments of unedited pages read again (`--comments-refresh`), spread over
//!   runs within a budget by [`refresh_plan`];
//! - `jobs`, `schedule` and [`crawl`]: the page-content crawl — its jobs in flight, what the run
//!   records of them, one page's tree (`markdown_api`: one page read as enhanced markdown);
//! - `output`: the write side, fed through a bounded queue, staging files for the commit
//!   (which the lake's side does: `state::commit`);
//! - `files`: the Notion-hosted files every object the run reads references, downloaded by
//!   [`crate::files::keeper`] and settled into `files` rows before each commit;
//! - [`checkpoint`]: a long run committed in segments, and resumed from its last one;
//! - [`options`], [`report`], [`error`]: what a sync is asked, what it says, how it fails;
//! - [`inventory`]: what a token can see, without writing anything.

pub mod checkpoint;
mod complete;
mod context;
pub mod crawl;
pub mod dependents;
mod discover;
pub mod error;
pub mod events;
mod extract;
mod files;
mod in_place;
pub mod inventory;
mod jobs;
pub mod latency;
mod markdown_api;
pub mod options;
mod output;
mod pages;
mod refresh;
pub mod refresh_plan;
pub mod report;
pub mod run;
mod schedule;
pub mod split;
pub mod trigger;

pub use checkpoint::{
    DEFAULT_CHECKPOINT_EVERY, DEFAULT_STOP_GRACE, EXIT_STOPPED, Resumed, StopHandle, StopSignal,
};
pub use crawl::{CommentsMode, ContentMode};
pub use dependents::{DependentsReport, MAX_DEPENDENT_ROUNDS};
pub use error::SyncError;
pub use events::EventsReport;
pub use inventory::{DataSourceSummary, Inventory, inventory};
pub use options::{
    CommentsRefresh, DEFAULT_FULL_EVERY, DEFAULT_MAX_DEPTH, MAX_IN_FLIGHT_PAGES, RunTrigger,
    Selection, SyncOptions, TITLES_IN_MEMORY,
};
pub use output::{BATCH_ROWS, WRITE_QUEUE};
pub use report::{FixedReport, RunStatus, SyncReport, TableReport};
pub use run::sync_workspace;
