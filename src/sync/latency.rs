//! How long applied webhook events took to reach the lake: from each event's `timestamp` (when
//! the change happened in Notion) to the commit of the run that applied it, as the run record,
//! the summary and the status file report it (median and maximum).

use chrono::{DateTime, Utc};

/// The edit-to-commit times of a run's events.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct EventLatency {
    /// Events measured (those with a readable timestamp).
    pub events: usize,
    /// The median time, in milliseconds.
    pub median_ms: u64,
    /// The longest time, in milliseconds.
    pub max_ms: u64,
}

impl EventLatency {
    /// The times from `happened` to `commit` (an event stamped after the commit counts 0);
    /// `None` without events.
    pub fn measure(happened: &[DateTime<Utc>], commit: DateTime<Utc>) -> Option<EventLatency> {
        let mut ms: Vec<u64> = happened
            .iter()
            .map(|t| (commit - *t).num_milliseconds().max(0) as u64)
            .collect();
        if ms.is_empty() {
            return None;
        }
        ms.sort_unstable();
        let mid = ms.len() / 2;
        let median = if ms.len().is_multiple_of(2) {
            (ms[mid - 1] + ms[mid]) / 2
        } else {
            ms[mid]
        };
        Some(EventLatency {
            events: ms.len(),
            median_ms: median,
            max_ms: ms[ms.len() - 1],
        })
    }
}

impl std::fmt::Display for EventLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "edit to commit: median {:.1} s, max {:.1} s over {} events",
            self.median_ms as f64 / 1000.0,
            self.max_ms as f64 / 1000.0,
            self.events
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_max() {
        let commit = DateTime::parse_from_rfc3339("2026-12-07T10:00:30Z")
            .unwrap()
            .to_utc();
        let at = |s: i64| commit - chrono::Duration::seconds(s);
        let l = EventLatency::measure(&[at(10), at(30), at(20), at(-1)], commit).unwrap();
        assert_eq!((l.events, l.median_ms, l.max_ms), (4, 15_000, 30_000));
        assert_eq!(EventLatency::measure(&[], commit), None);
    }
}
