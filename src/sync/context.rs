//! The network side of a run as every step sees it: how the run reads ([`Mode`]), what it has
//! learnt so far (registry, page marks, data sources known and pending, the crawl's jobs), the handle on the write side, progress and warnings. The steps — `discover`,
//! `extract`, `pages`, `schedule` — are methods on [`Run`] in their own modules; `run` calls them
//! in order.

use crate::sink::TableFormat;
use crate::sink::delta::merge::RunChanges;
use std::collections::HashSet;
use std::io::IsTerminal;

use serde_json::Value;

use super::crawl::{CommentsMode, ContentMode};
use super::error::SyncError;
use super::jobs::CrawlJobs;
use super::options::SyncOptions;
use super::output::Output;
use crate::flatten::fixed::FixedTable;
use crate::model::DataSourceRef;
use crate::notion::NotionClient;
use crate::state::Registry;
use crate::state::sync_state::SyncState;

/// How this run reads: decided once at its start.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mode {
    /// A full refresh (everything read again; vanished ids detected).
    pub full: bool,
    /// Rows edited since this instant are read (incremental runs).
    pub cursor: Option<chrono::DateTime<chrono::Utc>>,
    /// When the run started: every read of the run happens after it.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// The selection names roots or databases: the run sees part of the workspace only.
    pub restricted: bool,
}

/// The progress line on a terminal and the counts it shows.
pub(super) struct Progress {
    pub(super) bar: indicatif::ProgressBar,
    /// Pages recorded.
    pub pages: usize,
    /// Blocks recorded.
    pub blocks: usize,
}

impl Progress {
    pub(super) fn new(shown: bool) -> Progress {
        let bar = if shown && std::io::stderr().is_terminal() {
            let p = indicatif::ProgressBar::new_spinner();
            p.enable_steady_tick(std::time::Duration::from_millis(200));
            p
        } else {
            indicatif::ProgressBar::hidden()
        };
        Progress {
            bar,
            pages: 0,
            blocks: 0,
        }
    }
}

/// Whether the selection of `options` asks for `table`.
pub(super) fn selected(options: &SyncOptions, table: FixedTable) -> bool {
    let s = &options.selection;
    match table {
        FixedTable::Pages => s.pages,
        FixedTable::Databases | FixedTable::DataSources | FixedTable::Properties => s.databases,
        FixedTable::Blocks => s.blocks && options.content == ContentMode::Blocks,
        FixedTable::Documents => s.blocks,
        FixedTable::Users => s.users,
        FixedTable::Comments => options.comments != CommentsMode::None,
        FixedTable::Tombstones => true,
        FixedTable::Files => options.files.mode != crate::files::FilesMode::None,
    }
}

/// The network side of a run: what it reads and what it has learnt so far.
pub(super) struct Run<'a> {
    pub(super) client: &'a NotionClient,
    pub(super) options: &'a SyncOptions,
    /// The lake lock, proven before every commit (checkpoints included).
    pub(super) lock: &'a crate::state::lock::LakeLock,
    pub(super) mode: Mode,
    /// The run's id (its first segment's; every row it writes carries it).
    pub(super) run_id: String,
    /// The segment being written (see `checkpoint`).
    pub(super) segment: super::checkpoint::SegmentState,
    /// Checkpoints committed by this process.
    pub(super) checkpointed: u32,
    /// What the committed segments of this process wrote (for the run's summary).
    pub(super) done: super::output::Written,
    /// The interrupted run this one took up, if any.
    pub(super) resumed: Option<super::checkpoint::Resumed>,
    /// Data sources whose rows are all read.
    pub(super) sources_done: std::collections::BTreeSet<String>,
    /// The data source being read and from where, while a checkpoint is taken in its listing.
    pub(super) source_from: Option<crate::state::resume::SourceFrom>,
    /// Where a resumed run takes up the data source it was reading.
    pub(super) resume_source: Option<crate::state::resume::SourceFrom>,
    /// Requests the interrupted runs this one resumed had made.
    pub(super) requests_before: u64,
    /// When this process started the run.
    pub(super) started: std::time::Instant,
    /// The webhook event batches this run read (consumed with its last commit).
    pub(super) events_in_use: Vec<String>,
    pub(super) registry: Registry,
    /// State of the previous run, updated in place with the marks of the pages this run sees
    /// (one map, not a second one per run: it is the only per-page memory of a sync).
    pub(super) state: SyncState,
    pub(super) output: Output,
    pub(super) known: Known,
    /// The page-content crawl: pages waiting, jobs in flight.
    pub(super) crawl: CrawlJobs,
    pub(super) progress: Progress,
    pub(super) warnings: Vec<String>,
    pub(super) skipped: Vec<FixedTable>,
    pub(super) tombstones: usize,
    /// The lake's table format.
    pub(super) format: TableFormat,
    /// Pages whose content this run read and rows it found deleted (a Delta commit removes
    /// what they replace).
    pub(super) changes: RunChanges,
    /// Titles of the pages this run listed, by id, for the links a document makes to them
    /// (`link_to_page` blocks carry no title); filled only when the run writes `documents`.
    pub(super) titles: crate::flatten::markdown::Titles,
    /// Set once the titles reached their bound (and the run said so).
    pub(super) titles_full: bool,
    /// Pages this run crawled, in incremental runs (their comments are already read).
    pub(super) crawled_ids: std::collections::HashSet<u128>,
    /// Formula properties that read the clock, as `table.Property name`.
    pub(super) clock_formulas: Vec<String>,
    /// What the comments refresh cost, once done.
    pub(super) comments_refresh: Option<super::report::RefreshReport>,
    /// The lake (read for the values rows held before this run).
    pub(super) lake: crate::sink::Lake,
    /// The rows read, for their dependents (incremental runs of the whole workspace).
    pub(super) dependents: Option<super::dependents::ChangedRows>,
    /// What reading dependent rows again cost, once done.
    pub(super) dependents_report: Option<super::dependents::DependentsReport>,
    /// Pages a content event names, read in place rather than crawled whole.
    pub(super) in_place: std::collections::HashMap<String, super::events::InPlace>,
    /// Pages an event says changed (moved, restored…) though their edit time may not have moved:
    /// `add_page` takes them as changed.
    pub(super) forced_changes: std::collections::HashSet<String>,
    /// Pages other events name, retrieved after polling when it did not see them.
    pub(super) event_pages: std::collections::BTreeSet<String>,
    /// Pages whose discussions comment events name, read after the crawl.
    pub(super) event_comments: std::collections::BTreeSet<String>,
    /// What the webhook events were and cost, when there were any.
    pub(super) events_report: Option<super::events::EventsReport>,
    /// The run's downloads of Notion-hosted files, when it keeps them.
    pub(super) files: Option<crate::files::keeper::Keeper>,
}

impl Run<'_> {
    /// Whether the run writes `table`: the selection asks for it and the integration may read it.
    pub(super) fn wants(&self, table: FixedTable) -> bool {
        selected(self.options, table) && !self.skipped.contains(&table)
    }

    /// Whether the run reads page content.
    pub(super) fn crawls(&self) -> bool {
        self.wants(FixedTable::Blocks)
            || self.wants(FixedTable::Documents)
            || self.wants(FixedTable::Comments)
    }

    /// Adds a row to a fixed table if the run writes it.
    pub(super) async fn push(&mut self, table: FixedTable, row: Value) -> Result<(), SyncError> {
        if self.wants(table) {
            self.output.fixed(table, row).await?;
        }
        Ok(())
    }

    /// Leaves a fixed table out of the run (the integration lacks the capability).
    pub(super) async fn skip(&mut self, table: FixedTable) -> Result<(), SyncError> {
        if !self.skipped.contains(&table) {
            self.skipped.push(table);
            self.output.skip(table).await?;
        }
        Ok(())
    }

    /// Updates the progress line.
    pub(super) fn tick(&mut self) {
        let stats = self.client.stats();
        self.progress.bar.set_message(format!(
            "pages {}  blocks {}  requests {}  retries {}",
            self.progress.pages, self.progress.blocks, stats.total_requests, stats.retries
        ));
    }
}

/// Data sources and databases known to the run, and those waiting to be extracted.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Databases already recorded.
    pub databases: HashSet<String>,
    /// Data sources already extracted.
    pub sources: HashSet<String>,
    /// Data sources waiting to be extracted.
    pub pending: Vec<DataSourceRef>,
}

impl Known {
    /// Queues the data sources not extracted yet.
    pub fn queue(&mut self, sources: Vec<DataSourceRef>) {
        let new = sources
            .into_iter()
            .filter(|s| !self.sources.contains(&s.id));
        self.pending.extend(new);
    }
}
