//! `notionlake sync`: one run or `--watch`, printing the summary (and `--list` the inventory).

use std::io::Write;

use super::*;
use crate::notion::NotionClient;
use crate::sink::Lake;
use crate::sync::{SyncError, SyncOptions, sync_workspace};

pub(super) async fn print_inventory(client: &NotionClient) -> Result<(), CliError> {
    let inv = crate::sync::inventory(client).await?;
    let mut out = std::io::stdout().lock();
    let io = stdout_error;
    writeln!(
        out,
        "workspace: {}",
        inv.workspace.as_deref().unwrap_or("?")
    )
    .map_err(io)?;
    match inv.users {
        Some(n) => writeln!(out, "users: {n}").map_err(io)?,
        None => writeln!(out, "users: (not readable: capability missing)").map_err(io)?,
    }
    writeln!(out, "data sources: {}", inv.data_sources.len()).map_err(io)?;
    for ds in &inv.data_sources {
        writeln!(
            out,
            "  {:<24} {:>6} rows {:>3} properties{}",
            ds.title,
            ds.rows,
            ds.properties,
            if ds.capped {
                " (query cap reached)"
            } else {
                ""
            }
        )
        .map_err(io)?;
    }
    writeln!(out, "pages found by search: {}", inv.pages_in_search).map_err(io)?;
    writeln!(
        out,
        "requests: {} ({} retries, {} rate-limited, {} bytes received)",
        inv.requests.total_requests,
        inv.requests.retries,
        inv.requests.rate_limited,
        inv.requests.bytes_received
    )
    .map_err(io)?;
    Ok(())
}

pub(super) async fn run_sync(
    client: &NotionClient,
    location: &str,
    options: &SyncOptions,
) -> Result<(), CliError> {
    let lake = Lake::open(location).map_err(SyncError::from)?;
    let report = sync_workspace(client, &lake, options).await?;
    let mut out = std::io::stdout().lock();
    let io = stdout_error;
    writeln!(
        out,
        "run {} wrote {} ({:.1} s):",
        report.run_id,
        lake.url(),
        report.duration_secs
    )
    .map_err(io)?;
    for t in &report.tables {
        let changes = if t.changes.is_empty() {
            String::new()
        } else {
            format!(", {} schema change(s)", t.changes.len())
        };
        writeln!(
            out,
            "  {:<22} {:>7} rows in {} file(s){changes}",
            t.table,
            t.rows,
            t.files.len()
        )
        .map_err(io)?;
    }
    let items: usize = report.rich_text_files.iter().map(|f| f.rows).sum();
    writeln!(out, "  {:<22} {:>7} rows", "rich_text_items", items).map_err(io)?;
    for f in &report.fixed {
        writeln!(out, "  {:<22} {:>7} rows", f.table, f.rows).map_err(io)?;
    }
    for s in &report.skipped {
        writeln!(out, "  {s:<22} skipped (capability missing)").map_err(io)?;
    }
    let r = &report.requests;
    writeln!(
        out,
        "requests: {} ({} retries, {} rate-limited, {} bytes received)",
        r.total_requests, r.retries, r.rate_limited, r.bytes_received
    )
    .map_err(io)?;
    for w in &report.warnings {
        writeln!(out, "warning: {w}").map_err(io)?;
    }
    Ok(())
}
