//! Options shared by every command that talks to Krayin, and `--sandbox`.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::config::{self, ApiOverrides};
use crate::krayin::{Client, ClientConfig, Credentials, Rate, Secret};
use crate::sandbox;

/// How the tool reaches Krayin. Highest priority first: these flags, the environment
/// (KRAYIN_API_BASE, KRAYIN_API_TOKEN, KRAYIN_LOGIN_EMAIL, KRAYIN_LOGIN_PASSWORD), `./.env`,
/// then `krayin-etl.toml`.
///
/// Logging in with e-mail and password revokes every other token of that account (Krayin's
/// own behaviour): the safe set-up is a dedicated API user with a token.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// Krayin's API root, e.g. https://crm.example.com/api/v1 [env: KRAYIN_API_BASE]
    #[arg(long, value_name = "URL")]
    pub api_base: Option<String>,
    /// API token of a dedicated API user (the safe set-up). Prefer the environment variable:
    /// flags are visible to other users of the machine. [env: KRAYIN_API_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub api_token: Option<String>,
    /// Log in with this e-mail. WARNING: Krayin's login revokes every other token of the
    /// account, logging out other integrations that share it. [env: KRAYIN_LOGIN_EMAIL]
    #[arg(long, value_name = "EMAIL")]
    pub login_email: Option<String>,
    /// Password for --login-email. Prefer the environment variable. [env: KRAYIN_LOGIN_PASSWORD]
    #[arg(long, value_name = "PASSWORD")]
    pub login_password: Option<String>,
    /// `device_name` sent on login.
    #[arg(long, value_name = "NAME")]
    pub device_name: Option<String>,
    /// Request rate to stay under: Krayin's per-user quota (60/min by default). `N/min`, `N/s`,
    /// or `off`. Learned from X-RateLimit-Limit once the server answers.
    #[arg(long, value_name = "RATE")]
    pub rate: Option<String>,
    /// Allow plain http:// to a host other than this machine (the token crosses the network
    /// in clear).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Settings file (default: ./krayin-etl.toml if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Connect timeout, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// Whole-request timeout, e.g. 60s.
    #[arg(long, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// How long to pause every request after a throttled answer that carries no Retry-After
    /// (production Krayin answers a bare 500): Krayin's window is a minute.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub throttle_wait: String,
    /// Use an embedded Krayin sandbox on 127.0.0.1 (its data in --sandbox-db) instead of a
    /// real Krayin.
    #[arg(long)]
    pub sandbox: bool,
    /// SQLite file of the embedded sandbox.
    #[arg(long, value_name = "PATH", default_value = "krayin-sandbox.db")]
    pub sandbox_db: PathBuf,
}

/// A connected client, and the embedded sandbox behind it if `--sandbox` was given.
pub struct Connection {
    pub client: Client,
    pub sandbox: Option<sandbox::Handle>,
}

/// The embedded sandbox's quota: ten times Krayin's default, so a demo import is quick;
/// `--rate 60/min` rehearses Krayin's real pace.
pub const SANDBOX_RATE: Rate = Rate {
    max: 600,
    per: std::time::Duration::from_secs(60),
};

impl ApiArgs {
    fn overrides(&self) -> ApiOverrides {
        ApiOverrides {
            base: self.api_base.clone(),
            token: self.api_token.clone().map(Secret::new),
            email: self.login_email.clone(),
            password: self.login_password.clone().map(Secret::new),
            device_name: self.device_name.clone(),
            rate: self.rate.clone(),
            allow_insecure_http: self.allow_insecure_http,
            connect_timeout: self.connect_timeout.clone(),
            request_timeout: self.request_timeout.clone(),
            config: self.config.clone(),
        }
    }

    fn throttle_floor(&self) -> anyhow::Result<std::time::Duration> {
        crate::sandbox::faults::parse_duration(&self.throttle_wait)
            .map_err(|e| anyhow::anyhow!("--throttle-wait: {e}"))
    }

    /// Builds the client (starting the embedded sandbox first with `--sandbox`).
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        if self.sandbox {
            let rate = match &self.rate {
                Some(r) => Rate::parse_optional(r).map_err(anyhow::Error::msg)?,
                None => Some(SANDBOX_RATE),
            };
            let handle = sandbox::spawn(sandbox::Config {
                db: Some(self.sandbox_db.clone()),
                rate_limit: rate,
                ..sandbox::Config::default()
            })
            .await
            .context("cannot start the embedded sandbox")?;
            tracing::info!(url = %handle.api_base(), db = %self.sandbox_db.display(), "embedded sandbox started");
            let mut config = ClientConfig::new(
                handle.api_base().parse().context("sandbox URL")?,
                Credentials::Login {
                    email: sandbox::store::ADMIN_EMAIL.into(),
                    password: Secret::new(sandbox::store::ADMIN_PASSWORD),
                    device_name: config::DEFAULT_DEVICE.into(),
                },
            );
            config.rate = rate;
            config.retry.throttle_floor = self.throttle_floor()?;
            return Ok(Connection {
                client: Client::new(config)?,
                sandbox: Some(handle),
            });
        }
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let mut config = config::resolve(&self.overrides(), &|k| std::env::var(k).ok(), &cwd)?;
        config.retry.throttle_floor = self.throttle_floor()?;
        Ok(Connection {
            client: Client::new(config)?,
            sandbox: None,
        })
    }
}
