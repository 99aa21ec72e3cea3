//! The fake Notion HTTP server (axum): the read endpoints with real envelopes and error objects,
//! and in front of them the gate every request passes — stats, latency, bearer token (401),
//! `Notion-Version` (400 missing_version), token bucket (429 + Retry-After) and seeded fault
//! injection (500/502/503/504/529, aborted responses, slow responses).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::query::{self, Invalid, Row};
use super::render::{Renderer, ts};
use super::workspace::{FParent, Page, PropDef, Workspace, decoded_property_id};
use crate::model::normalize_id;
use crate::notion::NotionVersion;
use crate::notion::rate_limit::RateLimiter;

/// The default token the fake accepts.
pub const DEMO_TOKEN: &str = "ntn_demo_fake_token_0000";

/// A fault the fake can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An error status: 500, 502 (an HTML edge page), 503, 504, 529 (with Retry-After), 429.
    Status(u16),
    /// Headers sent, then the connection is dropped mid-body.
    Reset,
    /// The response is delayed by [`FaultConfig::slow`].
    Slow,
}

/// Seeded fault injection.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// Probability (0–1) that a request gets a fault.
    pub rate: f64,
    /// Seed of the fault generator (same seed, same faults for the same request sequence).
    pub seed: u64,
    /// Faults to draw from, uniformly.
    pub kinds: Vec<FaultKind>,
    /// Delay of a slow response.
    pub slow: Duration,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            rate: 0.0,
            seed: 7,
            kinds: vec![
                FaultKind::Status(500),
                FaultKind::Status(502),
                FaultKind::Status(503),
                FaultKind::Status(504),
                FaultKind::Status(529),
                FaultKind::Reset,
                FaultKind::Slow,
            ],
            slow: Duration::from_secs(2),
        }
    }
}

/// Behaviour of the fake server.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Bearer tokens accepted.
    pub tokens: Vec<String>,
    /// Token-bucket rate (requests/s); `None` turns rate limiting off.
    pub rps: Option<f64>,
    /// Token-bucket burst.
    pub burst: u32,
    /// Latency added to every response.
    pub latency: Duration,
    /// Fault injection.
    pub faults: FaultConfig,
    /// Rows one data-source query may return before `request_status: incomplete`.
    pub query_cap: usize,
    /// Capabilities the integration lacks: `comments`, `users`, `content` → 403.
    pub restricted: HashSet<String>,
    /// The public integration for the OAuth endpoints, when OAuth is served.
    pub oauth: Option<super::oauth::FakeOAuth>,
    /// Reject every Nth pagination cursor of queries and block children as stale
    /// (400 validation_error), as Notion may after long pauses.
    pub stale_cursor_every: Option<u64>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            tokens: vec![DEMO_TOKEN.to_string()],
            rps: Some(3.0),
            burst: 3,
            latency: Duration::ZERO,
            faults: FaultConfig::default(),
            query_cap: 10_000,
            restricted: HashSet::new(),
            stale_cursor_every: None,
            oauth: None,
        }
    }
}

impl FakeConfig {
    /// A configuration for fast tests: no rate limit, no latency, no faults.
    pub fn unlimited() -> Self {
        FakeConfig {
            rps: None,
            ..FakeConfig::default()
        }
    }
}

/// Requests the fake received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FakeStats {
    /// Requests per endpoint (`GET /v1/blocks/{id}/children`), every answer counted.
    pub requests: BTreeMap<String, u64>,
    /// All requests.
    pub total: u64,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests by `Notion-Version` header value (`missing` when absent).
    pub versions: BTreeMap<String, u64>,
    /// 429s served by the token bucket.
    pub rate_limited: u64,
    /// Faults injected.
    pub faults: u64,
}

impl FakeStats {
    /// Requests to one endpoint.
    pub fn count(&self, endpoint: &str) -> u64 {
        self.requests.get(endpoint).copied().unwrap_or(0)
    }
}

/// Shared state of a running fake.
#[derive(Debug)]
pub struct FakeState {
    workspace: RwLock<Workspace>,
    config: FakeConfig,
    limiter: Option<RateLimiter>,
    rng: Mutex<StdRng>,
    stats: Mutex<FakeStats>,
    cursors_seen: std::sync::atomic::AtomicU64,
    rejected_cursors: Mutex<HashSet<String>>,
    oauth: Arc<super::oauth::OAuthState>,
}

impl FakeState {
    /// State for a workspace and a configuration.
    pub fn new(workspace: Workspace, config: FakeConfig) -> Result<Arc<Self>, String> {
        let limiter = config
            .rps
            .map(|rps| RateLimiter::new(rps, config.burst))
            .transpose()?;
        let identity = super::oauth::WorkspaceIdentity {
            id: workspace.id.clone(),
            name: workspace.name.clone(),
            bot_id: workspace.bot.id.clone(),
        };
        let oauth = super::oauth::OAuthState::new(config.oauth.clone(), identity);
        Ok(Arc::new(FakeState {
            workspace: RwLock::new(workspace),
            rng: Mutex::new(StdRng::seed_from_u64(config.faults.seed)),
            limiter,
            config,
            stats: Mutex::new(FakeStats::default()),
            cursors_seen: std::sync::atomic::AtomicU64::new(0),
            rejected_cursors: Mutex::new(HashSet::new()),
            oauth,
        }))
    }

    /// Issued OAuth tokens.
    fn oauth_tokens(&self) -> std::sync::MutexGuard<'_, super::oauth::OAuthTokens> {
        self.oauth.tokens()
    }

    /// True for a static token, or an OAuth access token with requests left (counting this one).
    fn accept_token(&self, token: &str) -> bool {
        self.config.tokens.iter().any(|k| k == token) || self.oauth.accept(token)
    }

    fn ws(&self) -> RwLockReadGuard<'_, Workspace> {
        self.workspace.read().unwrap_or_else(|e| e.into_inner())
    }

    /// True when this cursor-bearing request should be rejected as stale: every Nth one, each
    /// cursor at most once (a listing restarted from scratch gets through).
    fn stale_cursor(&self, cursor: Option<&str>) -> bool {
        match (cursor, self.config.stale_cursor_every) {
            (Some(c), Some(n)) if n > 0 => {
                let k = self
                    .cursors_seen
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1;
                k.is_multiple_of(n)
                    && self
                        .rejected_cursors
                        .lock()
                        .map(|mut r| r.insert(c.to_string()))
                        .unwrap_or(false)
            }
            _ => false,
        }
    }

    fn stats_mut(&self) -> std::sync::MutexGuard<'_, FakeStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake server.
#[derive(Debug)]
pub struct FakeNotion {
    addr: SocketAddr,
    state: Arc<FakeState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeNotion {
    /// Starts a fake on an ephemeral loopback port.
    pub async fn start(workspace: Workspace, config: FakeConfig) -> std::io::Result<FakeNotion> {
        Self::bind(workspace, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a fake on `addr`.
    pub async fn bind(
        workspace: Workspace,
        config: FakeConfig,
        addr: SocketAddr,
    ) -> std::io::Result<FakeNotion> {
        let state = FakeState::new(workspace, config).map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "fake Notion server stopped");
            }
        });
        Ok(FakeNotion {
            addr,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:7700`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A copy of the request counters.
    pub fn stats(&self) -> FakeStats {
        self.state.stats_mut().clone()
    }

    /// Clears the request counters.
    pub fn reset_stats(&self) {
        *self.state.stats_mut() = FakeStats::default();
    }

    /// The workspace, for reading.
    pub fn workspace(&self) -> RwLockReadGuard<'_, Workspace> {
        self.state.ws()
    }

    /// Successful refresh-token grants served.
    pub fn oauth_refreshes(&self) -> u64 {
        self.state.oauth_tokens().refreshes
    }

    /// Whether a refresh token is still accepted.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        self.state.oauth_tokens().refresh.contains(token)
    }

    /// The workspace, for editing between syncs.
    pub fn workspace_mut(&self) -> RwLockWriteGuard<'_, Workspace> {
        self.state
            .workspace
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the process is interrupted (for `notionlake fake-notion`).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for FakeNotion {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A Notion error object response.
fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let rid = request_id();
    let body = json!({"object": "error", "status": status, "code": code, "message": message.into(), "request_id": rid});
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-notion-request-id", v);
    }
    resp
}

fn not_found(kind: &str, id: &str, ws: &Workspace) -> Response {
    let rid = request_id();
    let body = json!({
        "object": "error", "status": 404, "code": "object_not_found",
        "message": format!("Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration \"{}\".", ws.bot.name),
        "additional_data": {"integration_id": ws.bot.id},
        "request_id": rid,
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn invalid_url() -> Response {
    error(400, "invalid_request_url", "Invalid request URL.")
}

fn validation(e: Invalid) -> Response {
    error(400, "validation_error", e.0)
}

fn ok(mut body: Value) -> Response {
    let rid = request_id();
    if let Some(o) = body.as_object_mut() {
        o.insert("request_id".into(), json!(rid));
    }
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-notion-request-id", v);
    }
    resp
}

fn list(results: Vec<Value>, w: &query::Window, kind: &str, extra: Value) -> Response {
    let mut body = json!({
        "object": "list",
        "results": results,
        "next_cursor": w.next_cursor,
        "has_more": w.next_cursor.is_some(),
        "type": kind,
    });
    body[kind] = extra;
    if w.capped {
        body["request_status"] = query::incomplete_status();
    }
    ok(body)
}

// ---------------------------------------------------------------------------------------------
// The gate

async fn gate(State(state): State<Arc<FakeState>>, mut req: Request, next: Next) -> Response {
    let label = format!(
        "{} {}",
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| req.uri().path().to_string())
    );
    let version_header = req
        .headers()
        .get("notion-version")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_else(|| "missing".into());
    let resp = gate_inner(&state, &mut req, &label).await;
    let resp = match resp {
        Ok(()) => next.run(req).await,
        Err(r) => r,
    };
    if label.contains(" /__fake") {
        return resp;
    }
    let mut stats = state.stats_mut();
    *stats.requests.entry(label).or_default() += 1;
    stats.total += 1;
    *stats.versions.entry(version_header).or_default() += 1;
    *stats.statuses.entry(resp.status().as_u16()).or_default() += 1;
    resp
}

async fn gate_inner(state: &FakeState, req: &mut Request, label: &str) -> Result<(), Response> {
    if label.contains(" /__fake") {
        return Ok(());
    }
    if !state.config.latency.is_zero() {
        tokio::time::sleep(state.config.latency).await;
    }
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if label.contains(" /v1/oauth/") {
        // OAuth endpoints authenticate the client (Basic) themselves.
        return Ok(());
    }
    if !token.is_some_and(|t| state.accept_token(t)) {
        return Err(error(401, "unauthorized", "API token is invalid."));
    }
    let version = match req.headers().get("notion-version").map(|v| v.to_str()) {
        None => {
            return Err(error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
            ));
        }
        Some(v) => match v.ok().and_then(|s| s.parse::<NotionVersion>().ok()) {
            Some(v) => v,
            None => {
                return Err(error(
                    400,
                    "validation_error",
                    "Notion-Version header failed validation: use 2022-06-28, 2025-09-03 or 2026-03-11.",
                ));
            }
        },
    };
    if let Some(limiter) = &state.limiter
        && let Err(wait) = limiter.try_acquire()
    {
        state.stats_mut().rate_limited += 1;
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut resp = error(
            429,
            "rate_limited",
            "You have been rate limited. Please try again in a few minutes.",
        );
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
        return Err(resp);
    }
    if let Some(fault) = draw_fault(state) {
        state.stats_mut().faults += 1;
        match fault {
            FaultKind::Slow => tokio::time::sleep(state.config.faults.slow).await,
            other => return Err(fault_response(other)),
        }
    }
    req.extensions_mut().insert(version);
    Ok(())
}

fn draw_fault(state: &FakeState) -> Option<FaultKind> {
    let f = &state.config.faults;
    if f.rate <= 0.0 || f.kinds.is_empty() {
        return None;
    }
    let mut rng = state.rng.lock().unwrap_or_else(|e| e.into_inner());
    if rng.random::<f64>() >= f.rate {
        return None;
    }
    Some(f.kinds[rng.random_range(0..f.kinds.len())])
}

fn fault_response(kind: FaultKind) -> Response {
    match kind {
        FaultKind::Status(502) => {
            let mut r = (
                StatusCode::BAD_GATEWAY,
                [("content-type", "text/html")],
                "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
            )
                .into_response();
            r.headers_mut()
                .insert("cf-ray", HeaderValue::from_static("8f00000000000000-FRA"));
            r
        }
        FaultKind::Status(429) => {
            let mut r = error(429, "rate_limited", "You have been rate limited.");
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(1u64));
            r
        }
        FaultKind::Status(529) => {
            let mut r = error(
                529,
                "service_overload",
                "Notion is overloaded. Please retry.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(1u64));
            r
        }
        FaultKind::Status(503) => error(
            503,
            "service_unavailable",
            "Notion is unavailable, please try again later.",
        ),
        FaultKind::Status(504) => error(
            504,
            "gateway_timeout",
            "Notion timed out while processing the request.",
        ),
        FaultKind::Status(s) => error(s, "internal_server_error", "Unexpected error occurred."),
        FaultKind::Reset | FaultKind::Slow => {
            let body = Body::from_stream(futures::stream::iter([
                Ok::<Bytes, std::io::Error>(Bytes::from_static(b"{\"object\":\"list\",\"res")),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected connection reset",
                )),
            ]));
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(body)
                .unwrap_or_else(|_| error(500, "internal_server_error", "fault"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

/// The router of the fake (used by [`FakeNotion`], exposed for embedding).
pub fn router(state: Arc<FakeState>) -> Router {
    Router::new()
        .route("/v1/users", get(list_users))
        .route("/v1/users/me", get(users_me))
        .route("/v1/users/{id}", get(retrieve_user))
        .route("/v1/search", post(search))
        .route("/v1/databases/{id}", get(retrieve_database))
        .route("/v1/databases/{id}/query", post(query_database))
        .route("/v1/data_sources/{id}", get(retrieve_data_source))
        .route("/v1/data_sources/{id}/query", post(query_data_source))
        .route("/v1/pages/{id}", get(retrieve_page))
        .route(
            "/v1/pages/{id}/properties/{property_id}",
            get(page_property),
        )
        .route("/v1/blocks/{id}", get(retrieve_block))
        .route("/v1/blocks/{id}/children", get(block_children))
        .route("/v1/comments", get(list_comments))
        .merge(super::oauth::router(state.oauth.clone()))
        .route("/__fake/stats", get(fake_stats))
        .route("/__fake/stats/reset", post(reset_stats))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

type Q = Query<Vec<(String, String)>>;

fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn version(req_ext: &axum::http::Extensions) -> NotionVersion {
    req_ext.get::<NotionVersion>().copied().unwrap_or_default()
}

async fn fallback() -> Response {
    invalid_url()
}

async fn fake_stats(State(state): State<Arc<FakeState>>) -> Response {
    Json(state.stats_mut().clone()).into_response()
}

async fn reset_stats(State(state): State<Arc<FakeState>>) -> Response {
    *state.stats_mut() = FakeStats::default();
    StatusCode::NO_CONTENT.into_response()
}

fn restricted(state: &FakeState, capability: &str) -> Option<Response> {
    state.config.restricted.contains(capability).then(|| {
        error(
            403,
            "restricted_resource",
            format!("Insufficient permissions for this endpoint: the integration lacks the {capability} capability."),
        )
    })
}

async fn list_users(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Query(query): Q,
) -> Response {
    if let Some(r) = restricted(&state, "users") {
        return r;
    }
    let ws = state.ws();
    let r = Renderer::new(&ws, version(&ext));
    let ids: Vec<&str> = ws.users.iter().map(|u| u.id.as_str()).collect();
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    match query::window(&ids, q(&query, "start_cursor"), size, "", None) {
        Ok(w) => {
            let results = ws.users[w.start..w.end].iter().map(|u| r.user(u)).collect();
            list(results, &w, "user", json!({}))
        }
        Err(e) => validation(e),
    }
}

async fn users_me(State(state): State<Arc<FakeState>>, ext: axum::http::Extensions) -> Response {
    let ws = state.ws();
    ok(Renderer::new(&ws, version(&ext)).user(&ws.bot))
}

async fn retrieve_user(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = restricted(&state, "users") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    match ws.user(&id) {
        Some(u) => ok(Renderer::new(&ws, version(&ext)).user(u)),
        None => not_found("user", &id, &ws),
    }
}

/// A row as filters and sorts see it.
struct PageRow<'a> {
    page: &'a Page,
    props: serde_json::Map<String, Value>,
}

impl Row for PageRow<'_> {
    fn timestamp(&self, which: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let t = if which == "created_time" {
            self.page.created_time
        } else {
            self.page.last_edited_time
        };
        query::parse_instant(&ts(t))
    }

    fn property(&self, name_or_id: &str) -> Option<Value> {
        self.props.get(name_or_id).cloned().or_else(|| {
            self.props
                .values()
                .find(|v| v.get("id").and_then(Value::as_str) == Some(name_or_id))
                .cloned()
        })
    }
}

async fn search(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    body: Option<Json<Value>>,
) -> Response {
    let v = version(&ext);
    let body = body.map(|b| b.0).unwrap_or_else(|| json!({}));
    if !body.is_object() {
        return validation(Invalid("body should be an object".into()));
    }
    let ws = state.ws();
    let r = Renderer::new(&ws, v);
    let want = match body.pointer("/filter/value").and_then(Value::as_str) {
        None => None,
        Some("page") => Some("page"),
        Some(x) if x == v.container_search_value() => Some("container"),
        Some(x) => {
            return validation(Invalid(format!(
                "body.filter.value should be `page` or `{}`, instead was `{x}`.",
                v.container_search_value()
            )));
        }
    };
    let text = body
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_lowercase();
    // (sort key, id, rendered object)
    let mut found: Vec<(chrono::DateTime<chrono::Utc>, String, Value)> = Vec::new();
    if want != Some("container") {
        for p in &ws.pages {
            if p.searchable
                && ws.is_visible(&p.id)
                && r.page_title(p).to_lowercase().contains(&text)
            {
                found.push((p.last_edited_time, p.id.clone(), Value::Null));
            }
        }
    }
    if want != Some("page") {
        for db_id in &ws.database_order {
            let Some(db) = ws.databases.get(db_id) else {
                continue;
            };
            if !ws.is_visible(db_id) {
                continue;
            }
            if v.has_data_sources() {
                for ds_id in &db.data_sources {
                    if let Some(ds) = ws.data_sources.get(ds_id)
                        && ds.name.to_lowercase().contains(&text)
                    {
                        found.push((ds.last_edited_time, ds.id.clone(), Value::Null));
                    }
                }
            } else if db.title.to_lowercase().contains(&text) && db.data_sources.len() == 1 {
                found.push((db.last_edited_time, db.id.clone(), Value::Null));
            }
        }
    }
    let ascending = body.pointer("/sort/direction").and_then(Value::as_str) == Some("ascending");
    found.sort_by(|a, b| {
        let o = a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1));
        if ascending { o } else { o.reverse() }
    });
    let ids: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    let size = match query::page_size(body.get("page_size")) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    let w = match query::window(
        &ids,
        body.get("start_cursor").and_then(Value::as_str),
        size,
        "",
        None,
    ) {
        Ok(w) => w,
        Err(e) => return validation(e),
    };
    let results = ids[w.start..w.end]
        .iter()
        .filter_map(|id| {
            if let Some(p) = ws.page(id) {
                Some(r.page(p, None))
            } else if let Some(ds) = ws.data_sources.get(*id) {
                Some(r.data_source(ds))
            } else {
                ws.databases.get(*id).and_then(|db| r.database(db))
            }
        })
        .collect();
    list(results, &w, v.page_or_container_type(), json!({}))
}

async fn retrieve_database(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    let ws = state.ws();
    let id = normalize_id(&id);
    match ws.databases.get(&id).filter(|_| ws.is_visible(&id)) {
        None => not_found("database", &id, &ws),
        Some(db) => match Renderer::new(&ws, version(&ext)).database(db) {
            Some(v) => ok(v),
            None => multi_source_error(),
        },
    }
}

fn multi_source_error() -> Response {
    error(
        400,
        "validation_error",
        "Databases with multiple data sources are not supported in this API version. Upgrade to Notion-Version 2025-09-03.",
    )
}

async fn query_database(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
    body: Option<Json<Value>>,
) -> Response {
    if version(&ext).has_data_sources() {
        return invalid_url();
    }
    let ds_id = {
        let ws = state.ws();
        let id = normalize_id(&id);
        match ws.databases.get(&id).filter(|_| ws.is_visible(&id)) {
            None => return not_found("database", &id, &ws),
            Some(db) if db.data_sources.len() != 1 => return multi_source_error(),
            Some(db) => db.data_sources[0].clone(),
        }
    };
    run_query(&state, version(&ext), &ds_id, &query, body.map(|b| b.0))
}

async fn retrieve_data_source(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    let v = version(&ext);
    if !v.has_data_sources() {
        return invalid_url();
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    match ws.data_sources.get(&id).filter(|_| ws.is_visible(&id)) {
        Some(ds) => ok(Renderer::new(&ws, v).data_source(ds)),
        None => not_found("data source", &id, &ws),
    }
}

async fn query_data_source(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
    body: Option<Json<Value>>,
) -> Response {
    let v = version(&ext);
    if !v.has_data_sources() {
        return invalid_url();
    }
    run_query(&state, v, &normalize_id(&id), &query, body.map(|b| b.0))
}

fn run_query(
    state: &FakeState,
    v: NotionVersion,
    ds_id: &str,
    query: &[(String, String)],
    body: Option<Value>,
) -> Response {
    let ws = state.ws();
    let Some(ds) = ws.data_sources.get(ds_id).filter(|_| ws.is_visible(ds_id)) else {
        return not_found("data source", ds_id, &ws);
    };
    let body = body.unwrap_or_else(|| json!({}));
    if !body.is_object() {
        return validation(Invalid("body should be an object".into()));
    }
    let r = Renderer::new(&ws, v);
    let want_trash = body
        .get("in_trash")
        .or_else(|| body.get("archived"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // Property values are rendered only when a filter or a property sort reads them, so that a
    // plain (timestamp-sorted) page of a large table costs O(rows) cheap checks, not renders.
    let sorts_read_props = body
        .get("sorts")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x.get("property").is_some()));
    let needs_props = body.get("filter").is_some_and(|f| !f.is_null()) || sorts_read_props;
    let mut rows: Vec<PageRow> = Vec::new();
    for id in &ds.rows {
        let Some(page) = ws.page(id) else { continue };
        if page.in_trash != want_trash {
            continue;
        }
        let row = PageRow {
            page,
            props: if needs_props {
                r.page_properties(page, None)
            } else {
                serde_json::Map::new()
            },
        };
        if let Some(f) = body.get("filter").filter(|f| !f.is_null()) {
            match query::matches(f, &row, 0) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return validation(e),
            }
        }
        rows.push(row);
    }
    // Rows are stored in creation order: a created_time-ascending sort is already satisfied.
    let creation_order = body
        .get("sorts")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.len() == 1
                && s[0].get("timestamp").and_then(Value::as_str) == Some("created_time")
                && s[0].get("direction").and_then(Value::as_str) != Some("descending")
        });
    if let Some(sorts) = body
        .get("sorts")
        .and_then(Value::as_array)
        .filter(|_| !creation_order)
    {
        let mut err = None;
        rows.sort_by(|a, b| match query::compare(sorts, a, b) {
            Ok(o) => o,
            Err(e) => {
                err.get_or_insert(e);
                std::cmp::Ordering::Equal
            }
        });
        if let Some(e) = err {
            return validation(e);
        }
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.page.id.as_str()).collect();
    let size = match query::page_size(body.get("page_size")) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    if state.stale_cursor(body.get("start_cursor").and_then(Value::as_str)) {
        return validation(Invalid(
            "The start_cursor provided is invalid or has expired.".into(),
        ));
    }
    let prefix = format!("s:{}:", &ds.id[..8]);
    let w = match query::window(
        &ids,
        body.get("start_cursor").and_then(Value::as_str),
        size,
        &prefix,
        Some(state.config.query_cap),
    ) {
        Ok(w) => w,
        Err(e) => return validation(e),
    };
    let filter_props: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "filter_properties")
        .map(|(_, v)| v.clone())
        .collect();
    let fp = (!filter_props.is_empty()).then_some(filter_props.as_slice());
    let results = rows[w.start..w.end]
        .iter()
        .map(|row| r.page(row.page, fp))
        .collect();
    list(results, &w, v.page_or_container_type(), json!({}))
}

async fn retrieve_page(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
) -> Response {
    let ws = state.ws();
    let id = normalize_id(&id);
    let filter_props: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "filter_properties")
        .map(|(_, v)| v.clone())
        .collect();
    match ws.page(&id).filter(|_| ws.is_visible(&id)) {
        Some(p) => ok(Renderer::new(&ws, version(&ext)).page(
            p,
            (!filter_props.is_empty()).then_some(filter_props.as_slice()),
        )),
        None => not_found("page", &id, &ws),
    }
}

async fn page_property(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path((id, prop_id)): Path<(String, String)>,
    Query(query): Q,
) -> Response {
    let v = version(&ext);
    let ws = state.ws();
    let id = normalize_id(&id);
    let Some(page) = ws.page(&id).filter(|_| ws.is_visible(&id)) else {
        return not_found("page", &id, &ws);
    };
    let r = Renderer::new(&ws, v);
    let wanted = decoded_property_id(&prop_id);
    let prop = match &page.parent {
        FParent::DataSource(ds) => ws
            .data_sources
            .get(ds)
            .and_then(|d| {
                d.properties
                    .iter()
                    .find(|p| decoded_property_id(&p.id) == wanted)
            })
            .cloned(),
        _ if wanted == "title" => Some(super::workspace::PropDef {
            id: "title".into(),
            name: "title".into(),
            kind: "title".into(),
            config: json!({}),
        }),
        _ => None,
    };
    let Some(prop) = prop else {
        return not_found("property", &prop_id, &ws);
    };
    let full = if prop.kind == "title" && !matches!(page.parent, FParent::DataSource(_)) {
        page.title.clone()
    } else {
        r.property_value(page, &prop)
    };
    let kind = prop.kind.as_str();
    let item = |kind: &str, value: Value| json!({"object": "property_item", "id": prop.id, "type": kind, kind: value});
    let items: Vec<Value> = match kind {
        "title" | "rich_text" | "people" => full
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|x| item(kind, x))
            .collect(),
        "relation" => full
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|x| item("relation", x))
            .collect(),
        "rollup" => return rollup_property(&r, page, &prop, &query),
        _ => return ok(item(kind, full)),
    };
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    let start = match q(&query, "start_cursor") {
        None => 0,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if n < items.len() => n,
            _ => {
                return validation(Invalid(format!(
                    "The start_cursor provided is invalid: {c}"
                )));
            }
        },
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    let mut descriptor = json!({"id": prop.id, "type": kind, "next_url": next.as_ref().map(|c| format!("https://api.notion.com/v1/pages/{id}/properties/{}?start_cursor={c}", prop.id))});
    descriptor[kind] = json!({});
    let body = json!({
        "object": "list",
        "results": items[start..end],
        "next_cursor": next,
        "has_more": next.is_some(),
        "type": "property_item",
        "property_item": descriptor,
    });
    ok(body)
}

/// A rollup through the property-item endpoint: the related pages' values, a page of them per
/// answer, with the rollup over every page so far in `property_item.rollup` (partial until the
/// last page; a show-original rollup's array stays empty there, its items are the results).
fn rollup_property(
    r: &Renderer,
    page: &Page,
    prop: &PropDef,
    query: &[(String, String)],
) -> Response {
    let size = match query::page_size(q(query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    let pages = r.rollup_pages(page, prop, size);
    let at = match q(query, "start_cursor") {
        None => 0,
        Some(c) => match c.parse::<usize>() {
            Ok(n) if n < pages.len() => n,
            _ => {
                return validation(Invalid(format!(
                    "The start_cursor provided is invalid: {c}"
                )));
            }
        },
    };
    let Some((values, mut rollup)) = pages.get(at).cloned() else {
        return validation(Invalid("no such page".into()));
    };
    let next = (at + 1 < pages.len()).then(|| (at + 1).to_string());
    if rollup.get("type").and_then(Value::as_str) == Some("array") {
        rollup["array"] = json!([]);
    }
    let results: Vec<Value> = values
        .into_iter()
        .map(|x| {
            let t = x
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unsupported")
                .to_string();
            let inner = x.get(&t).cloned().unwrap_or(Value::Null);
            json!({"object": "property_item", "id": prop.id, "type": t, t.as_str(): inner})
        })
        .collect();
    let url = |c: &String| {
        format!(
            "https://api.notion.com/v1/pages/{}/properties/{}?start_cursor={c}",
            page.id, prop.id
        )
    };
    ok(json!({
        "object": "list",
        "results": results,
        "next_cursor": next,
        "has_more": next.is_some(),
        "type": "property_item",
        "property_item": {"id": prop.id, "type": "rollup", "rollup": rollup, "next_url": next.as_ref().map(url)},
    }))
}

async fn retrieve_block(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = restricted(&state, "content") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    let r = Renderer::new(&ws, version(&ext));
    if !ws.is_visible(&id) {
        return not_found("block", &id, &ws);
    }
    if let Some(p) = ws.page(&id) {
        return ok(r.page_as_block(p));
    }
    match ws.blocks.get(&id) {
        Some(b) => ok(r.block(b)),
        None => not_found("block", &id, &ws),
    }
}

async fn block_children(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Path(id): Path<String>,
    Query(query): Q,
) -> Response {
    if let Some(r) = restricted(&state, "content") {
        return r;
    }
    let ws = state.ws();
    let id = normalize_id(&id);
    let r = Renderer::new(&ws, version(&ext));
    if !ws.is_visible(&id) {
        return not_found("block", &id, &ws);
    }
    let children: &[String] = if let Some(p) = ws.page(&id) {
        &p.children
    } else if let Some(b) = ws.blocks.get(&id) {
        r.children_of(b)
    } else {
        return not_found("block", &id, &ws);
    };
    if state.stale_cursor(q(&query, "start_cursor")) {
        return validation(Invalid(
            "The start_cursor provided is invalid or has expired.".into(),
        ));
    }
    let live: Vec<&str> = children
        .iter()
        .filter(|c| ws.blocks.get(*c).is_some_and(|b| !b.in_trash))
        .map(String::as_str)
        .collect();
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    match query::window(&live, q(&query, "start_cursor"), size, "", None) {
        Ok(w) => {
            let results = live[w.start..w.end]
                .iter()
                .filter_map(|c| ws.blocks.get(*c))
                .map(|b| r.block(b))
                .collect();
            list(results, &w, "block", json!({}))
        }
        Err(e) => validation(e),
    }
}

async fn list_comments(
    State(state): State<Arc<FakeState>>,
    ext: axum::http::Extensions,
    Query(query): Q,
) -> Response {
    if let Some(r) = restricted(&state, "comments") {
        return r;
    }
    let ws = state.ws();
    let Some(block_id) = q(&query, "block_id").map(normalize_id) else {
        return validation(Invalid(
            "block_id should be defined, instead was `undefined`.".into(),
        ));
    };
    if !ws.is_visible(&block_id)
        || (ws.page(&block_id).is_none() && !ws.blocks.contains_key(&block_id))
    {
        return not_found("block", &block_id, &ws);
    }
    let r = Renderer::new(&ws, version(&ext));
    let mine: Vec<&super::workspace::Comment> = ws
        .comments
        .iter()
        .filter(|c| matches!(&c.parent, FParent::Page(x) | FParent::Block(x) if *x == block_id))
        .collect();
    let ids: Vec<&str> = mine.iter().map(|c| c.id.as_str()).collect();
    let size = match query::page_size(q(&query, "page_size").map(|s| json!(s)).as_ref()) {
        Ok(s) => s,
        Err(e) => return validation(e),
    };
    match query::window(&ids, q(&query, "start_cursor"), size, "", None) {
        Ok(w) => {
            let results = mine[w.start..w.end].iter().map(|c| r.comment(c)).collect();
            list(results, &w, "comment", json!({}))
        }
        Err(e) => validation(e),
    }
}
