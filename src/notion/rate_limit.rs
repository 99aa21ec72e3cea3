//! Client-side rate limiting: one governor token bucket shared by every task of a run, driven by
//! tokio's clock so that tests on a paused clock never sleep for real. The fake Notion server
//! uses the same limiter to answer 429.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Governor};

/// A governor clock that reads tokio's clock (paused in tests, real otherwise).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// A token bucket: `rps` tokens per second on average, at most `burst` at once.
#[derive(Debug)]
pub struct RateLimiter {
    inner: Governor<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>,
}

impl RateLimiter {
    /// A bucket refilling at `rps` per second with room for `burst` requests.
    pub fn new(rps: f64, burst: u32) -> Result<Self, String> {
        if !(rps.is_finite() && rps > 0.0) {
            return Err(format!("the request rate must be above 0, got {rps}"));
        }
        let period = Duration::from_secs_f64(1.0 / rps);
        let burst_nz = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .ok_or_else(|| format!("the request rate {rps}/s is too high"))?
            .allow_burst(burst_nz);
        Ok(RateLimiter {
            inner: Governor::direct_with_clock(quota, TokioClock),
        })
    }

    /// Takes one token now, or tells how long until one is available.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.inner
            .check()
            .map_err(|not_until| not_until.wait_time_from(TokioClock.now()))
    }

    /// Waits (on tokio's clock) until a token is available and takes it.
    pub async fn acquire(&self) {
        while let Err(wait) = self.try_acquire() {
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_paces() {
        let rl = RateLimiter::new(3.0, 2).unwrap();
        let start = tokio::time::Instant::now();
        for _ in 0..8 {
            rl.acquire().await;
        }
        // 2 immediately, then 6 more at 3/s = 2 s of virtual time.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(1900) && took <= Duration::from_millis(2100),
            "{took:?}"
        );
    }

    #[test]
    fn rejects_zero_rate() {
        assert!(RateLimiter::new(0.0, 1).is_err());
        assert!(RateLimiter::new(f64::NAN, 1).is_err());
    }
}
