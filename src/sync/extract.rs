//! Extraction of one data source's rows: every row (a full refresh) or those edited since the
//! cursor, read in `created_time` windows past Notion's per-query cap; a minute holding more
//! rows than the cap (a bulk import) split further by property filters ([`super::split`]); a
//! listing whose pagination cursor is rejected restarted, rows already read being skipped.

use futures::TryStreamExt;
use serde_json::{Value, json};

use super::run::{BATCH_ROWS, Run, flush, spill_error};
use super::split::{Part, Splitter, splitters};
use super::tables::{SyncError, TableReport, complete_truncated};
use crate::flatten::TableBuilder;
use crate::model::{DataSourceRef, DataSourceSchema};
use crate::notion::ErrorKind;
use crate::sink::TableWriter;
use crate::state::{SchemaChange, TableEntry};

/// Times a query whose pagination cursor Notion rejected is started again.
const MAX_RESTARTS: u32 = 3;

/// Where one data source's rows go while its queries run.
struct RowSink<'e> {
    entry: &'e TableEntry,
    builder: TableBuilder,
    writer: TableWriter,
    /// The listing of this data source in the run's page marks (rows already read are skipped).
    listing: u16,
    listed: usize,
    rows: usize,
    completed: usize,
    restarts: u32,
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
    /// Reads the rows of `source` into its table.
    pub(super) async fn extract_rows(
        &mut self,
        source: &DataSourceRef,
        entry: &TableEntry,
        changes: Vec<SchemaChange>,
    ) -> Result<(), SyncError> {
        let mut sink = self.sink(entry)?;
        let base: Vec<Value> = self
            .cursor
            .map(|c| json!({"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": c.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}}))
            .into_iter()
            .collect();
        let ways = splitters(&entry.properties);
        // The window: rows created at or after (or, past a split minute, after) an instant.
        let mut window: Option<(&'static str, String)> = None;
        loop {
            let filters = with(&base, window.as_ref().map(|(op, t)| created(op, t)));
            let read = self
                .read_query(source, &mut sink, &filters, vec![created_sort()], None)
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
        self.finish_table(sink, changes).await
    }

    /// A new listing of `entry`'s rows into its table.
    fn sink<'e>(&mut self, entry: &'e TableEntry) -> Result<RowSink<'e>, SyncError> {
        let builder = TableBuilder::new(&entry.layout(), &self.info);
        let writer = TableWriter::new(
            self.lake,
            &format!("tables/{}/{}", entry.table, self.partition),
            &self.info.run_id,
            builder.schema(),
            self.options.parquet.clone(),
        );
        let listing = self.state.pages.begin_listing().map_err(spill_error)?;
        Ok(RowSink {
            entry,
            builder,
            writer,
            listing,
            listed: 0,
            rows: 0,
            completed: 0,
            restarts: 0,
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
        let (entry, changes) = self.registry.plan(&schema, &self.info.run_id);
        let entry = entry.clone();
        self.warnings.push(format!(
            "database {title:?} ({database_id}) has several data sources, which Notion-Version {} cannot query: its {} rows were read from search results into table {}, with a schema taken from the rows' properties (no option lists, no formula expressions, rows of every data source together); sync with --notion-version 2025-09-03 or later to read each data source as a table with its full schema",
            self.client.version(),
            rows.len(),
            entry.table
        ));
        let mut sink = self.sink(&entry)?;
        for row in rows {
            self.take_row(&mut sink, row).await?;
        }
        self.finish_table(sink, changes).await
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
                        .read_query(source, sink, &part, vec![created_sort()], None)
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
                            .read_query(source, sink, &q, sort.clone(), Some(way))
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
                            .read_query(source, sink, &same, vec![created_sort()], None)
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
    async fn read_query(
        &mut self,
        source: &DataSourceRef,
        sink: &mut RowSink<'_>,
        filters: &[Value],
        sorts: Vec<Value>,
        watch: Option<&Splitter>,
    ) -> Result<QueryRead, SyncError> {
        'restart: loop {
            let mut body = json!({"sorts": sorts});
            match filters {
                [] => {}
                [one] => body["filter"] = one.clone(),
                many => body["filter"] = json!({"and": many}),
            }
            let mut pages = self.client.query_rows(source, body);
            let endpoint = self.client.query_rows_endpoint();
            let mut read = QueryRead {
                capped: false,
                new_rows: 0,
                last_created: None,
                last_value: None,
            };
            loop {
                let page = match pages.try_next().await {
                    Ok(Some(p)) => p,
                    Ok(None) => return Ok(read),
                    Err(e)
                        if e.kind() == ErrorKind::StaleCursor
                            && sink.restarts < MAX_RESTARTS
                            && sink.listed > 0 =>
                    {
                        sink.restarts += 1;
                        self.warnings.push(format!("table {}: Notion rejected a pagination cursor ({e}); the listing was restarted", sink.entry.table));
                        continue 'restart;
                    }
                    Err(e) => return Err(e.into()),
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
                self.tick();
            }
        }
    }

    /// Adds a row of the listing to the table unless this listing already returned it.
    async fn take_row(
        &mut self,
        sink: &mut RowSink<'_>,
        mut row: Value,
    ) -> Result<bool, SyncError> {
        if !self
            .add_page(&row, Some(&sink.entry.table), sink.listing)
            .await?
        {
            return Ok(false);
        }
        sink.listed += 1;
        if !self.options.selection.tables {
            return Ok(true);
        }
        sink.completed += complete_truncated(self.client, &mut row, &sink.entry.properties).await?;
        sink.builder.append_page(&row);
        sink.rows += 1;
        if sink.builder.len() >= BATCH_ROWS {
            flush(
                &mut sink.builder,
                &mut sink.writer,
                &mut self.rich,
                &sink.entry.table,
            )
            .await?;
        }
        Ok(true)
    }

    /// Writes what is left of a table and reports it.
    async fn finish_table(
        &mut self,
        mut sink: RowSink<'_>,
        changes: Vec<SchemaChange>,
    ) -> Result<(), SyncError> {
        if !self.options.selection.tables {
            return Ok(());
        }
        let table = sink.entry.table.clone();
        flush(&mut sink.builder, &mut sink.writer, &mut self.rich, &table).await?;
        self.warnings.extend(sink.builder.take_warnings());
        let files = sink.writer.finish().await?;
        tracing::info!(table = %table, rows = sink.rows, files = files.len(), "table written");
        self.tables.push(TableReport {
            table,
            data_source_id: sink.entry.data_source_id.clone(),
            rows: sink.rows,
            completed_values: sink.completed,
            files,
            changes,
        });
        Ok(())
    }
}
