//! Typed errors of the Notion client. Every error names the endpoint, carries the HTTP status,
//! Notion's error code, message and request id when there was a response, knows whether it is
//! temporary (worth retrying), and never contains the token.

use std::time::Duration;

use serde_json::Value;

/// Notion's JSON error object, with the endpoint it came from.
#[derive(Debug, Clone, thiserror::Error)]
#[error("Notion answered {status} {code} on {endpoint}: {message}{}{}", request_id_suffix(.request_id), hint_for(.code))]
pub struct ApiError {
    /// The endpoint label, e.g. `GET /v1/pages/{id}`.
    pub endpoint: String,
    /// HTTP status.
    pub status: u16,
    /// Notion's error `code`, e.g. `object_not_found`.
    pub code: String,
    /// Notion's human-readable message.
    pub message: String,
    /// The `request_id` of the response (also in `x-notion-request-id`).
    pub request_id: Option<String>,
    /// The `Retry-After` delay, for 429 and 529.
    pub retry_after: Option<Duration>,
    /// `additional_data`, when present.
    pub additional_data: Option<Value>,
}

/// An error talking to Notion.
#[derive(Debug, thiserror::Error)]
pub enum NotionError {
    /// Notion answered with its JSON error object (`{"object": "error", status, code, message}`).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// Notion (or the edge in front of it) answered with a body that is not a Notion error object.
    #[error("Notion answered {status} on {endpoint} with a body that is not JSON{}: {snippet}", cf_ray.as_ref().map(|r| format!(" (cf-ray {r})")).unwrap_or_default())]
    NonJson {
        /// The endpoint label.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, for diagnosis.
        snippet: String,
        /// Cloudflare's ray id, when present.
        cf_ray: Option<String>,
    },
    /// The request could not be sent or the response could not be read (timeout, reset, DNS).
    #[error("could not talk to Notion on {endpoint}: {detail}; check the network and --api-base")]
    Transport {
        /// The endpoint label.
        endpoint: String,
        /// What went wrong, without URLs or headers.
        detail: String,
        /// True for timeouts.
        timeout: bool,
    },
    /// A 2xx response whose JSON did not have the expected shape.
    #[error("unexpected response shape from {endpoint}: {detail}")]
    Decode {
        /// The endpoint label.
        endpoint: String,
        /// What was expected.
        detail: String,
    },
    /// A response body larger than the client accepts.
    #[error(
        "Notion's answer on {endpoint} is larger than {limit} bytes, the response size limit; if this is expected, raise it with --max-response-mb"
    )]
    ResponseTooLarge {
        /// The endpoint label.
        endpoint: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Temporary failures persisted past the retry budget.
    #[error("gave up on {endpoint} after {attempts} attempts in {elapsed:.1?}; last error: {last}")]
    RetriesExhausted {
        /// The endpoint label.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent, sleeping included.
        elapsed: Duration,
        /// The last error seen.
        last: Box<NotionError>,
    },
    /// The credentials could not be obtained or refreshed.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The client was configured wrongly (bad base URL, bad rate).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The request is not available in the selected Notion-Version.
    #[error("{endpoint} is not available with Notion-Version {version}: {hint}")]
    Unsupported {
        /// The endpoint label.
        endpoint: String,
        /// The selected version.
        version: String,
        /// What to do instead.
        hint: String,
    },
}

fn is_temporary_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 529)
}

fn request_id_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|id| format!(" (request_id {id})"))
        .unwrap_or_default()
}

/// What a user should do about a Notion error code.
fn hint_for(code: &str) -> &'static str {
    match code {
        "unauthorized" => {
            " — the token is invalid or revoked: check NOTION_TOKEN, or run `notionlake auth login`"
        }
        "restricted_resource" => {
            " — the integration lacks a capability: enable it in the integration's settings"
        }
        "object_not_found" => {
            " — the object does not exist or is not shared with the integration: share it via ••• → Connections"
        }
        "missing_version" => " — the Notion-Version header is missing (a client bug)",
        "invalid_request_url" => {
            " — the endpoint does not exist for this Notion-Version: check --notion-version"
        }
        "rate_limited" => " — rate limited: lower --rps",
        "invalid_grant" => {
            " — the OAuth grant is no longer valid: run `notionlake auth login` again"
        }
        _ => "",
    }
}

impl NotionError {
    /// True when retrying the same request may succeed (429, 5xx, 529,
    /// timeouts and connection failures). 400/401/403/404 are permanent.
    pub fn is_temporary(&self) -> bool {
        match self {
            NotionError::Api(e) => is_temporary_status(e.status),
            NotionError::NonJson { status, .. } => is_temporary_status(*status),
            NotionError::Transport { .. } => true,
            _ => false,
        }
    }

    /// The HTTP status, when Notion answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            NotionError::Api(e) => Some(e.status),
            NotionError::NonJson { status, .. } => Some(*status),
            NotionError::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Notion's error code, when Notion answered with an error object.
    pub fn code(&self) -> Option<&str> {
        match self {
            NotionError::Api(e) => Some(&e.code),
            NotionError::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// The delay Notion asked for with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NotionError::Api(e) => e.retry_after,
            _ => None,
        }
    }

    /// What kind of failure this is, for callers that react to some kinds.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NotionError::Api(e) => match e.code.as_str() {
                "validation_error" if e.message.contains("start_cursor") => ErrorKind::StaleCursor,
                "object_not_found" => ErrorKind::NotFound,
                "restricted_resource" => ErrorKind::Restricted,
                "rate_limited" => ErrorKind::RateLimited,
                "unauthorized" => ErrorKind::Unauthorized,
                _ if is_temporary_status(e.status) => ErrorKind::Server,
                _ => ErrorKind::InvalidRequest,
            },
            NotionError::NonJson { status, .. } if is_temporary_status(*status) => {
                ErrorKind::Server
            }
            NotionError::RetriesExhausted { last, .. } => last.kind(),
            NotionError::Transport { .. } => ErrorKind::Transport,
            NotionError::Auth(_) => ErrorKind::Unauthorized,
            _ => ErrorKind::Other,
        }
    }

    /// True for 404 `object_not_found`: deleted, or not shared with the integration.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// True for 403 `restricted_resource`: a capability the integration lacks.
    pub fn is_restricted(&self) -> bool {
        self.kind() == ErrorKind::Restricted
    }
}

/// The kinds of failure callers tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A pagination cursor Notion no longer accepts (a `validation_error` about
    /// `start_cursor`): the listing can start again.
    StaleCursor,
    /// 404 `object_not_found`: deleted, or not shared with the integration.
    NotFound,
    /// 403 `restricted_resource`: a capability the integration lacks.
    Restricted,
    /// 429 `rate_limited`.
    RateLimited,
    /// 401, or credentials that could not be obtained.
    Unauthorized,
    /// Any other 4xx: the request itself is wrong for Notion.
    InvalidRequest,
    /// 5xx and 529 answers.
    Server,
    /// No answer: timeouts, resets, DNS.
    Transport,
    /// Everything else (bad configuration, undecodable answers, oversized bodies).
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> NotionError {
        NotionError::Api(Box::new(ApiError {
            endpoint: "GET /v1/users".into(),
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("rid".into()),
            retry_after: None,
            additional_data: None,
        }))
    }

    /// Regression: any validation_error was taken for a stale cursor and restarted listings.
    #[test]
    fn only_a_cursor_validation_error_is_a_stale_cursor() {
        let with = |message: &str| {
            NotionError::Api(Box::new(ApiError {
                endpoint: "POST /v1/data_sources/{id}/query".into(),
                status: 400,
                code: "validation_error".into(),
                message: message.into(),
                request_id: None,
                retry_after: None,
                additional_data: None,
            }))
        };
        assert_eq!(
            with("The start_cursor provided is invalid: abc").kind(),
            ErrorKind::StaleCursor
        );
        assert_eq!(
            with("body.filter.number should be a number").kind(),
            ErrorKind::InvalidRequest
        );
        assert_eq!(api(404, "object_not_found").kind(), ErrorKind::NotFound);
        assert_eq!(api(503, "service_unavailable").kind(), ErrorKind::Server);
        assert_eq!(api(429, "rate_limited").kind(), ErrorKind::RateLimited);
    }

    #[test]
    fn classification_follows_the_status_table() {
        for s in [429, 500, 502, 503, 504, 529] {
            assert!(api(s, "x").is_temporary(), "{s}");
        }
        for s in [400, 401, 403, 404, 409] {
            assert!(!api(s, "x").is_temporary(), "{s}");
        }
    }

    #[test]
    fn display_carries_request_id_and_advice() {
        let text = api(404, "object_not_found").to_string();
        assert!(text.contains("request_id rid"), "{text}");
        assert!(text.contains("shared with the integration"), "{text}");
    }
}
