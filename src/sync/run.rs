//! A full sync of the workspace, step by step: the lake's starting point (registry, state,
//! uncommitted files removed, full or incremental); users; discovery; every data source into
//! its typed table and every changed page's content crawled, until neither finds anything new;
//! deletions; then the commit. The network side (this module and the steps it calls) and the
//! write side ([`super::output`]) run concurrently.

use std::time::Instant;

use super::context::{Known, Mode, Progress, Run, selected};
use super::crawl::Crawler;
use super::error::SyncError;
use super::jobs::CrawlJobs;
use super::options::SyncOptions;
use super::output::{Destination, Output};
use super::report::SyncReport;
use crate::flatten::RunInfo;
use crate::flatten::fixed::FixedTable;
use crate::flatten::markdown::Titles;
use crate::flatten::names::NameStyle;
use crate::notion::NotionClient;
use crate::sink::delta::merge::RunChanges;
use crate::sink::{Lake, TableFormat};
use crate::state::Registry;
use crate::state::commit::{RunCommit, commit, remove_uncommitted};
use crate::state::lock::LakeLock;
use crate::state::registry::REGISTRY_PATH;
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

/// Full or incremental, from the options and the previous run.
fn decide_mode(
    options: &SyncOptions,
    state: &SyncState,
    now: chrono::DateTime<chrono::Utc>,
) -> Mode {
    let selection = &options.selection;
    let full = options.full_refresh
        || state.last_run.is_none()
        || (options.full_every > 0 && state.runs_since_full + 1 >= options.full_every);
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

/// Sets up the network side: the lake's starting point and the write side.
async fn begin<'a>(
    client: &'a NotionClient,
    lake: &Lake,
    options: &'a SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    run_id: String,
) -> Result<Run<'a>, SyncError> {
    let format = format_for_run(lake, options.format).await?;
    let registry = registry_for_run(lake, options.ascii_names).await?;
    let state = load_state(lake, options.marks_in_memory).await?;
    let orphans = remove_uncommitted(lake, format).await?;
    if orphans > 0 {
        tracing::warn!(
            files = orphans,
            "removed data files of an interrupted run; this run reads their rows again"
        );
    }
    let mode = decide_mode(options, &state, now);
    // Titles are kept only for documents; a lake with no committed run has none to read.
    let titles = match selected(options, FixedTable::Documents) {
        false => Titles::new(0),
        true if state.last_run.is_none() => Titles::new(super::TITLES_IN_MEMORY),
        true => known_titles(lake).await,
    };
    let destination = Destination {
        lake: lake.clone(),
        partition: format.partition(now.date_naive()),
        info: RunInfo {
            run_id: run_id.clone(),
            synced_at: now.timestamp_micros(),
        },
        parquet: options.parquet.clone(),
    };
    let wanted = FixedTable::ALL
        .into_iter()
        .filter(|t| selected(options, *t));
    Ok(Run {
        client,
        options,
        mode,
        run_id,
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
    })
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
    let started = Instant::now();
    let mut run = begin(client, lake, options, now, run_id).await?;
    if run.tracks_dependents() {
        run.dependents = Some(Default::default());
    }
    run.read_users().await?;
    run.take_events().await?;
    let found = run.discover().await?;
    run.extract_everything(found).await?;
    run.apply_page_events().await?;
    run.apply_comment_events().await?;
    run.refresh_dependents().await?;
    run.refresh_comments().await?;
    run.note_comments_read()?;
    run.record_vanished().await?;

    let Run {
        mode,
        run_id,
        registry,
        mut state,
        output,
        progress,
        warnings,
        skipped,
        tombstones,
        format,
        mut changes,
        comments_refresh,
        clock_formulas,
        dependents_report,
        events_report,
        ..
    } = run;
    changes.complete = mode.full && !mode.restricted;
    let written = output.finish().await?;
    progress.bar.finish_and_clear();
    let mut warnings = warnings;
    warnings.extend(written.warnings);
    let report = SyncReport {
        run_id,
        mode: if mode.full { "full" } else { "incremental" }.into(),
        started_at: now.to_rfc3339(),
        duration_secs: started.elapsed().as_secs_f64(),
        tables: written.tables,
        rich_text_files: written.rich_text,
        fixed: written.fixed,
        tombstones,
        skipped: skipped.iter().map(|t| t.name().to_string()).collect(),
        warnings,
        requests: client.stats(),
        comments_refresh,
        clock_formulas,
        dependents: dependents_report,
        events: events_report,
    };
    if !mode.restricted {
        state.last_run = Some(RunMark {
            run_id: report.run_id.clone(),
            started_at: now,
            full: mode.full,
        });
        state.runs_since_full = if mode.full {
            0
        } else {
            state.runs_since_full + 1
        };
    }
    let run_commit = RunCommit {
        run_id: &report.run_id,
        tables: &written.staged,
        changes: &changes,
        parquet: &options.parquet,
        record: &report,
        registry: &registry,
        state: &state,
    };
    commit(lake, lock, format, run_commit).await?;
    // The consumed events' data is committed: their batches go (a failure leaves them for the
    // next run, which finds them in the state and removes them unread).
    if let Err(e) = crate::webhooks::log::remove_batches(lake, &state.consumed_events).await {
        tracing::warn!(
            "could not remove consumed webhook event batches ({e}); the next sync removes them"
        );
    }
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    Ok(report)
}
