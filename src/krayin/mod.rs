//! Krayin's REST API as this tool sees it: the client every import and export goes through.
//!
//! The client knows HTTP and the contract (`krayin-api.md`), nothing about files or mappings.
//! One [`Client`] per run holds one pooled HTTP client, one rate limiter shared by every task,
//! the current token, a retry budget and per-endpoint metrics. Every call goes through
//! [`Client::send`]:
//!
//! 1. take a rate-limit permit (every attempt: Krayin counts every call, §4);
//! 2. send with the headers Krayin needs (§2) and the current token;
//! 3. turn a non-2xx answer into a typed [`Error`] ([`error::from_response`]), classified;
//! 4. decide: re-login once on an auth failure (single-flight), pause every task on a throttle
//!    refusal, back off and retry what is transient, and hand an ambiguous write back to the
//!    caller instead of re-sending it (the import resolves it by looking the record up).
//!
//! Layout: [`model`] (wire types, shared with the sandbox), [`error`], [`retry`], [`limit`],
//! [`auth`], [`metrics`].

pub mod auth;
pub mod error;
pub mod limit;
pub mod metrics;
pub mod model;
pub mod retry;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub use auth::{Credentials, Secret};
pub use error::{Class, Error};
pub use limit::Rate;
use model::{
    Activity, Attribute, Envelope, Lead, List, LoginResponse, NamedItem, Organization, Page,
    Person, Pipeline, User,
};

/// Everything needed to build a [`Client`]; made by `config.rs` from flags, environment and
/// settings file.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://crm.example.com/api/v1` (no trailing slash needed).
    pub base: url::Url,
    pub credentials: Credentials,
    /// `None`: no client-side pacing (only for an unthrottled sandbox).
    pub rate: Option<Rate>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: retry::Policy,
    pub allow_insecure_http: bool,
}

impl ClientConfig {
    pub fn new(base: url::Url, credentials: Credentials) -> ClientConfig {
        ClientConfig {
            base,
            credentials,
            rate: Some(Rate::KRAYIN_DEFAULT),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            retry: retry::Policy::default(),
            allow_insecure_http: false,
        }
    }
}

/// Is this host this machine?
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// One request, before it is sent.
struct Call<'a> {
    method: Method,
    /// The path pattern for metrics and messages: `PUT /leads/{id}`.
    endpoint: &'static str,
    path: String,
    query: &'a [(String, String)],
    body: Option<&'a Value>,
}

#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    tokens: auth::TokenState,
    limiter: limit::Limiter,
    policy: retry::Policy,
    budget: retry::Budget,
    metrics: metrics::Metrics,
    lookups: OnceCell<Arc<Lookups>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let base = config.base.as_str().trim_end_matches('/').to_string();
        match config.base.scheme() {
            "https" => {}
            "http" if is_loopback(&config.base) || config.allow_insecure_http => {}
            "http" => {
                return Err(Error::Config(format!(
                    "{base} is plain HTTP to another machine: the token would cross the network \
                     in clear. Use https://, or pass --allow-insecure-http if you really mean it."
                )));
            }
            other => {
                return Err(Error::Config(format!(
                    "{base}: unsupported scheme {other:?}; expected https://…/api/v1"
                )));
            }
        }
        let mut headers = HeaderMap::new();
        // §2: without it Krayin answers redirects and HTML pages.
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        // §2: makes the meeting-overlap conflict a 400 JSON instead of a 302.
        headers.insert(
            "x-requested-with",
            HeaderValue::from_static("XMLHttpRequest"),
        );
        let http = reqwest::Client::builder()
            .user_agent(concat!("krayin-etl/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirect means the request was not taken as an API call (§2): never follow it.
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                tokens: auth::TokenState::new(config.credentials),
                limiter: limit::Limiter::new(config.rate),
                policy: config.retry,
                budget: retry::Budget::default(),
                metrics: metrics::Metrics::default(),
                lookups: OnceCell::new(),
            }),
        })
    }

    pub fn base(&self) -> &str {
        &self.inner.base
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// The pacing in force (learned from `X-RateLimit-Limit` once an answer arrived).
    pub fn rate(&self) -> Option<Rate> {
        self.inner.limiter.rate()
    }

    /// One attempt: permit, send, read. `Ok` carries any status; `Err` means no answer.
    async fn attempt(
        &self,
        call: &Call<'_>,
        token: Option<&Secret>,
        is_retry: bool,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Error> {
        let inner = &self.inner;
        let waited = inner.limiter.acquire().await;
        let mut req = inner
            .http
            .request(call.method.clone(), format!("{}{}", inner.base, call.path));
        if !call.query.is_empty() {
            req = req.query(call.query);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t.expose());
        }
        if let Some(b) = call.body {
            req = req.json(b);
        }
        let started = Instant::now();
        let sent = req.send().await;
        let result = match sent {
            Ok(res) => {
                let status = res.status();
                let headers = res.headers().clone();
                match res.bytes().await {
                    Ok(body) => Ok((status, headers, body)),
                    // The answer started but did not finish: the server did the work.
                    Err(e) => Err(transport_error(call, &e, true)),
                }
            }
            Err(e) => {
                // Connect errors never reached the server; anything else may have.
                let sent = !e.is_connect();
                Err(transport_error(call, &e, sent))
            }
        };
        let (status, bytes, throttled) = match &result {
            Ok((s, h, b)) => {
                inner.limiter.observe(&error::RateHeaders::parse(h));
                (Some(s.as_u16()), b.len() as u64, s.as_u16() == 429)
            }
            Err(_) => (None, 0, false),
        };
        inner.metrics.record(metrics::Attempt {
            endpoint: call.endpoint,
            status,
            latency: started.elapsed(),
            limiter_wait: waited,
            bytes,
            is_retry,
            throttled,
        });
        result
    }

    /// Sends a call with the retry rules of the module docs; returns the 2xx body.
    async fn send(&self, call: Call<'_>) -> Result<Bytes, Error> {
        let inner = &self.inner;
        let started = Instant::now();
        let write = error::is_write(&call.method);
        inner.budget.deposit();
        let mut attempts = 0u32;
        // Re-logins by this call, and refusals taken for throttling since the last one.
        let mut logins = 0u32;
        let mut guesses = 0u32;
        loop {
            attempts += 1;
            let (generation, token) = self.token().await?;
            let remaining_before = inner.limiter.remaining();
            let result = self.attempt(&call, token.as_ref(), attempts > 1).await;
            let mut err = match result {
                Ok((status, _, body)) if status.is_success() => return Ok(body),
                Ok((status, headers, _)) if status.is_redirection() => Error::Api {
                    endpoint: call.endpoint.to_string(),
                    status,
                    message: format!(
                        "redirected to {:?}: the server did not take this as an API call (is the base URL …/api/v1?)",
                        headers
                            .get(header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                    ),
                    fields: Default::default(),
                    rate: error::RateHeaders::parse(&headers),
                    class: Class::Permanent,
                },
                Ok((status, headers, body)) => error::from_response(
                    &call.method,
                    call.endpoint,
                    status,
                    &headers,
                    &body,
                    remaining_before,
                ),
                Err(e) => e,
            };
            // A production 500 hides auth failures, throttling and real server errors alike
            // (§5). A cheap `GET /get` tells a refusal (throttled or unauthenticated: nothing
            // was applied) from a server error.
            if is_generic_500(&err) && write {
                // On a write the bare 500 may also come *after* the write was committed, and
                // nothing in it tells which: never re-sent here. Pause everyone if it looks
                // like throttling, and hand it back as ambiguous; the caller looks the record
                // up before sending again.
                let refused = err.class() == Class::Throttled
                    || matches!(self.probe_auth(token.as_ref()).await, Probe::Refused);
                if refused {
                    let wait = self.throttle_wait();
                    tracing::warn!(
                        endpoint = call.endpoint,
                        wait_secs = wait.as_secs_f64(),
                        "refused write (throttled or unauthenticated?): pausing"
                    );
                    inner.limiter.pause_until(Instant::now() + wait);
                }
                set_class(&mut err, Class::Ambiguous);
            } else if is_generic_500(&err) {
                if inner.tokens.current().0 != generation {
                    // Another task logged in meanwhile: our token was the stale one.
                    attempts -= 1;
                    guesses = 0;
                    continue;
                }
                // Probed even when `Remaining` was 0: a revoked token also answers 500 and
                // leaves `Remaining` where it was, and taking it for throttling forever would
                // never log in again.
                match self.probe_auth(token.as_ref()).await {
                    // The token works and the bucket is not empty: a real server error.
                    Probe::Fine => set_class(&mut err, Class::Transient),
                    // Refused: throttled (it clears within a window) or a revoked token (it
                    // does not). Wait windows out first; only then log in again, because a
                    // login revokes the account's other tokens.
                    Probe::Refused if guesses < MAX_THROTTLE_GUESSES => {
                        guesses += 1;
                        set_class(&mut err, Class::Throttled)
                    }
                    Probe::Refused => set_class(&mut err, Class::Auth),
                }
            }
            let elapsed = started.elapsed();
            match err.class() {
                Class::Auth => {
                    if inner.tokens.current().0 != generation {
                        // Someone already logged in again: retry with the new token.
                        guesses = 0;
                        continue;
                    }
                    if logins >= MAX_LOGINS_PER_CALL || !inner.tokens.credentials.can_login() {
                        return Err(Error::Auth(format!(
                            "the API refused the credentials ({err}). Check KRAYIN_API_TOKEN, or the \
                             login e-mail and password"
                        )));
                    }
                    tracing::warn!(endpoint = call.endpoint, "auth refused: logging in again");
                    self.relogin(generation).await?;
                    logins += 1;
                    guesses = 0;
                }
                Class::Throttled => {
                    let wait = match &err {
                        Error::Api { rate, .. } => rate.retry_after,
                        _ => None,
                    }
                    .unwrap_or(inner.policy.throttle_floor);
                    if elapsed + wait > inner.policy.max_elapsed {
                        return Err(Error::GaveUp {
                            attempts,
                            last: Box::new(err),
                        });
                    }
                    tracing::warn!(
                        endpoint = call.endpoint,
                        wait_secs = wait.as_secs_f64(),
                        "throttled by Krayin: pausing every request"
                    );
                    inner.limiter.pause_until(Instant::now() + wait);
                }
                Class::Transient | Class::Ambiguous
                    if !write || err.class() == Class::Transient =>
                {
                    if attempts >= inner.policy.max_attempts
                        || elapsed >= inner.policy.max_elapsed
                        || !inner.budget.withdraw()
                    {
                        return Err(Error::GaveUp {
                            attempts,
                            last: Box::new(err),
                        });
                    }
                    let retry_after = match &err {
                        Error::Api { rate, .. } => rate.retry_after,
                        _ => None,
                    };
                    let wait = inner.policy.backoff(attempts - 1, retry_after);
                    tracing::info!(
                        endpoint = call.endpoint,
                        attempt = attempts,
                        wait_ms = wait.as_millis() as u64,
                        error = %err,
                        "transient failure: retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                // Ambiguous writes and permanent failures go back to the caller.
                _ => return Err(err),
            }
        }
    }

    /// How long a refusal without `Retry-After` pauses every request.
    fn throttle_wait(&self) -> Duration {
        self.inner.policy.throttle_floor
    }

    /// `GET /get` with the given token, outside the retry loop.
    async fn probe_auth(&self, token: Option<&Secret>) -> Probe {
        let call = Call {
            method: Method::GET,
            endpoint: "GET /get",
            path: "/get".into(),
            query: &[],
            body: None,
        };
        match self.attempt(&call, token, true).await {
            Ok((s, _, _)) if s.is_success() => Probe::Fine,
            Ok((s, _, _)) if s.as_u16() == 401 || s.as_u16() == 500 => Probe::Refused,
            _ => Probe::Fine,
        }
    }

    /// The token to send, logging in first if there is none yet.
    async fn token(&self) -> Result<(u64, Option<Secret>), Error> {
        let (generation, token) = self.inner.tokens.current();
        if token.is_some() {
            return Ok((generation, token));
        }
        self.relogin(generation).await?;
        Ok(self.inner.tokens.current())
    }

    /// Logs in unless another task already did after `failed_generation` (single-flight).
    async fn relogin(&self, failed_generation: u64) -> Result<(), Error> {
        let _guard = self.inner.tokens.login_lock.lock().await;
        if self.inner.tokens.current().0 != failed_generation {
            return Ok(());
        }
        self.login().await
    }

    /// `POST /login`: the answer's top-level `token` replaces the current one (§3).
    async fn login(&self) -> Result<(), Error> {
        let Some((email, password, device)) = self.inner.tokens.credentials.login_fields() else {
            return Err(Error::Auth(
                "the API token was refused and no login e-mail/password is configured".into(),
            ));
        };
        let body = json!({"email": email, "password": password.expose(), "device_name": device});
        let call = Call {
            method: Method::POST,
            endpoint: "POST /login",
            path: "/login".into(),
            query: &[],
            body: Some(&body),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = self.inner.limiter.remaining();
            let err = match self.attempt(&call, None, attempts > 1).await {
                Ok((s, _, b)) if s.is_success() => {
                    let res: LoginResponse = decode(&call, &b)?;
                    self.inner.tokens.set(Secret::new(res.token));
                    tracing::info!(email, "logged in (this revoked the account's other tokens)");
                    return Ok(());
                }
                Ok((s, h, b)) => {
                    error::from_response(&call.method, call.endpoint, s, &h, &b, remaining)
                }
                Err(e) => e,
            };
            match err.class() {
                // Logging in twice is harmless, so any failure without a verdict is retried.
                Class::Transient | Class::Ambiguous | Class::Throttled
                    if attempts < self.inner.policy.max_attempts =>
                {
                    let ra = match &err {
                        Error::Api { rate, .. } => rate.retry_after,
                        _ => None,
                    };
                    tokio::time::sleep(self.inner.policy.backoff(attempts - 1, ra)).await;
                }
                _ => {
                    let detail = match &err {
                        Error::Api { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    return Err(Error::Auth(format!("login as {email} failed: {detail}")));
                }
            }
        }
    }

    async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, Error> {
        let endpoint = call.endpoint;
        let body = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|e| Error::Decode {
            endpoint: endpoint.to_string(),
            detail: e.to_string(),
        })
    }

    fn call<'a>(
        method: Method,
        endpoint: &'static str,
        path: String,
        query: &'a [(String, String)],
        body: Option<&'a Value>,
    ) -> Call<'a> {
        Call {
            method,
            endpoint,
            path,
            query,
            body,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Typed operations (§7–§11)

    /// `GET /get`: the token's user. A cheap way to check the set-up.
    pub async fn me(&self) -> Result<User, Error> {
        let e: Envelope<User> = self
            .json(Self::call(
                Method::GET,
                "GET /get",
                "/get".into(),
                &[],
                None,
            ))
            .await?;
        Ok(e.data)
    }

    pub async fn create_lead(&self, body: &Value) -> Result<Lead, Error> {
        let e: Envelope<Lead> = self
            .json(Self::call(
                Method::POST,
                "POST /leads",
                "/leads".into(),
                &[],
                Some(body),
            ))
            .await?;
        Ok(e.data)
    }

    pub async fn get_lead(&self, id: u64) -> Result<Lead, Error> {
        let e: Envelope<Lead> = self
            .json(Self::call(
                Method::GET,
                "GET /leads/{id}",
                format!("/leads/{id}"),
                &[],
                None,
            ))
            .await?;
        Ok(e.data)
    }

    /// `PUT /leads/{id}`: Krayin's destructive full update (§7 "Update traps"): the caller must
    /// resend the stage, the expected close date and the products it wants to keep.
    pub async fn update_lead(&self, id: u64, body: &Value) -> Result<Lead, Error> {
        let e: Envelope<Lead> = self
            .json(Self::call(
                Method::PUT,
                "PUT /leads/{id}",
                format!("/leads/{id}"),
                &[],
                Some(body),
            ))
            .await?;
        Ok(e.data)
    }

    /// `PUT /leads/attributes/edit/{id}`: no validation, only the keys sent (but an omitted
    /// `expected_close_date` is still nulled).
    pub async fn edit_lead_attributes(&self, id: u64, body: &Value) -> Result<Lead, Error> {
        let e: Envelope<Lead> = self
            .json(Self::call(
                Method::PUT,
                "PUT /leads/attributes/edit/{id}",
                format!("/leads/attributes/edit/{id}"),
                &[],
                Some(body),
            ))
            .await?;
        Ok(e.data)
    }

    pub async fn leads_page(&self, q: &PageQuery) -> Result<Page<Lead>, Error> {
        let params = q.params();
        self.json(Self::call(
            Method::GET,
            "GET /leads",
            "/leads".into(),
            &params,
            None,
        ))
        .await
    }

    /// `GET /leads/search` (prettus criteria, unpaginated, §6).
    pub async fn search_leads(&self, params: &[(String, String)]) -> Result<Vec<Lead>, Error> {
        let l: List<Lead> = self
            .json(Self::call(
                Method::GET,
                "GET /leads/search",
                "/leads/search".into(),
                params,
                None,
            ))
            .await?;
        Ok(l.data)
    }

    pub async fn persons_page(&self, q: &PageQuery) -> Result<Page<Person>, Error> {
        let params = q.params();
        self.json(Self::call(
            Method::GET,
            "GET /contacts/persons",
            "/contacts/persons".into(),
            &params,
            None,
        ))
        .await
    }

    pub async fn search_persons(&self, params: &[(String, String)]) -> Result<Vec<Person>, Error> {
        let l: List<Person> = self
            .json(Self::call(
                Method::GET,
                "GET /contacts/persons/search",
                "/contacts/persons/search".into(),
                params,
                None,
            ))
            .await?;
        Ok(l.data)
    }

    /// Persons whose e-mail is `email` (case-insensitively), via the search endpoint. Its `like`
    /// is a case-sensitive substring match with `_` as a wildcard (§6), so the answer is
    /// filtered here, and the address is searched as given and in lower case: a stored
    /// `Jane@Acme.test` is found from `jane@acme.test` only through the person index.
    pub async fn find_persons_by_email(&self, email: &str) -> Result<Vec<Person>, Error> {
        let wanted = normalize_email(email);
        let mut queries = vec![email.trim().to_string()];
        if wanted != queries[0] {
            queries.push(wanted.clone());
        }
        let mut found: Vec<Person> = Vec::new();
        for q in queries {
            let params = vec![
                ("search".to_string(), q),
                ("searchFields".to_string(), "emails:like".to_string()),
                ("limit".to_string(), "50".to_string()),
            ];
            for p in self.search_persons(&params).await? {
                let matches = p
                    .emails
                    .iter()
                    .filter_map(|e| e.value.as_deref())
                    .any(|v| normalize_email(v) == wanted);
                if matches && !found.iter().any(|f| f.id == p.id) {
                    found.push(p);
                }
            }
        }
        Ok(found)
    }

    pub async fn create_person(&self, body: &Value) -> Result<Person, Error> {
        let e: Envelope<Person> = self
            .json(Self::call(
                Method::POST,
                "POST /contacts/persons",
                "/contacts/persons".into(),
                &[],
                Some(body),
            ))
            .await?;
        Ok(e.data)
    }

    pub async fn organizations_page(&self, q: &PageQuery) -> Result<Page<Organization>, Error> {
        let params = q.params();
        self.json(Self::call(
            Method::GET,
            "GET /contacts/organizations",
            "/contacts/organizations".into(),
            &params,
            None,
        ))
        .await
    }

    /// Every organization in one request (`pagination=0`).
    pub async fn organizations_all(&self) -> Result<Vec<Organization>, Error> {
        let params = vec![("pagination".to_string(), "0".to_string())];
        let l: List<Organization> = self
            .json(Self::call(
                Method::GET,
                "GET /contacts/organizations",
                "/contacts/organizations".into(),
                &params,
                None,
            ))
            .await?;
        Ok(l.data)
    }

    pub async fn create_organization(&self, body: &Value) -> Result<Organization, Error> {
        let e: Envelope<Organization> = self
            .json(Self::call(
                Method::POST,
                "POST /contacts/organizations",
                "/contacts/organizations".into(),
                &[],
                Some(body),
            ))
            .await?;
        Ok(e.data)
    }

    pub async fn create_activity(&self, body: &Value) -> Result<Activity, Error> {
        let e: Envelope<Activity> = self
            .json(Self::call(
                Method::POST,
                "POST /activities",
                "/activities".into(),
                &[],
                Some(body),
            ))
            .await?;
        Ok(e.data)
    }

    pub async fn activities_page(&self, q: &PageQuery) -> Result<Page<Activity>, Error> {
        let params = q.params();
        self.json(Self::call(
            Method::GET,
            "GET /activities",
            "/activities".into(),
            &params,
            None,
        ))
        .await
    }

    /// `GET /leads/{id}/activities` (unpaginated).
    pub async fn lead_activities(&self, id: u64) -> Result<Vec<Activity>, Error> {
        let l: List<Activity> = self
            .json(Self::call(
                Method::GET,
                "GET /leads/{id}/activities",
                format!("/leads/{id}/activities"),
                &[],
                None,
            ))
            .await?;
        Ok(l.data)
    }

    async fn all<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
    ) -> Result<Vec<T>, Error> {
        let params = vec![
            ("pagination".to_string(), "0".to_string()),
            ("sort".to_string(), "id".to_string()),
            ("order".to_string(), "asc".to_string()),
        ];
        let l: List<T> = self
            .json(Self::call(
                Method::GET,
                endpoint,
                path.to_string(),
                &params,
                None,
            ))
            .await?;
        Ok(l.data)
    }

    /// Sources, types, pipelines with stages, users and attributes: one request each
    /// (`pagination=0`, §11), fetched once per run and shared.
    pub async fn lookups(&self) -> Result<Arc<Lookups>, Error> {
        self.inner
            .lookups
            .get_or_try_init(|| async { Ok(Arc::new(self.fetch_tables(Tables::ALL).await?)) })
            .await
            .cloned()
    }

    /// Only the look-up tables asked for, one request each (the others are left empty): an
    /// export names sources, types, pipelines and users but never needs the attributes, and a
    /// filter needs only its own table. Served from [`Client::lookups`] when that was loaded.
    pub async fn lookup_tables(&self, want: Tables) -> Result<Lookups, Error> {
        match self.inner.lookups.get() {
            Some(l) => Ok(want.keep(l)),
            None => self.fetch_tables(want).await,
        }
    }

    async fn fetch_tables(&self, want: Tables) -> Result<Lookups, Error> {
        async fn maybe<T, F>(on: bool, f: F) -> Result<Vec<T>, Error>
        where
            F: std::future::Future<Output = Result<Vec<T>, Error>>,
        {
            if on { f.await } else { Ok(Vec::new()) }
        }
        let (sources, types, pipelines, users, attributes) = futures::try_join!(
            maybe(
                want.sources,
                self.all("GET /settings/sources", "/settings/sources")
            ),
            maybe(
                want.types,
                self.all("GET /settings/types", "/settings/types")
            ),
            maybe(
                want.pipelines,
                self.all("GET /settings/pipelines", "/settings/pipelines")
            ),
            maybe(
                want.users,
                self.all("GET /settings/users", "/settings/users")
            ),
            maybe(
                want.attributes,
                self.all("GET /settings/attributes", "/settings/attributes")
            ),
        )?;
        Ok(Lookups {
            sources,
            types,
            pipelines,
            users,
            attributes,
        })
    }

    /// Every person, as an index from normalized e-mail and phone to person id, loaded with a
    /// few large pages (several in flight) so that dedupe needs no per-row search.
    pub async fn person_index(&self, page_size: u64) -> Result<PersonIndex, Error> {
        let mut index = PersonIndex::default();
        let query = |page| PageQuery {
            page,
            limit: page_size,
            sort: Some("id".into()),
            order: Some("asc".into()),
            filters: Vec::new(),
        };
        let first = self.persons_page(&query(1)).await?;
        let last = first.meta.last_page;
        first.data.iter().for_each(|p| index.insert(p));
        use futures::StreamExt;
        let mut rest = futures::stream::iter(2..=last)
            .map(|page| {
                let q = query(page);
                async move { self.persons_page(&q).await }
            })
            .buffered(4);
        while let Some(page) = rest.next().await {
            page?.data.iter().for_each(|p| index.insert(p));
        }
        Ok(index)
    }
}

/// In production mode a refused `GET /get` probe is taken for throttling this many times in a
/// row (each followed by a pause of a window) before the token is suspected.
const MAX_THROTTLE_GUESSES: u32 = 3;

/// Re-logins one call may make: a token revoked again and again (another tool logging in with
/// the same account in a loop) ends as an auth error instead of a tug of war.
const MAX_LOGINS_PER_CALL: u32 = 3;

enum Probe {
    Fine,
    Refused,
}

fn is_generic_500(e: &Error) -> bool {
    matches!(e, Error::Api { status, message, .. }
        if status.as_u16() == 500 && message == "admin::app.common.internal-server-error")
}

fn set_class(e: &mut Error, new: Class) {
    if let Error::Api { class, .. } | Error::Transport { class, .. } = e {
        *class = new;
    }
}

fn transport_error(call: &Call<'_>, e: &reqwest::Error, sent: bool) -> Error {
    let write = error::is_write(&call.method);
    let class = if !sent || !write {
        Class::Transient
    } else {
        Class::Ambiguous
    };
    // reqwest's message names the URL, never the headers: no token can leak through it.
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let source = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    Error::Transport {
        endpoint: call.endpoint.to_string(),
        detail: format!("{what}{source}"),
        sent,
        class,
    }
}

fn decode<T: DeserializeOwned>(call: &Call<'_>, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        endpoint: call.endpoint.to_string(),
        detail: e.to_string(),
    })
}

/// A §6 list query. Page URLs are built here, never taken from `links` (they drop `limit`).
#[derive(Debug, Clone)]
pub struct PageQuery {
    pub page: u64,
    pub limit: u64,
    pub sort: Option<String>,
    pub order: Option<String>,
    /// Exact `IN` column filters: `("lead_pipeline_stage_id", "5,6")`.
    pub filters: Vec<(String, String)>,
}

impl Default for PageQuery {
    fn default() -> Self {
        PageQuery {
            page: 1,
            limit: 100,
            sort: Some("id".into()),
            order: Some("asc".into()),
            filters: Vec::new(),
        }
    }
}

impl PageQuery {
    fn params(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("page".to_string(), self.page.to_string()),
            ("limit".to_string(), self.limit.to_string()),
        ];
        if let Some(s) = &self.sort {
            p.push(("sort".into(), s.clone()));
        }
        if let Some(o) = &self.order {
            p.push(("order".into(), o.clone()));
        }
        p.extend(self.filters.iter().cloned());
        p
    }
}

/// Which look-up tables to fetch ([`Client::lookup_tables`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tables {
    pub sources: bool,
    pub types: bool,
    pub pipelines: bool,
    pub users: bool,
    pub attributes: bool,
}

impl Tables {
    pub const ALL: Tables = Tables {
        sources: true,
        types: true,
        pipelines: true,
        users: true,
        attributes: true,
    };

    /// The tables in `self` that `have` lacks.
    pub fn without(self, have: Tables) -> Tables {
        Tables {
            sources: self.sources && !have.sources,
            types: self.types && !have.types,
            pipelines: self.pipelines && !have.pipelines,
            users: self.users && !have.users,
            attributes: self.attributes && !have.attributes,
        }
    }

    pub fn is_empty(self) -> bool {
        self == Tables::default()
    }

    fn keep(self, l: &Lookups) -> Lookups {
        fn pick<T: Clone>(on: bool, v: &[T]) -> Vec<T> {
            if on { v.to_vec() } else { Vec::new() }
        }
        Lookups {
            sources: pick(self.sources, &l.sources),
            types: pick(self.types, &l.types),
            pipelines: pick(self.pipelines, &l.pipelines),
            users: pick(self.users, &l.users),
            attributes: pick(self.attributes, &l.attributes),
        }
    }
}

impl Lookups {
    /// Fills the tables of `self` that `other` holds and `self` does not.
    pub fn merge(&mut self, other: Lookups, from: Tables) {
        if from.sources {
            self.sources = other.sources;
        }
        if from.types {
            self.types = other.types;
        }
        if from.pipelines {
            self.pipelines = other.pipelines;
        }
        if from.users {
            self.users = other.users;
        }
        if from.attributes {
            self.attributes = other.attributes;
        }
    }
}

/// The look-up tables of §11, fetched once per run.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    pub sources: Vec<NamedItem>,
    pub types: Vec<NamedItem>,
    pub pipelines: Vec<Pipeline>,
    pub users: Vec<User>,
    pub attributes: Vec<Attribute>,
}

/// E-mails compare case-insensitively for dedupe: `Jane@X.com` and `jane@x.com` are one
/// mailbox, although Krayin's uniqueness check would let both exist.
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

/// `stable_hash(&normalize_email(s))`, without making the normalized text for an ASCII
/// address of up to 128 bytes (nearly all): the in-file checks hash an e-mail a row.
pub fn email_hash(s: &str) -> u64 {
    let t = s.trim();
    if t.len() <= 128 && t.is_ascii() {
        let mut buf = [0u8; 128];
        let lower = &mut buf[..t.len()];
        lower.copy_from_slice(t.as_bytes());
        lower.make_ascii_lowercase();
        stable_hash(std::str::from_utf8(lower).expect("ASCII stays UTF-8"))
    } else {
        stable_hash(&normalize_email(s))
    }
}

/// Phones compare by their digits (and a leading `+`): `+55 11 99999-0000` = `+5511999990000`.
pub fn normalize_phone(s: &str) -> String {
    let t = s.trim();
    let mut out = String::new();
    if t.starts_with('+') {
        out.push('+');
    }
    out.extend(t.chars().filter(char::is_ascii_digit));
    out
}

/// Normalized e-mail and phone → person id, keyed by 64-bit hashes of the normalized text:
/// it holds every person of the CRM (and those created during the run), so ~20 bytes an
/// e-mail instead of ~70 with the text. (A collision would take one person for another: odds
/// ~3e-8 with a million persons.)
#[derive(Debug, Default, Clone)]
pub struct PersonIndex {
    by_email: HashMap<u64, u64>,
    by_phone: HashMap<u64, u64>,
    persons: usize,
}

/// A 64-bit hash of a text, the same in every run (SipHash with fixed keys): how e-mails,
/// phones and person keys are remembered without their text.
pub fn stable_hash(normalized: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(normalized)
}

impl PersonIndex {
    pub fn insert(&mut self, p: &Person) {
        self.persons += 1;
        for e in p.emails.iter().filter_map(|e| e.value.as_deref()) {
            let k = normalize_email(e);
            if !k.is_empty() {
                // The oldest person keeps the key: it is the one a human would pick.
                self.by_email.entry(stable_hash(&k)).or_insert(p.id);
            }
        }
        for ph in p
            .contact_numbers
            .iter()
            .flatten()
            .filter_map(|e| e.value.as_deref())
        {
            let k = normalize_phone(ph);
            if k.trim_start_matches('+').len() >= 5 {
                self.by_phone.entry(stable_hash(&k)).or_insert(p.id);
            }
        }
    }

    /// Records e-mails and phones of a person created during the run.
    pub fn add(&mut self, id: u64, emails: &[String], phones: &[String]) {
        for e in emails {
            self.by_email.entry(email_hash(e)).or_insert(id);
        }
        for ph in phones {
            self.by_phone
                .entry(stable_hash(&normalize_phone(ph)))
                .or_insert(id);
        }
        self.persons += 1;
    }

    pub fn by_email(&self, email: &str) -> Option<u64> {
        self.by_email.get(&email_hash(email)).copied()
    }

    pub fn by_phone(&self, phone: &str) -> Option<u64> {
        self.by_phone
            .get(&stable_hash(&normalize_phone(phone)))
            .copied()
    }

    /// Persons loaded or added.
    pub fn len(&self) -> usize {
        self.persons
    }

    pub fn is_empty(&self) -> bool {
        self.persons == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_person_index_finds_normalized_e_mails_and_phones_and_keeps_the_oldest() {
        let person = |id, email: &str, phone: &str| -> Person {
            serde_json::from_value(serde_json::json!({
                "id": id, "name": "P", "job_title": null, "created_at": null, "updated_at": null,
                "emails": [{"value": email, "label": "work"}],
                "contact_numbers": [{"value": phone, "label": "work"}],
            }))
            .unwrap()
        };
        let mut index = PersonIndex::default();
        index.insert(&person(3, "Jane@ACME.test", "+55 (11) 99999-0000"));
        index.insert(&person(9, "jane@acme.test", "+5511999990000"));
        index.add(12, &["new@x.test".into()], &["+44 20 7946 0000".into()]);
        assert_eq!(
            index.by_email(" jane@acme.TEST "),
            Some(3),
            "the oldest keeps it"
        );
        assert_eq!(index.by_phone("+55 11 99999 0000"), Some(3));
        assert_eq!(index.by_email("NEW@x.test"), Some(12));
        assert_eq!(index.by_phone("+442079460000"), Some(12));
        assert_eq!(index.by_email("jane@acme.tes"), None);
        assert_eq!(index.by_phone("+5511999990001"), None);
        assert_eq!(index.len(), 3);
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        let creds = Credentials::Token(Secret::new("t"));
        for ok in [
            "http://127.0.0.1:8000/api/v1",
            "http://localhost/api/v1",
            "https://crm.example.com/api/v1",
        ] {
            assert!(
                Client::new(ClientConfig::new(ok.parse().unwrap(), creds.clone())).is_ok(),
                "{ok}"
            );
        }
        let err = Client::new(ClientConfig::new(
            "http://crm.example.com/api/v1".parse().unwrap(),
            creds.clone(),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("--allow-insecure-http"));
        let mut c = ClientConfig::new("http://crm.example.com/api/v1".parse().unwrap(), creds);
        c.allow_insecure_http = true;
        assert!(Client::new(c).is_ok());
    }

    #[test]
    fn normalizers() {
        assert_eq!(normalize_email("  Jane@ACME.test "), "jane@acme.test");
        assert_eq!(normalize_phone("+55 (11) 99999-0000"), "+5511999990000");
        assert_eq!(normalize_phone("11 9999"), "119999");
        for e in [
            "  Jane@ACME.test ",
            "",
            "ÉLODIE@ex.test",
            &"A".repeat(128),
            &"A".repeat(129),
        ] {
            assert_eq!(email_hash(e), stable_hash(&normalize_email(e)), "{e:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn email_hash_is_the_hash_of_the_normalized_email(s in "\\PC{0,140}|[ a-zA-Z@.]{0,140}") {
            proptest::prop_assert_eq!(email_hash(&s), stable_hash(&normalize_email(&s)));
        }
    }
}
