//! Organizations (contract §9): list, get (missing → 500), create, update, delete (a failed
//! delete answers 200 with a message), mass-destroy. No search endpoint.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::tz::TimeZone;
use rusqlite::{Connection, params};
use serde_json::{Map, Value, json};

use super::{Input, as_id, indices, ok, route_id, to_json, url_path, varchar};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::list::{self, parse_params};
use crate::sandbox::rules::{self, Scope};
use crate::sandbox::store;

fn org_json(db: &Connection, tz: &TimeZone, id: i64) -> Result<Value, ApiError> {
    match store::organization(db, tz, id)? {
        Some(o) => Ok(to_json(&o)),
        None => Err(ApiError::server("Attempt to read property \"id\" on null")),
    }
}

fn validate(
    db: &Connection,
    tz: &TimeZone,
    data: &Map<String, Value>,
    exclude: Option<i64>,
) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    rules::validate_entity(
        db,
        tz,
        data,
        "",
        &Scope {
            entity: "organizations",
            exclude_id: exclude,
        },
        &mut errors,
    )?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub async fn index(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let params = parse_params(q.as_deref());
    let db = s.db();
    let listing = list::list_ids(&db, "organizations", &params, None)?;
    let data = listing
        .ids
        .iter()
        .map(|id| org_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(match listing.page {
        Some(info) => list::paginated(data, &info, &url_path(&headers, "contacts/organizations")),
        None => json!({ "data": data }),
    }))
}

pub async fn show(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    Ok(ok(json!({ "data": org_json(&s.db(), &s.tz, id)? })))
}

pub async fn store(State(s): State<SharedState>, Input(data): Input) -> Result<Response, ApiError> {
    let db = s.db();
    validate(&db, &s.tz, &data, None)?;
    let now = store::now_wall(&s.tz);
    db.execute(
        "INSERT INTO organizations (name, address, user_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![
            varchar(data.get("name")).unwrap_or_default(),
            data.get("address")
                .filter(|v| !v.is_null())
                .map(Value::to_string),
            data.get("user_id").and_then(as_id),
            now
        ],
    )
    .map_err(super::leads::fk_error)?;
    let id = db.last_insert_rowid();
    rules::save_custom_values(&db, "organizations", id, &data)?;
    Ok(ok(
        json!({"data": org_json(&db, &s.tz, id)?, "message": "Organization created successfully."}),
    ))
}

pub async fn update(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    org_json(&db, &s.tz, id)?;
    validate(&db, &s.tz, &data, Some(id))?;
    let keep = |k: &str| !data.contains_key(k);
    db.execute(
        "UPDATE organizations SET
           name = CASE WHEN ?1 THEN name ELSE ?2 END,
           address = CASE WHEN ?3 THEN address ELSE ?4 END,
           user_id = ?5, updated_at = ?6
         WHERE id = ?7",
        params![
            keep("name"),
            varchar(data.get("name")).unwrap_or_default(),
            keep("address"),
            data.get("address")
                .filter(|v| !v.is_null())
                .map(Value::to_string),
            data.get("user_id").and_then(as_id),
            store::now_wall(&s.tz),
            id
        ],
    )
    .map_err(super::leads::fk_error)?;
    rules::save_custom_values(&db, "organizations", id, &data)?;
    Ok(ok(
        json!({"data": org_json(&db, &s.tz, id)?, "message": "Organization updated successfully."}),
    ))
}

pub async fn destroy(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let n = s
        .db()
        .execute("DELETE FROM organizations WHERE id = ?1", [id])?;
    // `new JsonResource([...], 500)` drops the status: a failed delete is a 200 (§5).
    Ok(ok(json!({"message": if n == 1 {
        "Organization deleted successfully."
    } else {
        "Organization delete failed."
    }})))
}

pub async fn mass_destroy(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let ids = indices(&data)?;
    let db = s.db();
    for id in ids {
        db.execute("DELETE FROM organizations WHERE id = ?1", [id])?;
    }
    Ok(ok(
        json!({"message": "Organizations deleted successfully."}),
    ))
}
