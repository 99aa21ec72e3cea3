//! Near-real-time against polling, over the same edits: 100 edits of deals' amounts spread over
//! 10 minutes (one every 6 s, each deal at most once a minute), on two fake Notions with Notion's
//! 3 requests/s:
//! - `webhooks serve --sync --watch 1h`, the fake delivering each event 5 to 20 s after its edit;
//! - `sync --watch 1m`, polling, no webhooks.
//!
//! Each edit's latency is from the edit to the commit of the first run that wrote its value (the
//! deals history's `_run_id`, and that run's record: start plus duration). Reports the median
//! and maximum latency of each, and the requests each spent.
//!
//! Run: `cargo bench --bench realtime` (or `-- 100 6` for edits and seconds between them).

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use notionlake::fake::edits::Edit;
use notionlake::fake::webhooks::Subscription;
use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion, demo_workspace};
use notionlake::sink::Lake;
use serde_json::json;

const TOKEN: &str = "secret_bench_verification_token";

/// A child process killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn notionlake() -> Command {
    // The bench binary sits in target/release/deps; the CLI in target/release.
    let me = std::env::current_exe().expect("own path");
    let dir = me.parent().and_then(|d| d.parent()).expect("target dir");
    let mut cmd = Command::new(dir.join("notionlake"));
    cmd.env("NOTION_TOKEN", DEMO_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

async fn fake() -> (FakeNotion, notionlake::fake::DemoIds) {
    let config = FakeConfig {
        latency: Duration::from_millis(100),
        ..FakeConfig::default()
    };
    let (ws, ids) = demo_workspace();
    (FakeNotion::start(ws, config).await.expect("fake"), ids)
}

/// When each run committed: its records' start plus duration, the latest segment's.
fn commits(lake: &std::path::Path) -> HashMap<String, chrono::DateTime<chrono::Utc>> {
    let mut out: HashMap<String, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for entry in std::fs::read_dir(lake.join("_notionlake/runs")).expect("runs") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("record");
        let r: serde_json::Value = serde_json::from_slice(&bytes).expect("record JSON");
        let (Some(run), Some(start), Some(secs)) = (
            r["run_id"].as_str(),
            r["started_at"].as_str(),
            r["duration_secs"].as_f64(),
        ) else {
            continue;
        };
        let Ok(start) = chrono::DateTime::parse_from_rfc3339(start) else {
            continue;
        };
        let at = start.to_utc() + chrono::Duration::milliseconds((secs * 1000.0) as i64);
        let e = out.entry(run.to_string()).or_insert(at);
        *e = (*e).max(at);
    }
    out
}

/// Each edit's latency (seconds), for the edits whose value the lake holds in its history.
async fn latencies(
    lake_dir: &std::path::Path,
    edits: &[(String, f64, chrono::DateTime<chrono::Utc>)],
) -> Vec<f64> {
    let lake = Lake::open(lake_dir.to_str().expect("utf-8")).expect("lake");
    let ctx = SessionContext::new();
    notionlake::shell::register_lake(&ctx, &lake)
        .await
        .expect("register");
    let batches = ctx
        .sql("SELECT _id, amount, _run_id FROM deals_history")
        .await
        .expect("sql")
        .collect()
        .await
        .expect("rows");
    let mut first_run: HashMap<(String, u64), String> = HashMap::new();
    let commits = commits(lake_dir);
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b).expect("json");
    }
    writer.finish().expect("json");
    let bytes = writer.into_inner();
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = if bytes.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&bytes).expect("rows")
    };
    {
        for r in rows {
            let (Some(id), Some(amount), Some(run)) = (
                r.get("_id").and_then(|v| v.as_str()),
                r.get("amount").and_then(|v| v.as_f64()),
                r.get("_run_id").and_then(|v| v.as_str()),
            ) else {
                continue;
            };
            let key = (id.to_string(), amount.to_bits());
            let earlier = first_run
                .get(&key)
                .is_some_and(|seen| commits.get(seen) <= commits.get(run));
            if !earlier {
                first_run.insert(key, run.to_string());
            }
        }
    }
    edits
        .iter()
        .filter_map(|(deal, amount, at)| {
            let run = first_run.get(&(deal.clone(), amount.to_bits()))?;
            let commit = commits.get(run)?;
            Some((*commit - *at).num_milliseconds() as f64 / 1000.0)
        })
        .collect()
}

fn summary(name: &str, mut l: Vec<f64>, edits: usize, requests: u64) {
    l.sort_by(f64::total_cmp);
    let median = l.get(l.len() / 2).copied().unwrap_or(f64::NAN);
    let max = l.last().copied().unwrap_or(f64::NAN);
    println!(
        "  {name:<28} {:>3} of {edits} edits landed; edit to commit median {median:>5.1} s, max {max:>5.1} s; {requests} requests",
        l.len()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(100) as usize;
    let every = Duration::from_secs(args.get(1).copied().unwrap_or(6));
    let dir = tempfile::tempdir().expect("tempdir");
    let ((events_fake, ids), (polling_fake, _)) = (fake().await, fake().await);
    let (events_lake, polling_lake) = (dir.path().join("events"), dir.path().join("polling"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let _serve = Running(
        notionlake()
            .args(["webhooks", "serve", "--sync", "--watch", "1h", "--arm"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--files", "none"])
            .arg("--lake")
            .arg(&events_lake)
            .args(["--api-base", &events_fake.url().to_string()])
            .arg("--token-file")
            .arg(dir.path().join("token"))
            .spawn()
            .expect("serve"),
    );
    let _poll = Running(
        notionlake()
            .args(["sync", "--watch", "1m", "--files", "none"])
            .arg("--lake")
            .arg(&polling_lake)
            .args(["--api-base", &polling_fake.url().to_string()])
            .spawn()
            .expect("sync"),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let sub = Subscription {
        delay: Duration::from_secs(5),
        delay_jitter: Duration::from_secs(15),
        ..Subscription::to(&url, TOKEN)
    };
    let mut subscribed = false;
    for _ in 0..100 {
        if events_fake.subscribe(sub.clone()).await.is_ok() {
            subscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(subscribed, "the receiver never listened");
    // Both first runs done before the edits start.
    let started = Instant::now();
    while !(events_lake.join("_notionlake/state.json").exists()
        && polling_lake.join("_notionlake/state.json").exists())
    {
        assert!(started.elapsed() < Duration::from_secs(600), "first runs");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    events_fake.reset_stats();
    polling_fake.reset_stats();
    let deals: Vec<String> = {
        let ws = events_fake.workspace();
        ws.data_sources[&ids.data_sources["Deals"]]
            .rows
            .iter()
            .filter(|d| ws.page(d).is_some_and(|p| !p.in_trash))
            .cloned()
            .collect()
    };
    println!(
        "realtime: {n} edits of {} deals, one every {} s; 3 requests/s per fake, 100 ms latency",
        deals.len(),
        every.as_secs()
    );
    let mut edits = Vec::new();
    let t0 = Instant::now();
    for i in 0..n {
        let deal = deals[i % deals.len()].clone();
        let amount = 500_000.0 + i as f64;
        let edit = Edit::SetProperty {
            page: deal.clone(),
            property: "dAmt".into(),
            value: json!(amount),
        };
        let at = chrono::Utc::now();
        events_fake.edit(&edit).expect("edit");
        polling_fake.edit(&edit).expect("edit");
        edits.push((deal, amount, at));
        tokio::time::sleep_until((t0 + every * (i as u32 + 1)).into()).await;
    }
    // The last deliveries (up to 20 s) and the last polling run.
    tokio::time::sleep(Duration::from_secs(90)).await;
    let events_requests = events_fake.stats().total;
    let polling_requests = polling_fake.stats().total;
    drop(_serve);
    drop(_poll);
    summary(
        "events (serve --sync, 1h)",
        latencies(&events_lake, &edits).await,
        n,
        events_requests,
    );
    summary(
        "polling (sync --watch 1m)",
        latencies(&polling_lake, &edits).await,
        n,
        polling_requests,
    );
}
