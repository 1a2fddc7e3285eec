//! `krayin-etl sandbox`: serve the Krayin emulator on a fixed address until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::sandbox::{self, Faults, Latency, Mode, RateLimit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// SQLite file holding the sandbox's data (created and seeded if missing); `:memory:` for a
    /// store that vanishes on exit.
    #[arg(long, default_value = "krayin-sandbox.db")]
    db: PathBuf,
    /// How errors render: `debug` (APP_DEBUG=true: 401, 429 + Retry-After) or `production`
    /// (APP_DEBUG=false: throttling, bad tokens and 405 become a bare HTTP 500).
    #[arg(long, default_value = "debug", value_parser = clap::value_parser!(Mode))]
    mode: Mode,
    /// Requests per user: `60/min` (Krayin's default), `600/min`, `10/s`, or `off`.
    #[arg(long, default_value = "60/min", value_parser = rate)]
    rate_limit: Rate,
    /// The server's APP_TIMEZONE (Krayin's .env.example ships Asia/Kolkata).
    #[arg(long, default_value = "Asia/Kolkata")]
    timezone: String,
    /// Added latency per request: `50ms`, `1s`, or a uniform range `20ms..80ms`.
    #[arg(long, default_value = "0")]
    latency: Latency,
    /// Fraction of requests failing with 500/502/503 before any work (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    fail_before: f64,
    /// Fraction of successful writes answered with 500 although committed (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    fail_after_commit: f64,
    /// Fraction of requests whose connection is dropped without a complete answer (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    drop_connections: f64,
    /// Revoke every token after each N API requests (as another login would).
    #[arg(long)]
    revoke_tokens_every: Option<u64>,
    /// Seed for the fault injection's random draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// `Option<RateLimit>` in a newtype: clap reads a bare `Option` field as "may be absent".
#[derive(Debug, Clone, Copy)]
struct Rate(Option<RateLimit>);

fn rate(s: &str) -> Result<Rate, String> {
    RateLimit::parse_optional(s).map(Rate)
}

fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a fraction between 0 and 1"))
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = sandbox::Config {
        db: (args.db.as_os_str() != ":memory:").then_some(args.db.clone()),
        mode: args.mode,
        rate_limit: args.rate_limit.0,
        timezone: args.timezone,
        faults: Faults {
            latency: args.latency,
            fail_before: args.fail_before,
            fail_after_commit: args.fail_after_commit,
            drop_connection: args.drop_connections,
            revoke_tokens_every: args.revoke_tokens_every,
            seed: args.seed,
        },
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            db = %args.db.display(),
            mode = ?config.mode,
            "sandbox serving http://{addr}/api/v1 (admin@example.com / admin123); Ctrl-C stops it"
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping: letting in-flight requests finish");
        };
        sandbox::serve(listener, config, shutdown).await
    })?;
    Ok(ExitCode::SUCCESS)
}
