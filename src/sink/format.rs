//! The seam between writing a table's data files and making them part of the table. A run
//! first writes every file ([`super::TableWriter`], nothing visible to the table's readers as
//! committed yet), then the commit hands each table's files to its [`TableFormat`] in one step,
//! before the run record is written. A format with a transaction log adds its log entry there;
//! plain Parquet needs none.

use arrow::datatypes::SchemaRef;

use super::{Lake, SinkError, WrittenFile};

/// How a table's files are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableFormat {
    /// Hive-partitioned Parquet files: a run's files belong to their table once the run record
    /// that lists them exists (files of a run without one are removed by the next sync).
    #[default]
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

impl TableFormat {
    /// Whether committing the staged files writes anything (a transaction log entry).
    pub fn writes_on_commit(self) -> bool {
        match self {
            TableFormat::Parquet => false,
        }
    }

    /// Makes the staged files part of their tables.
    pub async fn commit_tables(
        self,
        _lake: &Lake,
        _run_id: &str,
        _tables: &[StagedTable],
    ) -> Result<(), SinkError> {
        match self {
            // The run record, written next, is what commits Parquet files.
            TableFormat::Parquet => Ok(()),
        }
    }
}
