//! Settings look-ups (contract §11): sources, types, pipelines with stages, users (+ search),
//! attributes. Each list follows §6; `GET {id}` of a missing id is a 500 (`find` + null).
//! Creating sources, types and (custom) attributes is here too, so tests can add what a user
//! would add in Krayin's settings screens.

use axum::Extension;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::tz::TimeZone;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::{AuthUser, Input, ok, route_id, to_json, url_path};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::list::{self, parse_params};
use crate::sandbox::rules::{as_text, is_empty, push};
use crate::sandbox::store;

type Loader<T> = fn(&Connection, &TimeZone, i64) -> rusqlite::Result<Option<T>>;

fn one<T: Serialize>(
    db: &Connection,
    tz: &TimeZone,
    id: i64,
    load: Loader<T>,
) -> Result<Value, ApiError> {
    match load(db, tz, id)? {
        Some(v) => Ok(to_json(&v)),
        None => Err(ApiError::server("Attempt to read property \"id\" on null")),
    }
}

/// A §6 list of `table`, each row loaded with `load`.
fn listing<T: Serialize>(
    s: &SharedState,
    headers: &HeaderMap,
    q: Option<&str>,
    table: &str,
    rest: &str,
    load: Loader<T>,
) -> Result<Response, ApiError> {
    let params = parse_params(q);
    let db = s.db();
    let found = list::list_ids(&db, table, &params, None)?;
    let data = found
        .ids
        .iter()
        .map(|id| one(&db, &s.tz, *id, load))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(match found.page {
        Some(info) => list::paginated(data, &info, &url_path(headers, rest)),
        None => json!({ "data": data }),
    }))
}

fn source_loader(
    db: &Connection,
    tz: &TimeZone,
    id: i64,
) -> rusqlite::Result<Option<crate::krayin::model::NamedItem>> {
    store::named_item(db, tz, "lead_sources", id)
}

fn type_loader(
    db: &Connection,
    tz: &TimeZone,
    id: i64,
) -> rusqlite::Result<Option<crate::krayin::model::NamedItem>> {
    store::named_item(db, tz, "lead_types", id)
}

pub async fn sources(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing(
        &s,
        &headers,
        q.as_deref(),
        "lead_sources",
        "settings/sources",
        source_loader,
    )
}

pub async fn types(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing(
        &s,
        &headers,
        q.as_deref(),
        "lead_types",
        "settings/types",
        type_loader,
    )
}

pub async fn pipelines(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing(
        &s,
        &headers,
        q.as_deref(),
        "lead_pipelines",
        "settings/pipelines",
        store::pipeline,
    )
}

pub async fn users(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing(
        &s,
        &headers,
        q.as_deref(),
        "users",
        "settings/users",
        store::user,
    )
}

pub async fn attributes(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    listing(
        &s,
        &headers,
        q.as_deref(),
        "attributes",
        "settings/attributes",
        store::attribute,
    )
}

async fn show<T: Serialize>(
    s: SharedState,
    uri: OriginalUri,
    id: String,
    load: Loader<T>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    Ok(ok(json!({ "data": one(&s.db(), &s.tz, id, load)? })))
}

pub async fn source(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(s, uri, id, source_loader).await
}

pub async fn lead_type(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(s, uri, id, type_loader).await
}

pub async fn pipeline(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(s, uri, id, store::pipeline).await
}

pub async fn user(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(s, uri, id, store::user).await
}

pub async fn attribute(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    show(s, uri, id, store::attribute).await
}

pub async fn search_users(
    State(s): State<SharedState>,
    Extension(_me): Extension<AuthUser>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let params = parse_params(q.as_deref());
    let db = s.db();
    let ids = list::search_ids(&db, &list::USERS, &params)?;
    let data = ids
        .iter()
        .map(|id| one(&db, &s.tz, *id, store::user))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(json!({ "data": data })))
}

/// `POST /settings/sources` and `/settings/types`: `{name}`, required and unique.
fn create_named(
    s: &SharedState,
    table: &str,
    data: &serde_json::Map<String, Value>,
    message: &str,
) -> Result<Response, ApiError> {
    let db = s.db();
    let name = data.get("name").and_then(as_text).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::field("name", "The name field is required."));
    }
    let taken = db.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE name = ?1"),
        [&name],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if taken {
        return Err(ApiError::field("name", "The name has already been taken."));
    }
    let now = store::now_wall(&s.tz);
    db.execute(
        &format!("INSERT INTO {table} (name, created_at, updated_at) VALUES (?1, ?2, ?2)"),
        params![name, now],
    )?;
    let id = db.last_insert_rowid();
    let item = store::named_item(&db, &s.tz, table, id)?;
    Ok(ok(json!({"data": to_json(&item), "message": message})))
}

pub async fn create_source(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    create_named(&s, "lead_sources", &data, "Source created successfully.")
}

pub async fn create_type(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    create_named(&s, "lead_types", &data, "Type created successfully.")
}

/// `POST /settings/attributes`: a custom attribute whose rules then apply to the forms.
pub async fn create_attribute(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    for f in ["code", "name", "type", "entity_type"] {
        if data.get(f).is_none_or(is_empty) {
            push(
                &mut errors,
                f,
                format!("The {} field is required.", f.replace('_', " ")),
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let text = |k: &str| data.get(k).and_then(as_text);
    let flag = |k: &str| {
        data.get(k)
            .and_then(as_text)
            .is_some_and(|v| v == "1" || v == "true")
    };
    let code = text("code").unwrap_or_default();
    let entity = text("entity_type").unwrap_or_default();
    let db = s.db();
    let exists = db.query_row(
        "SELECT COUNT(*) FROM attributes WHERE code = ?1 AND entity_type = ?2",
        params![code, entity],
        |r| r.get::<_, i64>(0),
    )? > 0;
    if exists {
        return Err(ApiError::field("code", "The code has already been taken."));
    }
    let now = store::now_wall(&s.tz);
    db.execute(
        "INSERT INTO attributes (code, name, type, lookup_type, entity_type, sort_order, validation,
           is_required, is_unique, quick_add, is_user_defined, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 100, ?6, ?7, ?8, ?9, 1, ?10, ?10)",
        params![
            code,
            text("name"),
            text("type"),
            text("lookup_type"),
            entity,
            text("validation").filter(|v| !v.is_empty()),
            flag("is_required"),
            flag("is_unique"),
            flag("quick_add"),
            now
        ],
    )?;
    let id = db.last_insert_rowid();
    Ok(ok(
        json!({"data": one(&db, &s.tz, id, store::attribute)?, "message": "Attribute created successfully."}),
    ))
}
