//! What the process benches share: a fake Notion serving a workspace from its own process
//! (no rate limit, no query cap), a client for it, and this process's peak memory. A bench
//! binary re-runs itself as `serve …` and reads the fake's URL from its first line of output.

use notionlake::fake::{DEMO_TOKEN, FakeConfig, FakeNotion, Workspace};
use notionlake::notion::{ClientConfig, NotionClient};

/// A fake serving `ws` on loopback, with no rate limit and no query cap.
pub async fn fake(ws: Workspace) -> FakeNotion {
    let config = FakeConfig {
        rps: None,
        query_cap: usize::MAX,
        ..FakeConfig::default()
    };
    FakeNotion::start(ws, config).await.expect("fake")
}

/// Serves `ws` until killed, after printing its URL.
pub async fn serve(ws: Workspace) {
    let fake = fake(ws).await;
    println!("{}", fake.url());
    fake.wait().await;
}

/// A client of the fake at `url`, its rate limit out of the way.
pub fn client(url: &str) -> NotionClient {
    NotionClient::with_token(
        url,
        DEMO_TOKEN,
        ClientConfig {
            rps: 10_000.0,
            burst: 100,
            ..ClientConfig::default()
        },
    )
    .expect("client")
}

/// A value in KiB of `/proc/self/status` (`VmHWM:` is the peak resident memory).
pub fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The bench's own arguments: those after the binary's name, without cargo's flags (`--bench`).
pub fn args() -> Vec<String> {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect()
}
