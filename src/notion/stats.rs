//! Per-run counters of the client: requests per endpoint, retries, 429/529 received, bytes.
//! Shared by every clone of a client; a snapshot is serialisable for the run summary.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, updated by the send path.
#[derive(Debug, Default)]
pub struct ClientStats {
    requests: Mutex<BTreeMap<String, u64>>,
    rate_limit_reasons: Mutex<BTreeMap<String, u64>>,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    overloaded: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    refreshes: AtomicU64,
    bytes_received: AtomicU64,
}

/// A point-in-time copy of [`ClientStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// HTTP requests sent, per endpoint label (every attempt counts).
    pub requests: BTreeMap<String, u64>,
    /// Total HTTP requests sent.
    pub total_requests: u64,
    /// Attempts that were retries of an earlier failed attempt.
    pub retries: u64,
    /// 429 `rate_limited` responses received.
    pub rate_limited: u64,
    /// Those 429s by the limit Notion names (`additional_data.rate_limit_reason`:
    /// `public_api_request_rate_limit` for the connection's, `public_api_space_request_rate_limit`
    /// for the workspace's; `unspecified` when the answer names none).
    pub rate_limit_reasons: BTreeMap<String, u64>,
    /// 529 `service_overload` responses received.
    pub overloaded: u64,
    /// 5xx responses other than 529.
    pub server_errors: u64,
    /// Timeouts, resets and other failures without a response.
    pub transport_errors: u64,
    /// Token refreshes after a 401.
    pub refreshes: u64,
    /// Response body bytes received.
    pub bytes_received: u64,
}

impl ClientStats {
    pub(crate) fn record_request(&self, endpoint: &str) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry(endpoint.to_string()).or_default() += 1;
        }
    }

    pub(crate) fn record_status(&self, status: u16) {
        match status {
            429 => self.rate_limited.fetch_add(1, Ordering::Relaxed),
            529 => self.overloaded.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.server_errors.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    /// Counts a 429 under the limit it names.
    pub(crate) fn record_rate_limit_reason(&self, reason: Option<&str>) {
        if let Ok(mut m) = self.rate_limit_reasons.lock() {
            *m.entry(reason.unwrap_or("unspecified").to_string())
                .or_default() += 1;
        }
    }

    pub(crate) fn record_transport_error(&self) {
        self.transport_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_refresh(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_bytes(&self, n: usize) {
        self.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Copies the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let requests = self.requests.lock().map(|m| m.clone()).unwrap_or_default();
        StatsSnapshot {
            total_requests: requests.values().sum(),
            requests,
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            rate_limit_reasons: self
                .rate_limit_reasons
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
            overloaded: self.overloaded.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            transport_errors: self.transport_errors.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
        }
    }
}
