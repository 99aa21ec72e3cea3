//! OAuth 2.0 for public integrations (`/v1/oauth/authorize`, `/v1/oauth/token`), through the `oauth2` crate: the
//! authorize URL (owner=user, random state), a loopback-only redirect listener, the code and
//! refresh-token grants with HTTP Basic client authentication, introspect and revoke; the
//! credential file (written atomically, mode 0600); and [`OAuthProvider`], which refreshes once
//! on a 401 — one refresh shared by concurrent requests — and persists the rotated refresh token
//! before using the new access token.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, RedirectUrl, RefreshToken,
    TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::auth::{SecretString, TokenProvider};
use super::error::NotionError;

/// A public integration's OAuth client.
#[derive(Debug, Clone)]
pub struct OAuthApp {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: SecretString,
    /// API base (`https://api.notion.com`).
    pub api_base: Url,
    /// Longest wait for one answer of the token, introspect or revoke endpoint.
    pub timeout: Duration,
}

/// The default [`OAuthApp::timeout`].
pub const OAUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `auth login` waits for the browser to come back to the loopback redirect.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// What the credential file holds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Access token.
    pub access_token: SecretString,
    /// Refresh token (rotates on every refresh).
    pub refresh_token: Option<SecretString>,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret (needed to refresh).
    pub client_secret: SecretString,
    /// API base the tokens belong to.
    pub api_base: String,
    /// Workspace id.
    pub workspace_id: Option<String>,
    /// Workspace name.
    pub workspace_name: Option<String>,
    /// The integration's bot id.
    pub bot_id: Option<String>,
}

/// Names the workspace and bot only: no token, secret or client id reaches a log.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("workspace_name", &self.workspace_name)
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The OAuth app these credentials were issued to.
    pub fn app(&self) -> Result<OAuthApp, NotionError> {
        Ok(OAuthApp {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            api_base: Url::parse(&self.api_base).map_err(|e| {
                NotionError::Config(format!("bad api_base in the credential file: {e}"))
            })?,
            timeout: OAUTH_TIMEOUT,
        })
    }
}

/// The default credential file: `<config dir>/notionlake/credentials.json`.
pub fn default_credentials_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("notionlake")
        .join("credentials.json")
}

/// Writes the credential file atomically (temporary file in the same directory, mode 0600,
/// renamed over the old one): a reader sees the old or the new file, never half of one.
pub fn save_credentials(path: &Path, creds: &Credentials) -> Result<(), NotionError> {
    let io = |e: std::io::Error| {
        NotionError::Auth(format!(
            "cannot write the credential file {}: {e}",
            path.display()
        ))
    };
    let bytes = serde_json::to_vec_pretty(creds).expect("credentials serialise");
    super::auth::write_private_file(path, &bytes).map_err(io)
}

/// Reads the credential file.
pub fn load_credentials(path: &Path) -> Result<Credentials, NotionError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        NotionError::Auth(format!(
            "cannot read the credential file {}: {e}; run `notionlake auth login`",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        NotionError::Auth(format!(
            "the credential file {} is not valid ({e}); run `notionlake auth login` again",
            path.display()
        ))
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpFailure(String);

/// Sends oauth2's form-encoded token requests as the JSON bodies Notion documents, and turns
/// Notion-shaped errors into OAuth-shaped ones so that `invalid_grant` is recognised.
async fn notion_http(
    request: oauth2::HttpRequest,
    timeout: Duration,
) -> Result<oauth2::HttpResponse, HttpFailure> {
    let (parts, body) = request.into_parts();
    let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(&body)
        .into_owned()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| HttpFailure(e.to_string()))?;
    let mut req = client
        .request(parts.method, parts.uri.to_string())
        .header("Notion-Version", super::NotionVersion::default().as_str())
        .json(&Value::Object(fields));
    if let Some(auth) = parts.headers.get("authorization") {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.map_err(|e| {
        HttpFailure(if e.is_timeout() {
            format!("{}", Unanswered(timeout))
        } else {
            format!("could not reach the OAuth endpoint: {}", e.without_url())
        })
    })?;
    let status = resp.status();
    let mut bytes = resp
        .bytes()
        .await
        .map_err(|e| HttpFailure(e.without_url().to_string()))?
        .to_vec();
    if !status.is_success()
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        && v.get("object").and_then(Value::as_str) == Some("error")
    {
        bytes = serde_json::to_vec(
            &json!({"error": v.get("code"), "error_description": v.get("message")}),
        )
        .unwrap_or(bytes);
    }
    http::Response::builder()
        .status(status.as_u16())
        .header("content-type", "application/json")
        .body(bytes)
        .map_err(|e| HttpFailure(e.to_string()))
}

/// The message of an OAuth endpoint that did not answer in time.
struct Unanswered(Duration);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the OAuth endpoint did not answer within {} s; check the network and the api_base of the credential file, then run again (the credential file is unchanged)",
            self.0.as_secs_f64()
        )
    }
}

/// Runs an OAuth exchange, bounded by `timeout` as a whole (connect, send, every byte back).
async fn bounded<T>(
    timeout: Duration,
    exchange: impl std::future::Future<Output = Result<T, NotionError>>,
) -> Result<T, NotionError> {
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(NotionError::Auth(Unanswered(timeout).to_string())))
}

fn token_error<RE: std::error::Error + 'static>(
    e: oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> NotionError {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) if r.error().as_ref() == "invalid_grant" => NotionError::Auth(
            "Notion no longer accepts the refresh token (invalid_grant: revoked, expired or already used); run `notionlake auth login` again".into(),
        ),
        oauth2::RequestTokenError::ServerResponse(r) => NotionError::Auth(format!("the OAuth endpoint refused: {}", r.error().as_ref())),
        other => NotionError::Auth(format!("the OAuth request failed: {other}")),
    }
}

impl OAuthApp {
    fn endpoint(&self, path: &str) -> Result<Url, NotionError> {
        self.api_base
            .join(path)
            .map_err(|e| NotionError::Config(e.to_string()))
    }

    /// The authorize URL for `redirect_uri` and its random state.
    pub fn authorize_url(&self, redirect_uri: &str) -> Result<(Url, CsrfToken), NotionError> {
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.endpoint("v1/oauth/authorize")?))
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_string())
                    .map_err(|e| NotionError::Config(e.to_string()))?,
            );
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_extra_param("owner", "user")
            .url();
        Ok((url, state))
    }

    fn token_client(
        &self,
        redirect_uri: Option<&str>,
    ) -> Result<
        oauth2::basic::BasicClient<
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        NotionError,
    > {
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_string()))
            .set_auth_type(oauth2::AuthType::BasicAuth)
            .set_token_uri(TokenUrl::from_url(self.endpoint("v1/oauth/token")?));
        if let Some(r) = redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(r.to_string()).map_err(|e| NotionError::Config(e.to_string()))?,
            );
        }
        Ok(client)
    }

    /// Exchanges an authorization code: (access token, refresh token).
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<(SecretString, Option<SecretString>), NotionError> {
        let http = |r| notion_http(r, self.timeout);
        let client = self.token_client(Some(redirect_uri))?;
        let exchange = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .request_async(&http);
        let r = bounded(self.timeout, async { exchange.await.map_err(token_error) }).await?;
        Ok((
            SecretString::new(r.access_token().secret().as_str()),
            r.refresh_token()
                .map(|t| SecretString::new(t.secret().as_str())),
        ))
    }

    /// Refreshes: (new access token, new refresh token).
    pub async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<(SecretString, Option<SecretString>), NotionError> {
        let http = |r| notion_http(r, self.timeout);
        let client = self.token_client(None)?;
        let refresh_token = RefreshToken::new(refresh_token.to_string());
        let exchange = client
            .exchange_refresh_token(&refresh_token)
            .request_async(&http);
        let r = bounded(self.timeout, async { exchange.await.map_err(token_error) }).await?;
        Ok((
            SecretString::new(r.access_token().secret().as_str()),
            r.refresh_token()
                .map(|t| SecretString::new(t.secret().as_str())),
        ))
    }

    async fn post(&self, path: &str, token: &str) -> Result<Value, NotionError> {
        bounded(self.timeout, self.post_unbounded(path, token)).await
    }

    async fn post_unbounded(&self, path: &str, token: &str) -> Result<Value, NotionError> {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.client_secret.expose()
        ));
        let resp = reqwest::Client::new()
            .post(self.endpoint(path)?)
            .header("authorization", format!("Basic {basic}"))
            .header("Notion-Version", super::NotionVersion::default().as_str())
            .json(&json!({"token": token}))
            .send()
            .await
            .map_err(|e| {
                NotionError::Auth(format!("could not reach {path}: {}", e.without_url()))
            })?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            NotionError::Auth(format!(
                "{path} answered something that is not JSON: {}",
                e.without_url()
            ))
        })?;
        if !status.is_success() {
            return Err(NotionError::Auth(format!(
                "{path} answered {status}: {}",
                body.get("error")
                    .or_else(|| body.get("code"))
                    .unwrap_or(&Value::Null)
            )));
        }
        Ok(body)
    }

    /// `POST /v1/oauth/introspect`: whether a token is active.
    pub async fn introspect(&self, token: &str) -> Result<bool, NotionError> {
        Ok(self
            .post("v1/oauth/introspect", token)
            .await?
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// `POST /v1/oauth/revoke`.
    pub async fn revoke(&self, token: &str) -> Result<(), NotionError> {
        self.post("v1/oauth/revoke", token).await.map(|_| ())
    }

    /// The browser side of a login: listens on `127.0.0.1:port` (only loopback) for the
    /// redirect, calls `open` with the authorize URL, verifies the state, exchanges the code.
    pub async fn login_loopback(
        &self,
        port: u16,
        open: impl FnOnce(&Url),
    ) -> Result<(SecretString, Option<SecretString>), NotionError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| {
                NotionError::Auth(format!(
                    "cannot listen on 127.0.0.1:{port} for the redirect: {e}"
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| NotionError::Auth(e.to_string()))?;
        let redirect_uri = format!("http://127.0.0.1:{}/callback", addr.port());
        let (url, state) = self.authorize_url(&redirect_uri)?;
        open(&url);
        let waited = || {
            NotionError::Auth(format!(
                "no browser came back to {redirect_uri} within {} s; run `notionlake auth login` again and approve the integration in the browser (or use --no-browser and paste the redirect URL)",
                LOGIN_TIMEOUT.as_secs()
            ))
        };
        let query = tokio::time::timeout(LOGIN_TIMEOUT, receive_redirect(listener))
            .await
            .map_err(|_| waited())??;
        let code = check_redirect(&query, state.secret())?;
        self.exchange_code(&code, &redirect_uri).await
    }
}

/// Serves `GET /callback` on `listener` until the browser comes back; answers it with a page
/// that says the window can be closed, shuts down once that answer is sent, and returns the
/// redirect's query parameters.
async fn receive_redirect(
    listener: tokio::net::TcpListener,
) -> Result<Vec<(String, String)>, NotionError> {
    use axum::extract::{Query, State};
    type Received = Arc<(
        std::sync::Mutex<Option<Vec<(String, String)>>>,
        tokio::sync::Notify,
    )>;
    let received: Received = Arc::default();
    let callback = |State(received): State<Received>,
                    Query(query): Query<Vec<(String, String)>>| async move {
        if let Ok(mut slot) = received.0.lock() {
            slot.get_or_insert(query);
        }
        received.1.notify_one();
        "notionlake: you can close this window."
    };
    let app = axum::Router::new()
        .route("/callback", axum::routing::get(callback))
        .with_state(Arc::clone(&received));
    let done = Arc::clone(&received);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { done.1.notified().await })
        .await
        .map_err(|e| NotionError::Auth(format!("the redirect listener failed: {e}")))?;
    let query = received.0.lock().ok().and_then(|mut q| q.take());
    query.ok_or_else(|| {
        NotionError::Auth("the redirect listener stopped before a redirect came".into())
    })
}

/// Checks a redirect's (or a pasted redirect URL's) parameters: the state must match; returns
/// the code.
pub fn check_redirect(
    query: &[(String, String)],
    expected_state: &str,
) -> Result<String, NotionError> {
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    if let Some(e) = get("error") {
        return Err(NotionError::Auth(format!(
            "the authorization was refused ({e})"
        )));
    }
    if get("state").as_deref() != Some(expected_state) {
        return Err(NotionError::Auth("the redirect's state parameter does not match this login (a forged or stale redirect); start `notionlake auth login` again".into()));
    }
    get("code").ok_or_else(|| NotionError::Auth("the redirect carries no code".into()))
}

/// Tokens from the credential file, refreshed on a 401 and persisted.
///
/// Requests read the current credentials without waiting on a refresh in flight (they are
/// behind a plain lock held only to copy or replace them); refreshes are serialised by a
/// separate async lock, bounded by the OAuth timeout, and write the file off the runtime.
#[derive(Debug)]
pub struct OAuthProvider {
    path: PathBuf,
    timeout: Duration,
    current: std::sync::RwLock<Credentials>,
    refreshing: tokio::sync::Mutex<()>,
}

impl OAuthProvider {
    /// A provider over the credential file at `path`.
    pub fn from_file(path: &Path) -> Result<Arc<OAuthProvider>, NotionError> {
        Self::from_file_with_timeout(path, OAUTH_TIMEOUT)
    }

    /// A provider over the credential file at `path` whose refreshes give up after `timeout`.
    pub fn from_file_with_timeout(
        path: &Path,
        timeout: Duration,
    ) -> Result<Arc<OAuthProvider>, NotionError> {
        Ok(Arc::new(OAuthProvider {
            path: path.to_path_buf(),
            timeout,
            current: std::sync::RwLock::new(load_credentials(path)?),
            refreshing: tokio::sync::Mutex::new(()),
        }))
    }

    fn snapshot(&self) -> Credentials {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl TokenProvider for OAuthProvider {
    async fn token(&self) -> Result<SecretString, NotionError> {
        Ok(self.snapshot().access_token)
    }

    async fn refresh(&self, rejected: &SecretString) -> Result<bool, NotionError> {
        // One refresh for everyone: whoever holds the lock refreshes; the others find the token
        // already replaced and retry with it.
        let _one_at_a_time = self.refreshing.lock().await;
        let creds = self.snapshot();
        if creds.access_token != *rejected {
            return Ok(true);
        }
        let Some(refresh_token) = creds.refresh_token.clone() else {
            return Err(NotionError::Auth("the access token was rejected and there is no refresh token; run `notionlake auth login` again".into()));
        };
        let app = OAuthApp {
            timeout: self.timeout,
            ..creds.app()?
        };
        let (access, rotated) = app.refresh(refresh_token.expose()).await?;
        let mut next = creds;
        next.access_token = access;
        next.refresh_token = rotated.or(next.refresh_token);
        // Persist the rotated refresh token before using the new access token.
        let (path, saved) = (self.path.clone(), next.clone());
        tokio::task::spawn_blocking(move || save_credentials(&path, &saved))
            .await
            .map_err(|e| NotionError::Auth(format!("saving the credential file failed: {e}")))??;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        tracing::info!("access token refreshed");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_state_is_rejected() {
        let q = vec![
            ("code".to_string(), "c".to_string()),
            ("state".to_string(), "forged".to_string()),
        ];
        assert!(
            check_redirect(&q, "expected")
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
        let q = vec![
            ("code".to_string(), "c".to_string()),
            ("state".to_string(), "expected".to_string()),
        ];
        assert_eq!(check_redirect(&q, "expected").unwrap(), "c");
    }

    #[test]
    fn credentials_are_written_0600_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/credentials.json");
        let creds = Credentials {
            access_token: "ntn_secret_access".into(),
            refresh_token: Some("nrt_secret_refresh".into()),
            client_id: "cid".into(),
            client_secret: "csecret_value".into(),
            api_base: "https://api.notion.com".into(),
            workspace_id: None,
            workspace_name: Some("W".into()),
            bot_id: None,
        };
        save_credentials(&path, &creds).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert_eq!(load_credentials(&path).unwrap(), creds);
        let shown = format!("{creds:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
