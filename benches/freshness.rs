//! What keeping the lake fresh costs: a 10,000-row CRM (1,000 companies, 9,000 deals; a dual
//! relation with a rollup each way — deals sum their company's employees, companies sum their
//! deals' amounts — and a rollup of a rollup: each deal shows its company's pipeline) takes
//! 100 row edits spread over it (50 companies' employee counts, 50 deals' amounts) and 20 new
//! comments on rows nobody edited. Then one incremental sync in each freshness mode, from the
//! same lake, with the edits' webhook events delivered in the last mode:
//! - `polling`: `--comments-refresh none`;
//! - `polling + recent:7d`: the default comments refresh;
//! - `polling + all`: every page's comments read again;
//! - `webhooks`: events consumed, `--comments-refresh none`.
//!
//! Prints per mode: requests of the incremental sync, of which reading dependent rows again
//! (rows, rounds, seconds), the comments that reached the lake, the wall time against the in-process
//! fake, and the time the requests take at Notion's 3 requests/s. A first line syncs with no
//! edits, for the cost of a quiet run. Every mode reads the dependent rows (tests check that
//! their values then equal a fresh full sync's); the modes differ in the comments.
//!
//! Run: `cargo bench --bench freshness`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use notionlake::fake::Workspace;
use notionlake::fake::edits::Edit;
use notionlake::fake::webhooks::Subscription;
use notionlake::fake::workspace::{FParent, prop, rt_array};
use notionlake::sink::Lake;
use notionlake::sync::{CommentsRefresh, SyncOptions, sync_workspace};
use notionlake::webhooks::{Receiver, ReceiverConfig};
use serde_json::{Value, json};

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

/// Notion's average rate limit.
const NOTION_RPS: f64 = 3.0;
/// Companies and deals (`NOTIONLAKE_BENCH_SCALE=0.1` for a tenth of each).
fn sizes() -> (usize, usize) {
    let scale: f64 = std::env::var("NOTIONLAKE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((1_000.0 * scale) as usize, (9_000.0 * scale) as usize)
}
const TOKEN: &str = "secret_bench_verification_token";

fn rollup(relation: &str, property: &str) -> Value {
    json!({"relation_property_id": relation, "relation_property_name": relation, "rollup_property_id": property, "rollup_property_name": property, "function": "sum"})
}

/// The CRM, with its companies and deals.
fn crm() -> (Workspace, Vec<String>, Vec<String>) {
    let (companies_n, deals_n) = sizes();
    let start = DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let mut ws = Workspace::new("Freshness CRM", 11, start);
    let owner = ws.add_person("Owner", "owner@example.com");
    let root = ws.add_page(FParent::Workspace, "CRM", &owner);
    if let Some(p) = ws.page_mut(&root) {
        p.shared = true;
    }
    let title = || prop("title", "Name", "title", json!({}));
    let (companies_db, cds) = ws.add_database(
        &root,
        "Companies",
        &owner,
        vec![(
            "Companies".into(),
            vec![title(), prop("cEmp", "Employees", "number", json!({}))],
        )],
    );
    let (deals_db, dds) = ws.add_database(
        &root,
        "Deals",
        &owner,
        vec![(
            "Deals".into(),
            vec![title(), prop("dAmt", "Amount", "number", json!({}))],
        )],
    );
    let (cds, dds) = (cds[0].clone(), dds[0].clone());
    let dual = |db: &str, ds: &str, synced: &str| json!({"database_id": db, "data_source_id": ds, "type": "dual_property", "dual_property": {"synced_property_id": synced, "synced_property_name": synced}});
    ws.data_sources.get_mut(&cds).unwrap().properties.extend([
        prop("cDeals", "Deals", "relation", dual(&deals_db, &dds, "dCo")),
        prop("cPipe", "Pipeline", "rollup", rollup("cDeals", "dAmt")),
    ]);
    ws.data_sources.get_mut(&dds).unwrap().properties.extend([
        prop(
            "dCo",
            "Company",
            "relation",
            dual(&companies_db, &cds, "cDeals"),
        ),
        prop("dCsz", "Company size", "rollup", rollup("dCo", "cEmp")),
        prop(
            "dPipe",
            "Company pipeline",
            "rollup",
            rollup("dCo", "cPipe"),
        ),
    ]);
    let companies: Vec<String> = (0..companies_n)
        .map(|i| {
            let values = vec![
                ("title", rt_array(&format!("Company {i}"))),
                ("cEmp", json!((i * 37) % 5000 + 10)),
            ];
            ws.add_row(&cds, &owner, values)
        })
        .collect();
    let mut deals_of: Vec<Vec<Value>> = vec![Vec::new(); companies_n];
    let deals: Vec<String> = (0..deals_n)
        .map(|i| {
            let company = i % companies_n;
            let values = vec![
                ("title", rt_array(&format!("Deal {i}"))),
                ("dAmt", json!((i * 113) % 90_000 + 500)),
                ("dCo", json!([{"id": companies[company]}])),
            ];
            let id = ws.add_row(&dds, &owner, values);
            deals_of[company].push(json!({"id": id}));
            id
        })
        .collect();
    for (company, deals) in companies.iter().zip(deals_of) {
        if let Some(p) = ws.page_mut(company) {
            p.properties.insert("cDeals".into(), Value::Array(deals));
        }
    }
    (ws, companies, deals)
}

/// The 100 row edits and 20 comments, the same for every mode.
fn edits(companies: &[String], deals: &[String]) -> Vec<Edit> {
    let mut out = Vec::new();
    let (c, d) = (companies.len() / 50, deals.len() / 50);
    for k in 0..50 {
        out.push(Edit::SetProperty {
            page: companies[k * c].clone(),
            property: "cEmp".into(),
            value: json!(7_000 + k),
        });
        out.push(Edit::SetProperty {
            page: deals[k * d + d / 2].clone(),
            property: "dAmt".into(),
            value: json!(100_000 + k),
        });
    }
    for k in 0..20 {
        out.push(Edit::AddComment {
            page: deals[k * (deals.len() / 20) + 1].clone(),
            text: format!("Bench comment {k}"),
            block: None,
        });
    }
    out
}

async fn comments_landed(lake: &Lake) -> usize {
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, lake)
        .await
        .expect("lake");
    let batches = ctx
        .sql("SELECT count(*) AS n FROM comments WHERE plain_text LIKE 'Bench comment%'")
        .await
        .expect("sql")
        .collect()
        .await
        .expect("collect");
    let n =
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(batches[0].column(0))
            .value(0);
    usize::try_from(n).unwrap_or_default()
}

async fn mode(name: &str, refresh: CommentsRefresh, webhooks: bool, edited: bool) {
    let (ws, companies, deals) = crm();
    let fake = support::fake(ws).await;
    let client = support::client(&fake.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(dir.path().join("lake").to_str().expect("utf-8")).expect("lake");
    let receiver = if webhooks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let config = ReceiverConfig {
            arm: Some(std::time::Duration::from_secs(60)),
            ..ReceiverConfig::new(dir.path().join("token"))
        };
        let rx = Receiver::start(lake.clone(), listener, config)
            .await
            .expect("receiver");
        fake.subscribe(Subscription::to(&format!("http://{}/", rx.addr()), TOKEN))
            .await
            .expect("subscribe");
        Some(rx)
    } else {
        None
    };
    sync_workspace(&client, &lake, &SyncOptions::default())
        .await
        .expect("full sync");
    fake.reset_stats();
    for e in edits(&companies, &deals).into_iter().filter(|_| edited) {
        fake.edit(&e).expect("edit");
    }
    if webhooks {
        let d = fake
            .settle_deliveries(std::time::Duration::from_secs(60))
            .await;
        assert_eq!(d.pending, 0, "{d:?}");
    }
    let options = SyncOptions {
        comments_refresh: refresh,
        ..SyncOptions::default()
    };
    // A client of its own, so that its counters hold this sync's requests only.
    let client = support::client(&fake.url());
    let started = Instant::now();
    let report = sync_workspace(&client, &lake, &options)
        .await
        .expect("incremental sync");
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(report.mode, "incremental");
    let total = report.requests.total_requests;
    let deps = report.dependents.clone().unwrap_or_default();
    println!(
        "{name:<20} {total:>9} {:>10} {:>8} {:>6} {:>7.2} {:>9}/20 {elapsed:>8.2} {:>10.0}",
        deps.requests,
        deps.rows,
        deps.rounds,
        deps.secs,
        comments_landed(&lake).await,
        total as f64 / NOTION_RPS
    );
    let mut by_endpoint: Vec<(String, u64)> = fake.stats().requests.into_iter().collect();
    by_endpoint.sort_by_key(|e| std::cmp::Reverse(e.1));
    let top: Vec<String> = by_endpoint
        .iter()
        .take(5)
        .map(|(e, n)| format!("{e} {n}"))
        .collect();
    println!("{:<20} ({})", "", top.join(", "));
    if let Some(rx) = receiver {
        rx.shutdown().await;
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (companies, deals) = sizes();
    println!(
        "CRM of {companies} companies and {deals} deals, 100 row edits and 20 comments on unedited rows; one incremental sync per mode"
    );
    println!(
        "{:<20} {:>9} {:>10} {:>8} {:>6} {:>7} {:>12} {:>8} {:>10}",
        "mode",
        "requests",
        "dependent",
        "re-read",
        "rounds",
        "dep s",
        "comments",
        "wall s",
        "s at 3/s"
    );
    mode("no edits", CommentsRefresh::None, false, false).await;
    mode("polling", CommentsRefresh::None, false, true).await;
    mode("polling + recent:7d", CommentsRefresh::DEFAULT, false, true).await;
    mode("polling + all", CommentsRefresh::All, false, true).await;
    mode("webhooks", CommentsRefresh::None, true, true).await;
}
