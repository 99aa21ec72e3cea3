//! `notionlake export-md`: the lake's documents as Markdown files, and a one-line account of
//! what the export wrote, kept and removed; a non-zero exit when it left files alone.

use std::path::Path;

use super::CliError;
use crate::export::{ExportError, export_markdown};
use crate::sink::Lake;
use crate::sync::SyncError;

/// Exports the lake at `location` into `out` and prints what changed.
pub(super) async fn run_export(location: &str, out: &Path) -> Result<(), CliError> {
    let lake = Lake::open_existing(location, &[]).map_err(SyncError::from)?;
    let report = export_markdown(&lake, out)
        .await
        .map_err(|e: ExportError| CliError::Shell(e.to_string()))?;
    println!(
        "exported {} pages and {} files they use to {}: {} written, {} unchanged, {} removed, {} left alone",
        report.pages,
        report.assets,
        out.display(),
        report.written,
        report.unchanged,
        report.removed,
        report.kept.len()
    );
    left_alone(&report)
}

/// Names each file a generator of files (`export-md`, `dbt`) left alone, and fails when there
/// is one (exit 1: the user should look at them).
pub(super) fn left_alone(report: &crate::export::ExportReport) -> Result<(), CliError> {
    for (path, why) in &report.kept {
        eprintln!("left alone: {} ({})", path.display(), why.describe());
    }
    if !report.kept.is_empty() {
        return Err(CliError::ExportKept {
            kept: report.kept.len(),
        });
    }
    Ok(())
}
