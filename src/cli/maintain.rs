//! `notionlake optimize` and `notionlake vacuum`: upkeep of a Delta lake's tables (and vacuum's
//! of the stored Notion-hosted files no reference uses), each under the lake lock so that it
//! never runs beside a sync.

use std::time::Duration;

use super::*;
use crate::sink::delta::{maintain, table_dirs};
use crate::sink::{Lake, ParquetOptions, TableFormat};
use crate::state::lock::{LOCK_TTL, LakeLock};
use crate::sync::SyncError;

async fn open_delta_lake(location: &str) -> Result<Lake, CliError> {
    let lake = Lake::open_existing(location, &[]).map_err(SyncError::from)?;
    match TableFormat::of_lake(&lake).await.map_err(SyncError::from)? {
        Some(TableFormat::Delta) => Ok(lake),
        other => Err(CliError::Shell(format!(
            "the lake at {location} holds {} tables; optimize and vacuum work on Delta lakes (sync a new lake with --format delta)",
            other.map_or("no", TableFormat::name)
        ))),
    }
}

/// Runs `work` on every Delta table of the lake at `location`, holding the lake lock (checked
/// before each table), and returns what each returned, with the lake (still locked by `lock`)
/// for the command's last step.
async fn each_table<T, F, Fut>(lake: &Lake, lock: &LakeLock, work: F) -> Result<Vec<T>, SyncError>
where
    F: Fn(Lake, String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, crate::sink::SinkError>>,
{
    let mut out = Vec::new();
    for dir in table_dirs(lake).await? {
        lock.ensure_held()
            .await
            .map_err(crate::state::commit::CommitError::from)?;
        if let Some(done) = work(lake.clone(), dir).await? {
            out.push(done);
        }
    }
    Ok(out)
}

/// Runs `work` on the Delta lake at `location` under its lock (released whatever happened).
async fn locked<T, F, Fut>(location: &str, command: &str, work: F) -> Result<T, CliError>
where
    F: FnOnce(Lake, LakeLock) -> Fut,
    Fut: std::future::Future<Output = (LakeLock, Result<T, SyncError>)>,
{
    let lake = open_delta_lake(location).await?;
    let run_id = format!("{command}-{}", uuid::Uuid::new_v4().simple());
    let lock = LakeLock::acquire(&lake, &run_id, LOCK_TTL)
        .await
        .map_err(SyncError::from)?;
    let (lock, result) = work(lake, lock).await;
    lock.release().await.map_err(SyncError::from)?;
    Ok(result?)
}

/// Compacts every table's small files.
pub(super) async fn run_optimize(location: &str) -> Result<(), CliError> {
    let done = locked(location, "optimize", |lake, lock| async move {
        let done = each_table(&lake, &lock, |lake, dir| async move {
            maintain::optimize(&lake, &dir, &ParquetOptions::default()).await
        })
        .await;
        (lock, done)
    })
    .await?;
    for t in done {
        println!("{}: {} files -> {}", t.table, t.files_before, t.files_after);
    }
    Ok(())
}

/// Deletes files no version younger than `retain` needs, then the stored Notion-hosted files
/// no reference has used for `retain`.
pub(super) async fn run_vacuum(location: &str, retain: Duration) -> Result<(), CliError> {
    let (done, files) = locked(location, "vacuum", |lake, lock| async move {
        let result = async {
            // The stored files first: their references are read from the current tables.
            let used = used_files(&lake).await?;
            lock.ensure_held()
                .await
                .map_err(crate::state::commit::CommitError::from)?;
            let files =
                crate::files::vacuum::vacuum_files(&lake, &used, retain, chrono::Utc::now())
                    .await?;
            let done = each_table(&lake, &lock, |lake, dir| async move {
                maintain::vacuum(&lake, &dir, retain).await
            })
            .await?;
            Ok((done, files))
        }
        .await;
        (lock, result)
    })
    .await?;
    for t in done {
        println!("{}: {} files deleted", t.table, t.files_deleted);
    }
    println!(
        "stored Notion files: {} removed ({} bytes), {} unused waiting for the retention to end",
        files.removed, files.bytes, files.waiting
    );
    Ok(())
}

/// The SHA-256s the lake's `files` table lists (none without the table).
async fn used_files(lake: &Lake) -> Result<std::collections::HashSet<String>, SyncError> {
    let ctx = datafusion::prelude::SessionContext::new();
    let read = |e: datafusion::error::DataFusionError| {
        SyncError::Internal(format!("reading the files table: {e}"))
    };
    let tables = crate::shell::register_tables(&ctx, lake, Some(&["files"]))
        .await
        .map_err(read)?;
    if tables.is_empty() {
        return Ok(Default::default());
    }
    let rows = crate::shell::json_rows(
        &ctx,
        "SELECT DISTINCT sha256 FROM files WHERE sha256 IS NOT NULL",
    )
    .await
    .map_err(read)?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get("sha256")?.as_str().map(str::to_string))
        .collect())
}
