//! A full sync of the workspace: users; discovery (search for pages and data sources, or the
//! selected roots and databases); every data source into its typed table; every page's content
//! and comments crawled with bounded parallelism under the one shared rate limiter, following
//! child pages and child databases that search missed; the fixed tables written in bounded
//! batches; and, once every file is durable, the schema registry and the run record.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use super::crawl::{Crawler, PageContent};
use super::tables::{
    FixedReport, SyncError, SyncOptions, SyncReport, TableReport, discover_data_sources,
    new_run_id, registry_for_run,
};
use crate::flatten::fixed::{
    FixedTable, RICH_TEXT_TABLE, data_source_row, database_row, page_row, rows_to_batch, stamp,
    user_row,
};
use crate::flatten::{RunInfo, TableBuilder, rich_text_schema};
use crate::model::{DataSourceRef, DataSourceSchema, is_trashed, normalize_id};
use crate::notion::{NotionClient, SearchTarget};
use object_store::ObjectStoreExt;

use crate::sink::{Lake, PARTITION_COLUMN, SinkError, TableWriter};
use crate::state::Registry;
use crate::state::lock::LakeLock;
use crate::state::registry::REGISTRY_PATH;
use crate::state::sync_state::{
    PageMark, RunMark, STATE_PATH, SourceMark, SyncState, mark_changed, settled_when_read,
};

/// Rows flattened per batch (memory stays bounded whatever the table size).
pub const BATCH_ROWS: usize = 2048;

/// A fixed table being written in batches.
struct FixedWriter {
    table: FixedTable,
    rows: Vec<Value>,
    written: usize,
    writer: TableWriter,
}

impl FixedWriter {
    async fn push(&mut self, row: Value, run: &RunStamp) -> Result<(), SyncError> {
        self.rows.push(stamp(row, &run.synced_at, &run.run_id));
        if self.rows.len() >= BATCH_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SyncError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = rows_to_batch(self.table, &self.rows).map_err(|source| SyncError::Arrow {
            table: self.table.name().to_string(),
            source,
        })?;
        self.written += self.rows.len();
        self.rows.clear();
        self.writer.write(&batch).await?;
        Ok(())
    }
}

/// Pages whose content waits to be read. A full sync queues every page of the workspace before
/// the crawl starts, so canonical ids are kept as their 128 bits (16 bytes each, not a heap
/// string of 36); others, which real Notion does not send, as they are.
#[derive(Debug, Default)]
struct CrawlQueue {
    compact: Vec<u128>,
    other: Vec<String>,
}

impl CrawlQueue {
    fn push(&mut self, id: String) {
        match crate::model::uuid_bits(&id) {
            Some(bits) => self.compact.push(bits),
            None => self.other.push(id),
        }
    }

    fn is_empty(&self) -> bool {
        self.compact.is_empty() && self.other.is_empty()
    }

    /// The queued ids, in the order they were queued (canonical ones first).
    fn into_ids(self) -> impl Iterator<Item = String> {
        self.compact
            .into_iter()
            .map(crate::model::uuid_text)
            .chain(self.other)
    }
}

struct RunStamp {
    run_id: String,
    synced_at: String,
}

/// Everything a run accumulates.
pub(super) struct Run<'a> {
    pub(super) client: &'a NotionClient,
    pub(super) lake: &'a Lake,
    pub(super) options: &'a SyncOptions,
    pub(super) registry: Registry,
    pub(super) info: RunInfo,
    stamp: RunStamp,
    pub(super) partition: String,
    fixed: HashMap<FixedTable, FixedWriter>,
    pub(super) rich: TableWriter,
    pub(super) tables: Vec<TableReport>,
    pub(super) warnings: Vec<String>,
    skipped: Vec<String>,
    databases_seen: HashSet<String>,
    sources_seen: HashSet<String>,
    crawl_queue: CrawlQueue,
    pending: Vec<DataSourceRef>,
    progress: indicatif::ProgressBar,
    counts: (usize, usize),
    /// State of the previous run, updated in place with the marks of the pages this run sees
    /// (one map, not a second one per run: it is the only per-page memory of a sync).
    pub(super) state: SyncState,
    /// Rows edited since this instant are read (incremental runs).
    pub(super) cursor: Option<chrono::DateTime<chrono::Utc>>,
    /// When the run started: every read of the run happens after it.
    started_at: chrono::DateTime<chrono::Utc>,
    /// A full refresh (everything read again; vanished ids detected).
    full: bool,
    tombstones: usize,
}

impl Run<'_> {
    /// Whether the selection asks for `table`.
    fn wants(&self, table: FixedTable) -> bool {
        let s = &self.options.selection;
        match table {
            FixedTable::Pages => s.pages,
            FixedTable::Databases | FixedTable::DataSources | FixedTable::Properties => s.databases,
            FixedTable::Blocks => s.blocks,
            FixedTable::Users => s.users,
            FixedTable::Comments => self.options.comments != super::crawl::CommentsMode::None,
            FixedTable::Tombstones => true,
        }
    }

    fn crawls(&self) -> bool {
        self.wants(FixedTable::Blocks) || self.wants(FixedTable::Comments)
    }

    /// Adds a row to a fixed table this run writes (the selection may leave it out).
    async fn push(&mut self, table: FixedTable, row: Value) -> Result<(), SyncError> {
        if let Some(t) = self.fixed.get_mut(&table) {
            t.push(row, &self.stamp).await?;
        }
        Ok(())
    }

    pub(super) fn tick(&mut self) {
        let stats = self.client.stats();
        self.progress.set_message(format!(
            "pages {}  blocks {}  requests {}  retries {}",
            self.counts.0, self.counts.1, stats.total_requests, stats.retries
        ));
    }

    /// Records a page object (a row of `table`, or a standalone page): writes its `pages` row
    /// and queues its content for the crawl when it changed since the last run, records a
    /// tombstone when it was moved to the trash. `listing` is the current data-source listing
    /// when a query returned the page (0 otherwise). Returns false if the page was already
    /// returned by this listing (a row to skip), or, outside a listing, already seen by this run.
    pub(super) async fn add_page(
        &mut self,
        page: &Value,
        table: Option<&str>,
        listing: u16,
    ) -> Result<bool, SyncError> {
        let Some(id) = page.get("id").and_then(Value::as_str).map(normalize_id) else {
            return Ok(false);
        };
        // A row's table: given by the caller, or found from its data source in the registry.
        let from_parent = match page.get("parent").map(crate::model::Parent::from_json) {
            Some(
                crate::model::Parent::DataSource { id, .. } | crate::model::Parent::Database { id },
            ) => self.registry.table(&id).map(|t| t.table.clone()),
            _ => None,
        };
        let table = table.map(str::to_string).or(from_parent);
        let seen = self
            .state
            .pages
            .observe(&id, table.as_deref(), listing)
            .map_err(spill_error)?;
        if !seen.first_in_run {
            return Ok(listing != 0 && seen.first_in_listing);
        }
        let edited = page
            .get("last_edited_time")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let trashed = is_trashed(page);
        let previous = seen.previous;
        let was_trashed = previous.as_ref().map(|m| m.trashed);
        let changed = self.full
            || mark_changed(previous.as_ref(), &edited, self.cursor)
            || was_trashed.is_some_and(|t| t != trashed);
        // Read now (or already settled, and so not read again).
        let settled = if changed {
            settled_when_read(&edited, self.started_at)
        } else {
            // Unchanged under the cursor rule of marks from before `settled`: edited before the
            // cursor, so read in a later minute.
            previous.as_ref().is_some_and(|m| m.settled.unwrap_or(true))
        };
        let table = table.or_else(|| previous.and_then(|m| m.table));
        if trashed
            && was_trashed == Some(false)
            && let Some(t) = &table
        {
            self.tombstone(t, &id, "trashed").await?;
        }
        self.state
            .pages
            .record(
                &id,
                PageMark {
                    last_edited_time: edited,
                    table,
                    trashed,
                    settled: Some(settled),
                },
                listing,
            )
            .map_err(spill_error)?;
        if !changed {
            return Ok(true);
        }
        self.counts.0 += 1;
        self.push(FixedTable::Pages, page_row(page)).await?;
        if !trashed && self.crawls() {
            self.crawl_queue.push(id);
        }
        Ok(true)
    }

    /// Reads the pages search returns (since the cursor, most recent first, on incremental
    /// runs), as they arrive: a workspace's results are never all in memory at once. Returns
    /// the rows of databases that `found_sources` lacks, by database: under Notion-Version
    /// 2022-06-28 search omits a database with several data sources, which cannot be queried,
    /// and its rows come only from here.
    async fn search_pages(
        &mut self,
        found_sources: &HashMap<String, Value>,
    ) -> Result<BTreeMap<String, Vec<Value>>, SyncError> {
        let client = self.client;
        let mut found = match self.cursor {
            Some(_) => client.search_pages_recent_first(),
            None => client.search(SearchTarget::Pages),
        };
        let mut search_rows: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        while let Some(p) = found.try_next().await? {
            if let Some(c) = self.cursor {
                let edited = p
                    .get("last_edited_time")
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
                if edited.is_some_and(|t| t.with_timezone(&chrono::Utc) < c) {
                    break;
                }
            }
            if p.get("object").and_then(Value::as_str) != Some("page") {
                continue;
            }
            self.add_page(&p, None, 0).await?;
            if !client.version().has_data_sources()
                && let Some(crate::model::Parent::Database { id }) =
                    p.get("parent").map(crate::model::Parent::from_json)
                && !found_sources.contains_key(&normalize_id(&id))
            {
                search_rows.entry(normalize_id(&id)).or_default().push(p);
            }
        }
        Ok(search_rows)
    }

    async fn tombstone(&mut self, table: &str, id: &str, reason: &str) -> Result<(), SyncError> {
        self.tombstones += 1;
        self.push(
            FixedTable::Tombstones,
            json!({"table": table, "id": id, "reason": reason}),
        )
        .await
    }

    /// A database found by a child_database block or a `--database` selection.
    async fn add_database(&mut self, database_id: &str) -> Result<Vec<DataSourceRef>, SyncError> {
        let database_id = normalize_id(database_id);
        if !self.databases_seen.insert(database_id.clone()) {
            return Ok(Vec::new());
        }
        let db = match self.client.retrieve_database(&database_id).await {
            Ok(db) => db,
            Err(e) if e.is_not_found() => {
                self.warnings.push(format!(
                    "database {database_id} vanished or is not shared; skipped"
                ));
                return Ok(Vec::new());
            }
            // Notion-Version 2022-06-28 cannot read a database with several data sources.
            Err(e) if e.kind() == crate::notion::ErrorKind::InvalidRequest => {
                self.warnings.push(format!(
                    "database {database_id} cannot be read with Notion-Version {}: {e}; its rows are read from search results where search returns them",
                    self.client.version()
                ));
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let sources: Vec<DataSourceRef> = if self.client.version().has_data_sources() {
            db.get("data_sources")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|d| d.get("id").and_then(Value::as_str))
                        .map(|id| DataSourceRef {
                            id: normalize_id(id),
                            database_id: Some(database_id.clone()),
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            DataSourceRef::from_object(&db).into_iter().collect()
        };
        let ids: Vec<String> = sources.iter().map(|s| s.id.clone()).collect();
        self.push(FixedTable::Databases, database_row(&db, &ids))
            .await?;
        Ok(sources)
    }

    /// Extracts one data source: schema, rows (typed table and `pages`), queued row content.
    /// `found` is the object search returned for it, whose schema is used when it carries one.
    async fn extract_source(
        &mut self,
        source: DataSourceRef,
        found: Option<Value>,
    ) -> Result<(), SyncError> {
        if !self.sources_seen.insert(source.id.clone()) {
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
        let edited = schema_obj
            .get("last_edited_time")
            .and_then(Value::as_str)
            .map(str::to_string);
        let known = self
            .state
            .data_sources
            .get(&source.id)
            .is_some_and(|m| m.last_edited_time == edited);
        self.state.data_sources.insert(
            source.id.clone(),
            SourceMark {
                last_edited_time: edited,
                database_id: schema.source.database_id.clone(),
            },
        );
        let metadata_changed = self.full || !known;
        if let Some(db) = schema
            .source
            .database_id
            .clone()
            .filter(|_| metadata_changed)
        {
            if !self.client.version().has_data_sources() {
                // Under 2022-06-28 the schema object is the database itself.
                if self.databases_seen.insert(normalize_id(&db)) {
                    self.push(
                        FixedTable::Databases,
                        database_row(&schema_obj, std::slice::from_ref(&source.id)),
                    )
                    .await?;
                }
            } else if self.wants(FixedTable::Databases) {
                let siblings = self.add_database(&db).await?;
                self.pending.extend(
                    siblings
                        .into_iter()
                        .filter(|s| !self.sources_seen.contains(&s.id)),
                );
            }
        }
        let (entry, changes) = self.registry.plan(&schema, &self.info.run_id);
        let entry = entry.clone();
        if metadata_changed {
            self.record_source_metadata(&schema_obj, &schema, &entry)
                .await?;
        }
        self.extract_rows(&source, &entry, changes).await
    }

    async fn record_source_metadata(
        &mut self,
        schema_obj: &Value,
        schema: &DataSourceSchema,
        entry: &crate::state::TableEntry,
    ) -> Result<(), SyncError> {
        self.push(
            FixedTable::DataSources,
            data_source_row(
                schema_obj,
                &entry.data_source_id,
                entry.database_id.as_deref(),
                &entry.table,
                schema.properties.len(),
            ),
        )
        .await?;
        for p in &schema.properties {
            let column = entry
                .columns
                .iter()
                .find(|c| c.active && c.property_id == p.id)
                .map(|c| c.column.clone());
            self.push(FixedTable::Properties, json!({"data_source_id": entry.data_source_id, "table": entry.table, "property_id": p.id, "name": p.name, "type": p.kind, "column": column, "config": p.config.to_string()})).await?;
        }
        Ok(())
    }

    /// Records what a crawled page held; returns the boundaries it found.
    async fn absorb(
        &mut self,
        content: PageContent,
    ) -> Result<(Vec<String>, Vec<String>), SyncError> {
        self.counts.1 += content.blocks.len();
        if self.wants(FixedTable::Blocks) {
            for b in content.blocks {
                self.push(FixedTable::Blocks, b).await?;
            }
        }
        for c in content.comments {
            self.push(FixedTable::Comments, c).await?;
        }
        self.tick();
        Ok((content.child_pages, content.child_databases))
    }
}

pub(super) async fn flush(
    builder: &mut TableBuilder,
    writer: &mut TableWriter,
    rich: &mut TableWriter,
    table: &str,
) -> Result<(), SyncError> {
    if builder.is_empty() {
        return Ok(());
    }
    let (batch, rich_batch) = builder.finish().map_err(|source| SyncError::Arrow {
        table: table.to_string(),
        source,
    })?;
    writer.write(&batch).await?;
    rich.write(&rich_batch).await?;
    Ok(())
}

/// Syncs the workspace the client's token can see into the lake: a full refresh the first
/// time (and when asked, or every `full_every` runs), incrementally otherwise. Holds the lake
/// lock for the whole run.
pub async fn sync_workspace(
    client: &NotionClient,
    lake: &Lake,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let now = options.now.unwrap_or_else(chrono::Utc::now);
    let run_id = new_run_id(now);
    let lock = LakeLock::acquire(lake, &run_id, options.lock_ttl).await?;
    let result = run_locked(client, lake, &lock, options, now, run_id).await;
    // The lock goes whatever happened; an error of the run wins over one of the release.
    let released = lock.release().await;
    let report = result?;
    released?;
    Ok(report)
}

/// Deletes data files of runs that never committed (a crash or kill mid-run): their rows are
/// read again by this run. Returns how many files were removed.
pub async fn remove_uncommitted(lake: &Lake) -> Result<usize, SinkError> {
    let store = lake.store();
    let runs_dir = lake.path("_notionlake/runs");
    let committed: HashSet<String> = store
        .list(Some(&runs_dir))
        .map_ok(|m| {
            m.location
                .filename()
                .unwrap_or_default()
                .trim_end_matches(".json")
                .to_string()
        })
        .try_collect()
        .await
        .map_err(|source| SinkError::Store {
            action: "listing",
            path: runs_dir.to_string(),
            source,
        })?;
    // Streamed: only the orphans are kept, never the whole lake's listing.
    let mut listing = store.list(Some(lake.root()));
    let mut orphans = Vec::new();
    while let Some(f) = listing
        .try_next()
        .await
        .map_err(|source| SinkError::Store {
            action: "listing",
            path: lake.root().to_string(),
            source,
        })?
    {
        let name = f.location.filename().unwrap_or_default();
        let run = name
            .strip_prefix("part-")
            .and_then(|n| n.strip_suffix(".parquet"))
            .and_then(|n| n.rsplit_once('-'))
            .map(|(r, _)| r);
        if run.is_some_and(|r| !committed.contains(r)) {
            orphans.push(f.location);
        }
    }
    drop(listing);
    for path in &orphans {
        store
            .delete(path)
            .await
            .map_err(|source| SinkError::Store {
                action: "removing",
                path: path.to_string(),
                source,
            })?;
    }
    Ok(orphans.len())
}

/// A failure of the temporary files that hold page marks past the memory budget.
pub(super) fn spill_error(source: std::io::Error) -> SyncError {
    SyncError::Spill {
        dir: std::env::temp_dir().display().to_string(),
        source,
    }
}

/// The state of the previous run. Streamed through a temporary file rather than read whole:
/// `state.json` holds a line per page of the workspace, and its page marks spill to disk past
/// the budget.
async fn load_state(lake: &Lake, marks_in_memory: usize) -> Result<SyncState, SyncError> {
    let mut state = match lake.read_to_temp_file(STATE_PATH).await? {
        None => SyncState {
            format: 1,
            ..SyncState::default()
        },
        Some(file) => {
            let corrupt = |message: String| SyncError::CorruptState {
                path: STATE_PATH.into(),
                message,
            };
            tokio::task::spawn_blocking(move || {
                serde_json::from_reader::<_, SyncState>(std::io::BufReader::with_capacity(
                    1 << 16,
                    file,
                ))
            })
            .await
            .map_err(|e| corrupt(format!("reading it was interrupted: {e}")))?
            .map_err(|e| corrupt(e.to_string()))?
        }
    };
    state
        .pages
        .set_budget(marks_in_memory)
        .map_err(spill_error)?;
    Ok(state)
}

async fn run_locked(
    client: &NotionClient,
    lake: &Lake,
    lock: &LakeLock,
    options: &SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    run_id: String,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let registry = registry_for_run(lake, options.ascii_names).await?;
    let state = load_state(lake, options.marks_in_memory).await?;
    let orphans = remove_uncommitted(lake).await?;
    if orphans > 0 {
        tracing::warn!(
            files = orphans,
            "removed data files of an interrupted run; this run reads their rows again"
        );
    }
    let selection = &options.selection;
    let restricted = !selection.roots.is_empty() || !selection.only_databases.is_empty();
    let full = options.full_refresh
        || state.last_run.is_none()
        || (options.full_every > 0 && state.runs_since_full + 1 >= options.full_every);
    let cursor = if full {
        None
    } else {
        state.cursor(options.safety_margin)
    };
    let info = RunInfo {
        run_id,
        synced_at: now.timestamp_micros(),
    };
    let partition = format!("{PARTITION_COLUMN}={}", now.format("%Y-%m-%d"));
    let progress = if options.progress && std::io::stderr().is_terminal() {
        let p = indicatif::ProgressBar::new_spinner();
        p.enable_steady_tick(std::time::Duration::from_millis(200));
        p
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut run = Run {
        client,
        lake,
        options,
        registry,
        stamp: RunStamp {
            run_id: info.run_id.clone(),
            synced_at: now.to_rfc3339(),
        },
        rich: TableWriter::new(
            lake,
            &format!("{RICH_TEXT_TABLE}/{partition}"),
            &info.run_id,
            rich_text_schema(),
            options.parquet.clone(),
        ),
        fixed: HashMap::new(),
        info,
        partition,
        tables: Vec::new(),
        warnings: Vec::new(),
        skipped: Vec::new(),
        databases_seen: HashSet::new(),
        sources_seen: HashSet::new(),
        crawl_queue: CrawlQueue::default(),
        pending: Vec::new(),
        progress,
        counts: (0, 0),
        state,
        cursor,
        started_at: now,
        full,
        tombstones: 0,
    };
    for table in FixedTable::ALL {
        if run.wants(table) {
            let writer = TableWriter::new(
                lake,
                &format!("{}/{}", table.name(), run.partition),
                &run.info.run_id,
                table.schema(),
                options.parquet.clone(),
            );
            run.fixed.insert(
                table,
                FixedWriter {
                    table,
                    rows: Vec::new(),
                    written: 0,
                    writer,
                },
            );
        }
    }

    if run.wants(FixedTable::Users) {
        match client.list_users().try_collect::<Vec<Value>>().await {
            Ok(users) => {
                for u in &users {
                    run.push(FixedTable::Users, user_row(u)).await?;
                }
            }
            Err(e) if e.is_restricted() => {
                run.warnings.push("the integration cannot read users (403 restricted_resource); the users table is skipped — enable the \"Read user information\" capability to get it".into());
                run.skipped.push(FixedTable::Users.name().into());
                run.fixed.remove(&FixedTable::Users);
            }
            Err(e) => return Err(e.into()),
        }
    }

    // Discovery.
    let mut found_sources: HashMap<String, Value> = HashMap::new();
    let mut search_rows = BTreeMap::new();
    if !selection.only_databases.is_empty() {
        for db in &selection.only_databases {
            let sources = run.add_database(db).await?;
            run.pending.extend(sources);
        }
    } else if selection.roots.is_empty() {
        for (source, obj) in discover_data_sources(client).await? {
            found_sources.insert(source.id.clone(), obj);
            run.pending.push(source);
        }
        if run.wants(FixedTable::Pages) || run.crawls() {
            search_rows = run.search_pages(&found_sources).await?;
        }
    }
    for root in &selection.roots {
        match client.retrieve_page(root).await {
            Ok(p) => {
                run.add_page(&p, None, 0).await?;
            }
            Err(e) if e.is_not_found() => run.warnings.push(format!(
                "page {root} does not exist or is not shared with the integration; skipped"
            )),
            Err(e) => return Err(e.into()),
        }
    }

    // Data sources and pages, until neither finds anything new.
    let crawler = Crawler::new(client.clone(), options.max_depth, options.comments);
    loop {
        while let Some(source) = run.pending.pop() {
            let found = found_sources.remove(&source.id);
            run.extract_source(source, found).await?;
        }
        if run.crawl_queue.is_empty() {
            break;
        }
        let batch = std::mem::take(&mut run.crawl_queue).into_ids();
        let mut results = futures::stream::iter(batch)
            .map(|id| {
                let c = Arc::clone(&crawler);
                async move { c.crawl_page(&id).await }
            })
            .buffer_unordered(options.concurrency.max(1));
        let (mut child_pages, mut child_dbs) = (Vec::new(), Vec::new());
        while let Some(content) = results.next().await {
            let (pages, dbs) = run.absorb(content?).await?;
            child_pages.extend(pages);
            child_dbs.extend(dbs);
        }
        drop(results);
        for id in child_pages {
            if run.state.pages.seen(&id).map_err(spill_error)? {
                continue;
            }
            match client.retrieve_page(&id).await {
                Ok(p) => {
                    run.add_page(&p, None, 0).await?;
                }
                Err(e) if e.is_not_found() => run.warnings.push(format!(
                    "child page {id} vanished or is not shared; skipped"
                )),
                Err(e) => return Err(e.into()),
            }
        }
        if selection.only_databases.is_empty() {
            for db in child_dbs {
                let sources = run.add_database(&db).await?;
                run.pending.extend(
                    sources
                        .into_iter()
                        .filter(|s| !run.sources_seen.contains(&s.id)),
                );
            }
        }
    }
    for (database_id, rows) in search_rows {
        if selection.tables {
            run.extract_search_rows(&database_id, rows).await?;
        }
    }
    run.warnings.extend(crawler.take_warnings());
    if crawler.comments_restricted() {
        run.skipped.push(FixedTable::Comments.name().into());
        run.fixed.remove(&FixedTable::Comments);
    }

    // Deletions a full refresh can see: known pages it no longer found.
    let mut state = std::mem::take(&mut run.state);
    if full && !restricted {
        for entry in state.pages.vanished() {
            let (id, table) = entry.map_err(spill_error)?;
            run.tombstone(table.as_deref().unwrap_or("pages"), &id, "vanished")
                .await?;
        }
        state.pages.forget_vanished();
    }

    // Commit: data files, then the run record (what marks them committed), then the state.
    let mut fixed = Vec::new();
    for table in FixedTable::ALL {
        if let Some(mut t) = run.fixed.remove(&table) {
            t.flush().await?;
            let files = t.writer.finish().await?;
            fixed.push(FixedReport {
                table: table.name().to_string(),
                rows: t.written,
                files,
            });
        }
    }
    let rich_text_files = run.rich.finish().await?;
    run.progress.finish_and_clear();
    let report = SyncReport {
        run_id: run.info.run_id.clone(),
        mode: if full {
            "full".into()
        } else {
            "incremental".into()
        },
        started_at: now.to_rfc3339(),
        duration_secs: started.elapsed().as_secs_f64(),
        tables: run.tables,
        rich_text_files,
        fixed,
        tombstones: run.tombstones,
        skipped: run.skipped,
        warnings: run.warnings,
        requests: client.stats(),
    };
    let report_json = serde_json::to_vec_pretty(&report).expect("report serialises");
    // Each commit step only while the lock is still ours: a run whose lock was taken over
    // stops here, and its data files stay uncommitted (the next sync removes them).
    lock.ensure_held().await?;
    lake.write(
        &format!("_notionlake/runs/{}.json", report.run_id),
        Bytes::from(report_json),
    )
    .await?;
    let registry_json = serde_json::to_vec_pretty(&run.registry).expect("registry serialises");
    lock.ensure_held().await?;
    lake.write(REGISTRY_PATH, Bytes::from(registry_json))
        .await?;
    if !restricted {
        state.last_run = Some(RunMark {
            run_id: report.run_id.clone(),
            started_at: now,
            full,
        });
        state.runs_since_full = if full { 0 } else { state.runs_since_full + 1 };
    }
    lock.ensure_held().await?;
    lake.write_pieces(STATE_PATH, state.json_pieces(1 << 16))
        .await?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    Ok(report)
}
