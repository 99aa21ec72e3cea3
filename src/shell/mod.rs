//! SQL over the lake with DataFusion ([`repl`]: the shell, output formats, bundled queries). [`register_lake`] registers every table of a lake twice:
//! `<table>_history` (every version every run wrote, with the `sync_date` partition column) and
//! `<table>` (the latest state, a view). The rule for "latest" is documented in
//! `schemas/latest-and-history.md` so that other engines can apply it too:
//! - data-source tables and `pages`: per id, the version with the greatest last edit time (then
//!   the greatest `_synced_at`), unless a tombstone at least as recent says it was deleted;
//! - `blocks`, `comments`: per page, the rows of its most recent crawl; `files`: per group, the
//!   references of its most recent read;
//! - `rich_text_items`: the items written with the latest version of their row;
//! - `users`: the most recent listing; `databases`, `data_sources`: per id, the most recent row;
//!   `properties`: per data source, the most recent schema; `tombstones`: all of them.

pub mod error;
pub mod print;
pub mod repl;
pub mod statements;

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::error::DataFusionError;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use object_store::ObjectStore;

use crate::flatten::fixed::{RICH_TEXT_TABLE, own_tables};
use crate::sink::{Lake, PARTITION_COLUMN, SinkError, TableFormat, delta};
use datafusion::prelude::{col, lit};
use deltalake::delta_datafusion::DeltaCdfTableProvider;

/// A table registered from the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredTable {
    /// The latest view's name.
    pub name: String,
    /// The history table's name.
    pub history: String,
    /// Whether it is a data-source table (else a fixed one).
    pub data_source: bool,
}

/// Rows of `sql` as JSON objects (columns a row has null are absent).
pub async fn json_rows(
    ctx: &SessionContext,
    sql: &str,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, DataFusionError> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::ArrayWriter::new(&mut buf);
        for b in &batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&buf).map_err(|e| DataFusionError::External(Box::new(e)))
}

/// A SQL identifier of `ident`, double quotes doubled.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// A SQL string literal of `text`, quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

async fn dirs(
    store: &Arc<dyn ObjectStore>,
    prefix: &object_store::path::Path,
) -> Result<Vec<String>, DataFusionError> {
    let listing = store
        .list_with_delimiter(Some(prefix))
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_string))
        .collect())
}

/// The SQL of a latest view over `history` for a table of `kind` (`table`, or a fixed table
/// name). `columns` are the history table's columns; `tombstones` says whether a tombstones
/// table exists.
pub fn latest_view_sql(
    name: &str,
    kind: &str,
    history: &str,
    columns: &[String],
    tombstones: bool,
) -> String {
    let cols = columns
        .iter()
        .map(|c| format!("h.{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ");
    let h = quote(history);
    let by_version = |id: &str, edited: &str, tomb_table: &str| {
        let gone = if tombstones {
            format!(
                " LEFT JOIN (SELECT id AS __tid, max(_synced_at) AS __gone FROM tombstones_history WHERE \"table\" = {} GROUP BY id) g ON h.{id} = g.__tid WHERE h.__n = 1 AND (g.__gone IS NULL OR g.__gone < h._synced_at)",
                literal(tomb_table)
            )
        } else {
            " WHERE h.__n = 1".to_string()
        };
        format!(
            "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY {id} ORDER BY {edited} DESC NULLS LAST, _synced_at DESC) AS __n FROM {h}) h{gone}"
        )
    };
    let newest_per = |key: &str| {
        format!(
            "SELECT {cols} FROM (SELECT *, max(_synced_at) OVER (PARTITION BY {key}) AS __m FROM {h}) h WHERE h._synced_at = h.__m"
        )
    };
    match kind {
        "table" => by_version("_id", "_last_edited_time", name),
        "pages" => by_version("id", "last_edited_time", "pages"),
        "blocks" | "comments" | "documents" => newest_per("page_id"),
        "databases" | "data_sources" => newest_per("id"),
        "properties" => newest_per("data_source_id"),
        "files" => newest_per("ref_group"),
        "users" => format!(
            "SELECT {cols} FROM {h} h WHERE h._synced_at = (SELECT max(_synced_at) FROM {h})"
        ),
        _ => format!("SELECT {cols} FROM {h} h"),
    }
}

/// The SQL of the latest `rich_text_items` view: the items written together with the latest
/// version of their row (same table, page and `_synced_at`), found through the latest views of
/// the data-source `tables`. A row whose values lost their formatting has no items in its new
/// version, and a deleted row has no latest version: neither keeps older items.
pub fn rich_text_latest_sql(history: &str, columns: &[String], tables: &[String]) -> String {
    let cols = columns
        .iter()
        .map(|c| format!("h.{}", quote(c)))
        .collect::<Vec<_>>()
        .join(", ");
    if tables.is_empty() {
        return format!("SELECT {cols} FROM {} h WHERE false", quote(history));
    }
    let versions = tables
        .iter()
        .map(|t| {
            format!(
                "SELECT {} AS __t, _id AS __id, _synced_at AS __s FROM {}",
                literal(t),
                quote(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    format!(
        "SELECT {cols} FROM {} h JOIN ({versions}) v ON h.\"table\" = v.__t AND h.page_id = v.__id AND h._synced_at = v.__s",
        quote(history)
    )
}

/// Registers every table of the lake in `ctx`: `<name>_history` tables and `<name>` views.
pub async fn register_lake(
    ctx: &SessionContext,
    lake: &Lake,
) -> Result<Vec<RegisteredTable>, DataFusionError> {
    register_tables(ctx, lake, None).await
}

/// Registers the lake's tables named in `only` (every table for `None`), and what their latest
/// views read (`tombstones`), so that a reader of one table does not open all of them.
pub async fn register_tables(
    ctx: &SessionContext,
    lake: &Lake,
    only: Option<&[&str]>,
) -> Result<Vec<RegisteredTable>, DataFusionError> {
    let store = lake.store();
    lake.register_store(ctx);
    let base = format!("{}/", lake.url().trim_end_matches('/'));
    let location = |rel: &str| {
        let p = lake.path(rel).to_string();
        format!("{base}{p}/")
    };
    let options = || {
        ParquetReadOptions::default()
            .table_partition_cols(vec![(PARTITION_COLUMN.to_string(), DataType::Utf8)])
    };
    let mut found: Vec<(String, String, bool)> = Vec::new();
    let top = dirs(&store, lake.root()).await?;
    for t in dirs(&store, &lake.path("tables")).await? {
        found.push((t.clone(), format!("tables/{t}"), true));
    }
    for t in own_tables() {
        if top.iter().any(|d| d == t) {
            found.push((t.to_string(), t.to_string(), false));
        }
    }
    if let Some(only) = only {
        found.retain(|(name, _, _)| name == "tombstones" || only.contains(&name.as_str()));
    }
    let format = TableFormat::of_lake(lake)
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    if format == Some(TableFormat::Delta) {
        return register_delta(ctx, lake, found).await;
    }
    let tombstones = found.iter().any(|(n, _, ds)| n == "tombstones" && !ds);
    let mut out = Vec::new();
    // History tables first: the views refer to them (and to tombstones_history).
    for (name, rel, _) in &found {
        ctx.register_parquet(format!("{name}_history").as_str(), location(rel), options())
            .await?;
    }
    for (name, _, is_ds) in found {
        let history = format!("{name}_history");
        let schema = ctx
            .table(history.as_str())
            .await?
            .schema()
            .as_arrow()
            .clone();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let kind = if is_ds { "table" } else { name.as_str() };
        let sql = if kind == RICH_TEXT_TABLE {
            // Data-source views come first in `found`, so they exist by now.
            let tables: Vec<String> = out
                .iter()
                .filter(|t: &&RegisteredTable| t.data_source)
                .map(|t| t.name.clone())
                .collect();
            rich_text_latest_sql(&history, &columns, &tables)
        } else {
            latest_view_sql(&name, kind, &history, &columns, tombstones)
        };
        ctx.sql(&format!("CREATE VIEW {} AS {sql}", quote(&name)))
            .await?
            .collect()
            .await?;
        out.push(RegisteredTable {
            name,
            history,
            data_source: is_ds,
        });
    }
    Ok(out)
}

/// Registers the Delta tables of a lake: `<name>` is the table itself (its current rows, read
/// through deltalake's DataFusion provider), `<name>_history` every version of every row from
/// its Change Data Feed (inserts and post-update images, with `_commit_version` and
/// `_commit_timestamp`; each row's `_run_id` and `_synced_at` name the sync it came from).
async fn register_delta(
    ctx: &SessionContext,
    lake: &Lake,
    found: Vec<(String, String, bool)>,
) -> Result<Vec<RegisteredTable>, DataFusionError> {
    let external = |e: SinkError| DataFusionError::External(Box::new(e));
    let delta_err = |e: deltalake::DeltaTableError| DataFusionError::External(Box::new(e));
    let mut out = Vec::new();
    for (name, rel, data_source) in found {
        let Some(table) = delta::open_table(lake, &rel).await.map_err(external)? else {
            continue;
        };
        table
            .update_datafusion_session(&ctx.state())
            .map_err(delta_err)?;
        let provider = table.table_provider().await?;
        ctx.register_table(name.as_str(), provider)?;
        let history = format!("{name}_history");
        let cdf = DeltaCdfTableProvider::try_new(table.scan_cdf().with_starting_version(0))
            .map_err(delta_err)?;
        let changes = ctx
            .read_table(Arc::new(cdf))?
            .filter(
                col("_change_type").in_list(vec![lit("insert"), lit("update_postimage")], false),
            )?
            .drop_columns(&["_change_type"])?;
        ctx.register_table(history.as_str(), changes.into_view())?;
        out.push(RegisteredTable {
            name,
            history,
            data_source,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_sql_per_kind() {
        let cols = vec!["_id".to_string(), "name".to_string()];
        let sql = latest_view_sql("deals", "table", "deals_history", &cols, true);
        assert!(
            sql.contains("PARTITION BY _id ORDER BY _last_edited_time DESC"),
            "{sql}"
        );
        assert!(sql.contains("\"table\" = 'deals'"), "{sql}");
        let sql = latest_view_sql("blocks", "blocks", "blocks_history", &cols, false);
        assert!(sql.contains("PARTITION BY page_id"), "{sql}");
        let sql = rich_text_latest_sql(
            "rich_text_items_history",
            &cols,
            &["deals".to_string(), "it's".to_string()],
        );
        assert!(sql.contains("SELECT 'it''s' AS __t"), "{sql}");
        assert!(sql.contains("h._synced_at = v.__s"), "{sql}");
        assert!(rich_text_latest_sql("h", &cols, &[]).ends_with("WHERE false"));
    }
}
