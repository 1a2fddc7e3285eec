//! How Krayin answers when something goes wrong (contract §2, §5).
//!
//! Handlers and middleware return an [`ApiError`]; it travels in the response's extensions to
//! [`render`], the outermost layer, which knows the mode (`APP_DEBUG`) and whether the request
//! asked for JSON, and turns it into exactly what Krayin's Admin exception handler would send.
//! Keeping the decision in one place is what lets one handler serve both modes.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Mode, SharedState};

/// The generic production message: Krayin's translation key does not exist, so the raw key is
/// what clients see (§5).
pub const INTERNAL_ERROR: &str = "admin::app.common.internal-server-error";
pub const NOT_FOUND: &str = "admin::app.common.resource-not-found";
pub const UNAUTHENTICATED: &str = "admin::app.common.unauthenticated";

/// Field → messages, in rule order, as Laravel's `MessageBag`.
pub type FieldErrors = serde_json::Map<String, Value>;

#[derive(Debug, Clone)]
pub enum ApiError {
    /// 422 with Laravel's envelope (or a 302 back when the request did not ask for JSON).
    Validation(FieldErrors),
    /// Missing or bad token.
    Unauthenticated,
    /// `findOrFail` miss: `model` is the Eloquent class Krayin names in debug mode.
    ModelNotFound { model: &'static str, id: String },
    /// No route matches the path.
    RouteNotFound { path: String },
    /// The path exists, the verb does not.
    MethodNotAllowed { method: String, path: String },
    /// `throttle:api` refused the request.
    Throttled {
        limit: u32,
        retry_after_secs: u64,
        reset_unix: i64,
    },
    /// A PHP or SQL error inside Krayin; `message` is what debug mode shows.
    Server { message: String },
    /// An answer Krayin builds by hand, whatever the mode (e.g. 400 for overlapping meetings).
    Raw { status: StatusCode, body: Value },
}

impl ApiError {
    pub fn server(message: impl Into<String>) -> ApiError {
        ApiError::Server {
            message: message.into(),
        }
    }

    /// A single-field validation failure.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), json!([message.into()]));
        ApiError::Validation(errors)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        // MySQL would phrase it differently; what matters is that it is a 500 carrying the SQL
        // error in debug mode and the generic key in production.
        ApiError::server(format!("SQLSTATE[HY000]: General error: {e}"))
    }
}

/// Marker put in the extensions so [`render`] finds the error.
#[derive(Clone)]
struct Pending(ApiError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        res.extensions_mut().insert(Pending(self));
        res
    }
}

/// Laravel's `expectsJson()`: an XHR accepting anything, or an `Accept` naming JSON.
pub fn expects_json(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants_json = accept.contains("/json") || accept.contains("+json");
    let ajax = headers
        .get("x-requested-with")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"));
    let accepts_any = accept.trim().is_empty() || accept.contains("*/*") || accept.trim() == "*";
    wants_json || (ajax && accepts_any)
}

/// The outermost layer: turns a pending [`ApiError`] into Krayin's answer.
pub async fn render(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let json = expects_json(req.headers());
    let res = next.run(req).await;
    let Some(Pending(err)) = res.extensions().get::<Pending>().cloned() else {
        return res;
    };
    let (parts, _) = res.into_parts();
    let throttled = matches!(err, ApiError::Throttled { .. });
    let mut out = if json {
        render_json(state.mode, err)
    } else {
        render_html(state.mode, err)
    };
    // Headers the inner layers set (rate-limit counters on a 422, say) survive, as in Laravel
    // where the throttle middleware decorates the rendered response. A throttled request in
    // production gets none: Krayin's handler builds that 500 from scratch (§4).
    for (name, value) in parts.headers.iter() {
        if !out.headers().contains_key(name) {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if throttled {
        out.extensions_mut().insert(WasThrottled);
    }
    out
}

/// Left on a final response that was a throttle refusal, whatever status it was rendered as,
/// so `/_sandbox/stats` can count throttling in production mode too.
#[derive(Clone, Copy)]
pub struct WasThrottled;

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Debug mode adds Laravel's exception dump to every error it renders itself.
fn debug_body(message: &str, exception: &str) -> Value {
    json!({
        "message": message,
        "exception": exception,
        "file": "/var/www/html/laravel-crm/vendor/laravel/framework/src/Illuminate/Foundation/Exceptions/Handler.php",
        "line": 0,
        "trace": [],
    })
}

fn render_json(mode: Mode, err: ApiError) -> Response {
    let prod = mode == Mode::Production;
    let internal = || {
        json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"message": INTERNAL_ERROR}),
        )
    };
    match err {
        ApiError::Validation(errors) => {
            json_response(StatusCode::UNPROCESSABLE_ENTITY, validation_body(errors))
        }
        ApiError::Unauthenticated if prod => internal(),
        ApiError::Unauthenticated => json_response(
            StatusCode::UNAUTHORIZED,
            json!({"message": UNAUTHENTICATED}),
        ),
        ApiError::ModelNotFound { .. } | ApiError::RouteNotFound { .. } if prod => {
            json_response(StatusCode::NOT_FOUND, json!({"message": NOT_FOUND}))
        }
        ApiError::ModelNotFound { model, id } => json_response(
            StatusCode::NOT_FOUND,
            debug_body(
                &format!("No query results for model [{model}] {id}"),
                "Symfony\\Component\\HttpKernel\\Exception\\NotFoundHttpException",
            ),
        ),
        ApiError::RouteNotFound { path } => json_response(
            StatusCode::NOT_FOUND,
            debug_body(
                &format!(
                    "The route {} could not be found.",
                    path.trim_start_matches('/')
                ),
                "Symfony\\Component\\HttpKernel\\Exception\\NotFoundHttpException",
            ),
        ),
        ApiError::MethodNotAllowed { .. } if prod => internal(),
        ApiError::MethodNotAllowed { method, path } => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            debug_body(
                &format!(
                    "The {method} method is not supported for route {}.",
                    path.trim_start_matches('/')
                ),
                "Symfony\\Component\\HttpKernel\\Exception\\MethodNotAllowedHttpException",
            ),
        ),
        ApiError::Throttled { .. } if prod => internal(),
        ApiError::Throttled {
            limit,
            retry_after_secs,
            reset_unix,
        } => {
            let mut res = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                debug_body(
                    "Too Many Attempts.",
                    "Illuminate\\Http\\Exceptions\\ThrottleRequestsException",
                ),
            );
            let h = res.headers_mut();
            h.insert("retry-after", HeaderValue::from(retry_after_secs));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset_unix));
            h.insert("x-ratelimit-limit", HeaderValue::from(limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            res
        }
        ApiError::Server { .. } if prod => internal(),
        ApiError::Server { message } => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            debug_body(&message, "ErrorException"),
        ),
        ApiError::Raw { status, body } => json_response(status, body),
    }
}

/// Without `Accept: application/json` (§2): validation redirects back, a missing token crashes
/// on the undefined `login` route, and production renders an HTML error page with HTTP 200.
fn render_html(mode: Mode, err: ApiError) -> Response {
    if let ApiError::Validation(_) = err {
        return Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "/")
            .body(Body::empty())
            .expect("static response");
    }
    if let ApiError::Raw { status, body } = err {
        // Hand-built JSON answers are sent as they are, whatever the request asked for.
        return json_response(status, body);
    }
    let (status, title) = match (&err, mode) {
        (_, Mode::Production) => (StatusCode::OK, "Server Error".to_string()),
        (ApiError::Unauthenticated, Mode::Debug) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Symfony\\Component\\Routing\\Exception\\RouteNotFoundException: Route [login] not defined.".to_string(),
        ),
        (ApiError::ModelNotFound { .. } | ApiError::RouteNotFound { .. }, _) => {
            (StatusCode::NOT_FOUND, "Not Found".to_string())
        }
        (ApiError::MethodNotAllowed { .. }, _) => {
            (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed".to_string())
        }
        (ApiError::Throttled { .. }, _) => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".to_string()),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Server Error".to_string()),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=UTF-8")
        .body(Body::from(format!(
            "<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        )))
        .expect("static response")
}

/// Laravel's 422 body: the first message, "(and N more errors)", then every field's messages.
pub fn validation_body(errors: FieldErrors) -> Value {
    let total: usize = errors
        .values()
        .map(|v| v.as_array().map_or(1, Vec::len))
        .sum();
    let first = errors
        .values()
        .find_map(|v| v.as_array().and_then(|a| a.first()).and_then(Value::as_str))
        .unwrap_or("The given data was invalid.")
        .to_string();
    let message = match total.saturating_sub(1) {
        0 => first,
        1 => format!("{first} (and 1 more error)"),
        n => format!("{first} (and {n} more errors)"),
    };
    json!({"message": message, "errors": errors})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_message_counts_the_rest() {
        let mut e = FieldErrors::new();
        e.insert("title".into(), json!(["The title field is required."]));
        e.insert("person.name".into(), json!(["a", "b"]));
        let body = validation_body(e);
        assert_eq!(
            body["message"],
            "The title field is required. (and 2 more errors)"
        );
        let mut one = FieldErrors::new();
        one.insert("a".into(), json!(["x"]));
        one.insert("b".into(), json!(["y"]));
        assert_eq!(validation_body(one)["message"], "x (and 1 more error)");
    }

    #[test]
    fn json_expectation_follows_laravel() {
        let mut h = HeaderMap::new();
        assert!(!expects_json(&h));
        h.insert(
            "x-requested-with",
            HeaderValue::from_static("XMLHttpRequest"),
        );
        assert!(expects_json(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        assert!(!expects_json(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(expects_json(&h));
    }
}
