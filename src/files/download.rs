//! Downloading Notion-hosted files into the lake's file store. Downloads go to the file host
//! (S3, behind Notion's signed URLs), not to the API: they have their own HTTP client, their
//! own concurrency ([`Downloader::new`]'s `slots`) and timeouts, and never count against the
//! API's rate limit. A file's bytes stream from the response into the store
//! ([`super::store::store_stream`]), never held whole.
//!
//! What a download can end in ([`Fetched`]): stored; expired (S3's 403 `AccessDenied` "Request
//! has expired": the caller asks Notion for a fresh URL and tries again); missing (404); too
//! large (by its `Content-Length`, before a byte is read, or past the limit while streaming);
//! or failed, with the reason.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Semaphore;

use super::store::{StoreError, Stored, store_stream};
use crate::sink::{Lake, SinkError};

/// How long connecting to the file host may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the file host may stay silent during a download.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Downloads at once by default.
pub const DEFAULT_SLOTS: usize = 4;

/// The most of an error answer's body read (to tell an expired URL from other refusals).
const ERROR_BODY_BYTES: usize = 16 << 10;

/// How a download ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Stored in the lake, with the content type the host gave.
    Stored {
        /// Where and what.
        stored: Stored,
        /// The `Content-Type` of the answer.
        content_type: Option<String>,
    },
    /// The signed URL expired: a fresh one is needed.
    Expired,
    /// The host has no such file (404).
    Missing,
    /// The file is larger than the limit.
    TooLarge {
        /// Its size when the host said it.
        bytes: Option<u64>,
    },
    /// Anything else, with the reason.
    Failed(String),
    /// Not downloaded: the byte budget was spent (or the file is larger than what is left).
    Deferred,
}

/// The bytes downloads may still take, shared by every download of a run. A download reserves
/// what it will take before its body streams (the size the host announces, else the per-file
/// limit) and gives back what it did not use, so downloads at once never take more than the
/// budget together.
#[derive(Debug)]
pub struct Budget {
    left: std::sync::atomic::AtomicU64,
}

impl Budget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> Budget {
        Budget {
            left: std::sync::atomic::AtomicU64::new(bytes),
        }
    }

    /// No limit.
    pub fn unlimited() -> Budget {
        Budget::new(u64::MAX)
    }

    /// Bytes not reserved.
    pub fn left(&self) -> u64 {
        self.left.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reserves up to `want` bytes; returns how many it got (0 when the budget is spent).
    fn reserve(&self, want: u64) -> u64 {
        use std::sync::atomic::Ordering;
        let mut got = 0;
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                got = left.min(want);
                Some(left - got)
            });
        got
    }

    /// Gives back reserved bytes a download did not use.
    fn give_back(&self, bytes: u64) {
        self.left
            .fetch_add(bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Downloads files into a lake (see the module documentation).
#[derive(Debug, Clone)]
pub struct Downloader {
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    max_bytes: u64,
}

impl Downloader {
    /// A downloader running at most `slots` downloads at once, each of at most `max_bytes`.
    pub fn new(slots: usize, max_bytes: u64) -> Result<Downloader, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()?;
        Ok(Downloader {
            http,
            slots: Arc::new(Semaphore::new(slots.max(1))),
            max_bytes,
        })
    }

    /// Downloads `url` into `lake`'s file store. Only a lake that cannot be written is an
    /// error; every other end is a [`Fetched`].
    pub async fn fetch(&self, lake: &Lake, url: &str) -> Result<Fetched, SinkError> {
        self.fetch_within(lake, url, &Budget::unlimited()).await
    }

    /// Downloads `url` into `lake`'s file store within `budget` (see [`Budget`]): a file that
    /// does not fit in what is left is [`Fetched::Deferred`].
    pub async fn fetch_within(
        &self,
        lake: &Lake,
        url: &str,
        budget: &Budget,
    ) -> Result<Fetched, SinkError> {
        let Ok(_slot) = self.slots.acquire().await else {
            return Ok(Fetched::Failed("the downloader was closed".into()));
        };
        let resp = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => return Ok(Fetched::Failed(without_url(&e))),
        };
        let status = resp.status();
        if !status.is_success() {
            return Ok(refusal(status, resp).await);
        }
        // The budget is reserved by the size the host announces (S3 always does), or by the
        // file limit when it does not; a file that does not fit waits for the next run.
        let size = resp.content_length();
        if let Some(n) = size.filter(|n| *n > self.max_bytes) {
            return Ok(Fetched::TooLarge { bytes: Some(n) });
        }
        let want = size.unwrap_or(self.max_bytes);
        let reserved = budget.reserve(want);
        if reserved < want && (size.is_some() || reserved == 0) {
            budget.give_back(reserved);
            return Ok(Fetched::Deferred);
        }
        let fetched = self.store(lake, resp, reserved).await;
        let used = match &fetched {
            Ok(Fetched::Stored { stored, .. }) => stored.bytes.min(reserved),
            _ => 0,
        };
        budget.give_back(reserved - used);
        match fetched? {
            // Past what was left of the budget, within the file limit.
            Fetched::TooLarge { .. } if reserved < self.max_bytes => Ok(Fetched::Deferred),
            other => Ok(other),
        }
    }

    /// Streams an answer's body into the store, at most `limit` bytes of it.
    async fn store(
        &self,
        lake: &Lake,
        resp: reqwest::Response,
        limit: u64,
    ) -> Result<Fetched, SinkError> {
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let chunks = resp.bytes_stream().map(|c| c.map_err(|e| without_url(&e)));
        match store_stream(lake, chunks, limit).await {
            Ok(stored) => Ok(Fetched::Stored {
                stored,
                content_type,
            }),
            Err(StoreError::TooLarge { .. }) => Ok(Fetched::TooLarge { bytes: None }),
            Err(StoreError::Source(reason)) => Ok(Fetched::Failed(reason)),
            Err(StoreError::Lake(e)) => Err(e),
        }
    }
}

/// What a non-success answer means.
async fn refusal(status: reqwest::StatusCode, resp: reqwest::Response) -> Fetched {
    if status == reqwest::StatusCode::NOT_FOUND {
        return Fetched::Missing;
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ERROR_BODY_BYTES {
            break;
        }
    }
    let body = String::from_utf8_lossy(&body).to_ascii_lowercase();
    let code = body
        .split_once("<code>")
        .and_then(|(_, rest)| rest.split_once("</code>"))
        .map(|(c, _)| c.to_string());
    if status == reqwest::StatusCode::FORBIDDEN
        && code.as_deref() == Some("accessdenied")
        && body.contains("expired")
    {
        return Fetched::Expired;
    }
    Fetched::Failed(match code {
        Some(code) => format!("HTTP {} ({code})", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    })
}

/// An HTTP error's text without its URL (a signed URL is a credential for an hour).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the download broke off"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reservations never exceed the budget together, and what is given back is free again.
    #[test]
    fn a_budget_is_shared_and_given_back() {
        let budget = Budget::new(10);
        assert_eq!(budget.reserve(4), 4);
        assert_eq!(budget.reserve(4), 4);
        assert_eq!(budget.reserve(4), 2, "only what is left");
        assert_eq!(budget.reserve(1), 0);
        budget.give_back(3);
        assert_eq!(budget.left(), 3);
        assert_eq!(Budget::unlimited().reserve(u64::MAX / 2), u64::MAX / 2);
    }
}
