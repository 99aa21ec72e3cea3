//! The incremental commit of a table: a copy-on-write upsert of a few rows, committed through
//! deltalake's transaction API as one MERGE version with its Change Data Feed files. Rows are
//! matched on the table's key; rows of the groups the run replaces (a deleted row, a re-crawled
//! page's blocks, a re-read row's formatting items) that no run row matches are deleted. The
//! group column alone is read to find the files holding such a group; each is then copied:
//! - when it loses no row and has the table's columns, column chunk by column chunk, only the
//!   columns that change re-encoded (`splice.rs`); a file whose matched rows all come back
//!   unchanged is not copied at all;
//! - otherwise row by row through our Parquet writer, without the rows that go.
//!
//! deltalake's MERGE plan (a join of the whole table against the changes, every column
//! projected per clause) cost 2.6 to 3.1 s of CPU and 395 MiB to update 100 rows spread over a
//! 100,000-row table (`benches/lake_formats.rs`). Larger changes (a full refresh) still go
//! through deltalake's MERGE. A row whose only difference is a Notion-hosted file's new
//! signature is unchanged ([`super::identity`]).

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

use super::identity::comparable;
use super::splice::{FileCopy, changed_columns};
use super::{add_action, delta_error, file_holds, read_file};
use crate::sink::{Lake, ParquetOptions, SinkError, TableWriter, part_name};

/// Changed rows up to which a table is upserted here rather than by deltalake's MERGE.
pub const UPSERT_MAX_ROWS: usize = 20_000;

/// File numbers of the run's rewritten copies (100 per copied file) and of its new rows: the
/// staged files of the run count from 0 in the same directory, and every name keeps the form
/// `part-<run>-<seq>.parquet` that ties a file to its run.
const COPIES_SEQ: usize = 100_000;
const NEW_ROWS_SEQ: usize = 90_000;

/// Decoded bytes of a file's rows held back before its copy is written: a file that turns out
/// unchanged within them is never encoded.
const UNCHANGED_BUFFER_BYTES: usize = 64 << 20;

/// Files up to this size are copied column by column when only some of their rows are
/// updated (the file is read into memory whole); larger ones row by row.
const SPLICE_MAX_BYTES: u64 = 256 << 20;

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
    /// The key columns.
    pub keys: Vec<&'static str>,
    /// The last-edit column, if any: an older incoming row never replaces a newer one.
    pub edited: Option<&'static str>,
    /// The group column (the key itself for one-row groups).
    pub group: &'static str,
    /// Groups whose rows the run replaces: a row of one of them that no run row matches is
    /// deleted (the run's own rows' groups count as replaced too).
    pub groups: HashSet<String>,
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

/// The text of column `name` of `batch`.
fn text(batch: &RecordBatch, name: &str, dir: &str) -> Result<StringArray, SinkError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| err(dir, format!("no {name} column")))?;
    let utf8 = cast(column, &DataType::Utf8).map_err(|e| err(dir, e))?;
    Ok(utf8.as_string::<i32>().clone())
}

/// `batch` with only the last row of each key, and its keys.
fn last_copies(
    batch: RecordBatch,
    names: &[&str],
    dir: &str,
) -> Result<(RecordBatch, StringArray), SinkError> {
    let all = keys(&batch, names, dir)?;
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, k) in all.iter().enumerate() {
        if let Some(k) = k {
            last.insert(k, i);
        }
    }
    let keep: BooleanArray = all
        .iter()
        .enumerate()
        .map(|(i, k)| Some(k.is_none_or(|k| last[k] == i)))
        .collect();
    if keep.true_count() == batch.num_rows() {
        return Ok((batch, all));
    }
    let kept = filter_record_batch(&batch, &keep).map_err(|e| err(dir, e))?;
    let kept_keys = keys(&kept, names, dir)?;
    Ok((kept, kept_keys))
}

/// The key of each row of `batch`: its key columns' text, joined by a unit separator (null
/// when any is null).
fn keys(batch: &RecordBatch, names: &[&str], dir: &str) -> Result<StringArray, SinkError> {
    if let [one] = names {
        return text(batch, one, dir);
    }
    let parts: Vec<StringArray> = names
        .iter()
        .map(|n| text(batch, n, dir))
        .collect::<Result<_, _>>()?;
    Ok((0..batch.num_rows())
        .map(|i| {
            let values: Option<Vec<&str>> = parts
                .iter()
                .map(|p| p.is_valid(i).then(|| p.value(i)))
                .collect();
            values.map(|v| v.join("\u{1f}"))
        })
        .collect())
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
    edited: Option<usize>,
    /// The groups the run replaces, its rows' own included.
    groups: HashSet<String>,
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
    /// Source rows that replace a target row, to be written to the run's file of new rows.
    updated_rows: Vec<usize>,
    /// Source rows that replace a target row in a spliced copy of its file (already written).
    spliced_rows: Vec<usize>,
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
        let spliced = take(&p.source, &out.spliced_rows, dir)?;
        let inserted = take(&p.source, &inserts, dir)?;
        if new_rows.num_rows() + inserted.num_rows() > 0 {
            let mut writer = self.writer(&p.schema, NEW_ROWS_SEQ);
            writer.write(&new_rows).await?;
            writer.write(&inserted).await?;
            out.data.extend(writer.finish().await?.files);
        }
        let updated = new_rows.num_rows() + spliced.num_rows();
        out.changes.feed.push(("update_postimage", new_rows));
        out.changes.feed.push(("update_postimage", spliced));
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
                    merge_predicate: Some(
                        self.keys
                            .iter()
                            .map(|k| format!("target.{k} = source.{k}"))
                            .collect::<Vec<_>>()
                            .join(" AND "),
                    ),
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

    /// The run's rows ready to compare. Staged rows are unique by key already (the write side
    /// deduplicates them); a key that still repeats keeps its last copy here too, since a second
    /// copy would otherwise be inserted as a new row.
    fn prepare(&self, schema: SchemaRef, source: &[RecordBatch]) -> Result<Prepared, SinkError> {
        let dir = self.dir;
        let source: Vec<RecordBatch> = source
            .iter()
            .map(|b| conform(b, &schema, dir))
            .collect::<Result<_, _>>()?;
        let source = concat_batches(&schema, &source).map_err(|e| err(dir, e))?;
        let (source, source_keys) = last_copies(source, &self.keys, dir)?;
        let mut groups = self.groups.clone();
        groups.extend(
            text(&source, self.group, dir)?
                .iter()
                .flatten()
                .map(str::to_string),
        );
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
        let columns: Vec<ArrayRef> = content
            .iter()
            .map(|i| comparable(source.column(*i)).map_err(|e| err(dir, e)))
            .collect::<Result<_, _>>()?;
        let source_rows = converter
            .convert_columns(&columns)
            .map_err(|e| err(dir, e))?;
        let edited = self
            .edited
            .map(|e| schema.index_of(e).map_err(|e| err(dir, e)))
            .transpose()?;
        Ok(Prepared {
            schema,
            source,
            source_keys,
            by_key,
            content,
            converter,
            source_rows,
            edited,
            groups,
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
        let replaced = |g: &str| p.groups.contains(g);
        if !file_holds(self.lake, dir, &object, self.group, &replaced).await? {
            return Ok(());
        }
        if self.splice(p, path, size, n, out).await? {
            return Ok(());
        }
        let mut writer = self.writer(&p.schema, COPIES_SEQ + n * 100);
        // Rows are kept back (decoded, not yet encoded) until the file is known to change, up
        // to UNCHANGED_BUFFER_BYTES: a file whose rows all come back unchanged is not written.
        let (mut held, mut held_bytes, mut changed) = (Vec::new(), 0, false);
        let mut stream = read_file(self.lake, dir, &object, &[]).await?;
        let mut feed = Vec::new();
        let (mut gone, mut after) = (0, Vec::new());
        while let Some(batch) = stream.try_next().await.map_err(|e| err(dir, e))? {
            let batch = conform(&batch, &p.schema, dir)?;
            let c = self.classify(p, &batch, &mut out.settled)?;
            let kept = filter_record_batch(&batch, &c.keep).map_err(|e| err(dir, e))?;
            changed |= !c.gone.is_empty() || !c.after.is_empty();
            held_bytes += kept.get_array_memory_size();
            held.push(kept);
            if changed || held_bytes > UNCHANGED_BUFFER_BYTES {
                for kept in held.drain(..) {
                    writer.write(&kept).await?;
                }
                held_bytes = 0;
            }
            gone += c.gone.len();
            after.extend(c.after);
            feed.push(("delete", take(&batch, &c.gone, dir)?));
            feed.push(("update_preimage", take(&batch, &c.before, dir)?));
        }
        let copy = writer.finish().await?;
        if !changed {
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

    /// A writer of the run's files in the table's directory, numbered from `seq`.
    fn writer(&self, schema: &SchemaRef, seq: usize) -> TableWriter {
        TableWriter::new(
            self.lake,
            self.dir,
            "",
            self.run_id,
            schema.clone(),
            self.parquet.clone(),
        )
        .starting_at(seq)
    }

    /// Copies file `path` with its updated rows replaced in place, re-encoding only the
    /// columns that change (see `splice.rs`), when the file loses no row and has the table's
    /// exact columns. Returns whether it did (or found the file unchanged); `false` leaves the
    /// file to the row-by-row copy.
    async fn splice(
        &self,
        p: &Prepared,
        path: &str,
        size: i64,
        n: usize,
        out: &mut Outcome,
    ) -> Result<bool, SinkError> {
        let dir = self.dir;
        let relative = format!("{dir}/{path}");
        if u64::try_from(size).unwrap_or(u64::MAX) > SPLICE_MAX_BYTES {
            return Ok(false);
        }
        let Some(bytes) = self.lake.read(&relative).await? else {
            return Err(err(
                dir,
                format!("{relative} is named by the log but missing"),
            ));
        };
        let Some(file) = FileCopy::open(bytes, &p.schema).map_err(|e| err(dir, e))? else {
            return Ok(false);
        };
        // Which rows the run matches, and whether any leaves the file.
        let mut columns: Vec<usize> = self
            .keys
            .iter()
            .chain([&self.group])
            .map(|c| p.schema.index_of(c).map_err(|e| err(dir, e)))
            .collect::<Result<_, _>>()?;
        columns.sort_unstable();
        columns.dedup();
        let (mut matched, mut offset) = (Vec::new(), 0);
        for batch in file.read_columns(&columns).map_err(|e| err(dir, e))? {
            let target_keys = keys(&batch, &self.keys, dir)?;
            let groups = text(&batch, self.group, dir)?;
            for i in 0..batch.num_rows() {
                let hit = target_keys
                    .is_valid(i)
                    .then(|| p.by_key.get(target_keys.value(i)))
                    .flatten();
                match hit {
                    Some(&s) => matched.push((offset + i, s)),
                    None if groups.is_valid(i) && p.groups.contains(groups.value(i)) => {
                        return Ok(false);
                    }
                    None => {}
                }
            }
            offset += batch.num_rows();
        }
        if matched.is_empty() {
            return Ok(true);
        }
        // The matched rows whole, to compare with the run's.
        let positions: Vec<usize> = matched.iter().map(|(at, _)| *at).collect();
        let old: Vec<RecordBatch> = file.read_rows(&positions).map_err(|e| err(dir, e))?;
        let old = concat_batches(&file.schema(), &old).map_err(|e| err(dir, e))?;
        let old = conform(&old, &p.schema, dir)?;
        let c = self.classify(p, &old, &mut out.settled)?;
        if c.after.is_empty() {
            return Ok(true);
        }
        let before = take(&old, &c.before, dir)?;
        let after = take(&p.source, &c.after, dir)?;
        let replaced: Vec<usize> = c.before.iter().map(|k| positions[*k]).collect();
        let changed = changed_columns(&before, &after).map_err(|e| err(dir, e))?;
        let props = self.parquet.writer_properties(&file.schema());
        let copy = file
            .splice(
                props,
                &replaced,
                &conform(&after, &file.schema(), dir)?,
                &changed,
            )
            .map_err(|e| err(dir, e))?;
        let name = format!("{dir}/{}", part_name(self.run_id, COPIES_SEQ + n * 100));
        self.lake.write(&name, copy.into()).await?;
        out.removed.push((path.to_string(), size));
        out.data.push(crate::sink::WrittenFile {
            path: self.lake.path(&name).to_string(),
            rows: file.num_rows(),
        });
        out.changes.feed.push(("update_preimage", before));
        out.spliced_rows.extend(c.after);
        Ok(true)
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
        let target_keys = keys(batch, &self.keys, dir)?;
        let target_groups = text(batch, self.group, dir)?;
        let candidates: Vec<usize> = (0..batch.num_rows())
            .filter(|i| target_keys.is_valid(*i) && p.by_key.contains_key(target_keys.value(*i)))
            .collect();
        let picked = take(batch, &candidates, dir)?;
        let columns: Vec<ArrayRef> = p
            .content
            .iter()
            .map(|i| comparable(picked.column(*i)).map_err(|e| err(dir, e)))
            .collect::<Result<_, _>>()?;
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
            let matched = target_keys
                .is_valid(i)
                .then(|| p.by_key.get(target_keys.value(i)))
                .flatten();
            let in_replaced_group =
                target_groups.is_valid(i) && p.groups.contains(target_groups.value(i));
            let replace = match matched {
                Some(&s) => {
                    settled.insert(s);
                    let older = p
                        .edited
                        .is_some_and(|col| newer(batch, &p.source, col, i, s));
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
                None if in_replaced_group => {
                    gone.push(i);
                    true
                }
                None => false,
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

#[cfg(test)]
mod tests {
    use arrow::array::StringArray;

    use super::*;
    use crate::sink::StagedTable;
    use crate::sink::Unguarded;
    use crate::sink::delta::merge::{RunChanges, commit_tables};
    use crate::sink::delta::{current_files, open_table};

    type Row = (String, String, String);

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(
            ["page_id", "id", "text"]
                .map(|n| Field::new(n, DataType::Utf8, true))
                .to_vec(),
        ))
    }

    async fn stage(lake: &Lake, run: &str, rows: &[(&str, &str, &str)]) -> StagedTable {
        let column = |at: usize| -> ArrayRef {
            Arc::new(
                rows.iter()
                    .map(|r| Some([r.0, r.1, r.2][at]))
                    .collect::<StringArray>(),
            )
        };
        let batch = RecordBatch::try_new(schema(), vec![column(0), column(1), column(2)]).unwrap();
        let mut writer =
            TableWriter::new(lake, "blocks", "", run, schema(), ParquetOptions::default());
        writer.write(&batch).await.unwrap();
        writer.finish().await.unwrap()
    }

    async fn rows_of(lake: &Lake, paths: &[String], extra: Option<&str>) -> Vec<(Row, String)> {
        let mut out = Vec::new();
        for path in paths {
            let object = lake.path(path);
            let mut stream = read_file(lake, "blocks", &object, &[]).await.unwrap();
            while let Some(batch) = stream.try_next().await.unwrap() {
                let col = |n: &str| text(&batch, n, "blocks").unwrap();
                let (p, i, t) = (col("page_id"), col("id"), col("text"));
                let e = extra.map(col);
                for r in 0..batch.num_rows() {
                    let row = (p.value(r).into(), i.value(r).into(), t.value(r).into());
                    out.push((row, e.as_ref().map_or(String::new(), |e| e.value(r).into())));
                }
            }
        }
        out.sort();
        out
    }

    /// A grouped table (blocks: key page_id + id, group page_id): a re-crawled page keeps its
    /// unchanged block in place, gets its new one, and loses the one it no longer has; another
    /// page's blocks are untouched; the change feed holds exactly the insert and the delete.
    #[tokio::test]
    async fn a_recrawled_page_replaces_its_group_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let options = ParquetOptions::default();
        let first = stage(
            &lake,
            "r1",
            &[("p1", "b1", "a"), ("p1", "b2", "b"), ("p2", "b3", "c")],
        )
        .await;
        commit_tables(
            &lake,
            "r1",
            &[first],
            &RunChanges::default(),
            &options,
            &Unguarded,
        )
        .await
        .unwrap();
        let second = stage(&lake, "r2", &[("p1", "b1", "a"), ("p1", "b4", "d")]).await;
        let changes = RunChanges {
            crawled: HashSet::from(["p1".to_string()]),
            ..RunChanges::default()
        };
        let commits = commit_tables(&lake, "r2", &[second], &changes, &options, &Unguarded)
            .await
            .unwrap();
        assert_eq!(
            (commits[0].inserted, commits[0].updated, commits[0].deleted),
            (1, 0, 1)
        );
        let table = open_table(&lake, "blocks").await.unwrap().unwrap();
        assert_eq!(table.version(), Some(1));
        let files: Vec<String> = current_files(&table, "blocks")
            .unwrap()
            .iter()
            .map(|f| format!("blocks/{f}"))
            .collect();
        let row = |p: &str, i: &str, t: &str| ((p.into(), i.into(), t.into()), String::new());
        assert_eq!(
            rows_of(&lake, &files, None).await,
            vec![
                row("p1", "b1", "a"),
                row("p1", "b4", "d"),
                row("p2", "b3", "c")
            ]
        );
        let feed_dir = dir.path().join("blocks/_change_data");
        let feed: Vec<String> = std::fs::read_dir(feed_dir)
            .unwrap()
            .map(|e| {
                format!(
                    "blocks/_change_data/{}",
                    e.unwrap().file_name().to_string_lossy()
                )
            })
            .collect();
        let with = |p: &str, i: &str, t: &str, c: &str| ((p.into(), i.into(), t.into()), c.into());
        assert_eq!(
            rows_of(&lake, &feed, Some(CHANGE_TYPE)).await,
            vec![
                with("p1", "b2", "b", "delete"),
                with("p1", "b4", "d", "insert")
            ]
        );
    }

    fn deals(rows: &[(&str, i64, f64, &str)], run: &str) -> RecordBatch {
        use arrow::array::{Float64Array, ListBuilder, StringBuilder, TimestampMicrosecondArray};
        let utc = Some(Arc::from("UTC"));
        let micros =
            |v: Vec<i64>| TimestampMicrosecondArray::from(v).with_timezone_opt(utc.clone());
        let mut tags = ListBuilder::new(StringBuilder::new());
        for r in rows {
            tags.values().append_value(r.3);
            tags.values().append_value("x");
            tags.append(true);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>()),
            Arc::new(micros(rows.iter().map(|r| r.1).collect())),
            Arc::new(rows.iter().map(|r| Some(r.2)).collect::<Float64Array>()),
            Arc::new(tags.finish()),
            Arc::new(micros(vec![1; rows.len()])),
            Arc::new(StringArray::from(vec![run; rows.len()])),
        ];
        let schema = Schema::new(vec![
            Field::new("_id", DataType::Utf8, true),
            Field::new("_last_edited_time", columns[1].data_type().clone(), true),
            Field::new("amount", DataType::Float64, true),
            Field::new("tags", columns[3].data_type().clone(), true),
            Field::new("_synced_at", columns[4].data_type().clone(), true),
            Field::new("_run_id", DataType::Utf8, true),
        ]);
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    async fn stage_deals(
        lake: &Lake,
        run: &str,
        batch: &RecordBatch,
        o: &ParquetOptions,
    ) -> StagedTable {
        let mut writer = TableWriter::new(lake, "tables/deals", "", run, batch.schema(), o.clone());
        writer.write(batch).await.unwrap();
        writer.finish().await.unwrap()
    }

    /// Rows updated in place: a file that loses no row is copied with the updated rows
    /// replaced where they were (row groups kept), no separate file of new rows is written,
    /// an unchanged or older incoming row changes nothing, and the change feed holds exactly
    /// the updated rows' two images.
    #[tokio::test]
    async fn updated_rows_are_spliced_into_a_copy_of_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let options = ParquetOptions {
            row_group_rows: 4,
            ..ParquetOptions::default()
        };
        let ids: Vec<String> = (0..10).map(|i| format!("d{i}")).collect();
        let first: Vec<(&str, i64, f64, &str)> =
            ids.iter().map(|id| (id.as_str(), 100, 1.0, "a")).collect();
        let staged = stage_deals(&lake, "r1", &deals(&first, "r1"), &options).await;
        commit_tables(
            &lake,
            "r1",
            &[staged],
            &RunChanges::default(),
            &options,
            &Unguarded,
        )
        .await
        .unwrap();
        // d1 and d7 change, d3 comes back unchanged, d5 comes with an older edit time.
        let second = [
            ("d1", 200, 2.0, "a"),
            ("d3", 100, 1.0, "a"),
            ("d5", 50, 9.0, "z"),
            ("d7", 200, 1.0, "b"),
        ];
        let staged = stage_deals(&lake, "r2", &deals(&second, "r2"), &options).await;
        let commits = commit_tables(
            &lake,
            "r2",
            &[staged],
            &RunChanges::default(),
            &options,
            &Unguarded,
        )
        .await
        .unwrap();
        assert_eq!(
            (commits[0].inserted, commits[0].updated, commits[0].deleted),
            (0, 2, 0)
        );
        let table = open_table(&lake, "tables/deals").await.unwrap().unwrap();
        let files = current_files(&table, "tables/deals").unwrap();
        assert_eq!(files, vec![part_name("r2", COPIES_SEQ)], "one spliced copy");
        let mut written: Vec<String> = std::fs::read_dir(dir.path().join("tables/deals"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("part-r2"))
            .collect();
        written.sort();
        assert_eq!(
            written,
            vec![part_name("r2", COPIES_SEQ)],
            "the copy alone: the staged file is gone, no empty file of new rows"
        );
        let object = lake.path(&format!("tables/deals/{}", files[0]));
        let batches: Vec<RecordBatch> = read_file(&lake, "tables/deals", &object, &[])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let all = concat_batches(&batches[0].schema(), &batches).unwrap();
        let expected: Vec<(&str, i64, f64, &str)> = ids
            .iter()
            .map(|id| match id.as_str() {
                "d1" => ("d1", 200, 2.0, "a"),
                "d7" => ("d7", 200, 1.0, "b"),
                id => (id, 100, 1.0, "a"),
            })
            .collect();
        let mut runs: Vec<&str> = vec!["r1"; 10];
        (runs[1], runs[7]) = ("r2", "r2");
        let mut want = deals(&expected, "r1");
        let mut columns = want.columns().to_vec();
        columns[5] = Arc::new(StringArray::from(runs));
        want = RecordBatch::try_new(want.schema(), columns).unwrap();
        assert_eq!(
            all.columns(),
            want.columns(),
            "rows in place, d1 and d7 replaced"
        );
        let metadata = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(
            &bytes::Bytes::from(
                std::fs::read(dir.path().join("tables/deals").join(&files[0])).unwrap(),
            ),
            Default::default(),
        )
        .unwrap();
        assert_eq!(metadata.metadata().num_row_groups(), 3, "row groups kept");
        let feed_dir = dir.path().join("tables/deals/_change_data");
        let mut feed = Vec::new();
        for entry in std::fs::read_dir(feed_dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            let object = lake.path(&format!("tables/deals/_change_data/{name}"));
            let mut stream = read_file(&lake, "tables/deals", &object, &[])
                .await
                .unwrap();
            while let Some(b) = stream.try_next().await.unwrap() {
                let (id, kind) = (
                    text(&b, "_id", "t").unwrap(),
                    text(&b, CHANGE_TYPE, "t").unwrap(),
                );
                let amount = b
                    .column_by_name("amount")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .clone();
                for r in 0..b.num_rows() {
                    feed.push((
                        id.value(r).to_string(),
                        kind.value(r).to_string(),
                        amount.value(r),
                    ));
                }
            }
        }
        feed.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let f = |id: &str, kind: &str, amount: f64| (id.to_string(), kind.to_string(), amount);
        assert_eq!(
            feed,
            vec![
                f("d1", "update_postimage", 2.0),
                f("d1", "update_preimage", 1.0),
                f("d7", "update_postimage", 1.0),
                f("d7", "update_preimage", 1.0),
            ]
        );
    }

    /// Rows that reach the upsert twice (a key staged twice) become one row, the last copy:
    /// the second copy used to be inserted as a new row next to the updated one.
    #[tokio::test]
    async fn a_key_staged_twice_is_one_row_with_the_last_copy() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let options = ParquetOptions::default();
        let first = [("d1", 100, 1.0, "a"), ("d2", 100, 1.0, "a")];
        let staged = stage_deals(&lake, "r1", &deals(&first, "r1"), &options).await;
        commit_tables(
            &lake,
            "r1",
            &[staged],
            &RunChanges::default(),
            &options,
            &Unguarded,
        )
        .await
        .unwrap();
        let second = [
            ("d1", 200, 2.0, "a"),
            ("d3", 200, 3.0, "a"),
            ("d1", 200, 5.0, "b"),
            ("d3", 200, 6.0, "b"),
        ];
        let staged = stage_deals(&lake, "r2", &deals(&second, "r2"), &options).await;
        let commits = commit_tables(
            &lake,
            "r2",
            &[staged],
            &RunChanges::default(),
            &options,
            &Unguarded,
        )
        .await
        .unwrap();
        assert_eq!(
            (commits[0].inserted, commits[0].updated, commits[0].deleted),
            (1, 1, 0)
        );
        let table = open_table(&lake, "tables/deals").await.unwrap().unwrap();
        let mut got = Vec::new();
        for f in current_files(&table, "tables/deals").unwrap() {
            let object = lake.path(&format!("tables/deals/{f}"));
            let mut stream = read_file(&lake, "tables/deals", &object, &[])
                .await
                .unwrap();
            while let Some(b) = stream.try_next().await.unwrap() {
                let id = text(&b, "_id", "t").unwrap();
                let amount = b
                    .column_by_name("amount")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .clone();
                for r in 0..b.num_rows() {
                    got.push((id.value(r).to_string(), amount.value(r)));
                }
            }
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let want = [("d1", 5.0), ("d2", 1.0), ("d3", 6.0)].map(|(i, a)| (i.to_string(), a));
        assert_eq!(got, want);
    }

    /// Lets `allowed` tables through, then says the run lost the lake.
    struct LosesAfter {
        allowed: usize,
        asked: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl crate::sink::CommitGuard for LosesAfter {
        async fn ensure(&self) -> Result<(), SinkError> {
            let n = self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < self.allowed {
                Ok(())
            } else {
                Err(SinkError::Stopped("the lake lock was taken over".into()))
            }
        }
    }

    /// The guard (the lake lock) is asked before every table, not once before all of them: a
    /// run that loses the lake after its first table commits no other.
    #[tokio::test]
    async fn a_commit_asks_its_guard_before_each_table() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let options = ParquetOptions::default();
        let deals_rows = [("d1", 100, 1.0, "a")];
        let deals_table = stage_deals(&lake, "r1", &deals(&deals_rows, "r1"), &options).await;
        let blocks = stage(&lake, "r1", &[("p1", "b1", "a")]).await;
        let guard = LosesAfter {
            allowed: 1,
            asked: Default::default(),
        };
        let err = commit_tables(
            &lake,
            "r1",
            &[blocks, deals_table],
            &RunChanges::default(),
            &options,
            &guard,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SinkError::Stopped(_)), "{err}");
        assert_eq!(guard.asked.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert!(
            open_table(&lake, "tables/deals").await.unwrap().is_some(),
            "data-source tables commit first"
        );
        assert!(
            open_table(&lake, "blocks").await.unwrap().is_none(),
            "nothing is committed after the guard refused"
        );
    }
}
