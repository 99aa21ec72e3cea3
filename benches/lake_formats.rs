//! Local work of the two table formats on one synthetic data source of N rows (100,000 by
//! default, 25 properties), tables only: a full sync into a new lake, then an incremental sync
//! in which 100 rows changed. Each sync runs in its own process against a fake Notion in
//! another process (no latency, no rate limit), and prints:
//! - wall seconds of the sync;
//! - CPU seconds of the sync process (user + system, every thread): the local work, with the
//!   server's work and the network wait left out;
//! - peak resident memory of the sync process (VmHWM).
//!
//! Run: `cargo bench --bench lake_formats` or `cargo bench --bench lake_formats -- 200000`.
//! Linux only (it reads /proc/self).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::fake::{SynthSpec, synthetic_workspace};
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::{SyncOptions, sync_workspace};
use serde_json::json;

#[path = "support/mod.rs"]
mod support;

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Rows changed between the two syncs.
const EDITED: usize = 100;

/// User + system CPU seconds of this process (all threads), from /proc/self/stat in clock
/// ticks of 1/100 s (the Linux USER_HZ).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state field.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

async fn serve(rows: usize, edited: usize) {
    let mut ws = synthetic_workspace(SynthSpec {
        data_sources: 1,
        rows,
        pages: 0,
        ..SynthSpec::default()
    });
    let ids: Vec<String> = ws
        .data_sources
        .values()
        .next()
        .map(|ds| ds.rows.clone())
        .unwrap_or_default();
    let editor = ws.bot.id.clone();
    // Every (rows / edited)th row gets a new amount: the edits are spread over the table.
    let step = (rows / edited.max(1)).max(1);
    for id in ids.iter().step_by(step).take(edited) {
        ws.edit_page_now(id, &editor, |p| {
            p.properties.insert("s02".into(), json!(-1.0));
        });
    }
    support::serve(ws).await;
}

async fn sync(format: &str, url: &str, dir: &str) {
    // `NOTIONLAKE_BENCH_LOG=info` shows the sync's steps (on stderr).
    if let Ok(filter) = std::env::var("NOTIONLAKE_BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let client = support::client(url);
    let lake = Lake::open(dir).expect("lake");
    let format = match format {
        "delta" => TableFormat::Delta,
        _ => TableFormat::Parquet,
    };
    let options = SyncOptions {
        format: Some(format),
        ..SyncOptions::tables_only()
    };
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let report = sync_workspace(&client, &lake, &options)
        .await
        .expect("sync");
    let rows: usize = report.tables.iter().map(|t| t.rows).sum();
    println!(
        "{rows} {:.3} {:.2} {}",
        start.elapsed().as_secs_f64(),
        cpu_seconds() - cpu,
        support::status_kib("VmHWM:")
    );
}

/// Starts a fake serving `rows` rows of which `edited` were just edited; returns it and its URL.
fn start_fake(me: &std::path::Path, rows: usize, edited: usize) -> (std::process::Child, String) {
    let mut server = Command::new(me)
        .args(["serve", &rows.to_string(), &edited.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let mut line = String::new();
    let mut out = BufReader::new(server.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("url");
    std::thread::sleep(Duration::from_millis(100));
    (server, line.trim().to_string())
}

/// Runs one sync in a process of its own; returns (rows, wall s, cpu s, peak RSS KiB).
fn run_sync(me: &std::path::Path, format: &str, url: &str, dir: &std::path::Path) -> Vec<f64> {
    let result = Command::new(me)
        .args(["sync", format, url, dir.to_str().expect("utf-8 path")])
        .output()
        .expect("sync");
    let parts: Vec<f64> = String::from_utf8_lossy(&result.stdout)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if parts.len() != 4 {
        eprintln!(
            "{format} sync failed: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        std::process::exit(1);
    }
    parts
}

#[tokio::main]
async fn main() {
    let args = support::args();
    match args.first().map(String::as_str) {
        Some("serve") => {
            return serve(
                args[1].parse().expect("rows"),
                args[2].parse().expect("edits"),
            )
            .await;
        }
        Some("sync") => return sync(&args[1], &args[2], &args[3]).await,
        _ => {}
    }
    let rows: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let me = std::env::current_exe().expect("own path");
    println!(
        "lake_formats: one synthetic data source of {rows} rows (25 properties), tables only; a full sync, then an incremental sync in which {EDITED} rows changed; fake Notion in a separate process"
    );
    println!(
        "{:>8} {:>12} {:>7} {:>8} {:>8} {:>14}",
        "format", "sync", "rows", "wall s", "cpu s", "peak RSS MiB"
    );
    let mut cpu = std::collections::BTreeMap::new();
    for format in ["parquet", "delta"] {
        let dir = tempfile::tempdir().expect("tempdir");
        for (sync, edited) in [("full", 0), ("incremental", EDITED)] {
            let (mut server, url) = start_fake(&me, rows, edited);
            let r = run_sync(&me, format, &url, dir.path());
            let _ = server.kill();
            let _ = server.wait();
            println!(
                "{format:>8} {sync:>12} {:>7} {:>8.2} {:>8.2} {:>14.1}",
                r[0],
                r[1],
                r[2],
                r[3] / 1024.0
            );
            cpu.insert((format, sync), r[2]);
        }
    }
    for sync in ["full", "incremental"] {
        println!(
            "delta / parquet local work, {sync}: {:.2}x",
            cpu[&("delta", sync)] / cpu[&("parquet", sync)].max(0.01)
        );
    }
}
