//! What every route of the fake answers with: Notion's error objects (with request ids), list
//! envelopes, and the gate in front of every request — stats, latency, bearer token (401),
//! `Notion-Version` (400 missing_version), token bucket (429 + Retry-After) and seeded fault
//! injection (500/502/503/504/529, aborted responses, slow responses).

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};

use super::query::{self, Invalid};
use super::workspace::Workspace;
use crate::notion::NotionVersion;
use crate::notion::workspace_budget::{CONNECTION_LIMIT_REASON, WORKSPACE_LIMIT_REASON};

use super::state::{FakeState, FaultKind};

pub(super) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A Notion error object response.
pub(super) fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    error_with(status, code, message, None)
}

/// An error answer with Notion's `additional_data` (a 429's `rate_limit_reason`).
pub(super) fn error_with(
    status: u16,
    code: &str,
    message: impl Into<String>,
    additional_data: Option<serde_json::Value>,
) -> Response {
    let rid = request_id();
    let mut body = json!({"object": "error", "status": status, "code": code, "message": message.into(), "request_id": rid});
    if let Some(extra) = additional_data {
        body["additional_data"] = extra;
    }
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

pub(super) fn not_found(kind: &str, id: &str, ws: &Workspace) -> Response {
    let rid = request_id();
    let body = json!({
        "object": "error", "status": 404, "code": "object_not_found",
        "message": format!("Could not find {kind} with ID: {id}. Make sure the relevant pages and databases are shared with your integration \"{}\".", ws.bot.name),
        "additional_data": {"integration_id": ws.bot.id},
        "request_id": rid,
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

pub(super) fn invalid_url() -> Response {
    error(400, "invalid_request_url", "Invalid request URL.")
}

pub(super) fn validation(e: Invalid) -> Response {
    error(400, "validation_error", e.0)
}

pub(super) fn ok(mut body: Value) -> Response {
    let signing = super::files::SIGNING
        .try_with(Clone::clone)
        .unwrap_or_default();
    super::files::sign_hosted_files(&mut body, chrono::Utc::now(), &signing);
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

pub(super) fn list(results: Vec<Value>, w: &query::Window, kind: &str, extra: Value) -> Response {
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

pub(super) async fn gate(
    State(state): State<Arc<FakeState>>,
    mut req: Request,
    next: Next,
) -> Response {
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
    let signing = super::files::Signing {
        origin: state.config.host_files.then(|| {
            let host = req
                .headers()
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            format!("http://{host}/__files")
        }),
        lifetime: state.config.file_lifetime,
    };
    let resp = match resp {
        Ok(()) => super::files::SIGNING.scope(signing, next.run(req)).await,
        Err(r) => r,
    };
    if label.contains(" /__fake") {
        return resp;
    }
    if label.contains(" /__files") {
        let mut stats = state.stats_mut();
        *stats
            .file_downloads
            .entry(resp.status().as_u16())
            .or_default() += 1;
        return resp;
    }
    let mut stats = state.stats_mut();
    *stats.requests.entry(label).or_default() += 1;
    stats.total += 1;
    *stats.versions.entry(version_header).or_default() += 1;
    *stats.statuses.entry(resp.status().as_u16()).or_default() += 1;
    resp
}

pub(super) async fn gate_inner(
    state: &FakeState,
    req: &mut Request,
    label: &str,
) -> Result<(), Response> {
    if label.contains(" /__fake") || label.contains(" /__files") {
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
    let token = token.unwrap_or_default().to_string();
    if let Some(limiter) = state.connection_limiter(&token)
        && let Err(wait) = limiter.try_acquire()
    {
        state.stats_mut().rate_limited += 1;
        return Err(rate_limited(wait, CONNECTION_LIMIT_REASON));
    }
    if let Some(limiter) = &state.workspace_limiter
        && let Err(wait) = limiter.try_acquire()
    {
        let mut stats = state.stats_mut();
        stats.rate_limited += 1;
        stats.workspace_rate_limited += 1;
        return Err(rate_limited(wait, WORKSPACE_LIMIT_REASON));
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

/// Notion's 429: the reason names which limit refused, `Retry-After` says when to try again.
fn rate_limited(wait: std::time::Duration, reason: &str) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut resp = error_with(
        429,
        "rate_limited",
        "You have been rate limited. Please try again in a few minutes.",
        Some(json!({"rate_limit_reason": reason})),
    );
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from(secs));
    resp
}

pub(super) fn draw_fault(state: &FakeState) -> Option<FaultKind> {
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

pub(super) fn fault_response(kind: FaultKind) -> Response {
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
