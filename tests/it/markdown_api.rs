//! `sync --content markdown-api`: documents read through `GET /v1/pages/{id}/markdown`, one
//! request per page where the block crawl needs one per container; truncated answers completed
//! subtree by subtree into exactly the page's full markdown; an incremental sync re-reading one
//! page with one request; and the version the endpoint needs.

use std::collections::BTreeMap;

use notionlake::fake::{FakeConfig, FakeNotion};
use notionlake::notion::NotionVersion;
use notionlake::sink::Lake;
use notionlake::sync::{ContentMode, SyncError, SyncOptions, sync_workspace};
use serde_json::Value;

use crate::lake::{rows, sync_with};
use crate::{client_with, demo_fake, test_config};

const MARKDOWN: &str = "GET /v1/pages/{id}/markdown";
const CHILDREN: &str = "GET /v1/blocks/{id}/children";

fn markdown_api() -> SyncOptions {
    SyncOptions {
        content: ContentMode::MarkdownApi,
        ..SyncOptions::default()
    }
}

async fn query(lake: &Lake, sql: &str) -> Vec<Value> {
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, lake).await.unwrap();
    rows(&ctx, sql).await
}

/// Syncs the fake into a new lake with `options`; returns the lake (in `dir`), the documents
/// (page id → row) and the requests by endpoint.
async fn sync_documents(
    fake: &FakeNotion,
    dir: &tempfile::TempDir,
    options: &SyncOptions,
) -> (Lake, BTreeMap<String, Value>, BTreeMap<String, u64>) {
    fake.reset_stats();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(fake, &lake, options).await;
    let docs = query(&lake, "SELECT * FROM documents")
        .await
        .into_iter()
        .map(|r| (r["page_id"].as_str().unwrap().to_string(), r))
        .collect();
    (lake, docs, fake.stats().requests)
}

#[tokio::test]
async fn documents_from_the_markdown_api_cost_one_request_per_page() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let (dir_b, dir_m) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, by_blocks, blocks_requests) =
        sync_documents(&fake, &dir_b, &SyncOptions::default()).await;
    let (lake, by_api, api_requests) = sync_documents(&fake, &dir_m, &markdown_api()).await;

    // The same pages have documents, read from Notion's markdown.
    assert_eq!(
        by_api.keys().collect::<Vec<_>>(),
        by_blocks.keys().collect::<Vec<_>>()
    );
    for d in by_api.values() {
        assert_eq!(d["content_source"], "markdown_api");
        assert!(d.get("block_count").is_none_or(Value::is_null));
    }
    assert!(by_blocks.values().all(|d| d["content_source"] == "blocks"));
    // No truncation at Notion's limit: one markdown request per page, no block listing.
    let pages = by_api.len() as u64;
    assert_eq!(api_requests.get(MARKDOWN).copied(), Some(pages));
    assert_eq!(api_requests.get(CHILDREN), None);
    let per_page = |r: &BTreeMap<String, u64>| {
        (r.get(CHILDREN).unwrap_or(&0) + r.get(MARKDOWN).unwrap_or(&0)) as f64 / pages as f64
    };
    eprintln!(
        "demo: {pages} pages; content requests per page: blocks {:.2}, markdown-api {:.2}",
        per_page(&blocks_requests),
        per_page(&api_requests)
    );
    assert!(per_page(&blocks_requests) > per_page(&api_requests));
    // No blocks table; the crawl-only page was still found through its `<page>` tag.
    let tables: Vec<String> =
        notionlake::shell::register_lake(&datafusion::prelude::SessionContext::new(), &lake)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
    assert!(!tables.contains(&"blocks".to_string()), "{tables:?}");
    assert!(by_api.contains_key(&ids.crawl_only_page));

    // The columns are read from the enhanced markdown.
    let handbook = &by_api[&ids.handbook];
    let md = handbook["markdown"].as_str().unwrap();
    assert!(md.contains("<callout icon=\"👋\">"), "{md}");
    assert!(md.contains("<mention-page url="), "{md}");
    let headings: Vec<Value> =
        serde_json::from_str(handbook["headings"].as_str().unwrap()).unwrap();
    let from_blocks: Vec<Value> =
        serde_json::from_str(by_blocks[&ids.handbook]["headings"].as_str().unwrap()).unwrap();
    assert_eq!(headings, from_blocks, "the same outline either way");
    assert_eq!(
        handbook["links_pages"], by_blocks[&ids.handbook]["links_pages"],
        "the same page links either way"
    );
    let gallery = &by_api[&ids.block_gallery];
    let placeholders: BTreeMap<String, u64> =
        serde_json::from_str(gallery["placeholders"].as_str().unwrap()).unwrap();
    assert_eq!(
        placeholders.get("unsupported"),
        Some(&1),
        "{placeholders:?}"
    );
    assert_eq!(placeholders.get("bookmark"), Some(&1), "{placeholders:?}");
}

#[tokio::test]
async fn truncated_pages_are_completed_to_the_full_markdown() {
    let (full, _) = demo_fake(FakeConfig::unlimited()).await;
    let (small, ids) = demo_fake(FakeConfig {
        markdown_record_limit: 4,
        ..FakeConfig::unlimited()
    })
    .await;
    let (dir_f, dir_s) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, whole, _) = sync_documents(&full, &dir_f, &markdown_api()).await;
    let (_, completed, requests) = sync_documents(&small, &dir_s, &markdown_api()).await;
    let pages = completed.len() as u64;
    let asked = requests[MARKDOWN];
    assert!(
        asked > pages + 50,
        "truncated answers made the sync ask for subtrees: {asked} requests for {pages} pages"
    );
    let missing: Vec<&Value> = whole
        .iter()
        .filter(|(id, _)| !completed.contains_key(*id))
        .map(|(_, d)| &d["title"])
        .collect();
    assert!(missing.is_empty(), "pages not found: {missing:?}");
    for (id, d) in &whole {
        assert_eq!(
            completed[id]["markdown"], d["markdown"],
            "page {id}: the completed markdown is the whole page"
        );
    }
    // The deep outline's bottom level came back through nested unknown subtrees.
    let deep = completed
        .values()
        .find(|d| d["title"] == "Deep outline")
        .unwrap();
    assert!(
        deep["markdown"]
            .as_str()
            .unwrap()
            .contains("The bottom of the outline.")
    );
    assert!(
        completed[&ids.block_gallery]["markdown"]
            .as_str()
            .unwrap()
            .contains("Kick-off call")
    );
}

#[tokio::test]
async fn an_incremental_sync_reads_one_edited_page_with_one_request() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (lake, before, _) = sync_documents(&fake, &dir, &markdown_api()).await;
    crate::edit_handbook_quote(&fake, &ids, "Edited.");
    fake.reset_stats();
    sync_with(&fake, &lake, &markdown_api()).await;
    assert_eq!(fake.stats().requests.get(MARKDOWN), Some(&1));
    let after: BTreeMap<String, Value> = query(&lake, "SELECT page_id, markdown FROM documents")
        .await
        .into_iter()
        .map(|r| (r["page_id"].as_str().unwrap().to_string(), r))
        .collect();
    let changed: Vec<&String> = before
        .keys()
        .filter(|k| after[*k]["markdown"] != before[*k]["markdown"])
        .collect();
    assert_eq!(changed, vec![&ids.handbook]);
    assert!(
        after[&ids.handbook]["markdown"]
            .as_str()
            .unwrap()
            .contains("> Edited.")
    );
}

#[tokio::test]
async fn the_markdown_api_needs_version_2025_09_03() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let client = client_with(test_config(&fake, NotionVersion::V2022_06_28));
    let err = sync_workspace(&client, &lake, &markdown_api())
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::MarkdownApiVersion { .. }), "{err}");
    assert!(err.to_string().contains("--notion-version 2025-09-03"));
    assert_eq!(fake.stats().total, 0, "refused before any request");
}

#[tokio::test]
async fn the_fakes_markdown_endpoint_answers_notions_shape() {
    let (fake, ids) = demo_fake(FakeConfig {
        markdown_record_limit: 3,
        ..FakeConfig::unlimited()
    })
    .await;
    let http = reqwest::Client::new();
    let get = |path: String, version: &'static str| {
        http.get(format!("{}{path}", fake.url()))
            .bearer_auth(notionlake::fake::DEMO_TOKEN)
            .header("Notion-Version", version)
            .send()
    };
    let page = get(
        format!("/v1/pages/{}/markdown", ids.block_gallery),
        "2026-03-11",
    )
    .await
    .unwrap();
    assert_eq!(page.status(), 200);
    let page: Value = page.json().await.unwrap();
    let keys: Vec<&String> = page.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "markdown",
            "object",
            "request_id",
            "truncated",
            "unknown_block_ids"
        ]
        .iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(page["object"], "page_markdown");
    assert_eq!(page["truncated"], true);
    let unknown = page["unknown_block_ids"].as_array().unwrap();
    assert!(unknown.len() > 10);
    let md = page["markdown"].as_str().unwrap();
    assert_eq!(md.matches("<unknown url=").count(), unknown.len());
    // A left-out subtree is answered on its own; the transcript only when asked for.
    let meeting = {
        let ws = fake.workspace();
        ws.blocks
            .values()
            .find(|b| b.kind == "meeting_notes")
            .unwrap()
            .id
            .clone()
    };
    let sub: Value = get(format!("/v1/pages/{meeting}/markdown"), "2025-09-03")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub_md = sub["markdown"].as_str().unwrap();
    assert!(
        sub_md.starts_with("<meeting-notes>\n\tKick-off call\n\t<summary>"),
        "{sub_md}"
    );
    assert!(!sub_md.contains("<transcript>"));
    let with: Value = get(
        format!("/v1/pages/{meeting}/markdown?include_transcript=true"),
        "2025-09-03",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(with["markdown"].as_str().unwrap().contains("<transcript>"));
    // Older versions have no such endpoint.
    let old = get(
        format!("/v1/pages/{}/markdown", ids.block_gallery),
        "2022-06-28",
    )
    .await
    .unwrap();
    assert_eq!(old.status(), 400);
}
