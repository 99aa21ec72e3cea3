//! Writing Parquet files into the lake: the lake's Parquet settings (zstd, bounded row groups,
//! dictionaries only where values repeat, statistics only where they prune), and
//! [`TableWriter`], which writes one table's batches as a sequence of files named by their run,
//! each visible only once complete, uploaded in bounded parts.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::{ArrowSchemaConverter, AsyncArrowWriter};
use parquet::basic::{Compression, Type as PhysicalType, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::{Lake, SinkError, StagedTable};

/// Bytes an object writer buffers before it starts a multipart upload, and the size of each
/// part: S3's minimum part size.
pub const UPLOAD_PART_BYTES: usize = 5 << 20;

/// Parts of one object uploading at once.
pub const UPLOADS_IN_FLIGHT: usize = 2;

/// The writer of one object: memory per open object stays under about
/// `UPLOAD_PART_BYTES × (1 + UPLOADS_IN_FLIGHT)` however large it grows (object_store's
/// defaults, 10 MiB parts and 8 in flight, allow 90 MiB per open file on a slow link).
pub(crate) fn upload_writer(store: Arc<dyn ObjectStore>, path: Path) -> BufWriter {
    BufWriter::with_capacity(store, path, UPLOAD_PART_BYTES).with_max_concurrency(UPLOADS_IN_FLIGHT)
}

/// Parquet settings of the lake.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Rows per row group at most.
    pub row_group_rows: usize,
    /// Buffered bytes that force a row group out early (bounds memory per open file).
    pub row_group_bytes: usize,
    /// Rows after which a file is closed and the next one started.
    pub file_rows: usize,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            row_group_rows: 65_536,
            row_group_bytes: 32 << 20,
            file_rows: 1_000_000,
        }
    }
}

/// Top-level columns whose few distinct values vary from row to row (kinds, colours, users), so a
/// dictionary pays for itself. Every other column is written plain: ids, urls and text are
/// mostly distinct, and columns constant within a file (run id, data source, table) shrink to
/// nothing under zstd without one; measured in `benches/flatten.rs`, dictionaries elsewhere cost
/// CPU and did not make the files smaller.
const DICTIONARY_COLUMNS: &[&str] = &[
    "_created_by",
    "_last_edited_by",
    "type",
    "parent_type",
    "created_by",
    "last_edited_by",
    "color",
    "mention_type",
    "reason",
    "language",
];

/// Notion property types whose columns hold few distinct values.
const DICTIONARY_PROPERTY_TYPES: &[&str] = &[
    "select",
    "multi_select",
    "status",
    "created_by",
    "last_edited_by",
];

impl ParquetOptions {
    /// The Parquet writer properties of the lake for a table of `schema`: zstd level 1 (measured
    /// in `benches/flatten.rs`: as small as level 3 on Notion rows, at about half the cost), the
    /// row-group size, and dictionary encoding only for low-cardinality columns. Text leaves
    /// (top-level or nested in lists and structs) carry no min/max statistics unless they are
    /// low-cardinality: on ids, urls and prose they prune nothing, and computing them was the
    /// largest single cost of encoding. Numbers, timestamps, booleans and low-cardinality text
    /// keep them (row-group and page pruning).
    pub fn writer_properties(&self, schema: &Schema) -> WriterProperties {
        let mut builder = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_dictionary_enabled(false)
            .set_created_by(concat!("notionlake ", env!("CARGO_PKG_VERSION")).to_string());
        let low_cardinality = |top: &str| {
            schema.field_with_name(top).is_ok_and(|field| {
                DICTIONARY_COLUMNS.contains(&top)
                    || field
                        .metadata()
                        .get("notion.type")
                        .is_some_and(|t| DICTIONARY_PROPERTY_TYPES.contains(&t.as_str()))
            })
        };
        // The Parquet leaves of the Arrow schema, nested ones included (`tags.list.element`).
        let Ok(parquet) = ArrowSchemaConverter::new().convert(schema) else {
            return builder.build();
        };
        for leaf in parquet.columns() {
            if leaf.physical_type() != PhysicalType::BYTE_ARRAY {
                continue;
            }
            let path = leaf.path().clone();
            let top = path.parts().first().map(String::as_str).unwrap_or_default();
            builder = if low_cardinality(top) {
                builder.set_column_dictionary_enabled(path, true)
            } else {
                builder.set_column_statistics_enabled(path, EnabledStatistics::None)
            };
        }
        builder.build()
    }
}

/// A file written to the lake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenFile {
    /// Object path.
    pub path: String,
    /// Rows.
    pub rows: usize,
}

/// The name of file `seq` of run `run_id` in a table directory: every file a run writes is
/// named so, which ties it to its run.
pub(crate) fn part_name(run_id: &str, seq: usize) -> String {
    format!("part-{run_id}-{seq:05}.parquet")
}

/// Writes one table's batches as a sequence of Parquet files under `dir`, named
/// `part-<run>-<seq>.parquet`. A file becomes visible only when closed.
pub struct TableWriter {
    lake: Lake,
    table_dir: String,
    dir: String,
    run_id: String,
    schema: SchemaRef,
    options: ParquetOptions,
    current: Option<(AsyncArrowWriter<BufWriter>, Path, usize)>,
    seq: usize,
    files: Vec<WrittenFile>,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("dir", &self.dir)
            .field("files", &self.files)
            .finish()
    }
}

impl TableWriter {
    /// A writer of files with `schema` in partition `partition` (`sync_date=YYYY-MM-DD`) of the
    /// table whose directory is `table_dir` (relative to the lake root).
    pub fn new(
        lake: &Lake,
        table_dir: &str,
        partition: &str,
        run_id: &str,
        schema: SchemaRef,
        options: ParquetOptions,
    ) -> TableWriter {
        TableWriter {
            lake: lake.clone(),
            table_dir: table_dir.to_string(),
            dir: format!("{table_dir}/{partition}"),
            run_id: run_id.to_string(),
            schema,
            options,
            current: None,
            seq: 0,
            files: Vec::new(),
        }
    }

    /// Numbers this writer's files from `seq` (`part-<run>-<seq>.parquet`), so that a second
    /// writer of the same run and directory names its files apart from the first's.
    pub fn starting_at(mut self, seq: usize) -> TableWriter {
        self.seq = seq;
        self
    }

    /// Appends a batch (empty batches are ignored).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.current.is_none() {
            self.open()?;
        }
        let Some((writer, path, rows)) = self.current.as_mut() else {
            return Ok(());
        };
        writer
            .write(batch)
            .await
            .map_err(|source| SinkError::Parquet {
                path: path.to_string(),
                source,
            })?;
        *rows += batch.num_rows();
        if writer.in_progress_size() >= self.options.row_group_bytes {
            writer.flush().await.map_err(|source| SinkError::Parquet {
                path: path.to_string(),
                source,
            })?;
        }
        if *rows >= self.options.file_rows {
            self.close_current().await?;
        }
        Ok(())
    }

    fn open(&mut self) -> Result<(), SinkError> {
        let path = self.lake.path(&format!(
            "{}/{}",
            self.dir,
            part_name(&self.run_id, self.seq)
        ));
        self.seq += 1;
        let object = upload_writer(self.lake.store(), path.clone());
        let writer = AsyncArrowWriter::try_new(
            object,
            self.schema.clone(),
            Some(self.options.writer_properties(&self.schema)),
        )
        .map_err(|source| SinkError::Parquet {
            path: path.to_string(),
            source,
        })?;
        self.current = Some((writer, path, 0));
        Ok(())
    }

    async fn close_current(&mut self) -> Result<(), SinkError> {
        if let Some((writer, path, rows)) = self.current.take() {
            writer.close().await.map_err(|source| SinkError::Parquet {
                path: path.to_string(),
                source,
            })?;
            self.files.push(WrittenFile {
                path: path.to_string(),
                rows,
            });
        }
        Ok(())
    }

    /// Closes the open file and returns every file written, staged for the commit. A table that
    /// received no rows still gets one empty file, so that its schema is readable.
    pub async fn finish(mut self) -> Result<StagedTable, SinkError> {
        if self.files.is_empty() && self.current.is_none() {
            let empty = RecordBatch::new_empty(self.schema.clone());
            self.open()?;
            if let Some((writer, path, _)) = self.current.as_mut() {
                writer
                    .write(&empty)
                    .await
                    .map_err(|source| SinkError::Parquet {
                        path: path.to_string(),
                        source,
                    })?;
            }
        }
        self.close_current().await?;
        Ok(StagedTable {
            table_dir: self.table_dir,
            schema: self.schema,
            files: self.files,
        })
    }
}
