//! Freshness between full refreshes: a new comment on a page nobody edited (Notion leaves the
//! page's `last_edited_time` alone) lands with `--comments-refresh recent:7d` or `all`, at one
//! request per refreshed page, and not with `none`; formulas that read the clock are named.

use chrono::{DateTime, Duration, Utc};
use notionlake::fake::FakeConfig;
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::{CommentsRefresh, SyncOptions};

use crate::demo_fake;
use crate::lake::{rows, sync_with};

const COMMENT: &str = "Late thought: invite Globex to the demo.";

/// A run at `t`; the refresh's per-run budget is lifted, so that every page due is read.
fn at(t: DateTime<Utc>, refresh: CommentsRefresh, format: TableFormat) -> SyncOptions {
    SyncOptions {
        now: Some(t),
        comments_refresh: refresh,
        comments_refresh_budget: usize::MAX,
        format: Some(format),
        ..SyncOptions::default()
    }
}

async fn count(lake: &Lake, sql: &str) -> u64 {
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, lake).await.unwrap();
    rows(&ctx, sql).await[0]["n"].as_u64().unwrap()
}

async fn new_comment_on_an_unedited_page(format: TableFormat) {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    // Two days after the demo's edits; the runs below are an hour apart.
    let t0 = notionlake::fake::demo::demo_epoch() + Duration::days(2);
    sync_with(&fake, &lake, &at(t0, CommentsRefresh::None, format)).await;
    let page = ids.meeting_pages[1].clone();
    let edited_before = fake.workspace().page(&page).unwrap().last_edited_time;
    fake.workspace_mut()
        .add_comment(&page, &ids.people["ada"], COMMENT, None);
    assert_eq!(
        fake.workspace().page(&page).unwrap().last_edited_time,
        edited_before,
        "a comment does not mark the page edited"
    );
    let landed = format!(
        "SELECT count(*) AS n FROM comments WHERE plain_text = '{COMMENT}' AND page_id = '{page}'"
    );

    // Without a refresh the comment stays out: nothing looks edited.
    let quiet = sync_with(
        &fake,
        &lake,
        &at(t0 + Duration::hours(1), CommentsRefresh::None, format),
    )
    .await;
    assert!(quiet.comments_refresh.is_none());
    assert_eq!(count(&lake, &landed).await, 0, "{format:?}: none");

    // recent:7d reads the comments of every live page edited in the week before the run (none
    // was read by a refresh yet, and the budget is lifted): one request each, and the new
    // comment lands.
    let week = CommentsRefresh::Recent(std::time::Duration::from_secs(7 * 86_400));
    let expected = count(
        &lake,
        &format!(
            "SELECT count(*) AS n FROM pages WHERE NOT in_trash AND last_edited_time >= TIMESTAMP '{}'",
            (t0 + Duration::hours(2) - Duration::days(7)).to_rfc3339()
        ),
    )
    .await;
    let before = fake
        .stats()
        .requests
        .get("GET /v1/comments")
        .copied()
        .unwrap_or(0);
    let report = sync_with(&fake, &lake, &at(t0 + Duration::hours(2), week, format)).await;
    let refresh = report.comments_refresh.expect("a refresh ran");
    let after = fake
        .stats()
        .requests
        .get("GET /v1/comments")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        refresh.pages as u64, expected,
        "{format:?}: every recent live page"
    );
    assert_eq!(
        refresh.requests as u64,
        after - before,
        "{format:?}: the report counts the requests"
    );
    assert_eq!(
        refresh.requests, refresh.pages,
        "{format:?}: one request per page"
    );
    assert_eq!(count(&lake, &landed).await, 1, "{format:?}: recent:7d");
    // The page's other comments are still there, once each.
    assert_eq!(
        count(
            &lake,
            &format!("SELECT count(*) AS n FROM comments WHERE page_id = '{page}'")
        )
        .await,
        3,
        "{format:?}"
    );

    // `recent` over a window that holds no page edit reads nothing; `all` reads every page.
    let old_only = CommentsRefresh::Recent(std::time::Duration::from_secs(3_600));
    let none = sync_with(&fake, &lake, &at(t0 + Duration::hours(3), old_only, format)).await;
    assert_eq!(none.comments_refresh.map(|r| r.requests), Some(0));
    let all = sync_with(
        &fake,
        &lake,
        &at(t0 + Duration::hours(4), CommentsRefresh::All, format),
    )
    .await;
    let live = count(&lake, "SELECT count(*) AS n FROM pages WHERE NOT in_trash").await;
    assert_eq!(all.comments_refresh.map(|r| r.pages as u64), Some(live));
    assert_eq!(count(&lake, &landed).await, 1, "{format:?}: still once");
}

#[tokio::test]
async fn a_new_comment_on_an_unedited_page_lands_with_the_refresh_delta() {
    new_comment_on_an_unedited_page(TableFormat::Delta).await;
}

#[tokio::test]
async fn a_new_comment_on_an_unedited_page_lands_with_the_refresh_parquet() {
    new_comment_on_an_unedited_page(TableFormat::Parquet).await;
}

/// Regression: with `--comments all` the refresh was skipped, so a reply in an existing
/// block-level discussion and a new page-level discussion on an unedited page never landed
/// before a full refresh. Now the page's discussions and those of the blocks the lake knows to
/// hold comments are read again, one request each.
#[tokio::test]
async fn with_comments_all_the_refresh_reads_pages_and_their_commented_blocks() {
    use notionlake::sync::CommentsMode;
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let t0 = notionlake::fake::demo::demo_epoch() + Duration::days(2);
    let all = |t| SyncOptions {
        comments: CommentsMode::All,
        ..at(t, CommentsRefresh::DEFAULT, TableFormat::Delta)
    };
    sync_with(&fake, &lake, &all(t0)).await;
    let page = ids.meeting_pages[1].clone();
    let block_of = |text: &str| {
        let ws = fake.workspace();
        let on_page = |c: &&notionlake::fake::workspace::Comment| match &c.parent {
            notionlake::fake::workspace::FParent::Block(b) => {
                ws.block_root_page(b).is_some_and(|p| p.id == page)
            }
            _ => false,
        };
        let c = ws
            .comments
            .iter()
            .filter(on_page)
            .find(|c| c.rich_text.to_string().contains(text))
            .unwrap();
        match &c.parent {
            notionlake::fake::workspace::FParent::Block(b) => (b.clone(), c.discussion_id.clone()),
            other => panic!("{other:?}"),
        }
    };
    let known = count(
        &lake,
        &format!("SELECT count(*) AS n FROM comments WHERE page_id = '{page}'"),
    )
    .await;
    let blocks = count(&lake, &format!("SELECT count(DISTINCT parent_id) AS n FROM comments WHERE page_id = '{page}' AND parent_type = 'block'")).await;
    assert!(blocks >= 1, "the meeting page has a block discussion");
    let (block, discussion) = block_of("Quote sent, waiting for a reply.");
    {
        let mut ws = fake.workspace_mut();
        let ada = ids.people["ada"].clone();
        ws.add_comment(
            &block,
            &ada,
            "Reply: the quote was accepted.",
            Some(&discussion),
        );
        ws.add_comment(&page, &ada, "A new thread on the page.", None);
    }
    // A day later: the page (edited two days before the first run) is due again.
    let report = sync_with(&fake, &lake, &all(t0 + Duration::hours(25))).await;
    let refresh = report.comments_refresh.expect("a refresh ran");
    assert!(refresh.blocks as u64 >= blocks, "{refresh:?}");
    assert_eq!(
        refresh.requests,
        refresh.pages + refresh.blocks,
        "{refresh:?}"
    );
    for (text, parent) in [
        ("Reply: the quote was accepted.", "block"),
        ("A new thread on the page.", "page"),
    ] {
        let sql = format!(
            "SELECT count(*) AS n FROM comments WHERE page_id = '{page}' AND parent_type = '{parent}' AND plain_text = '{text}'"
        );
        assert_eq!(count(&lake, &sql).await, 1, "{text}");
    }
    assert_eq!(
        count(
            &lake,
            &format!("SELECT count(*) AS n FROM comments WHERE page_id = '{page}'")
        )
        .await,
        known + 2,
        "the page's other comments stay, once each"
    );
}

#[test]
fn the_refresh_flag_parses_and_prints() {
    for (text, want) in [
        ("none", CommentsRefresh::None),
        ("all", CommentsRefresh::All),
        ("recent:7d", CommentsRefresh::DEFAULT),
        (
            "recent:36h",
            CommentsRefresh::Recent(std::time::Duration::from_secs(36 * 3_600)),
        ),
    ] {
        assert_eq!(text.parse::<CommentsRefresh>().unwrap(), want);
    }
    assert_eq!(CommentsRefresh::DEFAULT.to_string(), "recent:7days");
    let err = "weekly".parse::<CommentsRefresh>().unwrap_err();
    assert!(err.contains("recent:7d"), "{err}");
    assert!("recent:soon".parse::<CommentsRefresh>().is_err());
}

/// A formula that reads the clock cannot be kept fresh by any extractor: the run summary and
/// `\d` name it, and formulas that do not read the clock are not named.
#[tokio::test]
async fn formulas_that_read_the_clock_are_named_in_the_summary_and_describe() {
    let (mut ws, ids) = notionlake::fake::demo_workspace();
    let tasks = ids.data_sources["Tasks"].clone();
    ws.data_sources
        .get_mut(&tasks)
        .unwrap()
        .properties
        .push(notionlake::fake::workspace::PropDef {
            id: "tAge".into(),
            name: "Days open".into(),
            kind: "formula".into(),
            config: serde_json::json!({"expression": "dateBetween(now(), prop(\"Created\"), \"days\")"}),
        });
    let fake = notionlake::fake::FakeNotion::start(ws, FakeConfig::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let report = sync_with(&fake, &lake, &SyncOptions::default()).await;
    assert_eq!(report.clock_formulas, vec!["tasks.Days open".to_string()]);
    let shell =
        notionlake::shell::repl::Shell::open(&lake, notionlake::shell::repl::OutputFormat::Table)
            .await
            .unwrap();
    let described = shell.command("\\d tasks").await.unwrap();
    let line = described
        .lines()
        .find(|l| l.contains("Days open"))
        .unwrap_or_else(|| panic!("{described}"));
    assert!(line.contains("reads the clock"), "{line}");
    let others: Vec<&str> = described
        .lines()
        .filter(|l| l.contains("reads the clock"))
        .collect();
    assert_eq!(others.len(), 1, "{described}");
}

/// The demo's CRM, as the lake's registry records its schemas: the dual relation between
/// Companies and Deals carries a rollup each way (Pipeline sums deal amounts, Company size sums
/// employees), and each is found with the synced property to follow from a changed row.
#[tokio::test]
async fn the_demo_crm_rollups_depend_on_their_dual_relation() {
    use notionlake::model::dependencies::dependencies;
    use notionlake::state::Registry;
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let bytes = lake
        .read(notionlake::state::registry::REGISTRY_PATH)
        .await
        .unwrap()
        .unwrap();
    let registry: Registry = serde_json::from_slice(&bytes).unwrap();
    let deps = dependencies(&registry.schemas());
    let (companies, deals) = (&ids.data_sources["Companies"], &ids.data_sources["Deals"]);
    let size = deps
        .iter()
        .find(|d| &d.dependent == deals && &d.related == companies)
        .expect("deals depend on companies");
    assert_eq!(size.relation_id, "dCo");
    assert_eq!(size.synced_property_id.as_deref(), Some("cDeals"));
    assert!(size.computed.contains(&"dCsz".to_string()), "{size:?}");
    let pipeline = deps
        .iter()
        .find(|d| &d.dependent == companies && &d.related == deals)
        .expect("companies depend on deals");
    assert!(
        pipeline.computed.contains(&"cPipe".to_string()),
        "{pipeline:?}"
    );
    assert_eq!(pipeline.reads, vec!["dAmt".to_string()]);
}
