//! Memory of a sync against table size: syncs synthetic data sources of increasing size (25
//! properties) from a fake Notion running in a separate process, and prints the sync process's
//! peak resident memory (VmHWM) and throughput for each. Everything a sync holds is bounded:
//! rows are decoded one at a time and flattened in batches of 2,048; Parquet row groups close at
//! 65,536 rows or 32 MiB and each open column buffers at most one data page; each open file
//! uploads in 5 MiB parts, two in flight; `_notionlake/state.json` is read through a temporary
//! file and written in 64 KiB pieces; and the per-page incremental marks keep at most 100,000
//! entries in memory (about 4 MiB), spilling the rest to sorted temporary files
//! (`state::marks`). Past 100,000 rows the peak should therefore stay flat. (The fake server
//! slows down on large tables, so the rows/s column measures it more than the sync.)
//!
//! Run: `cargo bench --bench sync_memory` (optional sizes: `-- 20000 100000`). Linux only.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::cli::fake_client;
use notionlake::fake::{FakeConfig, FakeNotion, SynthSpec, synthetic_workspace};
use notionlake::notion::ClientConfig;
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, sync_workspace};

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn serve(rows: usize) {
    let ws = synthetic_workspace(SynthSpec {
        data_sources: 1,
        rows,
        pages: 0,
        ..SynthSpec::default()
    });
    let fake = FakeNotion::start(
        ws,
        FakeConfig {
            rps: None,
            query_cap: usize::MAX,
            ..FakeConfig::default()
        },
    )
    .await
    .expect("fake");
    println!("{}", fake.url());
    fake.wait().await;
}

async fn sync(url: &str) {
    let client = fake_client(
        url,
        ClientConfig {
            rps: 10_000.0,
            burst: 100,
            ..ClientConfig::default()
        },
    )
    .expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().to_str().expect("utf-8 path")).expect("lake");
    let start = Instant::now();
    let report = sync_workspace(&client, &lake, &SyncOptions::tables_only())
        .await
        .expect("sync");
    let rows: usize = report.tables.iter().map(|t| t.rows).sum();
    println!(
        "{rows} {:.3} {}",
        start.elapsed().as_secs_f64(),
        peak_rss_kib()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("serve") => return serve(args[1].parse().expect("rows")).await,
        Some("sync") => return sync(&args[1]).await,
        _ => {}
    }
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 50_000, 200_000]
    } else {
        sizes
    };
    let me = std::env::current_exe().expect("own path");
    println!(
        "sync_memory: one synthetic data source, 25 properties, fake Notion in a separate process"
    );
    println!(
        "{:>9} {:>10} {:>12} {:>14}",
        "rows", "seconds", "rows/s", "peak RSS MiB"
    );
    for n in sizes {
        let mut server = Command::new(&me)
            .args(["serve", &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("server");
        let mut line = String::new();
        let mut out = BufReader::new(server.stdout.take().expect("stdout"));
        out.read_line(&mut line).expect("url");
        std::thread::sleep(Duration::from_millis(100));
        let result = Command::new(&me)
            .args(["sync", line.trim()])
            .output()
            .expect("sync");
        let _ = server.kill();
        let _ = server.wait();
        let text = String::from_utf8_lossy(&result.stdout);
        let parts: Vec<f64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if parts.len() != 3 {
            eprintln!(
                "sync of {n} rows failed: {}",
                String::from_utf8_lossy(&result.stderr)
            );
            std::process::exit(1);
        }
        println!(
            "{:>9} {:>10.2} {:>12.0} {:>14.1}",
            parts[0],
            parts[1],
            parts[0] / parts[1],
            parts[2] / 1024.0
        );
    }
}
