//! The lake's side of a run's start and end. Before a run: data files of runs that never
//! committed (a crash or kill mid-run) are removed. After it, the commit writes, in this order,
//! so that a run stopped at any point leaves the lake as the last committed run left it:
//! 1. the data files' commit by their [`TableFormat`] (the files themselves are already written);
//! 2. the run record `_notionlake/runs/<run id>.json`, which marks the run's files committed;
//! 3. the schema registry;
//! 4. the incremental sync state.
//!
//! Each write happens only while the lake lock is still ours: a run whose lock was taken over
//! stops before the next write, and its files stay uncommitted until the next sync removes them.

use std::collections::HashSet;

use bytes::Bytes;
use futures::TryStreamExt;
use serde::Serialize;

use super::Registry;
use super::lock::{LakeLock, LockError};
use super::registry::REGISTRY_PATH;
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
        lock.ensure_held().await?;
        let started = std::time::Instant::now();
        let commits = format
            .commit_tables(lake, run.run_id, run.tables, run.changes, run.parquet)
            .await?;
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

/// The run a data file belongs to, from its name `part-<run id>-<seq>.parquet`.
fn run_of_file(name: &str) -> Option<&str> {
    name.strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".parquet"))
        .and_then(|n| n.rsplit_once('-'))
        .map(|(run, _)| run)
}

/// Deletes data files of runs that never committed: their rows are read again by the next run.
/// In a Delta lake, a file a table's log names stays (a run stopped after creating that table,
/// before its run record): the table is already committed. Returns how many files were removed.
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

/// The files of `orphans` that no Delta table's current version names.
async fn not_in_delta_logs(
    lake: &Lake,
    orphans: Vec<object_store::path::Path>,
) -> Result<Vec<object_store::path::Path>, SinkError> {
    let mut by_dir: std::collections::BTreeMap<String, Vec<object_store::path::Path>> =
        Default::default();
    let root = lake.root().to_string();
    for path in orphans {
        let full = path.to_string();
        let relative = full
            .strip_prefix(&root)
            .unwrap_or(&full)
            .trim_start_matches('/');
        let dir = relative
            .rsplit_once('/')
            .map(|(d, _)| d)
            .unwrap_or_default();
        by_dir.entry(dir.to_string()).or_default().push(path);
    }
    let mut out = Vec::new();
    for (dir, files) in by_dir {
        // Change Data Feed files are named by the log's cdc actions, not by its current files:
        // they stay (vacuum removes those no version needs).
        if dir.ends_with("/_change_data") {
            continue;
        }
        let referenced: HashSet<String> = match delta::open_table(lake, &dir).await? {
            Some(table) => delta::current_files(&table, &dir)?.into_iter().collect(),
            None => HashSet::new(),
        };
        out.extend(
            files
                .into_iter()
                .filter(|f| !f.filename().is_some_and(|n| referenced.contains(n))),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::run_of_file;

    #[test]
    fn data_files_name_their_run() {
        assert_eq!(
            run_of_file("part-20261129T100000Z-1a2b-00003.parquet"),
            Some("20261129T100000Z-1a2b")
        );
        assert_eq!(run_of_file("state.json"), None);
        assert_eq!(run_of_file("part-x.json"), None);
    }
}
