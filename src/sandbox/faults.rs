//! Injected faults, for tests and benchmarks (sandbox only: Krayin has no such thing).
//!
//! Latency (fixed or uniform), failures before any work (500/502/503, as from Krayin or from the
//! proxy in front of it), failures *after* a write was committed (the client sees a 500 although
//! the record exists: the case that makes blind retries duplicate), dropped connections (before
//! or after the work, 50/50), and revocation of every token after each N requests (as when
//! another integration logs in with the same account, §3).
//!
//! Draws come from one RNG seeded with `--seed`, so a given sequence of requests meets the same
//! faults on every run. Only `/api/v1` is affected; `/_sandbox` never fails.

use std::io;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::SharedState;
use super::error::ApiError;

/// Added latency per request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Latency {
    #[default]
    None,
    Fixed(Duration),
    /// Uniform between the two bounds.
    Uniform(Duration, Duration),
}

impl FromStr for Latency {
    type Err = String;
    /// `0`, `50ms`, `1s`, or a range `20ms..80ms`.
    fn from_str(s: &str) -> Result<Latency, String> {
        let s = s.trim();
        if let Some((a, b)) = s.split_once("..") {
            let (a, b) = (parse_duration(a)?, parse_duration(b)?);
            if b < a {
                return Err(format!("latency range {s:?} ends before it starts"));
            }
            return Ok(Latency::Uniform(a, b));
        }
        let d = parse_duration(s)?;
        Ok(if d.is_zero() {
            Latency::None
        } else {
            Latency::Fixed(d)
        })
    }
}

/// `250ms`, `2s`, or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("bad duration {s:?}: expected e.g. 50ms or 2s");
    if let Some(ms) = s.strip_suffix("ms") {
        return ms
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| bad());
    }
    if let Some(secs) = s.strip_suffix('s') {
        return secs
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(bad);
    }
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| bad())
}

/// What to inject. Fractions are in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    pub latency: Latency,
    /// Requests failing with 500, 502 or 503 before anything is done.
    pub fail_before: f64,
    /// Successful writes (other than `/login`) answered with a 500 although committed.
    pub fail_after_commit: f64,
    /// Requests whose connection is dropped without a complete answer.
    pub drop_connection: f64,
    /// Every token is revoked after each this many API requests.
    pub revoke_tokens_every: Option<u64>,
    pub seed: u64,
}

impl Faults {
    pub fn is_none(&self) -> bool {
        self.latency == Latency::None
            && self.fail_before == 0.0
            && self.fail_after_commit == 0.0
            && self.drop_connection == 0.0
            && self.revoke_tokens_every.is_none()
    }
}

pub struct FaultState {
    pub config: Faults,
    rng: Mutex<StdRng>,
    requests: AtomicU64,
    /// Counted for `/_sandbox/stats`.
    pub injected: Mutex<InjectedCounts>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct InjectedCounts {
    pub failed_before: u64,
    pub failed_after_commit: u64,
    pub dropped: u64,
    pub token_revocations: u64,
}

impl FaultState {
    pub fn new(config: Faults) -> FaultState {
        FaultState {
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config,
            requests: AtomicU64::new(0),
            injected: Mutex::new(InjectedCounts::default()),
        }
    }

    fn roll(&self, p: f64) -> bool {
        p > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random_bool(p.min(1.0))
    }

    fn delay(&self) -> Option<Duration> {
        match self.config.latency {
            Latency::None => None,
            Latency::Fixed(d) => Some(d),
            Latency::Uniform(a, b) => {
                let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                Some(a + (b - a).mul_f64(rng.random::<f64>()))
            }
        }
    }

    fn count(&self, f: impl FnOnce(&mut InjectedCounts)) {
        f(&mut self.injected.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A response whose body fails at once: hyper aborts the connection, so the client gets no
/// complete answer.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "sandbox: injected connection drop",
        ))
    });
    Response::new(Body::from_stream(stream))
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    )
}

pub async fn inject(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let faults = &state.faults;
    if faults.config.is_none() || !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let n = faults.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(every) = faults.config.revoke_tokens_every
        && every > 0
        && n % every == 0
    {
        match super::store::revoke_all_tokens(&state.db()) {
            Ok(_) => faults.count(|c| c.token_revocations += 1),
            Err(e) => tracing::warn!(error = %e, "sandbox: token revocation failed"),
        }
    }
    if let Some(d) = faults.delay() {
        tokio::time::sleep(d).await;
    }
    if faults.roll(faults.config.fail_before) {
        faults.count(|c| c.failed_before += 1);
        let which = faults
            .rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .random_range(0..3);
        return match which {
            0 => ApiError::server("sandbox: injected failure before any work").into_response(),
            1 => (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response(),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable").into_response(),
        };
    }
    let drop = faults.roll(faults.config.drop_connection);
    let drop_before = drop && faults.roll(0.5);
    if drop_before {
        faults.count(|c| c.dropped += 1);
        return dropped();
    }
    // Login writes a token, but a lost login answer is no lost record: keep it out.
    let write = is_write(req.method()) && !req.uri().path().ends_with("/login");
    let res = next.run(req).await;
    if drop {
        faults.count(|c| c.dropped += 1);
        return dropped();
    }
    if write && res.status().is_success() && faults.roll(faults.config.fail_after_commit) {
        faults.count(|c| c.failed_after_commit += 1);
        return ApiError::server("sandbox: injected failure after the write was committed")
            .into_response();
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_parse() {
        assert_eq!("0".parse::<Latency>().unwrap(), Latency::None);
        assert_eq!(
            "50ms".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_millis(50))
        );
        assert_eq!(
            "1.5s".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_millis(1500))
        );
        assert_eq!(
            "20ms..80ms".parse::<Latency>().unwrap(),
            Latency::Uniform(Duration::from_millis(20), Duration::from_millis(80))
        );
        assert!("80ms..20ms".parse::<Latency>().is_err());
        assert!("fast".parse::<Latency>().is_err());
    }

    #[test]
    fn same_seed_same_draws() {
        let f = Faults {
            fail_before: 0.3,
            seed: 7,
            ..Faults::default()
        };
        let a = FaultState::new(f.clone());
        let b = FaultState::new(f);
        let da: Vec<bool> = (0..100).map(|_| a.roll(0.3)).collect();
        let db: Vec<bool> = (0..100).map(|_| b.roll(0.3)).collect();
        assert_eq!(da, db);
        assert!(da.iter().any(|x| *x) && da.iter().any(|x| !*x));
    }
}
