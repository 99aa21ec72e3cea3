//! Client throughput against the rate-limited fake Notion: the fake allows 3 requests/s (burst
//! 3) and answers after 200 ms; the client paces itself at 3/s (burst 2) with 4 concurrent
//! workers. Prints the achieved rate and the 429s received. Target: ≥ 95 % of the allowed rate
//! with no more 429s than the burst allows.
//!
//! Run: `cargo bench --bench client_rate` (optional: `-- <requests>`, default 90).

use std::time::{Duration, Instant};

use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion, demo_workspace};
use notionlake::notion::{ClientConfig, NotionClient};

const WORKERS: usize = 4;

#[tokio::main]
async fn main() {
    let total: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(90);
    let (rps, server_burst, client_burst) = (3.0, 3, 2);
    let fake = FakeNotion::start(
        demo_workspace().0,
        FakeConfig {
            rps: Some(rps),
            burst: server_burst,
            latency: Duration::from_millis(200),
            ..FakeConfig::default()
        },
    )
    .await
    .expect("start the fake");
    let client = NotionClient::with_token(
        &fake.url(),
        DEMO_TOKEN,
        ClientConfig {
            rps,
            burst: client_burst,
            ..ClientConfig::default()
        },
    )
    .expect("client");
    let start = Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|w| {
            let c = client.clone();
            let n = total / WORKERS + usize::from(w < total % WORKERS);
            tokio::spawn(async move {
                for _ in 0..n {
                    c.users_me().await.expect("request");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("worker");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let stats = client.stats();
    let served = fake.stats();
    // The ideal: the first `client_burst` requests at once, the rest paced at `rps`, plus one
    // latency for the last answer.
    let ideal = (total - client_burst as usize) as f64 / rps + 0.2;
    let achieved = total as f64 / elapsed;
    println!(
        "client_rate: {total} requests, {WORKERS} workers, fake at {rps}/s burst {server_burst} with 200 ms latency"
    );
    println!("  elapsed             {elapsed:.2} s (ideal {ideal:.2} s)");
    println!(
        "  achieved rate       {achieved:.3} req/s ({:.1} % of the allowed {rps}/s)",
        100.0 * achieved / rps
    );
    println!(
        "  pacing efficiency   {:.1} % of the ideal schedule",
        100.0 * ideal / elapsed
    );
    println!(
        "  429s received       {} (server burst {server_burst}); retries {}",
        stats.rate_limited, stats.retries
    );
    println!("  requests served     {}", served.total);
    fake.shutdown().await;
}
