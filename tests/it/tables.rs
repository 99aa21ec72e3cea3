//! Data sources as typed tables: every property type of the demo lands with the documented Arrow
//! type and the right value (null and empty included), read back with DataFusion; truncated
//! relations are completed; unknown types are kept as raw JSON; schema changes between syncs;
//! S3 (moto) gives the same tables; pyarrow and DuckDB read the lake.

use std::collections::BTreeMap;

use notionlake::fake::workspace::{FParent, PropDef, Workspace};
use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::flatten::mapping::{PropertyType, type_name};
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::SyncOptions;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::demo_fake;
use crate::lake::{Moto, rows, run_python, session, sync_into, sync_with};

struct Demo {
    dir: TempDir,
    _fake: FakeNotion,
    ids: DemoIds,
    ctx: datafusion::prelude::SessionContext,
}

async fn demo() -> Demo {
    demo_with(None).await
}

/// The demo's typed tables synced into a new lake of `format` (the default: Delta).
async fn demo_with(format: Option<TableFormat>) -> Demo {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let options = SyncOptions {
        format,
        ..SyncOptions::tables_only()
    };
    sync_with(&fake, &lake, &options).await;
    let ctx = session(
        dir.path(),
        &[
            "deals",
            "companies",
            "contacts",
            "tasks",
            "projects",
            "milestones",
            "reading_list",
            "rich_text_items",
        ],
    )
    .await;
    Demo {
        dir,
        _fake: fake,
        ids,
        ctx,
    }
}

/// The deal with unique id DEAL-n (n = index + 1 in the demo).
async fn deal(d: &Demo, n: usize, cols: &str) -> Value {
    let r = rows(
        &d.ctx,
        &format!("SELECT {cols} FROM deals WHERE deal_id['number'] = {n}"),
    )
    .await;
    assert_eq!(r.len(), 1, "DEAL-{n}");
    r.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_table_and_column_has_the_documented_type() {
    let d = demo().await;
    let registry: Value = serde_json::from_slice(
        &std::fs::read(d.dir.path().join("_notionlake/registry.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for (_, table) in registry["tables"].as_object().unwrap() {
        let name = table["table"].as_str().unwrap();
        let schema = d.ctx.table(name).await.unwrap().schema().as_arrow().clone();
        for col in table["columns"].as_array().unwrap() {
            let (column, kind) = (
                col["column"].as_str().unwrap(),
                col["notion_type"].as_str().unwrap(),
            );
            let field = schema
                .field_with_name(column)
                .unwrap_or_else(|_| panic!("{name}.{column} missing"));
            assert_eq!(
                type_name(field.data_type()),
                type_name(&PropertyType::parse(kind).arrow_type().unwrap()),
                "{name}.{column} ({kind})"
            );
            checked += 1;
        }
    }
    // Deals alone uses 29 valued property types plus a button.
    assert!(checked >= 60, "{checked}");
    let deals = d
        .ctx
        .table("deals")
        .await
        .unwrap()
        .schema()
        .as_arrow()
        .clone();
    assert!(
        deals.field_with_name("send_quote").is_err(),
        "buttons have no column"
    );
    // The files carry each column's Notion identity.
    let file = walk(&d.dir.path().join("tables/deals"))
        .into_iter()
        .next()
        .unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(file).unwrap(),
    )
    .unwrap();
    let deals = reader.schema().clone();
    let amount = deals.field_with_name("amount").unwrap();
    assert_eq!(
        amount.metadata().get("notion.name").map(String::as_str),
        Some("Amount")
    );
    assert_eq!(
        amount
            .metadata()
            .get("notion.property_id")
            .map(String::as_str),
        Some("dAmt")
    );
}

#[tokio::test]
async fn row_counts_and_metadata_columns() {
    let d = demo().await;
    let counts = rows(&d.ctx, "SELECT (SELECT count(*) FROM deals) AS deals, (SELECT count(*) FROM contacts) AS contacts, (SELECT count(*) FROM tasks) AS tasks, (SELECT count(*) FROM reading_list) AS reading").await;
    assert_eq!(
        counts[0],
        json!({"deals": 24, "contacts": 40, "tasks": 36, "reading": 0}),
        "the trashed deal is excluded"
    );
    let r = deal(
        &d,
        1,
        "_id, _url, _created_time, _in_trash, _data_source_id, _database_id, _run_id, _synced_at",
    )
    .await;
    assert_eq!(r["_data_source_id"], json!(d.ids.data_sources["Deals"]));
    assert_eq!(r["_database_id"], json!(d.ids.databases["Deals"]));
    assert_eq!(r["_in_trash"], false);
    assert!(
        r["_url"]
            .as_str()
            .unwrap()
            .starts_with("https://www.notion.so/")
    );
    assert!(
        r["_created_time"].as_str().unwrap().ends_with(":00Z")
            || r["_created_time"].as_str().unwrap().contains(":00"),
        "{}",
        r["_created_time"]
    );
    assert!(!r["_run_id"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn title_and_rich_text_are_plain_text_with_items_aside() {
    let d = demo().await;
    assert_eq!(
        deal(&d, 2, "name").await["name"],
        "Initech renewal with @Grace Hopper"
    );
    assert_eq!(
        deal(&d, 1, "notes").await["notes"],
        "Spoke with procurement; see the brief. Next: CRM"
    );
    assert_eq!(
        deal(&d, 2, "notes").await["notes"],
        "",
        "an empty rich text is an empty string"
    );
    let items = rows(&d.ctx, "SELECT item_index, type, plain_text, bold, mention_type, mention_id FROM rich_text_items WHERE \"table\" = 'deals' AND \"column\" = 'name' AND plain_text LIKE '%Grace%'").await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["mention_type"], "user");
    assert_eq!(items[0]["mention_id"], json!(d.ids.people["grace"]));
    let bold = rows(
        &d.ctx,
        "SELECT bold FROM rich_text_items WHERE plain_text = 'Initech' AND \"table\" = 'deals'",
    )
    .await;
    assert_eq!(bold[0]["bold"], true);
    let links = rows(&d.ctx, "SELECT count(*) AS n FROM rich_text_items WHERE \"column\" = 'notes' AND href = 'https://docs.example.com/brief'").await;
    assert_eq!(links[0]["n"], 8, "deals 1, 4, … 22 link the brief");
}

#[tokio::test]
async fn numbers_checkboxes_and_strings() {
    let d = demo().await;
    let r = deal(
        &d,
        2,
        "amount, signed, deal_room, billing_email, billing_phone",
    )
    .await;
    assert_eq!(r["amount"], 94000.0);
    assert_eq!(r["signed"], false);
    assert!(r.get("deal_room").is_none(), "null url: {r}");
    assert_eq!(r["billing_email"], "billing@initech.example");
    assert!(r.get("billing_phone").is_none());
    let r = deal(&d, 6, "amount, signed").await;
    assert!(r.get("amount").is_none(), "deal 6 has no amount");
    let r = deal(&d, 4, "signed, deal_room, billing_phone").await;
    assert_eq!(r["signed"], true, "Won deals are signed");
    assert_eq!(r["billing_phone"], "+1 (555) 010-2000");
    let emails = rows(&d.ctx, "SELECT count(*) AS total, count(email) AS with_email, count(phone) AS with_phone FROM contacts").await;
    assert_eq!(
        emails[0],
        json!({"total": 40, "with_email": 34, "with_phone": 32})
    );
}

#[tokio::test]
async fn select_multi_select_and_status() {
    let d = demo().await;
    let r = deal(&d, 4, "stage, priority, tags").await;
    assert_eq!(
        r,
        json!({"stage": "Won", "priority": "High", "tags": ["Enterprise", "Renewal"]})
    );
    let r = deal(&d, 1, "stage, tags").await;
    assert_eq!(r["tags"], json!([]), "no tags is an empty list, not null");
    assert!(deal(&d, 6, "priority").await.get("priority").is_none());
    let by_stage = rows(
        &d.ctx,
        "SELECT stage, count(*) AS n FROM deals GROUP BY stage ORDER BY stage",
    )
    .await;
    assert_eq!(by_stage.len(), 5);
}

#[tokio::test]
async fn dates_of_every_shape() {
    let d = demo().await;
    let date_only = deal(&d, 1, "close_date").await["close_date"].clone();
    assert_eq!(date_only["has_time"], false);
    assert_eq!(date_only["start_text"], "2026-09-01");
    assert!(
        date_only["start"]
            .as_str()
            .unwrap()
            .starts_with("2026-09-01T00:00:00")
    );
    let with_offset = deal(&d, 2, "close_date").await["close_date"].clone();
    assert_eq!(with_offset["has_time"], true);
    assert!(
        with_offset["start"]
            .as_str()
            .unwrap()
            .starts_with("2026-10-02T12:30:00"),
        "14:30+02:00 is 12:30 UTC: {with_offset}"
    );
    let range = deal(&d, 3, "close_date").await["close_date"].clone();
    assert_eq!(
        (range["start_text"].as_str(), range["end_text"].as_str()),
        (Some("2026-12-01"), Some("2026-12-15"))
    );
    assert!(
        range["end"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-15T00:00:00")
    );
    let zoned = deal(&d, 4, "close_date").await["close_date"].clone();
    assert_eq!(zoned["time_zone"], "Europe/Zurich");
    assert!(
        zoned["start"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-04T08:00:00"),
        "09:00 in Zurich is 08:00 UTC: {zoned}"
    );
    assert!(deal(&d, 10, "close_date").await.get("close_date").is_none());
    let sorted = rows(&d.ctx, "SELECT count(*) AS n FROM deals WHERE close_date['start'] >= TIMESTAMP '2026-11-01T00:00:00Z'").await;
    assert!(sorted[0]["n"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn people_files_and_relations() {
    let d = demo().await;
    let owners = deal(&d, 3, "owner").await["owner"].clone();
    assert_eq!(owners[0]["id"], json!(d.ids.people["alan"]));
    assert_eq!(owners[0]["name"], "Alan Turing");
    assert_eq!(owners[0]["kind"], "person");
    assert_eq!(owners[1]["kind"], "group");
    assert_eq!(owners[1]["name"], "Sales team");
    assert_eq!(deal(&d, 8, "owner").await["owner"], json!([]));
    let files = deal(&d, 1, "contract").await["contract"].clone();
    assert_eq!(files.as_array().unwrap().len(), 2);
    assert_eq!(
        (files[0]["kind"].as_str(), files[1]["kind"].as_str()),
        (Some("file"), Some("external"))
    );
    // Notion (and the fake) signs a hosted file per read, valid for an hour: the lake keeps
    // the expiry the read gave.
    let expiry = chrono::DateTime::parse_from_rfc3339(files[0]["expiry_time"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let now = chrono::Utc::now();
    assert!(
        expiry > now && expiry <= now + chrono::Duration::hours(1),
        "{expiry}"
    );
    assert!(
        files[0]["url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature="),
        "{files}"
    );
    assert!(files[1].get("expiry_time").is_none());
    assert_eq!(deal(&d, 2, "contract").await["contract"], json!([]));
    // More than 25 related pages: complete, not truncated.
    let big = rows(
        &d.ctx,
        &format!(
            "SELECT stakeholders FROM deals WHERE _id = '{}'",
            d.ids.big_deal
        ),
    )
    .await;
    let stakeholders = big[0]["stakeholders"].as_array().unwrap();
    assert_eq!(stakeholders.len(), 30);
    // The first 30 contacts, in the order Notion listed them (not sorted by us).
    let ws_contacts: Vec<Value> = d._fake.workspace().data_sources[&d.ids.data_sources["Contacts"]]
        .rows
        .iter()
        .take(30)
        .map(|id| json!(id))
        .collect();
    assert_eq!(stakeholders, &ws_contacts);
    let company = deal(&d, 2, "company").await["company"].clone();
    let initech = rows(&d.ctx, "SELECT _id FROM companies WHERE name = 'Initech'").await;
    assert_eq!(company, json!([initech[0]["_id"]]));
    let pipeline = rows(
        &d.ctx,
        "SELECT cardinality(deals) AS n FROM companies WHERE name = 'Globex'",
    )
    .await;
    assert_eq!(pipeline[0]["n"], 4, "deals 1, 7, 13, 19 belong to Globex");
}

#[tokio::test]
async fn formulas_and_rollups_by_result_type() {
    let d = demo().await;
    let r = deal(&d, 2, "weighted_value, summary, is_large, follow_up, company_size, company_founded, stakeholder_names").await;
    assert_eq!(r["weighted_value"]["type"], "number");
    assert_eq!(r["weighted_value"]["number"], 37600.0);
    assert!(r["weighted_value"].get("string").is_none());
    assert_eq!(r["summary"]["string"], "Qualified · Initech");
    assert_eq!(r["is_large"]["boolean"], true);
    assert_eq!(r["follow_up"]["type"], "date");
    assert_eq!(r["follow_up"]["date"]["start_text"], "2026-10-09");
    assert_eq!(
        r["company_size"],
        json!({"type": "number", "function": "sum", "number": 830.0})
    );
    assert_eq!(r["company_founded"]["function"], "earliest_date");
    assert_eq!(r["company_founded"]["date"]["start_text"], "1999-02-19");
    assert_eq!(r["stakeholder_names"]["type"], "array");
    assert_eq!(r["stakeholder_names"]["array"], json!(["Contact 02"]));
    let weighted_null = deal(&d, 6, "weighted_value").await;
    assert_eq!(weighted_null["weighted_value"]["type"], "number");
    assert!(weighted_null["weighted_value"].get("number").is_none());
    let no_follow_up = deal(&d, 10, "follow_up").await;
    assert!(no_follow_up["follow_up"].get("date").is_none());
    let big = rows(
        &d.ctx,
        &format!(
            "SELECT cardinality(stakeholder_names['array']) AS n FROM deals WHERE _id = '{}'",
            d.ids.big_deal
        ),
    )
    .await;
    assert_eq!(big[0]["n"], 30);
}

#[tokio::test]
async fn system_properties_unique_id_verification_and_place() {
    let d = demo().await;
    let r = deal(&d, 2, "created, created_by, last_edited, last_edited_by, _last_edited_time, deal_id, verification, meeting_place").await;
    assert_eq!(r["created_by"], json!(d.ids.people["grace"]));
    assert_eq!(
        r["last_edited_by"],
        json!(d.ids.people["katherine"]),
        "deal 2 was edited by another user"
    );
    assert_eq!(r["last_edited"], r["_last_edited_time"]);
    assert_eq!(
        r["deal_id"],
        json!({"prefix": "DEAL", "number": 2, "text": "DEAL-2"})
    );
    assert_eq!(r["verification"]["state"], "unverified");
    assert!(r.get("meeting_place").is_none());
    let r = deal(&d, 1, "verification, meeting_place").await;
    assert_eq!(r["verification"]["state"], "verified");
    assert_eq!(r["verification"]["verified_by"], json!(d.ids.people["ada"]));
    assert!(
        r["verification"]["date"]["end"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-01")
    );
    assert_eq!(r["meeting_place"]["name"], "Client office");
    assert_eq!(r["meeting_place"]["lat"], 40.7128);
    assert!(
        deal(&d, 3, "verification")
            .await
            .get("verification")
            .is_none()
    );
    let tasks = rows(
        &d.ctx,
        "SELECT task_id['text'] AS t FROM tasks ORDER BY task_id['number'] LIMIT 1",
    )
    .await;
    assert_eq!(tasks[0]["t"], "TASK-1");
}

#[tokio::test]
async fn unknown_property_types_are_kept_as_raw_json_with_a_warning() {
    let mut ws = Workspace::new("w", 5, chrono::Utc::now());
    let u = ws.bot.id.clone();
    let root = ws.add_page(FParent::Workspace, "Root", &u);
    ws.page_mut(&root).unwrap().shared = true;
    let schema = vec![
        PropDef {
            id: "title".into(),
            name: "Name".into(),
            kind: "title".into(),
            config: json!({}),
        },
        PropDef {
            id: "xAi".into(),
            name: "AI score".into(),
            kind: "ai_score".into(),
            config: json!({}),
        },
    ];
    let (_, ds) = ws.add_database(&root, "Future", &u, vec![("Future".into(), schema)]);
    ws.add_row(
        &ds[0],
        &u,
        vec![
            ("title", json!([])),
            ("xAi", json!({"score": 0.9, "model": "m1"})),
        ],
    );
    ws.add_row(&ds[0], &u, vec![("title", json!([]))]);
    let fake = FakeNotion::start(ws, FakeConfig::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = sync_into(&fake, &Lake::open(dir.path().to_str().unwrap()).unwrap()).await;
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("ai_score") && w.contains("raw JSON")),
        "{:?}",
        report.warnings
    );
    let ctx = session(dir.path(), &["future"]).await;
    let r = rows(&ctx, "SELECT ai_score FROM future ORDER BY _created_time").await;
    let raw: Value = serde_json::from_str(r[0]["ai_score"].as_str().unwrap()).unwrap();
    assert_eq!(raw, json!({"score": 0.9, "model": "m1"}));
    assert!(r[1].get("ai_score").is_none());
}

#[tokio::test]
async fn only_truncated_values_cost_extra_requests() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let report = sync_into(&fake, &Lake::open(dir.path().to_str().unwrap()).unwrap()).await;
    let stats = fake.stats();
    // One deal has a relation of 30 (> 25) and a show-original rollup over it, which the page
    // object computes over 25 related pages only: exactly one property-item request for each
    // (30 < page size), none for any other row.
    assert_eq!(
        stats.count("GET /v1/pages/{id}/properties/{property_id}"),
        2
    );
    assert_eq!(
        report
            .tables
            .iter()
            .map(|t| t.completed_values)
            .sum::<usize>(),
        2
    );
    let sources = fake.workspace().data_sources.len() as u64;
    // Search returns each data source with its schema: one query page per source, no retrieve.
    assert_eq!(
        stats.total,
        1 + sources + 2,
        "search + one query page per source + two completions"
    );
    assert_eq!(stats.count("GET /v1/data_sources/{id}"), 0);
}

#[tokio::test]
async fn renamed_added_and_retyped_properties_between_syncs() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_into(&fake, &lake).await;
    {
        let mut ws = fake.workspace_mut();
        let ds = ws.data_sources.get_mut(&ids.data_sources["Deals"]).unwrap();
        ds.properties
            .iter_mut()
            .find(|p| p.id == "dAmt")
            .unwrap()
            .name = "Deal value".into();
        ds.properties.push(PropDef {
            id: "dReg".into(),
            name: "Region".into(),
            kind: "select".into(),
            config: json!({"options": []}),
        });
        let pri = ds.properties.iter_mut().find(|p| p.id == "dPri").unwrap();
        pri.kind = "rich_text".into();
        let rows_ids = ds.rows.clone();
        let editor = ws.bot.id.clone();
        for id in rows_ids {
            // Setting values edits the rows: their last_edited_time moves, as in Notion.
            ws.edit_page_now(&id, &editor, |p| {
                p.properties.insert("dReg".into(), json!({"id": "r-emea", "name": "EMEA", "color": "blue"}));
                p.properties.insert("dPri".into(), json!([{"type": "text", "text": {"content": "urgent", "link": null}, "annotations": {"bold": false, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "urgent", "href": null}]));
            });
        }
    }
    let report = sync_into(&fake, &lake).await;
    let deals = report.tables.iter().find(|t| t.table == "deals").unwrap();
    let changes = serde_json::to_value(&deals.changes).unwrap();
    assert!(
        changes.as_array().unwrap().contains(
            &json!({"change": "renamed", "column": "amount", "from": "Amount", "to": "Deal value"})
        ),
        "{changes}"
    );
    assert!(
        changes
            .as_array()
            .unwrap()
            .contains(&json!({"change": "added", "column": "region"}))
    );
    assert!(changes.as_array().unwrap().contains(&json!({"change": "type_changed", "old_column": "priority", "new_column": "priority__rich_text", "from": "select", "to": "rich_text"})));
    // Both syncs' files query together: old files lack the new columns, new files lack the
    // retired one.
    let ctx = session(dir.path(), &["deals"]).await;
    let r = rows(&ctx, "SELECT count(*) AS n, count(amount) AS amount, count(region) AS region, count(priority) AS priority, count(priority__rich_text) AS urgent, count(DISTINCT _run_id) AS runs FROM deals_history").await;
    assert_eq!(
        r[0],
        json!({"n": 48, "amount": 46, "region": 24, "priority": 20, "urgent": 24, "runs": 2})
    );
    let registry: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("_notionlake/registry.json")).unwrap(),
    )
    .unwrap();
    let amount = registry["tables"][&ids.data_sources["Deals"]]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["property_id"] == "dAmt")
        .unwrap()
        .clone();
    assert_eq!(
        (amount["column"].as_str(), amount["name"].as_str()),
        (Some("amount"), Some("Deal value"))
    );
}

#[tokio::test]
async fn a_corrupt_registry_stops_the_sync_with_advice_and_writes_nothing() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("_notionlake")).unwrap();
    std::fs::write(dir.path().join("_notionlake/registry.json"), b"{not json").unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let client = crate::client_with(crate::test_config(
        &fake,
        notionlake::notion::NotionVersion::V2025_09_03,
    ));
    let err = notionlake::sync::sync_workspace(&client, &lake, &Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("registry") && err.contains("delete it"),
        "{err}"
    );
    assert!(!dir.path().join("tables").exists());
    assert_eq!(
        fake.stats().total,
        0,
        "nothing asked of Notion before the state is readable"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

async fn table_rows_sorted(ctx: &datafusion::prelude::SessionContext, table: &str) -> Vec<Value> {
    let mut r = rows(
        ctx,
        &format!("SELECT * EXCEPT (_synced_at, _run_id) FROM {table} ORDER BY _id"),
    )
    .await;
    for row in &mut r {
        row.as_object_mut().unwrap().remove("sync_date");
        crate::lake::unsigned(row);
    }
    r
}

#[tokio::test]
async fn s3_lake_on_moto_holds_the_same_tables() {
    let moto = Moto::start("lake").await;
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let opts = moto.options();
    let opt_refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s3 = Lake::open_with("s3://lake/exports/acme", &opt_refs).unwrap();
    let report = sync_into(&fake, &s3).await;
    assert!(report.tables.iter().all(|t| {
        t.files
            .iter()
            .all(|f| f.path.starts_with("exports/acme/tables/"))
    }));
    let dir = tempfile::tempdir().unwrap();
    sync_into(&fake, &Lake::open(dir.path().to_str().unwrap()).unwrap()).await;

    let local = session(dir.path(), &[]).await;
    let remote = datafusion::prelude::SessionContext::new();
    notionlake::shell::register_lake(&remote, &s3)
        .await
        .unwrap();
    let mut compared = BTreeMap::new();
    for t in &report.tables {
        let (a, b) = (
            table_rows_sorted(&local, &t.table).await,
            table_rows_sorted(&remote, &t.table).await,
        );
        assert_eq!(a, b, "table {}", t.table);
        compared.insert(t.table.clone(), a.len());
    }
    assert_eq!(compared["deals"], 24);
    assert_eq!(compared.len(), 7);
    // The state landed on S3 too.
    assert!(
        s3.read("_notionlake/registry.json")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn pyarrow_and_duckdb_read_the_lake() {
    let d = demo_with(Some(TableFormat::Parquet)).await;
    let script = r#"
import json, sys, pyarrow.dataset as ds, pyarrow as pa, duckdb
root = sys.argv[1]
def canon(t):
    # pyarrow's type, spelled the way schemas/ spells it
    if pa.types.is_list(t): return f"list<{canon(t.value_type)}>"
    if pa.types.is_struct(t): return "struct<" + ", ".join(f"{f.name}: {canon(f.type)}" for f in t) + ">"
    if pa.types.is_timestamp(t): return f"timestamp[{t.unit}, {t.tz}]"
    if pa.types.is_float64(t): return "float64"
    if pa.types.is_boolean(t): return "bool"
    return str(t)
out = {}
for table in ["deals", "contacts", "tasks", "companies"]:
    dset = ds.dataset(f"{root}/tables/{table}", format="parquet", partitioning="hive")
    t = dset.to_table()
    duck = duckdb.sql(f"SELECT count(*) FROM read_parquet('{root}/tables/{table}/*/*.parquet', union_by_name = true, hive_partitioning = true)").fetchall()[0][0]
    out[table] = {"rows": t.num_rows, "duckdb_rows": duck, "types": {f.name: canon(f.type) for f in dset.schema}}
deal = duckdb.sql(f"SELECT close_date.start_text AS s, deal_id.text AS t, len(stakeholders) AS n FROM read_parquet('{root}/tables/deals/*/*.parquet') WHERE deal_id.number = 1").fetchall()[0]
out["duckdb_deal_1"] = [deal[0], deal[1], deal[2]]
print(json.dumps(out))
"#;
    let got: Value = serde_json::from_str(&run_python(script, &[d.dir.path()])).unwrap();
    for (table, n) in [
        ("deals", 24),
        ("contacts", 40),
        ("tasks", 36),
        ("companies", 6),
    ] {
        assert_eq!(got[table]["rows"], n, "{table} via pyarrow");
        assert_eq!(got[table]["duckdb_rows"], n, "{table} via duckdb");
    }
    // pyarrow sees the same types as our schema (our type names are pyarrow's spelling).
    let schema = d
        .ctx
        .table("deals")
        .await
        .unwrap()
        .schema()
        .as_arrow()
        .clone();
    let types = got["deals"]["types"].as_object().unwrap();
    for field in schema.fields() {
        let py = types
            .get(field.name())
            .unwrap_or_else(|| panic!("pyarrow lacks {}", field.name()));
        assert_eq!(
            py.as_str().unwrap(),
            type_name(field.data_type()),
            "{}",
            field.name()
        );
    }
    assert_eq!(got["duckdb_deal_1"], json!(["2026-09-01", "DEAL-1", 30]));
}

/// Regression: a rollup over a relation of more than 25 pages was taken from the page object,
/// which computes it over the first 25 related pages only.
#[tokio::test]
async fn rollups_over_more_than_25_related_pages_are_read_whole() {
    let mut ws = Workspace::new("w", 7, chrono::Utc::now() - chrono::Duration::days(2));
    let u = ws.bot.id.clone();
    let root = ws.add_page(FParent::Workspace, "Root", &u);
    ws.page_mut(&root).unwrap().shared = true;
    let def = |id: &str, name: &str, kind: &str, config: Value| PropDef {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        config,
    };
    let (_, items) = ws.add_database(
        &root,
        "Items",
        &u,
        vec![(
            "Items".into(),
            vec![
                def("title", "Name", "title", json!({})),
                def("iAmt", "Amount", "number", json!({"format": "number"})),
                def("iDue", "Due", "date", json!({})),
                def(
                    "iKnd",
                    "Kind",
                    "select",
                    json!({"options": [{"id": "k1", "name": "A", "color": "red"}]}),
                ),
            ],
        )],
    );
    let rollup = |id: &str, prop: &str, f: &str| {
        def(
            id,
            id,
            "rollup",
            json!({"relation_property_name": "Items", "relation_property_id": "gRel", "rollup_property_name": prop, "rollup_property_id": prop, "function": f}),
        )
    };
    let (_, groups) = ws.add_database(
        &root,
        "Groups",
        &u,
        vec![(
            "Groups".into(),
            vec![
                def("title", "Name", "title", json!({})),
                def("gRel", "Items", "relation", json!({"data_source_id": items[0], "type": "single_property", "single_property": {}})),
                rollup("gSum", "iAmt", "sum"),
                rollup("gCnt", "iAmt", "count"),
                rollup("gLat", "iDue", "latest_date"),
                rollup("gKnd", "iKnd", "show_original"),
                rollup("gNam", "title", "show_original"),
            ],
        )],
    );
    let mut related = Vec::new();
    for i in 1..=40 {
        let kind = if i % 10 == 0 {
            Value::Null
        } else {
            json!({"id": "k1", "name": "A", "color": "red"})
        };
        related.push(json!({"id": ws.add_row(
            &items[0],
            &u,
            vec![
                ("title", notionlake::fake::workspace::rt_array(&format!("Item {i}"))),
                ("iAmt", json!(i)),
                ("iDue", json!({"start": (chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(i - 1)).to_string(), "end": null, "time_zone": null})),
                ("iKnd", kind),
            ],
        )}));
    }
    let big = ws.add_row(
        &groups[0],
        &u,
        vec![
            ("title", notionlake::fake::workspace::rt_array("Big")),
            ("gRel", Value::Array(related.clone())),
        ],
    );
    let small = ws.add_row(
        &groups[0],
        &u,
        vec![
            ("title", notionlake::fake::workspace::rt_array("Small")),
            ("gRel", Value::Array(related[..3].to_vec())),
        ],
    );
    let fake = FakeNotion::start(ws, FakeConfig::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = sync_into(&fake, &Lake::open(dir.path().to_str().unwrap()).unwrap()).await;
    // The big group: its relation and five rollups, each read once (40 < page size 100); the
    // small group costs nothing extra.
    assert_eq!(
        fake.stats()
            .count("GET /v1/pages/{id}/properties/{property_id}"),
        6
    );
    assert_eq!(
        report
            .tables
            .iter()
            .map(|t| t.completed_values)
            .sum::<usize>(),
        6
    );
    let ctx = session(dir.path(), &["groups"]).await;
    let got = |id: &str| {
        let ctx = ctx.clone();
        let id = id.to_string();
        async move {
            rows(&ctx, &format!("SELECT g_sum['number'] AS sum, g_cnt['number'] AS cnt, g_lat['date']['start_text'] AS latest, g_knd['array'] AS kinds, g_nam['array'] AS names, cardinality(items) AS n FROM groups WHERE _id = '{id}'")).await.remove(0)
        }
    };
    let b = got(&big).await;
    assert_eq!(b["sum"], json!(820.0), "1 + … + 40, not 1 + … + 25 (325)");
    assert_eq!(b["cnt"], json!(40.0));
    assert_eq!(b["n"], json!(40));
    assert_eq!(
        b["latest"],
        json!("2026-02-09"),
        "item 40 is due last; item 25 on 2026-01-25"
    );
    let names = b["names"].as_array().unwrap();
    assert_eq!(names.len(), 40);
    assert_eq!(names[39], json!("Item 40"));
    let kinds = b["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 40);
    assert_eq!(
        kinds[9],
        Value::Null,
        "an item with no option is NULL, not ''"
    );
    assert_eq!(kinds[0], json!("A"));
    // Read 10 items a page, every page but the last carries a partial rollup: the last counts.
    fake.reset_stats();
    let paged = tempfile::tempdir().unwrap();
    let client = crate::client_with(notionlake::notion::ClientConfig {
        page_size: 10,
        ..crate::test_config(&fake, notionlake::notion::NotionVersion::V2025_09_03)
    });
    notionlake::sync::sync_workspace(
        &client,
        &Lake::open(paged.path().to_str().unwrap()).unwrap(),
        &notionlake::sync::SyncOptions::tables_only(),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.stats()
            .count("GET /v1/pages/{id}/properties/{property_id}"),
        6 * 4
    );
    let ctx10 = session(paged.path(), &["groups"]).await;
    let sum = rows(&ctx10, &format!("SELECT g_sum['number'] AS sum, cardinality(g_nam['array']) AS n FROM groups WHERE _id = '{big}'")).await;
    assert_eq!(sum[0], json!({"sum": 820.0, "n": 40}));
    let s = got(&small).await;
    assert_eq!(s["sum"], json!(6.0));
    assert_eq!(s["kinds"], json!(["A", "A", "A"]));
}
