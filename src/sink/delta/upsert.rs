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
use deltalake::kernel::{Action, AddCDCFile, Remove};
use deltalake::protocol::DeltaOperation;
use futures::TryStreamExt;
use parquet::arrow::ProjectionMask;
// parquet 59 deprecates ParquetObjectReader in favour of a hand-written AsyncFileReader over
// object_store; it still reads ranges through the lake's own store, which is what this needs.
#[allow(deprecated)]
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};

use super::{add_action, delta_error};
use crate::sink::{Lake, ParquetOptions, SinkError, TableWriter};

/// Changed rows up to which a table is upserted here rather than by deltalake's MERGE.
pub const UPSERT_MAX_ROWS: usize = 20_000;

/// File numbers of the run's rewritten copies (100 per copied file) and of its new rows: the
/// staged files of the run count from 0 in the same directory, and every name keeps the form
/// `part-<run>-<seq>.parquet` that ties a file to its run.
const COPIES_SEQ: usize = 100_000;
const NEW_ROWS_SEQ: usize = 90_000;

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

/// The run's rows, ready to compare with the table's.
struct Prepared {
    schema: SchemaRef,
    source: RecordBatch,
    source_keys: StringArray,
    by_key: HashMap<String, usize>,
    /// Columns compared (all but the run's own).
    content: Vec<usize>,
    converter: RowConverter,
    source_rows: arrow::row::Rows,
    edited: usize,
}

/// What rewriting the table's files found and wrote.
#[derive(Default)]
struct Outcome {
    changes: Changes,
    /// Files replaced by their copies: (path, size).
    removed: Vec<(String, i64)>,
    /// The copies.
    data: Vec<crate::sink::WrittenFile>,
    /// Source rows that matched a target row (updates or no-ops: not inserts).
    settled: HashSet<usize>,
    /// Source rows that replace a target row.
    updated_rows: Vec<usize>,
    deleted: usize,
}

/// What becomes of one batch of a file.
struct Classified {
    keep: BooleanArray,
    gone: Vec<usize>,
    before: Vec<usize>,
    after: Vec<usize>,
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
        let p = self.prepare(Arc::new(schema), &source)?;
        let files: Vec<(String, i64)> = snapshot
            .log_data()
            .iter()
            .map(|f| (f.path().to_string(), f.size()))
            .collect();
        let mut out = Outcome::default();
        for (n, (path, size)) in files.iter().enumerate() {
            self.rewrite_file(&p, path, *size, n, &mut out).await?;
        }
        let inserts: Vec<usize> = (0..p.source.num_rows())
            .filter(|i| !out.settled.contains(i) && p.source_keys.is_valid(*i))
            .collect();
        if out.removed.is_empty() && inserts.is_empty() {
            return Ok(None);
        }
        let new_rows = take(&p.source, &out.updated_rows, dir)?;
        let inserted = take(&p.source, &inserts, dir)?;
        let mut writer = TableWriter::new(
            self.lake,
            dir,
            "",
            self.run_id,
            p.schema.clone(),
            self.parquet.clone(),
        )
        .starting_at(NEW_ROWS_SEQ);
        writer.write(&new_rows).await?;
        writer.write(&inserted).await?;
        out.data.extend(writer.finish().await?.files);
        let updated = new_rows.num_rows();
        out.changes.feed.push(("update_postimage", new_rows));
        out.changes.feed.push(("insert", inserted.clone()));
        let cdc = self.write_feed(&p.schema, out.changes).await?;
        let actions = self.actions(&out.data, cdc, &out.removed).await?;
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
        Ok(Some((version, inserted.num_rows(), updated, out.deleted)))
    }

    fn prepare(&self, schema: SchemaRef, source: &[RecordBatch]) -> Result<Prepared, SinkError> {
        let dir = self.dir;
        let source: Vec<RecordBatch> = source
            .iter()
            .map(|b| conform(b, &schema, dir))
            .collect::<Result<_, _>>()?;
        let source = concat_batches(&schema, &source).map_err(|e| err(dir, e))?;
        let source_keys = keys(&source, self.key, dir)?;
        let by_key: HashMap<String, usize> = source_keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((k?.to_string(), i)))
            .collect();
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
        let columns: Vec<ArrayRef> = content.iter().map(|i| source.column(*i).clone()).collect();
        let source_rows = converter
            .convert_columns(&columns)
            .map_err(|e| err(dir, e))?;
        let edited = schema.index_of(self.edited).map_err(|e| err(dir, e))?;
        Ok(Prepared {
            schema,
            source,
            source_keys,
            by_key,
            content,
            converter,
            source_rows,
            edited,
        })
    }

    /// Copies file `path` without the rows the run replaces or deletes, when it holds any;
    /// a file with none keeps its place in the table and its copy is dropped.
    async fn rewrite_file(
        &self,
        p: &Prepared,
        path: &str,
        size: i64,
        n: usize,
        out: &mut Outcome,
    ) -> Result<(), SinkError> {
        let dir = self.dir;
        let object = self.lake.path(&format!("{dir}/{path}"));
        if !self.holds_a_key(&object, &p.by_key).await? {
            return Ok(());
        }
        let mut writer = TableWriter::new(
            self.lake,
            dir,
            "",
            self.run_id,
            p.schema.clone(),
            self.parquet.clone(),
        )
        .starting_at(COPIES_SEQ + n * 100);
        let mut stream = self.reader(&object, None).await?;
        let mut feed = Vec::new();
        let (mut gone, mut after) = (0, Vec::new());
        while let Some(batch) = stream.try_next().await.map_err(|e| err(dir, e))? {
            let batch = conform(&batch, &p.schema, dir)?;
            let c = self.classify(p, &batch, &mut out.settled)?;
            writer
                .write(&filter_record_batch(&batch, &c.keep).map_err(|e| err(dir, e))?)
                .await?;
            gone += c.gone.len();
            after.extend(c.after);
            feed.push(("delete", take(&batch, &c.gone, dir)?));
            feed.push(("update_preimage", take(&batch, &c.before, dir)?));
        }
        let copy = writer.finish().await?;
        if gone == 0 && after.is_empty() {
            for f in copy.files {
                self.lake.delete_path(&f.path).await?;
            }
            return Ok(());
        }
        out.removed.push((path.to_string(), size));
        out.data.extend(copy.files);
        out.changes.feed.extend(feed);
        out.updated_rows.extend(after);
        out.deleted += gone;
        Ok(())
    }

    /// Decides each row of a batch: kept, deleted, or replaced by a (changed, not older) row
    /// of the run. Only the rows the run changed are compared, in Arrow's row format.
    fn classify(
        &self,
        p: &Prepared,
        batch: &RecordBatch,
        settled: &mut HashSet<usize>,
    ) -> Result<Classified, SinkError> {
        let dir = self.dir;
        let target_keys = keys(batch, self.key, dir)?;
        let candidates: Vec<usize> = (0..batch.num_rows())
            .filter(|i| target_keys.is_valid(*i) && p.by_key.contains_key(target_keys.value(*i)))
            .collect();
        let picked = take(batch, &candidates, dir)?;
        let columns: Vec<ArrayRef> = p
            .content
            .iter()
            .map(|i| picked.column(*i).clone())
            .collect();
        let target_rows = p
            .converter
            .convert_columns(&columns)
            .map_err(|e| err(dir, e))?;
        let position: HashMap<usize, usize> = candidates
            .iter()
            .enumerate()
            .map(|(at, i)| (*i, at))
            .collect();
        let mut keep = Vec::with_capacity(batch.num_rows());
        let (mut gone, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..batch.num_rows() {
            let k = target_keys.is_valid(i).then(|| target_keys.value(i));
            let replace = match k.map(|k| (self.deleted.contains(k), p.by_key.get(k))) {
                Some((true, _)) => {
                    gone.push(i);
                    true
                }
                Some((false, Some(&s))) => {
                    settled.insert(s);
                    let older = newer(batch, &p.source, p.edited, i, s);
                    let same = position
                        .get(&i)
                        .is_some_and(|at| target_rows.row(*at) == p.source_rows.row(s));
                    let replace = !older && !same;
                    if replace {
                        before.push(i);
                        after.push(s);
                    }
                    replace
                }
                _ => false,
            };
            keep.push(!replace);
        }
        Ok(Classified {
            keep: BooleanArray::from(keep),
            gone,
            before,
            after,
        })
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
            self.run_id,
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
            actions.push(Action::Add(add_action(self.lake, self.dir, f, now).await?));
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
