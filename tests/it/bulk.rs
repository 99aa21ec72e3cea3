//! Bulk imports: more rows created in one (minute-rounded) `created_time` than one query
//! returns. The sync divides such a minute with filters on the data source's properties until
//! every part is under the cap, and fails the table with an error naming the minute when no
//! property can divide it; it never warns and loses rows.

use notionlake::fake::workspace::{FParent, PropDef, Workspace, rt_array};
use notionlake::fake::{FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::{SyncError, SyncOptions, sync_workspace};
use serde_json::{Value, json};

use crate::lake::{rows, session};
use crate::{client_with, test_config};

/// The query cap of these tests.
const CAP: usize = 100;

fn def(id: &str, name: &str, kind: &str, config: Value) -> PropDef {
    PropDef {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        config,
    }
}

/// A data source of 250 rows, 120 of them created in one minute, with `props` besides the
/// title; `value(i)` gives row i's values of those.
fn workspace(
    props: Vec<PropDef>,
    value: impl Fn(usize) -> Vec<(&'static str, Value)>,
) -> Workspace {
    let mut ws = Workspace::new("bulk", 11, chrono::Utc::now() - chrono::Duration::days(3));
    let u = ws.bot.id.clone();
    let root = ws.add_page(FParent::Workspace, "Root", &u);
    ws.page_mut(&root).unwrap().shared = true;
    let mut schema = vec![def("title", "Name", "title", json!({}))];
    schema.extend(props);
    let (_, ds) = ws.add_database(&root, "Imported", &u, vec![("Imported".into(), schema)]);
    let import_minute = ws.now() + chrono::Duration::hours(1);
    for i in 0..250 {
        let mut values = vec![("title", rt_array(&format!("Row {i}")))];
        values.extend(value(i));
        let id = ws.add_row(&ds[0], &u, values);
        if (60..180).contains(&i) {
            let p = ws.page_mut(&id).unwrap();
            p.created_time = import_minute;
            p.last_edited_time = import_minute;
        }
    }
    ws
}

async fn sync(
    ws: Workspace,
) -> (
    tempfile::TempDir,
    FakeNotion,
    Result<notionlake::sync::SyncReport, SyncError>,
) {
    let fake = FakeNotion::start(
        ws,
        FakeConfig {
            query_cap: CAP,
            ..FakeConfig::unlimited()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let client = client_with(test_config(
        &fake,
        notionlake::notion::NotionVersion::V2025_09_03,
    ));
    let report = sync_workspace(&client, &lake, &SyncOptions::tables_only()).await;
    (dir, fake, report)
}

async fn landed(dir: &tempfile::TempDir) -> Vec<Value> {
    let ctx = session(dir.path(), &["imported"]).await;
    rows(
        &ctx,
        "SELECT count(*) AS n, count(DISTINCT _id) AS ids FROM imported",
    )
    .await
}

/// Regression: with the cap at 100 and 120 rows created in one minute, 150 rows never reached
/// the lake and the run only warned "some may be missing".
#[tokio::test]
async fn a_unique_id_divides_a_minute_past_the_cap() {
    let ws = workspace(
        vec![def("key", "Key", "unique_id", json!({"prefix": "IMP"}))],
        |i| vec![("key", json!({"prefix": "IMP", "number": i + 1}))],
    );
    let (dir, _fake, report) = sync(ws).await;
    let report = report.unwrap();
    assert!(
        report.warnings.iter().all(|w| !w.contains("missing")),
        "{:?}",
        report.warnings
    );
    assert_eq!(landed(&dir).await, vec![json!({"n": 250, "ids": 250})]);
}

#[tokio::test]
async fn options_checkboxes_and_numbers_divide_a_minute_when_no_unique_id_exists() {
    // A status of three options (and rows with none), each part under the cap.
    let stages = ["Lead", "Won", "Lost"];
    let ws = workspace(
        vec![def(
            "stage",
            "Stage",
            "status",
            json!({"options": stages.iter().map(|s| json!({"name": s})).collect::<Vec<_>>()}),
        )],
        |i| match i % 4 {
            3 => vec![],
            k => vec![("stage", json!({"name": stages[k], "color": "default"}))],
        },
    );
    let (dir, _fake, report) = sync(ws).await;
    report.unwrap();
    assert_eq!(landed(&dir).await, vec![json!({"n": 250, "ids": 250})]);

    // A number that every row of the minute shares (120 rows, more than the cap, one value):
    // read in order of the number, that value's rows are divided by the checkbox.
    let ws = workspace(
        vec![
            def("amt", "Amount", "number", json!({"format": "number"})),
            def("done", "Done", "checkbox", json!({})),
        ],
        |i| {
            let amount = if (60..180).contains(&i) {
                0.0
            } else {
                i as f64
            };
            vec![("amt", json!(amount)), ("done", json!(i % 3 == 0))]
        },
    );
    let (dir, fake, report) = sync(ws).await;
    report.unwrap();
    assert_eq!(landed(&dir).await, vec![json!({"n": 250, "ids": 250})]);
    assert!(
        fake.stats().count("POST /v1/data_sources/{id}/query") > 3,
        "the minute was divided"
    );
}

#[tokio::test]
async fn a_minute_no_property_can_divide_fails_the_table_naming_it() {
    let ws = workspace(
        vec![def("note", "Note", "rich_text", json!({}))],
        |_| vec![],
    );
    let minute = {
        ws.pages
            .iter()
            .filter(|p| matches!(p.parent, FParent::DataSource(_)))
            .nth(60)
            .unwrap()
            .created_time
    };
    let (dir, _fake, report) = sync(ws).await;
    let err = report.unwrap_err();
    assert!(matches!(err, SyncError::Unsplittable { .. }), "{err}");
    let text = err.to_string();
    let shown = minute.format("%Y-%m-%dT%H:%M").to_string();
    assert!(text.contains("imported") && text.contains(&shown), "{text}");
    assert!(text.contains("unique_id"), "says what to do: {text}");
    assert!(
        !dir.path().join("_notionlake/registry.json").exists(),
        "nothing committed"
    );
}
