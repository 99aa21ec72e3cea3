//! A full sync of the workspace, step by step: the lake's starting point (registry, state,
//! uncommitted files removed, full or incremental); users; discovery; every data source into
//! its typed table and every changed page's content crawled, until neither finds anything new;
//! deletions; then the commit. The network side (this module and the steps it calls) and the
//! write side ([`super::output`]) run concurrently.

use std::time::Instant;

use super::checkpoint::SegmentState;
use super::context::{Known, Mode, Progress, Run, selected};
use super::crawl::Crawler;
use super::error::SyncError;
use super::jobs::CrawlJobs;
use super::options::SyncOptions;
use super::output::{Destination, Output};
use super::report::{RunStatus, SyncReport};
use crate::flatten::RunInfo;
use crate::flatten::fixed::FixedTable;
use crate::flatten::markdown::Titles;
use crate::flatten::names::NameStyle;
use crate::notion::NotionClient;
use crate::sink::delta::merge::RunChanges;
use crate::sink::{Lake, TableFormat};
use crate::state::Registry;
use crate::state::commit::remove_uncommitted;
use crate::state::lock::LakeLock;
use crate::state::registry::REGISTRY_PATH;
use crate::state::resume::ResumePoint;
use crate::state::run_id::new_run_id;
use crate::state::sync_state::{RunMark, STATE_PATH, SyncState};

impl Run<'_> {
    /// Extracts every pending data source and crawls every changed page, until neither finds
    /// anything new; then the databases only search returned.
    async fn extract_everything(
        &mut self,
        mut found: super::discover::Discovered,
    ) -> Result<(), SyncError> {
        loop {
            while let Some(source) = self.known.pending.pop() {
                let schema = found.sources.remove(&source.id);
                self.extract_source(source, schema).await?;
                self.at_safe_point().await?;
            }
            // Cheap tables first: every data source's rows are committed before the run waits
            // for a long content crawl.
            if self.checkpointed == 0
                && self.crawl.pages_left() > super::checkpoint::TABLES_FIRST_PAGES
            {
                self.checkpoint().await?;
            }
            let databases = self.crawl_queued().await?;
            if self.options.selection.only_databases.is_empty() {
                for db in databases {
                    let sources = self.add_database(&db).await?;
                    self.known.queue(sources);
                }
            }
            if self.known.pending.is_empty() {
                break;
            }
        }
        if self.options.selection.tables {
            for (database_id, rows) in std::mem::take(&mut found.search_rows) {
                self.extract_search_rows(&database_id, rows).await?;
            }
        }
        let crawler = self.crawl.crawler();
        let (warnings, restricted) = (crawler.take_warnings(), crawler.comments_restricted());
        self.warnings.extend(warnings);
        if restricted {
            self.skip(FixedTable::Comments).await?;
        }
        Ok(())
    }
}

/// Syncs the workspace the client's token can see into the lake: a full refresh the first
/// time (and when asked, or every `full_every` runs), incrementally otherwise. Holds the lake
/// lock for the whole run.
pub async fn sync_workspace(
    client: &NotionClient,
    lake: &Lake,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    if options.content == crate::sync::ContentMode::MarkdownApi
        && client.version() < crate::notion::NotionVersion::V2025_09_03
    {
        return Err(SyncError::MarkdownApiVersion {
            version: client.version().as_str(),
        });
    }
    let now = options.now.unwrap_or_else(chrono::Utc::now);
    let run_id = new_run_id(now);
    let lock = LakeLock::acquire(lake, &run_id, options.lock_ttl).await?;
    let result = run_locked(client, lake, &lock, options, now, run_id).await;
    // The lock goes whatever happened; an error of the run wins over one of the release.
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

/// The table format of the run: the lake's, or for a new lake the one asked for (Delta by
/// default), recorded in the lake before any table is written. Asking for another format than
/// the lake's is refused.
async fn format_for_run(lake: &Lake, asked: Option<TableFormat>) -> Result<TableFormat, SyncError> {
    match (TableFormat::of_lake(lake).await?, asked) {
        (Some(have), Some(want)) if have != want => Err(SyncError::FormatMismatch {
            lake: lake.location(),
            lake_format: have.name(),
            asked: want.name(),
        }),
        (Some(have), _) => Ok(have),
        (None, asked) => {
            let format = asked.unwrap_or_default();
            format.record(lake).await?;
            Ok(format)
        }
    }
}

/// The lake's schema registry, if it has one.
async fn read_registry(lake: &Lake) -> Result<Option<Registry>, SyncError> {
    let Some(bytes) = lake.read(REGISTRY_PATH).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| SyncError::CorruptRegistry {
            path: REGISTRY_PATH.into(),
            message: e.to_string(),
        })
}

/// The registry a run plans with: the lake's, or for a new lake an empty one in the naming
/// style asked for. A lake keeps the style it was created with (a registry from before styles
/// were recorded is ASCII-named); asking for ASCII names on a Unicode-named lake is refused.
async fn registry_for_run(lake: &Lake, ascii_names: bool) -> Result<Registry, SyncError> {
    match read_registry(lake).await? {
        None => Ok(Registry {
            format: 1,
            naming: if ascii_names {
                NameStyle::Ascii
            } else {
                NameStyle::Unicode
            },
            ..Registry::default()
        }),
        Some(r) if ascii_names && r.naming != NameStyle::Ascii => Err(SyncError::NamingMismatch),
        Some(r) => Ok(r),
    }
}

/// The state of the previous run. Streamed through a temporary file rather than read whole:
/// `state.json` holds a line per page of the workspace, and its page marks spill to disk past
/// the budget.
async fn load_state(lake: &Lake, marks_in_memory: usize) -> Result<SyncState, SyncError> {
    let mut state = match lake.read_to_temp_file(STATE_PATH).await? {
        None => SyncState {
            format: 1,
            ..SyncState::default()
        },
        Some(file) => {
            let corrupt = |message: String| SyncError::CorruptState {
                path: STATE_PATH.into(),
                message,
            };
            tokio::task::spawn_blocking(move || {
                serde_json::from_reader::<_, SyncState>(std::io::BufReader::with_capacity(
                    1 << 16,
                    file,
                ))
            })
            .await
            .map_err(|e| corrupt(format!("reading it was interrupted: {e}")))?
            .map_err(|e| corrupt(e.to_string()))?
        }
    };
    state
        .pages
        .set_budget(marks_in_memory)
        .map_err(SyncError::spill)?;
    Ok(state)
}

/// [`SyncError::RecentlySynced`] when the options skip a lake synced this recently and the
/// lake's last complete run is that recent, with no interrupted run to take up.
fn recently_synced(
    options: &SyncOptions,
    state: &SyncState,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<SyncError> {
    let within = chrono::Duration::from_std(options.skip_synced_within?).ok()?;
    let last = state.last_run.as_ref()?;
    (state.resume.is_none() && now - last.started_at < within).then(|| SyncError::RecentlySynced {
        run: last.run_id.clone(),
        started_at: last.started_at,
    })
}

/// Full or incremental, from the options and the previous run.
fn decide_mode(
    options: &SyncOptions,
    state: &SyncState,
    now: chrono::DateTime<chrono::Utc>,
) -> Mode {
    let selection = &options.selection;
    let scheduled = options.trigger == super::options::RunTrigger::Scheduled;
    let full = options.full_refresh
        || state.last_run.is_none()
        || (scheduled && options.full_every > 0 && state.runs_since_full + 1 >= options.full_every);
    Mode {
        full,
        cursor: if full {
            None
        } else {
            state.cursor(options.safety_margin)
        },
        started_at: now,
        restricted: !selection.roots.is_empty() || !selection.only_databases.is_empty(),
    }
}

/// Sets up the network side: the lake's starting point and the write side; and the
/// interrupted run it takes up, if any (an interrupted run is always finished first).
async fn begin<'a>(
    client: &'a NotionClient,
    lake: &Lake,
    lock: &'a LakeLock,
    options: &'a SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    run_id: String,
) -> Result<(Run<'a>, Option<ResumePoint>), SyncError> {
    let format = format_for_run(lake, options.format).await?;
    let registry = registry_for_run(lake, options.ascii_names).await?;
    let mut state = load_state(lake, options.marks_in_memory).await?;
    if let Some(recent) = recently_synced(options, &state, now) {
        return Err(recent);
    }
    let orphans = remove_uncommitted(lake, format).await?;
    if orphans > 0 {
        tracing::warn!(
            files = orphans,
            "removed data files of an interrupted run's segment since its last checkpoint; this run reads their rows again"
        );
    }
    let resume = state.resume.take();
    let mut mode = decide_mode(options, &state, now);
    if let Some(r) = &resume {
        if mode.restricted {
            return Err(SyncError::ResumePending {
                run: r.run_id.clone(),
            });
        }
        mode = Mode {
            full: r.full,
            cursor: r.cursor,
            started_at: r.started_at,
            restricted: false,
        };
    }
    let segment = SegmentState::first(
        &run_id,
        resume.as_ref().map_or(0, |r| r.segments),
        now.timestamp_micros()
            .max(resume.as_ref().map_or(0, |r| r.synced_at + 1)),
    );
    let run_id = resume.as_ref().map_or(run_id, |r| r.run_id.clone());
    // Titles are kept only for documents; a lake with no committed run has none to read.
    let titles = match selected(options, FixedTable::Documents) {
        false => Titles::new(0),
        true if state.last_run.is_none() && resume.is_none() => {
            Titles::new(super::TITLES_IN_MEMORY)
        }
        true => known_titles(lake).await,
    };
    let destination = Destination {
        lake: lake.clone(),
        partition: format.partition(now.date_naive()),
        info: RunInfo {
            run_id: run_id.clone(),
            synced_at: segment.synced_at,
        },
        files_run_id: segment.id.clone(),
        parquet: options.parquet.clone(),
    };
    let files = super::files::keeper_for_run(client, lake, options).await?;
    let wanted = FixedTable::ALL
        .into_iter()
        .filter(|t| selected(options, *t));
    let run = Run {
        client,
        options,
        lock,
        mode,
        run_id,
        segment,
        checkpointed: 0,
        done: Default::default(),
        resumed: None,
        sources_done: Default::default(),
        source_from: None,
        resume_source: None,
        requests_before: 0,
        started: Instant::now(),
        events_in_use: Vec::new(),
        registry,
        state,
        output: Output::start(destination, wanted),
        known: Known::default(),
        crawl: CrawlJobs::new(
            Crawler::new(
                client.clone(),
                options.max_depth,
                options.comments,
                options.content,
            ),
            options.concurrency,
        ),
        progress: Progress::new(options.progress),
        warnings: Vec::new(),
        skipped: Vec::new(),
        tombstones: 0,
        format,
        changes: RunChanges::default(),
        titles,
        titles_full: false,
        crawled_ids: std::collections::HashSet::new(),
        clock_formulas: Vec::new(),
        comments_refresh: None,
        lake: lake.clone(),
        dependents: None,
        dependents_report: None,
        in_place: std::collections::HashMap::new(),
        event_comments: std::collections::BTreeSet::new(),
        event_pages: std::collections::BTreeSet::new(),
        forced_changes: std::collections::HashSet::new(),
        events_report: None,
        files,
    };
    Ok((run, resume))
}

/// Titles of the pages the lake holds, by id: documents link to pages this run may not list
/// (an incremental run lists only what changed), and `link_to_page` blocks carry no title.
/// An unreadable lake only costs the titles (links keep "Untitled"), with a warning.
async fn known_titles(lake: &Lake) -> Titles {
    let mut titles = Titles::new(super::TITLES_IN_MEMORY);
    if let Err(e) = read_titles(lake, &mut titles).await {
        tracing::warn!(
            "could not read page titles from the lake ({e}); links to pages this run does not list show as Untitled"
        );
    }
    titles
}

/// Streams the lake's page titles (most recently edited first, up to the bound) into `titles`.
async fn read_titles(
    lake: &Lake,
    titles: &mut Titles,
) -> Result<(), datafusion::error::DataFusionError> {
    use arrow::array::{Array, AsArray};
    use futures::StreamExt;
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = crate::shell::register_tables(&ctx, lake, Some(&["pages"])).await?;
    if !tables.iter().any(|t| t.name == "pages") {
        return Ok(());
    }
    let sql = format!(
        "SELECT CAST(id AS VARCHAR) AS id, CAST(title AS VARCHAR) AS title FROM pages WHERE title <> '' ORDER BY last_edited_time DESC LIMIT {}",
        super::TITLES_IN_MEMORY
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let text =
            |i: usize| arrow::compute::cast(batch.column(i), &arrow::datatypes::DataType::Utf8);
        let (ids, names) = (text(0)?, text(1)?);
        let (ids, names) = (ids.as_string::<i32>(), names.as_string::<i32>());
        for row in 0..batch.num_rows() {
            if ids.is_valid(row) && names.is_valid(row) {
                titles.insert(ids.value(row), names.value(row));
            }
        }
    }
    Ok(())
}

async fn run_locked(
    client: &NotionClient,
    lake: &Lake,
    lock: &LakeLock,
    options: &SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    run_id: String,
) -> Result<SyncReport, SyncError> {
    let (mut run, resume) = begin(client, lake, lock, options, now, run_id).await?;
    if run.tracks_dependents() {
        run.dependents = Some(Default::default());
    }
    if let Some(point) = resume {
        run.resume(point)?;
    }
    run.read_users().await?;
    run.take_events().await?;
    let found = run.discover().await?;
    run.at_safe_point().await?;
    run.extract_everything(found).await?;
    run.apply_page_events().await?;
    run.apply_comment_events().await?;
    run.at_safe_point().await?;
    run.refresh_dependents().await?;
    run.refresh_comments().await?;
    run.note_comments_read()?;
    run.record_vanished().await?;
    run.finish().await
}

impl Run<'_> {
    /// The run's last commit: the last segment's tables, the run record (`complete`), the
    /// registry, and the state with the run's mark (its resume point cleared). A full refresh
    /// committed in one segment removes every row it did not find; one committed in several
    /// removes those of the pages it found gone (tombstoned).
    async fn finish(mut self) -> Result<SyncReport, SyncError> {
        self.changes.complete = self.mode.full
            && !self.mode.restricted
            && self.checkpointed == 0
            && self.resumed.is_none();
        self.settle_files(true).await?;
        let written = self.output.finish().await?;
        self.progress.bar.finish_and_clear();
        self.warnings.extend(written.warnings.iter().cloned());
        // The events' data is in the files written; the commit follows at once.
        if let Some(events) = self.events_report.as_mut() {
            events.latency =
                super::latency::EventLatency::measure(&events.happened, chrono::Utc::now());
        }
        let record = self.record(&written, RunStatus::Complete);
        let in_use = std::mem::take(&mut self.events_in_use);
        self.state.consumed_events.extend(in_use);
        if !self.mode.restricted {
            self.state.resume = None;
            self.state.last_run = Some(RunMark {
                run_id: self.run_id.clone(),
                started_at: self.mode.started_at,
                full: self.mode.full,
            });
            self.state.runs_since_full = match (self.mode.full, self.options.trigger) {
                (true, _) => 0,
                (false, super::options::RunTrigger::Scheduled) => self.state.runs_since_full + 1,
                (false, super::options::RunTrigger::Events) => self.state.runs_since_full,
            };
        }
        self.commit_segment(&written, &record).await?;
        // The consumed events' data is committed: their batches go (a failure leaves them for
        // the next run, which finds them in the state and removes them unread).
        let consumed = &self.state.consumed_events;
        if let Err(e) = crate::webhooks::log::remove_batches(&self.lake, consumed).await {
            tracing::warn!(
                "could not remove consumed webhook event batches ({e}); the next sync removes them"
            );
        }
        for w in &record.warnings {
            tracing::warn!("{w}");
        }
        // The summary covers every segment this process committed.
        let mut summary = std::mem::take(&mut self.done);
        summary.absorb(written);
        Ok(SyncReport {
            tables: summary.tables,
            fixed: summary.fixed,
            rich_text_files: summary.rich_text,
            ..record
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_started_by_events_are_never_the_scheduled_full_refresh() {
        let now = chrono::Utc::now();
        let state = SyncState {
            last_run: Some(RunMark {
                run_id: "r".into(),
                started_at: now - chrono::Duration::minutes(5),
                full: false,
            }),
            runs_since_full: 23,
            ..SyncState::default()
        };
        let scheduled = SyncOptions {
            full_every: 24,
            ..SyncOptions::default()
        };
        assert!(decide_mode(&scheduled, &state, now).full, "the 24th run");
        let events = SyncOptions {
            trigger: super::super::RunTrigger::Events,
            ..scheduled
        };
        assert!(!decide_mode(&events, &state, now).full);
    }
}
