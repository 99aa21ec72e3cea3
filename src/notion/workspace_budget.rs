//! Notion's second limit: every connection of one workspace shares a request budget scaled to
//! the workspace's plan, which Notion does not publish. A [`WorkspaceBudget`] is that budget as
//! the connections of one process learn it: unlimited until Notion answers 429 with the
//! workspace reason, then a pacer whose rate is cut to 85% of what was being sent
//! (multiplicative decrease) and recovers by steps in time (additive increase): in 30 s back to
//! 95% of the rate that was last refused, then slowly past it, faster the longer no 429 comes,
//! so that 429s stay rare and the budget stays used. A 429 with the connection reason leaves the budget alone: it only backs off the
//! connection that got it (its retry waits `Retry-After`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Notion's `rate_limit_reason` for one connection's limit (about 3 requests/s on average).
pub const CONNECTION_LIMIT_REASON: &str = "public_api_request_rate_limit";
/// Notion's `rate_limit_reason` for the limit every connection of a workspace shares.
pub const WORKSPACE_LIMIT_REASON: &str = "public_api_space_request_rate_limit";

/// Which of Notion's limits a 429 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// The connection's own limit.
    Connection,
    /// The workspace's shared limit.
    Workspace,
    /// A reason this client does not know, or none.
    Other,
}

impl LimitReason {
    /// The reason named by a 429's `additional_data.rate_limit_reason`.
    pub fn parse(reason: Option<&str>) -> LimitReason {
        match reason {
            Some(CONNECTION_LIMIT_REASON) => LimitReason::Connection,
            Some(WORKSPACE_LIMIT_REASON) => LimitReason::Workspace,
            _ => LimitReason::Other,
        }
    }
}

/// The share of the sending rate kept after a workspace 429.
const DECREASE: f64 = 0.85;
/// The share of the refused sending rate the climb returns to quickly: the limit lies a little
/// under the rate that met it.
const CEILING: f64 = 0.95;
/// Seconds to climb from the decreased rate back to that ceiling.
const RECOVER_SECS: f64 = 30.0;
/// Past the refused rate, the rate grows by this share of it per second at first...
const PROBE_PER_SEC: f64 = 0.001;
/// ...and that growth doubles every this many seconds without a 429 (the workspace's limit may
/// have been measured low, or risen with its plan).
const PROBE_DOUBLING_SECS: f64 = 15.0;
/// 429s this soon after a decrease answer requests sent before it: they do not cut again.
const HOLD: Duration = Duration::from_secs(2);
/// The window over which the sending rate is measured.
const WINDOW: Duration = Duration::from_secs(5);
/// The shortest span a sending rate is measured over (the first 429 may come a few
/// milliseconds into a run).
const MIN_SPAN: f64 = 0.25;
/// The rate never falls below this (requests/s).
const FLOOR: f64 = 0.2;

#[derive(Debug)]
struct State {
    /// The pacing rate; `None` until the first workspace 429.
    rate: Option<f64>,
    /// The rate the climb after a 429 returns to (a share of the rate refused).
    ceiling: f64,
    /// Requests/s the rate climbs by each second below the ceiling.
    climb: f64,
    /// The next free sending slot.
    next: Instant,
    /// When the rate was last cut.
    decreased_at: Option<Instant>,
    /// When the rate was last raised (or cut).
    adjusted_at: Instant,
    /// When a request last had to wait for its slot (the budget was what held it back).
    waited_at: Option<Instant>,
    /// Since when the rate has been past the refused rate.
    above_since: Option<Instant>,
    /// Send times within the measuring window.
    sent: VecDeque<Instant>,
    decreases: u64,
}

/// One workspace's shared request budget. Shared (in an `Arc`) by the clients of every
/// connection of the workspace.
#[derive(Debug)]
pub struct WorkspaceBudget {
    workspace_id: String,
    state: Mutex<State>,
}

/// A copy of a budget's state, for summaries and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetView {
    /// The workspace's id (from `GET /v1/users/me`).
    pub workspace_id: String,
    /// The pacing rate learned, if Notion ever refused the workspace's rate.
    pub rate: Option<f64>,
    /// How many times a workspace 429 cut the rate.
    pub decreases: u64,
}

impl WorkspaceBudget {
    /// An unlimited budget for the workspace `workspace_id`.
    pub fn new(workspace_id: impl Into<String>) -> Self {
        let now = Instant::now();
        WorkspaceBudget {
            workspace_id: workspace_id.into(),
            state: Mutex::new(State {
                rate: None,
                ceiling: 0.0,
                climb: 0.0,
                next: now,
                decreased_at: None,
                adjusted_at: now,
                waited_at: None,
                above_since: None,
                sent: VecDeque::new(),
                decreases: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the budget's state.
    pub fn view(&self) -> BudgetView {
        let s = self.state();
        BudgetView {
            workspace_id: self.workspace_id.clone(),
            rate: s.rate,
            decreases: s.decreases,
        }
    }

    /// Waits for this request's slot in the workspace's budget (at once while it is unlimited).
    pub async fn acquire(&self) {
        let slot = {
            let mut s = self.state();
            let now = Instant::now();
            while s.sent.front().is_some_and(|t| now - *t > WINDOW) {
                s.sent.pop_front();
            }
            let slot = match s.rate {
                None => now,
                Some(rate) => {
                    let slot = s.next.max(now);
                    s.next = slot + Duration::from_secs_f64(1.0 / rate);
                    if slot > now {
                        s.waited_at = Some(now);
                    }
                    slot
                }
            };
            s.sent.push_back(slot);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// A request of the workspace succeeded: the rate climbs if the budget is what holds the
    /// workspace's connections back.
    pub fn on_success(&self) {
        let mut s = self.state();
        let now = Instant::now();
        let dt = (now - s.adjusted_at).as_secs_f64();
        s.adjusted_at = now;
        let Some(rate) = s.rate else { return };
        let binding = s
            .waited_at
            .is_some_and(|t| now - t < Duration::from_secs(1));
        if !binding {
            return;
        }
        let step = if rate < s.ceiling {
            s.climb
        } else {
            let since = *s.above_since.get_or_insert(now);
            let doublings = (now - since).as_secs_f64() / PROBE_DOUBLING_SECS;
            s.ceiling * PROBE_PER_SEC * doublings.min(20.0).exp2()
        };
        s.rate = Some(rate + step * dt);
    }

    /// Notion refused a request for the workspace's limit: the rate is cut to a share of what
    /// was being sent, unless it was just cut.
    pub fn on_limited(&self) {
        let mut s = self.state();
        let now = Instant::now();
        if s.decreased_at.is_some_and(|t| now - t < HOLD) {
            return;
        }
        let span = s
            .sent
            .front()
            .map(|t| (now - *t).as_secs_f64())
            .unwrap_or(0.0)
            .clamp(MIN_SPAN, WINDOW.as_secs_f64());
        let measured = s.sent.len() as f64 / span;
        let sending = s.rate.map_or(measured, |r| r.min(measured.max(FLOOR)));
        let rate = (sending * DECREASE).max(FLOOR);
        s.ceiling = (sending * CEILING).max(FLOOR);
        s.climb = (s.ceiling - rate).max(0.0) / RECOVER_SECS;
        s.rate = Some(rate);
        s.decreased_at = Some(now);
        s.adjusted_at = now;
        s.above_since = None;
        s.decreases += 1;
        tracing::info!(
            workspace = %self.workspace_id,
            rate = s.rate.unwrap_or_default(),
            "Notion refused the workspace's rate: its connections now share a lower budget"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_parse() {
        assert_eq!(
            LimitReason::parse(Some(WORKSPACE_LIMIT_REASON)),
            LimitReason::Workspace
        );
        assert_eq!(
            LimitReason::parse(Some(CONNECTION_LIMIT_REASON)),
            LimitReason::Connection
        );
        assert_eq!(LimitReason::parse(None), LimitReason::Other);
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_until_refused_then_cut_and_recovering() {
        let b = WorkspaceBudget::new("w");
        let start = Instant::now();
        for _ in 0..10 {
            b.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "no pacing before a 429");
        tokio::time::advance(Duration::from_secs(2)).await;
        b.on_limited();
        let cut = b.view().rate.unwrap();
        // 10 requests over the 2 s measured: 5/s, cut to 4.25/s.
        assert!((cut - 4.25).abs() < 0.01, "{cut}");
        // A second 429 within the hold does not cut again.
        b.on_limited();
        assert_eq!(b.view().decreases, 1);
        // Paced now: 9 requests at 4.25/s take about 1.9 s.
        let start = Instant::now();
        for _ in 0..9 {
            b.acquire().await;
            b.on_success();
        }
        let took = start.elapsed().as_secs_f64();
        assert!((1.8..=2.2).contains(&took), "{took}");
        let raised = b.view().rate.unwrap();
        assert!(raised > cut && raised < 5.0, "{raised}");
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_refused_rate_the_climb_accelerates() {
        let b = WorkspaceBudget::new("w");
        for _ in 0..10 {
            b.acquire().await;
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        b.on_limited();
        let climb = |secs: u64| {
            let b = &b;
            async move {
                let start = Instant::now();
                let before = b.view().rate.unwrap();
                while start.elapsed() < Duration::from_secs(secs) {
                    b.acquire().await;
                    b.on_success();
                }
                b.view().rate.unwrap() - before
            }
        };
        // Back from 4.25/s to 95% of the refused 5/s within about 30 s...
        let back = climb(30).await;
        assert!((0.45..=0.55).contains(&back), "{back}");
        // ...then slowly past it, faster the longer no 429 comes.
        let first = climb(30).await;
        let second = climb(30).await;
        assert!(first > 0.0 && first < 0.5, "{first}");
        assert!(second > 3.0 * first, "{first} then {second}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_budget_does_not_climb() {
        let b = WorkspaceBudget::new("w");
        for _ in 0..4 {
            b.acquire().await;
        }
        b.on_limited();
        let cut = b.view().rate.unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        b.on_success();
        assert_eq!(b.view().rate.unwrap(), cut);
    }
}
