//! The Notion client against the fake: pagination on GET and POST, 429/Retry-After on a paused
//! clock, 5xx/reset/non-JSON retries, permanent errors not retried, exact request counts, and the
//! version differences hidden behind one model.

use std::collections::HashSet;
use std::time::Duration;

use futures::TryStreamExt;
use notionlake::fake::{FakeConfig, FaultConfig, FaultKind};
use notionlake::model::DataSourceRef;
use notionlake::notion::{
    ApiRequest, ClientConfig, NotionClient, NotionError, NotionVersion, RetryConfig, SearchTarget,
};
use serde_json::{Value, json};

use crate::{client_with, demo_fake, test_config};

fn ids_of(items: &[Value]) -> HashSet<String> {
    items
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

/// Every row of a data-source query, across its pages, decoded.
async fn query_all(client: &NotionClient, source: &DataSourceRef, body: Value) -> Vec<Value> {
    client
        .query_rows(source, body)
        .map_ok(|p| {
            futures::stream::iter(
                p.decode_rows("query")
                    .unwrap()
                    .into_iter()
                    .map(Ok::<Value, NotionError>),
            )
        })
        .try_flatten()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn get_pagination_walks_more_than_three_pages() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(ClientConfig {
        page_size: 40,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let children: Vec<Value> = client
        .block_children(&ids.wide_block)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(children.len(), 150);
    assert_eq!(ids_of(&children).len(), 150, "no duplicates across pages");
    let texts: Vec<&str> = children
        .iter()
        .map(|c| c["to_do"]["rich_text"][0]["plain_text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.first(), Some(&"Checklist item 1"));
    assert_eq!(texts.last(), Some(&"Checklist item 150"));
    // 150 children at 40 a page: 4 requests, no more.
    assert_eq!(fake.stats().count("GET /v1/blocks/{id}/children"), 4);
    assert_eq!(client.stats().requests["GET /v1/blocks/{id}/children"], 4);

    let client = client_with(ClientConfig {
        page_size: 2,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    fake.reset_stats();
    let users: Vec<Value> = client.list_users().try_collect().await.unwrap();
    assert_eq!(users.len(), fake.workspace().users.len());
    assert_eq!(
        fake.stats().count("GET /v1/users"),
        users.len().div_ceil(2) as u64
    );
    assert!(users.len().div_ceil(2) > 3);
}

#[tokio::test]
async fn post_pagination_walks_more_than_three_pages() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(ClientConfig {
        page_size: 9,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let contacts = DataSourceRef {
        id: ids.data_sources["Contacts"].clone(),
        database_id: None,
    };
    let pages: Vec<_> = client
        .query_rows(&contacts, json!({}))
        .try_collect()
        .await
        .unwrap();
    let rows: Vec<Value> = pages
        .iter()
        .flat_map(|p| p.decode_rows("query").unwrap())
        .collect();
    assert_eq!(pages.len(), 5, "40 rows at 9 a page");
    assert_eq!(rows.len(), 40);
    assert_eq!(ids_of(&rows).len(), 40);
    assert!(pages.iter().all(|p| !p.is_incomplete()));
    assert_eq!(fake.stats().count("POST /v1/data_sources/{id}/query"), 5);

    let found: Vec<Value> = client
        .search(SearchTarget::Pages)
        .try_collect()
        .await
        .unwrap();
    let expected = fake
        .workspace()
        .pages
        .iter()
        .filter(|p| p.searchable && fake.workspace().is_visible(&p.id))
        .count();
    assert_eq!(found.len(), expected);
    assert_eq!(ids_of(&found).len(), expected);
    assert_eq!(
        fake.stats().count("POST /v1/search"),
        expected.div_ceil(9) as u64
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limited_requests_wait_for_retry_after_on_a_paused_clock() {
    // The fake allows 1 request/s with no burst; the client does not pace itself.
    let (fake, _) = demo_fake(FakeConfig {
        rps: Some(1.0),
        burst: 1,
        ..FakeConfig::unlimited()
    })
    .await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let virtual_start = tokio::time::Instant::now();
    let real_start = std::time::Instant::now();
    for _ in 0..4 {
        client.users_me().await.expect("eventually succeeds");
    }
    let stats = client.stats();
    let fake_stats = fake.stats();
    // Each 429 was followed by a wait of Retry-After (1 s) before the retry.
    assert!(stats.rate_limited >= 3, "{stats:?}");
    assert_eq!(stats.rate_limited, fake_stats.rate_limited);
    // Every 429 names the limit it hit: the fake's limiter is the connection's.
    assert_eq!(
        stats.rate_limit_reasons,
        [(
            "public_api_request_rate_limit".to_string(),
            stats.rate_limited
        )]
        .into()
    );
    assert_eq!(stats.retries, stats.rate_limited);
    assert_eq!(fake_stats.count("GET /v1/users/me"), 4 + stats.rate_limited);
    let waited = virtual_start.elapsed();
    assert!(waited >= Duration::from_secs(3), "virtual time {waited:?}");
    // The waiting happened on the paused clock, not for real.
    assert!(
        real_start.elapsed() < waited,
        "real {:?} vs virtual {waited:?}",
        real_start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn client_side_limiter_paces_to_the_configured_rate() {
    let (fake, _) = demo_fake(FakeConfig {
        rps: Some(3.0),
        burst: 3,
        ..FakeConfig::unlimited()
    })
    .await;
    let client = client_with(ClientConfig {
        rps: 3.0,
        burst: 2,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    c.users_me().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // 20 requests shared by 4 tasks at 3/s with a burst of 2: 18 paced requests = 6 s.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(5900) && took <= Duration::from_millis(6500),
        "{took:?}"
    );
    assert_eq!(
        client.stats().rate_limited,
        0,
        "the client never exceeds the server's bucket"
    );
}

#[tokio::test(start_paused = true)]
async fn server_errors_and_resets_are_retried_until_success() {
    let faults = FaultConfig {
        rate: 0.4,
        seed: 11,
        kinds: vec![
            FaultKind::Status(500),
            FaultKind::Status(502),
            FaultKind::Status(503),
            FaultKind::Status(504),
            FaultKind::Status(529),
            FaultKind::Reset,
        ],
        ..FaultConfig::default()
    };
    let (fake, ids) = demo_fake(FakeConfig {
        faults,
        ..FakeConfig::unlimited()
    })
    .await;
    let client = client_with(ClientConfig {
        page_size: 10,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let deals = DataSourceRef {
        id: ids.data_sources["Deals"].clone(),
        database_id: None,
    };
    let rows = query_all(&client, &deals, json!({})).await;
    assert_eq!(rows.len(), 24);
    for _ in 0..10 {
        client.users_me().await.unwrap();
    }
    let (stats, served) = (client.stats(), fake.stats());
    assert!(served.faults >= 3, "the seed injects faults: {served:?}");
    assert_eq!(stats.retries, served.faults, "one retry per injected fault");
    assert_eq!(
        served.versions.get("2025-09-03"),
        Some(&served.total),
        "retries carry the version too"
    );
    assert_eq!(stats.total_requests, served.total);
    assert!(stats.transport_errors > 0 || stats.server_errors > 0);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let err = client
        .retrieve_page("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.status(), Some(404));
    assert!(
        err.to_string().contains("shared with the integration"),
        "{err}"
    );
    // An unshared page is indistinguishable from a missing one.
    let err = client.retrieve_page(&ids.unshared_page).await.unwrap_err();
    assert!(err.is_not_found());
    // A bad request body: 400 validation_error.
    let bad = ApiRequest::post(
        "POST /v1/search",
        "/v1/search",
        json!({"filter": {"property": "object", "value": "database"}}),
    );
    let err = client.send(&bad).await.unwrap_err();
    assert_eq!(err.code(), Some("validation_error"));
    assert_eq!(fake.stats().total, 3, "each failed once, none retried");
    assert_eq!(client.stats().retries, 0);
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_never_shows_the_token() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let secret = "ntn_this_token_is_wrong_12345";
    let client = notionlake::notion::NotionClient::new(
        test_config(&fake, NotionVersion::V2025_09_03),
        std::sync::Arc::new(notionlake::notion::StaticToken::new(secret)),
    )
    .unwrap();
    let err = client.users_me().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some("unauthorized"));
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(
        shown.contains("NOTION_TOKEN"),
        "the message says what to do: {shown}"
    );
    assert_eq!(fake.stats().total, 1);
}

#[tokio::test]
async fn retries_are_bounded() {
    let faults = FaultConfig {
        rate: 1.0,
        kinds: vec![FaultKind::Status(503)],
        ..FaultConfig::default()
    };
    let (fake, _) = demo_fake(FakeConfig {
        faults,
        ..FakeConfig::unlimited()
    })
    .await;
    let retry = RetryConfig {
        max_attempts: 3,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        ..RetryConfig::default()
    };
    let client = client_with(ClientConfig {
        retry,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let err = client.users_me().await.unwrap_err();
    match &err {
        NotionError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 3);
            assert_eq!(last.status(), Some(503));
        }
        other => panic!("expected RetriesExhausted, got {other}"),
    }
    assert_eq!(fake.stats().total, 3);
}

#[tokio::test]
async fn a_stale_cursor_is_rejected_as_validation_error() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let req = ApiRequest::post(
        "POST /v1/data_sources/{id}/query",
        format!("/v1/data_sources/{}/query", ids.data_sources["Contacts"]),
        json!({"start_cursor": "s:deadbeef:00000000-0000-0000-0000-000000000000"}),
    );
    let err = client.send(&req).await.unwrap_err();
    assert_eq!(err.code(), Some("validation_error"));
    assert_eq!(fake.stats().total, 1);
}

#[tokio::test]
async fn every_version_sees_the_same_workspace_through_one_model() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let mut counts = Vec::new();
    for version in NotionVersion::ALL {
        fake.reset_stats();
        let client = client_with(test_config(&fake, version));
        let inv = notionlake::sync::inventory(&client).await.unwrap();
        let served = fake.stats();
        assert!(
            served.statuses.keys().all(|s| *s == 200),
            "{version}: {:?}",
            served.statuses
        );
        let mut tables: Vec<(String, usize)> = inv
            .data_sources
            .iter()
            .map(|d| (d.title.clone(), d.rows))
            .collect();
        tables.sort();
        counts.push((version, tables));
        // Row pages name their table the way this version does.
        let source = DataSourceRef::from_object(&json!({"object": if version.has_data_sources() {"data_source"} else {"database"}, "id": if version.has_data_sources() { &ids.data_sources["Deals"] } else { &ids.databases["Deals"] }})).unwrap();
        let page = client
            .query_rows(&source, json!({"page_size": 1}))
            .try_next()
            .await
            .unwrap()
            .unwrap();
        let row = &page.decode_rows("query").unwrap()[0];
        let parent = &row["parent"];
        let expected = if version.has_data_sources() {
            "data_source_id"
        } else {
            "database_id"
        };
        assert_eq!(parent["type"], expected, "{version}");
        assert_eq!(
            row.get("archived").is_some(),
            version.has_archived_alias(),
            "{version}"
        );
    }
    // 2025-09-03 and 2026-03-11 see all 7 data sources; 2022-06-28 cannot see the two-source
    // Projects database (Notion refuses multi-source databases in the old version).
    assert_eq!(counts[1].1, counts[2].1);
    assert_eq!(counts[1].1.len(), 7);
    let old: Vec<&String> = counts[0].1.iter().map(|t| &t.0).collect();
    assert_eq!(old.len(), 5);
    assert!(!old.iter().any(|t| *t == "Projects" || *t == "Milestones"));
}

#[tokio::test]
async fn discovery_makes_exactly_the_minimum_number_of_requests() {
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let inv = notionlake::sync::inventory(&client).await.unwrap();
    let ws = fake.workspace();
    let sources = ws.data_sources.len() as u64;
    let pages = ws
        .pages
        .iter()
        .filter(|p| p.searchable && ws.is_visible(&p.id))
        .count() as u64;
    let rows_per_source: Vec<u64> = ws
        .data_sources
        .values()
        .map(|d| {
            (d.rows
                .iter()
                .filter(|r| !ws.page(r).unwrap().in_trash)
                .count() as u64)
                .div_ceil(100)
                .max(1)
        })
        .collect();
    // users/me + users (1 page) + search data sources (1 page) + per source (retrieve + query
    // pages) + search pages.
    let expected = 1 + 1 + 1 + sources + rows_per_source.iter().sum::<u64>() + pages.div_ceil(100);
    let stats = fake.stats();
    assert_eq!(stats.total, expected, "{:?}", stats.requests);
    assert_eq!(inv.requests.total_requests, expected);
    assert_eq!(stats.count("GET /v1/data_sources/{id}"), sources);
}

#[tokio::test]
async fn relation_beyond_25_is_truncated_in_pages_and_complete_through_property_items() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(ClientConfig {
        page_size: 10,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let page = client.retrieve_page(&ids.big_deal).await.unwrap();
    let rel = &page["properties"]["Stakeholders"];
    assert_eq!(rel["relation"].as_array().unwrap().len(), 25);
    assert_eq!(rel["has_more"], true);
    let full = client.page_property(&ids.big_deal, "dStk").await.unwrap();
    let items = full["results"].as_array().unwrap();
    assert_eq!(items.len(), 30);
    assert_eq!(
        ids_of(
            &items
                .iter()
                .map(|i| i["relation"].clone())
                .collect::<Vec<_>>()
        )
        .len(),
        30
    );
    assert_eq!(
        fake.stats()
            .count("GET /v1/pages/{id}/properties/{property_id}"),
        3
    );
    // A simple property answers one property_item.
    let amount = client.page_property(&ids.big_deal, "dAmt").await.unwrap();
    assert_eq!(amount["object"], "property_item");
    assert_eq!(amount["type"], "number");
    // An encoded property id is passed verbatim.
    let contacts = DataSourceRef {
        id: ids.data_sources["Contacts"].clone(),
        database_id: None,
    };
    let row = client
        .query_rows(&contacts, json!({"page_size": 1}))
        .try_next()
        .await
        .unwrap()
        .unwrap();
    let row_id = row.decode_rows("query").unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let email = client.page_property(&row_id, "k%40em").await.unwrap();
    assert_eq!(email["type"], "email");
}

#[tokio::test]
async fn query_cap_is_reported_as_incomplete() {
    let (fake, ids) = demo_fake(FakeConfig {
        query_cap: 15,
        ..FakeConfig::unlimited()
    })
    .await;
    let client = client_with(ClientConfig {
        page_size: 10,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let contacts = DataSourceRef {
        id: ids.data_sources["Contacts"].clone(),
        database_id: None,
    };
    let pages: Vec<_> = client
        .query_rows(&contacts, json!({}))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.iter().map(|p| p.results.len()).sum::<usize>(), 15);
    let last = pages.last().unwrap();
    assert!(!last.has_more && last.is_incomplete());
    assert!(!pages[0].is_incomplete());
}

#[tokio::test]
async fn timestamp_filters_sorts_and_trash_follow_notion() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let client = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let deals = DataSourceRef {
        id: ids.data_sources["Deals"].clone(),
        database_id: None,
    };
    let all = |body: Value| query_all(&client, &deals, body);
    let rows =
        all(json!({"sorts": [{"timestamp": "created_time", "direction": "ascending"}]})).await;
    assert_eq!(rows.len(), 24, "the trashed deal is left out");
    for r in &rows {
        for k in ["created_time", "last_edited_time"] {
            assert!(
                r[k].as_str().unwrap().ends_with(":00.000Z"),
                "minute-rounded: {}",
                r[k]
            );
        }
    }
    let created: Vec<&str> = rows
        .iter()
        .map(|r| r["created_time"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]));
    let pivot = created[12];
    let later = all(
        json!({"filter": {"timestamp": "created_time", "created_time": {"on_or_after": pivot}}}),
    )
    .await;
    assert_eq!(later.len(), created.iter().filter(|c| **c >= pivot).count());
    let compound = all(json!({"filter": {"and": [
        {"timestamp": "created_time", "created_time": {"on_or_after": pivot}},
        {"or": [{"property": "Signed", "checkbox": {"equals": true}}, {"property": "Stage", "status": {"equals": "Lead"}}]}
    ]}})).await;
    assert!(!compound.is_empty() && compound.len() < later.len());
    for r in &compound {
        let p = &r["properties"];
        assert!(p["Signed"]["checkbox"] == true || p["Stage"]["status"]["name"] == "Lead");
    }
    let trashed = all(json!({"in_trash": true})).await;
    assert_eq!(trashed.len(), 1);
    assert_eq!(trashed[0]["in_trash"], true);
}

/// Regression: a response body was read whole, however large.
#[tokio::test]
async fn a_response_larger_than_the_limit_fails_with_the_endpoint_named() {
    let (fake, ids) = demo_fake(FakeConfig::unlimited()).await;
    let small = client_with(ClientConfig {
        max_response_bytes: 4096,
        ..test_config(&fake, NotionVersion::V2025_09_03)
    });
    let err = small
        .block_children(&ids.wide_block)
        .try_collect::<Vec<Value>>()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            notionlake::notion::NotionError::ResponseTooLarge { limit: 4096, .. }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("GET /v1/blocks/{id}/children") && text.contains("--max-response-mb"),
        "{text}"
    );
    assert_eq!(
        fake.stats().count("GET /v1/blocks/{id}/children"),
        1,
        "a too-large answer is not retried"
    );
    // The default limit lets the same listing through.
    let normal = client_with(test_config(&fake, NotionVersion::V2025_09_03));
    let children: Vec<Value> = normal
        .block_children(&ids.wide_block)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(children.len(), 150);
}
