//! Credentials and the current token, with single-flight re-login.
//!
//! Krayin's login deletes every other token of the account (§3), so a run that logs in logs
//! out every other integration using that account: a dedicated API user with a token is the
//! safe set-up. With e-mail and password configured, an auth failure triggers one re-login,
//! shared by every task that saw the same token fail (a generation counter tells a task whether
//! someone already logged in again), then a retry.
//!
//! [`Secret`] keeps tokens and passwords out of every `Debug`, log line and error message.

use std::fmt;

use tokio::sync::Mutex;

/// A token or a password. It has no `Display`, and its `Debug` is `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the client authenticates.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A Sanctum personal access token: the safe set-up (no login, nothing revoked).
    Token(Secret),
    /// Log in with e-mail and password. Revokes every other token of the account.
    Login {
        email: String,
        password: Secret,
        device_name: String,
    },
    /// Both: start with the token; log in if it is refused.
    TokenThenLogin {
        token: Secret,
        email: String,
        password: Secret,
        device_name: String,
    },
}

impl Credentials {
    pub fn can_login(&self) -> bool {
        !matches!(self, Credentials::Token(_))
    }

    pub fn login_fields(&self) -> Option<(&str, &Secret, &str)> {
        match self {
            Credentials::Token(_) => None,
            Credentials::Login {
                email,
                password,
                device_name,
            }
            | Credentials::TokenThenLogin {
                email,
                password,
                device_name,
                ..
            } => Some((email, password, device_name)),
        }
    }

    fn initial_token(&self) -> Option<Secret> {
        match self {
            Credentials::Token(t) | Credentials::TokenThenLogin { token: t, .. } => Some(t.clone()),
            Credentials::Login { .. } => None,
        }
    }
}

/// The token in use and its generation (bumped by each login).
pub struct TokenState {
    pub credentials: Credentials,
    current: std::sync::RwLock<(u64, Option<Secret>)>,
    /// Held while logging in, so concurrent failures cause one login.
    pub login_lock: Mutex<()>,
}

impl TokenState {
    pub fn new(credentials: Credentials) -> TokenState {
        let token = credentials.initial_token();
        TokenState {
            credentials,
            current: std::sync::RwLock::new((0, token)),
            login_lock: Mutex::new(()),
        }
    }

    /// The current token and its generation.
    pub fn current(&self) -> (u64, Option<Secret>) {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set(&self, token: Secret) -> u64 {
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        cur.0 += 1;
        cur.1 = Some(token);
        cur.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials::Login {
            email: "a@b.c".into(),
            password: Secret::new("hunter2"),
            device_name: "d".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let t = Credentials::Token(Secret::new("1|tok"));
        assert!(!format!("{t:?}").contains("tok"));
    }

    #[test]
    fn generations_advance() {
        let s = TokenState::new(Credentials::Token(Secret::new("x")));
        assert_eq!(s.current().0, 0);
        assert_eq!(s.set(Secret::new("y")), 1);
        assert_eq!(s.current().1.unwrap().expose(), "y");
    }
}
