//! The one send path to Notion. Every request goes through [`NotionClient::send`]: shared rate
//! limiter, `Authorization` and `Notion-Version` headers, timeout, error decoding, 401 handed to
//! the token provider, and retries of temporary failures. Nothing else in the crate speaks HTTP
//! to Notion.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::Retryable;
use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::auth::{SecretString, TokenProvider};
use super::error::{ApiError, NotionError};
use super::rate_limit::RateLimiter;
use super::retry::{RetryConfig, parse_retry_after};
use super::stats::{ClientStats, StatsSnapshot};
use super::version::NotionVersion;
use super::workspace_budget::{LimitReason, WorkspaceBudget};

/// The public Notion API.
pub const DEFAULT_API_BASE: &str = "https://api.notion.com";

/// Settings of a client. Validated by [`NotionClient::new`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL; paths such as `/v1/users` are joined to it.
    pub base_url: Url,
    /// The `Notion-Version` sent on every request.
    pub version: NotionVersion,
    /// Average requests per second across every task sharing this client.
    pub rps: f64,
    /// Requests that may go out at once before pacing starts.
    pub burst: u32,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
    /// `page_size` of paginated requests (1–100).
    pub page_size: u32,
    /// Largest response body accepted; a larger one fails its request instead of filling memory.
    pub max_response_bytes: usize,
}

/// The default of [`ClientConfig::max_response_bytes`]: 64 MiB, far above any page of 100
/// objects Notion sends.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 << 20;

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: Url::parse(DEFAULT_API_BASE).expect("constant URL parses"),
            version: NotionVersion::default(),
            rps: 3.0,
            burst: 2,
            timeout: Duration::from_secs(60),
            retry: RetryConfig::default(),
            page_size: 100,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// One request to Notion, described independently of the transport.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Path below the base URL, e.g. `/v1/blocks/abc/children`.
    pub path: String,
    /// Query-string pairs.
    pub query: Vec<(String, String)>,
    /// JSON body (POST endpoints).
    pub body: Option<Value>,
    /// Endpoint label for stats and errors, e.g. `GET /v1/blocks/{id}/children`.
    pub endpoint: &'static str,
}

impl ApiRequest {
    /// A GET request.
    pub fn get(endpoint: &'static str, path: impl Into<String>) -> Self {
        ApiRequest {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            endpoint,
        }
    }

    /// A POST request with a JSON body.
    pub fn post(endpoint: &'static str, path: impl Into<String>, body: Value) -> Self {
        ApiRequest {
            method: Method::POST,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
            endpoint,
        }
    }

    /// Adds a query-string pair.
    pub fn with_query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_string(), value.into()));
        self
    }
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    auth: Arc<dyn TokenProvider>,
    limiter: RateLimiter,
    stats: ClientStats,
    /// The budget shared with the other connections of the same workspace, once known.
    workspace: std::sync::OnceLock<Arc<WorkspaceBudget>>,
}

/// A Notion API client. Cheap to clone; clones share the rate limiter and the counters.
#[derive(Debug, Clone)]
pub struct NotionClient {
    inner: Arc<Inner>,
}

impl NotionClient {
    /// A client of the API at `base` (Notion, or a fake Notion) with an internal-integration
    /// token; the other settings from `config`.
    pub fn with_token(base: &str, token: &str, config: ClientConfig) -> Result<Self, NotionError> {
        let base_url = url::Url::parse(base).map_err(|e| {
            NotionError::Config(format!("the API base URL {base:?} is invalid: {e}"))
        })?;
        NotionClient::new(
            ClientConfig { base_url, ..config },
            Arc::new(super::auth::StaticToken::new(token)),
        )
    }

    /// Builds a client; fails on an unusable configuration.
    pub fn new(config: ClientConfig, auth: Arc<dyn TokenProvider>) -> Result<Self, NotionError> {
        if !matches!(config.base_url.scheme(), "http" | "https") {
            return Err(NotionError::Config(format!(
                "the API base URL must be http(s), got {}",
                config.base_url
            )));
        }
        if !(1..=100).contains(&config.page_size) {
            return Err(NotionError::Config(format!(
                "page_size must be between 1 and 100, got {}",
                config.page_size
            )));
        }
        let limiter = RateLimiter::new(config.rps, config.burst).map_err(NotionError::Config)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("notionlake/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .build()
            .map_err(|e| NotionError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(NotionClient {
            inner: Arc::new(Inner {
                http,
                config,
                auth,
                limiter,
                stats: ClientStats::default(),
                workspace: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The Notion-Version this client sends.
    pub fn version(&self) -> NotionVersion {
        self.inner.config.version
    }

    /// The configured page size of paginated requests.
    pub fn page_size(&self) -> u32 {
        self.inner.config.page_size
    }

    /// Paces this client's requests by the budget of its workspace as well as by its own limit
    /// (the first budget given holds; clones share it).
    pub fn share_workspace_budget(&self, budget: Arc<WorkspaceBudget>) {
        let _ = self.inner.workspace.set(budget);
    }

    /// The workspace budget this client shares, if any.
    pub fn workspace_budget(&self) -> Option<&Arc<WorkspaceBudget>> {
        self.inner.workspace.get()
    }

    /// A copy of the per-run counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    /// Sends a request: rate limit, headers, retries of temporary failures, 401 to the token
    /// provider. Returns the response JSON of a 2xx answer.
    pub async fn send(&self, req: &ApiRequest) -> Result<Value, NotionError> {
        parse_body(req.endpoint, &self.send_raw(req).await?)
    }

    /// [`NotionClient::send`], returning the body of the 2xx answer undecoded, for callers that
    /// decode it their own way (row queries keep each row as raw JSON until it is used).
    pub async fn send_raw(&self, req: &ApiRequest) -> Result<Bytes, NotionError> {
        let started = tokio::time::Instant::now();
        let attempts = AtomicU32::new(0);
        let mut slept = Duration::ZERO;
        let retry = &self.inner.config.retry;
        let result = (|| async {
            if attempts.fetch_add(1, Ordering::Relaxed) > 0 {
                self.inner.stats.record_retry();
            }
            self.attempt(req).await
        })
        .retry(retry.backoff())
        .sleep(tokio::time::sleep)
        .when(NotionError::is_temporary)
        .adjust(|err, proposed| {
            let delay = retry.next_delay(err, proposed, slept)?;
            slept += delay;
            Some(delay)
        })
        .notify(|err, delay| {
            tracing::warn!(endpoint = req.endpoint, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
        })
        .await;
        match result {
            Err(last) if last.is_temporary() => Err(NotionError::RetriesExhausted {
                endpoint: req.endpoint.to_string(),
                attempts: attempts.load(Ordering::Relaxed),
                elapsed: started.elapsed(),
                last: Box::new(last),
            }),
            other => other,
        }
    }

    /// One attempt, with at most one token refresh after a 401.
    async fn attempt(&self, req: &ApiRequest) -> Result<Bytes, NotionError> {
        let token = self.inner.auth.token().await?;
        match self.send_once(req, &token).await {
            Err(err) if err.status() == Some(401) => {
                if self.inner.auth.refresh(&token).await? {
                    self.inner.stats.record_refresh();
                    let fresh = self.inner.auth.token().await?;
                    self.send_once(req, &fresh).await
                } else {
                    Err(err)
                }
            }
            other => other,
        }
    }

    /// One HTTP exchange.
    async fn send_once(
        &self,
        req: &ApiRequest,
        token: &SecretString,
    ) -> Result<Bytes, NotionError> {
        let inner = &*self.inner;
        let mut url = inner
            .config
            .base_url
            .join(req.path.trim_start_matches('/'))
            .map_err(|e| NotionError::Config(format!("bad request path {}: {e}", req.path)))?;
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query.iter());
        }
        inner.limiter.acquire().await;
        if let Some(budget) = inner.workspace.get() {
            budget.acquire().await;
        }
        inner.stats.record_request(req.endpoint);
        let mut builder = inner
            .http
            .request(req.method.clone(), url)
            .bearer_auth(token.expose())
            .header("Notion-Version", inner.config.version.as_str())
            .timeout(inner.config.timeout);
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let transport = |e: reqwest::Error| {
            inner.stats.record_transport_error();
            NotionError::Transport {
                endpoint: req.endpoint.to_string(),
                detail: describe_reqwest_error(&e),
                timeout: e.is_timeout(),
            }
        };
        let resp = builder.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let header_request_id = header("x-notion-request-id");
        let cf_ray = header("cf-ray");
        let bytes = read_body(resp, req.endpoint, inner.config.max_response_bytes)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => transport(e),
                BodyError::TooLarge(e) => e,
            })?;
        inner.stats.record_bytes(bytes.len());
        inner.stats.record_status(status);

        if (200..300).contains(&status) {
            if let Some(budget) = inner.workspace.get() {
                budget.on_success();
            }
            return Ok(bytes);
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(body) if body.get("object").and_then(Value::as_str) == Some("error") => {
                let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
                if status == 429 {
                    let reason = body
                        .pointer("/additional_data/rate_limit_reason")
                        .and_then(Value::as_str);
                    inner.stats.record_rate_limit_reason(reason);
                    if LimitReason::parse(reason) == LimitReason::Workspace
                        && let Some(budget) = inner.workspace.get()
                    {
                        budget.on_limited();
                    }
                }
                Err(NotionError::Api(Box::new(ApiError {
                    endpoint: req.endpoint.to_string(),
                    status,
                    code: text("code").unwrap_or_else(|| "unknown".into()),
                    message: text("message").unwrap_or_default(),
                    request_id: text("request_id").or(header_request_id),
                    retry_after,
                    additional_data: body.get("additional_data").cloned(),
                })))
            }
            _ => Err(NotionError::NonJson {
                endpoint: req.endpoint.to_string(),
                status,
                snippet: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
                cf_ray,
            }),
        }
    }
}

enum BodyError {
    Transport(reqwest::Error),
    TooLarge(NotionError),
}

/// Reads a response body of at most `limit` bytes, refusing a larger one as soon as its
/// `Content-Length` or its chunks pass the limit.
async fn read_body(
    mut resp: reqwest::Response,
    endpoint: &str,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let too_large = || {
        BodyError::TooLarge(NotionError::ResponseTooLarge {
            endpoint: endpoint.to_string(),
            limit,
        })
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The JSON of a 2xx response body of `endpoint`.
pub(crate) fn parse_body(endpoint: &str, body: &[u8]) -> Result<Value, NotionError> {
    serde_json::from_slice(body).map_err(|e| NotionError::Decode {
        endpoint: endpoint.to_string(),
        detail: format!("response body is not JSON ({e})"),
    })
}

/// Describes a reqwest error with its causes but without the URL.
fn describe_reqwest_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_body() || e.is_decode() {
        "the response was cut off".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
