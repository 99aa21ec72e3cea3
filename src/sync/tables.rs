//! The pieces of a sync shared by every step: options and selection, reports, errors, the
//! schema registry's loading, data-source discovery by search, and the completion of values that
//! page objects truncate at 25 references (only those).

use std::collections::HashSet;

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::flatten::names::NameStyle;
use crate::model::{DataSourceRef, PropertySchema, is_trashed};
use crate::notion::{NotionClient, NotionError, SearchTarget, StatsSnapshot};
use crate::sink::{Lake, ParquetOptions, SinkError, WrittenFile};
use crate::state::registry::REGISTRY_PATH;
use crate::state::{Registry, SchemaChange};

/// A failed sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Talking to Notion failed.
    #[error(transparent)]
    Notion(#[from] NotionError),
    /// Writing the lake failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// Building Arrow data failed (a bug: please report it with the table name).
    #[error("could not build the Arrow data of table {table}: {source}")]
    Arrow {
        /// Table.
        table: String,
        /// Error.
        source: arrow::error::ArrowError,
    },
    /// Another sync holds the lake.
    #[error(transparent)]
    Locked(#[from] crate::state::lock::LockError),
    /// The lake's state is unreadable.
    #[error(
        "the lake's schema registry ({path}) is not valid JSON: {message}; restore it from a backup, or delete it to rebuild column names from scratch"
    )]
    CorruptRegistry {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// The lake's incremental state is unreadable.
    #[error(
        "the lake's sync state ({path}) is not valid: {message}; restore it from a backup, or delete it (the next sync is then a full refresh)"
    )]
    CorruptState {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// More rows than Notion returns per query were created in one minute, and no property of
    /// the data source divides them into parts under that cap.
    #[error(
        "table {table}: {window} are more than Notion returns for one query, and no property filter divides them below that limit (tried: {}); add a property of type ID (unique_id) to the data source in Notion, which numbers every row, then sync again",
        if .tried.is_empty() { "none available".to_string() } else { .tried.join(", ") }
    )]
    Unsplittable {
        /// Table.
        table: String,
        /// The rows that could not be divided.
        window: String,
        /// The filters tried, in order.
        tried: Vec<String>,
    },
    /// `--ascii-names` on a lake whose names keep every script.
    #[error(
        "this lake names its tables and columns in every script, so --ascii-names cannot apply to it (a lake never mixes the two styles); sync into a new lake with --ascii-names, or drop the flag"
    )]
    NamingMismatch,
    /// The temporary files that hold page marks past the memory budget failed.
    #[error(
        "could not use a temporary file in {dir} for the page marks of the sync: {source}; free space there, or point TMPDIR at a directory with room"
    )]
    Spill {
        /// The temporary directory.
        dir: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Options of a sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Parquet settings.
    pub parquet: ParquetOptions,
    /// What to extract.
    pub selection: Selection,
    /// Which comments to read.
    pub comments: super::crawl::CommentsMode,
    /// Deepest block nesting followed.
    pub max_depth: usize,
    /// Pages crawled at once (all share the client's rate limiter).
    pub concurrency: usize,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Read everything again (and detect vanished pages) even if an earlier run exists.
    pub full_refresh: bool,
    /// Make every Nth run a full refresh (0: only when asked).
    pub full_every: u32,
    /// How far before the previous run's start incremental reads begin (clock skew, index lag).
    pub safety_margin: chrono::Duration,
    /// Validity of the lake lock between refreshes.
    pub lock_ttl: std::time::Duration,
    /// Page marks (the per-page incremental state) held in memory; the rest spill to sorted
    /// temporary files, so a sync's memory does not grow with the workspace.
    pub marks_in_memory: usize,
    /// Name the tables and columns of a new lake with ASCII letters only.
    pub ascii_names: bool,
    /// The instant the run counts as started (the system clock when `None`): the cursor of the
    /// next run and the minute every read of this run is taken to be made in. Set it to replay
    /// a run at a known time.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

/// Deepest block nesting followed by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// Every Nth run is a full refresh by default.
pub const DEFAULT_FULL_EVERY: u32 = 24;

/// Pages crawled at once by default: enough to keep 3 requests/s busy despite latency.
pub const MAX_IN_FLIGHT_PAGES: usize = 4;

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            parquet: ParquetOptions::default(),
            selection: Selection::default(),
            comments: super::crawl::CommentsMode::Pages,
            max_depth: DEFAULT_MAX_DEPTH,
            concurrency: MAX_IN_FLIGHT_PAGES,
            progress: false,
            full_refresh: false,
            full_every: DEFAULT_FULL_EVERY,
            safety_margin: chrono::Duration::minutes(2),
            lock_ttl: std::time::Duration::from_secs(300),
            marks_in_memory: crate::state::marks::DEFAULT_MARKS_IN_MEMORY,
            ascii_names: false,
            now: None,
        }
    }
}

impl SyncOptions {
    /// Only the data-source tables (no crawl of page content, users or comments).
    pub fn tables_only() -> Self {
        SyncOptions {
            selection: Selection {
                pages: false,
                databases: false,
                blocks: false,
                users: false,
                ..Selection::default()
            },
            comments: super::crawl::CommentsMode::None,
            ..SyncOptions::default()
        }
    }
}

/// What a sync extracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// One typed table per data source (and `rich_text_items`).
    pub tables: bool,
    /// The `pages` table.
    pub pages: bool,
    /// The `databases`, `data_sources` and `properties` tables.
    pub databases: bool,
    /// The `blocks` table (crawls every page's content).
    pub blocks: bool,
    /// The `users` table.
    pub users: bool,
    /// Restrict the sync to these pages and their subtrees (none: everything shared).
    pub roots: Vec<String>,
    /// Restrict data sources to these databases (none: every database found).
    pub only_databases: Vec<String>,
}

impl Default for Selection {
    fn default() -> Self {
        Selection {
            tables: true,
            pages: true,
            databases: true,
            blocks: true,
            users: true,
            roots: Vec::new(),
            only_databases: Vec::new(),
        }
    }
}

/// What one fixed table received.
#[derive(Debug, Clone, Serialize)]
pub struct FixedReport {
    /// Table name.
    pub table: String,
    /// Rows written.
    pub rows: usize,
    /// Files written.
    pub files: Vec<WrittenFile>,
}

/// What one table received.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    /// Table name.
    pub table: String,
    /// Data source id.
    pub data_source_id: String,
    /// Rows written.
    pub rows: usize,
    /// Values completed through the property-item endpoint.
    pub completed_values: usize,
    /// Files written.
    pub files: Vec<WrittenFile>,
    /// Schema changes since the previous sync.
    pub changes: Vec<SchemaChange>,
}

/// The outcome of a sync.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// Run id.
    pub run_id: String,
    /// `full` or `incremental`.
    pub mode: String,
    /// Start (RFC 3339).
    pub started_at: String,
    /// Seconds taken.
    pub duration_secs: f64,
    /// Per table.
    pub tables: Vec<TableReport>,
    /// Rich-text item files.
    pub rich_text_files: Vec<WrittenFile>,
    /// The fixed workspace tables (pages, blocks, users, comments…).
    pub fixed: Vec<FixedReport>,
    /// Tables skipped because the integration lacks a capability.
    pub skipped: Vec<String>,
    /// Deletions recorded.
    pub tombstones: usize,
    /// Warnings (unknown types, vanished data sources…).
    pub warnings: Vec<String>,
    /// Requests made.
    pub requests: StatsSnapshot,
}

/// A new run id: sortable time plus a random suffix.
pub fn new_run_id(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}-{:04x}",
        now.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u16>()
    )
}

/// The lake's schema registry, if it has one.
async fn read_registry(lake: &Lake) -> Result<Option<Registry>, SyncError> {
    let Some(bytes) = lake.read(REGISTRY_PATH).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| SyncError::CorruptRegistry {
            path: REGISTRY_PATH.into(),
            message: e.to_string(),
        })
}

/// The registry a run plans with: the lake's, or for a new lake an empty one in the naming
/// style asked for. A lake keeps the style it was created with (a registry from before styles
/// were recorded is ASCII-named); asking for ASCII names on a Unicode-named lake is refused.
pub async fn registry_for_run(lake: &Lake, ascii_names: bool) -> Result<Registry, SyncError> {
    match read_registry(lake).await? {
        None => Ok(Registry {
            format: 1,
            naming: if ascii_names {
                NameStyle::Ascii
            } else {
                NameStyle::Unicode
            },
            ..Registry::default()
        }),
        Some(r) if ascii_names && r.naming != NameStyle::Ascii => Err(SyncError::NamingMismatch),
        Some(r) => Ok(r),
    }
}

/// Finds every data source the token can see (search, deduped, trashed ones skipped), with the
/// object search returned (it carries the schema).
pub async fn discover_data_sources(
    client: &NotionClient,
) -> Result<Vec<(DataSourceRef, Value)>, NotionError> {
    let mut seen = HashSet::new();
    let found: Vec<Value> = client
        .search(SearchTarget::DataSources)
        .try_collect()
        .await?;
    Ok(found
        .into_iter()
        .filter(|o| !is_trashed(o))
        .filter_map(|o| DataSourceRef::from_object(&o).map(|r| (r, o)))
        .filter(|(r, _)| seen.insert(r.id.clone()))
        .collect())
}

/// True when a page-object value was cut at 25 references: a relation with `has_more`, 25
/// people, or a title or text with 25 mentions.
fn is_truncated(prop: &Value) -> bool {
    match prop.get("type").and_then(Value::as_str) {
        Some("relation") => prop
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        Some("people") => prop
            .get("people")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() >= 25),
        Some(t @ ("title" | "rich_text")) => {
            prop.get(t).and_then(Value::as_array).is_some_and(|a| {
                a.iter()
                    .filter(|i| i.get("type").and_then(Value::as_str) == Some("mention"))
                    .count()
                    >= 25
            })
        }
        _ => false,
    }
}

/// A property id as Notion sends it (URL-encoded, e.g. `c%3Emp`), decoded for comparison.
fn decoded_id(id: &str) -> std::borrow::Cow<'_, str> {
    percent_encoding::percent_decode_str(id).decode_utf8_lossy()
}

/// The rollups of `page` computed over a relation truncated on this row: the page object
/// computes them over the first 25 related pages only. (name, property id) pairs.
fn rollups_over_truncated_relations(
    page: &Value,
    schema: &[PropertySchema],
) -> Vec<(String, String)> {
    let Some(props) = page.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let truncated: HashSet<std::borrow::Cow<'_, str>> = props
        .values()
        .filter(|p| p.get("type").and_then(Value::as_str) == Some("relation") && is_truncated(p))
        .filter_map(|p| p.get("id").and_then(Value::as_str).map(decoded_id))
        .collect();
    if truncated.is_empty() {
        return Vec::new();
    }
    props
        .iter()
        .filter(|(_, p)| p.get("type").and_then(Value::as_str) == Some("rollup"))
        .filter_map(|(name, p)| {
            let id = p.get("id")?.as_str()?;
            let relation = schema
                .iter()
                .find(|s| decoded_id(&s.id) == decoded_id(id))?
                .config
                .get("relation_property_id")?
                .as_str()?;
            truncated
                .contains(&decoded_id(relation))
                .then(|| (name.clone(), id.to_string()))
        })
        .collect()
}

/// A rollup's value from the property-item endpoint's answer (every page read): the last
/// page's `property_item.rollup`, with a show-original rollup's items taken from the results.
fn rollup_from_items(full: &Value) -> Value {
    let mut value = full
        .pointer("/property_item/rollup")
        .cloned()
        .unwrap_or(Value::Null);
    if value.get("type").and_then(Value::as_str) == Some("array") {
        let items: Vec<Value> = full
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|i| {
                        let t = i.get("type")?.as_str()?;
                        Some(json!({"type": t, t: i.get(t).cloned().unwrap_or(Value::Null)}))
                    })
                    .collect()
            })
            .unwrap_or_default();
        value["array"] = Value::Array(items);
    }
    value
}

fn property_pointer(name: &str) -> String {
    format!("/properties/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// Replaces truncated values of a page with their complete lists from the property-item
/// endpoint, and rollups computed over a truncated relation with their value over every
/// related page. `schema` is the data source's (it says which relation a rollup reads).
/// Returns how many values were completed.
pub async fn complete_truncated(
    client: &NotionClient,
    page: &mut Value,
    schema: &[PropertySchema],
) -> Result<usize, NotionError> {
    let Some(page_id) = page.get("id").and_then(Value::as_str).map(str::to_string) else {
        return Ok(0);
    };
    let rollups = rollups_over_truncated_relations(page, schema);
    for (name, prop_id) in &rollups {
        let full = client.page_property(&page_id, prop_id).await?;
        if let Some(p) = page.pointer_mut(&property_pointer(name)) {
            p["rollup"] = rollup_from_items(&full);
        }
    }
    let truncated: Vec<(String, String, String)> = page
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .filter(|(_, p)| is_truncated(p))
                .filter_map(|(name, p)| {
                    Some((
                        name.clone(),
                        p.get("id")?.as_str()?.to_string(),
                        p.get("type")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    for (name, prop_id, kind) in &truncated {
        let full = client.page_property(&page_id, prop_id).await?;
        let items: Vec<Value> = full
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|i| i.get(kind.as_str()).cloned())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(p) = page.pointer_mut(&property_pointer(name)) {
            p[kind.as_str()] = Value::Array(items);
            if kind == "relation" {
                p["has_more"] = json!(false);
            }
        }
    }
    Ok(truncated.len() + rollups.len())
}
