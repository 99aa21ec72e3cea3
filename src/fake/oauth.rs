//! The fake's OAuth 2.0 endpoints (`/v1/oauth/*`): an auto-approving authorize redirect,
//! the token endpoint with the authorization-code and refresh-token grants (refresh tokens rotate:
//! the old one stops working), introspect and revoke; issued access tokens expire after a
//! configurable number of requests. They have their own state and router, which the server
//! merges in front of its gate; the server asks this state whether a bearer token is valid.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

/// The public integration the fake knows.
#[derive(Debug, Clone)]
pub struct FakeOAuth {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Requests an access token may make before it expires (401); `None`: never.
    pub access_token_max_requests: Option<u64>,
}

/// Issued tokens.
#[derive(Debug, Default)]
pub struct OAuthTokens {
    /// Access tokens and the requests each has left.
    pub access: HashMap<String, Option<u64>>,
    /// Valid refresh tokens.
    pub refresh: HashSet<String>,
    /// Authorization codes not yet exchanged.
    pub codes: HashSet<String>,
    /// Successful refresh-token grants.
    pub refreshes: u64,
}

/// Who the workspace is, as token answers say it.
#[derive(Debug, Clone)]
pub struct WorkspaceIdentity {
    /// Workspace id.
    pub id: String,
    /// Workspace name.
    pub name: String,
    /// The integration's bot user id.
    pub bot_id: String,
}

/// What the OAuth endpoints share.
#[derive(Debug)]
pub struct OAuthState {
    app: Option<FakeOAuth>,
    tokens: Mutex<OAuthTokens>,
    workspace: WorkspaceIdentity,
}

impl OAuthState {
    /// The state of a fake with `app` configured (or none) serving `workspace`.
    pub fn new(app: Option<FakeOAuth>, workspace: WorkspaceIdentity) -> Arc<OAuthState> {
        Arc::new(OAuthState {
            app,
            tokens: Mutex::new(OAuthTokens::default()),
            workspace,
        })
    }

    /// Issued tokens.
    pub fn tokens(&self) -> MutexGuard<'_, OAuthTokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True for an issued access token with requests left (counting this one).
    pub fn accept(&self, token: &str) -> bool {
        let mut tokens = self.tokens();
        match tokens.access.get_mut(token) {
            Some(None) => true,
            Some(Some(left)) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The OAuth routes, with their state applied (mergeable into a router of any state).
pub fn router<S: Clone + Send + Sync + 'static>(state: Arc<OAuthState>) -> Router<S> {
    Router::new()
        .route("/v1/oauth/authorize", get(authorize))
        .route("/v1/oauth/token", post(token))
        .route("/v1/oauth/introspect", post(introspect))
        .route("/v1/oauth/revoke", post(revoke))
        .with_state(state)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn client_ok(state: &OAuthState, headers: &HeaderMap) -> bool {
    let Some(app) = state.app.as_ref() else {
        return false;
    };
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", app.client_id, app.client_secret));
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(format!("Basic {expected}").as_str())
}

/// Reads a JSON or form-encoded body into key/value pairs.
fn body_fields(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    if json_body {
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .map(|o| {
                o.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

/// `GET /v1/oauth/authorize`: approves at once and redirects with a code and the state.
async fn authorize(
    State(state): State<Arc<OAuthState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(app) = state.app.as_ref() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "OAuth is not configured on this fake",
        );
    };
    if q.get("client_id") != Some(&app.client_id)
        || q.get("response_type").map(String::as_str) != Some("code")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown client_id or response_type",
        );
    }
    let Some(redirect) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "redirect_uri is required",
        );
    };
    let code = uuid::Uuid::new_v4().to_string();
    state.tokens().codes.insert(code.clone());
    let mut location = redirect;
    location.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = q.get("state") {
        location.query_pairs_mut().append_pair("state", s);
    }
    (StatusCode::FOUND, [("location", location.to_string())]).into_response()
}

/// `POST /v1/oauth/token`: both grants; refresh tokens rotate.
async fn token(
    State(state): State<Arc<OAuthState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !client_ok(&state, &headers) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let fields = body_fields(&headers, &body);
    let max = state.app.as_ref().and_then(|a| a.access_token_max_requests);
    let mut tokens = state.tokens();
    match fields.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            if !fields.get("code").is_some_and(|c| tokens.codes.remove(c)) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the authorization code is invalid or was already used",
                );
            }
        }
        Some("refresh_token") => {
            if !fields
                .get("refresh_token")
                .is_some_and(|r| tokens.refresh.remove(r))
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is invalid, expired or revoked",
                );
            }
            tokens.refreshes += 1;
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            );
        }
    }
    let access = format!("ntn_oauth_{}", uuid::Uuid::new_v4().simple());
    let refresh = format!("nrt_{}", uuid::Uuid::new_v4().simple());
    tokens.access.insert(access.clone(), max);
    tokens.refresh.insert(refresh.clone());
    drop(tokens);
    let ws = &state.workspace;
    Json(json!({
        "access_token": access, "token_type": "bearer", "refresh_token": refresh,
        "bot_id": ws.bot_id, "workspace_id": ws.id, "workspace_name": ws.name, "workspace_icon": null,
        "owner": {"type": "workspace", "workspace": true}, "duplicated_template_id": null,
        "request_id": uuid::Uuid::new_v4().to_string()
    }))
    .into_response()
}

/// Authenticates the client and reads the `token` field of an introspect/revoke body; `None`
/// when the client authentication fails.
fn token_field(state: &OAuthState, headers: &HeaderMap, body: &[u8]) -> Option<String> {
    client_ok(state, headers).then(|| {
        body_fields(headers, body)
            .remove("token")
            .unwrap_or_default()
    })
}

fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    )
}

/// `POST /v1/oauth/introspect`.
async fn introspect(
    State(state): State<Arc<OAuthState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(token) = token_field(&state, &headers, &body) else {
        return invalid_client();
    };
    let tokens = state.tokens();
    let active = tokens
        .access
        .get(&token)
        .is_some_and(|left| left.is_none_or(|n| n > 0))
        || tokens.refresh.contains(&token);
    Json(json!({"active": active, "iat": chrono::Utc::now().timestamp()})).into_response()
}

/// `POST /v1/oauth/revoke`.
async fn revoke(
    State(state): State<Arc<OAuthState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(token) = token_field(&state, &headers, &body) else {
        return invalid_client();
    };
    let mut tokens = state.tokens();
    tokens.access.remove(&token);
    tokens.refresh.remove(&token);
    Json(json!({"request_id": uuid::Uuid::new_v4().to_string()})).into_response()
}
