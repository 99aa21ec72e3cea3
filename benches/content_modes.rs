//! Requests per page of the two ways a sync reads page content: `--content blocks` (one
//! `GET /v1/blocks/{id}/children` per block that has children, every page of them) and
//! `--content markdown-api` (one `GET /v1/pages/{id}/markdown` per page, plus one per subtree a
//! truncated answer leaves out). Runs both on the demo workspace and on a synthetic workspace of
//! deep pages, and the markdown API once more with a record limit of 100 blocks per answer (so
//! that every deep page is truncated and completed). Comments are off, so that only content is
//! counted. Prints, per case: pages read, content requests, requests per page, all requests of
//! the sync, and the time they take at Notion's 3 requests/s.
//!
//! Run: `cargo bench --bench content_modes`.

use std::collections::BTreeMap;
use std::time::Instant;

use notionlake::fake::{
    FakeConfig, FakeNotion, SynthSpec, Workspace, demo_workspace, synthetic_workspace,
};
use notionlake::sink::Lake;
use notionlake::sync::{CommentsMode, ContentMode, SyncOptions, sync_workspace};

// Only the client is used here: the fake runs in-process, so its stats can be read.
#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

/// Notion's average rate limit.
const NOTION_RPS: f64 = 3.0;

async fn case(name: &str, ws: Workspace, content: ContentMode, record_limit: usize) {
    let fake = FakeNotion::start(
        ws,
        FakeConfig {
            rps: None,
            markdown_record_limit: record_limit,
            ..FakeConfig::default()
        },
    )
    .await
    .expect("fake");
    let client = support::client(&fake.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().to_str().expect("utf-8")).expect("lake");
    let options = SyncOptions {
        content,
        comments: CommentsMode::None,
        ..SyncOptions::default()
    };
    let started = Instant::now();
    let report = sync_workspace(&client, &lake, &options)
        .await
        .expect("sync");
    let elapsed = started.elapsed();
    let requests: BTreeMap<String, u64> = fake.stats().requests;
    let pages = report
        .fixed
        .iter()
        .find(|f| f.table == "documents")
        .map_or(0, |f| f.rows as u64);
    let content_requests = [
        "GET /v1/blocks/{id}/children",
        "GET /v1/pages/{id}/markdown",
    ]
    .iter()
    .map(|e| requests.get(*e).copied().unwrap_or(0))
    .sum::<u64>();
    let total = fake.stats().total;
    println!(
        "{name:<34} {:<13} {pages:>6} {content_requests:>9} {:>9.2} {total:>9} {:>10.0} {:>8.2}",
        format!("{content:?}"),
        content_requests as f64 / pages.max(1) as f64,
        total as f64 / NOTION_RPS,
        elapsed.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "{:<34} {:<13} {:>6} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "workspace", "content", "pages", "content", "per page", "all req", "s at 3/s", "wall s"
    );
    let deep = || {
        synthetic_workspace(SynthSpec {
            data_sources: 1,
            rows: 50,
            pages: 50,
            block_depth: 4,
            fanout: 4,
            comments: 0,
            seed: 7,
            hosted_files: Vec::new(),
        })
    };
    case("demo", demo_workspace().0, ContentMode::Blocks, 20_000).await;
    case("demo", demo_workspace().0, ContentMode::MarkdownApi, 20_000).await;
    case(
        "deep: 50 pages x 340 blocks",
        deep(),
        ContentMode::Blocks,
        20_000,
    )
    .await;
    case(
        "deep: 50 pages x 340 blocks",
        deep(),
        ContentMode::MarkdownApi,
        20_000,
    )
    .await;
    case(
        "deep, record limit 100",
        deep(),
        ContentMode::MarkdownApi,
        100,
    )
    .await;
}
