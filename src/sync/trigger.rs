//! Event-driven runs: when a watch loop's next run starts. The interval stays the safety net;
//! besides it, a run starts soon after new webhook event batches land in the lake's events
//! prefix. New batches are noticed by listing the prefix at most once per `poll` (one LIST on
//! S3 every few seconds; the same listing on disk), and debounced: the run starts once no new
//! batch has landed for `quiet`, or `max_wait` after the first new one, so a burst of edits is
//! one run, not one per event. Runs never overlap: the loop waits here only between runs, and
//! batches that land during a run are new to the next wait.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::sink::Lake;
use crate::webhooks::log;

/// How the trigger listens.
#[derive(Debug, Clone, Copy)]
pub struct TriggerOptions {
    /// Time between two listings of the events prefix.
    pub poll: Duration,
    /// A run starts once no new batch has landed for this long...
    pub quiet: Duration,
    /// ...or this long after the first new batch, whichever comes first.
    pub max_wait: Duration,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        TriggerOptions {
            poll: Duration::from_secs(2),
            quiet: Duration::from_secs(3),
            max_wait: Duration::from_secs(20),
        }
    }
}

/// Why the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The interval passed (polling, the safety net).
    Interval,
    /// New event batches landed (this many), and the debounce passed.
    Events(usize),
}

/// The debounce, apart from any listing: fed the batch names each listing finds.
#[derive(Debug, Default)]
pub struct Debounce {
    /// Batches known before this wait (the last run saw them).
    known: BTreeSet<String>,
    /// New batches seen during this wait.
    new: BTreeSet<String>,
    first_new: Option<Instant>,
    last_new: Option<Instant>,
}

impl Debounce {
    /// A debounce that counts as known the batches `known` (those present when the last run
    /// started: it consumed them, or failed on them).
    pub fn new(known: BTreeSet<String>) -> Self {
        Debounce {
            known,
            ..Debounce::default()
        }
    }

    /// One listing's names at `now`; `Some(n)` when a run is due for `n` new batches.
    pub fn observe(
        &mut self,
        names: impl IntoIterator<Item = String>,
        now: Instant,
        options: &TriggerOptions,
    ) -> Option<usize> {
        for name in names {
            if !self.known.contains(&name) && self.new.insert(name) {
                self.first_new.get_or_insert(now);
                self.last_new = Some(now);
            }
        }
        let (first, last) = (self.first_new?, self.last_new?);
        (now - last >= options.quiet || now - first >= options.max_wait).then_some(self.new.len())
    }
}

/// Watches a lake's events prefix between the runs of a watch loop.
#[derive(Debug)]
pub struct EventTrigger {
    lake: Lake,
    options: TriggerOptions,
    known: BTreeSet<String>,
}

impl EventTrigger {
    /// A trigger on `lake`'s events.
    pub fn new(lake: Lake, options: TriggerOptions) -> Self {
        EventTrigger {
            lake,
            options,
            known: BTreeSet::new(),
        }
    }

    /// Notes the batches present as a run starts: they are that run's, not news for the next
    /// wait.
    pub async fn run_starts(&mut self) {
        match log::batch_names(&self.lake).await {
            Ok(names) => self.known = names.into_iter().collect(),
            Err(e) => tracing::warn!("listing the webhook events failed: {e}"),
        }
    }

    /// Waits until `deadline` (the interval) or until new batches land and the debounce
    /// passes. A failed listing is logged and tried again at the next poll.
    pub async fn wait(&mut self, deadline: Instant) -> Wake {
        let mut debounce = Debounce::new(std::mem::take(&mut self.known));
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Wake::Interval;
            }
            match log::batch_names(&self.lake).await {
                Ok(names) => {
                    if let Some(n) = debounce.observe(names, Instant::now(), &self.options) {
                        tracing::info!("{n} new webhook event batches: syncing now");
                        return Wake::Events(n);
                    }
                }
                Err(e) => tracing::warn!("listing the webhook events failed: {e}"),
            }
            tokio::time::sleep_until((now + self.options.poll).min(deadline)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_one_run_after_the_quiet_period_or_the_longest_wait() {
        let options = TriggerOptions::default();
        let names = |n: usize| (0..n).map(|i| format!("b{i:03}")).collect::<Vec<_>>();
        let mut d = Debounce::new(names(2).into_iter().collect());
        let t0 = Instant::now();
        assert_eq!(d.observe(names(2), t0, &options), None, "known batches");
        let mut due = None;
        // One new batch a second for 10 s: no run while they keep coming...
        for s in 1..=10 {
            due = d.observe(names(2 + s), t0 + Duration::from_secs(s as u64), &options);
            assert_eq!(due, None, "at {s} s");
        }
        // ...then one once they stop for the quiet period.
        for s in 11..=13 {
            due = d.observe(names(12), t0 + Duration::from_secs(s), &options);
        }
        assert_eq!(due, Some(10));
        // A steady stream waits at most max_wait.
        let mut d = Debounce::new(BTreeSet::new());
        let mut first_due = None;
        for s in 0..40u64 {
            if let Some(n) = d.observe(names(s as usize + 1), t0 + Duration::from_secs(s), &options)
            {
                first_due = Some((s, n));
                break;
            }
        }
        assert_eq!(first_due, Some((20, 21)));
    }
}
