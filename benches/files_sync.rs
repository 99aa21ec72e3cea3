//! Peak memory of a whole sync that keeps 1 GiB of Notion-hosted files (one file of 512 MiB and
//! 512 of 1 MiB, each a row's cover in a synthetic workspace of 1,000 rows and 5 pages) against
//! the same sync with `--files none`: the files stream through the lake's store, so the sync
//! that downloads them should peak at most 64 MiB above the one that does not. Each sync runs
//! in its own process against a fake Notion in a third (no rate limit); both write to a local
//! lake. Prints each sync's seconds and peak resident memory (VmHWM), the difference, and what
//! the download sync reported of its files.
//!
//! Run: `cargo bench --bench files_sync`. Linux only (reads `/proc`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::fake::{SynthSpec, synthetic_workspace};
use notionlake::files::{FilesMode, FilesOptions};
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, sync_workspace};

#[path = "support/mod.rs"]
mod support;

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The workspace: 1,000 rows, 5 pages, 1 GiB of hosted files as row covers.
fn spec() -> SynthSpec {
    let mut files = vec!["large-512MiB.bin".to_string()];
    files.extend((0..512).map(|i| format!("small-{i}-1MiB.png")));
    SynthSpec {
        data_sources: 1,
        rows: 1000,
        pages: 5,
        hosted_files: files,
        ..SynthSpec::default()
    }
}

async fn sync(mode: &str, url: &str) {
    let client = support::client(url);
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().to_str().expect("utf-8 path")).expect("lake");
    let options = SyncOptions {
        files: FilesOptions {
            mode: if mode == "none" {
                FilesMode::None
            } else {
                FilesMode::Download
            },
            max_file_bytes: 1 << 30,
            budget_bytes: 2 << 30,
            ..FilesOptions::default()
        },
        ..SyncOptions::default()
    };
    let start = Instant::now();
    let report = sync_workspace(&client, &lake, &options)
        .await
        .expect("sync");
    let files = report.files.unwrap_or_default();
    println!(
        "{:.3} {} {} {}",
        start.elapsed().as_secs_f64(),
        support::status_kib("VmHWM:"),
        files.downloaded,
        files.bytes
    );
}

#[tokio::main]
async fn main() {
    let args = support::args();
    match args.first().map(String::as_str) {
        Some("serve") => return support::serve(synthetic_workspace(spec())).await,
        Some("sync") => return sync(&args[1], &args[2]).await,
        _ => {}
    }
    let me = std::env::current_exe().expect("own path");
    let mut server = Command::new(&me)
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let mut line = String::new();
    let mut out = BufReader::new(server.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("url");
    std::thread::sleep(Duration::from_millis(100));
    println!(
        "files_sync: a sync of 1,000 rows and 5 pages whose row covers are 1 GiB of hosted files (one of 512 MiB, 512 of 1 MiB); fake Notion in a separate process"
    );
    let mut peaks = Vec::new();
    for mode in ["none", "download"] {
        let result = Command::new(&me)
            .args(["sync", mode, line.trim()])
            .output()
            .expect("sync");
        let text = String::from_utf8_lossy(&result.stdout);
        let parts: Vec<f64> = text
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if parts.len() != 4 {
            eprintln!(
                "the {mode} sync failed: {}",
                String::from_utf8_lossy(&result.stderr)
            );
            let _ = server.kill();
            std::process::exit(1);
        }
        println!(
            "--files {mode:<8}: {:>7.1} s, peak {:>7.1} MiB, {} files downloaded ({:.0} MiB, {:.0} MiB/s)",
            parts[0],
            parts[1] / 1024.0,
            parts[2],
            parts[3] / f64::from(1 << 20),
            parts[3] / f64::from(1 << 20) / parts[0]
        );
        peaks.push(parts[1] / 1024.0);
    }
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "peak with files over without: {:+.1} MiB (the target: at most +64 MiB)",
        peaks[1] - peaks[0]
    );
}
