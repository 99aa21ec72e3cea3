//! Request rate of a whole-workspace sync (users, search, every data source, every page's block
//! tree and comments) against the rate-limited fake Notion: the fake allows 3 requests/s (burst
//! 3) and answers each request after 250 ms; the client paces itself at 3/s (burst 2). With one
//! request taking most of the interval the limiter allows between two, any pause of the run's
//! network side (a file being written, a page fetched alone, a data source waiting for the
//! previous one) shows as lost rate. Prints the requests sent, the achieved rate against the
//! allowed one and the 429s received. Target: ≥ 97 % of the allowed rate, no 429.
//!
//! Run: `cargo bench --bench sync_rate` (the demo workspace; `NOTIONLAKE_BENCH_LATENCY_MS=500`
//! for another latency), or
//! `cargo bench --bench sync_rate -- <pages>` for a synthetic workspace of that many pages
//! (three levels of blocks, a comment thread each) beside two tables of 300 rows.

use std::time::{Duration, Instant};

use notionlake::fake::{
    DEMO_TOKEN, FakeConfig, FakeNotion, SynthSpec, demo_workspace, synthetic_workspace,
};
use notionlake::notion::{ClientConfig, NotionClient};
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, sync_workspace};

const RPS: f64 = 3.0;
const SERVER_BURST: u32 = 3;
const CLIENT_BURST: u32 = 2;
/// The fake's answer latency; `NOTIONLAKE_BENCH_LATENCY_MS` overrides it.
const LATENCY_MS: u64 = 250;

#[tokio::main]
async fn main() {
    let latency = Duration::from_millis(
        std::env::var("NOTIONLAKE_BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(LATENCY_MS),
    );
    let pages: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let (workspace, label) = match pages {
        None => (demo_workspace().0, "demo workspace".to_string()),
        Some(n) => (
            synthetic_workspace(SynthSpec {
                data_sources: 2,
                rows: 300,
                pages: n,
                block_depth: 3,
                fanout: 2,
                comments: n,
                seed: 7,
                hosted_files: Vec::new(),
            }),
            format!("synthetic workspace of {n} pages"),
        ),
    };
    let fake = FakeNotion::start(
        workspace,
        FakeConfig {
            rps: Some(RPS),
            burst: SERVER_BURST,
            latency,
            ..FakeConfig::default()
        },
    )
    .await
    .expect("start the fake");
    let client = NotionClient::with_token(
        &fake.url(),
        DEMO_TOKEN,
        ClientConfig {
            rps: RPS,
            burst: CLIENT_BURST,
            ..ClientConfig::default()
        },
    )
    .expect("client");
    let dir = tempfile::tempdir().expect("temporary directory");
    let lake = Lake::open(dir.path().to_str().expect("utf-8 path")).expect("lake");
    let start = Instant::now();
    let report = sync_workspace(&client, &lake, &SyncOptions::default())
        .await
        .expect("sync");
    let elapsed = start.elapsed().as_secs_f64();
    let stats = client.stats();
    let total = stats.total_requests as f64;
    // The ideal: the first `CLIENT_BURST` requests at once, the rest paced at `RPS`, plus one
    // latency for the last answer.
    let ideal = (total - f64::from(CLIENT_BURST)) / RPS + latency.as_secs_f64();
    let achieved = total / elapsed;
    println!(
        "sync_rate: full sync of the {label}, fake at {RPS}/s burst {SERVER_BURST} with {} ms latency",
        latency.as_millis()
    );
    println!(
        "  requests            {} ({} pages, {} blocks written)",
        stats.total_requests,
        report
            .fixed
            .iter()
            .find(|f| f.table == "pages")
            .map_or(0, |f| f.rows),
        report
            .fixed
            .iter()
            .find(|f| f.table == "blocks")
            .map_or(0, |f| f.rows),
    );
    println!("  elapsed             {elapsed:.2} s (ideal {ideal:.2} s)");
    println!(
        "  achieved rate       {achieved:.3} req/s ({:.1} % of the allowed {RPS}/s)",
        100.0 * achieved / RPS
    );
    println!(
        "  429s received       {}; retries {}",
        stats.rate_limited, stats.retries
    );
    fake.shutdown().await;
}
