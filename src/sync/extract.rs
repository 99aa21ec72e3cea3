//! Extraction of one data source: its schema and metadata rows (`data_sources`, `properties`,
//! its database), then every row (a full refresh) or those edited since the cursor, read in `created_time` windows past Notion's per-query cap; a minute holding more
//! rows than the cap (a bulk import) split further by property filters ([`super::split`]); a
//! listing whose pagination cursor is rejected restarted, rows already read being skipped.

use serde_json::{Value, json};

use super::checkpoint::or_stop;
use super::complete::complete_truncated;
use super::context::Run;
use super::error::SyncError;
use super::output::{TableClose, TableSlot};
use super::pages::PageSeen;
use super::split::{Part, Splitter, splitters};
use crate::flatten::fixed::{FixedTable, data_source_row, database_row};
use crate::model::{DataSourceRef, DataSourceSchema, normalize_id};
use crate::notion::pagination::{Listed, MAX_RESTARTS, Restarting};
use crate::state::resume::SourceFrom;
use crate::state::sync_state::SourceMark;
use crate::state::{SchemaChange, TableEntry};

/// Where one data source's rows go while its queries run.
struct RowSink<'e> {
    entry: &'e TableEntry,
    /// The table on the write side (when the run writes typed tables).
    slot: Option<TableSlot>,
    /// The listing of this data source in the run's page marks (rows already read are skipped).
    listing: u16,
    listed: usize,
    completed: usize,
    restarts: u32,
    /// Schema changes since the previous sync, reported when the table closes.
    changes: Vec<SchemaChange>,
}

/// What one query gave.
struct QueryRead {
    /// The per-query cap cut it short.
    capped: bool,
    /// Rows not read before by this listing.
    new_rows: usize,
    /// `created_time` of the last row.
    last_created: Option<String>,
    /// The watched ordered property's value in the last row.
    last_value: Option<Value>,
}

fn created_sort() -> Value {
    json!({"timestamp": "created_time", "direction": "ascending"})
}

fn created(op: &str, at: &str) -> Value {
    json!({"timestamp": "created_time", "created_time": {op: at}})
}

fn with(base: &[Value], more: impl IntoIterator<Item = Value>) -> Vec<Value> {
    base.iter().cloned().chain(more).collect()
}

impl Run<'_> {
    /// Extracts one data source: schema, metadata rows, rows (typed table and `pages`), queued
    /// row content. `found` is the object search returned for it, whose schema is used when it
    /// carries one.
    pub(super) async fn extract_source(
        &mut self,
        source: DataSourceRef,
        found: Option<Value>,
    ) -> Result<(), SyncError> {
        if !self.known.sources.insert(source.id.clone()) {
            return Ok(());
        }
        let schema_obj = match found.filter(|o| o.get("properties").is_some()) {
            Some(o) => o,
            None => match self.client.retrieve_schema_object(&source).await {
                Ok(o) => o,
                Err(e) if e.is_not_found() => {
                    self.warnings.push(format!(
                        "data source {} vanished or is no longer shared; skipped",
                        source.id
                    ));
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            },
        };
        let Some(schema) = DataSourceSchema::from_object(&schema_obj) else {
            self.warnings.push(format!(
                "data source {} has no schema in its answer; skipped",
                source.id
            ));
            return Ok(());
        };
        let metadata_changed = self.source_metadata_changed(&source, &schema_obj, &schema);
        if metadata_changed {
            self.record_database(&source, &schema_obj, &schema).await?;
        }
        let (entry, changes) = self.registry.plan(&schema, &self.run_id);
        let entry = entry.clone();
        self.clock_formulas.extend(
            schema
                .properties
                .iter()
                .filter(|p| p.reads_clock())
                .map(|p| format!("{}.{}", entry.table, p.name)),
        );
        if metadata_changed {
            self.record_source_metadata(&schema_obj, &schema, &entry)
                .await?;
        }
        self.extract_rows(&source, &entry, changes).await?;
        self.sources_done.insert(source.id);
        Ok(())
    }

    /// Records the data source's mark; true when its metadata is read again (a full refresh,
    /// or it changed since the last run).
    fn source_metadata_changed(
        &mut self,
        source: &DataSourceRef,
        schema_obj: &Value,
        schema: &DataSourceSchema,
    ) -> bool {
        let edited = schema_obj
            .get("last_edited_time")
            .and_then(Value::as_str)
            .map(str::to_string);
        let known = self
            .state
            .data_sources
            .get(&source.id)
            .is_some_and(|m| m.last_edited_time == edited);
        let mark = SourceMark {
            last_edited_time: edited,
            database_id: schema.source.database_id.clone(),
        };
        self.state.data_sources.insert(source.id.clone(), mark);
        self.mode.full || !known
    }

    /// The `databases` row of the data source's database, and its sibling data sources.
    async fn record_database(
        &mut self,
        source: &DataSourceRef,
        schema_obj: &Value,
        schema: &DataSourceSchema,
    ) -> Result<(), SyncError> {
        let Some(db) = schema.source.database_id.clone() else {
            return Ok(());
        };
        if !self.client.version().has_data_sources() {
            // Under 2022-06-28 the schema object is the database itself.
            if self.known.databases.insert(normalize_id(&db)) {
                let row = database_row(schema_obj, std::slice::from_ref(&source.id));
                self.keep_database_files(schema_obj);
                self.push(FixedTable::Databases, row).await?;
            }
        } else if self.wants(FixedTable::Databases) {
            let siblings = self.add_database(&db).await?;
            self.known.queue(siblings);
        }
        Ok(())
    }

    /// The `data_sources` row and a `properties` row per property.
    async fn record_source_metadata(
        &mut self,
        schema_obj: &Value,
        schema: &DataSourceSchema,
        entry: &TableEntry,
    ) -> Result<(), SyncError> {
        let row = data_source_row(
            schema_obj,
            &entry.data_source_id,
            entry.database_id.as_deref(),
            &entry.table,
            schema.properties.len(),
        );
        self.push(FixedTable::DataSources, row).await?;
        for p in &schema.properties {
            let column = entry
                .columns
                .iter()
                .find(|c| c.active && c.property_id == p.id)
                .map(|c| c.column.clone());
            let row = json!({"data_source_id": entry.data_source_id, "table": entry.table, "property_id": p.id, "name": p.name, "type": p.kind, "column": column, "config": p.config.to_string()});
            self.push(FixedTable::Properties, row).await?;
        }
        Ok(())
    }

    /// Reads the rows of `source` into its table.
    pub(super) async fn extract_rows(
        &mut self,
        source: &DataSourceRef,
        entry: &TableEntry,
        changes: Vec<SchemaChange>,
    ) -> Result<(), SyncError> {
        let mut sink = self.sink(entry).await?;
        sink.changes = changes;
        let base: Vec<Value> = self
            .mode.cursor
            .map(|c| json!({"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": c.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}}))
            .into_iter()
            .collect();
        let ways = splitters(&entry.properties);
        // The window: rows created at or after (or, past a split minute, after) an instant; a
        // resumed run starts where its checkpoint left this data source.
        let mut window: Option<(&'static str, String)> = match self.resume_source.take() {
            Some(from) if from.data_source_id == entry.data_source_id => {
                Some(("on_or_after", from.created_on_or_after))
            }
            other => {
                self.resume_source = other;
                None
            }
        };
        loop {
            let filters = with(&base, window.as_ref().map(|(op, t)| created(op, t)));
            let read = self
                .read_query(
                    source,
                    &mut sink,
                    &filters,
                    vec![created_sort()],
                    None,
                    true,
                )
                .await?;
            if !read.capped {
                break;
            }
            let start = window.as_ref().map(|(_, t)| t.clone());
            match read.last_created {
                // Past the per-query cap: a new window from the last row's creation time.
                Some(t) if read.new_rows > 0 && Some(&t) != start.as_ref() => {
                    window = Some(("on_or_after", t));
                }
                // More rows than the cap were created in one minute: split it.
                last => {
                    let Some(minute) = last.or(start) else {
                        return Err(SyncError::Unsplittable {
                            table: entry.table.clone(),
                            window: "the whole data source".into(),
                            tried: Vec::new(),
                        });
                    };
                    let part = with(&base, [created("equals", &minute)]);
                    self.read_split(source, &mut sink, part, &ways, &minute, Vec::new())
                        .await?;
                    window = Some(("after", minute));
                }
            }
        }
        self.finish_table(sink).await
    }

    /// A new listing of `entry`'s rows into its table.
    async fn sink<'e>(&mut self, entry: &'e TableEntry) -> Result<RowSink<'e>, SyncError> {
        let slot = if self.options.selection.tables {
            Some(self.output.open(entry.clone()).await?)
        } else {
            None
        };
        let listing = self.state.pages.begin_listing().map_err(SyncError::spill)?;
        Ok(RowSink {
            entry,
            slot,
            listing,
            listed: 0,
            completed: 0,
            restarts: 0,
            changes: Vec::new(),
        })
    }

    /// The rows of a database that Notion-Version 2022-06-28 cannot query (it has several
    /// data sources), as search returned them: one table for the database, its schema taken
    /// from the rows' properties, with a warning that says which version reads it whole.
    pub(super) async fn extract_search_rows(
        &mut self,
        database_id: &str,
        rows: Vec<Value>,
    ) -> Result<(), SyncError> {
        // The database's block (its id is the database's) carries its title.
        let title = match self.client.retrieve_block(database_id).await {
            Ok(b) => b
                .pointer("/child_database/title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            Err(e) if e.is_not_found() || e.is_restricted() => String::new(),
            Err(e) => return Err(e.into()),
        };
        let schema = DataSourceSchema::from_rows(database_id, &title, &rows);
        let (entry, changes) = self.registry.plan(&schema, &self.run_id);
        let entry = entry.clone();
        self.warnings.push(format!(
            "database {title:?} ({database_id}) has several data sources, which Notion-Version {} cannot query: its {} rows were read from search results into table {}, with a schema taken from the rows' properties (no option lists, no formula expressions, rows of every data source together); sync with --notion-version 2025-09-03 or later to read each data source as a table with its full schema",
            self.client.version(),
            rows.len(),
            entry.table
        ));
        let mut sink = self.sink(&entry).await?;
        sink.changes = changes;
        for row in rows {
            self.take_row(&mut sink, row).await?;
        }
        self.finish_table(sink).await
    }

    /// Reads the rows of `filters` (capped: more than one query could return), dividing them
    /// with the first of `ways` and, where a part is still capped, the next ones.
    async fn read_split(
        &mut self,
        source: &DataSourceRef,
        sink: &mut RowSink<'_>,
        filters: Vec<Value>,
        ways: &[Splitter],
        minute: &str,
        mut tried: Vec<String>,
    ) -> Result<(), SyncError> {
        let Some((way, rest)) = ways.split_first() else {
            return Err(SyncError::Unsplittable {
                table: sink.entry.table.clone(),
                window: format!("the rows created at {minute}"),
                tried,
            });
        };
        tried.push(way.describe());
        for part in way.parts() {
            match part {
                Part::Filtered(f) => {
                    let part = with(&filters, f);
                    let read = self
                        .read_query(source, sink, &part, vec![created_sort()], None, false)
                        .await?;
                    if read.capped {
                        Box::pin(self.read_split(source, sink, part, rest, minute, tried.clone()))
                            .await?;
                    }
                }
                Part::Ascending(f) => {
                    let part = with(&filters, f);
                    let sort: Vec<Value> = way.sort().into_iter().collect();
                    let mut after: Option<Value> = None;
                    loop {
                        let q = with(&part, after.iter().flat_map(|v| way.after(v)));
                        let read = self
                            .read_query(source, sink, &q, sort.clone(), Some(way), false)
                            .await?;
                        if !read.capped {
                            break;
                        }
                        let Some(last) = read.last_value else {
                            return Err(SyncError::Unsplittable {
                                table: sink.entry.table.clone(),
                                window: format!("the rows created at {minute}"),
                                tried,
                            });
                        };
                        // Rows sharing the last value may be more than this read reached.
                        let same = with(&part, way.equal(&last));
                        let read = self
                            .read_query(source, sink, &same, vec![created_sort()], None, false)
                            .await?;
                        if read.capped {
                            Box::pin(self.read_split(
                                source,
                                sink,
                                same,
                                rest,
                                minute,
                                tried.clone(),
                            ))
                            .await?;
                        }
                        after = Some(last);
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs one query of `source` with `filters` (all must hold) and `sorts`, adding the rows
    /// not read before to the table. A rejected pagination cursor starts the query again.
    /// `resumable`: a query of the data source's main window (sorted by `created_time`), where
    /// a checkpoint between two pages records where to take it up; elsewhere a checkpoint
    /// leaves the data source to read again whole.
    async fn read_query(
        &mut self,
        source: &DataSourceRef,
        sink: &mut RowSink<'_>,
        filters: &[Value],
        sorts: Vec<Value>,
        watch: Option<&Splitter>,
        resumable: bool,
    ) -> Result<QueryRead, SyncError> {
        let mut body = json!({"sorts": sorts});
        match filters {
            [] => {}
            [one] => body["filter"] = one.clone(),
            many => body["filter"] = json!({"and": many}),
        }
        let client = self.client;
        let allowed = MAX_RESTARTS.saturating_sub(sink.restarts);
        let mut pages = Restarting::new(|| client.query_rows(source, body.clone()), allowed);
        let endpoint = client.query_rows_endpoint();
        let mut read = QueryRead {
            capped: false,
            new_rows: 0,
            last_created: None,
            last_value: None,
        };
        loop {
            let stop = self.options.stop.clone();
            let Some(next) = or_stop(stop.as_ref(), pages.next()).await else {
                let from = read.last_created.clone().filter(|_| resumable);
                self.checkpoint_listing(sink, from).await?;
                self.stop_if_asked()?;
                continue;
            };
            let Some(next) = next? else {
                break;
            };
            let page = match next {
                Listed::Item(page) => page,
                Listed::Restarted(e) => {
                    sink.restarts += 1;
                    self.warnings.push(format!("table {}: Notion rejected a pagination cursor ({e}); the listing was restarted", sink.entry.table));
                    continue;
                }
            };
            read.capped |= page.is_incomplete();
            for raw in page.results {
                // Decoded one at a time: see `RawRow`.
                let row = crate::notion::decode_row(endpoint, &raw)?;
                drop(raw);
                if row.get("object").and_then(Value::as_str) != Some("page") {
                    continue;
                }
                if let Some(t) = row.get("created_time").and_then(Value::as_str) {
                    read.last_created = Some(t.to_string());
                }
                if let Some(way) = watch {
                    read.last_value = way.value_of(&row).or(read.last_value.take());
                }
                if self.take_row(sink, row).await? {
                    read.new_rows += 1;
                }
            }
            // Page content crawled meanwhile: record it, and start jobs for the rows just queued.
            self.take_finished_crawls().await?;
            self.tick();
            if self.checkpoint_due() {
                let from = read.last_created.clone().filter(|_| resumable);
                self.checkpoint_listing(sink, from).await?;
                self.stop_if_asked()?;
            }
        }
        Ok(read)
    }

    /// A checkpoint in the middle of a listing: the table so far closes, the checkpoint
    /// records that the data source is read from `from` on (`None`: read again whole), and the
    /// table opens again for the next segment.
    async fn checkpoint_listing(
        &mut self,
        sink: &mut RowSink<'_>,
        from: Option<String>,
    ) -> Result<(), SyncError> {
        if let Some(slot) = sink.slot.take() {
            let close = TableClose {
                data_source_id: sink.entry.data_source_id.clone(),
                completed_values: std::mem::take(&mut sink.completed),
                changes: std::mem::take(&mut sink.changes),
            };
            self.output.close(slot, close).await?;
        }
        self.source_from = from.map(|t| SourceFrom {
            data_source_id: sink.entry.data_source_id.clone(),
            created_on_or_after: t,
        });
        let done = self.checkpoint().await;
        self.source_from = None;
        done?;
        if self.options.selection.tables {
            sink.slot = Some(self.output.open(sink.entry.clone()).await?);
        }
        Ok(())
    }

    /// Adds a row of the listing to the table unless this listing already returned it; a row
    /// unchanged since the last run read it (listed again inside the cursor's margin) is not
    /// written, and so costs no completion of its values. Returns whether the listing had not
    /// returned it yet.
    async fn take_row(&mut self, sink: &mut RowSink<'_>, row: Value) -> Result<bool, SyncError> {
        let seen = self
            .add_page(&row, Some(&sink.entry.table), sink.listing)
            .await?;
        if seen == PageSeen::Skip {
            return Ok(false);
        }
        sink.listed += 1;
        let Some(slot) = sink.slot.filter(|_| seen != PageSeen::Unchanged) else {
            return Ok(true);
        };
        sink.completed += self.write_row(slot, sink.entry, row).await?;
        Ok(true)
    }

    /// Writes a row to its open table: values truncated at 25 references completed first,
    /// its dual relations recorded for the dependents. Returns the values completed.
    pub(super) async fn write_row(
        &mut self,
        slot: TableSlot,
        entry: &TableEntry,
        mut row: Value,
    ) -> Result<usize, SyncError> {
        let completed = complete_truncated(self.client, &mut row, &entry.properties).await?;
        if let Some(rows) = self.dependents.as_mut() {
            if let Some(id) = row.get("id").and_then(Value::as_str) {
                rows.written(&entry.data_source_id, &normalize_id(id));
            }
            rows.relations(entry, &row);
        }
        self.output.row(slot, row).await?;
        Ok(completed)
    }

    /// Closes the listing's table: the write side writes what is left and reports it.
    async fn finish_table(&mut self, sink: RowSink<'_>) -> Result<(), SyncError> {
        let Some(slot) = sink.slot else {
            return Ok(());
        };
        let close = TableClose {
            data_source_id: sink.entry.data_source_id.clone(),
            completed_values: sink.completed,
            changes: sink.changes,
        };
        self.output.close(slot, close).await
    }
}
