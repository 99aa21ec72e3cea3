//! What the command line prints: the summary of a sync and the inventory of a token, written
//! to any `io::Write` (stdout in the program, a buffer in tests).

use std::io::{self, Write};

use crate::sync::{Inventory, SyncReport};

/// The inventory `sync --list` prints.
pub(super) fn print_inventory(out: &mut impl Write, inv: &Inventory) -> io::Result<()> {
    writeln!(
        out,
        "workspace: {}",
        inv.workspace.as_deref().unwrap_or("?")
    )?;
    match inv.users {
        Some(n) => writeln!(out, "users: {n}")?,
        None => writeln!(out, "users: (not readable: capability missing)")?,
    }
    writeln!(out, "data sources: {}", inv.data_sources.len())?;
    for ds in &inv.data_sources {
        let capped = if ds.capped {
            " (query cap reached)"
        } else {
            ""
        };
        writeln!(
            out,
            "  {:<24} {:>6} rows {:>3} properties{capped}",
            ds.title, ds.rows, ds.properties
        )?;
    }
    writeln!(out, "pages found by search: {}", inv.pages_in_search)?;
    let r = &inv.requests;
    writeln!(
        out,
        "requests: {} ({} retries, {} rate-limited, {} bytes received)",
        r.total_requests, r.retries, r.rate_limited, r.bytes_received
    )
}

/// The summary of a sync into the lake at `lake_url`.
pub(super) fn print_report(
    out: &mut impl Write,
    report: &SyncReport,
    lake_url: &str,
) -> io::Result<()> {
    writeln!(
        out,
        "run {} wrote {lake_url} ({:.1} s):",
        report.run_id, report.duration_secs
    )?;
    if let Some(r) = &report.resumed {
        writeln!(
            out,
            "  resumed from {}, {} pages left ({} data sources were done)",
            r.from, r.pages_left, r.sources_done
        )?;
    }
    if report.checkpoints > 0 {
        writeln!(
            out,
            "  committed in {} segments (a checkpoint each; tables were queryable after the first)",
            report.checkpoints + 1
        )?;
    }
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
        )?;
    }
    let items: usize = report.rich_text_files.iter().map(|f| f.rows).sum();
    writeln!(out, "  {:<22} {:>7} rows", "rich_text_items", items)?;
    for f in &report.fixed {
        writeln!(out, "  {:<22} {:>7} rows", f.table, f.rows)?;
    }
    for s in &report.skipped {
        writeln!(out, "  {s:<22} skipped (capability missing)")?;
    }
    let r = &report.requests;
    let reasons = if r.rate_limit_reasons.is_empty() {
        String::new()
    } else {
        let by: Vec<String> = r
            .rate_limit_reasons
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        format!(": {}", by.join(", "))
    };
    writeln!(
        out,
        "requests: {} ({} retries, {} rate-limited{reasons}, {} bytes received)",
        r.total_requests, r.retries, r.rate_limited, r.bytes_received
    )?;
    if let Some(c) = &report.comments_refresh {
        writeln!(
            out,
            "comments refresh ({}): {} unedited pages ({} block discussions), {} requests, {} comments; {} pages due wait for the next run",
            c.scope, c.pages, c.blocks, c.requests, c.comments, c.waiting
        )?;
    }
    if let Some(e) = &report.events {
        writeln!(
            out,
            "webhook events: {} in {} batch(es) ({} repeated deliveries), {} pages and {} blocks read, {} skipped, {} requests",
            e.events, e.batches, e.duplicates, e.pages, e.blocks, e.skipped, e.requests
        )?;
        if let Some(latency) = &e.latency {
            writeln!(out, "webhook events {latency}")?;
        }
    }
    if let Some(d) = &report.dependents {
        writeln!(
            out,
            "computed values refreshed: {} rows whose rollups or formulas read changed rows, read again in {} round(s), {} requests",
            d.rows, d.rounds, d.requests
        )?;
    }
    if let Some(f) = &report.files {
        writeln!(
            out,
            "files: {} references; {} downloaded ({:.1} MiB, {} already stored), {} kept from earlier runs; {} expired URLs read again ({} requests); {} missing, {} too large, {} deferred to the next run, {} failed",
            f.references,
            f.downloaded,
            f.bytes as f64 / f64::from(1 << 20),
            f.duplicates,
            f.reused,
            f.expired,
            f.refresh_requests,
            f.missing,
            f.too_large,
            f.deferred,
            f.failed
        )?;
    }
    if !report.clock_formulas.is_empty() {
        writeln!(
            out,
            "formulas that read the clock (their values are as of the row's last read, stale until it is edited): {}",
            report.clock_formulas.join(", ")
        )?;
    }
    for w in &report.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}
