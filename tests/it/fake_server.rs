//! The fake Notion's own contract, over raw HTTP: auth before version, error objects, envelopes,
//! capabilities (403), unknown paths, version-gated endpoints, request ids and stats.

use notionlake::fake::{DEMO_TOKEN, FakeConfig};
use serde_json::Value;

use crate::demo_fake;

async fn get(
    url: &str,
    token: Option<&str>,
    version: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(v) = version {
        req = req.header("Notion-Version", v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap())
}

#[tokio::test]
async fn auth_then_version_then_envelope() {
    let (fake, _) = demo_fake(FakeConfig::default()).await;
    let url = format!("{}/v1/users", fake.url());
    let (s, _, body) = get(&url, None, None).await;
    assert_eq!(
        (s, body["object"].as_str(), body["code"].as_str()),
        (401, Some("error"), Some("unauthorized"))
    );
    assert!(body["request_id"].is_string());
    let (s, _, body) = get(&url, Some("wrong"), Some("2025-09-03")).await;
    assert_eq!((s, body["code"].as_str()), (401, Some("unauthorized")));
    let (s, _, body) = get(&url, Some(DEMO_TOKEN), None).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("missing_version")));
    let (s, headers, body) = get(&url, Some(DEMO_TOKEN), Some("2025-09-03")).await;
    assert_eq!(s, 200);
    assert_eq!(body["object"], "list");
    assert_eq!(body["type"], "user");
    assert!(body["results"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        headers["x-notion-request-id"].to_str().unwrap(),
        body["request_id"].as_str().unwrap()
    );
    let (s, _, body) = get(&url, Some(DEMO_TOKEN), Some("1999-01-01")).await;
    assert_eq!((s, body["code"].as_str()), (400, Some("validation_error")));
}

#[tokio::test]
async fn version_gated_and_unknown_endpoints() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let ds = &ids.data_sources["Deals"];
    let (s, _, body) = get(
        &format!("{}/v1/data_sources/{ds}", fake.url()),
        Some(DEMO_TOKEN),
        Some("2022-06-28"),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str(), body["message"].as_str()),
        (
            400,
            Some("invalid_request_url"),
            Some("Invalid request URL.")
        )
    );
    let (s, _, body) = get(
        &format!("{}/v1/data_sources/{ds}", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!((s, body["object"].as_str()), (200, Some("data_source")));
    let (s, _, body) = get(
        &format!("{}/v1/invalid", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("invalid_request_url"))
    );
    // A database with two data sources cannot be read with the old version.
    let db = &ids.databases["Projects"];
    let (s, _, body) = get(
        &format!("{}/v1/databases/{db}", fake.url()),
        Some(DEMO_TOKEN),
        Some("2022-06-28"),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("validation_error")));
    let (s, _, body) = get(
        &format!("{}/v1/databases/{db}", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["data_sources"].as_array().map(Vec::len), Some(2));
    assert!(
        body["created_time"].as_str().unwrap().ends_with("+00:00"),
        "container timestamps keep milliseconds"
    );
}

#[tokio::test]
async fn missing_capabilities_answer_403_restricted_resource() {
    let config = FakeConfig {
        restricted: ["comments".to_string(), "users".to_string()].into(),
        ..FakeConfig::unlimited()
    };
    let (fake, ids) = demo_fake(config).await;
    let page = &ids.meeting_pages[0];
    let (s, _, body) = get(
        &format!("{}/v1/comments?block_id={page}", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("restricted_resource"))
    );
    let (s, _, body) = get(
        &format!("{}/v1/users", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (403, Some("restricted_resource"))
    );
    // users/me stays readable: it is the bot itself.
    let (s, _, body) = get(
        &format!("{}/v1/users/me", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["bot"]["workspace_name"], "Acme Robotics");
}

#[tokio::test]
async fn meeting_notes_block_is_named_per_version_and_comments_are_listed() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    for (version, name) in [
        ("2025-09-03", "transcription"),
        ("2026-03-11", "meeting_notes"),
    ] {
        let (_, _, body) = get(
            &format!("{}/v1/blocks/{}/children", fake.url(), ids.block_gallery),
            Some(DEMO_TOKEN),
            Some(version),
        )
        .await;
        let types: Vec<&str> = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].as_str().unwrap())
            .collect();
        assert!(types.contains(&name), "{version}: {types:?}");
    }
    let page = &ids.meeting_pages[0];
    let (s, _, body) = get(
        &format!("{}/v1/comments?block_id={page}", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!(s, 200);
    let comments = body["results"].as_array().unwrap();
    assert_eq!(comments.len(), 2);
    assert_eq!(
        comments[0]["discussion_id"], comments[1]["discussion_id"],
        "a reply shares the thread"
    );
    let (s, _, body) = get(
        &format!("{}/v1/comments", fake.url()),
        Some(DEMO_TOKEN),
        Some("2025-09-03"),
    )
    .await;
    assert_eq!((s, body["code"].as_str()), (400, Some("validation_error")));
}

#[tokio::test]
async fn stats_endpoint_counts_per_endpoint() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    for _ in 0..3 {
        get(
            &format!("{}/v1/pages/{}", fake.url(), ids.big_deal),
            Some(DEMO_TOKEN),
            Some("2025-09-03"),
        )
        .await;
    }
    get(&format!("{}/v1/users/me", fake.url()), None, None).await;
    let stats: Value = reqwest::get(format!("{}/__fake/stats", fake.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["GET /v1/pages/{id}"], 3);
    assert_eq!(stats["requests"]["GET /v1/users/me"], 1);
    assert_eq!(stats["statuses"]["401"], 1);
    assert_eq!(
        fake.stats().total,
        4,
        "the stats endpoint does not count itself"
    );
}
