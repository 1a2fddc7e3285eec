//! Laravel's `throttle` middleware as Krayin configures it (contract §4).
//!
//! A fixed window per key: the first hit opens a window of `per`; up to `max` hits pass inside
//! it, each answer carrying `X-RateLimit-Limit` and `X-RateLimit-Remaining`; the next one is
//! refused until the window closes (no hit is counted for a refused request, as in Laravel's
//! `ThrottleRequests::handleRequest`). The key is the user id for authenticated routes, so every
//! token and process of one user shares one bucket, and the client IP for `/login`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::routes::AuthUser;
use super::{RateLimit, SharedState};

pub struct Throttle {
    limit: RateLimit,
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    opened: Instant,
    hits: u32,
}

/// What one check decided.
pub enum Decision {
    Pass { limit: u32, remaining: u32 },
    Refuse(ApiError),
}

impl Throttle {
    pub fn new(limit: RateLimit) -> Throttle {
        Throttle {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Counts one hit for `key` against `limit`, or refuses it.
    pub fn hit(&self, key: &str, limit: RateLimit) -> Decision {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let w = windows.entry(key.to_string()).or_insert(Window {
            opened: now,
            hits: 0,
        });
        if now.duration_since(w.opened) >= limit.per {
            *w = Window {
                opened: now,
                hits: 0,
            };
        }
        if w.hits >= limit.max {
            let left = limit.per.saturating_sub(now.duration_since(w.opened));
            // Laravel rounds the wait up to whole seconds.
            let retry_after_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let reset_unix = jiff::Timestamp::now().as_second() + retry_after_secs as i64;
            return Decision::Refuse(ApiError::Throttled {
                limit: limit.max,
                retry_after_secs,
                reset_unix,
            });
        }
        w.hits += 1;
        Decision::Pass {
            limit: limit.max,
            remaining: limit.max - w.hits,
        }
    }
}

/// `throttle:api` for authenticated routes: keyed by the user the auth layer found.
pub async fn api(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let Some(throttle) = &state.throttle else {
        return next.run(req).await;
    };
    let key = match req.extensions().get::<AuthUser>() {
        Some(user) => format!("user:{}", user.id),
        None => format!("ip:{}", client_ip(&req)),
    };
    guard(throttle, &key, throttle.limit(), req, next).await
}

/// `throttle:100,60` on `DELETE /contacts/persons/{id}` (§4), on top of `throttle:api`.
pub async fn person_delete(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let Some(throttle) = &state.throttle else {
        return next.run(req).await;
    };
    let key = match req.extensions().get::<AuthUser>() {
        Some(user) => format!("person-delete:user:{}", user.id),
        None => format!("person-delete:ip:{}", client_ip(&req)),
    };
    let limit = RateLimit {
        max: 100,
        per: Duration::from_secs(3600),
    };
    guard(throttle, &key, limit, req, next).await
}

async fn guard(
    throttle: &Throttle,
    key: &str,
    limit: RateLimit,
    req: Request,
    next: Next,
) -> Response {
    match throttle.hit(key, limit) {
        Decision::Refuse(err) => err.into_response(),
        Decision::Pass { limit, remaining } => {
            let mut res = next.run(req).await;
            let h = res.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
            res
        }
    }
}

fn client_ip(req: &Request) -> String {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_counts_down_then_refuses() {
        let t = Throttle::new(RateLimit {
            max: 2,
            per: Duration::from_secs(60),
        });
        let l = t.limit();
        assert!(matches!(t.hit("u", l), Decision::Pass { remaining: 1, .. }));
        assert!(matches!(t.hit("u", l), Decision::Pass { remaining: 0, .. }));
        match t.hit("u", l) {
            Decision::Refuse(ApiError::Throttled {
                retry_after_secs, ..
            }) => assert!((1..=60).contains(&retry_after_secs)),
            _ => panic!("third hit should be refused"),
        }
        // Another key has its own bucket.
        assert!(matches!(t.hit("v", l), Decision::Pass { remaining: 1, .. }));
    }

    #[test]
    fn window_reopens() {
        let t = Throttle::new(RateLimit {
            max: 1,
            per: Duration::from_millis(30),
        });
        let l = t.limit();
        assert!(matches!(t.hit("u", l), Decision::Pass { .. }));
        assert!(matches!(t.hit("u", l), Decision::Refuse(_)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(matches!(t.hit("u", l), Decision::Pass { .. }));
    }
}
