//! One run's commit to the Delta tables of a lake: each table staged by the run becomes current
//! in one Delta commit, by its [`Rule`]:
//! - a table that does not exist yet is created with the staged files as its first version
//!   (nothing is rewritten);
//! - an existing table MERGEs the staged rows on its key: rows from the run replace the current
//!   ones (a data-source row or a page only when not older), new ones are inserted, and rows of
//!   what Notion deleted leave the table in the same commit: trashed and vanished rows and
//!   pages, the old blocks and comments of a page read again, the formatting items of a row
//!   read again. A complete run (a full refresh of the whole workspace) removes every row it
//!   did not find, so the table converges to what Notion holds.
//!
//! A run of at most [`UPSERT_MAX_ROWS`] staged rows that is not complete commits a data-source
//! table, `pages`, or a grouped table (blocks, comments, properties, formatting items) through
//! the copy-on-write upsert of `upsert.rs`, which rewrites only the files it must; the rest go
//! through deltalake's MERGE.
//!
//! Merges are idempotent: a rerun after a crash merges the same rows again to the same result.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use datafusion::common::Column;
use datafusion::logical_expr::{Operator, binary_expr};
use datafusion::prelude::{DataFrame, Expr, ParquetReadOptions, col, lit};
use deltalake::kernel::Action;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::merge::MergeBuilder;
use deltalake::{DeltaTable, DeltaTableError};

use super::maintain::compact_if_needed;
pub use super::rules::{Rule, RunChanges, TableCommit};
use super::upsert::{UPSERT_MAX_ROWS, Upsert};
use super::{
    RUN_ID_KEY, add_action, delta_error, delta_fields, files_with_rows, is_delta_table, new_table,
    open_table,
};
use crate::flatten::fixed::{FixedTable, RICH_TEXT_TABLE};
use crate::sink::{Lake, ParquetOptions, SinkError, StagedTable};

/// Commits every staged table of run `run_id` (data-source tables first: the formatting
/// items follow their rows), each after `guard` says the run may still write.
pub async fn commit_tables(
    lake: &Lake,
    run_id: &str,
    tables: &[StagedTable],
    changes: &RunChanges,
    parquet: &ParquetOptions,
    guard: &dyn crate::sink::CommitGuard,
) -> Result<Vec<TableCommit>, SinkError> {
    let ctx = super::session(lake);
    let mut committer = Committer {
        lake,
        run_id,
        changes,
        parquet,
        ctx: &ctx,
        rows_read_again: BTreeSet::new(),
    };
    let mut order: Vec<&StagedTable> = tables.iter().collect();
    order.sort_by_key(|t| !t.table_dir.starts_with("tables/"));
    let mut out = Vec::new();
    for table in order {
        guard.ensure().await?;
        out.push(committer.commit(table).await?);
    }
    Ok(out)
}

struct Committer<'a> {
    lake: &'a Lake,
    run_id: &'a str,
    changes: &'a RunChanges,
    parquet: &'a ParquetOptions,
    ctx: &'a datafusion::prelude::SessionContext,
    /// Ids of data-source rows the run wrote: their formatting items are replaced.
    rows_read_again: BTreeSet<String>,
}

pub(super) fn commit_properties(run_id: &str) -> CommitProperties {
    CommitProperties::default().with_metadata([(
        RUN_ID_KEY.to_string(),
        serde_json::Value::String(run_id.to_string()),
    )])
}

/// Columns every row carries about the run that wrote it, not about Notion.
const RUN_COLUMNS: &[&str] = &["_synced_at", "_run_id"];

/// A column of the merge source or target, by its exact name (any script, dots included).
fn source_col(name: &str) -> Expr {
    Expr::Column(Column::new(Some("s"), name))
}
fn target_col(name: &str) -> Expr {
    Expr::Column(Column::new(Some("t"), name))
}

fn literals(ids: impl IntoIterator<Item = String>) -> Vec<Expr> {
    ids.into_iter().map(lit).collect()
}

impl Committer<'_> {
    async fn commit(&mut self, staged: &StagedTable) -> Result<TableCommit, SinkError> {
        let dir = staged.table_dir.as_str();
        let rule = Rule::of(dir);
        // Staged only for the deletions it carries: nothing to do on a table not created yet.
        if staged.is_deletions_only() && !is_delta_table(self.lake, dir).await? {
            return Ok(TableCommit::default());
        }
        // A fixed table (its schema is the program's) the run wrote nothing to and deletes
        // nothing from is left as it is, without reading its log.
        if !dir.starts_with("tables/")
            && staged.files.iter().all(|f| f.rows == 0)
            && self.deletions(dir, rule).is_empty()
            && is_delta_table(self.lake, dir).await?
        {
            for file in &staged.files {
                self.lake.delete_path(&file.path).await?;
            }
            return Ok(TableCommit::default());
        }
        match open_table(self.lake, dir).await? {
            None => self.create(staged).await,
            Some(table) => {
                let done = self.merge(table, staged, rule).await?;
                // The merge wrote its own files; the staged ones are not part of the table.
                for file in &staged.files {
                    self.lake.delete_path(&file.path).await?;
                }
                Ok(done)
            }
        }
    }

    /// Creates the table with the staged files (those with rows) as version 0.
    async fn create(&mut self, staged: &StagedTable) -> Result<TableCommit, SinkError> {
        let dir = staged.table_dir.as_str();
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions = Vec::new();
        let mut inserted = 0;
        for file in &staged.files {
            if file.rows == 0 {
                self.lake.delete_path(&file.path).await?;
                continue;
            }
            inserted += file.rows;
            actions.push(Action::Add(add_action(self.lake, dir, file, now).await?));
        }
        if dir.starts_with("tables/") && inserted > 0 {
            self.note_rows_read_again(&files_with_rows(staged), "_id")
                .await?;
        }
        let table = new_table(self.lake, dir)?;
        let created = table
            .create()
            .with_columns(delta_fields(dir, &staged.schema)?)
            .with_configuration_property(
                deltalake::TableProperty::EnableChangeDataFeed,
                Some("true"),
            )
            .with_actions(actions)
            .with_commit_properties(commit_properties(self.run_id))
            .await
            .map_err(|e| delta_error(dir, e))?;
        Ok(TableCommit {
            version: created.version(),
            inserted,
            ..TableCommit::default()
        })
    }

    /// The staged rows as a DataFrame.
    async fn source(&self, staged: &StagedTable) -> Result<Option<DataFrame>, SinkError> {
        let files: Vec<String> = staged
            .files
            .iter()
            .filter(|f| f.rows > 0)
            .map(|f| format!("{}/{}", self.lake.url().trim_end_matches('/'), f.path))
            .collect();
        if files.is_empty() {
            return Ok(None);
        }
        let options = ParquetReadOptions::default().schema(&staged.schema);
        self.ctx
            .read_parquet(files, options)
            .await
            .map(Some)
            .map_err(|e| delta_error(&staged.table_dir, e.into()))
    }

    /// Remembers the `_id`s of data-source rows in `files` (their formatting items are
    /// replaced), unless the run is complete (then every item not written is removed anyway).
    async fn note_rows_read_again(&mut self, files: &[String], key: &str) -> Result<(), SinkError> {
        if self.changes.complete {
            return Ok(());
        }
        let urls: Vec<String> = files
            .iter()
            .map(|p| format!("{}/{p}", self.lake.url().trim_end_matches('/')))
            .collect();
        let df = self
            .ctx
            .read_parquet(urls, ParquetReadOptions::default())
            .await
            .and_then(|df| df.select(vec![col(Column::new_unqualified(key))]))
            .map_err(|e| delta_error(key, e.into()))?;
        let ids = distinct_strings(df, key).await?;
        self.rows_read_again.extend(ids);
        Ok(())
    }

    /// Which target rows the run's data says are gone, besides those it matched.
    fn deletions(&self, dir: &str, rule: Rule) -> Deletions {
        let table = dir.strip_prefix("tables/");
        let deleted_here = |t: &str| -> Vec<String> {
            self.changes
                .deleted
                .iter()
                .filter(|(dt, _)| dt == t)
                .map(|(_, id)| id.clone())
                .collect()
        };
        let all_deleted = || self.changes.deleted.iter().map(|(_, id)| id.clone());
        match (rule, table) {
            (Rule::Append, _) => Deletions::default(),
            (Rule::Whole { .. }, _) => Deletions {
                everything_unmatched: true,
                ..Deletions::default()
            },
            (Rule::Versioned { key, .. }, Some(t)) => Deletions {
                everything_unmatched: self.changes.complete,
                column: key,
                ids: deleted_here(t),
                exclude_from_source: true,
            },
            (Rule::Versioned { key, .. }, None) => Deletions {
                everything_unmatched: self.changes.complete,
                column: key,
                ids: all_deleted().collect(),
                exclude_from_source: true,
            },
            (Rule::Latest { .. }, _) => Deletions {
                everything_unmatched: self.changes.complete,
                ..Deletions::default()
            },
            (Rule::Groups { group, .. }, _) => {
                let mut ids: BTreeSet<String> = all_deleted().collect();
                if dir == RICH_TEXT_TABLE {
                    ids.extend(self.rows_read_again.iter().cloned());
                } else if dir == FixedTable::Files.name() {
                    ids = self.changes.file_groups.iter().cloned().collect();
                } else if group == "page_id" {
                    ids.extend(self.changes.crawled.iter().cloned());
                    if dir == FixedTable::Comments.name() {
                        ids.extend(self.changes.comments_read.iter().cloned());
                    }
                }
                Deletions {
                    everything_unmatched: self.changes.complete,
                    column: group,
                    ids: ids.into_iter().collect(),
                    exclude_from_source: false,
                }
            }
        }
    }

    async fn merge(
        &mut self,
        table: DeltaTable,
        staged: &StagedTable,
        rule: Rule,
    ) -> Result<TableCommit, SinkError> {
        let dir = staged.table_dir.as_str();
        let table = self.evolve(table, staged).await?;
        let mut source = self.source(staged).await?;
        if source.is_some() && dir.starts_with("tables/") {
            self.note_rows_read_again(&files_with_rows(staged), "_id")
                .await?;
        }
        let mut deletions = self.deletions(dir, rule);
        if let Rule::Groups { group, .. } = rule
            && let Some(df) = &source
            && !deletions.everything_unmatched
        {
            let groups = df
                .clone()
                .select(vec![col(Column::new_unqualified(group))])
                .map_err(|e| delta_error(dir, e.into()))?;
            deletions.ids.extend(distinct_strings(groups, group).await?);
        }
        if deletions.exclude_from_source
            && !deletions.ids.is_empty()
            && let Some(df) = source.take()
        {
            let gone = col(Column::new_unqualified(deletions.column))
                .in_list(literals(deletions.ids.iter().cloned()), true);
            source = Some(df.filter(gone).map_err(|e| delta_error(dir, e.into()))?);
        }
        let deletes = deletions.everything_unmatched || !deletions.ids.is_empty();
        if source.is_none() && !deletes {
            return Ok(TableCommit::default());
        }
        if rule == Rule::Append
            && let Some(df) = source
        {
            return append(table, df, self.run_id, dir, self.parquet).await;
        }
        let staged_rows: usize = staged.files.iter().map(|f| f.rows).sum();
        let upserted = match rule {
            Rule::Versioned { key, edited } => Some((key, Some(edited))),
            Rule::Groups { group, .. } => Some((group, None)),
            _ => None,
        };
        if let Some((group, edited)) = upserted
            && !deletions.everything_unmatched
            && staged_rows <= UPSERT_MAX_ROWS
        {
            let batches = match source {
                Some(df) => df.collect().await.map_err(|e| delta_error(dir, e.into()))?,
                None => Vec::new(),
            };
            let upsert = Upsert {
                lake: self.lake,
                dir,
                run_id: self.run_id,
                keys: rule.keys(),
                edited,
                group,
                groups: deletions.ids.into_iter().collect(),
                parquet: self.parquet,
            };
            let started = std::time::Instant::now();
            let outcome = upsert.run(table, batches).await?;
            tracing::info!(
                table = dir,
                ?outcome,
                ms = started.elapsed().as_millis(),
                "upserted: (version, inserted, updated, deleted)"
            );
            return Ok(match outcome {
                None => TableCommit::default(),
                Some((version, inserted, updated, deleted)) => TableCommit {
                    version: Some(version),
                    inserted,
                    updated,
                    deleted,
                    compacted: match open_table(self.lake, dir).await? {
                        Some(t) => compact_if_needed(t, dir, self.parquet).await?,
                        None => None,
                    },
                },
            });
        }
        let source = match source {
            Some(df) => df,
            None => empty_source(self.ctx, &staged.schema, dir)?,
        };
        self.run_merge(table, staged, rule, source, deletions).await
    }

    async fn run_merge(
        &self,
        table: DeltaTable,
        staged: &StagedTable,
        rule: Rule,
        source: DataFrame,
        deletions: Deletions,
    ) -> Result<TableCommit, SinkError> {
        let dir = staged.table_dir.as_str();
        let target_columns = column_names(&table, dir)?;
        let in_source: HashSet<&str> = staged
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let files_columns: HashSet<&str> = staged
            .schema
            .fields()
            .iter()
            .filter(|f| super::identity::is_files(f.data_type()))
            .map(|f| f.name().as_str())
            .collect();
        let keys = rule.keys();
        let predicate = if keys.is_empty() {
            lit(false)
        } else {
            keys.iter()
                .map(|k| target_col(k).eq(source_col(k)))
                .reduce(Expr::and)
                .unwrap_or(lit(false))
        };
        let value = |c: &str| {
            if in_source.contains(c) {
                source_col(c)
            } else {
                lit(datafusion::scalar::ScalarValue::Null)
            }
        };
        let builder = MergeBuilder::new(
            table.log_store(),
            table.snapshot().ok().map(|s| s.snapshot().clone()),
            predicate,
            source,
        )
        .with_source_alias("s")
        .with_target_alias("t")
        .with_session_state(Arc::new(self.ctx.state()))
        .with_writer_properties(self.parquet.writer_properties(&staged.schema))
        .with_commit_properties(commit_properties(self.run_id));
        let merge_error = |e: DeltaTableError| delta_error(dir, e);
        let builder = if rule == Rule::Append {
            builder
        } else {
            builder
                .when_matched_update(|u| {
                    // Only a row whose values changed is updated: a row read again unchanged
                    // (the safety margin, a full refresh) rewrites no file and shows in no
                    // change feed.
                    let changed = changed(&target_columns, &files_columns, value);
                    let u = match rule {
                        // Notion's edit times are minute-rounded: an equal time may still be
                        // a later edit, an older one never is.
                        Rule::Versioned { edited, .. } => u.predicate(
                            target_col(edited)
                                .is_null()
                                .or(source_col(edited).gt_eq(target_col(edited)))
                                .and(changed),
                        ),
                        _ => u.predicate(changed),
                    };
                    target_columns
                        .iter()
                        .fold(u, |u, c| u.update(Column::new_unqualified(c), value(c)))
                })
                .map_err(merge_error)?
        };
        let mut builder = builder
            .when_not_matched_insert(|i| {
                target_columns
                    .iter()
                    .filter(|c| in_source.contains(c.as_str()))
                    .fold(i, |i, c| i.set(Column::new_unqualified(c), source_col(c)))
            })
            .map_err(merge_error)?;
        if deletions.everything_unmatched {
            builder = builder
                .when_not_matched_by_source_delete(|d| d)
                .map_err(merge_error)?;
        } else if !deletions.ids.is_empty() {
            let gone = target_col(deletions.column).in_list(literals(deletions.ids), false);
            builder = builder
                .when_not_matched_by_source_delete(|d| d.predicate(gone))
                .map_err(merge_error)?;
        }
        let (table, metrics) = builder.await.map_err(merge_error)?;
        log_merge(dir, &metrics);
        let version = table.version();
        Ok(TableCommit {
            version,
            inserted: metrics.num_target_rows_inserted,
            updated: metrics.num_target_rows_updated,
            deleted: metrics.num_target_rows_deleted,
            compacted: compact_if_needed(table, dir, self.parquet).await?,
        })
    }

    /// Adds the staged schema's new columns to the table (with their Notion metadata); columns
    /// are never dropped or retyped.
    async fn evolve(
        &self,
        table: DeltaTable,
        staged: &StagedTable,
    ) -> Result<DeltaTable, SinkError> {
        let dir = staged.table_dir.as_str();
        let existing: HashSet<String> = column_names(&table, dir)?.into_iter().collect();
        let new: Vec<_> = delta_fields(dir, &staged.schema)?
            .into_iter()
            .filter(|f| !existing.contains(f.name()))
            .map(|f| {
                // Added columns are nullable: older rows have no value.
                let nullable = deltalake::kernel::StructField::new(
                    f.name().clone(),
                    f.data_type().clone(),
                    true,
                );
                nullable.with_metadata(f.metadata().clone())
            })
            .collect();
        if new.is_empty() {
            return Ok(table);
        }
        table
            .add_columns()
            .with_fields(new)
            .with_commit_properties(commit_properties(self.run_id))
            .await
            .map_err(|e| delta_error(dir, e))
    }
}

/// Whether a target row's values differ from the source's (`value` gives a column of the
/// source, or NULL where the source lacks it): the run's own columns aside, and a file's new
/// signature being no change (see `identity`).
fn changed(
    target_columns: &[String],
    files_columns: &HashSet<&str>,
    value: impl Fn(&str) -> Expr,
) -> Expr {
    let identity = |c: &str, e: Expr| {
        if files_columns.contains(c) {
            super::identity::files_identity().call(vec![e])
        } else {
            e
        }
    };
    target_columns
        .iter()
        .filter(|c| !RUN_COLUMNS.contains(&c.as_str()))
        .map(|c| {
            binary_expr(
                identity(c, value(c)),
                Operator::IsDistinctFrom,
                identity(c, target_col(c)),
            )
        })
        .reduce(Expr::or)
        .unwrap_or(lit(false))
}

/// Logs what a MERGE did.
fn log_merge(dir: &str, metrics: &deltalake::operations::merge::MergeMetrics) {
    tracing::info!(
        table = dir,
        inserted = metrics.num_target_rows_inserted,
        updated = metrics.num_target_rows_updated,
        deleted = metrics.num_target_rows_deleted,
        copied = metrics.num_target_rows_copied,
        files_scanned = metrics.num_target_files_scanned,
        files_added = metrics.num_target_files_added,
        execution_ms = metrics.execution_time_ms,
        scan_ms = metrics.scan_time_ms,
        rewrite_ms = metrics.rewrite_time_ms,
        "merged"
    );
}

/// The table's column names, in order.
fn column_names(table: &DeltaTable, dir: &str) -> Result<Vec<String>, SinkError> {
    Ok(table
        .snapshot()
        .map_err(|e| delta_error(dir, e))?
        .schema()
        .fields()
        .map(|f| f.name().clone())
        .collect())
}

/// Which target rows a merge deletes besides matched ones.
#[derive(Debug, Default)]
struct Deletions {
    /// Every target row the source does not match.
    everything_unmatched: bool,
    /// The column `ids` are values of.
    column: &'static str,
    /// Target rows whose `column` is one of these (and that the source does not match).
    ids: Vec<String>,
    /// The source's own rows with these ids are dropped (deleted rows stay deleted).
    exclude_from_source: bool,
}

impl Deletions {
    /// Whether the merge deletes nothing it does not match.
    fn is_empty(&self) -> bool {
        !self.everything_unmatched && self.ids.is_empty()
    }
}

fn empty_source(
    ctx: &datafusion::prelude::SessionContext,
    schema: &arrow::datatypes::SchemaRef,
    dir: &str,
) -> Result<DataFrame, SinkError> {
    let batch = arrow::array::RecordBatch::new_empty(schema.clone());
    ctx.read_batch(batch)
        .map_err(|e| delta_error(dir, e.into()))
}

/// The distinct non-null strings of column `name` of `df`.
async fn distinct_strings(df: DataFrame, name: &str) -> Result<Vec<String>, SinkError> {
    use arrow::array::AsArray;
    let batches = df
        .distinct()
        .map_err(|e| delta_error(name, e.into()))?
        .collect()
        .await
        .map_err(|e| delta_error(name, e.into()))?;
    let mut out = Vec::new();
    for batch in batches {
        let column = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(|e| delta_error(name, DeltaTableError::Arrow { source: e }))?;
        out.extend(
            column
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string),
        );
    }
    Ok(out)
}

/// Appends `df` to `table` (rows that are only ever added).
async fn append(
    table: DeltaTable,
    df: DataFrame,
    run_id: &str,
    dir: &str,
    parquet: &ParquetOptions,
) -> Result<TableCommit, SinkError> {
    let batches = df.collect().await.map_err(|e| delta_error(dir, e.into()))?;
    let inserted = batches.iter().map(|b| b.num_rows()).sum();
    let table = table
        .write(batches)
        .with_save_mode(deltalake::protocol::SaveMode::Append)
        .with_commit_properties(commit_properties(run_id))
        .await
        .map_err(|e| delta_error(dir, e))?;
    Ok(TableCommit {
        version: table.version(),
        inserted,
        compacted: compact_if_needed(table, dir, parquet).await?,
        ..TableCommit::default()
    })
}
