//! The fake's OAuth 2.0 endpoints (NOTION_API.md §4.12): an auto-approving authorize redirect,
//! the token endpoint with the authorization-code and refresh-token grants (refresh tokens rotate:
//! the old one stops working), introspect and revoke; issued access tokens expire after a
//! configurable number of requests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::server::FakeState;

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

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

fn client_ok(state: &FakeState, headers: &HeaderMap) -> bool {
    let Some(app) = state.oauth_app() else {
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
pub async fn authorize(
    State(state): State<Arc<FakeState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(app) = state.oauth_app() else {
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
    state.oauth_tokens().codes.insert(code.clone());
    let mut location = redirect;
    location.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = q.get("state") {
        location.query_pairs_mut().append_pair("state", s);
    }
    (StatusCode::FOUND, [("location", location.to_string())]).into_response()
}

/// `POST /v1/oauth/token`: both grants; refresh tokens rotate.
pub async fn token(
    State(state): State<Arc<FakeState>>,
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
    let max = state.oauth_app().and_then(|a| a.access_token_max_requests);
    let mut tokens = state.oauth_tokens();
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
    let ws = state.workspace_read();
    Json(json!({
        "access_token": access, "token_type": "bearer", "refresh_token": refresh,
        "bot_id": ws.bot.id, "workspace_id": ws.id, "workspace_name": ws.name, "workspace_icon": null,
        "owner": {"type": "workspace", "workspace": true}, "duplicated_template_id": null,
        "request_id": uuid::Uuid::new_v4().to_string()
    }))
    .into_response()
}

/// Authenticates the client and reads the `token` field of an introspect/revoke body; `None`
/// when the client authentication fails.
fn token_field(state: &FakeState, headers: &HeaderMap, body: &[u8]) -> Option<String> {
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
pub async fn introspect(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(token) = token_field(&state, &headers, &body) else {
        return invalid_client();
    };
    let tokens = state.oauth_tokens();
    let active = tokens
        .access
        .get(&token)
        .is_some_and(|left| left.is_none_or(|n| n > 0))
        || tokens.refresh.contains(&token);
    Json(json!({"active": active, "iat": chrono::Utc::now().timestamp()})).into_response()
}

/// `POST /v1/oauth/revoke`.
pub async fn revoke(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(token) = token_field(&state, &headers, &body) else {
        return invalid_client();
    };
    let mut tokens = state.oauth_tokens();
    tokens.access.remove(&token);
    tokens.refresh.remove(&token);
    Json(json!({"request_id": uuid::Uuid::new_v4().to_string()})).into_response()
}
