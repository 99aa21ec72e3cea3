//! The seam between writing a table's data files and making them part of the table. A run
//! first writes every file ([`super::TableWriter`], nothing visible to the table's readers as
//! committed yet), then the commit hands each table's files to its [`TableFormat`] in one step,
//! before the run record is written. Delta adds each table's log entry there ([`super::delta`]);
//! plain Parquet needs none. The lake records its format in [`FORMAT_PATH`]: a sync never mixes
//! the two.

use arrow::datatypes::SchemaRef;
use bytes::Bytes;

use super::delta::merge::{RunChanges, TableCommit};
use super::{Lake, ParquetOptions, SinkError, WrittenFile};

/// Where the lake records its table format, relative to the lake root.
pub const FORMAT_PATH: &str = "_notionlake/format.json";

/// How a lake's tables are stored.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Delta Lake tables whose rows are the current Notion state, with history (Change Data
    /// Feed, time travel); read as they are by Spark, DuckDB, Trino, Polars and others.
    #[default]
    Delta,
    /// Hive-partitioned Parquet files appended by every run: a run's files belong to their
    /// table once the run record that lists them exists (files of a run without one are
    /// removed by the next sync); the latest state is a view.
    Parquet,
}

/// One table's files written by a run and not committed yet.
#[derive(Debug, Clone)]
pub struct StagedTable {
    /// The table's directory, relative to the lake root (`tables/<name>`, `pages`…).
    pub table_dir: String,
    /// The schema of every file.
    pub schema: SchemaRef,
    /// The files, in the order they were written.
    pub files: Vec<WrittenFile>,
}

impl StagedTable {
    /// A data-source table staged with no rows, only so that the commit applies the deletions
    /// the run found for it (a segment of a run may delete rows of a table it wrote nothing
    /// to).
    pub fn deletions_only(table: &str) -> StagedTable {
        StagedTable {
            table_dir: format!("tables/{table}"),
            schema: std::sync::Arc::new(arrow::datatypes::Schema::empty()),
            files: Vec::new(),
        }
    }

    /// Whether this is a [`StagedTable::deletions_only`] table.
    pub fn is_deletions_only(&self) -> bool {
        self.files.is_empty() && self.schema.fields().is_empty()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FormatRecord {
    format: TableFormat,
}

impl TableFormat {
    /// Its name (`delta`, `parquet`).
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::Delta => "delta",
            TableFormat::Parquet => "parquet",
        }
    }

    /// The partition directory of a run's files (Delta tables are not partitioned: their
    /// current rows are what matters, not the day a run wrote them).
    pub fn partition(self, day: chrono::NaiveDate) -> String {
        match self {
            TableFormat::Delta => String::new(),
            TableFormat::Parquet => {
                format!("{}={}", super::PARTITION_COLUMN, day.format("%Y-%m-%d"))
            }
        }
    }

    /// Whether committing the staged files writes anything (a transaction log entry).
    pub fn writes_on_commit(self) -> bool {
        match self {
            TableFormat::Delta => true,
            TableFormat::Parquet => false,
        }
    }

    /// Makes the staged files part of their tables, asking `guard` before each table.
    pub async fn commit_tables(
        self,
        lake: &Lake,
        run_id: &str,
        tables: &[StagedTable],
        changes: &RunChanges,
        parquet: &ParquetOptions,
        guard: &dyn super::CommitGuard,
    ) -> Result<Vec<TableCommit>, SinkError> {
        match self {
            TableFormat::Delta => {
                super::delta::merge::commit_tables(lake, run_id, tables, changes, parquet, guard)
                    .await
            }
            // The run record, written next, is what commits Parquet files.
            TableFormat::Parquet => Ok(Vec::new()),
        }
    }

    /// The format the lake records; `None` for a lake no sync wrote yet. A lake written
    /// before formats were recorded holds Parquet tables.
    pub async fn of_lake(lake: &Lake) -> Result<Option<TableFormat>, SinkError> {
        if let Some(bytes) = lake.read(FORMAT_PATH).await? {
            let record: FormatRecord =
                serde_json::from_slice(&bytes).map_err(|e| SinkError::Location {
                    location: format!("{}/{FORMAT_PATH}", lake.location()),
                    message: format!(
                        "{e}; the file should read {{\"format\": \"delta\"}} or {{\"format\": \"parquet\"}}"
                    ),
                })?;
            return Ok(Some(record.format));
        }
        if lake.has_objects("_notionlake/runs").await? {
            return Ok(Some(TableFormat::Parquet));
        }
        Ok(None)
    }

    /// Records the format in a lake.
    pub async fn record(self, lake: &Lake) -> Result<(), SinkError> {
        let json = serde_json::to_vec_pretty(&FormatRecord { format: self }).map_err(|e| {
            SinkError::Location {
                location: lake.location(),
                message: e.to_string(),
            }
        })?;
        lake.write(FORMAT_PATH, Bytes::from(json)).await
    }
}
