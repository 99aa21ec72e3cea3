//! Notion-hosted files downloaded into the lake's file store, from the fake's file host (S3's
//! answers to presigned URLs): stored once by content, on a local disk and on S3 (moto); a
//! 150 MiB file streamed whole; an expired URL, a missing file and an oversize one told apart,
//! each leaving nothing in the store.

use notionlake::fake::{FakeConfig, FakeNotion, demo_workspace};
use notionlake::files::download::{Downloader, Fetched};
use notionlake::files::store::{FILES_DIR, content_path};
use notionlake::sink::Lake;
use sha2::Digest;

fn signed(base: &str, key: &str, at: chrono::DateTime<chrono::Utc>, secs: u32) -> String {
    format!(
        "{base}/__files/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={}&X-Amz-Expires={secs}&X-Amz-Signature=00ff",
        at.format("%Y%m%dT%H%M%SZ")
    )
}

async fn fake() -> FakeNotion {
    FakeNotion::start(demo_workspace().0, FakeConfig::unlimited())
        .await
        .unwrap()
}

/// Objects under `files/` of a lake, by listing (any store).
async fn objects(lake: &Lake) -> Vec<String> {
    use futures::StreamExt;
    let prefix = lake.path(FILES_DIR);
    let store = lake.store();
    let mut out: Vec<String> = store
        .list(Some(&prefix))
        .map(|m| m.unwrap().location.to_string())
        .collect()
        .await;
    out.sort();
    out
}

async fn downloads_are_stored_once_and_refusals_leave_nothing(lake: &Lake) {
    let fake = fake().await;
    let now = chrono::Utc::now();
    let base = fake.url();
    let base = base.trim_end_matches('/');
    let downloader = Downloader::new(4, 200 << 20).unwrap();
    let url = signed(base, "acme/arm-300KiB.png", now, 3600);
    let Fetched::Stored {
        stored,
        content_type,
    } = downloader.fetch(lake, &url).await.unwrap()
    else {
        panic!("not stored");
    };
    assert_eq!(content_type.as_deref(), Some("image/png"));
    assert_eq!(stored.bytes, 300 << 10);
    assert!(stored.new);
    // The same file under a fresh signature: the same bytes, stored already.
    let again = signed(base, "acme/arm-300KiB.png", now, 60);
    match downloader.fetch(lake, &again).await.unwrap() {
        Fetched::Stored { stored: s, .. } => {
            assert_eq!((s.sha256, s.new), (stored.sha256.clone(), false))
        }
        other => panic!("{other:?}"),
    }
    let bytes = lake.read(&stored.path).await.unwrap().unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), stored.sha256);
    assert_eq!(stored.path, content_path(&stored.sha256));

    let expired = signed(
        base,
        "acme/spec.pdf",
        now - chrono::Duration::seconds(10),
        2,
    );
    assert_eq!(
        downloader.fetch(lake, &expired).await.unwrap(),
        Fetched::Expired
    );
    let missing = signed(base, "acme/missing.pdf", now, 3600);
    assert_eq!(
        downloader.fetch(lake, &missing).await.unwrap(),
        Fetched::Missing
    );
    let small = Downloader::new(1, 1 << 20).unwrap();
    let big = signed(base, "acme/scan-2MiB.bin", now, 3600);
    assert_eq!(
        small.fetch(lake, &big).await.unwrap(),
        Fetched::TooLarge {
            bytes: Some(2 << 20)
        }
    );
    let stats = fake.stats();
    assert_eq!(stats.total, 0, "downloads are not API requests");
    assert_eq!(stats.file_downloads.get(&403), Some(&1));
    assert_eq!(stats.file_downloads.get(&404), Some(&1));
    let root = lake.path("").to_string();
    let rel: Vec<String> = objects(lake)
        .await
        .into_iter()
        .map(|o| {
            o.trim_start_matches(&root)
                .trim_start_matches('/')
                .to_string()
        })
        .collect();
    assert_eq!(
        rel,
        vec![stored.path.clone()],
        "one object, nothing partial"
    );
}

#[tokio::test]
async fn downloads_into_a_local_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    downloads_are_stored_once_and_refusals_leave_nothing(&lake).await;
}

#[tokio::test]
async fn downloads_into_an_s3_lake() {
    let moto = crate::lake::Moto::start("files").await;
    let opts = moto.options();
    let refs: Vec<(&str, &str)> = opts.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lake = Lake::open_with("s3://files/lake", &refs).unwrap();
    downloads_are_stored_once_and_refusals_leave_nothing(&lake).await;
}

/// A 150 MiB file streams through into the store whole, with its hash.
#[tokio::test]
async fn a_large_file_streams_whole() {
    let fake = fake().await;
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let url = signed(
        fake.url().trim_end_matches('/'),
        "acme/scan-150MiB.bin",
        chrono::Utc::now(),
        3600,
    );
    let Fetched::Stored { stored, .. } = Downloader::new(1, 1 << 30)
        .unwrap()
        .fetch(&lake, &url)
        .await
        .unwrap()
    else {
        panic!("not stored");
    };
    assert_eq!(stored.bytes, 150 << 20);
    let path = dir.path().join(&stored.path);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 150 << 20);
    let mut hash = sha2::Sha256::new();
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    assert_eq!(hex::encode(hash.finalize()), stored.sha256);
}

/// One API request to the fake at `base` (as the demo's integration), its JSON answer.
async fn api(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(notionlake::fake::DEMO_TOKEN)
        .header("Notion-Version", "2025-09-03");
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// The first Notion-hosted file URL in a `files` property of `page`.
fn hosted_file_url(page: &serde_json::Value) -> Option<String> {
    page["properties"].as_object()?.values().find_map(|p| {
        p["files"].as_array()?.iter().find_map(|f| {
            (f["type"] == "file").then(|| f["file"]["url"].as_str().map(str::to_string))?
        })
    })
}

/// With the fake's file host and a 2 s lifetime: a URL downloads while fresh, is told
/// expired after, and one API request for the page gives a fresh one that downloads.
#[tokio::test]
async fn an_expired_url_is_told_apart_and_a_fresh_read_downloads() {
    let config = FakeConfig {
        host_files: true,
        file_lifetime: std::time::Duration::from_secs(2),
        ..FakeConfig::unlimited()
    };
    let fake = FakeNotion::start(demo_workspace().0, config).await.unwrap();
    let base = fake.url().trim_end_matches('/').to_string();
    let search =
        serde_json::json!({"filter": {"property": "object", "value": "page"}, "page_size": 100});
    let found = api(&base, reqwest::Method::POST, "/v1/search", Some(search)).await;
    let page = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| hosted_file_url(p).is_some())
        .expect("a page with a Notion-hosted file")
        .clone();
    let url = hosted_file_url(&page).unwrap();
    assert!(url.starts_with(&format!("{base}/__files/")), "{url}");
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap()).unwrap();
    let downloader = Downloader::new(2, 1 << 20).unwrap();
    let first = downloader.fetch(&lake, &url).await.unwrap();
    assert!(matches!(first, Fetched::Stored { .. }), "{first:?}");
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(
        downloader.fetch(&lake, &url).await.unwrap(),
        Fetched::Expired
    );
    let before = fake.stats().total;
    let id = page["id"].as_str().unwrap();
    let fresh = api(
        &base,
        reqwest::Method::GET,
        &format!("/v1/pages/{id}"),
        None,
    )
    .await;
    assert_eq!(
        fake.stats().total - before,
        1,
        "one API request for a fresh URL"
    );
    let fresh_url = hosted_file_url(&fresh).unwrap();
    assert_ne!(fresh_url, url);
    match downloader.fetch(&lake, &fresh_url).await.unwrap() {
        Fetched::Stored { stored, .. } => assert!(!stored.new, "the same bytes"),
        other => panic!("{other:?}"),
    }
}

/// Every kind of reference the demo workspace holds is found in the fake's answers: a `files`
/// property (the CRM's contracts), media blocks (images, a PDF, a file), a page's cover and
/// icon, and a comment's attachment; every reference's key is its URL without the signature.
#[tokio::test]
async fn the_demo_references_hosted_files_of_every_kind() {
    use notionlake::files::refs::{refs_of_block, refs_of_comment, refs_of_page};
    use serde_json::json;
    let fake = fake().await;
    let base = fake.url().trim_end_matches('/').to_string();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({"filter": {"property": "object", "value": "page"}, "page_size": 100});
        if let Some(c) = &cursor {
            body["start_cursor"] = json!(c);
        }
        let answer = api(&base, reqwest::Method::POST, "/v1/search", Some(body)).await;
        pages.extend(answer["results"].as_array().unwrap().iter().cloned());
        match answer["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let mut refs = Vec::new();
    for page in &pages {
        let id = page["id"].as_str().unwrap();
        refs.extend(refs_of_page(page));
        // Every block of the page (the demo's pages hold fewer than 100 per parent).
        let mut parents = vec![id.to_string()];
        while let Some(parent) = parents.pop() {
            let path = format!("/v1/blocks/{parent}/children?page_size=100");
            let children = api(&base, reqwest::Method::GET, &path, None).await;
            for block in children["results"].as_array().into_iter().flatten() {
                refs.extend(refs_of_block(block, id));
                let bid = block["id"].as_str().unwrap();
                let path = format!("/v1/comments?block_id={bid}");
                let comments = api(&base, reqwest::Method::GET, &path, None).await;
                for c in comments["results"].as_array().into_iter().flatten() {
                    refs.extend(refs_of_comment(c, id));
                }
                if block["has_children"] == true && block["type"] != "child_page" {
                    parents.push(bid.to_string());
                }
            }
        }
    }
    let kinds: std::collections::BTreeSet<&str> = refs.iter().map(|r| r.origin.kind()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["block", "comment", "page_cover", "page_icon", "property"]
    );
    for r in &refs {
        assert!(r.url.contains("X-Amz-Signature="), "{r:?}");
        assert_eq!(r.key, r.url.split('?').next().unwrap());
        assert!(r.expiry_time.is_some(), "{r:?}");
    }
    let blocks: Vec<&str> = refs
        .iter()
        .filter(|r| r.origin.kind() == "block")
        .map(|r| r.key.rsplit('/').next().unwrap())
        .collect();
    for name in ["arm.png", "spec.pdf", "data.csv"] {
        assert!(blocks.contains(&name), "{name} in {blocks:?}");
    }
}
