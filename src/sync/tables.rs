//! Extraction of data sources into typed tables: discover every data source the token can see,
//! bring the schema registry up to date, query the rows page by page, complete values that page
//! objects truncate at 25 references (only those), flatten in bounded batches and write Parquet.
//! The registry and the run record are written only after every file is durable.

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::flatten::{RunInfo, TableBuilder, rich_text_schema};
use crate::model::{DataSourceRef, DataSourceSchema, is_trashed};
use crate::notion::{NotionClient, NotionError, SearchTarget, StatsSnapshot};
use crate::sink::{Lake, ParquetOptions, SinkError, TableWriter, WrittenFile};
use crate::state::{Registry, SchemaChange};

/// Where the registry lives in the lake.
pub const REGISTRY_PATH: &str = "_notionlake/registry.json";

/// Rows flattened per batch (memory stays bounded whatever the table size).
pub const BATCH_ROWS: usize = 2048;

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
}

/// Options of a sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Parquet settings.
    pub parquet: ParquetOptions,
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
    /// Start (RFC 3339).
    pub started_at: String,
    /// Seconds taken.
    pub duration_secs: f64,
    /// Per table.
    pub tables: Vec<TableReport>,
    /// Rich-text item files.
    pub rich_text_files: Vec<WrittenFile>,
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

/// Loads the registry (empty for a new lake).
pub async fn load_registry(lake: &Lake) -> Result<Registry, SyncError> {
    match lake.read(REGISTRY_PATH).await? {
        None => Ok(Registry {
            format: 1,
            ..Registry::default()
        }),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| SyncError::CorruptRegistry {
            path: REGISTRY_PATH.into(),
            message: e.to_string(),
        }),
    }
}

/// Finds every data source the token can see (search, deduped, trashed ones skipped).
pub async fn discover_data_sources(
    client: &NotionClient,
) -> Result<Vec<DataSourceRef>, NotionError> {
    let mut seen = HashSet::new();
    let found: Vec<Value> = client
        .search(SearchTarget::DataSources)
        .try_collect()
        .await?;
    Ok(found
        .iter()
        .filter(|o| !is_trashed(o))
        .filter_map(DataSourceRef::from_object)
        .filter(|r| seen.insert(r.id.clone()))
        .collect())
}

/// True when a page-object value was cut at 25 references (NOTION_API.md §4.6).
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

/// Replaces truncated values of a page with their complete lists from the property-item
/// endpoint. Returns how many values were completed.
pub async fn complete_truncated(
    client: &NotionClient,
    page: &mut Value,
) -> Result<usize, NotionError> {
    let Some(page_id) = page.get("id").and_then(Value::as_str).map(str::to_string) else {
        return Ok(0);
    };
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
        if let Some(p) = page.pointer_mut(&format!(
            "/properties/{}",
            name.replace('~', "~0").replace('/', "~1")
        )) {
            p[kind.as_str()] = Value::Array(items);
            if kind == "relation" {
                p["has_more"] = json!(false);
            }
        }
    }
    Ok(truncated.len())
}

/// Extracts every data source into the lake (a full sync).
pub async fn sync_tables(
    client: &NotionClient,
    lake: &Lake,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let started = Instant::now();
    let now = chrono::Utc::now();
    let run = RunInfo {
        run_id: new_run_id(now),
        synced_at: now.timestamp_micros(),
    };
    let partition = format!("sync_date={}", now.format("%Y-%m-%d"));
    let mut registry = load_registry(lake).await?;
    let mut warnings = Vec::new();
    let mut tables = Vec::new();
    let mut rich_writer = TableWriter::new(
        lake,
        &format!("rich_text_items/{partition}"),
        &run.run_id,
        rich_text_schema(),
        options.parquet.clone(),
    );

    for source in discover_data_sources(client).await? {
        let schema_obj = match client.retrieve_schema_object(&source).await {
            Ok(o) => o,
            Err(e) if e.is_not_found() => {
                warnings.push(format!(
                    "data source {} vanished or is no longer shared; skipped",
                    source.id
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Some(schema) = DataSourceSchema::from_object(&schema_obj) else {
            warnings.push(format!(
                "data source {} has no schema in its answer; skipped",
                source.id
            ));
            continue;
        };
        let (entry, changes) = registry.plan(&schema, &run.run_id);
        let entry = entry.clone();
        let mut builder = TableBuilder::new(&entry, &run);
        let mut writer = TableWriter::new(
            lake,
            &format!("tables/{}/{partition}", entry.table),
            &run.run_id,
            builder.schema(),
            options.parquet.clone(),
        );
        let mut rows = 0;
        let mut completed = 0;
        let mut pages = client.query_rows(
            &source,
            json!({"sorts": [{"timestamp": "created_time", "direction": "ascending"}]}),
        );
        let mut capped = false;
        while let Some(page) = pages.try_next().await? {
            capped |= page.is_incomplete();
            for mut row in page.results {
                if row.get("object").and_then(Value::as_str) != Some("page") {
                    continue;
                }
                completed += complete_truncated(client, &mut row).await?;
                builder.append_page(&row);
                rows += 1;
                if builder.len() >= BATCH_ROWS {
                    flush(&mut builder, &mut writer, &mut rich_writer, &entry.table).await?;
                }
            }
        }
        if capped {
            warnings.push(format!("table {}: Notion's per-query result cap was reached; rows past it are missing until windowed queries land", entry.table));
        }
        flush(&mut builder, &mut writer, &mut rich_writer, &entry.table).await?;
        warnings.extend(builder.take_warnings());
        let files = writer.finish().await?;
        tracing::info!(table = %entry.table, rows, files = files.len(), "table written");
        tables.push(TableReport {
            table: entry.table.clone(),
            data_source_id: entry.data_source_id.clone(),
            rows,
            completed_values: completed,
            files,
            changes,
        });
    }
    let rich_text_files = rich_writer.finish().await?;
    // Every data file is durable: now the state may move.
    let registry_json = serde_json::to_vec_pretty(&registry).expect("registry serialises");
    lake.write(REGISTRY_PATH, Bytes::from(registry_json))
        .await?;
    let report = SyncReport {
        run_id: run.run_id.clone(),
        started_at: now.to_rfc3339(),
        duration_secs: started.elapsed().as_secs_f64(),
        tables,
        rich_text_files,
        warnings,
        requests: client.stats(),
    };
    let report_json = serde_json::to_vec_pretty(&report).expect("report serialises");
    lake.write(
        &format!("_notionlake/runs/{}.json", run.run_id),
        Bytes::from(report_json),
    )
    .await?;
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    Ok(report)
}

async fn flush(
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
