//! The one integration-test binary (ripgrep's habit): every test talks to the in-process fake
//! Notion over real HTTP on loopback.

mod bulk;
mod cli;
mod client;
mod conformance;
mod dbt;
mod delta;
mod dependents;
mod documents;
mod export;
mod fake_server;
mod files;
mod files_sync;
mod fleet;
mod freshness;
mod golden;
mod history;
mod incremental;
mod lake;
mod markdown_api;
mod names;
mod oauth;
mod quiet;
mod realtime;
mod receiver;
mod resume;
mod shell;
mod tables;
mod unique;
mod webhooks;
mod workspace;

use notionlake::fake::{DEMO_TOKEN, DemoIds, FakeConfig, FakeNotion, demo_workspace};
use notionlake::notion::{ClientConfig, NotionClient, NotionVersion, RetryConfig, StaticToken};
use std::sync::Arc;
use std::time::Duration;

/// A fake serving the demo workspace with `config`.
pub async fn demo_fake(config: FakeConfig) -> (FakeNotion, DemoIds) {
    let (ws, ids) = demo_workspace();
    (
        FakeNotion::start(ws, config).await.expect("start fake"),
        ids,
    )
}

/// Client settings for tests: fast, no client-side pacing unless asked.
pub fn test_config(fake: &FakeNotion, version: NotionVersion) -> ClientConfig {
    ClientConfig {
        base_url: url::Url::parse(&fake.url()).unwrap(),
        version,
        rps: 1000.0,
        burst: 100,
        timeout: Duration::from_secs(10),
        retry: RetryConfig {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
            ..RetryConfig::default()
        },
        page_size: 100,
        ..ClientConfig::default()
    }
}

/// A client of `fake` with the demo token.
pub fn client_with(config: ClientConfig) -> NotionClient {
    NotionClient::new(config, Arc::new(StaticToken::new(DEMO_TOKEN))).expect("client")
}

/// Edits the text of the handbook's quote block (one block of one page) to `text`, now.
pub fn edit_handbook_quote(fake: &FakeNotion, ids: &DemoIds, text: &str) {
    let quote = {
        let ws = fake.workspace();
        let page = ws.page(&ids.handbook).expect("the handbook");
        page.children
            .iter()
            .find(|b| ws.blocks[*b].kind == "quote")
            .expect("a quote")
            .clone()
    };
    let item = serde_json::json!({"type": "text", "text": {"content": text, "link": null}, "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": text, "href": null});
    fake.workspace_mut().edit_block_now(
        &quote,
        serde_json::json!({"rich_text": [item], "color": "default"}),
        &ids.people["grace"],
    );
}
