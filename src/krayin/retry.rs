//! How long to wait before the next attempt, and whether there may be one (vector's
//! `retries.rs`: *whether* to retry is decided by [`super::error::Class`]; *how long* here).
//!
//! Exponential backoff with full jitter, capped, never shorter than the server's `Retry-After`;
//! bounded attempts and elapsed time per call; and a retry budget shared by the whole run, so an
//! outage turns into a few probing retries and a clean failure instead of a retry storm that
//! also burns Krayin's 60-requests-a-minute quota.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Policy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// No new attempt starts after this long since the first.
    pub max_elapsed: Duration,
    pub base: Duration,
    pub cap: Duration,
    /// After a throttle refusal without `Retry-After` (production mode), wait at least this:
    /// Laravel's window is a minute (§4 "back off ≥ 60 s").
    pub throttle_floor: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 6,
            max_elapsed: Duration::from_secs(300),
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            throttle_floor: Duration::from_secs(60),
        }
    }
}

impl Policy {
    /// Full jitter: uniform in `[0, min(cap, base · 2^retry)]`, then at least `retry_after`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.cap);
        let jittered = ceiling.mul_f64(rand::rng().random::<f64>());
        match retry_after {
            Some(ra) => jittered.max(ra),
            None => jittered,
        }
    }
}

/// A token bucket of retries for the whole run: every first attempt deposits `ratio` tokens,
/// every retry withdraws one; `floor` retries are always allowed so a short blip on a quiet run
/// is still retried.
pub struct Budget {
    ratio: f64,
    max: f64,
    state: Mutex<f64>,
}

impl Budget {
    pub fn new(ratio: f64, floor: f64) -> Budget {
        Budget {
            ratio,
            max: floor.max(1.0) * 10.0,
            state: Mutex::new(floor),
        }
    }

    pub fn deposit(&self) {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *b = (*b + self.ratio).min(self.max);
    }

    /// Takes one retry from the budget, if there is one.
    pub fn withdraw(&self) -> bool {
        let mut b = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *b >= 1.0 {
            *b -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for Budget {
    /// 20% of requests may be retried, plus 10.
    fn default() -> Self {
        Budget::new(0.2, 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_honours_retry_after() {
        let p = Policy::default();
        for retry in 0..30 {
            assert!(p.backoff(retry, None) <= p.cap);
        }
        assert!(p.backoff(0, None) <= p.base);
        assert!(p.backoff(0, Some(Duration::from_secs(7))) >= Duration::from_secs(7));
    }

    #[test]
    fn budget_runs_out_then_refills_with_traffic() {
        let b = Budget::new(0.5, 2.0);
        assert!(b.withdraw());
        assert!(b.withdraw());
        assert!(!b.withdraw(), "an outage exhausts the budget");
        b.deposit();
        b.deposit();
        assert!(b.withdraw(), "two requests earn one retry");
        assert!(!b.withdraw());
    }
}
