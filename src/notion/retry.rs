//! The retry policy: which failures are retried (see [`NotionError::is_temporary`]), how long to
//! wait (Retry-After for 429/529, exponential backoff with jitter otherwise, via `backon`), and
//! the bounds on attempts and total time.

use std::time::Duration;

use backon::ExponentialBuilder;

use super::error::NotionError;

/// Bounds of the retry loop. Plain data with a `Default`, in the manner of object_store.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff delay (before jitter).
    pub min_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Largest total time spent sleeping between attempts of one request.
    pub max_total: Duration,
    /// A `Retry-After` above this is cut to it (Notion's workspace limit can ask for minutes).
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryConfig {
    /// The backoff schedule for temporary failures without `Retry-After`.
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
    }

    /// The delay before the next attempt: `Retry-After` when Notion sent one, else the backoff's
    /// proposal; `None` stops retrying (backoff exhausted or total time used up).
    pub(crate) fn next_delay(
        &self,
        err: &NotionError,
        proposed: Option<Duration>,
        slept_so_far: Duration,
    ) -> Option<Duration> {
        let backoff = proposed?;
        let delay = match err.retry_after() {
            Some(ra) => ra.min(self.max_retry_after),
            None => backoff,
        };
        (slept_so_far + delay <= self.max_total).then_some(delay)
    }
}

/// Parses a `Retry-After` header: integer (or decimal) seconds, or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = chrono::Utc::now();
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn retry_after_wins_and_total_time_is_bounded() {
        let cfg = RetryConfig {
            max_total: Duration::from_secs(10),
            ..Default::default()
        };
        let err = NotionError::Api(Box::new(super::super::error::ApiError {
            endpoint: "e".into(),
            status: 429,
            code: "rate_limited".into(),
            message: String::new(),
            request_id: None,
            retry_after: Some(Duration::from_secs(4)),
            additional_data: None,
        }));
        let d = Some(Duration::from_millis(500));
        assert_eq!(
            cfg.next_delay(&err, d, Duration::ZERO),
            Some(Duration::from_secs(4))
        );
        assert_eq!(cfg.next_delay(&err, d, Duration::from_secs(7)), None);
        assert_eq!(cfg.next_delay(&err, None, Duration::ZERO), None);
    }
}
