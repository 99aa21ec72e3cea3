//! Names of every workspace: titles and property names in any script keep their meaning; names
//! that collide with the lake's own tables, history names, metadata and partition columns get
//! distinct ones; `--ascii-names` is recorded in the lake and never mixed; the shell refuses a
//! location with no lake.

use std::collections::{BTreeMap, BTreeSet};

use notionlake::fake::workspace::{FParent, PropDef, Workspace, rt_array};
use notionlake::fake::{FakeConfig, FakeNotion};
use notionlake::shell::repl::{OutputFormat, Shell};
use notionlake::sink::Lake;
use notionlake::sync::{SyncError, SyncOptions, sync_workspace};
use serde_json::{Value, json};

use crate::lake::{run_python, sync_with};
use crate::{client_with, test_config};

fn prop(id: &str, name: &str, kind: &str) -> PropDef {
    let config = match kind {
        "select" => json!({"options": [{"id": "o1", "name": "A", "color": "red"}]}),
        "number" => json!({"format": "number"}),
        _ => json!({}),
    };
    PropDef {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
        config,
    }
}

/// Data-source titles: eight scripts, emoji-only and mixed names, and names that collide with
/// the lake's own tables and with each other's history names.
const TITLES: &[&str] = &[
    "タスク",
    "客户",
    "프로젝트",
    "Сделки",
    "Προϊόντα",
    "العملاء",
    "לקוחות",
    "कार्य सूची",
    "🚀",
    "🚀 Launch plan",
    "Pages",
    "Tombstones",
    "Deals History",
    "Deals",
    "Deals_history",
    "_notionlake",
    "Users",
    "Rich text items",
];

/// Property names of every data source: the title in Japanese, then names in other scripts,
/// emoji-only ones, and ones that collide with metadata and partition columns.
fn properties() -> Vec<PropDef> {
    vec![
        prop("title", "名前", "title"),
        prop("pKo", "상태", "select"),
        prop("pRu", "Сумма", "number"),
        prop("pHi", "स्थिति", "rich_text"),
        prop("pAr", "تاريخ", "date"),
        prop("pE1", "🔥", "select"),
        prop("pE2", "✅", "checkbox"),
        prop("pE3", "🔥🔥", "select"),
        prop("pSd", "Sync Date", "date"),
        prop("pId", "_id", "rich_text"),
        prop("pRun", "Run ID", "rich_text"),
        prop("pAt", "Synced at", "date"),
    ]
}

pub(crate) fn workspace() -> Workspace {
    let mut ws = Workspace::new("names", 14, chrono::Utc::now() - chrono::Duration::days(1));
    let u = ws.bot.id.clone();
    let root = ws.add_page(FParent::Workspace, "Root", &u);
    ws.page_mut(&root).unwrap().shared = true;
    for (n, title) in TITLES.iter().enumerate() {
        let (_, ds) = ws.add_database(&root, title, &u, vec![(title.to_string(), properties())]);
        ws.add_row(
            &ds[0],
            &u,
            vec![
                ("title", rt_array(&format!("行 {n}"))),
                ("pRu", json!(n)),
                (
                    "pSd",
                    json!({"start": "2026-01-02", "end": null, "time_zone": null}),
                ),
                ("pRun", rt_array("r-1")),
            ],
        );
    }
    ws
}

/// The registry's table and column names per data-source title.
fn registry_names(dir: &std::path::Path) -> BTreeMap<String, (String, Vec<String>)> {
    let registry: Value =
        serde_json::from_slice(&std::fs::read(dir.join("_notionlake/registry.json")).unwrap())
            .unwrap();
    registry["tables"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| {
            let columns = t["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["column"].as_str().unwrap().to_string())
                .collect();
            (
                t["title"].as_str().unwrap().to_string(),
                (t["table"].as_str().unwrap().to_string(), columns),
            )
        })
        .collect()
}

async fn fake() -> FakeNotion {
    FakeNotion::start(workspace(), FakeConfig::unlimited())
        .await
        .unwrap()
}

/// Regression: non-Latin names all became `property_N`, and "Deals History", "Tombstones" or a
/// "Sync Date" property made the shell refuse the whole lake.
#[tokio::test]
async fn names_in_every_script_and_colliding_names_give_distinct_queryable_tables() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let names = registry_names(dir.path());
    assert_eq!(names.len(), TITLES.len(), "{names:?}");
    let table = |title: &str| names[title].0.clone();
    assert_eq!(table("タスク"), "タスク");
    assert_eq!(table("客户"), "客户");
    assert_eq!(table("프로젝트"), "프로젝트");
    assert_eq!(table("Сделки"), "сделки");
    assert_eq!(table("Προϊόντα"), "προϊόντα");
    assert_eq!(table("العملاء"), "العملاء");
    assert_eq!(table("לקוחות"), "לקוחות");
    assert_eq!(table("कार्य सूची"), "कार्य_सूची");
    assert_eq!(table("🚀"), "untitled_1");
    assert_eq!(table("🚀 Launch plan"), "launch_plan");
    // Every latest and history name is distinct from every other and from the lake's own.
    let own = [
        "pages",
        "databases",
        "data_sources",
        "properties",
        "blocks",
        "users",
        "comments",
        "tombstones",
        "rich_text_items",
    ];
    let mut all: BTreeSet<String> = BTreeSet::new();
    for t in own {
        all.insert(t.to_string());
        all.insert(format!("{t}_history"));
    }
    for (title, (t, columns)) in &names {
        assert!(all.insert(t.clone()), "{title}: {t} clashes");
        assert!(
            all.insert(format!("{t}_history")),
            "{title}: {t}_history clashes"
        );
        // Columns: meaningful in every script, type-derived for emoji, never a reserved name.
        for want in [
            "名前",
            "상태",
            "сумма",
            "स्थिति",
            "تاريخ",
            "select_1",
            "checkbox_1",
        ] {
            assert!(
                columns.iter().any(|c| c == want),
                "{title}: no {want} in {columns:?}"
            );
        }
        assert!(columns.iter().any(|c| c == "select_2"), "{columns:?}");
        for reserved in ["sync_date", "_id", "_run_id", "_synced_at"] {
            assert!(
                !columns.iter().any(|c| c == reserved),
                "{title}: {columns:?}"
            );
        }
        assert!(columns.iter().any(|c| c == "sync_date_2"), "{columns:?}");
    }

    // The shell registers the whole lake and answers queries by name.
    let shell = Shell::open(&lake, OutputFormat::Csv).await.unwrap();
    for (title, (t, _)) in &names {
        let out = shell
            .execute(&format!(
                "SELECT \"名前\", \"сумма\", sync_date_2['start_text'] AS d FROM \"{t}\""
            ))
            .await
            .unwrap_or_else(|e| panic!("{title}: {e}"));
        assert_eq!(out.lines().count(), 2, "{title}: {out}");
        let history = shell
            .execute(&format!("SELECT count(*) AS n FROM \"{t}_history\""))
            .await
            .unwrap();
        assert!(
            history.ends_with("1\n") || history.ends_with('1'),
            "{history}"
        );
    }
    let out = shell
        .execute("SELECT 名前, 상태, сумма FROM タスク")
        .await
        .unwrap();
    assert!(out.contains("行 0"), "unquoted Unicode identifiers: {out}");

    // A second sync keeps every name.
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    assert_eq!(
        registry_names(dir.path()),
        names,
        "names are stable across syncs"
    );

    // Python's deltalake reads the same Delta tables by name (and the column named like the
    // Parquet format's partition column keeps its suffix in both formats).
    let script = r#"
import sys
from deltalake import DeltaTable
root = sys.argv[1]
t = DeltaTable(f"{root}/tables/タスク").to_pyarrow_table(columns=["名前", "сумма", "sync_date_2"])
print(t.column("名前")[0].as_py())
print(DeltaTable(f"{root}/tables/сделки").to_pyarrow_table().num_rows)
"#;
    assert_eq!(run_python(script, &[dir.path()]), "行 0\n1\n");
}

#[tokio::test]
async fn ascii_names_are_recorded_and_never_mixed() {
    let fake = fake().await;
    let client = client_with(test_config(
        &fake,
        notionlake::notion::NotionVersion::V2025_09_03,
    ));
    let ascii = SyncOptions {
        ascii_names: true,
        ..SyncOptions::tables_only()
    };
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_workspace(&client, &lake, &ascii).await.unwrap();
    let names = registry_names(dir.path());
    for (title, (t, columns)) in &names {
        assert!(t.is_ascii(), "{title}: {t}");
        assert!(columns.iter().all(|c| c.is_ascii()), "{columns:?}");
    }
    assert_eq!(names["タスク"].0, "untitled_1");
    assert!(names["タスク"].1.contains(&"title_1".to_string()));
    // Without the flag the lake keeps its style.
    sync_workspace(&client, &lake, &SyncOptions::tables_only())
        .await
        .unwrap();
    assert_eq!(registry_names(dir.path()), names);

    // A Unicode-named lake refuses --ascii-names.
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_workspace(&client, &lake, &SyncOptions::tables_only())
        .await
        .unwrap();
    let err = sync_workspace(&client, &lake, &ascii).await.unwrap_err();
    assert!(matches!(err, SyncError::NamingMismatch), "{err}");
    assert!(err.to_string().contains("--ascii-names"), "{err}");
}

/// Regression: `sql --lake <missing>` created the directory and opened an empty shell.
#[tokio::test]
async fn the_shell_refuses_a_location_with_no_lake() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
        .args(["sql", "--lake", missing.to_str().unwrap(), "-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no lake"), "{stderr}");
    assert!(!missing.exists(), "the location was created");

    let moto = crate::lake::Moto::start("nolake").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s3 = Lake::open_with("s3://nolake/missing", &refs).unwrap();
    let err = Shell::open(&s3, OutputFormat::Csv).await.unwrap_err();
    assert!(err.to_string().contains("no lake"), "{err}");
}
