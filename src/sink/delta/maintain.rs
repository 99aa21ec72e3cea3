//! Upkeep of a Delta lake: compaction of small files (`notionlake optimize`, and by a sync
//! itself past [`AUTO_COMPACT_FILES`] small files in a table) and removal of files no current
//! version needs (`notionlake vacuum --retain`).
//!
//! Every incremental sync adds at least one file to each table it changes (a MERGE rewrites
//! only the files holding changed rows and writes the new rows to a new file). A lake synced
//! every 5 minutes would otherwise gather about 100,000 files a year per busy table; with
//! automatic compaction a table holds at most [`AUTO_COMPACT_FILES`] small files plus its
//! compacted ones, so readers open a handful of files whatever the lake's age.

use std::num::NonZeroU64;

use deltalake::DeltaTable;
use deltalake::operations::vacuum::VacuumMode;

use super::{delta_error, open_table};
use crate::sink::{Lake, ParquetOptions, SinkError};

/// A file under this size counts as small.
pub const SMALL_FILE_BYTES: i64 = 16 << 20;

/// Small files a table may hold before a sync compacts it.
pub const AUTO_COMPACT_FILES: usize = 32;

/// The size optimize aims each compacted file at.
pub const TARGET_FILE_BYTES: u64 = 128 << 20;

/// What compacting a table did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Compacted {
    /// The table's directory.
    pub table: String,
    /// Files before.
    pub files_before: usize,
    /// Files after.
    pub files_after: usize,
}

/// What vacuuming a table did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Vacuumed {
    /// The table's directory.
    pub table: String,
    /// Files deleted.
    pub files_deleted: usize,
}

/// The small files of a table's current version.
pub fn small_files(table: &DeltaTable) -> usize {
    table.snapshot().map_or(0, |s| {
        s.log_data()
            .iter()
            .filter(|f| f.size() < SMALL_FILE_BYTES)
            .count()
    })
}

fn file_count(table: &DeltaTable) -> usize {
    table.snapshot().map_or(0, |s| s.log_data().num_files())
}

/// Compacts the table's small files into files of about [`TARGET_FILE_BYTES`] (one commit
/// that removes them and adds the compacted ones; no row changes, so Change Data Feed shows
/// nothing).
pub async fn compact(
    table: DeltaTable,
    table_dir: &str,
    parquet: &ParquetOptions,
) -> Result<(DeltaTable, Compacted), SinkError> {
    let files_before = file_count(&table);
    let schema = table
        .snapshot()
        .ok()
        .and_then(|s| {
            use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
            let arrow: Result<arrow::datatypes::Schema, _> = s.schema().as_ref().try_into_arrow();
            arrow.ok()
        })
        .unwrap_or_else(arrow::datatypes::Schema::empty);
    let (table, _metrics) = table
        .optimize()
        .with_target_size(NonZeroU64::new(TARGET_FILE_BYTES).unwrap_or(NonZeroU64::MIN))
        .with_writer_properties(parquet.writer_properties(&schema))
        .await
        .map_err(|e| delta_error(table_dir, e))?;
    let files_after = file_count(&table);
    Ok((
        table,
        Compacted {
            table: table_dir.to_string(),
            files_before,
            files_after,
        },
    ))
}

/// Compacts the table when it holds more than [`AUTO_COMPACT_FILES`] small files.
pub async fn compact_if_needed(
    table: DeltaTable,
    table_dir: &str,
    parquet: &ParquetOptions,
) -> Result<Option<Compacted>, SinkError> {
    if small_files(&table) <= AUTO_COMPACT_FILES {
        return Ok(None);
    }
    let (_, done) = compact(table, table_dir, parquet).await?;
    tracing::info!(
        table = table_dir,
        before = done.files_before,
        after = done.files_after,
        "compacted small files"
    );
    Ok(Some(done))
}

/// Compacts the table in `table_dir` (if it is a Delta table).
pub async fn optimize(
    lake: &Lake,
    table_dir: &str,
    parquet: &ParquetOptions,
) -> Result<Option<Compacted>, SinkError> {
    let Some(table) = open_table(lake, table_dir).await? else {
        return Ok(None);
    };
    Ok(Some(compact(table, table_dir, parquet).await?.1))
}

/// Deletes the files of the table in `table_dir` that no version newer than `retain` ago
/// needs: files removed from the table (by merges, deletes, compaction) and files no version
/// ever named (left by an interrupted sync). Versions older than that can no longer be read.
pub async fn vacuum(
    lake: &Lake,
    table_dir: &str,
    retain: std::time::Duration,
) -> Result<Option<Vacuumed>, SinkError> {
    let Some(table) = open_table(lake, table_dir).await? else {
        return Ok(None);
    };
    let retain = chrono::Duration::from_std(retain).unwrap_or(chrono::Duration::MAX);
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(retain)
        .with_enforce_retention_duration(false)
        .with_mode(VacuumMode::Full)
        .await
        .map_err(|e| delta_error(table_dir, e))?;
    Ok(Some(Vacuumed {
        table: table_dir.to_string(),
        files_deleted: metrics.files_deleted.len(),
    }))
}
