//! The webhook receiver treats every request as hostile: only the operator arms the
//! verification (atomically, once), signatures are checked before any parse, bodies are
//! bounded in size, depth and read time, ids must be UUIDs, connections and header reads are
//! bounded, and a copy of an event that arrives while the first is being written waits for
//! it.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use notionlake::fake::FakeConfig;
use notionlake::sink::Lake;
use notionlake::webhooks::log;
use notionlake::webhooks::serve::Limits;
use notionlake::webhooks::signature::{SIGNATURE_HEADER, sign};
use notionlake::webhooks::{Receiver, ReceiverConfig};
use object_store::path::Path as StorePath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::demo_fake;
use crate::lake::sync_with;

const TOKEN: &str = "secret_operator_token";
const PAGE: &str = "0f0e0d0c-0b0a-0908-0706-050403020100";

struct Setup {
    _dir: tempfile::TempDir,
    lake: Lake,
    token_file: std::path::PathBuf,
    rx: Receiver,
    url: String,
}

async fn start(config: impl FnOnce(ReceiverConfig) -> ReceiverConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    start_on(dir, lake, config).await
}

async fn start_on(
    dir: tempfile::TempDir,
    lake: Lake,
    config: impl FnOnce(ReceiverConfig) -> ReceiverConfig,
) -> Setup {
    let token_file = dir.path().join("conf").join("webhook-token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = config(ReceiverConfig::new(token_file.clone()));
    let rx = Receiver::start(lake.clone(), listener, config)
        .await
        .unwrap();
    let url = format!("http://{}/", rx.addr());
    Setup {
        _dir: dir,
        lake,
        token_file,
        rx,
        url,
    }
}

fn armed(c: ReceiverConfig) -> ReceiverConfig {
    ReceiverConfig {
        arm: Some(Duration::from_secs(60)),
        ..c
    }
}

async fn post(url: &str, body: &[u8], signature: Option<String>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        req = req.header(SIGNATURE_HEADER, s);
    }
    req.send().await.unwrap().status().as_u16()
}

fn verification(token: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"verification_token": token})).unwrap()
}

fn event(id: &str, entity: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": id, "timestamp": "2026-12-07T10:00:00.000Z", "type": "page.properties_updated", "attempt_number": 1, "entity": {"id": entity, "type": "page"}, "data": {"parent": {"id": PAGE, "type": "space"}, "updated_properties": ["title"]}})).unwrap()
}

async fn stored(lake: &Lake) -> usize {
    let mut n = 0;
    for name in log::batch_names(lake).await.unwrap() {
        n += log::read_batch(lake, &name)
            .await
            .unwrap()
            .unwrap()
            .events
            .len();
    }
    n
}

/// Regression: the first unauthenticated POST with a verification token set the signing key,
/// so a stranger who reached the URL first could sign events and Notion got 409.
#[tokio::test]
async fn a_stranger_cannot_arm_the_receiver() {
    let s = start(|c| c).await;
    assert_eq!(
        post(&s.url, &verification("secret_stranger"), None).await,
        403
    );
    assert!(!s.token_file.exists(), "no token stored while unarmed");
    let forged = event("e0f2c7a4-0000-4000-8000-000000000001", PAGE);
    let signed = sign("secret_stranger", &forged);
    assert_eq!(post(&s.url, &forged, Some(signed)).await, 401);
    assert_eq!(stored(&s.lake).await, 0);
    s.rx.shutdown().await;
}

/// Armed by the operator: the first token wins atomically (of racing requests exactly one is
/// stored), arming ends, and the window closes by itself.
#[tokio::test]
async fn arming_accepts_one_token_once_atomically() {
    let s = start(armed).await;
    let offers: Vec<_> = (0..8)
        .map(|i| {
            let url = s.url.clone();
            tokio::spawn(async move {
                let token = format!("secret_racer_{i}");
                (post(&url, &verification(&token), None).await, token)
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for o in offers {
        let (status, token) = o.await.unwrap();
        assert!(matches!(status, 200 | 409), "{status}");
        if status == 200 {
            accepted.push(token);
        }
    }
    assert_eq!(accepted.len(), 1, "exactly one token stored: {accepted:?}");
    let kept = std::fs::read_to_string(&s.token_file).unwrap();
    assert_eq!(kept, accepted[0]);
    // The same token again is acknowledged; another is refused.
    assert_eq!(post(&s.url, &verification(&kept), None).await, 200);
    assert_eq!(post(&s.url, &verification(TOKEN), None).await, 409);
    s.rx.shutdown().await;

    let short = start(|c| ReceiverConfig {
        arm: Some(Duration::from_millis(200)),
        ..c
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(post(&short.url, &verification(TOKEN), None).await, 403);
    assert!(!short.token_file.exists(), "the window closed");
    short.rx.shutdown().await;
}

/// A verified receiver: the signature is checked before the body is parsed; a signed body
/// must be a shallow event naming UUIDs; oversized bodies are refused unread.
#[tokio::test]
async fn signed_bodies_are_checked_before_they_are_stored() {
    let s = start(armed).await;
    assert_eq!(post(&s.url, &verification(TOKEN), None).await, 200);
    // Not JSON: 401 when unsigned or wrongly signed (never parsed), 400 once signed.
    let garbage = b"{{{{ not json";
    assert_eq!(post(&s.url, garbage, None).await, 401);
    assert_eq!(
        post(&s.url, garbage, Some(sign("secret_wrong", garbage))).await,
        401
    );
    assert_eq!(post(&s.url, garbage, Some(sign(TOKEN, garbage))).await, 400);
    // Nested 127 levels: its batch would make every later sync fail to read it.
    let deep = format!(
        r#"{{"id":"e0f2c7a4-0000-4000-8000-000000000002","type":"page.created","entity":{{"id":"{PAGE}","type":"page"}},"data":{}{}}}"#,
        "[".repeat(124),
        "]".repeat(124)
    );
    assert_eq!(
        post(&s.url, deep.as_bytes(), Some(sign(TOKEN, deep.as_bytes()))).await,
        400
    );
    // Ids that would become request paths.
    for (id, entity) in [
        ("e0f2c7a4-0000-4000-8000-000000000003", "../users"),
        ("not-a-uuid", PAGE),
    ] {
        let body = event(id, entity);
        assert_eq!(
            post(&s.url, &body, Some(sign(TOKEN, &body))).await,
            400,
            "{entity}"
        );
    }
    let big = vec![b' '; 200 << 10];
    assert_eq!(post(&s.url, &big, Some(sign(TOKEN, &big))).await, 413);
    assert_eq!(stored(&s.lake).await, 0, "nothing stored");
    // A well-formed event is stored, and a sync reads the lake's events without error.
    let good = event("e0f2c7a4-0000-4000-8000-000000000004", PAGE);
    assert_eq!(post(&s.url, &good, Some(sign(TOKEN, &good))).await, 200);
    assert_eq!(stored(&s.lake).await, 1);
    let (fake, _) = demo_fake(FakeConfig::unlimited()).await;
    let options = notionlake::sync::SyncOptions::tables_only();
    sync_with(&fake, &s.lake, &options).await;
    let report = sync_with(&fake, &s.lake, &options).await;
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    s.rx.shutdown().await;
}

/// Slow clients are cut off (head and body), and connections beyond the bound wait.
#[tokio::test]
async fn slow_clients_and_connection_floods_are_bounded() {
    let limits = Limits {
        connections: 2,
        header_read: Duration::from_millis(300),
        body_read: Duration::from_millis(300),
        ..Limits::default()
    };
    let s = start(|c| ReceiverConfig { limits, ..armed(c) }).await;
    let addr = s.rx.addr();
    // A head that never ends: the server closes the connection.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the slow head was cut off");
    // A body that never ends: 408.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"id\"")
        .await
        .unwrap();
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(3), slow.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    drop(slow);
    // Two idle connections hold both places: a third request waits until one goes.
    let a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    assert!(client.get(&s.url).send().await.is_err(), "no place left");
    drop((a, b));
    let mut ok = false;
    for _ in 0..20 {
        if client.get(&s.url).send().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "served once the idle connections were cut off");
    s.rx.shutdown().await;
}

/// A store whose puts of event batches take `delay`.
#[derive(Debug)]
struct SlowPuts {
    inner: Arc<dyn ObjectStore>,
    delay: Duration,
}

impl std::fmt::Display for SlowPuts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlowPuts({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for SlowPuts {
    async fn put_opts(
        &self,
        location: &StorePath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if location.as_ref().contains("events") {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &StorePath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &StorePath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<StorePath>>,
    ) -> BoxStream<'static, object_store::Result<StorePath>> {
        self.inner.delete_stream(locations)
    }
    fn list(
        &self,
        prefix: Option<&StorePath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&StorePath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &StorePath,
        to: &StorePath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

/// Regression: a copy delivered while the first was still being written got 200 at once, so
/// Notion stopped retrying an event the lake might never hold.
#[tokio::test]
async fn a_copy_during_the_first_write_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap())
        .unwrap()
        .map_store(|inner| {
            Arc::new(SlowPuts {
                inner,
                delay: Duration::from_millis(600),
            })
        });
    let s = start_on(dir, lake, armed).await;
    assert_eq!(post(&s.url, &verification(TOKEN), None).await, 200);
    let body = event("e0f2c7a4-0000-4000-8000-000000000005", PAGE);
    let first = {
        let (url, body) = (s.url.clone(), body.clone());
        tokio::spawn(async move { post(&url, &body, Some(sign(TOKEN, &body))).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(post(&s.url, &body, Some(sign(TOKEN, &body))).await, 200);
    assert_eq!(
        stored(&s.lake).await,
        1,
        "the copy's 200 came once the event was stored"
    );
    assert_eq!(first.await.unwrap(), 200);
    s.rx.shutdown().await;
}

/// Stored events name only UUIDs, so no event can turn into a request path; the helper's
/// bodies are events.
#[test]
fn the_helpers_events_pass_the_intake() {
    let body = event("e0f2c7a4-0000-4000-8000-000000000006", PAGE);
    let (_, v): (u128, Value) = notionlake::webhooks::intake::event(&body).unwrap();
    assert_eq!(v["entity"]["id"], PAGE);
}
