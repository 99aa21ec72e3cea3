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

/// Removes the demo's Projects page cover in Notion (an edit the next sync reads).
fn remove_projects_cover(fake: &FakeNotion, ids: &DemoIds) {
    let page = {
        let ws = fake.workspace();
        ws.pages
            .iter()
            .find(|p| p.cover.to_string().contains("projects-cover"))
            .map(|p| p.id.clone())
            .expect("the Projects page's cover")
    };
    fake.workspace_mut()
        .edit_page_now(&page, &ids.people["grace"], |p| p.cover = Value::Null);
}

/// Every file under `dir` (relative, `/`-separated) with its bytes: export-md's own test
/// helper, its paths as text.
fn export_files(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    crate::export::files(dir)
        .into_iter()
        .map(|(p, b)| (p.to_string_lossy().replace('\\', "/"), b))
        .collect()
}

/// The link targets of a Markdown file: `](target)` and front-matter values that name assets.
fn asset_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in text.split("](").skip(1) {
        out.push(piece[..piece.find(')').unwrap_or(piece.len())].to_string());
    }
    let front = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split("\n---\n").next())
        .unwrap_or_default();
    for piece in front.split('"').filter(|p| p.contains("assets/")) {
        out.push(piece.to_string());
    }
    out.retain(|l| l.contains("assets/"));
    out
}

/// export-md of the demo: every hosted image and attachment (documents' links, the Projects
/// page's cover and icon, the deals' contracts) is a relative path to a file of the export
/// whose bytes hash to the `files` table's SHA-256, one per content; no signed or hosted URL
/// is left. When the cover leaves the page, the next export removes its file.
#[tokio::test]
async fn export_md_links_every_kept_file_relatively_and_removes_unused_ones() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let shas: BTreeSet<String> = files(&lake)
        .await
        .iter()
        .map(|r| r["sha256"].as_str().unwrap().to_string())
        .collect();
    let out = dir.path().join("site");
    let report = notionlake::export::export_markdown(&lake, &out)
        .await
        .unwrap();
    let exported = export_files(&out);
    let mut linked = BTreeSet::new();
    for (path, bytes) in exported.iter().filter(|(p, _)| p.ends_with(".md")) {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("/__files/"), "{path}: a hosted URL is left");
        assert!(!text.contains("X-Amz-"), "{path}: a signed URL is left");
        let from = std::path::Path::new(path).parent().unwrap();
        for link in asset_links(&text) {
            let target = from.join(&link);
            let mut parts: Vec<&str> = Vec::new();
            for c in target.to_str().unwrap().split('/') {
                match c {
                    ".." => {
                        parts.pop();
                    }
                    "" | "." => {}
                    c => parts.push(c),
                }
            }
            let rel = parts.join("/");
            let bytes = exported
                .get(&rel)
                .unwrap_or_else(|| panic!("{path}: {link} names no exported file"));
            let sha = hex::encode(sha2::Sha256::digest(bytes));
            assert!(rel.starts_with(&format!("assets/{sha}")), "{rel}");
            assert!(shas.contains(&sha), "{rel}: not a stored file");
            linked.insert(rel);
        }
    }
    let assets: BTreeSet<String> = exported
        .keys()
        .filter(|p| p.starts_with("assets/"))
        .cloned()
        .collect();
    assert_eq!(linked, assets, "every asset is linked, every link an asset");
    // The contracts, three media blocks, the cover and the icon.
    assert_eq!(assets.len(), 11, "{assets:?}");
    assert_eq!(report.assets, 11);
    let projects = exported
        .iter()
        .find(|(p, _)| p.ends_with("/projects.md"))
        .map(|(p, b)| (p.clone(), String::from_utf8_lossy(b).to_string()))
        .expect("the Projects page");
    let cover_line = projects
        .1
        .lines()
        .find(|l| l.starts_with("cover: "))
        .expect("a cover")
        .to_string();
    assert!(cover_line.contains("../assets/"), "{cover_line}");

    // The cover removed in Notion: the next export removes its file, and only that.
    remove_projects_cover(&fake, &ids);
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let again = notionlake::export::export_markdown(&lake, &out)
        .await
        .unwrap();
    let after = export_files(&out);
    let gone: Vec<&String> = assets.iter().filter(|a| !after.contains_key(*a)).collect();
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(
        gone[0].ends_with(".jpg"),
        "the cover was the only jpg: {gone:?}"
    );
    assert_eq!((again.assets, again.removed), (10, 1), "{again:?}");
    assert!(
        files(&lake)
            .await
            .iter()
            .all(|r| r["ref_id"] != "cover" || r["origin"] != "page_cover")
    );
}

/// Every file under `dir`, recursively (relative paths), however the store names it.
fn on_disk(dir: &std::path::Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    export_files(dir).into_keys().collect()
}

/// `kill -9` while a 24 MiB file streams in (the fake's file host serves `slow` files at
/// 1 MiB/s): nothing partial is left as a stored file; the next run removes what the
/// interrupted download left, downloads the file whole and records it.
#[tokio::test]
async fn kill_9_mid_download_leaves_nothing_partial_and_the_next_run_completes_it() {
    let fake = crate::resume::Fake::start_with(&[
        "--synthetic-rows",
        "5",
        "--synthetic-sources",
        "1",
        "--synthetic-pages",
        "1",
        "--synthetic-files",
        "scan-slow-24MiB.bin,photo.png",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    let mut child = fake.sync(&lake_dir, &[]).spawn().unwrap();
    // Wait until the download has written some of its bytes.
    let partial = lake_dir.join("files/_partial");
    let started = std::time::Instant::now();
    loop {
        let written: u64 = on_disk(&partial)
            .iter()
            .filter_map(|f| std::fs::metadata(partial.join(f)).ok())
            .map(|m| m.len())
            .sum();
        if written >= 2 << 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        on_disk(&lake_dir.join(CONTENT_DIR))
            .iter()
            .all(|f| std::fs::metadata(lake_dir.join(CONTENT_DIR).join(f))
                .unwrap()
                .len()
                < 20 << 20),
        "no partial file is stored"
    );

    fake.finish(&lake_dir, &[]);
    assert_eq!(
        on_disk(&partial),
        Vec::<String>::new(),
        "nothing partial left"
    );
    let lake = Lake::open(lake_dir.to_str().unwrap()).unwrap();
    let rows = files(&lake).await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows.iter().all(|r| r["status"] == "stored"), "{rows:#?}");
    assert!(rows.iter().any(|r| r["bytes"] == 24 << 20));
    every_stored_file_hashes_to_its_row(&lake, &rows).await;
    assert_eq!(stored_objects(&lake).await.len(), 2);
}

/// A file no reference uses any more stays through syncs; `vacuum` marks it and removes it
/// once its retention has passed (with `--retain 0s`, at once), and keeps every used file.
#[tokio::test]
async fn vacuum_removes_unused_files_after_the_retention_and_no_sync_does() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    let all = stored_objects(&lake).await;
    remove_projects_cover(&fake, &ids);
    sync_with(&fake, &lake, &SyncOptions::default()).await;
    assert_eq!(
        stored_objects(&lake).await,
        all,
        "a sync removes no stored file"
    );
    let used: BTreeSet<String> = files(&lake)
        .await
        .iter()
        .map(|r| r["sha256"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(used.len(), all.len() - 1, "the cover is no longer used");

    let vacuum = |retain: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
            .args([
                "vacuum",
                "--lake",
                dir.path().to_str().unwrap(),
                "--retain",
                retain,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let said = vacuum("7d");
    assert!(said.contains("0 removed"), "{said}");
    assert!(said.contains("1 unused waiting"), "{said}");
    assert_eq!(
        stored_objects(&lake).await,
        all,
        "within the retention: kept"
    );
    let said = vacuum("0s");
    assert!(said.contains("1 removed"), "{said}");
    assert_eq!(
        stored_objects(&lake).await,
        used,
        "only the unused file left"
    );
}
