//! The lake's side of a run's start and end. Before a run: data files of runs that never
//! committed (a crash or kill mid-run) are removed. After it, the commit writes, in this order,
//! so that a run stopped at any point leaves the lake as the last committed run left it:
//! 1. the data files' commit by their [`TableFormat`] (the files themselves are already written);
//! 2. the run record `_notionlake/runs/<run id>.json`, which marks the run's files committed;
//! 3. the schema registry;
//! 4. the incremental sync state.
//!
//! Each write happens only while the lake lock is still ours (checked before every table's
//! commit and every write after them): a run whose lock was taken over stops before the next
//! write, and its files stay uncommitted until the next sync removes them.

use std::collections::HashSet;

use bytes::Bytes;
use futures::TryStreamExt;
use serde::Serialize;

use super::Registry;
use super::lock::{LakeLock, LockError};
use super::registry::REGISTRY_PATH;
use super::run_id::run_of_file;
use super::sync_state::{STATE_PATH, SyncState};
use crate::sink::delta;
use crate::sink::delta::merge::RunChanges;
use crate::sink::{Lake, ParquetOptions, SinkError, StagedTable, TableFormat};
use object_store::ObjectStoreExt;

/// Where run records live, relative to the lake root.
pub const RUNS_DIR: &str = "_notionlake/runs";

/// Bytes of `state.json` serialised at a time while it is written.
const STATE_PIECE_BYTES: usize = 1 << 16;

/// A failed commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Writing the lake failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The lock was lost (or could not be refreshed) before a write.
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl CommitError {
    /// A table commit's error: the lock's own when the lock stopped it.
    fn from_sink(e: SinkError) -> CommitError {
        match e {
            SinkError::Stopped(e) => match e.downcast::<LockError>() {
                Ok(lock) => CommitError::Lock(*lock),
                Err(other) => CommitError::Sink(SinkError::Stopped(other)),
            },
            e => CommitError::Sink(e),
        }
    }
}

/// What a run commits.
#[derive(Debug)]
pub struct RunCommit<'a, R: Serialize> {
    /// The run id (names the run record).
    pub run_id: &'a str,
    /// Every table's files.
    pub tables: &'a [StagedTable],
    /// What the run found deleted or read again (Delta removes what they replace).
    pub changes: &'a RunChanges,
    /// Parquet settings of files a Delta merge rewrites.
    pub parquet: &'a ParquetOptions,
    /// The run record.
    pub record: &'a R,
    /// The schema registry after the run.
    pub registry: &'a Registry,
    /// The sync state after the run.
    pub state: &'a SyncState,
}

/// Commits a run (see the module documentation for the order).
pub async fn commit<R: Serialize>(
    lake: &Lake,
    lock: &LakeLock,
    format: TableFormat,
    run: RunCommit<'_, R>,
) -> Result<(), CommitError> {
    // Each `ensure_held` refreshes the lock (a conditional write): only before real writes.
    if format.writes_on_commit() {
        let started = std::time::Instant::now();
        let commits = format
            .commit_tables(lake, run.run_id, run.tables, run.changes, run.parquet, lock)
            .await
            .map_err(CommitError::from_sink)?;
        tracing::info!(
            tables = commits.len(),
            ms = started.elapsed().as_millis(),
            "tables committed"
        );
    }
    let record = serde_json::to_vec_pretty(run.record).expect("a run record serialises");
    lock.ensure_held().await?;
    lake.write(
        &format!("{RUNS_DIR}/{}.json", run.run_id),
        Bytes::from(record),
    )
    .await?;
    let registry = serde_json::to_vec_pretty(run.registry).expect("the registry serialises");
    lock.ensure_held().await?;
    lake.write(REGISTRY_PATH, Bytes::from(registry)).await?;
    lock.ensure_held().await?;
    lake.write_pieces(STATE_PATH, run.state.json_pieces(STATE_PIECE_BYTES))
        .await?;
    Ok(())
}

/// Deletes data files of runs that never committed: their rows are read again by the next run.
/// Only files that are provably such are removed: named as a run's staged files are
/// (`part-<run id>-<seq>.parquet`, see [`super::run_id`]) by a run with no run record, and, in a
/// Delta lake, named by no version of their table's log (a run stopped after committing a
/// table, before its run record, leaves that table committed). Every other file in a table's
/// directory (deltalake's MERGE, OPTIMIZE and append files, files older versions need) is
/// vacuum's, under its retention. Returns how many files were removed.
pub async fn remove_uncommitted(lake: &Lake, format: TableFormat) -> Result<usize, SinkError> {
    let store = lake.store();
    let runs_dir = lake.path(RUNS_DIR);
    let listing_error = |path: String| {
        move |source| SinkError::Store {
            action: "listing",
            path,
            source,
        }
    };
    let committed: HashSet<String> = store
        .list(Some(&runs_dir))
        .map_ok(|m| {
            m.location
                .filename()
                .unwrap_or_default()
                .trim_end_matches(".json")
                .to_string()
        })
        .try_collect()
        .await
        .map_err(listing_error(runs_dir.to_string()))?;
    // Streamed: only the orphans are kept, never the whole lake's listing.
    let mut listing = store.list(Some(lake.root()));
    let mut orphans = Vec::new();
    while let Some(f) = listing
        .try_next()
        .await
        .map_err(listing_error(lake.root().to_string()))?
    {
        let name = f.location.filename().unwrap_or_default();
        if run_of_file(name).is_some_and(|r| !committed.contains(r)) {
            orphans.push(f.location);
        }
    }
    drop(listing);
    if format == TableFormat::Delta {
        orphans = not_in_delta_logs(lake, orphans).await?;
    }
    for path in &orphans {
        store
            .delete(path)
            .await
            .map_err(|source| SinkError::Store {
                action: "removing",
                path: path.to_string(),
                source,
            })?;
    }
    Ok(orphans.len())
}

/// The files of `orphans` that no version of their Delta table's log names. A staged file sits
/// at its table's root, or in its `_change_data` directory for the change feed; the log names
/// it by its path relative to the table.
async fn not_in_delta_logs(
    lake: &Lake,
    orphans: Vec<object_store::path::Path>,
) -> Result<Vec<object_store::path::Path>, SinkError> {
    type Named = Vec<(String, object_store::path::Path)>;
    let mut by_table: std::collections::BTreeMap<String, Named> = Default::default();
    let root = lake.root().to_string();
    for path in orphans {
        let full = path.to_string();
        let relative = full
            .strip_prefix(&root)
            .unwrap_or(&full)
            .trim_start_matches('/');
        let (dir, file) = relative.rsplit_once('/').unwrap_or(("", relative));
        let (table, name) = match dir.strip_suffix("/_change_data") {
            Some(table) => (table, format!("_change_data/{file}")),
            None => (dir, file.to_string()),
        };
        by_table
            .entry(table.to_string())
            .or_default()
            .push((name, path));
    }
    let mut out = Vec::new();
    for (table, files) in by_table {
        let names: HashSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
        let named = if delta::is_delta_table(lake, &table).await? {
            delta::log_files::named_by_log(lake, &table, &names).await?
        } else {
            HashSet::new()
        };
        out.extend(
            files
                .into_iter()
                .filter(|(n, _)| !named.contains(n))
                .map(|(_, p)| p),
        );
    }
    Ok(out)
}
