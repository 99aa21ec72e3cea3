//! What schedulers and monitors read: `--status-file <path>`, a JSON document with one entry per
//! connection (last success, last run's outcome, rows, requests, 429s by reason, its workspace
//! and the rate that workspace's connections share, duration, and the lag since the last
//! success), rewritten atomically (a temporary file renamed over it) after each
//! connection's run. Entries of connections this run did not touch are kept.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Ended, Outcome};

/// One connection's entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    /// Its lake.
    pub lake: String,
    /// When its last successful run ended.
    pub last_success: Option<DateTime<Utc>>,
    /// When its last run ended.
    pub last_run: Option<DateTime<Utc>>,
    /// How the last run ended.
    pub outcome: RunOutcome,
    /// The error or the skip's reason.
    pub message: Option<String>,
    /// Rows its last run wrote to the data-source tables.
    pub rows: usize,
    /// Requests its last run made.
    pub requests: u64,
    /// Of them, answered 429.
    pub rate_limited: u64,
    /// Those 429s by the limit Notion named (connection or workspace).
    #[serde(default)]
    pub rate_limit_reasons: BTreeMap<String, u64>,
    /// The workspace its token belongs to, once known.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The rate (requests/s) its workspace's connections share, once Notion refused a higher
    /// one (`null`: never refused).
    #[serde(default)]
    pub workspace_rps: Option<f64>,
    /// For the webhook events its last run applied: the time from each change in Notion to
    /// the run's commit (median and maximum, in milliseconds).
    #[serde(default)]
    pub event_latency: Option<crate::sync::latency::EventLatency>,
    /// Its last run's duration in seconds.
    pub duration_secs: f64,
    /// Seconds from the last success to this entry's writing (`null`: never succeeded).
    pub lag_secs: Option<i64>,
}

/// How a connection's last run ended, as the file spells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Synced.
    #[default]
    Ok,
    /// Skipped: another process held its lake.
    RunningElsewhere,
    /// Skipped: its lake was synced within the skip window.
    SyncedRecently,
    /// Failed.
    Failed,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// When it was last written.
    pub updated_at: Option<DateTime<Utc>>,
    /// Per connection name.
    pub connections: BTreeMap<String, ConnectionStatus>,
}

/// Records `outcome` (ended at `now`) in the status file at `path`, atomically.
pub fn record(path: &Path, outcome: &Outcome, now: DateTime<Utc>) -> std::io::Result<()> {
    // An unreadable file starts again: it is a report, not a state anything depends on.
    let mut doc: StatusDoc = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let entry = doc.connections.entry(outcome.name.clone()).or_default();
    entry.lake = outcome.lake.clone();
    entry.last_run = Some(now);
    entry.duration_secs = outcome.duration.as_secs_f64();
    if let Some(w) = &outcome.workspace {
        entry.workspace_id = Some(w.workspace_id.clone());
        entry.workspace_rps = w.rate;
    }
    (
        entry.outcome,
        entry.message,
        entry.rows,
        entry.requests,
        entry.rate_limited,
    ) = match &outcome.ended {
        Ended::Synced(r) => {
            entry.last_success = Some(now);
            entry.rate_limit_reasons = r.requests.rate_limit_reasons.clone();
            entry.event_latency = r.events.as_ref().and_then(|e| e.latency.clone());
            let rows = r.tables.iter().map(|t| t.rows).sum();
            let q = &r.requests;
            (RunOutcome::Ok, None, rows, q.total_requests, q.rate_limited)
        }
        Ended::RunningElsewhere(why) => {
            entry.rate_limit_reasons.clear();
            (RunOutcome::RunningElsewhere, Some(why.clone()), 0, 0, 0)
        }
        Ended::SyncedRecently(why) => {
            entry.rate_limit_reasons.clear();
            (RunOutcome::SyncedRecently, Some(why.clone()), 0, 0, 0)
        }
        Ended::Failed(e) => {
            entry.rate_limit_reasons.clear();
            (RunOutcome::Failed, Some(e.clone()), 0, 0, 0)
        }
    };
    doc.updated_at = Some(now);
    for status in doc.connections.values_mut() {
        status.lag_secs = status.last_success.map(|t| (now - t).num_seconds());
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_are_kept_and_the_lag_counts_from_the_last_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let t0 = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .to_utc();
        let failed = |name: &str| Outcome {
            name: name.into(),
            lake: format!("./{name}"),
            ended: Ended::Failed("401".into()),
            workspace: None,
            duration: Duration::from_secs(2),
        };
        let skipped = Outcome {
            name: "b".into(),
            lake: "./b".into(),
            ended: Ended::RunningElsewhere("running elsewhere".into()),
            workspace: None,
            duration: Duration::ZERO,
        };
        record(&path, &failed("a"), t0).unwrap();
        record(&path, &skipped, t0 + chrono::Duration::seconds(5)).unwrap();
        let doc: StatusDoc = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc.connections.len(), 2, "both entries");
        assert_eq!(doc.connections["a"].outcome, RunOutcome::Failed);
        assert_eq!(doc.connections["a"].lag_secs, None, "never succeeded");
        assert_eq!(doc.connections["b"].outcome, RunOutcome::RunningElsewhere);
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        assert!(
            text.contains("\"outcome\": \"running_elsewhere\""),
            "{text}"
        );
        assert_eq!(doc.connections["a"].message.as_deref(), Some("401"));
    }
}
