//! The route table of RA v2.1.1 (contract §15) and what every handler shares: the
//! authenticated user, the request body as Laravel sees it, and answer helpers.
//!
//! Middleware order, outermost first, and why:
//! 1. `inspect::record`: counts every request by route and final status, for `/_sandbox/stats`;
//! 2. `error::render`: turns an `ApiError` into Krayin's answer for the mode;
//! 3. `faults::inject`: latency and injected failures, in front of Krayin as a proxy would be;
//! 4. `authenticate` then `throttle::api`: `auth:sanctum` runs before `throttle:api` (§4), so
//!    a bad token is refused without spending the user's quota and the bucket is per user.

pub mod activities;
pub mod auth;
pub mod inspect;
pub mod leads;
pub mod organizations;
pub mod persons;
pub mod products;
pub mod settings;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde_json::{Map, Value};

use super::SharedState;
use super::error::ApiError;
use super::{rules, throttle};

/// The user behind the bearer token, put in the request's extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub view_permission: String,
}

pub fn router(state: SharedState) -> Router {
    let person_delete = middleware::from_fn_with_state(state.clone(), throttle::person_delete);
    let protected = Router::new()
        .route("/get", get(auth::me))
        .route("/logout", delete(auth::logout))
        // Leads (§7)
        .route("/leads", get(leads::index).post(leads::store))
        .route("/leads/search", get(leads::search))
        .route("/leads/mass-update", post(leads::mass_update))
        .route("/leads/mass-destroy", post(leads::mass_destroy))
        .route("/leads/attributes/edit/{id}", put(leads::edit_attributes))
        .route("/leads/stage/edit/{id}", put(leads::edit_stage))
        .route(
            "/leads/product/{id}",
            put(leads::add_product).delete(leads::remove_product),
        )
        .route(
            "/leads/{id}",
            get(leads::show).put(leads::update).delete(leads::destroy),
        )
        .route("/leads/{id}/activities", get(leads::activities))
        // Persons (§8)
        .route(
            "/contacts/persons",
            get(persons::index).post(persons::store),
        )
        .route("/contacts/persons/search", get(persons::search))
        .route(
            "/contacts/persons/mass-destroy",
            post(persons::mass_destroy),
        )
        .route(
            "/contacts/persons/{id}",
            get(persons::show)
                .put(persons::update)
                .merge(delete(persons::destroy).layer(person_delete)),
        )
        .route(
            "/contacts/persons/{id}/activities",
            get(persons::activities),
        )
        // Organizations (§9)
        .route(
            "/contacts/organizations",
            get(organizations::index).post(organizations::store),
        )
        .route(
            "/contacts/organizations/mass-destroy",
            post(organizations::mass_destroy),
        )
        .route(
            "/contacts/organizations/{id}",
            get(organizations::show)
                .put(organizations::update)
                .delete(organizations::destroy),
        )
        // Activities (§10)
        .route(
            "/activities",
            get(activities::index).post(activities::store),
        )
        .route("/activities/mass-update", post(activities::mass_update))
        .route("/activities/mass-destroy", post(activities::mass_destroy))
        .route(
            "/activities/{id}",
            get(activities::show)
                .put(activities::update)
                .delete(activities::destroy),
        )
        // Settings (§11)
        .route(
            "/settings/sources",
            get(settings::sources).post(settings::create_source),
        )
        .route("/settings/sources/{id}", get(settings::source))
        .route(
            "/settings/types",
            get(settings::types).post(settings::create_type),
        )
        .route("/settings/types/{id}", get(settings::lead_type))
        .route("/settings/pipelines", get(settings::pipelines))
        .route("/settings/pipelines/{id}", get(settings::pipeline))
        .route("/settings/users", get(settings::users))
        .route("/settings/users/search", get(settings::search_users))
        .route("/settings/users/{id}", get(settings::user))
        .route(
            "/settings/attributes",
            get(settings::attributes).post(settings::create_attribute),
        )
        .route("/settings/attributes/{id}", get(settings::attribute))
        // Products: only what lead products need.
        .route("/products", get(products::index).post(products::store))
        .route("/products/{id}", get(products::show))
        .route_layer(middleware::from_fn_with_state(state.clone(), throttle::api))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    let public = Router::new()
        .route("/login", post(auth::login))
        .route_layer(middleware::from_fn_with_state(state.clone(), throttle::api));
    Router::new()
        .nest("/api/v1", public.merge(protected))
        .route("/_sandbox/stats", get(inspect::stats))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::faults::inject,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::error::render,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            inspect::record,
        ))
        .with_state(state)
}

async fn route_not_found(OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::RouteNotFound {
        path: uri.path().to_string(),
    }
}

async fn method_not_allowed(OriginalUri(uri): OriginalUri, req: Request) -> ApiError {
    ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        path: uri.path().to_string(),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

/// `auth:sanctum`: the bearer token must name a live token.
async fn authenticate(State(state): State<SharedState>, mut req: Request, next: Next) -> Response {
    let found = match bearer(req.headers()) {
        Some(token) => super::store::token_user(&state.db(), token),
        None => Ok(None),
    };
    match found {
        Ok(Some((id, view_permission))) => {
            req.extensions_mut().insert(AuthUser {
                id,
                view_permission,
            });
            next.run(req).await
        }
        Ok(None) => ApiError::Unauthenticated.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The request body as Laravel's `request()->all()` sees it: a JSON object, strings trimmed.
/// A body that is not a JSON object reads as empty, so validation reports what is missing.
pub struct Input(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::server(format!("cannot read the request body: {e}")))?;
        let mut value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        rules::trim_strings(&mut value);
        Ok(Input(match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }))
    }
}

/// A numeric route id; anything else is a missing route (Krayin constrains `{id}` to digits).
pub fn route_id(raw: &str, uri: &OriginalUri) -> Result<i64, ApiError> {
    raw.parse::<i64>().map_err(|_| ApiError::RouteNotFound {
        path: uri.path().to_string(),
    })
}

/// `http://host/api/v1/<rest>` for pagination links.
pub fn url_path(headers: &HeaderMap, rest: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/api/v1/{rest}")
}

pub fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// An id in a body: a number or a numeric string, as PHP would accept.
pub fn as_id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `indices` of the mass endpoints.
pub fn indices(data: &Map<String, Value>) -> Result<Vec<i64>, ApiError> {
    match data.get("indices").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => Ok(list.iter().filter_map(as_id).collect()),
        _ => Err(ApiError::field("indices", "The indices field is required.")),
    }
}

/// Text columns are VARCHAR(255): MySQL with `strict => false` truncates silently (§14).
pub fn varchar(v: Option<&Value>) -> Option<String> {
    let s = rules::as_text(v?)?;
    Some(s.chars().take(255).collect())
}

/// Serializes a wire type; they are plain data, so this cannot fail.
pub fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
