//! Checkpoints: a long run commits its progress in segments, so that a killed or stopped run
//! loses at most the work since its last checkpoint, and the cheap tables are queryable long
//! before the content crawl ends. A checkpoint, taken at a safe point (between two query pages
//! of a data source, between two crawled pages, between the steps of the run), commits:
//! - what the segment wrote, as ordinary commits of its tables (readers only ever see whole
//!   rows), named by the segment's id, with the segment's run record (`status: checkpoint`);
//! - the registry, and the state with a [`ResumePoint`]: the data sources done and the one in
//!   progress (from its last `created_time`), the pages whose content is still to read (with
//!   their document heads), the child pages to retrieve, the changed rows whose dependents are
//!   still to read, the webhook event batches in use (left pending: the resumed run reads them
//!   again), and every page the run saw (a full refresh finds deletions from them).
//!
//! The next run resumes from the last checkpoint instead of starting over; its run's last
//! commit clears the resume point. Checkpoints are taken:
//! - once every data source's rows are read, before waiting for the content crawl, when the
//!   crawl has more than [`TABLES_FIRST_PAGES`] pages to read;
//! - every [`DEFAULT_CHECKPOINT_EVERY`] (`--checkpoint-every`) at the next safe point;
//! - when the run is asked to stop ([`StopSignal`]): it stops issuing requests, checkpoints, and
//!   ends with [`SyncError::Stopped`].
//!
//! Runs restricted to roots or databases commit in one go (their marks cover more than they
//! read).

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::context::Run;
use super::error::SyncError;
use super::output::{Segment, Written};
use super::report::{RunStatus, SyncReport};
use crate::flatten::RunInfo;
use crate::flatten::fixed::own_tables;
use crate::sink::StagedTable;
use crate::state::commit::{RunCommit, commit};
use crate::state::resume::{PendingPage, ResumePoint};
use crate::state::run_id::new_run_id;

/// How often a long run checkpoints by default.
pub const DEFAULT_CHECKPOINT_EVERY: Duration = Duration::from_secs(5 * 60);

/// How long `sync` gives itself, once asked to stop (SIGTERM, SIGINT), to checkpoint before it
/// exits anyway: under the 30 s Kubernetes grants a pod by default.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(25);

/// The exit code of a run that stopped because it was asked to (its progress is committed; the
/// next run resumes it): EX_TEMPFAIL, which schedulers can tell apart from a failure (1).
pub const EXIT_STOPPED: i32 = 75;

/// Pages the content crawl still has to read past which the tables are committed before it.
pub const TABLES_FIRST_PAGES: usize = 500;

/// Asks a running sync to stop (see [`StopSignal`]).
#[derive(Debug, Clone)]
pub struct StopHandle(std::sync::Arc<watch::Sender<bool>>);

impl StopHandle {
    /// Asks the sync to stop.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

/// What a sync watches to know it is asked to stop.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    /// A signal and its handle.
    pub fn new() -> (StopHandle, StopSignal) {
        let (tx, rx) = watch::channel(false);
        (StopHandle(std::sync::Arc::new(tx)), StopSignal(rx))
    }

    /// Whether a stop was asked.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until a stop is asked (forever if it never is).
    pub async fn stopped(mut self) {
        if self.0.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `f`'s output, or `None` when `stop` fires first.
pub(super) async fn or_stop<F: std::future::Future>(
    stop: Option<&StopSignal>,
    f: F,
) -> Option<F::Output> {
    match stop {
        None => Some(f.await),
        Some(s) => {
            let s = s.clone();
            tokio::select! {
                out = f => Some(out),
                () = s.stopped() => None,
            }
        }
    }
}

/// The segment a run is writing.
#[derive(Debug, Clone)]
pub(super) struct SegmentState {
    /// Segments of the run committed before this one.
    pub number: u32,
    /// Its id (names its files and its run record).
    pub id: String,
    /// When it started.
    pub since: Instant,
    /// The `_synced_at` its rows carry (µs).
    pub synced_at: i64,
}

impl SegmentState {
    /// The first segment of a run: named by the run.
    pub fn first(run_id: &str, number: u32, synced_at: i64) -> SegmentState {
        SegmentState {
            number,
            id: run_id.to_string(),
            since: Instant::now(),
            synced_at,
        }
    }

    /// The segment after this one: a new id, rows stamped later than this one's.
    fn next(&self) -> SegmentState {
        let now = chrono::Utc::now();
        SegmentState {
            number: self.number + 1,
            id: new_run_id(now),
            since: Instant::now(),
            synced_at: now.timestamp_micros().max(self.synced_at + 1),
        }
    }
}

/// What a resumed run started from.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq, Eq)]
pub struct Resumed {
    /// The last segment the interrupted run committed.
    pub from: String,
    /// Pages whose content was left to read then.
    pub pages_left: usize,
    /// Data sources whose rows were all read then.
    pub sources_done: usize,
}

impl Run<'_> {
    /// Whether this run may checkpoint.
    pub(super) fn checkpoints(&self) -> bool {
        !self.mode.restricted
    }

    /// Whether the run was asked to stop.
    pub(super) fn stop_requested(&self) -> bool {
        self.options
            .stop
            .as_ref()
            .is_some_and(StopSignal::is_stopped)
    }

    /// Whether a checkpoint is due at this safe point: the interval elapsed, or a stop asked.
    pub(super) fn checkpoint_due(&self) -> bool {
        let every = self.options.checkpoint_every;
        self.checkpoints()
            && (self.stop_requested()
                || (!every.is_zero() && self.segment.since.elapsed() >= every))
    }

    /// Checkpoints if one is due; then, if the run was asked to stop, ends it.
    pub(super) async fn at_safe_point(&mut self) -> Result<(), SyncError> {
        if self.checkpoint_due() {
            self.checkpoint().await?;
        }
        self.stop_if_asked()
    }

    /// The run's end when it was asked to stop (after its checkpoint).
    pub(super) fn stop_if_asked(&self) -> Result<(), SyncError> {
        if !self.stop_requested() {
            return Ok(());
        }
        let pages_left = self
            .state
            .resume
            .as_ref()
            .map_or(0, ResumePoint::pages_left);
        Err(SyncError::Stopped {
            checkpoint: self.state.resume.as_ref().map(|r| r.last_segment.clone()),
            pages_left,
        })
    }

    /// Commits a segment (see the module documentation). Called at a safe point only: no
    /// typed table is open.
    pub(super) async fn checkpoint(&mut self) -> Result<(), SyncError> {
        if !self.checkpoints() {
            return Ok(());
        }
        self.settle_files(false).await?;
        let next = self.segment.next();
        let written = self
            .output
            .checkpoint(Segment {
                files_run_id: next.id.clone(),
                info: RunInfo {
                    run_id: self.run_id.clone(),
                    synced_at: next.synced_at,
                },
            })
            .await?;
        let resume = self.resume_point()?;
        let pages_left = resume.pages_left();
        self.state.resume = Some(resume);
        let record = self.record(&written, RunStatus::Checkpoint);
        self.commit_segment(&written, &record).await?;
        tracing::info!(
            run = %self.run_id,
            segment = %self.segment.id,
            pages_left,
            "checkpoint committed"
        );
        self.changes = Default::default();
        self.done.absorb(written);
        self.segment = next;
        self.checkpointed += 1;
        Ok(())
    }

    /// Commits the segment that wrote `written`, with its run `record`, the registry and the
    /// state: data files, then the run record, then registry and state.
    pub(super) async fn commit_segment(
        &self,
        written: &Written,
        record: &SyncReport,
    ) -> Result<(), SyncError> {
        // Rows deleted from a data-source table the segment wrote nothing to: the table is
        // committed for its deletions all the same.
        let mut tables = written.staged.clone();
        for (table, _) in &self.changes.deleted {
            let staged = StagedTable::deletions_only(table);
            if !own_tables().any(|t| t == table)
                && !tables.iter().any(|t| t.table_dir == staged.table_dir)
            {
                tables.push(staged);
            }
        }
        let segment = RunCommit {
            run_id: &self.segment.id,
            tables: &tables,
            changes: &self.changes,
            parquet: &self.options.parquet,
            record,
            registry: &self.registry,
            state: &self.state,
        };
        Ok(commit(&self.lake, self.lock, self.format, segment).await?)
    }

    /// Where the run stands now.
    fn resume_point(&self) -> Result<ResumePoint, SyncError> {
        let (pages, retrieve) = self.crawl.left().map_err(SyncError::spill)?;
        let crawl = pages
            .into_iter()
            .map(|(id, head)| {
                let head = serde_json::to_value(head).unwrap_or_default();
                PendingPage { id, head }
            })
            .collect();
        Ok(ResumePoint {
            run_id: self.run_id.clone(),
            segments: self.segment.number + 1,
            last_segment: self.segment.id.clone(),
            started_at: self.mode.started_at,
            full: self.mode.full,
            cursor: self.mode.cursor,
            sources_done: self.sources_done.clone(),
            source_from: self.source_from.clone(),
            crawl,
            retrieve,
            changed: self
                .dependents
                .as_ref()
                .map(|d| d.pending())
                .unwrap_or_default(),
            requests: self.requests_before + self.client.stats().total_requests,
            synced_at: self.segment.synced_at,
            events_in_use: self.events_in_use.clone(),
        })
    }

    /// Takes up an interrupted run where its last checkpoint left it: its sources done, the
    /// source in progress, the pages left to crawl and retrieve, the rows whose dependents
    /// are left to read.
    pub(super) fn resume(&mut self, point: ResumePoint) -> Result<(), SyncError> {
        self.resumed = Some(Resumed {
            from: point.last_segment.clone(),
            pages_left: point.pages_left(),
            sources_done: point.sources_done.len(),
        });
        tracing::warn!(
            run = %point.run_id,
            from = %point.last_segment,
            pages_left = point.pages_left(),
            "resumed from {}, {} pages left",
            point.last_segment,
            point.pages_left()
        );
        self.requests_before = point.requests;
        self.known
            .sources
            .extend(point.sources_done.iter().cloned());
        self.sources_done = point.sources_done;
        self.resume_source = point.source_from;
        for page in point.crawl {
            let head = serde_json::from_value(page.head).unwrap_or_default();
            self.crawl.crawl(page.id, &head).map_err(SyncError::spill)?;
        }
        for id in point.retrieve {
            self.crawl.retrieve(id);
        }
        if let Some(rows) = self.dependents.as_mut() {
            for (source, ids) in point.changed {
                for id in ids {
                    rows.changed(&source, &id);
                }
            }
        }
        Ok(())
    }

    /// The run record of a segment that wrote `written`.
    pub(super) fn record(&self, written: &Written, status: RunStatus) -> SyncReport {
        SyncReport {
            run_id: self.run_id.clone(),
            notionlake_version: crate::build_info::VERSION,
            notionlake_commit: crate::build_info::GIT_COMMIT,
            segment: self.segment.id.clone(),
            status,
            mode: if self.mode.full {
                "full"
            } else {
                "incremental"
            }
            .into(),
            started_at: self.mode.started_at.to_rfc3339(),
            duration_secs: self.started.elapsed().as_secs_f64(),
            tables: written.tables.clone(),
            rich_text_files: written.rich_text.clone(),
            fixed: written.fixed.clone(),
            tombstones: self.tombstones,
            skipped: self.skipped.iter().map(|t| t.name().to_string()).collect(),
            warnings: self.warnings.clone(),
            requests: self.client.stats(),
            comments_refresh: self.comments_refresh.clone(),
            clock_formulas: self.clock_formulas.clone(),
            dependents: self.dependents_report.clone(),
            events: self.events_report.clone(),
            files: self.files.as_ref().map(|k| k.report().clone()),
            resumed: self.resumed.clone(),
            checkpoints: self.checkpointed,
        }
    }
}
