//! Memory of a sync against workspace size, in two modes, each syncing from a fake Notion
//! running in a separate process and printing the sync process's peak resident memory (VmHWM):
//! - `workspace` (the default): a whole-workspace sync (pages, blocks, comments, users and a
//!   table of 5,000 rows) of synthetic workspaces of increasing size: for B blocks, B/4 pages
//!   (three paragraphs and a child_page block each, in sections of 500) and B/10 comments;
//! - `tables`: a tables-only sync of one synthetic data source (25 properties) of N rows.
//!
//! Everything a sync holds is bounded:
//! rows are decoded one at a time and flattened in batches of 2,048; Parquet row groups close at
//! 65,536 rows or 32 MiB and each open column buffers at most one data page; each open file
//! uploads in 5 MiB parts, two in flight; `_notionlake/state.json` is read through a temporary
//! file and written in 64 KiB pieces; and the per-page incremental marks keep at most 100,000
//! entries in memory (about 4 MiB), spilling the rest to sorted temporary files
//! (`state::marks`); search results and the lake's listing are streamed, and the crawler keeps
//! one page's blocks at a time. The peak should therefore stay flat as the workspace grows. (The
//! fake server slows down on large workspaces, so the per-second column measures it more than
//! the sync.)
//!
//! `NOTIONLAKE_BENCH_MARKS=<n>` sets the page marks held in memory before they spill (default
//! 100,000), to measure what the spill saves.
//!
//! Run: `cargo bench --bench sync_memory` (the workspace mode at 50k, 100k and 200k blocks),
//! `cargo bench --bench sync_memory -- workspace 50000 200000` or
//! `cargo bench --bench sync_memory -- tables 100000 400000`. Linux only.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::fake::{SynthSpec, synthetic_workspace};
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, sync_workspace};

#[path = "support/mod.rs"]
mod support;

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What a run syncs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One data source of N rows, tables only.
    Tables,
    /// A whole workspace of N blocks.
    Workspace,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        match s {
            "tables" => Some(Mode::Tables),
            "workspace" => Some(Mode::Workspace),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Tables => "tables",
            Mode::Workspace => "workspace",
        }
    }

    fn spec(self, n: usize) -> SynthSpec {
        match self {
            Mode::Tables => SynthSpec {
                data_sources: 1,
                rows: n,
                pages: 0,
                ..SynthSpec::default()
            },
            Mode::Workspace => SynthSpec {
                data_sources: 1,
                rows: 5_000,
                pages: n / 4,
                block_depth: 1,
                fanout: 3,
                comments: n / 10,
                ..SynthSpec::default()
            },
        }
    }

    fn options(self) -> SyncOptions {
        match self {
            Mode::Tables => SyncOptions::tables_only(),
            Mode::Workspace => SyncOptions::default(),
        }
    }
}

async fn serve(mode: Mode, n: usize) {
    support::serve(synthetic_workspace(mode.spec(n))).await;
}

async fn sync(mode: Mode, url: &str) {
    let client = support::client(url);
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().to_str().expect("utf-8 path")).expect("lake");
    let start = Instant::now();
    let mut options = mode.options();
    // `NOTIONLAKE_BENCH_MARKS=<n>` sets how many page marks stay in memory before spilling.
    if let Some(n) = std::env::var("NOTIONLAKE_BENCH_MARKS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.marks_in_memory = n;
    }
    let report = sync_workspace(&client, &lake, &options)
        .await
        .expect("sync");
    let rows: usize = report.tables.iter().map(|t| t.rows).sum();
    let fixed = |t: &str| {
        report
            .fixed
            .iter()
            .find(|f| f.table == t)
            .map_or(0, |f| f.rows)
    };
    println!(
        "{rows} {} {} {} {:.3} {}",
        fixed("pages"),
        fixed("blocks"),
        fixed("comments"),
        start.elapsed().as_secs_f64(),
        support::status_kib("VmHWM:")
    );
}

#[tokio::main]
async fn main() {
    let args = support::args();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let mode = Mode::parse(&args[1]).expect("mode");
            return serve(mode, args[2].parse().expect("size")).await;
        }
        Some("sync") => return sync(Mode::parse(&args[1]).expect("mode"), &args[2]).await,
        _ => {}
    }
    let mode = args
        .first()
        .and_then(|a| Mode::parse(a))
        .unwrap_or(Mode::Workspace);
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = match (sizes.is_empty(), mode) {
        (false, _) => sizes,
        (true, Mode::Workspace) => vec![50_000, 100_000, 200_000],
        (true, Mode::Tables) => vec![10_000, 50_000, 200_000],
    };
    let me = std::env::current_exe().expect("own path");
    match mode {
        Mode::Tables => println!(
            "sync_memory tables: one synthetic data source, 25 properties, tables only; fake Notion in a separate process"
        ),
        Mode::Workspace => println!(
            "sync_memory workspace: whole-workspace sync (B blocks, B/4 pages, B/10 comments, 5,000 table rows); fake Notion in a separate process"
        ),
    }
    println!(
        "{:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>14}",
        "size", "rows", "pages", "blocks", "comments", "seconds", "peak RSS MiB"
    );
    for n in sizes {
        let mut server = Command::new(&me)
            .args(["serve", mode.name(), &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("server");
        let mut line = String::new();
        let mut out = BufReader::new(server.stdout.take().expect("stdout"));
        out.read_line(&mut line).expect("url");
        std::thread::sleep(Duration::from_millis(100));
        let result = Command::new(&me)
            .args(["sync", mode.name(), line.trim()])
            .output()
            .expect("sync");
        let _ = server.kill();
        let _ = server.wait();
        let text = String::from_utf8_lossy(&result.stdout);
        let parts: Vec<f64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if parts.len() != 6 {
            eprintln!(
                "sync of size {n} failed: {}",
                String::from_utf8_lossy(&result.stderr)
            );
            std::process::exit(1);
        }
        println!(
            "{:>9} {:>9} {:>9} {:>9} {:>9} {:>10.2} {:>14.1}",
            n,
            parts[0],
            parts[1],
            parts[2],
            parts[3],
            parts[4],
            parts[5] / 1024.0
        );
    }
}
