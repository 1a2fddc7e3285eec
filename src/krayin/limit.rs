//! The run's one rate limiter (governor), shared by every task: a permit before *every*
//! attempt, retries, look-ups and logins included, because Krayin counts every call (§4).
//!
//! Krayin's limiter is a fixed window per user (60/min by default). A burst would fill a window
//! and then the steady rate would overflow it, so permits are evenly spaced (burst 1) at a hair
//! under the quota ([`SAFETY`]): a window can then never see more than its quota, whatever the
//! window's phase, while the run still achieves > 97% of it. The limit is re-learned from
//! `X-RateLimit-Limit`, and a throttle refusal pauses every task (not just the one refused).

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota};

use super::error::RateHeaders;

/// Pace at 98.5% of the quota: one spare request a minute at 60/min absorbs the jitter between
/// when a permit is granted here and when the request reaches Krayin.
pub const SAFETY: f64 = 0.985;

/// A request quota: `max` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub max: u32,
    pub per: Duration,
}

impl Rate {
    pub const KRAYIN_DEFAULT: Rate = Rate {
        max: 60,
        per: Duration::from_secs(60),
    };

    /// Parses `N/min`, `N/s`, `N/h` or a bare `N` (per minute).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let s = s.trim();
        let (n, unit) = s.split_once('/').unwrap_or((s, "min"));
        let max: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad rate {s:?}: expected N/min, N/s or N/h, e.g. 60/min"))?;
        if max == 0 {
            return Err(format!("bad rate {s:?}: the count must be at least 1"));
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("bad rate unit {other:?} in {s:?}: use s, min or h")),
        };
        Ok(Rate { max, per })
    }

    /// `off` → `None`, else [`Rate::parse`].
    pub fn parse_optional(s: &str) -> Result<Option<Rate>, String> {
        if s.trim().eq_ignore_ascii_case("off") {
            Ok(None)
        } else {
            Rate::parse(s).map(Some)
        }
    }

    /// Time between two permits at this rate, with the safety margin.
    pub fn interval(&self) -> Duration {
        self.per.div_f64(f64::from(self.max) * SAFETY)
    }

    pub fn per_second(&self) -> f64 {
        f64::from(self.max) / self.per.as_secs_f64()
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.per.as_secs() {
            1 => write!(f, "{}/s", self.max),
            60 => write!(f, "{}/min", self.max),
            3600 => write!(f, "{}/h", self.max),
            _ => write!(f, "{}/{:?}", self.max, self.per),
        }
    }
}

pub struct Limiter {
    /// `None` = unlimited (tests against an unthrottled sandbox).
    inner: RwLock<Option<Arc<DefaultDirectRateLimiter>>>,
    rate: Mutex<Option<Rate>>,
    remaining: Mutex<Option<u32>>,
    paused_until: Mutex<Option<Instant>>,
}

fn build(rate: Rate) -> Arc<DefaultDirectRateLimiter> {
    let period = rate.interval().max(Duration::from_nanos(1));
    let quota = Quota::with_period(period)
        .expect("non-zero period")
        .allow_burst(NonZeroU32::MIN);
    Arc::new(DefaultDirectRateLimiter::direct(quota))
}

impl Limiter {
    pub fn new(rate: Option<Rate>) -> Limiter {
        Limiter {
            inner: RwLock::new(rate.map(build)),
            rate: Mutex::new(rate),
            remaining: Mutex::new(None),
            paused_until: Mutex::new(None),
        }
    }

    pub fn rate(&self) -> Option<Rate> {
        *self.rate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a permit; returns how long that took.
    pub async fn acquire(&self) -> Duration {
        let start = Instant::now();
        loop {
            let pause = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match pause {
                Some(until) if until > Instant::now() => {
                    tokio::time::sleep_until(until.into()).await;
                }
                _ => break,
            }
        }
        let limiter = self.inner.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        start.elapsed()
    }

    /// Every task waits until `until` before its next permit (after a throttle refusal). The
    /// window will be new by then, so the last `Remaining` seen no longer says anything.
    pub fn pause_until(&self, until: Instant) {
        *self.remaining.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.hold_until(until);
    }

    fn hold_until(&self, until: Instant) {
        let mut p = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none_or(|cur| cur < until) {
            *p = Some(until);
        }
    }

    /// The last `X-RateLimit-Remaining` seen.
    pub fn remaining(&self) -> Option<u32> {
        *self.remaining.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Learns from an answer's headers: the real limit, and how much of the window is left.
    /// At `Remaining: 0` the next permit waits one more interval, so that a window someone
    /// else is also spending is not overrun by our next request.
    pub fn observe(&self, h: &RateHeaders) {
        if let Some(rem) = h.remaining {
            *self.remaining.lock().unwrap_or_else(|p| p.into_inner()) = Some(rem);
            if rem == 0
                && let Some(rate) = self.rate()
            {
                self.hold_until(Instant::now() + rate.interval());
            }
        }
        let Some(limit) = h.limit.filter(|l| *l > 0) else {
            return;
        };
        let mut rate = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        let per = rate.map_or(Duration::from_secs(60), |r| r.per);
        if rate.is_some_and(|r| r.max == limit) {
            return;
        }
        if rate.is_none() {
            // Unlimited by configuration: the user asked for no client-side pacing.
            return;
        }
        let learned = Rate { max: limit, per };
        tracing::info!(
            from = %rate.map(|r| r.to_string()).unwrap_or_default(),
            to = %learned,
            "rate limit learned from X-RateLimit-Limit"
        );
        *rate = Some(learned);
        *self.inner.write().unwrap_or_else(|p| p.into_inner()) = Some(build(learned));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(Rate::parse("60/min").unwrap(), Rate::KRAYIN_DEFAULT);
        assert_eq!(Rate::parse("60").unwrap(), Rate::KRAYIN_DEFAULT);
        assert_eq!(
            Rate::parse("10/s").unwrap(),
            Rate {
                max: 10,
                per: Duration::from_secs(1)
            }
        );
        assert_eq!(Rate::parse_optional("off").unwrap(), None);
        assert!(Rate::parse("0/min").is_err());
        assert!(Rate::parse("x/min").is_err());
        assert!(Rate::parse("5/fortnight").is_err());
    }

    #[test]
    fn interval_keeps_a_margin() {
        let i = Rate::KRAYIN_DEFAULT.interval();
        assert!(
            i > Duration::from_secs(1) && i < Duration::from_millis(1020),
            "{i:?}"
        );
        assert_eq!(Rate::parse("600/min").unwrap().to_string(), "600/min");
    }

    #[tokio::test]
    async fn permits_are_evenly_spaced() {
        let l = Limiter::new(Some(Rate {
            max: 20,
            per: Duration::from_secs(1),
        }));
        let t = Instant::now();
        for _ in 0..5 {
            l.acquire().await;
        }
        // 1 immediately, then 4 intervals of ~50.8 ms: no burst.
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn an_empty_window_slows_the_next_permit() {
        let l = Limiter::new(Some(Rate {
            max: 50,
            per: Duration::from_secs(1),
        }));
        l.acquire().await;
        l.observe(&RateHeaders {
            remaining: Some(0),
            ..Default::default()
        });
        let t = Instant::now();
        l.acquire().await;
        // One extra interval (~20 ms) on top of the normal spacing.
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn learns_the_servers_limit() {
        let l = Limiter::new(Some(Rate::KRAYIN_DEFAULT));
        l.observe(&RateHeaders {
            limit: Some(600),
            remaining: Some(599),
            ..Default::default()
        });
        assert_eq!(l.rate().unwrap().max, 600);
        assert_eq!(l.remaining(), Some(599));
    }
}
