//! Settings for talking to Krayin, from four layers, highest priority first:
//!
//! 1. command-line flags;
//! 2. the environment: `KRAYIN_API_BASE`, `KRAYIN_API_TOKEN`, `KRAYIN_LOGIN_EMAIL`,
//!    `KRAYIN_LOGIN_PASSWORD` (the names users already have in their `.env`);
//! 3. a `.env` file in the working directory (only `KRAYIN_*` keys are read, so a Laravel
//!    `.env` can be shared);
//! 4. a `krayin-etl.toml` settings file (`--config PATH`, else `./krayin-etl.toml` if present),
//!    whose unknown keys are errors naming the file and the key.
//!
//! The result is one validated [`ClientConfig`]. Nothing here knows clap: the CLI fills
//! [`ApiOverrides`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::krayin::{ClientConfig, Credentials, Rate, Secret};

/// What the user typed on the command line (all optional).
#[derive(Debug, Default, Clone)]
pub struct ApiOverrides {
    pub base: Option<String>,
    pub token: Option<Secret>,
    pub email: Option<String>,
    pub password: Option<Secret>,
    pub device_name: Option<String>,
    pub rate: Option<String>,
    pub allow_insecure_http: bool,
    pub connect_timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub config: Option<PathBuf>,
}

/// `krayin-etl.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsFile {
    #[serde(default)]
    pub api: ApiSection,
}

/// The `[api]` table of `krayin-etl.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// `https://crm.example.com/api/v1`
    pub base: Option<String>,
    pub token: Option<String>,
    pub login_email: Option<String>,
    pub login_password: Option<String>,
    pub device_name: Option<String>,
    /// `60/min` (Krayin's default), `600/min`, `10/s`.
    pub rate: Option<String>,
    pub allow_insecure_http: Option<bool>,
    pub connect_timeout: Option<String>,
    pub request_timeout: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub const DEFAULT_SETTINGS: &str = "krayin-etl.toml";
pub const DEFAULT_DEVICE: &str = "krayin-etl";

/// Reads `krayin-etl.toml` (or `explicit`), refusing unknown keys.
pub fn read_settings(explicit: Option<&Path>, cwd: &Path) -> Result<SettingsFile, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = cwd.join(DEFAULT_SETTINGS);
            if !p.exists() {
                return Ok(SettingsFile::default());
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::File {
        path: path.clone(),
        message: format!("cannot read: {e}"),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.clone(),
        // toml names the unknown key and its line; add what is allowed.
        message: format!(
            "{}\nallowed keys in [api]: base, token, login_email, login_password, device_name, \
             rate, allow_insecure_http, connect_timeout, request_timeout",
            e.to_string().trim()
        ),
    })
}

/// `KRAYIN_*` pairs of `./.env`, if the file exists.
pub fn read_dotenv(cwd: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let path = cwd.join(".env");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let iter = dotenvy::from_path_iter(&path).map_err(|e| ConfigError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| ConfigError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if k.starts_with("KRAYIN_") {
            out.push((k, v));
        }
    }
    Ok(out)
}

/// Resolves the layers into a client configuration. `env` reads the process environment (a
/// parameter so tests can supply their own).
pub fn resolve(
    flags: &ApiOverrides,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<ClientConfig, ConfigError> {
    let file = read_settings(flags.config.as_deref(), cwd)?.api;
    let dotenv = read_dotenv(cwd)?;
    let from_env = |key: &str| -> Option<String> {
        env(key)
            .or_else(|| {
                dotenv
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            })
            .filter(|v| !v.trim().is_empty())
    };
    let base = flags
        .base
        .clone()
        .or_else(|| from_env("KRAYIN_API_BASE"))
        .or(file.base)
        .ok_or_else(|| {
            ConfigError::Invalid(
                "no Krayin URL: pass --api-base https://crm.example.com/api/v1, set KRAYIN_API_BASE, \
                 or use --sandbox"
                    .into(),
            )
        })?;
    let base: url::Url = base.trim().parse().map_err(|e| {
        ConfigError::Invalid(format!(
            "bad Krayin URL {base:?}: {e}; expected e.g. https://crm.example.com/api/v1"
        ))
    })?;
    let token = flags
        .token
        .clone()
        .or_else(|| from_env("KRAYIN_API_TOKEN").map(Secret::new))
        .or(file.token.map(Secret::new));
    let email = flags
        .email
        .clone()
        .or_else(|| from_env("KRAYIN_LOGIN_EMAIL"))
        .or(file.login_email);
    let password = flags
        .password
        .clone()
        .or_else(|| from_env("KRAYIN_LOGIN_PASSWORD").map(Secret::new))
        .or(file.login_password.map(Secret::new));
    let device_name = flags
        .device_name
        .clone()
        .or(file.device_name)
        .unwrap_or_else(|| DEFAULT_DEVICE.to_string());
    let credentials = match (token, email, password) {
        (Some(token), Some(email), Some(password)) => Credentials::TokenThenLogin {
            token,
            email,
            password,
            device_name,
        },
        (Some(token), _, _) => Credentials::Token(token),
        (None, Some(email), Some(password)) => Credentials::Login {
            email,
            password,
            device_name,
        },
        (None, Some(_), None) => {
            return Err(ConfigError::Invalid(
                "a login e-mail is set but no password: set KRAYIN_LOGIN_PASSWORD (or better, \
                 KRAYIN_API_TOKEN for a dedicated API user)"
                    .into(),
            ));
        }
        _ => {
            return Err(ConfigError::Invalid(
                "no credentials: set KRAYIN_API_TOKEN (recommended: a dedicated API user), or \
                 KRAYIN_LOGIN_EMAIL and KRAYIN_LOGIN_PASSWORD"
                    .into(),
            ));
        }
    };
    let mut config = ClientConfig::new(base, credentials);
    if let Some(rate) = flags.rate.clone().or(file.rate) {
        config.rate = Rate::parse_optional(&rate).map_err(ConfigError::Invalid)?;
    }
    config.allow_insecure_http =
        flags.allow_insecure_http || file.allow_insecure_http.unwrap_or(false);
    if let Some(t) = flags.connect_timeout.clone().or(file.connect_timeout) {
        config.connect_timeout = duration(&t, "connect_timeout")?;
    }
    if let Some(t) = flags.request_timeout.clone().or(file.request_timeout) {
        config.request_timeout = duration(&t, "request_timeout")?;
    }
    Ok(config)
}

fn duration(s: &str, what: &str) -> Result<Duration, ConfigError> {
    crate::sandbox::faults::parse_duration(s)
        .map_err(|e| ConfigError::Invalid(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_beat_env_beat_dotenv_beat_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("krayin-etl.toml"),
            "[api]\nbase = \"https://file.example/api/v1\"\ntoken = \"file-token\"\nrate = \"30/min\"\n",
        )
        .unwrap();
        let c = resolve(&ApiOverrides::default(), &no_env, dir.path()).unwrap();
        assert_eq!(c.base.as_str(), "https://file.example/api/v1");
        assert_eq!(c.rate.unwrap().max, 30);

        std::fs::write(
            dir.path().join(".env"),
            "APP_KEY=whatever\nKRAYIN_API_BASE=https://dotenv.example/api/v1\n",
        )
        .unwrap();
        let c = resolve(&ApiOverrides::default(), &no_env, dir.path()).unwrap();
        assert_eq!(c.base.as_str(), "https://dotenv.example/api/v1");

        let env =
            |k: &str| (k == "KRAYIN_API_BASE").then(|| "https://env.example/api/v1".to_string());
        let c = resolve(&ApiOverrides::default(), &env, dir.path()).unwrap();
        assert_eq!(c.base.as_str(), "https://env.example/api/v1");

        let flags = ApiOverrides {
            base: Some("https://flag.example/api/v1".into()),
            ..Default::default()
        };
        let c = resolve(&flags, &env, dir.path()).unwrap();
        assert_eq!(c.base.as_str(), "https://flag.example/api/v1");
        assert!(matches!(c.credentials, Credentials::Token(_)));
    }

    #[test]
    fn unknown_keys_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, "[api]\nbase = \"https://x/api/v1\"\ntokn = \"t\"\n").unwrap();
        let flags = ApiOverrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let err = resolve(&flags, &no_env, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("s.toml"), "{err}");
        assert!(err.contains("tokn"), "{err}");
    }

    #[test]
    fn missing_credentials_and_url_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(&ApiOverrides::default(), &no_env, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("KRAYIN_API_BASE"), "{err}");
        let flags = ApiOverrides {
            base: Some("https://x/api/v1".into()),
            ..Default::default()
        };
        let err = resolve(&flags, &no_env, dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("KRAYIN_API_TOKEN"), "{err}");
    }

    #[test]
    fn login_credentials_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let env = |k: &str| match k {
            "KRAYIN_API_BASE" => Some("https://x/api/v1".to_string()),
            "KRAYIN_LOGIN_EMAIL" => Some("a@b.c".to_string()),
            "KRAYIN_LOGIN_PASSWORD" => Some("s3cret-pw".to_string()),
            _ => None,
        };
        let c = resolve(&ApiOverrides::default(), &env, dir.path()).unwrap();
        assert!(!format!("{c:?}").contains("s3cret-pw"));
        assert!(matches!(c.credentials, Credentials::Login { .. }));
    }
}
