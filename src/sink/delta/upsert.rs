//! The incremental commit of a data-source table or `pages`: a copy-on-write upsert of a few
//! rows, committed through deltalake's transaction API as one MERGE version with its Change
//! Data Feed files. Only the files holding a changed or deleted key are rewritten, each by
//! streaming it through our Parquet writer; the key column alone is read to find them.
//!
//! deltalake's MERGE plan (a join of the whole table against the changes, every column
//! projected per clause) cost 2.6 to 3.1 s of CPU and 395 MiB to update 100 rows spread over a
//! 100,000-row table (`benches/lake_formats.rs`); this path does the same commit with one
//! decode and one encode of the files it must rewrite. Larger changes (a full refresh) go
//! through deltalake's MERGE.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, new_null_array,
};
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use deltalake::DeltaTable;
use deltalake::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, AddCDCFile, Remove};
use deltalake::protocol::DeltaOperation;
use futures::TryStreamExt;
use parquet::arrow::ProjectionMask;
// parquet 59 deprecates ParquetObjectReader in favour of a hand-written AsyncFileReader over
// object_store; it still reads ranges through the lake's own store, which is what this needs.
#[allow(deprecated)]
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};

use super::delta_error;
use crate::sink::{Lake, ParquetOptions, SinkError, TableWriter};

/// Changed rows up to which a table is upserted here rather than by deltalake's MERGE.
pub const UPSERT_MAX_ROWS: usize = 20_000;

/// The change column of Change Data Feed files.
const CHANGE_TYPE: &str = "_change_type";

/// Columns every row carries about the run that wrote it, not about Notion.
const RUN_COLUMNS: &[&str] = &["_synced_at", "_run_id"];

/// One table's upsert.
pub(super) struct Upsert<'a> {
    /// The lake.
    pub lake: &'a Lake,
    /// The table's directory.
    pub dir: &'a str,
    /// The run (names the files).
    pub run_id: &'a str,
    /// The key column.
    pub key: &'static str,
    /// The last-edit column: an older incoming row never replaces a newer one.
    pub edited: &'static str,
    /// Keys deleted in Notion.
    pub deleted: HashSet<String>,
    /// Parquet settings.
    pub parquet: &'a ParquetOptions,
}

fn err(dir: &str, e: impl std::fmt::Display) -> SinkError {
    delta_error(dir, deltalake::DeltaTableError::Generic(e.to_string()))
}

/// `batch` with exactly the columns of `schema` (by name, cast; missing ones null).
fn conform(batch: &RecordBatch, schema: &SchemaRef, dir: &str) -> Result<RecordBatch, SinkError> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()).map_err(|e| err(dir, e)),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| err(dir, e))
}

fn keys(batch: &RecordBatch, key: &str, dir: &str) -> Result<StringArray, SinkError> {
    let column = batch
        .column_by_name(key)
        .ok_or_else(|| err(dir, format!("no {key} column")))?;
    let utf8 = cast(column, &DataType::Utf8).map_err(|e| err(dir, e))?;
    Ok(utf8.as_string::<i32>().clone())
}

/// Rows of one table's change, collected for the data and change files.
#[derive(Default)]
struct Changes {
    /// (change type, batch) pieces of the Change Data Feed.
    feed: Vec<(&'static str, RecordBatch)>,
}

impl Upsert<'_> {
    /// Upserts `source` (the run's rows; keys in `deleted` already dropped) into `table`.
    /// Returns the new version and (inserted, updated, deleted), or `None` when nothing changed.
    pub async fn run(
        self,
        table: DeltaTable,
        source: Vec<RecordBatch>,
    ) -> Result<Option<(u64, usize, usize, usize)>, SinkError> {
        let dir = self.dir;
        let snapshot = table.snapshot().map_err(|e| delta_error(dir, e))?;
        let schema: Schema = snapshot
            .schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e: arrow::error::ArrowError| err(dir, e))?;
        let schema = Arc::new(schema);
        let source: Vec<RecordBatch> = source
            .iter()
            .map(|b| conform(b, &schema, dir))
            .collect::<Result<_, _>>()?;
        let source = concat_batches(&schema, &source).map_err(|e| err(dir, e))?;
        let source_keys = keys(&source, self.key, dir)?;
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (i, k) in source_keys.iter().enumerate() {
            if let Some(k) = k {
                by_key.insert(k.to_string(), i);
            }
        }
        let content: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !RUN_COLUMNS.contains(&schema.field(*i).name().as_str()))
            .collect();
        let converter = RowConverter::new(
            content
                .iter()
                .map(|i| SortField::new(schema.field(*i).data_type().clone()))
                .collect(),
        )
        .map_err(|e| err(dir, e))?;
        let source_rows = converter
            .convert_columns(
                &content
                    .iter()
                    .map(|i| source.column(*i).clone())
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| err(dir, e))?;
        let edited_idx = schema.index_of(self.edited).map_err(|e| err(dir, e))?;

        let files: Vec<(String, i64)> = snapshot
            .log_data()
            .iter()
            .map(|f| (f.path().to_string(), f.size()))
            .collect();
        let mut writer = TableWriter::new(
            self.lake,
            dir,
            "",
            &format!("{}-u", self.run_id),
            schema.clone(),
            self.parquet.clone(),
        );
        let mut changes = Changes::default();
        let mut removed = Vec::new();
        // Source rows that replace a target row, or that a target row makes unnecessary.
        let mut settled: HashSet<usize> = HashSet::new();
        let mut updated_rows = Vec::new();
        let (mut updated, mut deleted) = (0, 0);
        for (path, size) in &files {
            let object = self.lake.path(&format!("{dir}/{path}"));
            if !self.holds_a_key(&object, &by_key).await? {
                continue;
            }
            let mut stream = self.reader(&object, None).await?;
            let mut rewritten = false;
            while let Some(batch) = stream.try_next().await.map_err(|e| err(dir, e))? {
                let batch = conform(&batch, &schema, dir)?;
                let target_keys = keys(&batch, self.key, dir)?;
                let target_rows = converter
                    .convert_columns(
                        &content
                            .iter()
                            .map(|i| batch.column(*i).clone())
                            .collect::<Vec<_>>(),
                    )
                    .map_err(|e| err(dir, e))?;
                let mut keep = Vec::with_capacity(batch.num_rows());
                let (mut gone, mut before) = (Vec::new(), Vec::new());
                for i in 0..batch.num_rows() {
                    let k = target_keys.is_valid(i).then(|| target_keys.value(i));
                    let replace = match k {
                        Some(k) if self.deleted.contains(k) => {
                            gone.push(i);
                            true
                        }
                        Some(k) => match by_key.get(k) {
                            Some(&s) => {
                                settled.insert(s);
                                let older = newer(&batch, &source, edited_idx, i, s);
                                if older || target_rows.row(i) == source_rows.row(s) {
                                    false
                                } else {
                                    before.push(i);
                                    updated_rows.push(s);
                                    true
                                }
                            }
                            None => false,
                        },
                        None => false,
                    };
                    rewritten |= replace;
                    keep.push(!replace);
                }
                let mask = BooleanArray::from(keep);
                writer
                    .write(&filter_record_batch(&batch, &mask).map_err(|e| err(dir, e))?)
                    .await?;
                deleted += gone.len();
                updated += before.len();
                changes.feed.push(("delete", take(&batch, &gone, dir)?));
                changes
                    .feed
                    .push(("update_preimage", take(&batch, &before, dir)?));
            }
            if rewritten {
                removed.push((path.clone(), *size));
            }
        }
        let inserts: Vec<usize> = (0..source.num_rows())
            .filter(|i| !settled.contains(i) && source_keys.is_valid(*i))
            .collect();
        if removed.is_empty() && inserts.is_empty() {
            // Nothing changed: the copies written are not needed.
            let staged = writer.finish().await?;
            for f in staged.files {
                self.lake.delete_path(&f.path).await?;
            }
            return Ok(None);
        }
        let new_rows = take(&source, &updated_rows, dir)?;
        let inserted = take(&source, &inserts, dir)?;
        writer.write(&new_rows).await?;
        writer.write(&inserted).await?;
        changes.feed.push(("update_postimage", new_rows));
        changes.feed.push(("insert", inserted.clone()));
        let data = writer.finish().await?;
        let cdc = self.write_feed(&schema, changes).await?;
        let actions = self.actions(&data.files, cdc, &removed).await?;
        let version = CommitBuilder::from(super::merge::commit_properties(self.run_id))
            .with_actions(actions)
            .build(
                Some(snapshot),
                table.log_store(),
                DeltaOperation::Merge {
                    predicate: None,
                    merge_predicate: Some(format!("target.{0} = source.{0}", self.key)),
                    matched_predicates: Vec::new(),
                    not_matched_predicates: Vec::new(),
                    not_matched_by_source_predicates: Vec::new(),
                },
            )
            .await
            .map_err(|e| delta_error(dir, e))?
            .version();
        Ok(Some((version, inserted.num_rows(), updated, deleted)))
    }

    #[allow(deprecated)]
    async fn reader(
        &self,
        object: &object_store::path::Path,
        only: Option<&str>,
    ) -> Result<
        parquet::arrow::async_reader::ParquetRecordBatchStream<ParquetObjectReader>,
        SinkError,
    > {
        let reader = ParquetObjectReader::new(self.lake.store(), object.clone());
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| err(self.dir, e))?;
        let builder = match only {
            Some(column) => {
                let descr = builder.metadata().file_metadata().schema_descr_ptr();
                let leaves: Vec<usize> = (0..descr.num_columns())
                    .filter(|i| {
                        descr.column(*i).path().parts().first().map(String::as_str) == Some(column)
                    })
                    .collect();
                builder.with_projection(ProjectionMask::leaves(&descr, leaves))
            }
            None => builder,
        };
        builder.build().map_err(|e| err(self.dir, e))
    }

    /// Whether the file holds a key the run changed or deleted (its key column alone is read).
    async fn holds_a_key(
        &self,
        object: &object_store::path::Path,
        by_key: &HashMap<String, usize>,
    ) -> Result<bool, SinkError> {
        let mut stream = self.reader(object, Some(self.key)).await?;
        while let Some(batch) = stream.try_next().await.map_err(|e| err(self.dir, e))? {
            let ks = keys(&batch, self.key, self.dir)?;
            if ks
                .iter()
                .flatten()
                .any(|k| by_key.contains_key(k) || self.deleted.contains(k))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Writes the Change Data Feed file of the commit (the table's columns and `_change_type`).
    async fn write_feed(
        &self,
        schema: &SchemaRef,
        changes: Changes,
    ) -> Result<Vec<crate::sink::WrittenFile>, SinkError> {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(CHANGE_TYPE, DataType::Utf8, true));
        let feed_schema = Arc::new(Schema::new(fields));
        let mut writer = TableWriter::new(
            self.lake,
            &format!("{}/_change_data", self.dir),
            "",
            &format!("{}-c", self.run_id),
            feed_schema.clone(),
            self.parquet.clone(),
        );
        for (kind, batch) in changes.feed {
            if batch.num_rows() == 0 {
                continue;
            }
            let mut columns = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![kind; batch.num_rows()])));
            let batch =
                RecordBatch::try_new(feed_schema.clone(), columns).map_err(|e| err(self.dir, e))?;
            writer.write(&batch).await?;
        }
        Ok(writer.finish().await?.files)
    }

    async fn actions(
        &self,
        data: &[crate::sink::WrittenFile],
        cdc: Vec<crate::sink::WrittenFile>,
        removed: &[(String, i64)],
    ) -> Result<Vec<Action>, SinkError> {
        let now = chrono::Utc::now().timestamp_millis();
        let prefix = format!("{}/", self.lake.path(self.dir));
        let mut actions = Vec::new();
        for (path, size) in removed {
            actions.push(Action::Remove(Remove {
                path: path.clone(),
                deletion_timestamp: Some(now),
                data_change: true,
                extended_file_metadata: Some(true),
                size: Some(*size),
                partition_values: Some(HashMap::new()),
                ..Default::default()
            }));
        }
        for f in data.iter().filter(|f| f.rows > 0) {
            let size = self.lake.size_of(&f.path).await?;
            actions.push(Action::Add(Add {
                path: f.path.strip_prefix(&prefix).unwrap_or(&f.path).to_string(),
                size,
                modification_time: now,
                data_change: true,
                stats: Some(format!("{{\"numRecords\":{}}}", f.rows)),
                ..Default::default()
            }));
        }
        for f in cdc.iter().filter(|f| f.rows > 0) {
            let size = self.lake.size_of(&f.path).await?;
            actions.push(Action::Cdc(AddCDCFile {
                path: f.path.strip_prefix(&prefix).unwrap_or(&f.path).to_string(),
                size,
                partition_values: HashMap::new(),
                data_change: false,
                tags: None,
            }));
        }
        Ok(actions)
    }
}

/// Whether target row `t` was edited later than source row `s` (then it stays).
fn newer(target: &RecordBatch, source: &RecordBatch, col: usize, t: usize, s: usize) -> bool {
    use arrow::datatypes::TimestampMicrosecondType;
    let (a, b) = (target.column(col), source.column(col));
    let (Some(a), Some(b)) = (
        a.as_primitive_opt::<TimestampMicrosecondType>(),
        b.as_primitive_opt::<TimestampMicrosecondType>(),
    ) else {
        return false;
    };
    a.is_valid(t) && b.is_valid(s) && a.value(t) > b.value(s)
}

fn take(batch: &RecordBatch, rows: &[usize], dir: &str) -> Result<RecordBatch, SinkError> {
    let indices = arrow::array::UInt32Array::from(
        rows.iter()
            .map(|r| u32::try_from(*r).unwrap_or(u32::MAX))
            .collect::<Vec<_>>(),
    );
    let columns = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &indices, None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(dir, e))?;
    RecordBatch::try_new(batch.schema(), columns).map_err(|e| err(dir, e))
}
