//! What a quiet run costs, on the demo workspace (7 data sources; the floor of a run is data
//! sources + 3 = 10 requests: one query per data source, users, and two search pages).
//! 1. **A quiet run 2 minutes after edits**: four rows (among them the deal with more than 25
//!    stakeholders, whose values need completing, and one with a Notion-hosted contract) are
//!    edited two minutes before a sync; a run a minute later, with nothing changed, prints its
//!    requests by endpoint and whether it wrote a new version of `deals`.
//! 2. **A quiet `--watch 5m` loop over an hour** with the default comments refresh, after 70
//!    rows were edited during the week (30 of them today, 2 hours before) and read by a sync
//!    (a first sync ran a week before): the requests of each of the 12 runs, their total, and
//!    the comments requests among them.
//!
//! Run: `cargo bench --bench quiet`.

use chrono::{DateTime, Duration, DurationRound, Utc};
use notionlake::fake::{DemoIds, FakeNotion, demo_workspace};
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, SyncReport, sync_workspace};
use serde_json::json;

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

async fn sync(fake: &FakeNotion, lake: &Lake, now: DateTime<Utc>) -> SyncReport {
    let client = support::client(&fake.url());
    let options = SyncOptions {
        now: Some(now),
        full_every: 0,
        progress: false,
        ..SyncOptions::default()
    };
    sync_workspace(&client, lake, &options).await.expect("sync")
}

fn rows(fake: &FakeNotion, ids: &DemoIds, source: &str) -> Vec<String> {
    let ws = fake.workspace();
    ws.data_sources[&ids.data_sources[source]]
        .rows
        .iter()
        .filter(|r| ws.page(r).is_some_and(|p| !p.in_trash))
        .cloned()
        .collect()
}

fn edit(fake: &FakeNotion, pages: &[String], when: DateTime<Utc>) {
    let mut ws = fake.workspace_mut();
    for (n, id) in pages.iter().enumerate() {
        if let Some(p) = ws.page_mut(id) {
            p.properties.insert("dAmt".into(), json!(1000.0 + n as f64));
            p.last_edited_time = when;
        }
    }
}

async fn deals_version(lake: &Lake) -> Option<u64> {
    notionlake::sink::delta::open_table(lake, "tables/deals")
        .await
        .ok()
        .flatten()
        .and_then(|t| t.version())
}

async fn quiet_after_edits(t1: DateTime<Utc>) {
    let (ws, ids) = demo_workspace();
    let fake = support::fake(ws).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = Lake::open(dir.path().to_str().unwrap_or(".")).expect("lake");
    sync(&fake, &lake, t1).await;
    let t2 = t1 + Duration::minutes(10);
    let mut edited = vec![ids.big_deal.clone()];
    edited.extend(
        rows(&fake, &ids, "Deals")
            .into_iter()
            .filter(|d| *d != ids.big_deal)
            .take(2),
    );
    edited.push(rows(&fake, &ids, "Companies")[0].clone());
    edit(&fake, &edited, t2 - Duration::minutes(2));
    sync(&fake, &lake, t2).await;
    let version = deals_version(&lake).await;
    fake.reset_stats();
    sync(&fake, &lake, t2 + Duration::minutes(1)).await;
    let stats = fake.stats();
    let floor = fake.workspace().data_sources.len() + 3;
    let new_version = deals_version(&lake).await != version;
    println!(
        "quiet run 2 minutes after edits: {} requests (floor {floor}), new deals version: {new_version}",
        stats.total
    );
    for (endpoint, n) in &stats.requests {
        println!("  {n:>4}  {endpoint}");
    }
}

async fn watch_loop(now: DateTime<Utc>) {
    let (ws, ids) = demo_workspace();
    let fake = support::fake(ws).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let lake = Lake::open(dir.path().to_str().unwrap_or(".")).expect("lake");
    // A first sync a week ago; the week's edits are read by a sync now, then the loop runs.
    sync(&fake, &lake, now - Duration::days(8)).await;
    let t2 = now;
    let all: Vec<String> = ["Deals", "Companies", "Contacts"]
        .iter()
        .flat_map(|s| rows(&fake, &ids, s))
        .collect();
    let (today, week) = all.split_at(30.min(all.len()));
    edit(&fake, today, t2 - Duration::hours(2));
    for (n, id) in week.iter().enumerate() {
        edit(
            &fake,
            std::slice::from_ref(id),
            t2 - Duration::days(1 + (n % 6) as i64),
        );
    }
    sync(&fake, &lake, t2).await;
    let (mut total, mut comments) = (0, 0);
    let mut per_run = Vec::new();
    for n in 1..=12 {
        fake.reset_stats();
        sync(&fake, &lake, t2 + Duration::minutes(5 * n)).await;
        let stats = fake.stats();
        total += stats.total;
        comments += stats.count("GET /v1/comments");
        per_run.push(stats.total.to_string());
    }
    println!(
        "quiet --watch 5m loop, one hour (12 runs) after {} rows edited this week ({} today): {total} requests, {comments} of them comments; per run: {}",
        all.len(),
        today.len(),
        per_run.join(" ")
    );
}

#[tokio::main]
async fn main() {
    let t1 = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .unwrap_or_default()
        + Duration::seconds(30);
    quiet_after_edits(t1).await;
    watch_loop(t1).await;
}
