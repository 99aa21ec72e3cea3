//! `notionlake dbt`: the lake as a dbt package. [`plan`] writes the files from the lake's schema
//! registry (every column's Notion name, id and type) and the tables the lake holds: one
//! source over every table, typed staging models ([`sql`]: per adapter, per property type),
//! relation bridges with `relationships` tests, and example models. Regenerating is safe: the
//! files are written through export-md's manifest of hashes (`.notionlake-dbt.json`), so a
//! file you edited or wrote is never overwritten nor removed, and the command lists what
//! changed.

pub mod plan;
pub mod sql;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use sql::Adapter;

use crate::export::paths::{Planned, PlannedFile};
use crate::export::{ExportError, ExportReport};
use crate::flatten::fixed::{FixedTable, RICH_TEXT_TABLE};
use crate::sink::{Lake, TableFormat};
use crate::state::Registry;
use crate::state::registry::REGISTRY_PATH;

/// The manifest of the generated files, in the package's folder.
pub const MANIFEST: &str = ".notionlake-dbt.json";

/// Why the package could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum DbtError {
    /// The lake has no schema registry: nothing was synced into it.
    #[error("the lake at {0} has no tables yet: run `notionlake sync --lake {0}` first")]
    Empty(String),
    /// The registry could not be read.
    #[error("{REGISTRY_PATH}: {0}")]
    Registry(String),
    /// Spark reads the lake's Delta tables; a Parquet-format lake is read by DuckDB.
    #[error(
        "the lake holds Parquet tables: --adapter spark reads Delta tables (sync a new lake with --format delta), or use --adapter duckdb"
    )]
    SparkParquet,
    /// The lake or the package folder failed.
    #[error(transparent)]
    Files(#[from] ExportError),
}

/// Writes the dbt package of `lake` into `out` for `adapter`; `location` is where the adapter
/// reads the lake (its directory or `s3://bucket/prefix`).
pub async fn generate(
    lake: &Lake,
    location: &str,
    out: &Path,
    adapter: Adapter,
) -> Result<ExportReport, DbtError> {
    let bytes = lake
        .read(REGISTRY_PATH)
        .await
        .map_err(|e| DbtError::Registry(e.to_string()))?
        .ok_or_else(|| DbtError::Empty(location.to_string()))?;
    let registry: Registry =
        serde_json::from_slice(&bytes).map_err(|e| DbtError::Registry(e.to_string()))?;
    let (fixed, history) = lake_tables(lake).await?;
    let parquet = match TableFormat::of_lake(lake).await {
        Ok(Some(TableFormat::Parquet)) if adapter == Adapter::Spark => {
            return Err(DbtError::SparkParquet);
        }
        Ok(Some(TableFormat::Parquet)) => Some(history),
        _ => None,
    };
    let view = plan::Lake {
        registry: &registry,
        fixed,
        location: location.to_string(),
        parquet,
    };
    let files: Vec<PlannedFile> = plan::plan(&view, adapter)
        .into_iter()
        .map(|(path, content)| PlannedFile {
            page_id: String::new(),
            path: path.into(),
            content: Planned::Text(content),
        })
        .collect();
    Ok(crate::export::write::apply_with_manifest(lake, out, &files, MANIFEST).await?)
}

/// The fixed tables (and `rich_text_items`) the lake holds, and every table's history
/// columns (by name).
async fn lake_tables(
    lake: &Lake,
) -> Result<(BTreeSet<String>, BTreeMap<String, Vec<String>>), DbtError> {
    let read = |e: datafusion::error::DataFusionError| ExportError::Lake(e.to_string());
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = crate::shell::register_lake(&ctx, lake)
        .await
        .map_err(read)?;
    let mut history = BTreeMap::new();
    for t in &tables {
        let schema = ctx
            .table(t.history.as_str())
            .await
            .map_err(read)?
            .schema()
            .clone();
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        history.insert(t.name.clone(), columns);
    }
    let fixed = tables
        .into_iter()
        .filter(|t| !t.data_source)
        .map(|t| t.name)
        .filter(|n| FixedTable::from_name(n).is_some() || n == RICH_TEXT_TABLE)
        .collect();
    Ok((fixed, history))
}
