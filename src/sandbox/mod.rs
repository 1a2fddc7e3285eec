//! The sandbox: a local emulator of Krayin's REST API (rest-api v2.1.1 on Krayin 2.1).
//!
//! It is a real HTTP server (axum) on a real socket with a real SQLite store (rusqlite), seeded
//! like a fresh Krayin install, that follows `krayin-api.md`, traps included: throttling that
//! answers 500 in production mode, login revoking every token, person e-mails unique across
//! persons, no transactions around multi-step creates. Tests, benchmarks and
//! `import --sandbox` start one in-process on `127.0.0.1:0` with [`spawn`]; `krayin-etl sandbox`
//! serves one on a fixed address.
//!
//! Layout: [`store`] (schema, seed, row ↔ wire type), [`rules`] (Krayin's validation),
//! [`list`] (§6 pagination, filters and search criteria), [`error`] (how Krayin renders errors in
//! each mode), [`throttle`] (Laravel's fixed-window limiter), [`faults`] (injected latency and
//! failures), [`routes`] (one file per resource). Where the contract is silent the sandbox does
//! what real Krayin does, and `docs/sandbox.md` lists every such choice and every deliberate
//! difference.
//!
//! Not here: anything the client or the import knows; the sandbox shares only the wire types of
//! [`crate::krayin::model`].

pub mod error;
pub mod faults;
pub mod list;
pub mod routes;
pub mod rules;
pub mod store;
pub mod throttle;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use faults::{Faults, Latency};

/// How the emulated Krayin renders errors (§5): `APP_DEBUG=true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `APP_DEBUG=true`, the default of Krayin's `.env.example`: real statuses, 429 with headers.
    #[default]
    Debug,
    /// `APP_DEBUG=false`: throttling, bad tokens and 405 all become a bare HTTP 500.
    Production,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(Mode::Debug),
            "production" | "prod" => Ok(Mode::Production),
            _ => Err(format!("unknown mode {s:?}: expected debug or production")),
        }
    }
}

/// A request quota per user (§4): the client's [`Rate`](crate::krayin::limit::Rate), so the
/// two parse `60/min` alike.
pub use crate::krayin::limit::Rate as RateLimit;

/// Everything a sandbox needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// SQLite file, or `None` for an in-memory store.
    pub db: Option<PathBuf>,
    pub mode: Mode,
    /// `None` = no throttling at all (`--rate-limit off`).
    pub rate_limit: Option<RateLimit>,
    pub faults: Faults,
    /// The server's `APP_TIMEZONE` (§12). Krayin's `.env.example` ships `Asia/Kolkata`.
    pub timezone: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            db: None,
            mode: Mode::Debug,
            rate_limit: Some(RateLimit::KRAYIN_DEFAULT),
            faults: Faults::default(),
            timezone: "Asia/Kolkata".into(),
        }
    }
}

/// State shared by every handler.
pub struct AppState {
    pub mode: Mode,
    pub tz: jiff::tz::TimeZone,
    db: Mutex<rusqlite::Connection>,
    pub throttle: Option<throttle::Throttle>,
    pub faults: faults::FaultState,
    pub stats: Mutex<routes::inspect::RequestStats>,
}

impl AppState {
    /// The store. SQLite serializes writers anyway; one connection behind a mutex keeps
    /// `:memory:` stores possible and makes every request see the previous one's writes.
    pub fn db(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // A handler that panicked while holding the lock left no half-done transaction
        // (there are none, as in Krayin), so the data is still usable.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub type SharedState = Arc<AppState>;

/// Opens (and seeds, if new) the store and builds the state.
pub fn build_state(config: &Config) -> anyhow::Result<SharedState> {
    let tz = jiff::tz::TimeZone::get(&config.timezone)
        .with_context(|| format!("unknown time zone {:?}", config.timezone))?;
    let conn = store::open(config.db.as_deref(), &tz)?;
    Ok(Arc::new(AppState {
        mode: config.mode,
        tz,
        db: Mutex::new(conn),
        throttle: config.rate_limit.map(throttle::Throttle::new),
        faults: faults::FaultState::new(config.faults.clone()),
        stats: Mutex::new(Default::default()),
    }))
}

/// Serves the API on a listener the caller bound until `shutdown` resolves, then lets
/// in-flight requests finish (axum's graceful shutdown).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build_state(&config)?;
    let app = routes::router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("sandbox server failed")
}

/// A sandbox running in the background of this process.
pub struct Handle {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Handle {
    /// `http://127.0.0.1:PORT/api/v1`
    pub fn api_base(&self) -> String {
        format!("http://{}/api/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT`
    pub fn root(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, waits for in-flight requests, and reports a server error if any.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("sandbox task panicked")?,
            None => Ok(()),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Dropping without `shutdown` still stops the server, so a failed test leaks nothing.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a sandbox on `127.0.0.1:0` (a free port) in the current tokio runtime.
pub async fn spawn(config: Config) -> anyhow::Result<Handle> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    // Open the store before returning, so a bad path or zone fails here and not in the task.
    let state = build_state(&config)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = routes::router(state);
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
        .context("sandbox server failed")
    });
    Ok(Handle {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}
