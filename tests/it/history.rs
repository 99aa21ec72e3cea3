//! Delta history survives the lake's own upkeep. Full refreshes (deltalake's MERGE writes its
//! own files), `optimize`, automatic compaction (of appended tombstones too), an interrupted
//! run's cleanup and plain syncs: afterwards every version of every table reads through
//! Python's deltalake (time travel), and every `_history` view and Change Data Feed reads.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::{CommentsMode, Selection, SyncOptions};
use serde_json::{Value, json};

use crate::demo_fake;
use crate::lake::{run_python, sync_with};

/// Every version of every Delta table under the lake at `argv[1]`, and each table's Change
/// Data Feed from version 0: per table, the versions, those that fail to read (with the
/// error), whether the feed reads, and the operations of its history.
const EVERY_VERSION: &str = r#"
import json, sys, pyarrow as pa
from deltalake import DeltaTable
root, tables = sys.argv[1], json.loads(sys.argv[2])
out = {}
for d in tables:
    uri = f"{root}/{d}"
    latest = DeltaTable(uri)
    bad = {}
    for v in range(latest.version() + 1):
        try:
            pa.table(DeltaTable(uri, version=v).to_pyarrow_table())
        except Exception as e:
            bad[v] = str(e)[:300]
    try:
        pa.table(latest.load_cdf(starting_version=0).read_all())
        cdf = "ok"
    except Exception as e:
        cdf = str(e)[:300]
    ops = sorted({h.get("operation", "") for h in latest.history()})
    out[d] = {"versions": latest.version() + 1, "unreadable": bad, "cdf": cdf, "operations": ops}
print(json.dumps(out))
"#;

fn at(t0: DateTime<Utc>, step: i64) -> SyncOptions {
    SyncOptions {
        now: Some(t0 + Duration::minutes(10 * step)),
        ..SyncOptions::default()
    }
}

fn deal(fake: &FakeNotion, ids: &DemoIds, n: usize) -> String {
    fake.workspace().data_sources[&ids.data_sources["Deals"]].rows[n].clone()
}

/// Two companies created 5 minutes before sync `step` (so exactly that sync reads them); the
/// second one of the step before goes to the trash. Each sync adds a file to `companies` (its
/// file of the step before keeps a row) and appends a tombstone.
fn churn_companies(
    fake: &FakeNotion,
    ids: &DemoIds,
    t0: DateTime<Utc>,
    step: i64,
    last: &mut Option<String>,
) {
    let when = t0 + Duration::minutes(10 * step - 5);
    let mut ws = fake.workspace_mut();
    let mut add = |name: String| {
        let id = ws.add_row(
            &ids.data_sources["Companies"],
            &ids.people["ada"],
            vec![("title", json!(name))],
        );
        let page = ws.page_mut(&id).unwrap();
        page.created_time = when;
        page.last_edited_time = when;
        id
    };
    add(format!("Kept {step}"));
    let churned = add(format!("Churned {step}"));
    if let Some(old) = last.replace(churned) {
        let page = ws.page_mut(&old).unwrap();
        page.in_trash = true;
        page.last_edited_time = when;
    }
}

/// A data file the way a run stages one, for run `run` that never committed.
fn plant_staged_file(root: &Path, dir: &str, run: &str) -> std::path::PathBuf {
    let table = root.join(dir);
    let any = std::fs::read_dir(&table)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "parquet"))
        .expect("a data file");
    let planted = table.join(format!("part-{run}-00000.parquet"));
    std::fs::copy(any, &planted).unwrap();
    planted
}

/// The scenario of the regression: two full refreshes with a row trashed between them, then a
/// plain sync, used to delete deltalake's MERGE files at that sync's start, so that version 1
/// of `deals`, `pages` and `documents` could no longer be read; compaction's and tombstone
/// appends' files went the same way.
#[tokio::test]
async fn every_version_of_every_table_reads_after_refreshes_optimize_compaction_and_cleanup() {
    use notionlake::sink::delta::maintain::AUTO_COMPACT_FILES;
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let lake = Lake::open(&root).unwrap();
    let t0 = Utc::now();
    let full = |step| SyncOptions {
        full_refresh: true,
        ..at(t0, step)
    };
    sync_with(&fake, &lake, &at(t0, 0)).await;
    let trashed = deal(&fake, &ids, 4);
    fake.workspace_mut()
        .edit_page_now(&trashed, &ids.people["ada"], |p| p.in_trash = true);
    sync_with(&fake, &lake, &full(1)).await;
    let edited = deal(&fake, &ids, 2);
    fake.workspace_mut()
        .edit_page_now(&edited, &ids.people["ada"], |p| {
            p.properties.insert("dAmt".into(), json!(4242.0));
        });
    sync_with(&fake, &lake, &full(2)).await;
    sync_with(&fake, &lake, &at(t0, 3)).await;

    // An interrupted run: staged files (a table's and its change feed's) of a run that has no
    // run record and that no log names. They go; nothing else does.
    let ghost = "20200101T000000Z-dead";
    let planted = plant_staged_file(dir.path(), "tables/deals", ghost);
    std::fs::create_dir_all(dir.path().join("tables/deals/_change_data")).unwrap();
    let planted_feed = dir.path().join(format!(
        "tables/deals/_change_data/part-{ghost}-00000.parquet"
    ));
    std::fs::copy(&planted, &planted_feed).unwrap();
    sync_with(&fake, &lake, &at(t0, 4)).await;
    assert!(
        !planted.exists() && !planted_feed.exists(),
        "the interrupted run's files are removed"
    );

    let bin = env!("CARGO_BIN_EXE_notionlake");
    let out = std::process::Command::new(bin)
        .args(["optimize", "--lake", &root])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Enough syncs that inserting and trashing a company each time compacts `companies` and
    // `tombstones` by themselves.
    let mut last = None;
    // Rows and pages (a trashed row is found by search), no content. No scheduled full
    // refresh in between: it would rewrite the tables before they compact.
    let rows_and_pages = |step| SyncOptions {
        now: Some(t0 + Duration::minutes(10 * step)),
        full_every: 0,
        selection: Selection {
            blocks: false,
            ..Selection::default()
        },
        comments: CommentsMode::None,
        ..SyncOptions::default()
    };
    for step in 5..(5 + AUTO_COMPACT_FILES as i64 + 3) {
        churn_companies(&fake, &ids, t0, step, &mut last);
        sync_with(&fake, &lake, &rows_and_pages(step)).await;
    }
    let step = 6 + AUTO_COMPACT_FILES as i64 + 3;
    sync_with(&fake, &lake, &full(step)).await;
    sync_with(&fake, &lake, &at(t0, step + 1)).await;

    let tables: Vec<String> = notionlake::sink::delta::table_dirs(&lake).await.unwrap();
    let list = serde_json::to_string(&tables).unwrap();
    let got: Value = serde_json::from_str(&run_python(
        EVERY_VERSION,
        &[Path::new(&root), Path::new(&list)],
    ))
    .unwrap();
    let (mut versions, mut unreadable, mut feeds) = (0, Vec::new(), Vec::new());
    for (table, r) in got.as_object().unwrap() {
        versions += r["versions"].as_u64().unwrap();
        for (v, e) in r["unreadable"].as_object().unwrap() {
            unreadable.push(format!("{table} v{v}: {e}"));
        }
        if r["cdf"] != "ok" {
            feeds.push(format!("{table}: {}", r["cdf"]));
        }
    }
    assert!(
        unreadable.is_empty() && feeds.is_empty(),
        "{} of {versions} versions unreadable: {unreadable:#?}; change feeds unreadable: {feeds:#?}",
        unreadable.len()
    );
    // Created, then merged by both full refreshes (deltalake's MERGE files in older versions).
    for table in ["tables/deals", "pages", "documents"] {
        assert!(
            got[table]["versions"].as_u64().unwrap() >= 3
                && got[table]["operations"].to_string().contains("MERGE"),
            "{table}: {}",
            got[table]
        );
    }
    for table in ["tables/companies", "tombstones"] {
        let ops = got[table]["operations"].to_string();
        assert!(ops.contains("OPTIMIZE"), "{table} was compacted: {ops}");
    }

    // Every `_history` view reads (the Change Data Feed of every version).
    let ctx = datafusion::prelude::SessionContext::new();
    let registered = notionlake::shell::register_lake(&ctx, &lake).await.unwrap();
    assert!(registered.len() >= 17, "{registered:?}");
    for t in &registered {
        let sql = format!("SELECT count(*) FROM \"{}\"", t.history);
        let rows = ctx.sql(&sql).await.unwrap().collect().await;
        assert!(rows.is_ok(), "{}: {:?}", t.history, rows.err());
    }
    let tombstones = crate::lake::rows(&ctx, "SELECT count(*) AS n FROM tombstones_history").await;
    assert!(
        tombstones[0]["n"].as_i64().unwrap() >= AUTO_COMPACT_FILES as i64,
        "{tombstones:?}"
    );
}
