//! The client's typed error, and the one function that turns a non-2xx answer into it.
//!
//! Callers branch on [`Error::class`]: the import treats [`Class::Ambiguous`] writes by looking
//! the record up before sending again, reports [`Class::Permanent`] ones (with the 422 field
//! errors mapped back to source columns), and stops the run on [`Error::Auth`].
//!
//! Nothing here ever holds a token or a password: request bodies are not kept, and Krayin's
//! answers do not echo credentials.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::model::ErrorBody;

/// Rate-limit headers of one answer (§4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-Reset`, a Unix timestamp.
    pub reset: Option<i64>,
}

impl RateHeaders {
    pub fn parse(h: &HeaderMap) -> RateHeaders {
        let num = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        RateHeaders {
            limit: num("x-ratelimit-limit").and_then(|v| u32::try_from(v).ok()),
            remaining: num("x-ratelimit-remaining").and_then(|v| u32::try_from(v).ok()),
            // Laravel sends seconds; an HTTP-date form is not produced by Krayin.
            retry_after: num("retry-after")
                .and_then(|v| u64::try_from(v).ok())
                .map(Duration::from_secs),
            reset: num("x-ratelimit-reset"),
        }
    }
}

/// How a failure should be handled (STYLE.md practice 6: classify, then wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The server refused for rate: 429, or a production 500 right after `Remaining` hit 0.
    Throttled,
    /// Nothing was applied: connect errors, timeouts before sending, 502/503/504.
    Transient,
    /// A write may have been applied: a timeout or dropped connection after sending, a 500 on a
    /// write. Never re-sent blindly.
    Ambiguous,
    /// Retrying cannot help: 4xx (422 validation, 404), or a decode error.
    Permanent,
    /// The token was refused (after one re-login, if login is configured).
    Auth,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A non-2xx answer.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Api {
        /// `POST /leads`: method and path pattern.
        endpoint: String,
        status: StatusCode,
        message: String,
        /// Laravel's 422 `errors`, field → messages.
        fields: BTreeMap<String, Vec<String>>,
        rate: RateHeaders,
        class: Class,
    },
    /// No complete answer: connect error, timeout, dropped connection.
    #[error("{endpoint}: {detail}")]
    Transport {
        endpoint: String,
        detail: String,
        /// Whether the request may have reached the server.
        sent: bool,
        class: Class,
    },
    /// A 2xx answer whose body is not what Krayin sends.
    #[error("{endpoint}: unexpected answer: {detail}")]
    Decode { endpoint: String, detail: String },
    /// Authentication failed for good: a rejected token, or login refused.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Retries exhausted (attempts, elapsed time, or the retry budget), with the last error.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: Box<Error> },
    /// The client was set up wrongly (URL, TLS, credentials missing).
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub fn class(&self) -> Class {
        match self {
            Error::Api { class, .. } | Error::Transport { class, .. } => *class,
            Error::Decode { .. } | Error::Config(_) => Class::Permanent,
            Error::Auth(_) => Class::Auth,
            Error::GaveUp { last, .. } => last.class(),
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The 422 field errors, if any.
    pub fn field_errors(&self) -> Option<&BTreeMap<String, Vec<String>>> {
        match self {
            Error::Api { fields, .. } if !fields.is_empty() => Some(fields),
            Error::GaveUp { last, .. } => last.field_errors(),
            _ => None,
        }
    }

    pub fn is_ambiguous(&self) -> bool {
        self.class() == Class::Ambiguous
    }
}

/// Is this a write (the server may have applied it before failing)?
pub fn is_write(method: &reqwest::Method) -> bool {
    !matches!(*method, reqwest::Method::GET | reqwest::Method::HEAD)
}

/// The one place a non-2xx answer becomes an [`Error`] (octocrab's `map_github_error`).
///
/// `remaining_before` is the `X-RateLimit-Remaining` of the previous answer: in production
/// mode a throttled call is a bare 500 with no headers, and only that tells it apart (§4).
pub fn from_response(
    method: &reqwest::Method,
    endpoint: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    remaining_before: Option<u32>,
) -> Error {
    let rate = RateHeaders::parse(headers);
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let message = match &parsed {
        Some(b) if !b.message.is_empty() => b.message.clone(),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("error").to_string()
            } else {
                // An HTML error page or a proxy's text: keep it short.
                text.chars().take(200).collect()
            }
        }
    };
    let mut fields = BTreeMap::new();
    if let Some(errors) = parsed.and_then(|b| b.errors) {
        for (field, msgs) in errors {
            let list = match msgs {
                serde_json::Value::Array(a) => a
                    .into_iter()
                    .map(|m| {
                        m.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| m.to_string())
                    })
                    .collect(),
                other => vec![
                    other
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| other.to_string()),
                ],
            };
            fields.insert(field, list);
        }
    }
    let class = classify(method, status, remaining_before);
    Error::Api {
        endpoint: endpoint.to_string(),
        status,
        message,
        fields,
        rate,
        class,
    }
}

/// Classification of an HTTP status (§4, §5, §14).
pub fn classify(
    method: &reqwest::Method,
    status: StatusCode,
    remaining_before: Option<u32>,
) -> Class {
    match status.as_u16() {
        429 => Class::Throttled,
        401 | 419 => Class::Auth,
        502..=504 => Class::Transient,
        // A production 500 right after the quota ran out is the throttle (§4).
        500 if remaining_before == Some(0) => Class::Throttled,
        // Any other 500: on a read, retry; on a write, the record may exist (§14).
        500..=599 if is_write(method) => Class::Ambiguous,
        500..=599 => Class::Transient,
        _ => Class::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Method;

    #[test]
    fn statuses_classify() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            classify(&get, StatusCode::TOO_MANY_REQUESTS, None),
            Class::Throttled
        );
        assert_eq!(
            classify(&post, StatusCode::INTERNAL_SERVER_ERROR, Some(0)),
            Class::Throttled
        );
        assert_eq!(
            classify(&post, StatusCode::INTERNAL_SERVER_ERROR, Some(5)),
            Class::Ambiguous
        );
        assert_eq!(
            classify(&get, StatusCode::INTERNAL_SERVER_ERROR, None),
            Class::Transient
        );
        assert_eq!(
            classify(&post, StatusCode::BAD_GATEWAY, None),
            Class::Transient
        );
        assert_eq!(
            classify(&post, StatusCode::UNPROCESSABLE_ENTITY, None),
            Class::Permanent
        );
        assert_eq!(
            classify(&get, StatusCode::NOT_FOUND, None),
            Class::Permanent
        );
        assert_eq!(classify(&get, StatusCode::UNAUTHORIZED, None), Class::Auth);
    }

    #[test]
    fn laravel_422_is_parsed() {
        let body = br#"{"message":"The title field is required. (and 1 more error)",
            "errors":{"title":["The title field is required."],"person.emails.0.value":["The value has already been taken."]}}"#;
        let e = from_response(
            &reqwest::Method::POST,
            "/leads",
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            body,
            None,
        );
        assert_eq!(e.class(), Class::Permanent);
        let f = e.field_errors().unwrap();
        assert_eq!(
            f["person.emails.0.value"],
            vec!["The value has already been taken."]
        );
        assert!(e.to_string().contains("422"));
    }

    #[test]
    fn rate_headers_parse() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", "60".parse().unwrap());
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("retry-after", "17".parse().unwrap());
        let r = RateHeaders::parse(&h);
        assert_eq!(r.limit, Some(60));
        assert_eq!(r.remaining, Some(0));
        assert_eq!(r.retry_after, Some(Duration::from_secs(17)));
    }
}
