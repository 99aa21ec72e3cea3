//! Incremental sync: request counts of a quiet and of an edited workspace, same-minute edits,
//! deletions, the lock, stale cursors, the query cap, injected faults, and SIGKILL at any point.

use std::collections::BTreeMap;

use notionlake::fake::{FakeConfig, FakeNotion, FaultConfig, FaultKind};
use notionlake::notion::NotionVersion;
use notionlake::shell::register_lake;
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, SyncReport, sync_workspace};
use serde_json::{Value, json};

use crate::lake::{rows, snapshot};
use crate::{client_with, demo_fake, test_config};

async fn sync(fake: &FakeNotion, lake: &Lake) -> SyncReport {
    let client = client_with(test_config(fake, NotionVersion::V2025_09_03));
    sync_workspace(&client, lake, &SyncOptions::default())
        .await
        .expect("sync")
}

async fn latest(lake: &Lake, sql: &str) -> Vec<Value> {
    let ctx = datafusion::prelude::SessionContext::new();
    register_lake(&ctx, lake).await.unwrap();
    rows(&ctx, sql).await
}

fn new_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    (dir, lake)
}

#[tokio::test]
async fn a_quiet_workspace_costs_one_request_per_data_source_plus_three() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    let first = sync(&fake, &lake).await;
    assert_eq!(first.mode, "full");
    fake.reset_stats();
    let second = sync(&fake, &lake).await;
    assert_eq!(second.mode, "incremental");
    let sources = fake.workspace().data_sources.len() as u64;
    let stats = fake.stats();
    assert!(
        stats.total <= sources + 3,
        "{} requests: {:#?}",
        stats.total,
        stats.requests
    );
    assert_eq!(stats.count("POST /v1/data_sources/{id}/query"), sources);
    // The latest views still show everything.
    let n = latest(&lake, "SELECT (SELECT count(*) FROM deals) AS deals, (SELECT count(*) FROM blocks) AS blocks, (SELECT count(*) FROM deals_history) AS history").await;
    assert_eq!(n[0]["deals"], 24);
    assert_eq!(n[0]["history"], 24, "nothing changed: nothing appended");
    assert!(n[0]["blocks"].as_i64().unwrap() > 200);
}

#[tokio::test]
async fn only_edited_pages_are_read_again() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    sync(&fake, &lake).await;
    let (_edited_rows, block_page) = {
        let mut ws = fake.workspace_mut();
        let ada = ids.people["ada"].clone();
        let tasks: Vec<String> = ws.data_sources[&ids.data_sources["Tasks"]]
            .rows
            .iter()
            .take(3)
            .cloned()
            .collect();
        for (k, id) in tasks.iter().enumerate() {
            ws.edit_page_now(id, &ada, |p| {
                p.properties.insert("tEst".into(), json!(100.0 + k as f64));
            });
        }
        let page = ids.meeting_pages[1].clone();
        let todo = ws
            .page(&page)
            .unwrap()
            .children
            .iter()
            .find(|b| ws.blocks[*b].kind == "to_do")
            .unwrap()
            .clone();
        ws.edit_block_now(&todo, json!({"rich_text": notionlake::fake::workspace::rt_array("Book the big demo room"), "checked": true, "color": "default"}), &ada);
        (tasks, page)
    };
    fake.reset_stats();
    let report = sync(&fake, &lake).await;
    let stats = fake.stats();
    let ws = fake.workspace().clone();
    let sources = ws.data_sources.len() as u64;
    // users + data-source search + page search + one query per source; then, for the 4 edited
    // pages only: their content (the meeting page has no nested containers; rows have none)
    // and their comments.
    let expected = 3 + sources + 4 + 4;
    assert_eq!(stats.total, expected, "{:#?}", stats.requests);
    assert_eq!(stats.count("GET /v1/blocks/{id}/children"), 4);
    assert_eq!(stats.count("GET /v1/comments"), 4);
    assert_eq!(
        report
            .tables
            .iter()
            .find(|t| t.table == "tasks")
            .unwrap()
            .rows,
        3
    );
    let got = latest(
        &lake,
        "SELECT estimate_h AS e FROM tasks WHERE estimate_h >= 100 ORDER BY e",
    )
    .await;
    assert_eq!(
        got,
        vec![
            json!({"e": 100.0}),
            json!({"e": 101.0}),
            json!({"e": 102.0})
        ]
    );
    let todo = latest(&lake, &format!("SELECT plain_text, checked FROM blocks WHERE page_id = '{block_page}' AND type = 'to_do' ORDER BY position LIMIT 1")).await;
    assert_eq!(
        todo[0],
        json!({"plain_text": "Book the big demo room", "checked": true})
    );
    let history = latest(&lake, "SELECT count(*) AS n FROM tasks_history").await;
    assert_eq!(history[0]["n"], 36 + 3);
}

#[tokio::test]
async fn a_second_edit_in_the_cursors_minute_is_not_missed() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    let task = fake.workspace().data_sources[&ids.data_sources["Tasks"]].rows[0].clone();
    let ada = ids.people["ada"].clone();
    fake.workspace_mut().edit_page_now(&task, &ada, |p| {
        p.properties.insert("tEst".into(), json!(1.0));
    });
    sync(&fake, &lake).await;
    // Edited again within the same minute: Notion keeps the same (minute-rounded) timestamp.
    {
        let mut ws = fake.workspace_mut();
        let before = ws.page(&task).unwrap().last_edited_time;
        ws.edit_page_now(&task, &ada, |p| {
            p.properties.insert("tEst".into(), json!(2.0));
        });
        ws.page_mut(&task).unwrap().last_edited_time = before;
    }
    sync(&fake, &lake).await;
    let got = latest(
        &lake,
        &format!("SELECT estimate_h FROM tasks WHERE _id = '{task}'"),
    )
    .await;
    assert_eq!(got, vec![json!({"estimate_h": 2.0})]);
}

#[tokio::test]
async fn trashed_and_vanished_rows_leave_the_latest_views() {
    trashed_and_vanished(None).await;
}

#[tokio::test]
async fn trashed_and_vanished_rows_leave_the_latest_views_in_parquet() {
    trashed_and_vanished(Some(notionlake::sink::TableFormat::Parquet)).await;
}

async fn trashed_and_vanished(format: Option<notionlake::sink::TableFormat>) {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    let first = SyncOptions {
        format,
        ..SyncOptions::default()
    };
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    sync_workspace(&client, &lake, &first).await.unwrap();
    let (trashed, vanished) = {
        let mut ws = fake.workspace_mut();
        let rows = ws.data_sources[&ids.data_sources["Contacts"]].rows.clone();
        let ada = ids.people["ada"].clone();
        ws.edit_page_now(&rows[0], &ada, |p| p.in_trash = true);
        // Deleted for good: gone from every listing, no trace in any answer.
        ws.delete_page(&rows[1]);
        (rows[0].clone(), rows[1].clone())
    };
    let incremental = sync(&fake, &lake).await;
    assert_eq!(incremental.tombstones, 1, "the trashed row");
    let full = sync_workspace(
        &client,
        &lake,
        &SyncOptions {
            full_refresh: true,
            ..SyncOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(full.tombstones >= 1, "the vanished row: {full:?}");
    let n = latest(&lake, "SELECT count(*) AS n FROM contacts").await;
    let debug = latest(
        &lake,
        "SELECT \"table\", id, reason, _synced_at FROM tombstones",
    )
    .await;
    assert_eq!(n[0]["n"], 38, "{debug:?}");
    for id in [&trashed, &vanished] {
        assert!(
            latest(
                &lake,
                &format!("SELECT _id FROM contacts WHERE _id = '{id}'")
            )
            .await
            .is_empty()
        );
    }
    let reasons: BTreeMap<String, String> = latest(
        &lake,
        "SELECT id, reason FROM tombstones WHERE \"table\" = 'contacts'",
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r["id"].as_str().unwrap().to_string(),
            r["reason"].as_str().unwrap().to_string(),
        )
    })
    .collect();
    assert_eq!(reasons.get(&trashed).map(String::as_str), Some("trashed"));
    assert_eq!(reasons.get(&vanished).map(String::as_str), Some("vanished"));
}

#[tokio::test]
async fn a_second_sync_on_a_locked_lake_refuses() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    let held = notionlake::state::lock::LakeLock::acquire(
        &lake,
        "other-run",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let err = sync_workspace(&client, &lake, &SyncOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another sync is running") && err.contains("other-run"),
        "{err}"
    );
    assert_eq!(fake.stats().total, 0);
    held.release().await.unwrap();
    sync(&fake, &lake).await;
}

/// The demo behind a 30-row query cap that rejects every third pagination cursor, and a client
/// reading 25 rows a page: listings continue in windows and restart.
async fn capped_demo() -> (
    FakeNotion,
    notionlake::fake::DemoIds,
    notionlake::notion::NotionClient,
) {
    let config = FakeConfig {
        query_cap: 30,
        stale_cursor_every: Some(3),
        ..FakeConfig::unlimited()
    };
    let (fake, ids) = demo_fake(config).await;
    let client = client_with(notionlake::notion::ClientConfig {
        page_size: 25,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    (fake, ids, client)
}

#[tokio::test]
async fn past_the_query_cap_and_through_stale_cursors_nothing_is_lost() {
    let (_fake, _, client) = capped_demo().await;
    let (_dir, lake) = new_lake();
    let report = sync_workspace(&client, &lake, &SyncOptions::default())
        .await
        .unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("restarted")),
        "{:?}",
        report.warnings
    );
    let n = latest(&lake, "SELECT (SELECT count(*) FROM contacts) AS c, (SELECT count(DISTINCT _id) FROM contacts_history) AS d, (SELECT count(*) FROM tasks) AS t, (SELECT count(*) FROM blocks WHERE parent_id IN (SELECT id FROM blocks WHERE plain_text = 'All 150 checklist items')) AS wide").await;
    assert_eq!(n[0], json!({"c": 40, "d": 40, "t": 36, "wide": 150}));
}

#[tokio::test]
async fn injected_faults_change_nothing() {
    let faults = FaultConfig {
        rate: 0.1,
        seed: 3,
        kinds: vec![
            FaultKind::Status(429),
            FaultKind::Status(500),
            FaultKind::Status(502),
            FaultKind::Status(503),
            FaultKind::Reset,
        ],
        ..FaultConfig::default()
    };
    let (faulty, _) = demo_fake(FakeConfig {
        faults,
        ..FakeConfig::unlimited()
    })
    .await;
    let (clean, _) = demo_fake(FakeConfig::unlimited()).await;
    let (_d1, a) = new_lake();
    let (_d2, b) = new_lake();
    let report = sync(&faulty, &a).await;
    sync(&clean, &b).await;
    assert!(faulty.stats().faults > 10, "{:?}", faulty.stats());
    assert_eq!(report.requests.retries, faulty.stats().faults);
    assert_eq!(snapshot(&a).await, snapshot(&b).await);
}

fn parquet_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            parquet_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn killed_at_any_point_the_next_run_gives_the_same_latest_tables() {
    killed_at_any_point("delta").await;
}

#[tokio::test]
async fn killed_at_any_point_the_next_run_gives_the_same_latest_tables_in_parquet() {
    killed_at_any_point("parquet").await;
}

/// SIGKILL of 10 syncs of a lake of `format`, each at a later instant, against a fake in its own
/// process; then a rerun: every table opens and equals an uninterrupted sync's.
async fn killed_at_any_point(format: &str) {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_notionlake");
    // The fake runs in its own process so that it outlives the killed syncs; latency stretches
    // each sync over a few seconds.
    let server = crate::resume::Fake::start_with(&["--latency-ms", "10"]);
    let url = server.url.clone();
    let sync_cmd = |lake: &std::path::Path| {
        let mut c = Command::new(bin);
        c.args([
            "sync",
            "--full-refresh",
            "--rps",
            "1000",
            "--burst",
            "100",
            "--api-base",
            &url,
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            format,
        ])
        .env("NOTION_TOKEN", notionlake::fake::DEMO_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    let killed = tempfile::tempdir().unwrap();
    let mut interrupted = 0;
    for i in 0..10u64 {
        let mut child = sync_cmd(killed.path()).spawn().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100 + i * 200)).await;
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever instant it died at, every visible Parquet file is complete.
        let mut files = Vec::new();
        if killed.path().exists() {
            parquet_files(killed.path(), &mut files);
        }
        for f in files {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                std::fs::File::open(&f).unwrap(),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "after kill {i}: {} is not a complete Parquet file: {e}",
                    f.display()
                )
            });
        }
    }
    assert!(
        interrupted >= 5,
        "only {interrupted} of 10 syncs were killed mid-run"
    );
    let status = sync_cmd(killed.path()).status().unwrap();
    assert!(status.success());
    let clean = tempfile::tempdir().unwrap();
    assert!(sync_cmd(clean.path()).status().unwrap().success());
    drop(server);
    let (a, b) = (
        Lake::open(killed.path().to_str().unwrap()).unwrap(),
        Lake::open(clean.path().to_str().unwrap()).unwrap(),
    );
    let (sa, sb) = (snapshot(&a).await, snapshot(&b).await);
    assert_eq!(sa.keys().collect::<Vec<_>>(), sb.keys().collect::<Vec<_>>());
    for (table, rows) in &sb {
        assert_eq!(&sa[table], rows, "table {table} differs after the kills");
    }
    assert!(sb["deals"].len() == 24 && sb["blocks"].len() > 200);
}

#[tokio::test]
async fn lock_state_and_incremental_runs_work_on_s3() {
    let moto = crate::lake::Moto::start("inc").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://inc/lake", &refs).unwrap();
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let held = notionlake::state::lock::LakeLock::acquire(
        &lake,
        "holder",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap();
    let err = notionlake::state::lock::LakeLock::acquire(
        &lake,
        "second",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("holder"), "{err}");
    held.release().await.unwrap();
    assert_eq!(sync(&fake, &lake).await.mode, "full");
    fake.reset_stats();
    assert_eq!(sync(&fake, &lake).await.mode, "incremental");
    assert!(fake.stats().total <= fake.workspace().data_sources.len() as u64 + 3);
    assert!(lake.read("_notionlake/state.json").await.unwrap().is_some());
    // Released: S3 has no conditional delete, so the record stays, marked released (a late
    // delete could remove a new holder's lock), and the next sync takes it at once.
    let record: serde_json::Value =
        serde_json::from_slice(&lake.read("_notionlake/lock.json").await.unwrap().unwrap())
            .unwrap();
    assert_eq!(record["released"], true, "released: {record}");
    let started = std::time::Instant::now();
    notionlake::state::lock::LakeLock::acquire(&lake, "next", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "a released lock is taken without waiting"
    );
    let n = latest(&lake, "SELECT count(*) AS n FROM deals").await;
    assert_eq!(n[0]["n"], 24);
}

/// Page marks spilled to disk (a memory budget of 3 marks, so nearly every mark lives in sorted
/// temporary files) give the same lake and the same `state.json` as marks held in memory,
/// through a first sync past the query cap with restarted listings, an incremental run after
/// edits, a trashed and a deleted row, and a full refresh.
#[tokio::test]
async fn page_marks_spilled_to_disk_change_nothing() {
    let (fake, ids, client) = capped_demo().await;
    let (_d1, memory) = new_lake();
    let (_d2, spilled) = new_lake();
    let run = |lake: &Lake, marks_in_memory: usize, full_refresh: bool| {
        let (client, lake) = (client.clone(), lake.clone());
        async move {
            sync_workspace(
                &client,
                &lake,
                &SyncOptions {
                    marks_in_memory,
                    full_refresh,
                    ..SyncOptions::default()
                },
            )
            .await
            .unwrap()
        }
    };
    let both = |full_refresh: bool| {
        let run = &run;
        let (memory, spilled) = (&memory, &spilled);
        async move {
            let a = run(memory, 1_000_000, full_refresh).await;
            let b = run(spilled, 3, full_refresh).await;
            let rows = |r: &SyncReport| -> Vec<(String, usize)> {
                r.tables.iter().map(|t| (t.table.clone(), t.rows)).collect()
            };
            assert_eq!(rows(&a), rows(&b));
            assert_eq!(a.tombstones, b.tombstones);
            let fixed = |r: &SyncReport| -> Vec<(String, usize)> {
                r.fixed.iter().map(|t| (t.table.clone(), t.rows)).collect()
            };
            assert_eq!(fixed(&a), fixed(&b));
            (a, b)
        }
    };
    let (first, first_b) = both(false).await;
    assert!(first.tables.iter().any(|t| t.rows > 30), "past the cap");
    {
        let mut ws = fake.workspace_mut();
        let ada = ids.people["ada"].clone();
        let tasks = ws.data_sources[&ids.data_sources["Tasks"]].rows.clone();
        for id in tasks.iter().take(3) {
            ws.edit_page_now(id, &ada, |p| {
                p.properties.insert("tEst".into(), json!(7.0));
            });
        }
        let contacts = ws.data_sources[&ids.data_sources["Contacts"]].rows.clone();
        ws.edit_page_now(&contacts[0], &ada, |p| p.in_trash = true);
        ws.delete_page(&contacts[1]);
    }
    let (incremental, incremental_b) = both(false).await;
    assert_eq!(incremental.tombstones, 1, "the trashed row");
    let (full, full_b) = both(true).await;
    assert!(full.tombstones >= 1, "the vanished row");
    assert_eq!(snapshot(&memory).await, snapshot(&spilled).await);
    let state = |lake: &Lake| {
        let lake = lake.clone();
        async move { lake.read("_notionlake/state.json").await.unwrap().unwrap() }
    };
    // Everything but the run ids and start times.
    let (a, b) = (state(&memory).await, state(&spilled).await);
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&a).unwrap(),
        serde_json::from_slice(&b).unwrap(),
    );
    let marks = a["pages"].as_object().unwrap().len();
    assert!(marks > 100, "{marks} page marks");
    for key in ["data_sources", "runs_since_full", "format"] {
        assert!(a[key] == b[key], "{key} differs");
    }
    // A mark's `settled` compares the minute of its page's edit with the minute of the run that
    // read it (less the clock-skew allowance). The two lakes' runs begin a few seconds apart, so
    // when a minute boundary falls between them the flag may rightly differ: it is compared only
    // when each pair of runs began in the same minute; every other field always is.
    let minute = |r: &SyncReport| {
        let t = chrono::DateTime::parse_from_rfc3339(&r.started_at).unwrap();
        (t - notionlake::state::sync_state::CLOCK_SKEW_ALLOWANCE)
            .timestamp()
            .div_euclid(60)
    };
    let same_minute = [
        (&first, &first_b),
        (&incremental, &incremental_b),
        (&full, &full_b),
    ]
    .iter()
    .all(|(a, b)| minute(a) == minute(b));
    let pages = |s: &Value| -> Value {
        let mut pages = s["pages"].clone();
        if !same_minute {
            for mark in pages.as_object_mut().unwrap().values_mut() {
                mark.as_object_mut().unwrap().remove("settled");
            }
        }
        pages
    };
    assert!(
        pages(&a) == pages(&b),
        "pages differ (same minute: {same_minute})"
    );
}

/// A plain value (one unformatted text item) leaves no `rich_text_items` rows; a value that loses
/// its formatting stops showing its old items in the latest view (the history keeps them).
#[tokio::test]
async fn rich_text_items_follow_the_latest_version_of_their_row() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    sync(&fake, &lake).await;
    let single_plain = "SELECT count(*) AS n FROM (SELECT count(*) AS n, bool_and(type = 'text' AND href IS NULL AND NOT bold AND NOT italic AND NOT strikethrough AND NOT underline AND NOT code AND color = 'default') AS plain FROM rich_text_items_history GROUP BY page_id, \"column\", _synced_at) WHERE n = 1 AND plain";
    assert_eq!(latest(&lake, single_plain).await[0]["n"], 0);
    let counts = latest(&lake, "SELECT (SELECT count(*) FROM deals) AS deals, (SELECT count(DISTINCT page_id) FROM rich_text_items WHERE \"table\" = 'deals' AND \"column\" = 'name') AS formatted").await;
    let (deals, formatted) = (
        counts[0]["deals"].as_i64().unwrap(),
        counts[0]["formatted"].as_i64().unwrap(),
    );
    assert!(
        formatted >= 1 && formatted < deals,
        "{formatted} of {deals} deal names have items"
    );
    let mentions = "SELECT count(*) AS n FROM rich_text_items WHERE \"table\" = 'deals' AND \"column\" = 'name' AND mention_type = 'user'";
    let before = latest(&lake, mentions).await[0]["n"].as_i64().unwrap();
    let grace = latest(&lake, "SELECT _id FROM deals WHERE name LIKE '%Grace%'").await;
    let grace = grace[0]["_id"].as_str().unwrap().to_string();
    {
        let mut ws = fake.workspace_mut();
        let ada = ids.people["ada"].clone();
        ws.edit_page_now(&grace, &ada, |p| {
            p.properties.insert(
                "title".into(),
                notionlake::fake::workspace::rt_array("Initech renewal"),
            );
        });
    }
    sync(&fake, &lake).await;
    assert_eq!(
        latest(&lake, mentions).await[0]["n"].as_i64().unwrap(),
        before - 1
    );
    let items = latest(
        &lake,
        &format!("SELECT count(*) AS n FROM rich_text_items WHERE page_id = '{grace}' AND \"column\" = 'name'"),
    )
    .await;
    assert_eq!(items[0]["n"], 0, "the plain new name has no items");
    let kept = latest(
        &lake,
        &format!("SELECT count(*) AS n FROM rich_text_items_history WHERE page_id = '{grace}' AND mention_type = 'user'"),
    )
    .await;
    assert_eq!(kept[0]["n"], 1, "the history keeps the old mention");
    let name = latest(
        &lake,
        &format!("SELECT name FROM deals WHERE _id = '{grace}'"),
    )
    .await;
    assert_eq!(name[0]["name"], "Initech renewal");
}

/// Runs a sync on `lake` against a slow fake and takes its lock over mid-run (as a sync that
/// judged it stale would): the first run must stop before committing, leave the new holder's
/// lock in place, and lose nothing already committed; once the lock is free, a sync completes.
async fn takeover_mid_run(lake: &Lake) {
    use notionlake::state::lock::{LOCK_PATH, LockError, LockInfo};
    use notionlake::sync::SyncError;
    // Latency stretches the run so that the takeover lands mid-run.
    let (fake, _) = demo_fake(FakeConfig {
        latency: std::time::Duration::from_millis(20),
        ..FakeConfig::unlimited()
    })
    .await;
    sync(&fake, lake).await;
    let registry_before = lake.read("_notionlake/registry.json").await.unwrap();
    let state_before = lake.read("_notionlake/state.json").await.unwrap();
    let count =
        "SELECT (SELECT count(*) FROM deals) AS deals, (SELECT count(*) FROM blocks) AS blocks";
    let before = latest(lake, count).await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let (run_lake, full) = (
        lake.clone(),
        SyncOptions {
            full_refresh: true,
            ..SyncOptions::default()
        },
    );
    let run = tokio::spawn(async move { sync_workspace(&client, &run_lake, &full).await });
    // The run's own lock (on S3 the previous run's lock stays, marked released).
    let mut holder: Option<LockInfo> = None;
    for _ in 0..200 {
        if let Some(b) = lake.read(LOCK_PATH).await.unwrap() {
            holder = serde_json::from_slice(&b)
                .ok()
                .filter(|h: &LockInfo| !h.released);
        }
        if holder.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let holder = holder.expect("the run took the lock");
    let taker = LockInfo {
        run_id: "taker".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        ..holder.clone()
    };
    lake.write(LOCK_PATH, serde_json::to_vec(&taker).unwrap().into())
        .await
        .unwrap();
    let err = run.await.unwrap().unwrap_err();
    assert!(
        matches!(err, SyncError::Locked(LockError::Lost { .. })),
        "{err}"
    );
    // Nothing of the lost run was committed, and the new holder keeps its lock.
    let runs = lake
        .read(&format!("_notionlake/runs/{}.json", holder.run_id))
        .await
        .unwrap();
    assert!(runs.is_none(), "the lost run wrote its run record");
    assert_eq!(
        lake.read("_notionlake/registry.json").await.unwrap(),
        registry_before
    );
    assert_eq!(
        lake.read("_notionlake/state.json").await.unwrap(),
        state_before
    );
    let on_lake: LockInfo =
        serde_json::from_slice(&lake.read(LOCK_PATH).await.unwrap().unwrap()).unwrap();
    assert_eq!(on_lake, taker);
    assert_eq!(latest(lake, count).await, before, "nothing lost");
    // The taker finishes (its lock goes); the next sync completes with every row.
    object_store::ObjectStoreExt::delete(&lake.store(), &lake.path(LOCK_PATH))
        .await
        .unwrap();
    sync(&fake, lake).await;
    assert_eq!(latest(lake, count).await, before);
}

#[tokio::test]
async fn a_run_whose_lock_is_taken_over_stops_before_committing() {
    let (_dir, lake) = new_lake();
    takeover_mid_run(&lake).await;
}

#[tokio::test]
async fn a_run_whose_lock_is_taken_over_stops_before_committing_on_s3() {
    let moto = crate::lake::Moto::start("takeover").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://takeover/lake", &refs).unwrap();
    takeover_mid_run(&lake).await;
}

/// Regression: a page edited in the minute of a sync was crawled again by every run until the
/// cursor passed its edit (several minutes); now by the next run only, whose read lands in a
/// later minute. A second edit in the minute of the first read is still read.
#[tokio::test]
async fn a_page_edited_in_the_minute_of_a_read_is_read_again_once() {
    use chrono::Duration;
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let (_dir, lake) = new_lake();
    let page = ids.block_gallery.clone();
    let ada = ids.people["ada"].clone();
    let paragraph = {
        let ws = fake.workspace();
        ws.page(&page)
            .unwrap()
            .children
            .iter()
            .find(|b| ws.blocks[*b].kind == "paragraph")
            .unwrap()
            .clone()
    };
    fake.workspace_mut().edit_page_now(&page, &ada, |_| {});
    let edited = fake.workspace().page(&page).unwrap().last_edited_time;
    let minute = notionlake::fake::workspace::minute_floor(edited);
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let run_at = |at: chrono::DateTime<chrono::Utc>| {
        let (client, lake) = (client.clone(), lake.clone());
        async move {
            let options = SyncOptions {
                now: Some(at),
                ..SyncOptions::default()
            };
            sync_workspace(&client, &lake, &options).await.unwrap()
        }
    };
    // Run 1 reads the page in the minute of its edit.
    assert_eq!(run_at(edited).await.mode, "full");
    // Edited again in that minute, after the read: the timestamp stays the same.
    {
        let mut ws = fake.workspace_mut();
        ws.edit_block_now(
            &paragraph,
            json!({"rich_text": [notionlake::fake::workspace::rt("Second edit, same minute")], "color": "default"}),
            &ada,
        );
        ws.page_mut(&page).unwrap().last_edited_time = edited;
        ws.blocks.get_mut(&paragraph).unwrap().last_edited_time = edited;
    }
    let children = "GET /v1/blocks/{id}/children";
    // Run 2, a minute later: the page is read again, and the second edit lands.
    fake.reset_stats();
    assert_eq!(
        run_at(minute + Duration::seconds(90)).await.mode,
        "incremental"
    );
    assert!(fake.stats().count(children) > 0, "the page was read again");
    let text = latest(
        &lake,
        &format!("SELECT plain_text FROM blocks WHERE id = '{paragraph}'"),
    )
    .await;
    assert_eq!(
        text,
        vec![json!({"plain_text": "Second edit, same minute"})]
    );
    // Run 3, another minute later: nothing changed and the last read was in a later minute.
    fake.reset_stats();
    assert_eq!(
        run_at(minute + Duration::seconds(150)).await.mode,
        "incremental"
    );
    assert_eq!(
        fake.stats().count(children),
        0,
        "{:#?}",
        fake.stats().requests
    );
}
