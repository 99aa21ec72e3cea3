//! The write side of a run: one task that owns every open table file, turns rows into Arrow
//! batches and writes them as Parquet. The network side hands it rows through a bounded channel
//! of [`WRITE_QUEUE`] messages and never waits for a file to be written, only for room in the
//! queue, so requests in flight keep going (and the rate limiter alone paces them) while a file
//! is encoded; the bound keeps memory flat when writing falls behind.

use std::collections::HashMap;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::error::SyncError;
use super::report::{FixedReport, TableReport};
use crate::flatten::fixed::{FixedTable, RICH_TEXT_TABLE};
use crate::flatten::fixed_batch::FixedBatchBuilder;
use crate::flatten::{RunInfo, TableBuilder, rich_text_schema};
use crate::sink::dedupe::dedupe_staged;
use crate::sink::{Lake, ParquetOptions, StagedTable, TableWriter};
use crate::state::{SchemaChange, TableEntry};

/// Messages the write queue holds before the network side waits for the write side: a
/// message is one row or one page's blocks, so the queue holds a few MiB at most.
pub const WRITE_QUEUE: usize = 256;

/// Rows flattened per batch (memory stays bounded whatever the table size).
pub const BATCH_ROWS: usize = 2048;

/// A typed table open on the write side, named by the network side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct TableSlot(u32);

/// What the network side asks the write side to do.
enum Write {
    /// Rows of a fixed table.
    Fixed(FixedTable, Vec<Value>),
    /// A fixed table this run does not write after all (the integration lacks a capability).
    Skip(FixedTable),
    /// Opens a typed table.
    Open(TableSlot, TableEntry),
    /// A row of a typed table (a page object whose truncated values were completed).
    Row(TableSlot, Value),
    /// Closes a typed table and reports it.
    Close(TableSlot, TableClose),
    /// Ends a segment: everything written so far, staged, is handed back for a checkpoint's
    /// commit, and the writing goes on in new files (named by the next segment, rows stamped
    /// with its info).
    Checkpoint(Segment, oneshot::Sender<Result<Written, SyncError>>),
}

/// The next segment of a run, as the write side names and stamps it.
pub(super) struct Segment {
    /// The id its files are named by.
    pub files_run_id: String,
    /// The run and instant its rows carry.
    pub info: RunInfo,
}

/// What the network side knows of a table it closes.
pub(super) struct TableClose {
    /// Data source id.
    pub data_source_id: String,
    /// Values completed through the property-item endpoint.
    pub completed_values: usize,
    /// Schema changes since the previous sync.
    pub changes: Vec<SchemaChange>,
}

impl TableClose {
    /// The close of a table opened again in the run (rows read again): no schema change.
    pub fn again(entry: &TableEntry, completed_values: usize) -> TableClose {
        TableClose {
            data_source_id: entry.data_source_id.clone(),
            completed_values,
            changes: Vec::new(),
        }
    }
}

/// Everything the write side wrote, staged for the commit.
#[derive(Debug, Default)]
pub(super) struct Written {
    /// Per typed table.
    pub tables: Vec<TableReport>,
    /// Per fixed table written.
    pub fixed: Vec<FixedReport>,
    /// The rich-text items' files.
    pub rich_text: Vec<crate::sink::WrittenFile>,
    /// Every table's files, for the commit.
    pub staged: Vec<StagedTable>,
    /// Values the flattening could not type (kept as raw JSON).
    pub warnings: Vec<String>,
}

impl Written {
    /// Adds what a later segment wrote to what the earlier ones did, for a run's summary:
    /// rows and files per table.
    pub fn absorb(&mut self, later: Written) {
        for t in later.tables {
            match self.tables.iter_mut().find(|r| r.table == t.table) {
                Some(r) => {
                    r.rows += t.rows;
                    r.completed_values += t.completed_values;
                    r.files.extend(t.files);
                    r.changes.extend(t.changes);
                }
                None => self.tables.push(t),
            }
        }
        for f in later.fixed {
            match self.fixed.iter_mut().find(|r| r.table == f.table) {
                Some(r) => {
                    r.rows += f.rows;
                    r.files.extend(f.files);
                }
                None => self.fixed.push(f),
            }
        }
        self.rich_text.extend(later.rich_text);
        self.warnings.extend(later.warnings);
    }
}

/// Where a run's files go: lake, partition, run and Parquet settings.
pub(super) struct Destination {
    /// The lake.
    pub lake: Lake,
    /// `sync_date=YYYY-MM-DD`.
    pub partition: String,
    /// Run id and instant stamped on every row.
    pub info: RunInfo,
    /// The id the files are named by: the run's segment (the run's own id until its first
    /// checkpoint).
    pub files_run_id: String,
    /// Parquet settings.
    pub parquet: ParquetOptions,
}

impl Destination {
    fn writer(&self, table_dir: &str, schema: arrow::datatypes::SchemaRef) -> TableWriter {
        TableWriter::new(
            &self.lake,
            table_dir,
            &self.partition,
            &self.files_run_id,
            schema,
            self.parquet.clone(),
        )
    }
}

/// The network side's handle on the write side.
pub(super) struct Output {
    queue: Option<mpsc::Sender<Write>>,
    task: Option<JoinHandle<Result<Written, SyncError>>>,
    next_slot: u32,
}

impl Drop for Output {
    fn drop(&mut self) {
        // A run that failed on the network side stops writing: its files stay uncommitted.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Output {
    /// Starts the write side with a writer for each fixed table in `fixed`.
    pub fn start(destination: Destination, fixed: impl IntoIterator<Item = FixedTable>) -> Output {
        let (queue, inbox) = mpsc::channel(WRITE_QUEUE);
        let side = WriteSide::new(destination, fixed);
        Output {
            queue: Some(queue),
            task: Some(tokio::spawn(tracing::Instrument::in_current_span(
                side.run(inbox),
            ))),
            next_slot: 0,
        }
    }

    async fn send(&mut self, write: Write) -> Result<(), SyncError> {
        let sent = match &self.queue {
            Some(queue) => queue.send(write).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The write side stopped: its error is the run's.
        self.queue = None;
        Err(match self.wait().await {
            Err(e) => e,
            Ok(_) => SyncError::Internal("it stopped before the run ended".into()),
        })
    }

    async fn wait(&mut self) -> Result<Written, SyncError> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| SyncError::Internal(e.to_string()))?,
            None => Err(SyncError::Internal("it already ended".into())),
        }
    }

    /// Adds a row to a fixed table.
    pub async fn fixed(&mut self, table: FixedTable, row: Value) -> Result<(), SyncError> {
        self.send(Write::Fixed(table, vec![row])).await
    }

    /// Adds rows to a fixed table.
    pub async fn fixed_rows(
        &mut self,
        table: FixedTable,
        rows: Vec<Value>,
    ) -> Result<(), SyncError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.send(Write::Fixed(table, rows)).await
    }

    /// Drops a fixed table from the run: nothing of it is written or reported.
    pub async fn skip(&mut self, table: FixedTable) -> Result<(), SyncError> {
        self.send(Write::Skip(table)).await
    }

    /// Opens the typed table of `entry`.
    pub async fn open(&mut self, entry: TableEntry) -> Result<TableSlot, SyncError> {
        let slot = TableSlot(self.next_slot);
        self.next_slot += 1;
        self.send(Write::Open(slot, entry)).await?;
        Ok(slot)
    }

    /// Adds a row to an open typed table.
    pub async fn row(&mut self, slot: TableSlot, row: Value) -> Result<(), SyncError> {
        self.send(Write::Row(slot, row)).await
    }

    /// Closes a typed table: its last rows are written and it is reported.
    pub async fn close(&mut self, slot: TableSlot, close: TableClose) -> Result<(), SyncError> {
        self.send(Write::Close(slot, close)).await
    }

    /// Ends the segment (no typed table may be open): what it wrote, staged for the
    /// checkpoint's commit; writing goes on for `next`.
    pub async fn checkpoint(&mut self, next: Segment) -> Result<Written, SyncError> {
        let (tx, rx) = oneshot::channel();
        self.send(Write::Checkpoint(next, tx)).await?;
        match rx.await {
            Ok(written) => written,
            Err(_) => Err(match self.wait().await {
                Err(e) => e,
                Ok(_) => SyncError::Internal("the write side stopped in a checkpoint".into()),
            }),
        }
    }

    /// Waits until every file is written and closed; returns what was written.
    pub async fn finish(&mut self) -> Result<Written, SyncError> {
        self.queue = None;
        self.wait().await
    }
}

/// A fixed table being written in batches.
struct FixedWriter {
    builder: FixedBatchBuilder,
    written: usize,
    writer: TableWriter,
}

/// A typed table being written.
struct OpenTable {
    entry: TableEntry,
    builder: TableBuilder,
    writer: TableWriter,
    rows: usize,
}

/// The write side's own state (it lives in its task).
struct WriteSide {
    destination: Destination,
    fixed: HashMap<FixedTable, FixedWriter>,
    open: HashMap<TableSlot, OpenTable>,
    rich: TableWriter,
    written: Written,
}

impl WriteSide {
    fn new(destination: Destination, fixed: impl IntoIterator<Item = FixedTable>) -> WriteSide {
        let fixed = fixed
            .into_iter()
            .map(|table| {
                let writer = destination.writer(table.name(), table.schema());
                let w = FixedWriter {
                    builder: FixedBatchBuilder::new(table, &destination.info),
                    written: 0,
                    writer,
                };
                (table, w)
            })
            .collect();
        let rich = destination.writer(RICH_TEXT_TABLE, rich_text_schema());
        WriteSide {
            destination,
            fixed,
            open: HashMap::new(),
            rich,
            written: Written::default(),
        }
    }

    async fn run(mut self, mut inbox: mpsc::Receiver<Write>) -> Result<Written, SyncError> {
        while let Some(write) = inbox.recv().await {
            match write {
                Write::Fixed(table, rows) => self.fixed_rows(table, rows).await?,
                Write::Skip(table) => {
                    self.fixed.remove(&table);
                }
                Write::Open(slot, entry) => self.open_table(slot, entry),
                Write::Row(slot, row) => self.table_row(slot, &row).await?,
                Write::Close(slot, close) => self.close_table(slot, close).await?,
                Write::Checkpoint(next, answer) => {
                    let _ = answer.send(self.end_segment(next).await);
                }
            }
        }
        self.finish().await
    }

    /// Stages what the segment wrote (deduplicated) and starts the next segment's files.
    async fn end_segment(&mut self, next: Segment) -> Result<Written, SyncError> {
        if let Some(slot) = self.open.keys().next() {
            return Err(SyncError::Internal(format!(
                "a checkpoint while table {slot:?} is open"
            )));
        }
        let tables: Vec<FixedTable> = FixedTable::ALL
            .into_iter()
            .filter(|t| self.fixed.contains_key(t))
            .collect();
        for table in &tables {
            self.stage_fixed(*table).await?;
        }
        let ended = std::mem::replace(&mut self.destination.files_run_id, next.files_run_id);
        let rich = self.destination.writer(RICH_TEXT_TABLE, rich_text_schema());
        let rich = std::mem::replace(&mut self.rich, rich).finish().await?;
        self.written.rich_text = rich.files.clone();
        self.written.staged.push(rich);
        let mut written = std::mem::take(&mut self.written);
        let d = &self.destination;
        dedupe(&d.lake, &ended, &d.parquet, &mut written).await?;
        self.destination.info = next.info;
        // A table listed whole was written by the segment that listed it; a later segment
        // staging it empty would commit it as an empty table.
        for table in tables.into_iter().filter(|t| !t.listed_whole()) {
            let writer = self.destination.writer(table.name(), table.schema());
            let fresh = FixedWriter {
                builder: FixedBatchBuilder::new(table, &self.destination.info),
                written: 0,
                writer,
            };
            self.fixed.insert(table, fresh);
        }
        Ok(written)
    }

    /// Writes out a fixed table's last rows and stages its files (it is then closed).
    async fn stage_fixed(&mut self, table: FixedTable) -> Result<(), SyncError> {
        if let Some(mut t) = self.fixed.remove(&table) {
            flush_fixed(table, &mut t).await?;
            let staged = t.writer.finish().await?;
            self.written.fixed.push(FixedReport {
                table: table.name().to_string(),
                rows: t.written,
                files: staged.files.clone(),
            });
            self.written.staged.push(staged);
        }
        Ok(())
    }

    async fn fixed_rows(&mut self, table: FixedTable, rows: Vec<Value>) -> Result<(), SyncError> {
        // A skipped table's late rows go nowhere, as the table does.
        let Some(t) = self.fixed.get_mut(&table) else {
            return Ok(());
        };
        for row in &rows {
            t.builder.append(row);
            if t.builder.len() >= BATCH_ROWS {
                flush_fixed(table, t).await?;
            }
        }
        Ok(())
    }

    fn open_table(&mut self, slot: TableSlot, entry: TableEntry) {
        let builder = TableBuilder::new(&entry.layout(), &self.destination.info);
        let dir = format!("tables/{}", entry.table);
        // A table opened again in the run (its rows re-read for their computed values) numbers
        // its files after the ones already written.
        let written_before = self
            .written
            .staged
            .iter()
            .find(|s| s.table_dir == dir)
            .map_or(0, |s| s.files.len());
        let writer = self
            .destination
            .writer(&dir, builder.schema())
            .starting_at(written_before);
        let table = OpenTable {
            entry,
            builder,
            writer,
            rows: 0,
        };
        self.open.insert(slot, table);
    }

    async fn table_row(&mut self, slot: TableSlot, row: &Value) -> Result<(), SyncError> {
        let Some(t) = self.open.get_mut(&slot) else {
            return Err(SyncError::Internal(format!(
                "a row came for table {slot:?}, which is not open"
            )));
        };
        t.builder.append_page(row);
        t.rows += 1;
        if t.builder.len() >= BATCH_ROWS {
            flush_table(t, &mut self.rich).await?;
        }
        Ok(())
    }

    async fn close_table(&mut self, slot: TableSlot, close: TableClose) -> Result<(), SyncError> {
        let Some(mut t) = self.open.remove(&slot) else {
            return Err(SyncError::Internal(format!(
                "table {slot:?} was closed twice"
            )));
        };
        flush_table(&mut t, &mut self.rich).await?;
        self.written.warnings.extend(t.builder.take_warnings());
        let staged = t.writer.finish().await?;
        let table = t.entry.table;
        tracing::info!(table = %table, rows = t.rows, files = staged.files.len(), "table written");
        // A table opened again joins what the run already wrote of it: one staged table and one
        // report per table.
        if let Some(before) = self
            .written
            .staged
            .iter_mut()
            .find(|s| s.table_dir == staged.table_dir)
        {
            let files = staged.files;
            before.files.extend(files.iter().cloned());
            if let Some(report) = self.written.tables.iter_mut().find(|r| r.table == table) {
                report.rows += t.rows;
                report.completed_values += close.completed_values;
                report.files.extend(files);
            }
            return Ok(());
        }
        self.written.tables.push(TableReport {
            table,
            data_source_id: close.data_source_id,
            rows: t.rows,
            completed_values: close.completed_values,
            files: staged.files.clone(),
            changes: close.changes,
        });
        self.written.staged.push(staged);
        Ok(())
    }

    async fn finish(mut self) -> Result<Written, SyncError> {
        if let Some(slot) = self.open.keys().next() {
            return Err(SyncError::Internal(format!(
                "table {slot:?} was never closed"
            )));
        }
        for table in FixedTable::ALL {
            self.stage_fixed(table).await?;
        }
        let rich = self.rich.finish().await?;
        self.written.rich_text = rich.files.clone();
        self.written.staged.push(rich);
        let d = &self.destination;
        dedupe(&d.lake, &d.files_run_id, &d.parquet, &mut self.written).await?;
        Ok(self.written)
    }
}

/// One row per key in every staged table, the last copy winning (see
/// [`crate::sink::dedupe`]; rewritten files are named by `files_run_id`); the reports follow.
async fn dedupe(
    lake: &Lake,
    files_run_id: &str,
    parquet: &ParquetOptions,
    written: &mut Written,
) -> Result<(), SyncError> {
    for i in 0..written.staged.len() {
        let staged = std::mem::replace(
            &mut written.staged[i],
            StagedTable {
                table_dir: String::new(),
                schema: std::sync::Arc::new(arrow::datatypes::Schema::empty()),
                files: Vec::new(),
            },
        );
        let (staged, deduped) = dedupe_staged(lake, staged, files_run_id, parquet).await?;
        if deduped.dropped > 0 {
            let w = &mut *written;
            let dir = staged.table_dir.as_str();
            if let Some(r) = w
                .tables
                .iter_mut()
                .find(|r| dir.strip_prefix("tables/") == Some(r.table.as_str()))
            {
                r.rows -= deduped.dropped.min(r.rows);
                r.files = staged.files.clone();
            } else if let Some(r) = w.fixed.iter_mut().find(|r| r.table == dir) {
                r.rows -= deduped.dropped.min(r.rows);
                r.files = staged.files.clone();
            } else if dir == RICH_TEXT_TABLE {
                w.rich_text = staged.files.clone();
            }
        }
        written.staged[i] = staged;
    }
    Ok(())
}

async fn flush_fixed(table: FixedTable, t: &mut FixedWriter) -> Result<(), SyncError> {
    if t.builder.is_empty() {
        return Ok(());
    }
    t.written += t.builder.len();
    let batch = t.builder.finish().map_err(|source| SyncError::Arrow {
        table: table.name().to_string(),
        source,
    })?;
    t.writer.write(&batch).await?;
    Ok(())
}

async fn flush_table(t: &mut OpenTable, rich: &mut TableWriter) -> Result<(), SyncError> {
    if t.builder.is_empty() {
        return Ok(());
    }
    let (batch, rich_batch) = t.builder.finish().map_err(|source| SyncError::Arrow {
        table: t.entry.table.clone(),
        source,
    })?;
    t.writer.write(&batch).await?;
    rich.write(&rich_batch).await?;
    Ok(())
}
