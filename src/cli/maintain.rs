//! `notionlake optimize` and `notionlake vacuum`: upkeep of a Delta lake's tables, each under
//! the lake lock so that it never runs beside a sync.

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
/// before each table), and returns what each returned.
async fn each_table<T, F, Fut>(location: &str, command: &str, work: F) -> Result<Vec<T>, CliError>
where
    F: Fn(Lake, String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, crate::sink::SinkError>>,
{
    let lake = open_delta_lake(location).await?;
    let run_id = format!("{command}-{}", uuid::Uuid::new_v4().simple());
    let lock = LakeLock::acquire(&lake, &run_id, LOCK_TTL)
        .await
        .map_err(SyncError::from)?;
    let result = async {
        let mut out = Vec::new();
        for dir in table_dirs(&lake).await? {
            lock.ensure_held()
                .await
                .map_err(crate::state::commit::CommitError::from)?;
            if let Some(done) = work(lake.clone(), dir).await? {
                out.push(done);
            }
        }
        Ok::<_, SyncError>(out)
    }
    .await;
    lock.release().await.map_err(SyncError::from)?;
    Ok(result?)
}

/// Compacts every table's small files.
pub(super) async fn run_optimize(location: &str) -> Result<(), CliError> {
    let done = each_table(location, "optimize", |lake, dir| async move {
        maintain::optimize(&lake, &dir, &ParquetOptions::default()).await
    })
    .await?;
    for t in done {
        println!("{}: {} files -> {}", t.table, t.files_before, t.files_after);
    }
    Ok(())
}

/// Deletes files no version younger than `retain` needs.
pub(super) async fn run_vacuum(location: &str, retain: Duration) -> Result<(), CliError> {
    let done = each_table(location, "vacuum", |lake, dir| async move {
        maintain::vacuum(&lake, &dir, retain).await
    })
    .await?;
    for t in done {
        println!("{}: {} files deleted", t.table, t.files_deleted);
    }
    Ok(())
}
