//! Which unedited pages the comments refresh reads in a run, so that a `--watch` loop over an
//! active workspace stays cheap. A page edited within the refresh's window is *due*:
//! - every [`RECENT_EVERY`] (an hour) while it was edited within the last [`RECENT`] (a day);
//! - every [`WEEK_EVERY`] (a day) after that, until it leaves the window;
//!
//! counted from the last time its comments were read (by a crawl, which reads them with the
//! content, or by the refresh). A run reads the due pages most overdue first, up to its budget
//! of requests ([`DEFAULT_BUDGET`], `--comments-refresh-budget`); the rest wait for the next
//! run. A quiet `--watch 5m` loop therefore costs its data sources + 3 requests, plus at most
//! the budget, and on average (pages edited today) + (pages edited this week) / 24 requests
//! an hour. `--comments-refresh all` reads every page every run, as before.

use chrono::{DateTime, Duration, Utc};

/// Edited this recently: refreshed every [`RECENT_EVERY`].
pub const RECENT: Duration = Duration::days(1);
/// How often a page edited within [`RECENT`] is refreshed.
pub const RECENT_EVERY: Duration = Duration::hours(1);
/// How often an older page of the window is refreshed.
pub const WEEK_EVERY: Duration = Duration::days(1);
/// Requests a run spends on the refresh at most, by default.
pub const DEFAULT_BUDGET: usize = 10;

/// Since when a page is due for a comments refresh at `now`, or `None` when it is not: edited
/// at `edited`, its comments last read at `read` (never: `None`), within a window of `window`
/// before `now`.
pub fn due_since(
    edited: DateTime<Utc>,
    read: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
) -> Option<DateTime<Utc>> {
    if edited < now - window {
        return None;
    }
    let every = if edited >= now - RECENT {
        RECENT_EVERY
    } else {
        WEEK_EVERY
    };
    match read {
        None => Some(edited),
        Some(r) if now - r >= every => Some(r + every),
        Some(_) => None,
    }
}

/// The pages a run reads: `due` (id, due since, requests it costs) most overdue first, while
/// the requests stay within `budget` (the first page is read even when it alone costs more, so
/// that no page waits forever). Returns them and how many due pages wait.
pub fn within_budget<T>(
    mut due: Vec<(T, DateTime<Utc>, usize)>,
    budget: usize,
) -> (Vec<(T, usize)>, usize) {
    due.sort_by_key(|d| d.1);
    let (mut spent, mut out, mut waiting) = (0, Vec::new(), 0);
    for (id, _, cost) in due {
        if spent + cost <= budget || (out.is_empty() && budget > 0) {
            spent += cost;
            out.push((id, cost));
        } else {
            waiting += 1;
        }
    }
    (out, waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::hours(h)
    }

    #[test]
    fn pages_are_due_hourly_today_daily_this_week_and_never_after() {
        let week = Duration::days(7);
        let now = t(200);
        // Edited 2 h ago: due an hour after its last read.
        assert_eq!(due_since(t(198), Some(t(199)), now, week), Some(t(200)));
        assert_eq!(
            due_since(t(198), Some(t(199) + Duration::minutes(30)), now, week),
            None
        );
        assert_eq!(due_since(t(198), None, now, week), Some(t(198)));
        // Edited 3 days ago: daily.
        assert_eq!(due_since(t(128), Some(t(190)), now, week), None);
        assert_eq!(due_since(t(128), Some(t(170)), now, week), Some(t(194)));
        // Older than the window: never.
        assert_eq!(due_since(t(0), None, now, week), None);
    }

    #[test]
    fn the_budget_takes_the_most_overdue_first() {
        let due = vec![
            ("a", t(5), 1),
            ("b", t(1), 3),
            ("c", t(2), 1),
            ("d", t(3), 1),
        ];
        let (take, waiting) = within_budget(due, 4);
        assert_eq!(take, vec![("b", 3), ("c", 1)]);
        assert_eq!(waiting, 2);
        let (take, _) = within_budget(vec![("big", t(0), 9), ("small", t(1), 1)], 4);
        assert_eq!(
            take,
            vec![("big", 9)],
            "a page costlier than the budget is read alone"
        );
    }
}
