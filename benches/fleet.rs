//! Many connections in one process (`notionlake sync --all`'s engine, `fleet::sync_connections`),
//! against fake Notions serving from a separate process with Notion's limits:
//! - `many`: N connections (default 20), each to its own synthetic workspace whose fake allows
//!   3 requests/s per connection; each client paces itself at 3/s. Reports the aggregate
//!   throughput against N × 3 requests/s, and the fleet process's peak resident memory, in
//!   total and per connection.
//! - `shared`: two connections (3 requests/s each) to one workspace whose shared limit is
//!   4 requests/s: together they ask 6/s, so Notion answers 429 with the workspace reason until
//!   their shared budget settles under the limit. Runs for a fixed time (default 300 s) and
//!   reports, from the fake's own counts, the 429s and the throughput after the first minute.
//!
//! Run: `cargo bench --bench fleet` (both), `cargo bench --bench fleet -- many 20` or
//! `cargo bench --bench fleet -- shared 300`. Linux only (peak memory from /proc).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use notionlake::config::{ConnectionArgs, FileConfig};
use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion, SynthSpec, synthetic_workspace};
use notionlake::fleet::{Budgets, Ended, connections, sync_connections};
use notionlake::sync::SyncOptions;

/// Only the peak-memory reader is used here.
#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

/// The allocator of the `notionlake` binary (see `src/main.rs`), so the figures are the binary's.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The second connection's token in `shared`.
const SECOND_TOKEN: &str = "ntn_bench_second_0000";
/// Notion's per-connection average.
const CONNECTION_RPS: f64 = 3.0;
/// The shared workspace's limit in `shared`.
const WORKSPACE_RPS: f64 = 4.0;
/// Latency the fakes add to every answer (Notion's are 100–500 ms).
const LATENCY: Duration = Duration::from_millis(150);

/// A synthetic workspace of about `pages` pages (each a few requests: content and comments).
fn workspace(seed: u64, pages: usize) -> notionlake::fake::Workspace {
    synthetic_workspace(SynthSpec {
        data_sources: 1,
        rows: 300,
        pages,
        block_depth: 1,
        fanout: 3,
        comments: pages / 4,
        seed,
        ..SynthSpec::default()
    })
}

/// Serves the fakes of a mode, printing their URLs on one line, until killed.
async fn serve(mode: &str, n: usize) {
    let limited = |workspace_rps: Option<f64>, tokens: Vec<String>| FakeConfig {
        tokens,
        rps: Some(CONNECTION_RPS),
        burst: 3,
        workspace_rps,
        workspace_burst: 4,
        latency: LATENCY,
        ..FakeConfig::default()
    };
    let mut fakes = Vec::new();
    match mode {
        "many" => {
            for i in 0..n {
                let ws = workspace(100 + i as u64, 70);
                let config = limited(None, vec![DEMO_TOKEN.into()]);
                fakes.push(FakeNotion::start(ws, config).await.expect("fake"));
            }
        }
        _ => {
            let config = limited(
                Some(WORKSPACE_RPS),
                vec![DEMO_TOKEN.into(), SECOND_TOKEN.into()],
            );
            // Far more work than the run's time: the run is stopped, not finished.
            let ws = workspace(7, 3_000);
            fakes.push(FakeNotion::start(ws, config).await.expect("fake"));
        }
    }
    let urls: Vec<String> = fakes.iter().map(|f| f.url().to_string()).collect();
    println!("{}", urls.join(" "));
    std::future::pending::<()>().await;
}

/// The connections of a fleet, one per URL (two to the one URL in `shared`).
fn fleet_config(urls: &[String], shared: bool, dir: &std::path::Path) -> FileConfig {
    let mut text = format!("rps = {CONNECTION_RPS}\nburst = 2\n");
    let entries: Vec<(String, &str, &String)> = if shared {
        vec![
            ("first".into(), "NL_BENCH_FIRST", &urls[0]),
            ("second".into(), "NL_BENCH_SECOND", &urls[0]),
        ]
    } else {
        urls.iter()
            .enumerate()
            .map(|(i, u)| (format!("c{i:02}"), "NL_BENCH_FIRST", u))
            .collect()
    };
    for (name, env, url) in entries {
        text.push_str(&format!(
            "[[connection]]\nname = \"{name}\"\ntoken_env = \"{env}\"\nlake = \"{}\"\napi_base = \"{url}\"\n",
            dir.join(&name).display()
        ));
    }
    toml::from_str(&text).expect("config")
}

/// Runs the fleet (in this process) and prints its figures.
async fn run_fleet(mode: &str, urls: Vec<String>, secs: u64) {
    let shared = mode == "shared";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = fleet_config(&urls, shared, dir.path());
    let env = |v: &str| match v {
        "NL_BENCH_FIRST" => Some(DEMO_TOKEN.to_string()),
        "NL_BENCH_SECOND" => Some(SECOND_TOKEN.to_string()),
        _ => None,
    };
    let list = connections(&file, &ConnectionArgs::default(), &[], env).expect("connections");
    let n = list.len();
    let options = SyncOptions {
        progress: false,
        files: notionlake::files::FilesOptions {
            mode: notionlake::files::FilesMode::None,
            ..Default::default()
        },
        ..SyncOptions::default()
    };
    let runs = list.into_iter().map(|c| (c, options.clone())).collect();
    let baseline = support::status_kib("VmRSS:");
    let budgets = Budgets::default();
    let start = Instant::now();
    let fleet = sync_connections(runs, n, &budgets, &|_| {});
    let outcomes = if shared {
        // Stopped after `secs`: the fake's counts are what is measured.
        let _ = tokio::time::timeout(Duration::from_secs(secs), fleet).await;
        Vec::new()
    } else {
        fleet.await
    };
    let elapsed = start.elapsed().as_secs_f64();
    let requests: u64 = outcomes
        .iter()
        .map(|o| match &o.ended {
            Ended::Synced(r) => r.requests.total_requests,
            other => panic!("{}: {other:?}", o.name),
        })
        .sum();
    let rate = budgets.views().first().and_then(|v| v.rate).unwrap_or(0.0);
    println!(
        "{n} {requests} {elapsed:.3} {} {baseline} {rate:.3}",
        support::status_kib("VmHWM:"),
    );
}

/// The fake's request and 429 counts (from `/__fake/stats`).
async fn fake_counts(url: &str) -> (u64, u64, u64) {
    let v: serde_json::Value = reqwest::get(format!("{url}/__fake/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats JSON");
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    (n("total"), n("rate_limited"), n("workspace_rate_limited"))
}

fn spawn_server(me: &std::path::Path, mode: &str, n: usize) -> (std::process::Child, Vec<String>) {
    let mut server = Command::new(me)
        .args(["serve", mode, &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("urls");
    let urls = line.split_whitespace().map(str::to_string).collect();
    (server, urls)
}

fn fleet_child(me: &std::path::Path, mode: &str, urls: &[String], secs: u64) -> Command {
    let mut cmd = Command::new(me);
    cmd.args(["fleet", mode, &secs.to_string()]).args(urls);
    cmd
}

fn figures(out: &std::process::Output) -> Vec<f64> {
    let text = String::from_utf8_lossy(&out.stdout);
    let parts: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if parts.len() != 6 {
        eprintln!("fleet failed: {}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
    parts
}

fn bench_many(me: &std::path::Path, n: usize) {
    let (mut server, urls) = spawn_server(me, "many", n);
    let out = fleet_child(me, "many", &urls, 0).output().expect("fleet");
    let _ = server.kill();
    let _ = server.wait();
    let f = figures(&out);
    let (conns, requests, secs, peak_kib, base_kib) = (f[0], f[1], f[2], f[3], f[4]);
    let target = conns * CONNECTION_RPS;
    let throughput = requests / secs;
    println!(
        "many: {conns} connections at {CONNECTION_RPS} requests/s each (fake latency {} ms)",
        LATENCY.as_millis()
    );
    println!(
        "  {requests} requests in {secs:.1} s: {throughput:.2} requests/s = {:.1}% of {target}",
        100.0 * throughput / target
    );
    println!(
        "  peak RSS {:.1} MiB (before the fleet {:.1} MiB): {:.2} MiB per connection",
        peak_kib / 1024.0,
        base_kib / 1024.0,
        (peak_kib - base_kib) / 1024.0 / conns
    );
}

async fn bench_shared(me: &std::path::Path, secs: u64) {
    let (mut server, urls) = spawn_server(me, "shared", 1);
    let url = urls[0].clone();
    let mut child = fleet_child(me, "shared", &urls, secs)
        .stdout(Stdio::piped())
        .spawn()
        .expect("fleet");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (total0, limited0, space0) = fake_counts(&url).await;
    let t0 = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let mut stdout = String::new();
        use std::io::Read;
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut stdout)
            .expect("read");
        let _ = child.wait();
        stdout
    })
    .await
    .expect("fleet");
    let (total1, limited1, space1) = fake_counts(&url).await;
    let window = t0.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    let rate = out
        .split_whitespace()
        .nth(5)
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or(0.0);
    let requests = (total1 - total0) as f64;
    let limited = (limited1 - limited0) as f64;
    let served = requests - limited;
    println!(
        "shared: two connections at {CONNECTION_RPS} requests/s each, one workspace limited to {WORKSPACE_RPS}/s (fake latency {} ms), {secs} s",
        LATENCY.as_millis()
    );
    println!(
        "  first minute: {total0} requests, {limited0} answered 429 ({space0} for the workspace)"
    );
    println!(
        "  after it ({window:.0} s): {requests} requests, {limited} answered 429 ({} for the workspace) = {:.2}%",
        space1 - space0,
        100.0 * limited / requests.max(1.0)
    );
    println!(
        "  throughput after it: {:.2} requests/s served = {:.1}% of the limit; budget learned {rate:.2}/s",
        served / window,
        100.0 * served / window / WORKSPACE_RPS
    );
}

#[tokio::main]
async fn main() {
    let args = support::args();
    match args.first().map(String::as_str) {
        Some("serve") => return serve(&args[1], args[2].parse().expect("count")).await,
        Some("fleet") => {
            let secs = args[2].parse().expect("seconds");
            return run_fleet(&args[1], args[3..].to_vec(), secs).await;
        }
        _ => {}
    }
    let me = std::env::current_exe().expect("own path");
    let number = args.get(1).and_then(|a| a.parse().ok());
    match args.first().map(String::as_str) {
        Some("many") => bench_many(&me, number.unwrap_or(20) as usize),
        Some("shared") => bench_shared(&me, number.unwrap_or(300)).await,
        _ => {
            bench_many(&me, 20);
            bench_shared(&me, 300).await;
        }
    }
}
