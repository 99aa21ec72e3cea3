//! Delta Lake tables read by engines that are not ours (Python's `deltalake` and Polars) equal
//! the shell's latest tables through edits, deletions, schema changes and a full refresh, on
//! disk and on S3; Change Data Feed shows exactly a sync's changes; the format is recorded and
//! never mixed; optimize and vacuum keep the rows; two syncs never both commit.

use std::collections::BTreeMap;
use std::path::Path;

use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::notion::NotionVersion;
use notionlake::shell::register_lake;
use notionlake::sink::{Lake, TableFormat};
use notionlake::sync::{SyncError, SyncOptions, SyncReport, sync_workspace};
use serde_json::{Value, json};

use crate::lake::{Moto, run_python};
use crate::{client_with, demo_fake, test_config};

async fn sync(fake: &FakeNotion, lake: &Lake, options: &SyncOptions) -> SyncReport {
    let client = client_with(test_config(fake, NotionVersion::V2025_09_03));
    sync_workspace(&client, lake, options).await.expect("sync")
}

/// Writes the shell's latest rows of every table of `lake` as one Parquet file per table into
/// `out`; returns the table names with their Delta directories.
async fn export_latest(lake: &Lake, out: &Path) -> BTreeMap<String, String> {
    let ctx = datafusion::prelude::SessionContext::new();
    let tables = register_lake(&ctx, lake).await.unwrap();
    let mut dirs = BTreeMap::new();
    for t in tables {
        let file = out.join(format!("{}.parquet", t.name));
        ctx.sql(&format!("SELECT * FROM \"{}\"", t.name))
            .await
            .unwrap()
            .write_parquet(
                file.to_str().unwrap(),
                datafusion::dataframe::DataFrameWriteOptions::new(),
                None,
            )
            .await
            .unwrap();
        let dir = if t.data_source {
            format!("tables/{}", t.name)
        } else {
            t.name.clone()
        };
        dirs.insert(t.name, dir);
    }
    dirs
}

/// Reads every table of the lake at `root` (a directory or `s3://…`) with Python's deltalake
/// and with Polars, and compares each with the shell's latest rows: prints, per table, the row
/// count and whether each reader got exactly those rows.
const COMPARE: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq, polars as pl
from deltalake import DeltaTable
spec = json.load(open(sys.argv[1]))
opts = spec["storage_options"] or None
def canon(dicts):
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in dicts)
def rows(tbl, cols):
    return canon(pa.table(tbl).select(cols).to_pylist())
out = {}
for name, d in spec["tables"].items():
    shell = pq.read_table(f"{spec['export']}/{name}.parquet")
    cols = shell.column_names
    want = rows(shell, cols)
    uri = f"{spec['root']}/{d}"
    dl = rows(DeltaTable(uri, storage_options=opts).to_pyarrow_table(), cols)
    po = canon(pl.read_delta(uri, storage_options=opts).select(cols).to_dicts())
    out[name] = {"rows": len(want), "deltalake": dl == want, "polars": po == want}
print(json.dumps(out))
"#;

/// Compares every table with Python's deltalake and Polars; returns the row counts.
async fn external_readers_agree(
    lake: &Lake,
    root: &str,
    storage: Option<Value>,
) -> BTreeMap<String, usize> {
    let export = tempfile::tempdir().unwrap();
    let tables = export_latest(lake, export.path()).await;
    let spec = json!({
        "root": root,
        "export": export.path(),
        "tables": tables,
        "storage_options": storage,
    });
    let spec_file = export.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let got: BTreeMap<String, Value> =
        serde_json::from_str(&run_python(COMPARE, &[spec_file.as_path()])).unwrap();
    assert_eq!(got.len(), tables.len(), "{got:?}");
    for (table, r) in &got {
        assert_eq!(r["deltalake"], true, "deltalake differs on {table}");
        assert_eq!(r["polars"], true, "polars differs on {table}");
    }
    got.into_iter()
        .map(|(t, r)| (t, r["rows"].as_u64().unwrap() as usize))
        .collect()
}

/// Edits between two syncs: a deal's amount, three deals with a new property and a property
/// whose type changed, a trashed deal, a renamed property, and a block deleted from a page.
/// Returns (edited deals, the trashed deal, the page whose block was deleted, the block).
fn edit_workspace(fake: &FakeNotion, ids: &DemoIds) -> (Vec<String>, String, String, String) {
    use notionlake::fake::workspace::PropDef;
    let mut ws = fake.workspace_mut();
    let editor = ids.people["ada"].clone();
    let deals = ws.data_sources[&ids.data_sources["Deals"]].rows.clone();
    {
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
        ds.properties
            .iter_mut()
            .find(|p| p.id == "dPri")
            .unwrap()
            .kind = "rich_text".into();
    }
    for id in &deals[0..3] {
        ws.edit_page_now(id, &editor, |p| {
            p.properties.insert("dReg".into(), json!({"id": "r-emea", "name": "EMEA", "color": "blue"}));
            p.properties.insert("dPri".into(), json!([{"type": "text", "text": {"content": "urgent", "link": null}, "annotations": {"bold": true, "italic": false, "strikethrough": false, "underline": false, "code": false, "color": "default"}, "plain_text": "urgent", "href": null}]));
        });
    }
    ws.edit_page_now(&deals[3], &editor, |p| {
        p.properties.insert("dAmt".into(), json!(1.0));
    });
    ws.edit_page_now(&deals[4], &editor, |p| p.in_trash = true);
    let page = ids.block_gallery.clone();
    let mut removed = String::new();
    ws.edit_page_now(&page, &editor, |p| removed = p.children.remove(0));
    (deals[0..4].to_vec(), deals[4].clone(), page, removed)
}

/// The Change Data Feed of the deals table over the commits of run `run_id`, as Python's
/// deltalake reads it: `{change type: [ids]}`.
fn deals_changes_of_run(root: &str, run_id: &str, storage: Option<&Value>) -> Value {
    let script = r#"
import json, sys
from deltalake import DeltaTable
root, run, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
t = DeltaTable(f"{root}/tables/deals", storage_options=opts or None)
versions = [h["version"] for h in t.history() if h.get("notionlake.run_id") == run]
import pyarrow as pa
cdf = pa.table(t.load_cdf(starting_version=min(versions), ending_version=max(versions)).read_all()).to_pylist()
out = {}
for r in cdf:
    out.setdefault(r["_change_type"], []).append(r["_id"])
print(json.dumps({k: sorted(v) for k, v in out.items()}))
"#;
    let storage = storage.map(Value::to_string).unwrap_or("null".into());
    let args = [
        Path::new(root),
        Path::new(run_id),
        Path::new(storage.as_str()),
    ];
    serde_json::from_str(&run_python(script, &args)).unwrap()
}

async fn shell_count(lake: &Lake, sql: &str) -> i64 {
    let ctx = datafusion::prelude::SessionContext::new();
    register_lake(&ctx, lake).await.unwrap();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let col =
        arrow::compute::cast(batches[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    col.as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0)
}

/// The whole scenario on `lake` (whose location other engines reach as `root`).
async fn readers_follow_every_change(lake: &Lake, root: &str, storage: Option<Value>) {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let options = SyncOptions::default();
    sync(&fake, lake, &options).await;
    let first = external_readers_agree(lake, root, storage.clone()).await;
    assert_eq!(first["deals"], 24);
    // The demo's twelve references to Notion-hosted files are a table too.
    assert_eq!(first["files"], 12);
    assert_eq!(first.len(), 18, "{first:?}");

    let (edited, trashed, page, block) = edit_workspace(&fake, &ids);
    let second = sync(&fake, lake, &options).await;
    let counts = external_readers_agree(lake, root, storage.clone()).await;
    assert_eq!(counts["deals"], 23, "the trashed deal left the table");
    // The Change Data Feed of the second sync: exactly the edited deals' updates and the
    // trashed one's deletion.
    let mut edited = edited;
    edited.sort();
    let changes = deals_changes_of_run(root, &second.run_id, storage.as_ref());
    assert_eq!(
        changes,
        json!({"update_preimage": edited, "update_postimage": edited, "delete": [trashed]})
    );
    assert_eq!(
        shell_count(
            lake,
            &format!("SELECT count(*) FROM blocks WHERE id = '{block}'")
        )
        .await,
        0,
        "the deleted block left the blocks table"
    );
    assert!(
        shell_count(
            lake,
            &format!("SELECT count(*) FROM blocks WHERE page_id = '{page}'")
        )
        .await
            > 10
    );
    assert_eq!(
        shell_count(lake, "SELECT count(*) FROM deals WHERE region = 'EMEA' AND priority__rich_text = 'urgent' AND amount IS NOT NULL").await,
        3,
        "new and retyped columns, and the renamed column kept"
    );
    // The formatted value of the retyped property has its items; the trashed deal has none.
    assert_eq!(
        shell_count(
            lake,
            &format!("SELECT count(*) FROM rich_text_items WHERE page_id = '{trashed}'")
        )
        .await,
        0
    );

    // A row deleted for good is found by the next full refresh, and leaves the table.
    let vanished = {
        let mut ws = fake.workspace_mut();
        let contact = ws.data_sources[&ids.data_sources["Contacts"]].rows[0].clone();
        ws.delete_page(&contact);
        contact
    };
    let full = SyncOptions {
        full_refresh: true,
        ..SyncOptions::default()
    };
    sync(&fake, lake, &full).await;
    let after = external_readers_agree(lake, root, storage).await;
    assert_eq!(after["contacts"], 39);
    assert_eq!(
        shell_count(
            lake,
            &format!("SELECT count(*) FROM pages WHERE id = '{vanished}'")
        )
        .await,
        0
    );
    assert_eq!(after["deals"], 23);
}

#[tokio::test]
async fn other_engines_read_the_same_current_tables_after_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    readers_follow_every_change(&lake, dir.path().to_str().unwrap(), None).await;
}

#[tokio::test]
async fn other_engines_read_the_same_current_tables_on_s3() {
    let moto = Moto::start("delta").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://delta/lake", &refs).unwrap();
    let storage = json!({
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    });
    readers_follow_every_change(&lake, "s3://delta/lake", Some(storage)).await;
}

#[tokio::test]
async fn a_lake_keeps_its_format() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync(&fake, &lake, &SyncOptions::tables_only()).await;
    assert_eq!(
        TableFormat::of_lake(&lake).await.unwrap(),
        Some(TableFormat::Delta),
        "Delta is the default of a new lake"
    );
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let parquet = SyncOptions {
        format: Some(TableFormat::Parquet),
        ..SyncOptions::tables_only()
    };
    let err = sync_workspace(&client, &lake, &parquet).await.unwrap_err();
    assert!(matches!(err, SyncError::FormatMismatch { .. }), "{err}");
    assert!(err.to_string().contains("holds delta tables"), "{err}");
    // A Parquet lake stays Parquet.
    let other = tempfile::tempdir().unwrap();
    let plake = Lake::open(other.path().to_str().unwrap()).unwrap();
    sync(&fake, &plake, &parquet).await;
    assert!(
        other
            .path()
            .join("tables/deals")
            .read_dir()
            .unwrap()
            .any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("sync_date=")
            })
    );
    let delta = SyncOptions {
        format: Some(TableFormat::Delta),
        ..SyncOptions::tables_only()
    };
    assert!(matches!(
        sync_workspace(&client, &plake, &delta).await.unwrap_err(),
        SyncError::FormatMismatch { .. }
    ));
}

/// The number of files in the current version of the table in `dir`.
async fn current_files(lake: &Lake, dir: &str) -> usize {
    let table = notionlake::sink::delta::open_table(lake, dir)
        .await
        .unwrap()
        .unwrap();
    notionlake::sink::delta::current_files(&table, dir)
        .unwrap()
        .len()
}

/// Adds a company row edited 5 minutes before the `i`th sync after the one at `t0` (syncs 10
/// minutes apart), so that exactly one sync reads it; returns that sync's start.
fn add_company(
    fake: &FakeNotion,
    ids: &DemoIds,
    t0: chrono::DateTime<chrono::Utc>,
    i: usize,
) -> chrono::DateTime<chrono::Utc> {
    let at = t0 + chrono::Duration::minutes(10 * (i as i64 + 1));
    let mut ws = fake.workspace_mut();
    let id = ws.add_row(
        &ids.data_sources["Companies"],
        &ids.people["ada"],
        vec![("title", json!(format!("New company {i}")))],
    );
    let page = ws.page_mut(&id).unwrap();
    page.created_time = at - chrono::Duration::minutes(5);
    page.last_edited_time = page.created_time;
    at
}

#[tokio::test]
async fn a_table_with_too_many_small_files_is_compacted_by_the_sync() {
    use notionlake::sink::delta::maintain::AUTO_COMPACT_FILES;
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let options = SyncOptions::tables_only();
    let t0 = chrono::Utc::now();
    sync(
        &fake,
        &lake,
        &SyncOptions {
            now: Some(t0),
            ..options.clone()
        },
    )
    .await;
    let mut most = 0;
    for i in 0..=AUTO_COMPACT_FILES {
        // A new row each sync: a MERGE that only inserts adds a file and rewrites none.
        let at = add_company(&fake, &ids, t0, i);
        sync(
            &fake,
            &lake,
            &SyncOptions {
                now: Some(at),
                ..options.clone()
            },
        )
        .await;
        let files = current_files(&lake, "tables/companies").await;
        assert!(
            files <= AUTO_COMPACT_FILES,
            "sync {i}: {files} files, more than {AUTO_COMPACT_FILES}"
        );
        most = most.max(files);
    }
    assert_eq!(most, AUTO_COMPACT_FILES, "files gathered up to the limit");
    assert_eq!(
        shell_count(&lake, "SELECT count(*) FROM companies").await,
        6 + i64::try_from(AUTO_COMPACT_FILES).unwrap() + 1
    );
}

#[tokio::test]
async fn optimize_and_vacuum_keep_the_rows_and_time_travel_says_what_is_gone() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let lake = Lake::open(root).unwrap();
    let options = SyncOptions::tables_only();
    let t0 = chrono::Utc::now();
    sync(
        &fake,
        &lake,
        &SyncOptions {
            now: Some(t0),
            ..options.clone()
        },
    )
    .await;
    for i in 0..5 {
        let at = add_company(&fake, &ids, t0, i);
        sync(
            &fake,
            &lake,
            &SyncOptions {
                now: Some(at),
                ..options.clone()
            },
        )
        .await;
    }
    let export = tempfile::tempdir().unwrap();
    export_latest(&lake, export.path()).await;
    let before = std::fs::read(export.path().join("companies.parquet")).unwrap();
    assert_eq!(current_files(&lake, "tables/companies").await, 6);
    // Time travel by version and by timestamp, before anything is vacuumed.
    let travel = r#"
import sys, json, datetime, pyarrow as pa
from deltalake import DeltaTable
t = DeltaTable(f"{sys.argv[1]}/tables/companies", version=0)
n0 = pa.table(t.to_pyarrow_table()).num_rows
latest = DeltaTable(f"{sys.argv[1]}/tables/companies")
ts = {h["version"]: h["timestamp"] for h in latest.history()}
# Between the commits of versions 2 and 3.
latest.load_as_version(datetime.datetime.fromtimestamp((ts[2] + ts[3]) / 2000, datetime.timezone.utc))
print(json.dumps([n0, latest.version(), pa.table(latest.to_pyarrow_table()).num_rows]))
"#;
    let got: Value = serde_json::from_str(&run_python(travel, &[dir.path()])).unwrap();
    assert_eq!(got, json!([6, 2, 8]));

    let bin = env!("CARGO_BIN_EXE_notionlake");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let optimized = run(&["optimize", "--lake", root]);
    assert!(
        optimized.contains("tables/companies: 6 files -> 1"),
        "{optimized}"
    );
    assert_eq!(current_files(&lake, "tables/companies").await, 1);
    let on_disk = |d: &Path| {
        std::fs::read_dir(d.join("tables/companies"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "parquet")
            })
            .count()
    };
    let files_before_vacuum = on_disk(dir.path());
    let vacuumed = run(&["vacuum", "--lake", root, "--retain", "0s"]);
    assert!(vacuumed.contains("tables/companies:"), "{vacuumed}");
    assert_eq!(on_disk(dir.path()), 1, "from {files_before_vacuum} files");
    // Same rows.
    let again = tempfile::tempdir().unwrap();
    export_latest(&lake, again.path()).await;
    let ctx = datafusion::prelude::SessionContext::new();
    for (name, d) in [("before", export.path()), ("after", again.path())] {
        ctx.register_parquet(
            name,
            d.join("companies.parquet").to_str().unwrap(),
            Default::default(),
        )
        .await
        .unwrap();
    }
    assert!(!before.is_empty());
    assert_eq!(
        crate::lake::rows(&ctx, "SELECT * FROM before ORDER BY _id").await,
        crate::lake::rows(&ctx, "SELECT * FROM after ORDER BY _id").await
    );
    // Version 0's files are gone: reading it fails and says which file is missing.
    let gone = std::process::Command::new(crate::lake::python())
        .arg("-c")
        .arg("import sys, pyarrow as pa\nfrom deltalake import DeltaTable\npa.table(DeltaTable(sys.argv[1] + '/tables/companies', version=0).to_pyarrow_table())")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!gone.status.success());
    let err = String::from_utf8_lossy(&gone.stderr);
    assert!(
        err.contains("part-") && (err.contains("not found") || err.contains("No such file")),
        "{err}"
    );
}

/// Two syncs started together on one lake: one commits, the other refuses with the lock
/// error, and every table is readable and whole afterwards.
async fn two_syncs_at_once(lake: &Lake) {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let options = SyncOptions::default();
    let (a, b) = tokio::join!(
        sync_workspace(&client, lake, &options),
        sync_workspace(&client, lake, &options)
    );
    let (ok, refused) = match (a, b) {
        (Ok(r), Err(e)) | (Err(e), Ok(r)) => (r, e),
        (a, b) => panic!("expected one sync to refuse: {:?} / {:?}", a.err(), b.err()),
    };
    assert!(matches!(refused, SyncError::Locked(_)), "{refused}");
    assert!(refused.to_string().contains(&ok.run_id), "{refused}");
    assert_eq!(shell_count(lake, "SELECT count(*) FROM deals").await, 24);
    assert!(shell_count(lake, "SELECT count(*) FROM blocks").await > 200);
    // The next sync runs normally.
    sync(&fake, lake, &options).await;
    assert_eq!(shell_count(lake, "SELECT count(*) FROM deals").await, 24);
}

#[tokio::test]
async fn two_syncs_at_once_one_refuses() {
    let dir = tempfile::tempdir().unwrap();
    two_syncs_at_once(&Lake::open(dir.path().to_str().unwrap()).unwrap()).await;
}

#[tokio::test]
async fn two_syncs_at_once_one_refuses_on_s3() {
    let moto = Moto::start("race").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    two_syncs_at_once(&Lake::open_with("s3://race/lake", &refs).unwrap()).await;
}

/// A row read again unchanged (the cursor's safety margin) rewrites nothing and adds no
/// version: the table keeps its rows, its files and its change feed.
#[tokio::test]
async fn a_row_read_again_unchanged_leaves_the_table_as_it_was() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let options = SyncOptions::tables_only();
    let t0 = chrono::Utc::now();
    sync(
        &fake,
        &lake,
        &SyncOptions {
            now: Some(t0),
            ..options.clone()
        },
    )
    .await;
    let at = add_company(&fake, &ids, t0, 0);
    {
        // Edited in the minute of the sync that reads it (so not settled then): the next sync
        // reads it again, inside its margin. A settled row listed again is not read again.
        let mut ws = fake.workspace_mut();
        let row = ws.data_sources[&ids.data_sources["Companies"]]
            .rows
            .last()
            .unwrap()
            .clone();
        ws.page_mut(&row).unwrap().last_edited_time = notionlake::fake::workspace::minute_floor(at);
    }
    let second = sync(
        &fake,
        &lake,
        &SyncOptions {
            now: Some(at),
            ..options.clone()
        },
    )
    .await;
    assert_eq!(
        second
            .tables
            .iter()
            .find(|t| t.table == "companies")
            .unwrap()
            .rows,
        1
    );
    let version = |lake: &Lake| {
        let lake = lake.clone();
        async move {
            notionlake::sink::delta::open_table(&lake, "tables/companies")
                .await
                .unwrap()
                .unwrap()
                .version()
        }
    };
    let before = (
        version(&lake).await,
        current_files(&lake, "tables/companies").await,
    );
    let later = at + chrono::Duration::minutes(1);
    let third = sync(
        &fake,
        &lake,
        &SyncOptions {
            now: Some(later),
            ..options.clone()
        },
    )
    .await;
    assert_eq!(
        third
            .tables
            .iter()
            .find(|t| t.table == "companies")
            .unwrap()
            .rows,
        1,
        "the row is read again"
    );
    assert_eq!(
        (
            version(&lake).await,
            current_files(&lake, "tables/companies").await
        ),
        before
    );
    assert_eq!(
        shell_count(&lake, "SELECT count(*) FROM companies").await,
        7
    );
    assert_eq!(
        shell_count(&lake, "SELECT count(*) FROM companies_history").await,
        7,
        "no change recorded"
    );
}
