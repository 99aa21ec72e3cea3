//! The fake's configuration (limits, latency, fault injection), its shared state (the
//! workspace, the rate limiter, seeded randomness) and request stats.
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::workspace::Workspace;
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
    /// Each connection's (bearer token's) token-bucket rate (requests/s); `None` turns the
    /// connection limit off.
    pub rps: Option<f64>,
    /// Each connection's token-bucket burst.
    pub burst: u32,
    /// The workspace's token-bucket rate, shared by every token (requests/s): Notion's second
    /// limit, whose 429s name `public_api_space_request_rate_limit`. `None`: no such limit.
    pub workspace_rps: Option<f64>,
    /// The workspace bucket's burst.
    pub workspace_burst: u32,
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
    /// Blocks one `GET /v1/pages/{id}/markdown` answer loads before the rest are `<unknown>`
    /// tags listed in `unknown_block_ids` (Notion's limit is about 20,000).
    pub markdown_record_limit: usize,
    /// How long a signed file URL holds (Notion's: an hour).
    pub file_lifetime: Duration,
    /// Serve Notion-hosted files from the fake itself (the default): signed URLs point at its
    /// file host (`/__files/…` on the address the request came to) instead of Notion's S3
    /// bucket, which a test cannot reach.
    pub host_files: bool,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            tokens: vec![DEMO_TOKEN.to_string()],
            rps: Some(3.0),
            burst: 3,
            workspace_rps: None,
            workspace_burst: 4,
            latency: Duration::ZERO,
            faults: FaultConfig::default(),
            query_cap: 10_000,
            restricted: HashSet::new(),
            stale_cursor_every: None,
            oauth: None,
            markdown_record_limit: 20_000,
            file_lifetime: Duration::from_secs(3600),
            host_files: true,
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
    /// 429s served by a token bucket (a connection's or the workspace's).
    pub rate_limited: u64,
    /// Of those, the ones the workspace's bucket refused.
    pub workspace_rate_limited: u64,
    /// Faults injected.
    pub faults: u64,
    /// Downloads from the file host (`/__files/…`, not API requests), by HTTP status.
    pub file_downloads: BTreeMap<u16, u64>,
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
    pub(super) workspace: RwLock<Workspace>,
    pub(super) config: FakeConfig,
    /// One connection limiter per bearer token, made on its first request.
    pub(super) limiters: Mutex<std::collections::HashMap<String, Arc<RateLimiter>>>,
    /// The limiter every token shares.
    pub(super) workspace_limiter: Option<RateLimiter>,
    pub(super) rng: Mutex<StdRng>,
    pub(super) stats: Mutex<FakeStats>,
    pub(super) cursors_seen: std::sync::atomic::AtomicU64,
    pub(super) rejected_cursors: Mutex<HashSet<String>>,
    pub(super) oauth: Arc<super::oauth::OAuthState>,
    /// The webhook subscription's deliveries, once subscribed.
    pub(super) webhooks: Mutex<Option<super::webhooks::Dispatcher>>,
}

impl FakeState {
    /// State for a workspace and a configuration.
    pub fn new(workspace: Workspace, config: FakeConfig) -> Result<Arc<Self>, String> {
        if let Some(rps) = config.rps {
            RateLimiter::new(rps, config.burst)?;
        }
        let workspace_limiter = config
            .workspace_rps
            .map(|rps| RateLimiter::new(rps, config.workspace_burst))
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
            limiters: Mutex::new(std::collections::HashMap::new()),
            workspace_limiter,
            config,
            stats: Mutex::new(FakeStats::default()),
            cursors_seen: std::sync::atomic::AtomicU64::new(0),
            rejected_cursors: Mutex::new(HashSet::new()),
            oauth,
            webhooks: Mutex::new(None),
        }))
    }

    /// Applies an edit now, and queues its webhook event when a receiver is subscribed;
    /// returns the event.
    pub fn edit(&self, edit: &super::edits::Edit) -> Result<serde_json::Value, String> {
        let event = {
            let mut ws = self.workspace.write().unwrap_or_else(|e| e.into_inner());
            super::edits::apply(&mut ws, edit)?
        };
        if let Some(d) = self.webhooks.lock().ok().and_then(|w| w.clone()) {
            d.emit(event.clone());
        }
        Ok(event)
    }

    /// Subscribes a receiver: sends it the verification request, then delivers every later
    /// edit's event to it.
    pub async fn subscribe(&self, sub: super::webhooks::Subscription) -> Result<(), String> {
        let d = super::webhooks::Dispatcher::subscribe(sub).await?;
        if let Ok(mut w) = self.webhooks.lock() {
            *w = Some(d);
        }
        Ok(())
    }

    /// The deliveries so far, when subscribed.
    pub fn deliveries(&self) -> Option<super::webhooks::DeliveryStats> {
        self.webhooks
            .lock()
            .ok()
            .and_then(|w| w.as_ref().map(super::webhooks::Dispatcher::stats))
    }

    /// Issued OAuth tokens.
    pub(super) fn oauth_tokens(&self) -> std::sync::MutexGuard<'_, super::oauth::OAuthTokens> {
        self.oauth.tokens()
    }

    /// True for a static token, or an OAuth access token with requests left (counting this one).
    pub(super) fn accept_token(&self, token: &str) -> bool {
        self.config.tokens.iter().any(|k| k == token) || self.oauth.accept(token)
    }

    /// The connection limiter of a bearer token, if the connection limit is on.
    pub(super) fn connection_limiter(&self, token: &str) -> Option<Arc<RateLimiter>> {
        let rps = self.config.rps?;
        let mut all = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = all.get(token) {
            return Some(l.clone());
        }
        let limiter = Arc::new(RateLimiter::new(rps, self.config.burst).ok()?);
        all.insert(token.to_string(), limiter.clone());
        Some(limiter)
    }

    pub(super) fn ws(&self) -> RwLockReadGuard<'_, Workspace> {
        self.workspace.read().unwrap_or_else(|e| e.into_inner())
    }

    /// True when this cursor-bearing request should be rejected as stale: every Nth one, each
    /// cursor at most once (a listing restarted from scratch gets through).
    pub(super) fn stale_cursor(&self, cursor: Option<&str>) -> bool {
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

    pub(super) fn stats_mut(&self) -> std::sync::MutexGuard<'_, FakeStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}
