//! Computed values kept fresh by incremental syncs: when a company changes, the rollups that
//! read it change in Notion without their rows being edited. The demo CRM gains, for these
//! tests, a one-way relation from Contacts to Companies (with a sum of employees), a one-way
//! relation from Contacts to Deals with a show-original rollup of the deals' company size (a
//! rollup of a rollup), and a count of each deal's companies. After each change the
//! incremental lake must equal a fresh full sync of the same workspace, at an exact request cost.

use chrono::{DateTime, Duration, Utc};
use notionlake::fake::workspace::{Page, Workspace, prop};
use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::{SyncOptions, SyncReport};
use serde_json::{Value, json};

use crate::lake::{content_rows, rows, sync_with};

const QUERY: &str = "POST /v1/data_sources/{id}/query";
const RETRIEVE: &str = "GET /v1/pages/{id}";
const PROPERTY_ITEM: &str = "GET /v1/pages/{id}/properties/{property_id}";

/// The demo CRM's companies, deals by company and the extra properties of these tests.
struct Crm {
    companies: Vec<String>,
    deals_of: Vec<Vec<String>>,
}

fn rollup(relation: &str, property: &str, function: &str) -> Value {
    json!({"relation_property_id": relation, "relation_property_name": relation, "rollup_property_id": property, "rollup_property_name": property, "function": function})
}

fn one_way(ws: &Workspace, target: &str) -> Value {
    let db = ws.data_sources[target].database_id.clone();
    json!({"database_id": db, "data_source_id": target, "type": "single_property", "single_property": {}})
}

/// Adds the tests' relations and rollups to the demo, with values, before any sync.
fn crm_with_dependents(ws: &mut Workspace, ids: &DemoIds) -> Crm {
    let [companies_ds, contacts_ds, deals_ds] =
        ["Companies", "Contacts", "Deals"].map(|n| ids.data_sources[n].clone());
    let companies = ws.data_sources[&companies_ds].rows.clone();
    let deals_of: Vec<Vec<String>> = companies
        .iter()
        .map(|c| {
            ws.data_sources[&deals_ds]
                .rows
                .iter()
                .filter(|d| {
                    ws.page(d).is_some_and(|p| {
                        !p.in_trash && p.properties.get("dCo") == Some(&json!([{"id": c}]))
                    })
                })
                .cloned()
                .collect()
        })
        .collect();
    let (to_companies, to_deals) = (one_way(ws, &companies_ds), one_way(ws, &deals_ds));
    let contacts = ws.data_sources.get_mut(&contacts_ds).unwrap();
    contacts.properties.extend([
        prop("kEmp", "Employer", "relation", to_companies),
        prop(
            "kEsz",
            "Employer size",
            "rollup",
            rollup("kEmp", "c%3Emp", "sum"),
        ),
        prop("kDl", "Deals followed", "relation", to_deals),
        prop(
            "kDsz",
            "Followed company sizes",
            "rollup",
            rollup("kDl", "dCsz", "show_original"),
        ),
    ]);
    let contact_rows = contacts.rows.clone();
    ws.data_sources
        .get_mut(&deals_ds)
        .unwrap()
        .properties
        .push(prop(
            "dCcn",
            "Company count",
            "rollup",
            rollup("dCo", "title", "count"),
        ));
    let n = companies.len();
    for (i, contact) in contact_rows.iter().enumerate() {
        let page = ws.page_mut(contact).unwrap();
        page.properties
            .insert("kEmp".into(), json!([{"id": companies[i % n]}]));
        let followed: Vec<Value> = deals_of[(i + 1) % n]
            .iter()
            .map(|d| json!({"id": d}))
            .collect();
        page.properties.insert("kDl".into(), Value::Array(followed));
    }
    Crm {
        companies,
        deals_of,
    }
}

/// The CRM tables as rows, without the columns about the run that wrote them.
async fn crm_tables(lake: &Lake) -> Vec<Value> {
    let mut out = Vec::new();
    for table in ["companies", "contacts", "deals"] {
        let sql = format!("SELECT * FROM {table} ORDER BY _id");
        for row in content_rows(lake, &sql).await {
            out.push(json!({"table": table, "row": row}));
        }
    }
    out
}

/// Asserts that `lake` holds what a fresh full sync of `fake` holds, table by table.
async fn assert_fresh(fake: &FakeNotion, lake: &Lake, format: TableFormat, step: &str) {
    let dir = tempfile::tempdir().unwrap();
    let truth = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(fake, &truth, &options(format)).await;
    let (have, want) = (crm_tables(lake).await, crm_tables(&truth).await);
    assert_eq!(have.len(), want.len(), "{format:?} {step}: row counts");
    for (h, w) in have.iter().zip(&want) {
        assert_eq!(h, w, "{format:?} {step}: the lake differs from Notion");
    }
}

fn options(format: TableFormat) -> SyncOptions {
    SyncOptions {
        format: Some(format),
        comments_refresh: notionlake::sync::CommentsRefresh::None,
        ..SyncOptions::default()
    }
}

/// The runs' clock: run `k` starts `k` hours after the first; edits between runs are stamped
/// half an hour before the next run, so that every edit is settled when read (a minute
/// earlier than the run) and none is read twice.
struct Clock {
    base: DateTime<Utc>,
    run: i64,
}

impl Clock {
    fn options(&self, format: TableFormat) -> SyncOptions {
        SyncOptions {
            now: Some(self.base + Duration::hours(self.run)),
            ..options(format)
        }
    }

    /// When an edit made now is stamped.
    fn edit_time(&self) -> DateTime<Utc> {
        self.base + Duration::hours(self.run + 1) - Duration::minutes(30)
    }
}

/// Edits page `id` with `change`, stamped at the clock's edit time.
fn edit(fake: &FakeNotion, clock: &Clock, id: &str, change: impl FnOnce(&mut Page)) {
    let mut ws = fake.workspace_mut();
    let page = ws.page_mut(id).unwrap();
    change(page);
    page.last_edited_time = clock.edit_time();
}

/// Syncs incrementally as the clock's next run, counting the requests the fake served.
async fn incremental(
    fake: &FakeNotion,
    lake: &Lake,
    format: TableFormat,
    clock: &mut Clock,
) -> (SyncReport, u64, u64) {
    clock.run += 1;
    fake.reset_stats();
    let report = sync_with(fake, lake, &clock.options(format)).await;
    assert_eq!(report.mode, "incremental", "no full refresh");
    let stats = fake.stats();
    (report, stats.count(QUERY), stats.count(RETRIEVE))
}

async fn dependents_follow_changes(format: TableFormat) {
    let (mut ws, ids) = notionlake::fake::demo_workspace();
    let crm = crm_with_dependents(&mut ws, &ids);
    let fake = FakeNotion::start(ws, FakeConfig::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let mut clock = Clock {
        base: Utc::now(),
        run: 0,
    };
    sync_with(&fake, &lake, &clock.options(format)).await;
    let (quiet, quiet_queries, _) = incremental(&fake, &lake, format, &mut clock).await;
    assert!(
        quiet.dependents.is_none(),
        "nothing changed, nothing to follow"
    );
    let globex = crm.companies[0].clone();
    assert!(crm.deals_of[0].len() >= 2, "Globex has several deals");

    // 1. Globex's employee count changes: the deals (dual relation), the contacts it employs
    // (one-way) and the contacts following its deals (a rollup of the deals' rollup) show new
    // values. One query each: deals by `Company contains`, contacts by `Employer contains`,
    // then contacts by `Deals followed contains` any of Globex's deals.
    edit(&fake, &clock, &globex, |p| {
        p.properties.insert("c%3Emp".into(), json!(6100.0));
    });
    let (report, queries, retrieved) = incremental(&fake, &lake, format, &mut clock).await;
    let deps = report.dependents.clone().expect("dependents were read");
    assert_eq!(deps.rounds, 2, "{deps:?}");
    // The demo's big deal (a Globex deal) has more stakeholders than a page object lists: its
    // relation and the rollup over it are completed, as for any row read.
    let completions = fake.stats().count(PROPERTY_ITEM);
    assert_eq!(completions, 2, "{deps:?}");
    assert_eq!(deps.requests as u64, 3 + completions, "{deps:?}");
    assert_eq!(queries, quiet_queries + 3, "three dependent queries");
    assert_eq!(retrieved, 0, "no row retrieved one by one");
    assert_fresh(&fake, &lake, format, "employee count").await;
    let ctx = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&ctx, &lake).await.unwrap();
    let sizes = rows(
        &ctx,
        &format!(
            "SELECT count(*) AS n FROM deals WHERE company_size['number'] = 6100 AND _id IN ({})",
            crm.deals_of[0]
                .iter()
                .map(|d| format!("'{d}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .await;
    assert_eq!(sizes[0]["n"], json!(crm.deals_of[0].len()), "{sizes:?}");

    // 2. A deal moves from Initech to Umbrella (both sides of the dual relation change; only
    // the deal counts as edited). Both companies' pipelines change: Umbrella is listed by the
    // deal now, Initech only by the lake's value from before. Retrieving the two costs less
    // than a query and a retrieval; the contacts following the deal take one query.
    let (initech, umbrella) = (crm.companies[1].clone(), crm.companies[2].clone());
    let moved = crm.deals_of[1][0].clone();
    edit(&fake, &clock, &moved, |p| {
        p.properties
            .insert("dCo".into(), json!([{"id": umbrella.clone()}]));
    });
    {
        let mut ws = fake.workspace_mut();
        let listed =
            |deals: &[String]| Value::Array(deals.iter().map(|d| json!({"id": d})).collect());
        let mut umbrella_deals = crm.deals_of[2].clone();
        umbrella_deals.push(moved.clone());
        for (company, deals) in [
            (&initech, listed(&crm.deals_of[1][1..])),
            (&umbrella, listed(&umbrella_deals)),
        ] {
            ws.page_mut(company)
                .unwrap()
                .properties
                .insert("cDeals".into(), deals);
        }
    }
    let (report, queries, retrieved) = incremental(&fake, &lake, format, &mut clock).await;
    let deps = report.dependents.clone().expect("dependents were read");
    assert_eq!(retrieved, 2, "Initech and Umbrella retrieved: {deps:?}");
    assert_eq!(queries, quiet_queries + 1, "the followers' query: {deps:?}");
    assert_eq!((deps.requests, deps.rounds), (3, 1), "{deps:?}");
    assert_fresh(&fake, &lake, format, "a deal changes company").await;

    // 3. A company moves to the trash: its deals count no company any more.
    let vandelay = crm.companies[5].clone();
    edit(&fake, &clock, &vandelay, |p| p.in_trash = true);
    let (report, _, _) = incremental(&fake, &lake, format, &mut clock).await;
    assert!(report.dependents.is_some());
    assert_fresh(&fake, &lake, format, "a company trashed").await;
}

#[tokio::test]
async fn dependent_rollups_follow_related_changes_delta() {
    dependents_follow_changes(TableFormat::Delta).await;
}

#[tokio::test]
async fn dependent_rollups_follow_related_changes_parquet() {
    dependents_follow_changes(TableFormat::Parquet).await;
}
