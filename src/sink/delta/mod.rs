//! Delta Lake tables, through the `deltalake` crate (delta-rs). Every table of a Delta lake is a
//! Delta table in its usual directory (`tables/<name>`, `pages`, `blocks`…) whose rows are the
//! state after the last sync, with Change Data Feed on, so that any engine reads the current
//! Notion state, every version, and each sync's changes without our code.
//!
//! A run writes each table's Parquet files into the table's directory first (invisible to
//! readers: no log entry names them). The commit then makes each table current in one Delta
//! commit per table ([`merge`]): a table that does not exist yet is created with those files
//! as its first version; an existing one MERGEs them in, deletes what Notion deleted, and the
//! staged files are removed. [`maintain`] compacts and vacuums; [`log_files`] tells which
//! files any version of a table's log names.

mod identity;
pub mod log_files;
pub mod maintain;
pub mod merge;
pub mod rules;
mod splice;
mod upsert;

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Schema};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::{StructField, StructType};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::TryStreamExt;
use parquet::arrow::ProjectionMask;
// parquet 59 deprecates ParquetObjectReader in favour of a hand-written AsyncFileReader over
// object_store; it still reads ranges through the lake's own store, which is what this needs.
#[allow(deprecated)]
use parquet::arrow::async_reader::{
    ParquetObjectReader, ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use url::Url;

use super::{Lake, SinkError};

/// The directory of a table's Delta log, relative to the table.
pub const DELTA_LOG_DIR: &str = "_delta_log";

/// The commit-info key that names the run of a commit.
pub const RUN_ID_KEY: &str = "notionlake.run_id";

/// A Delta operation failed on a table.
pub(crate) fn delta_error(table: &str, source: DeltaTableError) -> SinkError {
    SinkError::Delta {
        table: table.to_string(),
        source: Box::new(source),
    }
}

/// The URL of the table in `table_dir` (relative to the lake root), with a trailing slash.
pub fn table_url(lake: &Lake, table_dir: &str) -> Result<Url, SinkError> {
    let text = format!(
        "{}/{}/",
        lake.url().trim_end_matches('/'),
        lake.path(table_dir)
    );
    let mut url = Url::parse(&text).map_err(|e| SinkError::Location {
        location: text.clone(),
        message: e.to_string(),
    })?;
    // Segments as object_store stores them: `Url::parse` already percent-encodes the rest.
    url.set_path(&url.path().replace("//", "/"));
    Ok(url)
}

/// A builder of the table in `table_dir`: a local lake is reached through the table's file
/// URL, a remote one through the lake's own store (its endpoint, credentials and retries).
fn builder(lake: &Lake, table_dir: &str) -> Result<DeltaTableBuilder, SinkError> {
    let url = table_url(lake, table_dir)?;
    let builder =
        DeltaTableBuilder::from_url(url.clone()).map_err(|e| delta_error(table_dir, e))?;
    Ok(if url.scheme() == "file" {
        builder
    } else {
        builder.with_storage_backend(lake.store(), url)
    })
}

/// The Delta table in `table_dir` at its latest version, or `None` when there is none yet.
pub async fn open_table(lake: &Lake, table_dir: &str) -> Result<Option<DeltaTable>, SinkError> {
    if !is_delta_table(lake, table_dir).await? {
        return Ok(None);
    }
    let table = builder(lake, table_dir)?
        .load()
        .await
        .map_err(|e| delta_error(table_dir, e))?;
    Ok(Some(table))
}

/// A table handle whose log is not read yet (to create a table there).
pub fn new_table(lake: &Lake, table_dir: &str) -> Result<DeltaTable, SinkError> {
    builder(lake, table_dir)?
        .build()
        .map_err(|e| delta_error(table_dir, e))
}

/// The Delta schema of an Arrow schema: each field keeps its metadata, so a property column
/// carries `notion.property_id`, `notion.name` and `notion.type`.
pub fn delta_fields(table: &str, schema: &Schema) -> Result<Vec<StructField>, SinkError> {
    let delta: StructType = schema
        .try_into_kernel()
        .map_err(|e: arrow::error::ArrowError| {
            delta_error(table, DeltaTableError::Arrow { source: e })
        })?;
    Ok(delta.fields().cloned().collect())
}

/// The Add action of a file a run wrote into the table at `table_dir` (its path relative to
/// the table, its size, its row count as the file's only statistic).
pub(crate) async fn add_action(
    lake: &Lake,
    table_dir: &str,
    file: &super::WrittenFile,
    now_ms: i64,
) -> Result<deltalake::kernel::Add, SinkError> {
    let prefix = format!("{}/", lake.path(table_dir));
    Ok(deltalake::kernel::Add {
        path: file
            .path
            .strip_prefix(&prefix)
            .unwrap_or(&file.path)
            .to_string(),
        size: lake.size_of(&file.path).await?,
        modification_time: now_ms,
        data_change: true,
        stats: Some(format!("{{\"numRecords\":{}}}", file.rows)),
        ..Default::default()
    })
}

/// The paths of a staged table's files that hold rows.
pub(crate) fn files_with_rows(staged: &super::StagedTable) -> Vec<String> {
    staged
        .files
        .iter()
        .filter(|f| f.rows > 0)
        .map(|f| f.path.clone())
        .collect()
}

/// Whether the lake holds any Delta table at `table_dir`.
pub async fn is_delta_table(lake: &Lake, table_dir: &str) -> Result<bool, SinkError> {
    lake.has_objects(&format!("{table_dir}/{DELTA_LOG_DIR}"))
        .await
}

/// The directories of the lake's Delta tables, relative to the lake root: each data source's
/// (`tables/<name>`), then the workspace tables.
pub async fn table_dirs(lake: &Lake) -> Result<Vec<String>, SinkError> {
    let list = |relative: &str| {
        let path = lake.path(relative);
        let store = lake.store();
        async move {
            store
                .list_with_delimiter(Some(&path))
                .await
                .map(|l| {
                    l.common_prefixes
                        .iter()
                        .filter_map(|p| p.filename().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .map_err(|source| SinkError::Store {
                    action: "listing",
                    path: path.to_string(),
                    source,
                })
        }
    };
    let mut dirs: Vec<String> = list("tables")
        .await?
        .into_iter()
        .map(|t| format!("tables/{t}"))
        .collect();
    let top = list("").await?;
    dirs.extend(
        crate::flatten::fixed::own_tables()
            .filter(|t| top.iter().any(|d| d == t))
            .map(str::to_string),
    );
    let mut out = Vec::new();
    for dir in dirs {
        if is_delta_table(lake, &dir).await? {
            out.push(dir);
        }
    }
    Ok(out)
}

/// The store-relative file names of a table's current files (as its log names them).
pub fn current_files(table: &DeltaTable, table_dir: &str) -> Result<Vec<String>, SinkError> {
    let snapshot = table.snapshot().map_err(|e| delta_error(table_dir, e))?;
    let files = snapshot
        .log_data()
        .iter()
        .map(|f| f.path().to_string())
        .collect();
    Ok(files)
}

/// A DataFusion session that reads the lake's files (its store registered for a remote lake;
/// local files through DataFusion's own), for merge sources.
pub(crate) fn session(lake: &Lake) -> Arc<datafusion::prelude::SessionContext> {
    let ctx = datafusion::prelude::SessionContext::new();
    lake.register_store(&ctx);
    Arc::new(ctx)
}

/// A stream of the record batches of one Parquet file of the table in `table_dir` (`object`:
/// its path in the store), with every column, or only the top-level columns `only` names (with
/// their nested leaves).
#[allow(deprecated)]
pub(crate) async fn read_file(
    lake: &Lake,
    table_dir: &str,
    object: &object_store::path::Path,
    only: &[&str],
) -> Result<ParquetRecordBatchStream<ParquetObjectReader>, SinkError> {
    let failed = |e: parquet::errors::ParquetError| {
        delta_error(table_dir, DeltaTableError::Generic(e.to_string()))
    };
    let reader = ParquetObjectReader::new(lake.store(), object.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(failed)?;
    let builder = if only.is_empty() {
        builder
    } else {
        let descr = builder.metadata().file_metadata().schema_descr_ptr();
        let leaves: Vec<usize> = (0..descr.num_columns())
            .filter(|i| {
                descr
                    .column(*i)
                    .path()
                    .parts()
                    .first()
                    .is_some_and(|top| only.contains(&top.as_str()))
            })
            .collect();
        builder.with_projection(ProjectionMask::leaves(&descr, leaves))
    };
    builder.build().map_err(failed)
}

/// Whether the Parquet file `object` of the table in `table_dir` holds a row whose text
/// column `column` is one of `values` (that column alone is read).
pub(crate) async fn file_holds(
    lake: &Lake,
    table_dir: &str,
    object: &object_store::path::Path,
    column: &str,
    values: &(dyn Fn(&str) -> bool + Sync),
) -> Result<bool, SinkError> {
    let failed =
        |e: &dyn std::fmt::Display| delta_error(table_dir, DeltaTableError::Generic(e.to_string()));
    let mut stream = read_file(lake, table_dir, object, &[column]).await?;
    while let Some(batch) = stream.try_next().await.map_err(|e| failed(&e))? {
        let Some(array) = batch.column_by_name(column) else {
            return Err(failed(&format!("no {column} column")));
        };
        let text = arrow::compute::cast(array, &DataType::Utf8).map_err(|e| failed(&e))?;
        if text.as_string::<i32>().iter().flatten().any(values) {
            return Ok(true);
        }
    }
    Ok(false)
}
