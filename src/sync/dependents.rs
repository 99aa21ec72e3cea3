//! Computed values kept fresh between full refreshes. Notion does not move a row's
//! `last_edited_time` when only a rollup or a relation-reading formula of it changes (a related
//! company's employee count changed), so an incremental run follows [`dependencies`] from the
//! rows it read because they changed (edited, new, trashed, restored) to the rows on the other
//! side of their relations, and reads those again:
//! - the dependent rows the lake holds as related before this run (its relation column, read
//!   from the lake before the commit) and those related now;
//! - related now: for a dual relation, the changed row's own synced property lists them; for a
//!   one-way relation (or a changed row whose synced value is unknown), a query of the dependent
//!   data source with `relation contains` conditions, [`MAX_FILTER_ITEMS`] to an `or` filter;
//! - each dual relation takes the cheaper of one retrieval per known row and the queries.
//!
//! Rows read again change only in computed properties, so a round follows only the
//! dependencies that read those (a rollup of a rollup), until none is left or
//! [`MAX_DEPENDENT_ROUNDS`] rounds ran. No row is read twice in a run. Re-read rows are written
//! to their table like any changed row (same edit time, later `_synced_at`).

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::{Array, AsArray};
use futures::StreamExt;
use serde_json::{Value, json};

use super::complete::complete_truncated;
use super::context::Run;
use super::error::SyncError;
use super::output::{TableClose, TableSlot};
use crate::model::dependencies::{Dependency, dependencies};
use crate::model::{DataSourceRef, normalize_id, uuid_bits};
use crate::notion::MAX_FILTER_ITEMS;
use crate::notion::pagination::{Listed, MAX_RESTARTS, Restarting};
use crate::sink::Lake;
use crate::state::TableEntry;

/// Rounds of dependents (rollups of rollups) one run follows.
pub const MAX_DEPENDENT_ROUNDS: usize = 4;

/// Rows per page of a query answer (the page size the client asks for at most).
const ROWS_PER_PAGE: usize = 100;

/// Rows of one data source read since the last round.
#[derive(Debug, Default)]
struct Frontier {
    /// Their ids.
    ids: Vec<String>,
    /// The properties that may have changed: `None` for rows Notion marked changed (any of
    /// them), the computed properties that made a row be read again otherwise.
    props: Option<HashSet<String>>,
    /// The ids each row's dual relations list now, by property id then row id.
    synced: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Frontier {
    /// Whether a change of these rows can change the values `dep` computes.
    fn reaches(&self, dep: &Dependency) -> bool {
        match &self.props {
            None => true,
            Some(props) => dep.reads.is_empty() || dep.reads.iter().any(|r| props.contains(r)),
        }
    }

    /// The ids the rows' synced property `prop` lists now, if every row's value is known.
    fn synced_now(&self, prop: &str) -> Option<HashSet<String>> {
        let by_row = self.synced.get(prop)?;
        let mut out = HashSet::new();
        for id in &self.ids {
            out.extend(by_row.get(id)?.iter().cloned());
        }
        Some(out)
    }
}

/// What an incremental run tracks of the rows it reads, for their dependents.
#[derive(Debug, Default)]
pub(super) struct ChangedRows {
    /// Every row this run wrote to its table, by data source: never read again. The flag
    /// says whether the row counted as changed (its dependents followed).
    read: HashMap<String, HashMap<u128, bool>>,
    /// Rows read since the last round, by data source.
    frontier: HashMap<String, Frontier>,
}

impl ChangedRows {
    /// Records row `id` of data source `source`, read because it changed.
    pub fn changed(&mut self, source: &str, id: &str) {
        let Some(bits) = uuid_bits(id) else {
            return;
        };
        let counted = self
            .read
            .entry(source.to_string())
            .or_default()
            .entry(bits)
            .or_insert(false);
        if !*counted {
            *counted = true;
            self.frontier
                .entry(source.to_string())
                .or_default()
                .ids
                .push(id.to_string());
        }
    }

    /// Records row `id` of data source `source` as written by this run, changed or not: a
    /// row's dependents never read it again in the same run, so each row is written once.
    pub fn written(&mut self, source: &str, id: &str) {
        if let Some(bits) = uuid_bits(id) {
            self.read
                .entry(source.to_string())
                .or_default()
                .entry(bits)
                .or_insert(false);
        }
    }

    /// Records what the dual relations of a row (completed past 25 references) list now.
    pub fn relations(&mut self, entry: &TableEntry, row: &Value) {
        let Some(id) = row.get("id").and_then(Value::as_str).map(normalize_id) else {
            return;
        };
        let Some(frontier) = self.frontier.get_mut(&entry.data_source_id) else {
            return;
        };
        for p in &entry.properties {
            if p.kind != "relation" || p.config.pointer("/dual_property").is_none() {
                continue;
            }
            let value = row.get("properties").and_then(|ps| {
                ps.as_object()?
                    .values()
                    .find(|v| v.get("id").and_then(Value::as_str) == Some(p.id.as_str()))
            });
            // A value still truncated is not known whole.
            let Some(value) = value.filter(|v| v.get("has_more") != Some(&json!(true))) else {
                continue;
            };
            let ids = relation_ids(value.get("relation"));
            frontier
                .synced
                .entry(p.id.clone())
                .or_default()
                .insert(id.clone(), ids);
        }
    }

    /// The changed rows whose dependents are still to read, by data source (for a checkpoint).
    pub fn pending(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        self.frontier
            .iter()
            .filter(|(_, f)| !f.ids.is_empty())
            .map(|(source, f)| (source.clone(), f.ids.clone()))
            .collect()
    }

    fn was_read(&self, source: &str, id: &str) -> bool {
        uuid_bits(id).is_some_and(|b| self.read.get(source).is_some_and(|s| s.contains_key(&b)))
    }
}

/// The ids a served relation value lists.
fn relation_ids(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .map(normalize_id)
        .collect()
}

/// What keeping computed values fresh cost a run.
#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct DependentsReport {
    /// Rows read again because a related row changed.
    pub rows: usize,
    /// Requests it took.
    pub requests: usize,
    /// Rounds run (2 or more: rollups of rollups).
    pub rounds: usize,
    /// Seconds it took (requests, and the lake's values from before the run).
    pub secs: f64,
}

/// How one dependency's rows are found.
enum Plan {
    /// Retrieve each of these rows.
    Retrieve(Vec<String>),
    /// Query by `relation contains`, then retrieve the rows related before that the queries
    /// did not return.
    Query,
}

impl Run<'_> {
    /// Whether this run follows dependents (and so tracks the rows it reads).
    pub(super) fn tracks_dependents(&self) -> bool {
        !self.mode.full && !self.mode.restricted && self.options.selection.tables
    }

    /// Reads again the rows whose computed values the run's changed rows can change.
    pub(super) async fn refresh_dependents(&mut self) -> Result<(), SyncError> {
        let Some(mut rows) = self.dependents.take() else {
            return Ok(());
        };
        let deps = dependencies(&self.registry.schemas());
        let before = self.client.stats().total_requests;
        let started = std::time::Instant::now();
        let mut report = DependentsReport::default();
        while !rows.frontier.is_empty() {
            let frontier = std::mem::take(&mut rows.frontier);
            let mut work: BTreeMap<&str, Vec<&Dependency>> = BTreeMap::new();
            for d in &deps {
                if frontier.get(&d.related).is_some_and(|f| f.reaches(d)) {
                    work.entry(d.dependent.as_str()).or_default().push(d);
                }
            }
            if work.is_empty() {
                break;
            }
            if report.rounds == MAX_DEPENDENT_ROUNDS {
                self.warnings.push(format!("rollups of rollups go deeper than {MAX_DEPENDENT_ROUNDS} levels: the values computed past that stay as last read until the rows are edited or the next full refresh"));
                break;
            }
            report.rounds += 1;
            for (dependent, deps) in work {
                let Some(entry) = self.registry.table(dependent).cloned() else {
                    continue;
                };
                let slot = self.output.open(entry.clone()).await?;
                let mut completed = 0;
                for d in deps {
                    let f = &frontier[&d.related];
                    let (n, c) = self.read_dependents(d, f, &entry, slot, &mut rows).await?;
                    report.rows += n;
                    completed += c;
                }
                self.output
                    .close(slot, TableClose::again(&entry, completed))
                    .await?;
            }
        }
        report.requests =
            usize::try_from(self.client.stats().total_requests - before).unwrap_or(usize::MAX);
        report.secs = started.elapsed().as_secs_f64();
        if report.rounds > 0 {
            self.dependents_report = Some(report);
        }
        Ok(())
    }

    /// Reads the rows of `entry` that `d` makes depend on the rows of `f`; returns the rows
    /// written and the values completed.
    async fn read_dependents(
        &mut self,
        d: &Dependency,
        f: &Frontier,
        entry: &TableEntry,
        slot: TableSlot,
        rows: &mut ChangedRows,
    ) -> Result<(usize, usize), SyncError> {
        let changed: HashSet<String> = f.ids.iter().cloned().collect();
        let before = self.related_before(entry, &d.relation_id, &changed).await;
        let unread = |ids: &mut dyn Iterator<Item = String>, rows: &ChangedRows| -> Vec<String> {
            let mut v: Vec<String> = ids
                .filter(|id| !rows.was_read(&entry.data_source_id, id))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let queries = changed.len().div_ceil(MAX_FILTER_ITEMS);
        let plan = match d
            .synced_property_id
            .as_deref()
            .and_then(|p| f.synced_now(p))
        {
            Some(now) => {
                let all = unread(&mut now.iter().chain(&before).cloned(), rows);
                let gone = unread(&mut before.difference(&now).cloned(), rows);
                let by_query = queries.max(now.len().div_ceil(ROWS_PER_PAGE)) + gone.len();
                if all.len() <= by_query {
                    Plan::Retrieve(all)
                } else {
                    Plan::Query
                }
            }
            None => Plan::Query,
        };
        let (mut written, mut completed) = (0, 0);
        let retrieve = match plan {
            Plan::Retrieve(ids) => ids,
            Plan::Query => {
                let mut ids: Vec<&String> = changed.iter().collect();
                ids.sort();
                for chunk in ids.chunks(MAX_FILTER_ITEMS) {
                    let (n, c) = self.query_related(d, chunk, entry, slot, rows).await?;
                    written += n;
                    completed += c;
                }
                // Related before and not returned by the queries: retrieved one by one.
                unread(&mut before.iter().cloned(), rows)
            }
        };
        for id in retrieve {
            let row = match self.client.retrieve_page(&id).await {
                Ok(row) => row,
                Err(e) if e.is_not_found() || e.is_restricted() => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(c) = self.write_dependent(row, d, entry, slot, rows).await? {
                written += 1;
                completed += c;
            }
        }
        Ok((written, completed))
    }

    /// Queries `entry`'s data source for the rows whose relation `d` lists any of `ids`.
    async fn query_related(
        &mut self,
        d: &Dependency,
        ids: &[&String],
        entry: &TableEntry,
        slot: TableSlot,
        rows: &mut ChangedRows,
    ) -> Result<(usize, usize), SyncError> {
        let conditions: Vec<Value> = ids
            .iter()
            .map(|id| json!({"property": d.relation_id, "relation": {"contains": id}}))
            .collect();
        let filter = match conditions.as_slice() {
            [one] => one.clone(),
            _ => json!({"or": conditions}),
        };
        let body = json!({"filter": filter});
        let source = DataSourceRef {
            id: entry.data_source_id.clone(),
            database_id: entry.database_id.clone(),
        };
        let client = self.client;
        let endpoint = client.query_rows_endpoint();
        let mut pages = Restarting::new(|| client.query_rows(&source, body.clone()), MAX_RESTARTS);
        let (mut written, mut completed) = (0, 0);
        while let Some(next) = pages.next().await? {
            let page = match next {
                Listed::Item(page) => page,
                // Rows read before the restart are skipped as read.
                Listed::Restarted(_) => continue,
            };
            if page.is_incomplete() {
                self.warnings.push(format!("table {}: more rows relate to the changed rows than one query returns; some computed values stay as last read until the next full refresh", entry.table));
            }
            for raw in page.results {
                let row = crate::notion::decode_row(endpoint, &raw)?;
                if let Some(c) = self.write_dependent(row, d, entry, slot, rows).await? {
                    written += 1;
                    completed += c;
                }
            }
        }
        Ok((written, completed))
    }

    /// Writes a dependent row read again, unless the run read it already, it is in the trash
    /// or it is not a row of `entry`; returns the values completed when written.
    async fn write_dependent(
        &mut self,
        mut row: Value,
        d: &Dependency,
        entry: &TableEntry,
        slot: TableSlot,
        rows: &mut ChangedRows,
    ) -> Result<Option<usize>, SyncError> {
        let Some(id) = row.get("id").and_then(Value::as_str).map(normalize_id) else {
            return Ok(None);
        };
        let ours = self
            .row_table(&row)
            .is_some_and(|t| t.data_source_id == entry.data_source_id);
        if !ours || crate::model::is_trashed(&row) || rows.was_read(&entry.data_source_id, &id) {
            return Ok(None);
        }
        rows.changed(&entry.data_source_id, &id);
        let completed = complete_truncated(self.client, &mut row, &entry.properties).await?;
        rows.relations(entry, &row);
        if let Some(f) = rows.frontier.get_mut(&entry.data_source_id) {
            f.props
                .get_or_insert_with(HashSet::new)
                .extend(d.computed.iter().cloned());
        }
        self.output.row(slot, row).await?;
        Ok(Some(completed))
    }

    /// The rows of `entry` whose relation `relation_id` listed any of `changed` in the lake
    /// before this run. A lake that cannot be read costs only those rows, with a warning.
    async fn related_before(
        &mut self,
        entry: &TableEntry,
        relation_id: &str,
        changed: &HashSet<String>,
    ) -> HashSet<String> {
        let Some(column) = entry
            .active_columns()
            .find(|c| c.property_id == relation_id)
            .map(|c| c.column.clone())
        else {
            return HashSet::new();
        };
        match pointing_rows(&self.lake, &entry.table, &column, changed).await {
            Ok(rows) => rows,
            Err(e) => {
                self.warnings.push(format!("could not read table {} from the lake ({e}): rows it related to changed rows before this run, and no longer do, keep their computed values until the next full refresh", entry.table));
                HashSet::new()
            }
        }
    }
}

/// Quotes an identifier for SQL.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The ids of the rows of lake table `table` whose relation column `column` lists any of `ids`.
async fn pointing_rows(
    lake: &Lake,
    table: &str,
    column: &str,
    ids: &HashSet<String>,
) -> Result<HashSet<String>, datafusion::error::DataFusionError> {
    use arrow::datatypes::{DataType, Field};
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = crate::shell::register_tables(&ctx, lake, Some(&[table])).await?;
    let mut out = HashSet::new();
    if !tables.iter().any(|t| t.name == table) {
        return Ok(out);
    }
    let sql = format!(
        "SELECT CAST(_id AS VARCHAR) AS id, {} AS rel FROM {}",
        quoted(column),
        quoted(table)
    );
    let list_type = DataType::List(std::sync::Arc::new(Field::new(
        "item",
        DataType::Utf8,
        true,
    )));
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let row_ids = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let lists = arrow::compute::cast(batch.column(1), &list_type)?;
        let (row_ids, lists) = (row_ids.as_string::<i32>(), lists.as_list::<i32>());
        for row in 0..batch.num_rows() {
            if lists.is_null(row) || row_ids.is_null(row) {
                continue;
            }
            let related = lists.value(row);
            let related = related.as_string::<i32>();
            if related
                .iter()
                .flatten()
                .any(|r| ids.contains(&normalize_id(r)))
            {
                out.insert(normalize_id(row_ids.value(row)));
            }
        }
    }
    Ok(out)
}
