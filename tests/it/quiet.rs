//! A quiet run costs what it must: its data sources + 3 requests, plus a bounded comments
//! refresh. Rows listed again inside the cursor's margin are not read again when they are
//! settled and unchanged, a Notion-hosted file's new signature is no change, and a `--watch`
//! loop spreads the comments refresh within its budget.

use chrono::{DateTime, Duration, DurationRound, Utc};
use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, SyncReport};
use serde_json::json;

use crate::demo_fake;
use crate::lake::sync_with;

const PROPERTY_ITEM: &str = "GET /v1/pages/{id}/properties/{property_id}";
const CHILDREN: &str = "GET /v1/blocks/{id}/children";
const COMMENTS: &str = "GET /v1/comments";

fn at(t: DateTime<Utc>) -> SyncOptions {
    SyncOptions {
        now: Some(t),
        ..SyncOptions::default()
    }
}

/// A minute boundary plus 30 s, so that "a minute later" is a later minute.
fn start() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::minutes(1)).unwrap() + Duration::seconds(30)
}

/// Edits, at `when`, the demo's big deal (more than 25 stakeholders: its values need
/// completing), two other deals (one holds a Notion-hosted contract) and a company.
fn edit_rows(fake: &FakeNotion, ids: &DemoIds, when: DateTime<Utc>) -> Vec<String> {
    let mut ws = fake.workspace_mut();
    let deals = ws.data_sources[&ids.data_sources["Deals"]].rows.clone();
    let mut edited: Vec<String> = vec![ids.big_deal.clone()];
    edited.extend(
        deals
            .iter()
            .filter(|d| **d != ids.big_deal)
            .take(2)
            .cloned(),
    );
    for (n, d) in edited.iter().enumerate() {
        let p = ws.page_mut(d).unwrap();
        p.properties.insert("dAmt".into(), json!(1000.0 + n as f64));
        p.last_edited_time = when;
    }
    let company = ws.data_sources[&ids.data_sources["Companies"]].rows[0].clone();
    let c = ws.page_mut(&company).unwrap();
    c.properties.insert("c%3Emp".into(), json!(4321.0));
    c.last_edited_time = when;
    edited.push(company);
    edited
}

async fn deals_version(lake: &Lake) -> Option<u64> {
    notionlake::sink::delta::open_table(lake, "tables/deals")
        .await
        .unwrap()
        .unwrap()
        .version()
}

/// Regression: a run a minute after a sync that read rows edited two minutes before it made
/// 16 requests (the floor is 10): the big deal's values completed again (2), the rows written
/// again, and the comments of the edited pages refreshed (4). And every read of a row with a
/// Notion-hosted file wrote a new version: its URL's signature is new on each read.
#[tokio::test]
async fn a_quiet_run_after_edits_costs_data_sources_plus_three() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let t1 = start();
    sync_with(&fake, &lake, &at(t1)).await;
    let t2 = t1 + Duration::minutes(10);
    edit_rows(&fake, &ids, t2 - Duration::minutes(2));
    sync_with(&fake, &lake, &at(t2)).await;
    let before = deals_version(&lake).await;
    let t3 = t2 + Duration::minutes(1);
    fake.reset_stats();
    let quiet: SyncReport = sync_with(&fake, &lake, &at(t3)).await;
    let stats = fake.stats();
    let sources = fake.workspace().data_sources.len() as u64;
    assert_eq!(stats.total, sources + 3, "{:#?}", stats.requests);
    assert_eq!(
        stats.count(PROPERTY_ITEM),
        0,
        "no completion of settled rows"
    );
    assert_eq!(stats.count(CHILDREN), 0, "no page crawled again");
    assert!(
        quiet.tables.iter().all(|t| t.rows == 0),
        "{:?}",
        quiet.tables
    );
    assert_eq!(deals_version(&lake).await, before, "no new version");
}

/// Regression: a row read again whose only difference was its contract's new signature (and
/// expiry) was written as changed: a new version and an update pair in the change feed. Here
/// the deal is read again (edited in the minute of the previous read, so unsettled) with
/// nothing changed but the signature.
#[tokio::test]
async fn a_new_signature_of_the_same_file_is_no_change() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let t1 = start();
    sync_with(&fake, &lake, &at(t1)).await;
    let t2 = t1 + Duration::minutes(10);
    let deal = {
        let mut ws = fake.workspace_mut();
        let with_file = ws.data_sources[&ids.data_sources["Deals"]]
            .rows
            .iter()
            .find(|d| {
                ws.page(d)
                    .is_some_and(|p| p.properties.contains_key("dFil"))
            })
            .unwrap()
            .clone();
        let p = ws.page_mut(&with_file).unwrap();
        p.properties.insert("dAmt".into(), json!(77.0));
        p.last_edited_time = t2 - Duration::seconds(20);
        with_file
    };
    sync_with(&fake, &lake, &at(t2)).await;
    let before = deals_version(&lake).await;
    let again = sync_with(&fake, &lake, &at(t2 + Duration::minutes(1))).await;
    let deals = again.tables.iter().find(|t| t.table == "deals").unwrap();
    assert_eq!(deals.rows, 1, "the unsettled deal {deal} is read again");
    assert_eq!(
        deals_version(&lake).await,
        before,
        "a new signature of the same file is no change"
    );
}

/// A `--watch 5m` loop over two quiet hours after 28 pages were edited: each run costs its
/// data sources + 3 requests plus at most the budget, and each page's comments are read once
/// an hour (the crawl read them first).
#[tokio::test]
async fn a_quiet_watch_loop_spreads_the_comments_refresh_within_its_budget() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let t0 = start();
    sync_with(&fake, &lake, &at(t0)).await;
    let t1 = t0 + Duration::minutes(10);
    let pages: Vec<String> = {
        let mut ws = fake.workspace_mut();
        let mut rows: Vec<String> = ["Deals", "Companies"]
            .iter()
            .flat_map(|s| ws.data_sources[&ids.data_sources[*s]].rows.clone())
            .filter(|r| ws.page(r).is_some_and(|p| !p.in_trash))
            .collect();
        rows.truncate(28);
        for r in &rows {
            ws.page_mut(r).unwrap().last_edited_time = t1 - Duration::minutes(5);
        }
        rows
    };
    sync_with(&fake, &lake, &at(t1)).await;
    let budget = SyncOptions::default().comments_refresh_budget as u64;
    let sources = fake.workspace().data_sources.len() as u64;
    let mut refreshed = 0;
    for n in 1..=24 {
        fake.reset_stats();
        // No scheduled full refresh in the loop (every 24th run by default).
        let options = SyncOptions {
            full_every: 0,
            ..at(t1 + Duration::minutes(5 * n))
        };
        let r = sync_with(&fake, &lake, &options).await;
        let stats = fake.stats();
        assert!(
            stats.total <= sources + 3 + budget,
            "run {n}: {} requests: {:#?}",
            stats.total,
            stats.requests
        );
        assert_eq!(stats.total, sources + 3 + stats.count(COMMENTS), "run {n}");
        refreshed += stats.count(COMMENTS);
        if n < 12 {
            assert_eq!(
                stats.count(COMMENTS),
                0,
                "run {n}: read by the crawl within the hour"
            );
        }
        let c = r.comments_refresh.unwrap();
        assert_eq!(c.requests as u64, stats.count(COMMENTS));
    }
    // Due at the hour: 28 pages in three runs; again an hour later: the first 10 of them.
    assert_eq!(refreshed, 28 + 10, "{} pages", pages.len());
}
