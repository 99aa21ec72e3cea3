//! The whole workspace: pages (including those only a crawl finds), databases, data sources,
//! properties, blocks of every type with parent/depth/position, users and comments; the exact
//! request count of a full sync; a missing capability (403) skips its table only; selection.

use std::collections::{BTreeSet, HashSet};

use notionlake::fake::workspace::Workspace;
use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::{CommentsMode, Selection, SyncOptions, SyncReport};
use serde_json::json;
use tempfile::TempDir;

use crate::demo_fake;
use crate::lake::{rows, sync_with};

async fn sync_demo(
    config: FakeConfig,
    options: SyncOptions,
) -> (
    TempDir,
    FakeNotion,
    DemoIds,
    SyncReport,
    datafusion::prelude::SessionContext,
) {
    let (fake, ids) = demo_fake(config).await;
    let dir = tempfile::tempdir().unwrap();
    let report = sync_with(
        &fake,
        &Lake::open(dir.path().to_str().unwrap()).unwrap(),
        &options,
    )
    .await;
    let ctx = datafusion::prelude::SessionContext::new();
    let lake = Lake::open_existing(dir.path().to_str().unwrap(), &[]).unwrap();
    notionlake::shell::register_lake(&ctx, &lake).await.unwrap();
    (dir, fake, ids, report, ctx)
}

fn all_comments() -> SyncOptions {
    SyncOptions {
        comments: CommentsMode::All,
        ..SyncOptions::default()
    }
}

#[tokio::test]
async fn every_block_type_lands_with_parent_depth_and_position() {
    let (_dir, _fake, ids, _, ctx) =
        sync_demo(FakeConfig::unlimited(), SyncOptions::default()).await;
    let types: BTreeSet<String> = rows(
        &ctx,
        &format!(
            "SELECT DISTINCT type FROM blocks WHERE page_id = '{}'",
            ids.block_gallery
        ),
    )
    .await
    .iter()
    .map(|r| r["type"].as_str().unwrap().to_string())
    .collect();
    // Every documented block type, transcription under its canonical name.
    let expected = [
        "paragraph",
        "heading_1",
        "heading_2",
        "heading_3",
        "heading_4",
        "bulleted_list_item",
        "numbered_list_item",
        "to_do",
        "toggle",
        "quote",
        "callout",
        "code",
        "equation",
        "divider",
        "breadcrumb",
        "table_of_contents",
        "column_list",
        "column",
        "table",
        "table_row",
        "image",
        "video",
        "pdf",
        "audio",
        "file",
        "bookmark",
        "embed",
        "link_preview",
        "child_page",
        "child_database",
        "link_to_page",
        "synced_block",
        "template",
        "tab",
        "meeting_notes",
        "unsupported",
    ];
    let missing: Vec<&&str> = expected.iter().filter(|t| !types.contains(**t)).collect();
    assert!(
        missing.is_empty(),
        "missing block types {missing:?}; got {types:?}"
    );
    // Parents, depth and position: a column's paragraph sits at depth 3 under its column.
    let col = rows(&ctx, &format!("SELECT b.depth, b.position, b.parent_type, p.type AS parent_kind FROM blocks b JOIN blocks p ON b.parent_id = p.id WHERE b.page_id = '{}' AND b.plain_text = 'Right column'", ids.block_gallery)).await;
    assert_eq!(
        col[0],
        json!({"depth": 3, "position": 0, "parent_type": "block", "parent_kind": "column"})
    );
    let cols = rows(
        &ctx,
        "SELECT position FROM blocks WHERE type = 'column' ORDER BY position",
    )
    .await;
    assert_eq!(cols, vec![json!({"position": 0}), json!({"position": 1})]);
    let top = rows(&ctx, &format!("SELECT position, type FROM blocks WHERE page_id = '{}' AND depth = 1 ORDER BY position LIMIT 2", ids.block_gallery)).await;
    assert_eq!(
        top,
        vec![
            json!({"position": 0, "type": "paragraph"}),
            json!({"position": 1, "type": "heading_1"})
        ]
    );
    // Type-specific fields.
    let fields = rows(&ctx, "SELECT type, checked, language, url, title, synced_from FROM blocks WHERE type IN ('code', 'bookmark', 'child_page', 'synced_block', 'to_do') AND page_id IN (SELECT id FROM pages WHERE title = 'Block gallery') ORDER BY type, synced_from NULLS FIRST, checked").await;
    let by_type = |t: &str| {
        fields
            .iter()
            .filter(|r| r["type"] == t)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(by_type("code")[0]["language"], "sql");
    assert_eq!(by_type("bookmark")[0]["url"], "https://arrow.apache.org");
    assert_eq!(by_type("child_page")[0]["title"], "Gallery sub-page");
    let synced = by_type("synced_block");
    assert_eq!(synced.len(), 2);
    assert!(synced[0].get("synced_from").is_none(), "the original");
    assert!(
        synced[1]["synced_from"].is_string(),
        "the copy records its original"
    );
    let todos = rows(&ctx, "SELECT plain_text, checked FROM blocks WHERE plain_text IN ('Open item', 'Done item') ORDER BY plain_text").await;
    assert_eq!(
        todos,
        vec![
            json!({"plain_text": "Done item", "checked": true}),
            json!({"plain_text": "Open item", "checked": false})
        ]
    );
    // The synced content is stored once, under the original.
    let synced_text = rows(
        &ctx,
        "SELECT count(*) AS n FROM blocks WHERE plain_text = 'Synced content, written once.'",
    )
    .await;
    assert_eq!(synced_text[0]["n"], 1);
    // Table rows carry their cells.
    let cells = rows(
        &ctx,
        &format!(
            "SELECT plain_text FROM blocks WHERE type = 'table_row' AND page_id = '{}' ORDER BY position",
            ids.block_gallery
        ),
    )
    .await;
    assert_eq!(cells[0]["plain_text"], "Metric | Value");
}

#[tokio::test]
async fn deep_and_wide_trees_are_complete() {
    let (_dir, fake, ids, _, ctx) =
        sync_demo(FakeConfig::unlimited(), SyncOptions::default()).await;
    let wide = rows(&ctx, &format!("SELECT count(*) AS n, min(position) AS lo, max(position) AS hi, max(depth) AS d FROM blocks WHERE parent_id = '{}'", ids.wide_block)).await;
    assert_eq!(wide[0], json!({"n": 150, "lo": 0, "hi": 149, "d": 2}));
    let deep = rows(
        &ctx,
        "SELECT depth FROM blocks WHERE plain_text = 'The bottom of the outline.'",
    )
    .await;
    assert_eq!(
        deep[0]["depth"], 5,
        "four nested toggles, then the paragraph"
    );
    // Every visible block of every crawled page is there, once.
    let ws = fake.workspace().clone();
    let expected = reachable_blocks(&ws).len();
    let got = rows(
        &ctx,
        "SELECT count(*) AS n, count(DISTINCT id) AS d FROM blocks",
    )
    .await;
    assert_eq!(got[0], json!({"n": expected, "d": expected}));
}

#[tokio::test]
async fn pages_databases_users_and_comments() {
    let (_dir, fake, ids, report, ctx) = sync_demo(FakeConfig::unlimited(), all_comments()).await;
    assert!(report.skipped.is_empty());
    // A page only a crawl reaches (search misses it) is extracted, with its content.
    let crawl_only = rows(
        &ctx,
        &format!(
            "SELECT title, parent_type FROM pages WHERE id = '{}'",
            ids.crawl_only_page
        ),
    )
    .await;
    assert_eq!(crawl_only[0]["title"], "2025 offsite notes");
    let content = rows(
        &ctx,
        &format!(
            "SELECT plain_text FROM blocks WHERE page_id = '{}'",
            ids.crawl_only_page
        ),
    )
    .await;
    assert_eq!(
        content[0]["plain_text"],
        "We agreed to ship the arm controller by spring."
    );
    // Unshared pages never appear.
    assert!(
        rows(
            &ctx,
            &format!("SELECT id FROM pages WHERE id = '{}'", ids.unshared_page)
        )
        .await
        .is_empty()
    );
    let ws = fake.workspace().clone();
    let visible = ws.pages.iter().filter(|p| ws.is_visible(&p.id)).count();
    let pages = rows(&ctx, "SELECT count(*) AS n, count(DISTINCT id) AS d, sum(CASE WHEN in_trash THEN 1 ELSE 0 END) AS trashed FROM pages").await;
    assert_eq!(pages[0], json!({"n": visible, "d": visible, "trashed": 1}));
    let rows_of_deals = rows(
        &ctx,
        &format!(
            "SELECT count(*) AS n FROM pages WHERE data_source_id = '{}' AND NOT in_trash",
            ids.data_sources["Deals"]
        ),
    )
    .await;
    assert_eq!(rows_of_deals[0]["n"], 24);
    let dbs = rows(
        &ctx,
        "SELECT title, cardinality(data_source_ids) AS n FROM databases ORDER BY title",
    )
    .await;
    assert_eq!(dbs.len(), ws.databases.len());
    assert!(dbs.contains(&json!({"title": "Projects", "n": 2})));
    let ds = rows(&ctx, "SELECT count(*) AS n FROM data_sources").await;
    assert_eq!(ds[0]["n"], ws.data_sources.len());
    let props = rows(
        &ctx,
        "SELECT type, \"column\" FROM properties WHERE name = 'Send quote'",
    )
    .await;
    assert_eq!(props[0]["type"], "button");
    assert!(
        props[0].get("column").is_none(),
        "buttons are listed but have no column"
    );
    let users = rows(
        &ctx,
        "SELECT count(*) AS n, count(email) AS emails FROM users",
    )
    .await;
    assert_eq!(users[0], json!({"n": ws.users.len(), "emails": 5}));
    // Comments: page-level and block-level, with threads and attachments.
    let comments = rows(
        &ctx,
        "SELECT parent_type, count(*) AS n FROM comments GROUP BY parent_type ORDER BY parent_type",
    )
    .await;
    let page_level = ws
        .comments
        .iter()
        .filter(|c| matches!(c.parent, notionlake::fake::workspace::FParent::Page(_)))
        .count();
    assert_eq!(
        comments,
        vec![
            json!({"parent_type": "block", "n": ws.comments.len() - page_level}),
            json!({"parent_type": "page", "n": page_level})
        ]
    );
    let thread = rows(&ctx, "SELECT count(DISTINCT discussion_id) AS threads, count(*) AS n FROM comments WHERE parent_type = 'page'").await;
    assert_eq!(thread[0], json!({"threads": 3, "n": 6}));
    let attached = rows(
        &ctx,
        "SELECT cardinality(attachment_urls) AS n FROM comments WHERE plain_text LIKE 'Room 3%'",
    )
    .await;
    assert_eq!(attached[0]["n"], 1);
}

/// Blocks a full crawl reaches: the content of every visible, non-trashed page, not following
/// child pages/databases (their own pages) nor synced copies (their original is read once).
fn reachable_blocks(ws: &Workspace) -> Vec<String> {
    let mut out = Vec::new();
    for p in ws
        .pages
        .iter()
        .filter(|p| ws.is_visible(&p.id) && !p.in_trash)
    {
        let mut stack: Vec<String> = p.children.clone();
        while let Some(id) = stack.pop() {
            let Some(b) = ws.blocks.get(&id) else {
                continue;
            };
            out.push(id.clone());
            if container(b) {
                stack.extend(b.children.iter().cloned());
            }
        }
    }
    out
}

fn container(b: &notionlake::fake::workspace::Block) -> bool {
    let synced_copy = b.kind == "synced_block" && !b.payload["synced_from"].is_null();
    !matches!(b.kind.as_str(), "child_page" | "child_database")
        && !synced_copy
        && !b.children.is_empty()
}

fn pages_of(n: usize) -> u64 {
    n.max(1).div_ceil(100) as u64
}

#[tokio::test]
async fn a_full_sync_makes_exactly_the_lower_bound_of_requests() {
    let (_dir, fake, _, report, _) = sync_demo(FakeConfig::unlimited(), all_comments()).await;
    let ws = fake.workspace().clone();
    let visible: Vec<_> = ws.pages.iter().filter(|p| ws.is_visible(&p.id)).collect();
    let searchable = visible.iter().filter(|p| p.searchable).count();
    let crawled: Vec<_> = visible.iter().filter(|p| !p.in_trash).collect();
    let mut expected = 0u64;
    expected += 1; // users
    expected += 1; // search for data sources
    expected += pages_of(searchable); // search for pages
    for ds in ws.data_sources.values() {
        let live = ds
            .rows
            .iter()
            .filter(|r| !ws.page(r).unwrap().in_trash)
            .count();
        expected += pages_of(live); // query pages (search returned the schema)
    }
    expected += ws.databases.len() as u64; // one retrieve per database
    let truncated = visible
        .iter()
        .filter(|p| {
            p.properties.values().any(|v| {
                v.as_array()
                    .is_some_and(|a| a.len() > 25 && a[0].get("id").is_some())
            })
        })
        .count();
    expected += truncated as u64; // one property-item request per truncated relation (< 100 items)
    // One per rollup over a truncated relation: the page object computes it over 25 pages.
    for p in &visible {
        let notionlake::fake::workspace::FParent::DataSource(ds) = &p.parent else {
            continue;
        };
        let props = &ws.data_sources[ds].properties;
        let long: Vec<&str> = props
            .iter()
            .filter(|d| d.kind == "relation")
            .filter(|d| {
                p.properties
                    .get(&d.id)
                    .and_then(|v| v.as_array())
                    .is_some_and(|a| a.len() > 25)
            })
            .map(|d| d.id.as_str())
            .collect();
        expected += props
            .iter()
            .filter(|d| d.kind == "rollup")
            .filter(|d| {
                d.config["relation_property_id"]
                    .as_str()
                    .is_some_and(|r| long.contains(&r))
            })
            .count() as u64;
    }
    expected += visible.iter().filter(|p| !p.searchable).count() as u64; // pages search missed
    let blocks = reachable_blocks(&ws);
    for p in &crawled {
        expected += pages_of(p.children.len()); // page content
    }
    for id in &blocks {
        let b = &ws.blocks[id];
        if container(b) {
            expected += pages_of(b.children.len());
        }
    }
    expected += crawled.len() as u64
        + blocks
            .iter()
            .filter(|id| ws.blocks[*id].kind != "child_page")
            .count() as u64; // comments
    let stats = fake.stats();
    assert_eq!(stats.total, expected, "{:#?}", stats.requests);
    assert_eq!(report.requests.total_requests, expected);
    assert_eq!(report.requests.retries, 0);
}

#[tokio::test]
async fn missing_comment_capability_skips_only_comments() {
    let config = FakeConfig {
        restricted: HashSet::from(["comments".to_string()]),
        ..FakeConfig::unlimited()
    };
    let (dir, fake, _, report, ctx) = sync_demo(config, SyncOptions::default()).await;
    assert_eq!(report.skipped, vec!["comments".to_string()]);
    assert!(
        report.warnings.iter().any(|w| w.contains("Read comments")),
        "{:?}",
        report.warnings
    );
    assert!(!dir.path().join("comments").exists());
    // The first 403 stops further comment requests; only the pages already in flight asked.
    let asked = fake.stats().count("GET /v1/comments");
    assert!(
        (1..=notionlake::sync::MAX_IN_FLIGHT_PAGES as u64).contains(&asked),
        "{asked}"
    );
    // Everything else is complete.
    let (full_dir, _fake2, _, full, full_ctx) =
        sync_demo(FakeConfig::unlimited(), SyncOptions::default()).await;
    for t in ["pages", "blocks", "users", "databases"] {
        let a = rows(&ctx, &format!("SELECT count(*) AS n FROM {t}")).await;
        let b = rows(&full_ctx, &format!("SELECT count(*) AS n FROM {t}")).await;
        assert_eq!(a, b, "{t}");
    }
    assert_eq!(
        report.tables.iter().map(|t| t.rows).sum::<usize>(),
        full.tables.iter().map(|t| t.rows).sum::<usize>()
    );
    drop(full_dir);
}

#[tokio::test]
async fn selection_restricts_tables_and_subtrees() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let meeting_hub = {
        let ws = fake.workspace().clone();
        ws.pages
            .iter()
            .find(|p| notionlake::model::plain_text(&p.title) == "Meeting notes")
            .unwrap()
            .id
            .clone()
    };
    let dir = tempfile::tempdir().unwrap();
    let options = SyncOptions {
        selection: Selection {
            roots: vec![meeting_hub.clone()],
            users: false,
            ..Selection::default()
        },
        ..SyncOptions::default()
    };
    let report = sync_with(
        &fake,
        &Lake::open(dir.path().to_str().unwrap()).unwrap(),
        &options,
    )
    .await;
    assert!(!dir.path().join("users").exists());
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_parquet(
        "pages",
        format!("{}/pages/", dir.path().display()),
        Default::default(),
    )
    .await
    .unwrap();
    let titles: BTreeSet<String> = rows(&ctx, "SELECT title FROM pages")
        .await
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles.contains("Meeting notes")
            && titles.contains("Block gallery")
            && titles.contains("Gallery sub-page"),
        "{titles:?}"
    );
    assert!(
        !titles.contains("CRM") && !titles.contains("Acme HQ"),
        "outside the subtree: {titles:?}"
    );
    // The inline database under the gallery is reached through its child_database block; the
    // CRM's are not.
    let tables: Vec<&str> = report.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(tables, ["reading_list"]);
    assert!(
        fake.stats().count("POST /v1/search") == 0,
        "a rooted sync does not search"
    );
}

/// A full sync of `fake` speaking `version` into a fresh lake.
async fn sync_at(
    fake: &FakeNotion,
    version: notionlake::notion::NotionVersion,
) -> (TempDir, SyncReport) {
    let dir = tempfile::tempdir().unwrap();
    let client = crate::client_with(crate::test_config(fake, version));
    let report = notionlake::sync::sync_workspace(
        &client,
        &Lake::open(dir.path().to_str().unwrap()).unwrap(),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    (dir, report)
}

#[tokio::test]
async fn version_2022_06_28_yields_the_same_pages_and_blocks() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let mut counts = Vec::new();
    for version in [
        notionlake::notion::NotionVersion::V2022_06_28,
        notionlake::notion::NotionVersion::V2026_03_11,
    ] {
        let (dir, report) = sync_at(&fake, version).await;
        let blocks = report
            .fixed
            .iter()
            .find(|f| f.table == "blocks")
            .unwrap()
            .rows;
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_parquet(
            "blocks",
            format!("{}/blocks/", dir.path().display()),
            Default::default(),
        )
        .await
        .unwrap();
        let meeting = rows(
            &ctx,
            "SELECT count(*) AS n FROM blocks WHERE type = 'meeting_notes'",
        )
        .await;
        assert_eq!(
            meeting[0]["n"], 1,
            "{version}: transcription is stored as meeting_notes"
        );
        counts.push((blocks, report.tables.len()));
    }
    // The old version cannot query the two-source Projects database: its rows come from
    // search into one table for the database instead of one per data source.
    assert!(counts[0].0 <= counts[1].0);
    assert_eq!(counts[1].1, 7);
    assert_eq!(counts[0].1, 6);
}

/// Regression: under Notion-Version 2022-06-28 a database with several data sources answers
/// 400 to retrieve and query, and its rows never reached the lake.
#[tokio::test]
async fn old_version_reads_a_multi_source_database_from_search() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let (dir, report) = sync_at(&fake, notionlake::notion::NotionVersion::V2022_06_28).await;
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("several data sources"))
        .unwrap_or_else(|| panic!("{:?}", report.warnings));
    assert!(
        warning.contains("\"Projects\"") && warning.contains("2025-09-03"),
        "says which version reads it whole: {warning}"
    );
    let table = report
        .tables
        .iter()
        .find(|t| t.table == "projects")
        .unwrap_or_else(|| panic!("{:?}", report.tables));
    assert_eq!(table.rows, 10, "4 projects and 6 milestones");
    let ctx = crate::lake::session(dir.path(), &["projects"]).await;
    let got = rows(
        &ctx,
        "SELECT count(*) AS n, count(status) AS projects, count(reached) AS milestones FROM projects",
    )
    .await;
    assert_eq!(got, vec![json!({"n": 10, "projects": 4, "milestones": 6})]);
}
