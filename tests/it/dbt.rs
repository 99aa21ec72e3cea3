//! `notionlake dbt` built by real dbt (dbt-core 1.10 and dbt-duckdb 1.10 with its `delta`
//! plugin, from the test venv): on the demo lake every model builds and every test passes; on
//! a lake named in eight scripts; and after a schema change (a new property, a renamed one, a
//! type change with its `__<type>` column), regenerating updates the package, keeps the model
//! a user edited, and dbt builds again with the new column.

use std::path::Path;
use std::process::Command;

use notionlake::dbt::{Adapter, generate};
use notionlake::fake::{FakeConfig, FakeNotion};
use notionlake::sink::Lake;
use notionlake::sync::SyncOptions;
use serde_json::json;

use crate::demo_fake;
use crate::lake::{sync_with, venv_bin};

/// The outcome of `dbt build` in `project`: (models built, tests passed), or a failure with
/// dbt's output.
fn dbt_build(project: &Path) -> (usize, usize) {
    dbt_build_with(project, &[])
}

/// [`dbt_build`] with `env` set for dbt.
fn dbt_build_with(project: &Path, env: &[(&str, String)]) -> (usize, usize) {
    let out = Command::new(venv_bin("dbt"))
        .args(["build", "--profiles-dir", ".", "--no-use-colors"])
        .current_dir(project)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("ERROR=0"),
        "dbt build failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |what: &str| -> usize {
        text.lines()
            .find(|l| l.contains("Finished running"))
            .and_then(|l| {
                let before = &l[..l.find(what)?];
                before.split_whitespace().last()?.parse().ok()
            })
            .unwrap_or(0)
    };
    (count("view model"), count("data test"))
}

/// Generates the package of `lake` (a local directory) into `out`.
async fn package(lake: &Lake, out: &Path) -> notionlake::export::ExportReport {
    generate(lake, &lake.location(), out, Adapter::Duckdb)
        .await
        .unwrap()
}

#[tokio::test]
async fn dbt_builds_the_demo_lakes_package_with_every_test_passing() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let out = dir.path().join("notion_dbt");
    let report = package(&lake, &out).await;
    assert!(report.kept.is_empty());
    let sql = std::fs::read_to_string(out.join("models/staging/stg_notion__deals.sql")).unwrap();
    for typed in [
        "close_date_start",
        "owner_names",
        "deal_id",
        "verification_state",
    ] {
        assert!(sql.contains(&format!("\"{typed}\"")), "{typed} in {sql}");
    }
    assert!(
        out.join("models/staging/stg_notion__deals__company.sql")
            .exists()
    );
    assert!(
        out.join("models/marts/notion__open_action_items.sql")
            .exists()
    );
    let (models, tests) = dbt_build(&out);
    // Seven data sources, four relation bridges, documents and the action items.
    assert_eq!(models, 13, "models");
    assert!(tests >= 60, "{tests} tests");
    // A second generation of an unchanged lake writes nothing.
    let again = package(&lake, &out).await;
    assert_eq!((again.written, again.removed), (0, 0), "{again:?}");
}

/// A lake on S3 (moto): the delta plugin reads the tables at their `s3://` paths with the
/// standard AWS environment.
#[tokio::test]
async fn dbt_builds_an_s3_lakes_package() {
    let moto = crate::lake::Moto::start("dbtlake").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://dbtlake/lake", &refs).unwrap();
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("notion_dbt");
    generate(&lake, "s3://dbtlake/lake", &out, Adapter::Duckdb)
        .await
        .unwrap();
    let sources = std::fs::read_to_string(out.join("models/sources.yml")).unwrap();
    assert!(
        sources.contains("\"s3://dbtlake/lake/tables/deals\""),
        "{sources}"
    );
    let value = |k: &str| opts.iter().find(|(n, _)| *n == k).unwrap().1.clone();
    let env = [
        ("AWS_ENDPOINT_URL", value("aws_endpoint")),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", value("aws_access_key_id")),
        ("AWS_SECRET_ACCESS_KEY", value("aws_secret_access_key")),
        ("AWS_REGION", value("aws_region")),
    ];
    let (models, _) = dbt_build_with(&out, &env);
    assert_eq!(models, 13);
}

/// A Parquet-format lake: the sources are the latest-state SQL of
/// `schemas/latest-and-history.md` over the files, read by DuckDB; the same models build.
#[tokio::test]
async fn dbt_builds_a_parquet_lakes_package_over_its_latest_state() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    let options = SyncOptions {
        format: Some(notionlake::sink::TableFormat::Parquet),
        ..SyncOptions::default()
    };
    sync_with(&fake, &lake, &options).await;
    // A second version of one row: the latest state holds it once.
    crate::edit_handbook_quote(&fake, &ids, "Ship it, then write it down.");
    sync_with(&fake, &lake, &options).await;
    let out = dir.path().join("notion_dbt");
    package(&lake, &out).await;
    let sources = std::fs::read_to_string(out.join("models/sources.yml")).unwrap();
    assert!(sources.contains("read_parquet("), "{sources}");
    assert!(!sources.contains("delta_table_path"));
    let (models, _) = dbt_build(&out);
    assert_eq!(models, 13);
    let spark = generate(
        &lake,
        &lake.location(),
        &dir.path().join("spark"),
        Adapter::Spark,
    )
    .await;
    assert!(spark.is_err(), "Spark reads Delta lakes only");
}

#[tokio::test]
async fn dbt_builds_a_lake_named_in_eight_scripts() {
    let fake = FakeNotion::start(crate::names::workspace(), FakeConfig::unlimited())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let out = dir.path().join("notion_dbt");
    package(&lake, &out).await;
    assert!(out.join("models/staging/stg_notion__сделки.sql").exists());
    let (models, _) = dbt_build(&out);
    assert!(models >= 18, "{models} models");
}

/// A schema change in Notion, a model edited by hand, and a regeneration.
#[tokio::test]
async fn regenerating_after_a_schema_change_keeps_edited_files_and_builds() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let out = dir.path().join("notion_dbt");
    package(&lake, &out).await;
    let edited = out.join("models/staging/stg_notion__contacts.sql");
    // An analytics engineer's edit: a filter added to the generated model.
    let generated = std::fs::read_to_string(&edited).unwrap();
    let mine = format!("{}where not \"_in_trash\"\n", generated);
    std::fs::write(&edited, &mine).unwrap();

    // Deals: a new property, Notes renamed, Signed changed from a checkbox to a select.
    {
        let mut ws = fake.workspace_mut();
        let source = ids.data_sources["Deals"].clone();
        let ds = ws.data_sources.get_mut(&source).unwrap();
        ds.properties.push(notionlake::fake::workspace::PropDef {
            id: "dReg".into(),
            name: "Region".into(),
            kind: "select".into(),
            config: json!({"options": []}),
        });
        let notes = ds.properties.iter_mut().find(|p| p.id == "dNts").unwrap();
        notes.name = "Remarks".into();
        let signed = ds.properties.iter_mut().find(|p| p.id == "dSgn").unwrap();
        signed.kind = "select".into();
        signed.config = json!({"options": []});
        let rows = ds.rows.clone();
        let editor = ws.bot.id.clone();
        for id in rows {
            ws.edit_page_now(&id, &editor, |p| {
                p.properties.insert(
                    "dReg".into(),
                    json!({"id": "r-emea", "name": "EMEA", "color": "blue"}),
                );
                p.properties.insert(
                    "dSgn".into(),
                    json!({"id": "s-yes", "name": "yes", "color": "green"}),
                );
            });
        }
    }
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let again = package(&lake, &out).await;
    assert_eq!(
        again.kept,
        vec![(
            "models/staging/stg_notion__contacts.sql".into(),
            notionlake::export::Kept::Changed
        )]
    );
    assert!(
        again
            .written_paths
            .iter()
            .any(|p| p.ends_with("stg_notion__deals.sql")),
        "{:?}",
        again.written_paths
    );
    assert_eq!(
        std::fs::read_to_string(&edited).unwrap(),
        mine,
        "the edit is kept"
    );
    let deals = std::fs::read_to_string(out.join("models/staging/stg_notion__deals.sql")).unwrap();
    for column in ["\"region\"", "\"signed__select\"", "\"signed\""] {
        assert!(deals.contains(column), "{column} in {deals}");
    }
    let doc = std::fs::read_to_string(out.join("models/sources.yml")).unwrap();
    assert!(doc.contains("Remarks"), "the renamed property's name");
    dbt_build(&out);
}
