//! `notionlake dbt`: the lake as a dbt package, and what the run changed in it; a non-zero exit
//! when it left files alone.

use std::path::Path;

use super::CliError;
use crate::dbt::{Adapter, generate};
use crate::sink::Lake;
use crate::sync::SyncError;

/// Writes the dbt package of the lake at `location` into `out` and prints what changed.
pub(super) async fn run_dbt(location: &str, out: &Path, adapter: Adapter) -> Result<(), CliError> {
    let lake = Lake::open_existing(location, &[]).map_err(SyncError::from)?;
    let report = generate(&lake, &lake.location(), out, adapter)
        .await
        .map_err(|e| CliError::Shell(e.to_string()))?;
    for path in &report.written_paths {
        println!("written: {}", path.display());
    }
    for path in &report.removed_paths {
        println!("removed: {}", path.display());
    }
    println!(
        "dbt package in {}: {} files, {} written, {} unchanged, {} removed, {} left alone",
        out.display(),
        report.pages,
        report.written,
        report.unchanged,
        report.removed,
        report.kept.len()
    );
    super::export::left_alone(&report)
}
