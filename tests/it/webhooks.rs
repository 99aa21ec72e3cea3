//! Webhooks end to end: the fake Notion delivers signed events of its edits (after a delay,
//! aggregated, shuffled, retried) to the receiver, which stores them in the lake; the next
//! sync acts on them. A deep block edit costs its page and its block, not the page's tree; a
//! comment on an unedited page lands with no comments refresh; forged, replayed and
//! restart-crossing deliveries are rejected, applied once, and not lost.

use std::path::Path;
use std::time::Duration;

use notionlake::fake::edits::Edit;
use notionlake::fake::webhooks::Subscription;
use notionlake::fake::{FakeConfig, FakeNotion};
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::{CommentsRefresh, SyncOptions, SyncReport};
use notionlake::webhooks::log;
use notionlake::webhooks::signature::{SIGNATURE_HEADER, sign};
use notionlake::webhooks::{Receiver, ReceiverConfig};
use serde_json::{Value, json};

use crate::demo_fake;
use crate::lake::{content_rows, sync_with};

const TOKEN: &str = "secret_fake_verification_token_1";
const CHILDREN: &str = "GET /v1/blocks/{id}/children";

fn options(format: TableFormat) -> SyncOptions {
    SyncOptions {
        format: Some(format),
        comments_refresh: CommentsRefresh::None,
        ..SyncOptions::default()
    }
}

async fn receiver(lake: &Lake, token_file: &Path, addr: &str) -> Receiver {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let config = ReceiverConfig {
        arm: Some(Duration::from_secs(60)),
        ..ReceiverConfig::new(token_file.to_path_buf())
    };
    Receiver::start(lake.clone(), listener, config)
        .await
        .unwrap()
}

/// Syncs, counting the requests the fake served.
async fn sync_counted(fake: &FakeNotion, lake: &Lake, format: TableFormat) -> SyncReport {
    fake.reset_stats();
    let report = sync_with(fake, lake, &options(format)).await;
    assert_eq!(fake.stats().total, report.requests.total_requests);
    report
}

async fn settle(fake: &FakeNotion) {
    let stats = fake.settle_deliveries(Duration::from_secs(20)).await;
    assert_eq!(stats.pending, 0, "deliveries still pending: {stats:?}");
}

/// Waits for the deliveries, then syncs: the report and what its events were.
async fn sync_events(
    fake: &FakeNotion,
    lake: &Lake,
    format: TableFormat,
) -> (SyncReport, notionlake::sync::EventsReport) {
    settle(fake).await;
    let report = sync_counted(fake, lake, format).await;
    let events = report.events.clone().expect("events were read");
    (report, events)
}

/// The rows of a table for one page, without the run's columns, in a stable order.
async fn page_rows(lake: &Lake, table: &str, page: &str) -> Vec<Value> {
    let sql = format!("SELECT * FROM {table} WHERE page_id = '{page}'");
    let mut out = content_rows(lake, &sql).await;
    out.sort_by_key(|r| r["id"].to_string());
    out
}

/// Asserts that the page's blocks and document in `lake` are those a whole crawl of the fake
/// reads now (a fresh full sync).
async fn assert_as_crawled(
    fake: &FakeNotion,
    lake: &Lake,
    page: &str,
    format: TableFormat,
    step: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(fake, &truth, &options(format)).await;
    for table in ["blocks", "documents"] {
        assert_eq!(
            page_rows(lake, table, page).await,
            page_rows(&truth, table, page).await,
            "{format:?}: {table} of the edited page, {step}"
        );
    }
}

fn find_page(fake: &FakeNotion, title: &str) -> String {
    let ws = fake.workspace();
    ws.pages
        .iter()
        .find(|p| p.title.to_string().contains(title))
        .map(|p| p.id.clone())
        .unwrap_or_else(|| panic!("no page titled {title}"))
}

fn find_block(fake: &FakeNotion, text: &str) -> String {
    let ws = fake.workspace();
    ws.blocks
        .values()
        .find(|b| b.payload.to_string().contains(text))
        .map(|b| b.id.clone())
        .unwrap_or_else(|| panic!("no block with {text}"))
}

async fn webhooks_end_to_end(format: TableFormat) {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let token_file = dir.path().join("conf").join("webhook-token");
    let rx = receiver(&lake, &token_file, "127.0.0.1:0").await;
    let url = format!("http://{}/", rx.addr());
    fake.subscribe(Subscription::to(&url, TOKEN)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), TOKEN);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }
    sync_with(&fake, &lake, &options(format)).await;
    let quiet = sync_counted(&fake, &lake, format).await;
    assert!(quiet.events.is_none());

    // A deep block edit: one event; the sync reads the page and the block, and lists no
    // children (the whole tree would take a listing per container).
    let deep = find_page(&fake, "Deep outline");
    let bottom = find_block(&fake, "The bottom of the outline.");
    fake.edit(&Edit::EditBlock {
        block: bottom.clone(),
        text: "The new bottom of the outline.".into(),
    })
    .unwrap();
    let (report, events) = sync_events(&fake, &lake, format).await;
    assert_eq!(
        (events.events, events.pages, events.blocks),
        (1, 1, 1),
        "{events:?}"
    );
    assert_eq!(events.requests, 2, "the page and the block: {events:?}");
    assert_eq!(
        fake.stats().count(CHILDREN),
        0,
        "no listing of the page's tree"
    );
    assert_eq!(
        report.requests.total_requests,
        quiet.requests.total_requests + 2,
        "nothing but the event's two requests on top of a quiet run"
    );
    let containers = {
        let ws = fake.workspace();
        1 + ws
            .blocks
            .values()
            .filter(|b| {
                !b.children.is_empty() && ws.block_root_page(&b.id).is_some_and(|p| p.id == deep)
            })
            .count()
    };
    assert!(
        containers >= 6,
        "the whole tree takes {containers} listings or more"
    );
    // The lake holds what a whole crawl reads.
    assert_as_crawled(&fake, &lake, &deep, format, "a deep edit").await;
    let doc = page_rows(&lake, "documents", &deep).await;
    assert!(
        doc[0]["markdown"]
            .as_str()
            .unwrap()
            .contains("The new bottom of the outline."),
        "{doc:?}"
    );

    // Two edits of one page within the delivery delay arrive as one aggregated event; the
    // updated block inside the other's subtree is read with it: Level 2, and below it Level 3,
    // Level 4 and the bottom paragraph (the page, one block, three listings).
    let level2 = find_block(&fake, "Level 2");
    fake.edit(&Edit::EditBlock {
        block: bottom.clone(),
        text: "The bottom, edited again.".into(),
    })
    .unwrap();
    fake.edit(&Edit::EditBlock {
        block: level2,
        text: "Level 2 (renamed)".into(),
    })
    .unwrap();
    let (_, events) = sync_events(&fake, &lake, format).await;
    assert_eq!(
        (events.events, events.pages, events.blocks),
        (1, 1, 4),
        "{events:?}"
    );
    assert_eq!(events.requests, 5, "{events:?}");
    assert_eq!(fake.stats().count(CHILDREN), 3);
    assert_as_crawled(&fake, &lake, &deep, format, "after the aggregated event").await;

    // A comment on an unedited page lands through its event alone (no comments refresh).
    let page = ids.meeting_pages[0].clone();
    let text = "Webhook-delivered: ship the arm on Friday.";
    fake.edit(&Edit::AddComment {
        page: page.clone(),
        text: text.into(),
        block: None,
    })
    .unwrap();
    let (_, events) = sync_events(&fake, &lake, format).await;
    assert_eq!(events.requests, 1, "one discussion read: {events:?}");
    let comments = page_rows(&lake, "comments", &page).await;
    assert!(
        comments.iter().any(|c| c["plain_text"] == text),
        "{comments:?}"
    );
    // Consumed with the commit: the batches are gone and named in the state.
    assert!(log::batch_names(&lake).await.unwrap().is_empty());
    let state: Value = serde_json::from_slice(
        &lake
            .read(notionlake::state::sync_state::STATE_PATH)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(state["consumed_events"].as_array().map(Vec::len), Some(1));
    let after = sync_counted(&fake, &lake, format).await;
    assert!(after.events.is_none(), "nothing left to consume");
    rx.shutdown().await;
}

#[tokio::test]
async fn webhook_events_reach_the_lake_delta() {
    webhooks_end_to_end(TableFormat::Delta).await;
}

#[tokio::test]
async fn webhook_events_reach_the_lake_parquet() {
    webhooks_end_to_end(TableFormat::Parquet).await;
}

/// Posts `body` to the receiver with `signature` (if any); returns the status.
async fn post(url: &str, body: &[u8], signature: Option<String>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header(SIGNATURE_HEADER, s);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn stored_events(lake: &Lake) -> Vec<notionlake::webhooks::WebhookEvent> {
    let mut out = Vec::new();
    for name in log::batch_names(lake).await.unwrap() {
        out.extend(log::read_batch(lake, &name).await.unwrap().unwrap().events);
    }
    out
}

/// Forged and replayed deliveries, and one that crosses a receiver restart.
#[tokio::test]
async fn forged_replayed_and_restart_crossing_deliveries() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let token_file = dir.path().join("webhook-token");
    let rx = receiver(&lake, &token_file, "127.0.0.1:0").await;
    let addr = rx.addr();
    let url = format!("http://{addr}/");
    fake.subscribe(Subscription::to(&url, TOKEN)).await.unwrap();
    sync_with(&fake, &lake, &options(TableFormat::Delta)).await;
    let page = ids.meeting_pages[1].clone();
    let event = json!({"id": "e0f2c7a4-0000-4000-8000-000000000001", "timestamp": "2026-11-30T10:00:00.000Z", "type": "comment.created", "attempt_number": 1, "entity": {"id": "c0000000-0000-4000-8000-000000000001", "type": "comment"}, "data": {"page_id": page, "parent": {"id": page, "type": "page"}}});
    let body = serde_json::to_vec(&event).unwrap();

    // Forged: a wrong token's signature, or none: rejected, nothing recorded.
    assert_eq!(
        post(&url, &body, Some(sign("secret_forged", &body))).await,
        401
    );
    assert_eq!(post(&url, &body, None).await, 401);
    assert_eq!(post(&url, &body, Some("sha256=00".into())).await, 401);
    assert!(
        log::batch_names(&lake).await.unwrap().is_empty(),
        "nothing stored"
    );
    // A second verification request with another token is refused: it would let its
    // sender sign.
    let other = serde_json::to_vec(&json!({"verification_token": "secret_other"})).unwrap();
    assert_eq!(post(&url, &other, None).await, 409);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), TOKEN);

    // Replayed: stored once, applied once.
    let signed = sign(TOKEN, &body);
    assert_eq!(post(&url, &body, Some(signed.clone())).await, 200);
    assert_eq!(post(&url, &body, Some(signed.clone())).await, 200);
    assert_eq!(stored_events(&lake).await.len(), 1, "one copy stored");
    // The receiver restarted in between: it remembers the stored ids.
    rx.shutdown().await;
    let rx = receiver(&lake, &token_file, &addr.to_string()).await;
    assert_eq!(post(&url, &body, Some(signed)).await, 200);
    assert_eq!(stored_events(&lake).await.len(), 1, "still one copy");
    // Two batches holding one event (a retry stored by two receivers sharing the lake): the
    // sync applies it once.
    log::write_batch(&lake, vec![event.clone()]).await.unwrap();
    let report = sync_counted(&fake, &lake, TableFormat::Delta).await;
    let events = report.events.clone().unwrap();
    assert_eq!((events.events, events.duplicates), (1, 1), "{events:?}");
    assert_eq!(events.requests, 1, "one discussion read: {events:?}");

    // A delivery during a restart: refused while the receiver is down, retried by Notion
    // with the next attempt number, stored once it is back, and applied.
    rx.shutdown().await;
    let text = "Posted while the receiver restarted.";
    fake.edit(&Edit::AddComment {
        page: page.clone(),
        text: text.into(),
        block: None,
    })
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.deliveries().unwrap().failed == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rx = receiver(&lake, &token_file, &addr.to_string()).await;
    settle(&fake).await;
    let stored = stored_events(&lake).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].attempt_number >= 2, "a retry: {:?}", stored[0]);
    sync_counted(&fake, &lake, TableFormat::Delta).await;
    let comments = page_rows(&lake, "comments", &page).await;
    assert!(
        comments.iter().any(|c| c["plain_text"] == text),
        "{comments:?}"
    );
    rx.shutdown().await;
}

/// The CRM tables' rows without the run's columns.
async fn crm(lake: &Lake) -> Vec<Value> {
    let mut out = content_rows(lake, "SELECT * FROM companies ORDER BY _id").await;
    out.extend(content_rows(lake, "SELECT * FROM deals ORDER BY _id").await);
    out
}

/// A property event and a trash event: the row, the rollups reading it and the deletion all
/// reach the lake, as a fresh full sync reads them.
#[tokio::test]
async fn property_and_trash_events_reach_rows_and_their_dependents() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let rx = receiver(&lake, &dir.path().join("token"), "127.0.0.1:0").await;
    fake.subscribe(Subscription::to(&format!("http://{}/", rx.addr()), TOKEN))
        .await
        .unwrap();
    sync_with(&fake, &lake, &options(TableFormat::Delta)).await;
    let deals = fake.workspace().data_sources[&ids.data_sources["Deals"]]
        .rows
        .clone();
    let live: Vec<String> = {
        let ws = fake.workspace();
        deals
            .iter()
            .filter(|d| !ws.page(d).unwrap().in_trash)
            .cloned()
            .collect()
    };
    fake.edit(&Edit::SetProperty {
        page: live[1].clone(),
        property: "dAmt".into(),
        value: json!(987_654.0),
    })
    .unwrap();
    fake.edit(&Edit::Trash {
        page: live[2].clone(),
    })
    .unwrap();
    settle(&fake).await;
    let report = sync_counted(&fake, &lake, TableFormat::Delta).await;
    let events = report.events.clone().expect("events were read");
    assert_eq!(events.events, 2, "{events:?}");
    assert_eq!(report.tombstones, 1, "the trashed deal");
    assert!(report.dependents.is_some(), "pipelines read again");
    let truth_dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(truth_dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &truth, &options(TableFormat::Delta)).await;
    assert_eq!(crm(&lake).await, crm(&truth).await);
    rx.shutdown().await;
}

/// A move that leaves the page's edit time alone: polling cannot see it, its event can.
#[tokio::test]
async fn a_moved_page_is_read_through_its_event() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let rx = receiver(&lake, &dir.path().join("token"), "127.0.0.1:0").await;
    fake.subscribe(Subscription::to(&format!("http://{}/", rx.addr()), TOKEN))
        .await
        .unwrap();
    let format = TableFormat::Delta;
    sync_with(&fake, &lake, &options(format)).await;
    let deep = find_page(&fake, "Deep outline");
    let edited = fake.workspace().page(&deep).unwrap().last_edited_time;
    fake.edit(&Edit::Move {
        page: deep.clone(),
        parent: ids.handbook.clone(),
    })
    .unwrap();
    assert_eq!(
        fake.workspace().page(&deep).unwrap().last_edited_time,
        edited
    );
    let (report, events) = sync_events(&fake, &lake, format).await;
    assert_eq!((events.events, events.pages), (1, 1), "{events:?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let sql = format!("SELECT id, parent_type, parent_id FROM pages WHERE id = '{deep}'");
    let moved = content_rows(&lake, &sql).await;
    assert_eq!(moved[0]["parent_id"], json!(ids.handbook), "{moved:?}");
    let truth_dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(truth_dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &truth, &options(format)).await;
    assert_eq!(moved, content_rows(&truth, &sql).await);
    rx.shutdown().await;
}

/// Regression: a moved page that the run saw unchanged through its new parent's crawl (the
/// parent was edited too) was taken as seen, so its event was never applied and the page kept
/// its old parent.
#[tokio::test]
async fn a_moved_page_seen_through_its_new_parents_crawl_applies_its_event() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let format = TableFormat::Delta;
    sync_with(&fake, &lake, &options(format)).await;
    let deep = find_page(&fake, "Deep outline");
    let moved = fake
        .edit(&Edit::Move {
            page: deep.clone(),
            parent: ids.handbook.clone(),
        })
        .unwrap();
    crate::edit_handbook_quote(&fake, &ids, "The handbook, edited after the move.");
    log::write_batch(&lake, vec![moved]).await.unwrap();
    sync_counted(&fake, &lake, format).await;
    let sql = format!("SELECT id, parent_type, parent_id FROM pages WHERE id = '{deep}'");
    let rows = content_rows(&lake, &sql).await;
    assert_eq!(rows[0]["parent_id"], json!(ids.handbook), "{rows:?}");
    let truth_dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(truth_dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &truth, &options(format)).await;
    assert_eq!(rows, content_rows(&truth, &sql).await);
}

/// Regression: an in-place read dropped an updated block that answered 404, but kept one
/// that came back `in_trash` (Notion's answer for a block deleted a moment ago).
#[tokio::test]
async fn an_in_place_read_drops_a_block_that_comes_back_in_the_trash() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let format = TableFormat::Delta;
    sync_with(&fake, &lake, &options(format)).await;
    let deep = find_page(&fake, "Deep outline");
    let bottom = find_block(&fake, "The bottom of the outline.");
    // Deleted in Notion: still retrievable, in the trash; the page's edit time moves.
    let event = {
        let mut ws = fake.workspace_mut();
        let who = ws.users[0].id.clone();
        ws.blocks.get_mut(&bottom).unwrap().in_trash = true;
        ws.edit_page_now(&deep, &who, |_| {});
        json!({"id": uuid::Uuid::new_v4().to_string(), "timestamp": chrono::Utc::now().to_rfc3339(), "type": "page.content_updated", "attempt_number": 1, "entity": {"id": deep, "type": "page"}, "data": {"parent": {"id": "x", "type": "space"}, "updated_blocks": [{"id": bottom, "type": "block"}]}})
    };
    log::write_batch(&lake, vec![event]).await.unwrap();
    let report = sync_counted(&fake, &lake, format).await;
    let events = report.events.clone().unwrap();
    assert_eq!(events.pages, 1, "read in place: {events:?}");
    let blocks = page_rows(&lake, "blocks", &deep).await;
    assert!(
        !blocks.iter().any(|b| b["id"] == json!(bottom)),
        "the trashed block left the page"
    );
    assert_as_crawled(
        &fake,
        &lake,
        &deep,
        format,
        "after a block went to the trash",
    )
    .await;
}
