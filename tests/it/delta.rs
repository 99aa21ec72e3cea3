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
    assert_eq!(first.len(), 16, "{first:?}");

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
