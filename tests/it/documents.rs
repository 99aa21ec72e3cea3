//! The `documents` table: every crawled page rendered from the blocks the sync read, its
//! outline and placeholders agreeing with the blocks table, and an incremental sync replacing
//! only the document of the page that changed.

use std::collections::BTreeMap;

use notionlake::fake::FakeConfig;
use notionlake::flatten::markdown::rules::{BLOCK_RULES, BlockRule};
use notionlake::sink::Lake;
use serde_json::Value;

use crate::demo_fake;
use crate::lake::{rows, sync_with};
use notionlake::sync::SyncOptions;

async fn latest(lake: &Lake, sql: &str) -> Vec<Value> {
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, lake).await.unwrap();
    rows(&ctx, sql).await
}

/// (page id → markdown) of the latest documents.
async fn documents(lake: &Lake) -> BTreeMap<String, String> {
    latest(lake, "SELECT page_id, markdown FROM documents")
        .await
        .into_iter()
        .map(|r| {
            (
                r["page_id"].as_str().unwrap().to_string(),
                r["markdown"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_crawled_page_is_a_document_that_agrees_with_its_blocks() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let docs = documents(&lake).await;
    let with_blocks = latest(&lake, "SELECT DISTINCT page_id FROM blocks").await;
    assert!(with_blocks.len() > 3);
    for page in &with_blocks {
        let id = page["page_id"].as_str().unwrap();
        let md = docs
            .get(id)
            .unwrap_or_else(|| panic!("page {id} has blocks but no document"));
        assert!(!md.trim().is_empty(), "page {id} rendered empty");
    }
    // The page columns came through the crawl with the content.
    let heads = latest(
        &lake,
        "SELECT count(*) AS n FROM documents d JOIN pages p ON p.id = d.page_id WHERE d.title = p.title AND d.url = p.url AND d.last_edited_time = p.last_edited_time AND d.parent_id IS NOT DISTINCT FROM p.parent_id",
    )
    .await;
    assert_eq!(heads[0]["n"].as_u64().unwrap() as usize, docs.len());
    // The outline holds one heading per heading block, and placeholders count exactly the
    // blocks whose type has no rule (or is `unsupported`), page by page.
    let blocks = latest(&lake, "SELECT page_id, type FROM blocks").await;
    let mut headings: BTreeMap<String, usize> = BTreeMap::new();
    let mut placeholders: BTreeMap<String, usize> = BTreeMap::new();
    for b in &blocks {
        let (page, kind) = (b["page_id"].as_str().unwrap(), b["type"].as_str().unwrap());
        if matches!(BlockRule::of(kind), BlockRule::Heading(_)) {
            *headings.entry(page.to_string()).or_default() += 1;
        }
        if BlockRule::of(kind) == BlockRule::Placeholder {
            *placeholders.entry(page.to_string()).or_default() += 1;
        }
    }
    assert!(
        headings.values().sum::<usize>() > 0,
        "the demo has headings"
    );
    assert!(
        BLOCK_RULES.iter().any(|(k, _)| *k == "unsupported"),
        "unsupported blocks have a rule"
    );
    let outline = latest(
        &lake,
        "SELECT page_id, headings, placeholder_count, markdown FROM documents",
    )
    .await;
    for d in &outline {
        let page = d["page_id"].as_str().unwrap();
        let listed: Vec<Value> = serde_json::from_str(d["headings"].as_str().unwrap()).unwrap();
        assert_eq!(
            listed.len(),
            headings.get(page).copied().unwrap_or(0),
            "headings of {page}"
        );
        let md = d["markdown"].as_str().unwrap();
        for h in &listed {
            let level = usize::try_from(h["level"].as_u64().unwrap()).unwrap();
            let line = format!("{} ", "#".repeat(level));
            assert!(
                md.lines().any(|l| l.starts_with(&line)),
                "{page}: a level-{level} heading line"
            );
        }
        assert_eq!(
            d["placeholder_count"].as_u64().unwrap() as usize,
            placeholders.get(page).copied().unwrap_or(0),
            "placeholders of {page}"
        );
        assert_eq!(
            md.matches("<!-- notion block not rendered").count(),
            placeholders.get(page).copied().unwrap_or(0)
        );
    }

    // A block removed from one page: the next sync changes that page's document only.
    let page = ids.block_gallery.clone();
    {
        let mut ws = fake.workspace_mut();
        let editor = ids.people["ada"].clone();
        ws.edit_page_now(&page, &editor, |p| {
            p.children.remove(0);
        });
    }
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let after = documents(&lake).await;
    let changed: Vec<&String> = docs
        .keys()
        .filter(|id| after.get(*id) != docs.get(*id))
        .collect();
    assert_eq!(
        changed,
        vec![&page],
        "only the edited page's document changed"
    );
    assert_eq!(after.len(), docs.len());
    // The incremental run did not list the root page, yet the gallery's link to it keeps the
    // root's title (read from the lake's pages table).
    assert!(
        after[&page].contains(&format!(
            "[Acme HQ](https://www.notion.so/{})",
            ids.root.replace('-', "")
        )),
        "{}",
        after[&page]
    );
    assert!(!after[&page].contains("Untitled"));
}
