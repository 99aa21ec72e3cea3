//! Notion-hosted files kept by a sync (`--files download`): every file downloaded once and
//! listed in the `files` table; a second sync downloads nothing; a file two objects use stored
//! once; expired URLs read again at a counted cost; a missing file, an oversize one and one
//! past the run's budget recorded while the run succeeds (the deferred one downloaded by the
//! next run); on a local disk and on S3 (moto).

use std::collections::BTreeSet;
use std::time::Duration;

use notionlake::fake::workspace::FParent;
use notionlake::fake::{DemoIds, FakeConfig, FakeNotion};
use notionlake::files::FilesOptions;
use notionlake::files::store::CONTENT_DIR;
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, SyncReport};
use serde_json::{Value, json};
use sha2::Digest;

use crate::demo_fake;
use crate::lake::{content_rows, sync_with};

/// Objects of the lake's file store (their SHA-256 names).
async fn stored_objects(lake: &Lake) -> BTreeSet<String> {
    use futures::StreamExt;
    let prefix = lake.path(CONTENT_DIR);
    lake.store()
        .list(Some(&prefix))
        .map(|m| m.unwrap().location.filename().unwrap().to_string())
        .collect()
        .await
}

/// The `files` table's rows.
async fn files(lake: &Lake) -> Vec<Value> {
    content_rows(lake, "SELECT * FROM files ORDER BY ref_group, ref_id").await
}

/// Downloads the fake's file host answered with 200.
fn served(fake: &FakeNotion) -> u64 {
    fake.stats().file_downloads.get(&200).copied().unwrap_or(0)
}

/// Every stored row's lake object exists and hashes to its SHA-256.
async fn every_stored_file_hashes_to_its_row(lake: &Lake, rows: &[Value]) {
    for r in rows.iter().filter(|r| r["status"] == "stored") {
        let path = r["lake_path"].as_str().unwrap();
        let bytes = lake.read(path).await.unwrap().expect("the stored object");
        assert_eq!(bytes.len() as i64, r["bytes"].as_i64().unwrap(), "{r}");
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            r["sha256"].as_str().unwrap(),
            "{r}"
        );
    }
}

async fn downloads_once_and_never_again(lake: &Lake) {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let options = SyncOptions::default();
    let first = sync_with(&fake, lake, &options).await;
    let rows = files(lake).await;
    // Six contracts, three media blocks, the Projects page's cover and icon, and its
    // database's icon: the page's icon uploaded again (another key, the same bytes).
    assert_eq!(rows.len(), 12, "{rows:#?}");
    assert!(rows.iter().all(|r| r["status"] == "stored"), "{rows:#?}");
    let shas: BTreeSet<String> = rows
        .iter()
        .map(|r| r["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(shas.len(), 11, "the icon's two uploads are one content");
    assert_eq!(stored_objects(lake).await, shas, "one object per content");
    every_stored_file_hashes_to_its_row(lake, &rows).await;
    let report = first.files.expect("a files report");
    assert_eq!((report.downloaded, report.duplicates), (12, 1));
    assert_eq!(served(&fake), 12, "each key downloaded once");

    // A full refresh reads every page, block and database again, with fresh signatures: every
    // file is known by its key and none is downloaded.
    let full = SyncOptions {
        full_refresh: true,
        ..SyncOptions::default()
    };
    let again = sync_with(&fake, lake, &full).await;
    let report = again.files.expect("a files report");
    assert_eq!((report.downloaded, report.reused), (0, 12), "{report:?}");
    assert_eq!(served(&fake), 12, "nothing downloaded again");
    let after = files(lake).await;
    let strip = |rows: &[Value]| -> Vec<Value> {
        rows.iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("last_seen");
                r
            })
            .collect()
    };
    assert_eq!(
        strip(&after),
        strip(&rows),
        "first seen kept, the rest alike"
    );
    assert_eq!(stored_objects(lake).await, shas);
}

#[tokio::test]
async fn a_sync_downloads_each_file_once_and_the_next_none_locally() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    downloads_once_and_never_again(&lake).await;
}

#[tokio::test]
async fn a_sync_downloads_each_file_once_and_the_next_none_on_s3() {
    let moto = crate::lake::Moto::start("filesync").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://filesync/lake", &refs).unwrap();
    downloads_once_and_never_again(&lake).await;
}

/// A hosted file object for the fake's workspace.
fn hosted(name: &str) -> Value {
    json!({"type": "file", "file": {"url": format!("https://prod-files-secure.s3.us-west-2.amazonaws.com/acme/{name}?X-Amz-Expires=3600"), "expiry_time": "2026-09-30T09:00:00.000Z"}})
}

/// Sets the covers of the first `names.len()` deals (in id order) to hosted files.
fn cover_deals(fake: &FakeNotion, ids: &DemoIds, names: &[&str]) -> Vec<String> {
    let source = ids.data_sources["Deals"].clone();
    let mut ws = fake.workspace_mut();
    let mut deals: Vec<String> = ws
        .pages
        .iter()
        .filter(|p| matches!(&p.parent, FParent::DataSource(d) if *d == source))
        .map(|p| p.id.clone())
        .collect();
    deals.sort();
    for (id, name) in deals.iter().zip(names) {
        if let Some(p) = ws.page_mut(id) {
            p.cover = hosted(name);
        }
    }
    deals.into_iter().take(names.len()).collect()
}

/// With URLs good for 2 s and one download at a time behind a slow file, the URLs that wait
/// expire: each is read again from Notion (one request per object holding it) and
/// downloaded; the extra API requests are exactly the ones the report counts.
#[tokio::test]
async fn expired_urls_are_read_again_at_a_counted_cost() {
    let one_at_a_time = FilesOptions {
        slots: 1,
        ..FilesOptions::default()
    };
    let options = SyncOptions {
        files: one_at_a_time,
        ..SyncOptions::default()
    };
    let mut totals = Vec::new();
    for lifetime in [Duration::from_secs(3600), Duration::from_secs(2)] {
        let (fake, ids) = demo_fake(FakeConfig {
            file_lifetime: lifetime,
            ..FakeConfig::unlimited()
        })
        .await;
        cover_deals(&fake, &ids, &["pitch-slow-6MiB.bin"]);
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
        let report = sync_with(&fake, &lake, &options).await;
        let rows = files(&lake).await;
        assert!(
            rows.iter().all(|r| r["status"] == "stored"),
            "{lifetime:?}: {rows:#?}"
        );
        every_stored_file_hashes_to_its_row(&lake, &rows).await;
        let f = report.files.expect("a files report");
        let expired = fake.stats().file_downloads.get(&403).copied().unwrap_or(0);
        assert_eq!(f.expired as u64, expired, "{f:?}");
        totals.push((fake.stats().total, f));
    }
    let (plain, fresh) = (&totals[0], &totals[1]);
    assert_eq!((plain.1.expired, plain.1.refresh_requests), (0, 0));
    assert!(
        fresh.1.expired >= 1,
        "a URL waited past its 2 s: {:?}",
        fresh.1
    );
    assert!(fresh.1.refresh_requests >= 1 && fresh.1.refresh_requests <= fresh.1.expired);
    assert_eq!(
        fresh.0,
        plain.0 + fresh.1.refresh_requests as u64,
        "the only extra API requests are the counted refreshes"
    );
}

/// A missing file, one over `--max-file-mb` and one past the run's budget are recorded with
/// their reasons and the run succeeds; the next run downloads the deferred one (a fresh URL
/// read from Notion first) and leaves the others as they are.
#[tokio::test]
async fn missing_oversize_and_deferred_files_are_recorded_and_the_run_succeeds() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let deals = cover_deals(
        &fake,
        &ids,
        &["gone-missing.png", "huge-3MiB.bin", "later-600KiB.bin"],
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    // Every demo file is a few KiB: a 1 MiB budget holds them, not the 600 KiB one as well
    // once the 2 MiB limit let the 3 MiB one start.
    let tight = FilesOptions {
        max_file_bytes: 2 << 20,
        budget_bytes: 400 << 10,
        slots: 1,
        ..FilesOptions::default()
    };
    let report: SyncReport = sync_with(
        &fake,
        &lake,
        &SyncOptions {
            files: tight,
            ..SyncOptions::default()
        },
    )
    .await;
    let status = |rows: &[Value], page: &str| -> (String, String) {
        let r = rows
            .iter()
            .find(|r| r["ref_group"] == format!("{page}/page") && r["ref_id"] == "cover")
            .unwrap_or_else(|| panic!("no cover row of {page}"));
        (
            r["status"].as_str().unwrap().to_string(),
            r["reason"].as_str().unwrap_or_default().to_string(),
        )
    };
    let rows = files(&lake).await;
    let missing = status(&rows, &deals[0]);
    assert_eq!(missing.0, "missing", "{missing:?}");
    assert!(missing.1.contains("404"));
    let huge = status(&rows, &deals[1]);
    assert_eq!(huge.0, "too_large", "{huge:?}");
    assert!(huge.1.contains("max-file-mb"));
    assert_eq!(status(&rows, &deals[2]).0, "deferred");
    let f = report.files.expect("a files report");
    assert_eq!((f.missing, f.too_large), (1, 1), "{f:?}");
    assert!(f.deferred >= 1, "{f:?}");
    every_stored_file_hashes_to_its_row(&lake, &rows).await;
    let deferred: Vec<String> = rows
        .iter()
        .filter(|r| r["status"] == "deferred")
        .map(|r| r["notion_key"].as_str().unwrap().to_string())
        .collect();

    // The next run, with room, retries what was deferred (and only that).
    let before = fake.stats().total;
    let next = sync_with(&fake, &lake, &SyncOptions::default()).await;
    let rows = files(&lake).await;
    assert_eq!(status(&rows, &deals[2]).0, "stored", "{rows:#?}");
    assert_eq!(status(&rows, &deals[0]).0, "missing");
    assert_eq!(status(&rows, &deals[1]).0, "too_large");
    let f = next.files.expect("a files report");
    assert_eq!(f.downloaded, deferred.len(), "{f:?}");
    assert!(f.refresh_requests >= 1 && f.refresh_requests <= deferred.len());
    assert!(fake.stats().total - before >= f.refresh_requests as u64);
    every_stored_file_hashes_to_its_row(&lake, &rows).await;
}
