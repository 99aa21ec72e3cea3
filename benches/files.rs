//! Downloading Notion-hosted files into the lake's file store: throughput and peak memory while
//! storing 1 GiB (one file of 512 MiB and 512 files of 1 MiB) from the fake's file host (in
//! this process, streaming every body) into a local lake and into an S3 lake on moto. Files
//! stream through (5 MiB parts, two in flight, a few downloads at once), so the peak resident
//! memory of this process should grow by tens of MiB over its baseline, not by the files'
//! size. Prints MiB/s and the growth of VmHWM over the baseline for each lake (the peak is
//! reset between the two through `/proc/self/clear_refs`).
//!
//! Run: `cargo bench --bench files` (the S3 half needs moto, which `.ci/run` installs into
//! `$HOME/.cache/notionlake-venv`; `NOTIONLAKE_VENV` points elsewhere). Linux only (reads
//! `/proc`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use notionlake::fake::{FakeConfig, FakeNotion, demo_workspace};
use notionlake::files::download::{DEFAULT_SLOTS, Downloader, Fetched};
use notionlake::sink::Lake;

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The files stored: (key, bytes).
fn files() -> Vec<String> {
    let mut keys = vec!["bench/large-512MiB.bin".to_string()];
    keys.extend((0..512).map(|i| format!("bench/small-{i}-1MiB.png")));
    keys
}

fn signed(base: &str, key: &str) -> String {
    format!(
        "{base}/__files/{key}?X-Amz-Date={}&X-Amz-Expires=3600&X-Amz-Signature=00",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    )
}

/// Stores every file into `lake`; returns the bytes stored and the time it took.
async fn store_all(base: &str, lake: &Lake) -> (u64, Duration) {
    let downloader = Downloader::new(DEFAULT_SLOTS, 1 << 30).expect("downloader");
    let start = Instant::now();
    let results: Vec<Fetched> = futures::stream::iter(files())
        .map(|key| {
            let (downloader, lake, url) = (downloader.clone(), lake.clone(), signed(base, &key));
            async move { downloader.fetch(&lake, &url).await.expect("lake") }
        })
        .buffer_unordered(DEFAULT_SLOTS)
        .collect()
        .await;
    let mut bytes = 0;
    for r in results {
        match r {
            Fetched::Stored { stored, .. } => bytes += stored.bytes,
            other => panic!("not stored: {other:?}"),
        }
    }
    (bytes, start.elapsed())
}

fn venv_bin(name: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    std::env::var("NOTIONLAKE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home).join(".cache/notionlake-venv"))
        .join("bin")
        .join(name)
}

/// A moto server, stopped on drop.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A moto server with a bucket `files`, and the lake in it.
async fn moto_lake() -> Option<(Moto, Lake)> {
    let bin = venv_bin("moto_server");
    if !bin.exists() {
        println!(
            "files: {} is missing; the S3 half is not measured (run .ci/run once)",
            bin.display()
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let moto = Moto(
        Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(&endpoint).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let created = http.put(format!("{endpoint}/files")).send().await.ok()?;
    assert!(created.status().is_success(), "create the bucket");
    let opts = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "test"),
        ("aws_secret_access_key", "test"),
        ("aws_region", "us-east-1"),
    ];
    let lake = Lake::open_with("s3://files/lake", &opts).expect("s3 lake");
    Some((moto, lake))
}

/// This process's peak resident memory (`VmHWM` of `/proc/self/status`), in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn report(what: &str, bytes: u64, took: Duration, baseline_kib: u64) {
    let peak = peak_kib();
    println!(
        "files into {what}: {:.0} MiB in {:.1} s = {:.0} MiB/s; peak {:.1} MiB, {:+.1} MiB over the baseline",
        bytes as f64 / (1 << 20) as f64,
        took.as_secs_f64(),
        bytes as f64 / (1 << 20) as f64 / took.as_secs_f64(),
        peak as f64 / 1024.0,
        (peak as f64 - baseline_kib as f64) / 1024.0
    );
}

#[tokio::main]
async fn main() {
    let fake = FakeNotion::start(demo_workspace().0, FakeConfig::unlimited())
        .await
        .expect("fake");
    let base = fake.url().trim_end_matches('/').to_string();
    let baseline = peak_kib();
    println!(
        "files: 1 GiB (one 512 MiB file, 512 of 1 MiB); baseline peak {:.1} MiB",
        baseline as f64 / 1024.0
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let local = Lake::open(dir.path().to_str().expect("utf-8")).expect("lake");
    let (bytes, took) = store_all(&base, &local).await;
    report("a local lake", bytes, took, baseline);
    drop(dir);
    // Resets VmHWM to the current resident size, so the S3 figure is its own.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    if let Some((_moto, lake)) = moto_lake().await {
        let (bytes, took) = store_all(&base, &lake).await;
        report("S3 (moto)", bytes, took, baseline);
    }
}
