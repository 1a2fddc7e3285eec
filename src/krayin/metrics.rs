//! Per-endpoint request metrics for the run report: requests, statuses, retries, time spent
//! waiting for the rate limiter, latency percentiles (hdrhistogram) and bytes received.
//!
//! Endpoints are keyed by method and path *pattern* (`PUT /leads/{id}`), so ids do not explode
//! the table.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<BTreeMap<String, Endpoint>>,
}

struct Endpoint {
    requests: u64,
    statuses: BTreeMap<String, u64>,
    retries: u64,
    throttled: u64,
    limiter_wait: Duration,
    bytes: u64,
    /// Microseconds, 1 µs to 10 min, 3 significant figures.
    latency: Histogram<u64>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Endpoint {
            requests: 0,
            statuses: BTreeMap::new(),
            retries: 0,
            throttled: 0,
            limiter_wait: Duration::ZERO,
            bytes: 0,
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
        }
    }
}

/// One endpoint's figures, as the run report shows them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EndpointReport {
    pub requests: u64,
    /// Status code (or `error` for no answer) → count.
    pub statuses: BTreeMap<String, u64>,
    pub retries: u64,
    pub throttled: u64,
    pub limiter_wait_secs: f64,
    pub bytes: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
    pub latency_ms_p99: f64,
}

/// What one attempt did.
pub struct Attempt<'a> {
    pub endpoint: &'a str,
    /// `None` when no answer came back.
    pub status: Option<u16>,
    pub latency: Duration,
    pub limiter_wait: Duration,
    pub bytes: u64,
    pub is_retry: bool,
    pub throttled: bool,
}

impl Metrics {
    pub fn record(&self, a: Attempt<'_>) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(a.endpoint.to_string()).or_default();
        e.requests += 1;
        let key = a
            .status
            .map_or_else(|| "error".to_string(), |s| s.to_string());
        *e.statuses.entry(key).or_default() += 1;
        e.retries += u64::from(a.is_retry);
        e.throttled += u64::from(a.throttled);
        e.limiter_wait += a.limiter_wait;
        e.bytes += a.bytes;
        let micros = u64::try_from(a.latency.as_micros()).unwrap_or(u64::MAX);
        e.latency.saturating_record(micros.max(1));
    }

    pub fn report(&self) -> BTreeMap<String, EndpointReport> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(k, e)| {
                let q = |p: f64| e.latency.value_at_quantile(p) as f64 / 1000.0;
                (
                    k.clone(),
                    EndpointReport {
                        requests: e.requests,
                        statuses: e.statuses.clone(),
                        retries: e.retries,
                        throttled: e.throttled,
                        limiter_wait_secs: e.limiter_wait.as_secs_f64(),
                        bytes: e.bytes,
                        latency_ms_p50: q(0.50),
                        latency_ms_p95: q(0.95),
                        latency_ms_p99: q(0.99),
                    },
                )
            })
            .collect()
    }

    /// Requests over every endpoint.
    pub fn total_requests(&self) -> u64 {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.values().map(|e| e.requests).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_reports_percentiles() {
        let m = Metrics::default();
        for ms in 1..=100u64 {
            m.record(Attempt {
                endpoint: "POST /leads",
                status: Some(if ms == 100 { 500 } else { 200 }),
                latency: Duration::from_millis(ms),
                limiter_wait: Duration::from_millis(10),
                bytes: 100,
                is_retry: ms > 98,
                throttled: false,
            });
        }
        let r = &m.report()["POST /leads"];
        assert_eq!(r.requests, 100);
        assert_eq!(r.statuses["200"], 99);
        assert_eq!(r.statuses["500"], 1);
        assert_eq!(r.retries, 2);
        assert_eq!(r.bytes, 10_000);
        assert!(
            (49.0..=51.0).contains(&r.latency_ms_p50),
            "{}",
            r.latency_ms_p50
        );
        assert!((94.0..=96.0).contains(&r.latency_ms_p95));
        assert!((r.limiter_wait_secs - 1.0).abs() < 1e-9);
        assert_eq!(m.total_requests(), 100);
    }
}
