//! Persons (contract §8) and the person creation the lead form shares.
//!
//! Traps kept: `GET` of a missing id is a 500; the standalone create crashes (500) unless the
//! body has `contact_numbers` with a non-null first `value`; PUT clears the sales owner when
//! `user_id` is omitted; a person with leads cannot be deleted (500 carrying a *success*
//! message); delete has its own 100/hour throttle.

use axum::Extension;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::{AuthUser, Input, as_id, indices, ok, route_id, to_json, url_path, varchar};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::list::{self, parse_params};
use crate::sandbox::rules::{self, Scope, as_text};
use crate::sandbox::store::{self, SystemLink};

fn person_json(db: &Connection, tz: &TimeZone, id: i64) -> Result<Value, ApiError> {
    match store::person(db, tz, id)? {
        Some(p) => Ok(to_json(&p)),
        // `find` + null: Krayin reads a property of null (§5).
        None => Err(ApiError::server("Attempt to read property \"id\" on null")),
    }
}

/// `contact_numbers`, if sent, must be a non-empty list whose first `value` is not null:
/// Krayin indexes `[0]['value']` unguarded (§7, §8).
fn check_first_phone(p: &Map<String, Value>, required: bool) -> Result<(), ApiError> {
    match p.get("contact_numbers") {
        None if required => Err(ApiError::server("Undefined array key \"contact_numbers\"")),
        None => Ok(()),
        Some(Value::Array(items)) => match items.first() {
            None => Err(ApiError::server("Undefined array key 0")),
            Some(first) if first.get("value").is_none_or(Value::is_null) => Err(ApiError::server(
                "Trying to access array offset on value of type null",
            )),
            Some(_) => Ok(()),
        },
        Some(_) => Err(ApiError::server(
            "Trying to access array offset on value of type null",
        )),
    }
}

/// `organization_name` → the organization with that name (case-insensitive, as MySQL's
/// collation), created if missing (§7).
pub fn find_or_create_organization(
    db: &Connection,
    tz: &TimeZone,
    name: &str,
) -> rusqlite::Result<i64> {
    let name: String = name.chars().take(255).collect();
    if let Some(id) = db
        .query_row(
            "SELECT id FROM organizations WHERE name = ?1",
            [&name],
            |r| r.get(0),
        )
        .optional()?
    {
        return Ok(id);
    }
    let now = store::now_wall(tz);
    db.execute(
        "INSERT INTO organizations (name, created_at, updated_at) VALUES (?1, ?2, ?2)",
        params![name, now],
    )?;
    Ok(db.last_insert_rowid())
}

fn json_list(v: Option<&Value>) -> Option<String> {
    v.filter(|v| !v.is_null()).map(Value::to_string)
}

/// `PersonRepository::create`: validation already done by the caller.
pub fn create_person(
    db: &Connection,
    tz: &TimeZone,
    me: &AuthUser,
    p: &Map<String, Value>,
    standalone: bool,
) -> Result<i64, ApiError> {
    check_first_phone(p, standalone)?;
    let org_id = match p
        .get("organization_name")
        .and_then(as_text)
        .filter(|n| !n.is_empty())
    {
        Some(name) => Some(find_or_create_organization(db, tz, &name)?),
        None => p.get("organization_id").and_then(as_id),
    };
    let now = store::now_wall(tz);
    db.execute(
        "INSERT INTO persons (name, emails, contact_numbers, job_title, user_id, organization_id,
           created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![
            varchar(p.get("name")).unwrap_or_default(),
            json_list(p.get("emails")).unwrap_or_else(|| "[]".into()),
            json_list(p.get("contact_numbers")),
            varchar(p.get("job_title")),
            p.get("user_id").and_then(as_id),
            org_id,
            now,
        ],
    )
    .map_err(super::leads::fk_error)?;
    let id = db.last_insert_rowid();
    rules::save_custom_values(db, "persons", id, p)?;
    store::log_system_activity(
        db,
        tz,
        me.id,
        SystemLink::Person(id),
        "Person created",
        None,
    )?;
    Ok(id)
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
            entity: "persons",
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
    let listing = list::list_ids(&db, "persons", &params, None)?;
    let data = listing
        .ids
        .iter()
        .map(|id| person_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(match listing.page {
        Some(info) => list::paginated(data, &info, &url_path(&headers, "contacts/persons")),
        None => json!({ "data": data }),
    }))
}

pub async fn search(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if me.view_permission != "global" {
        return Err(ApiError::server(
            "Method Illuminate\\Database\\Eloquent\\Collection::findWhereIn does not exist.",
        ));
    }
    let params = parse_params(q.as_deref());
    let db = s.db();
    let ids = list::search_ids(&db, &list::PERSONS, &params)?;
    let data = ids
        .iter()
        .map(|id| person_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(json!({ "data": data })))
}

pub async fn show(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    Ok(ok(json!({ "data": person_json(&s.db(), &s.tz, id)? })))
}

pub async fn store(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let db = s.db();
    validate(&db, &s.tz, &data, None)?;
    let id = create_person(&db, &s.tz, &me, &data, true)?;
    Ok(ok(
        json!({"data": person_json(&db, &s.tz, id)?, "message": "Person created successfully."}),
    ))
}

pub async fn update(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    let tz = &s.tz;
    person_json(&db, tz, id)?;
    validate(&db, tz, &data, Some(id))?;
    let org_id = match data
        .get("organization_name")
        .and_then(as_text)
        .filter(|n| !n.is_empty())
    {
        Some(name) => Some(find_or_create_organization(&db, tz, &name)?),
        None => data.get("organization_id").and_then(as_id),
    };
    let keep = |k: &str| !data.contains_key(k);
    db.execute(
        "UPDATE persons SET
           name = CASE WHEN ?1 THEN name ELSE ?2 END,
           emails = CASE WHEN ?3 THEN emails ELSE ?4 END,
           contact_numbers = CASE WHEN ?5 THEN contact_numbers ELSE ?6 END,
           job_title = CASE WHEN ?7 THEN job_title ELSE ?8 END,
           organization_id = CASE WHEN ?9 THEN organization_id ELSE ?10 END,
           user_id = ?11, updated_at = ?12
         WHERE id = ?13",
        params![
            keep("name"),
            varchar(data.get("name")).unwrap_or_default(),
            keep("emails"),
            json_list(data.get("emails")).unwrap_or_else(|| "[]".into()),
            keep("contact_numbers"),
            json_list(data.get("contact_numbers")),
            keep("job_title"),
            varchar(data.get("job_title")),
            keep("organization_id") && keep("organization_name"),
            org_id,
            // PUT clears the sales owner when `user_id` is omitted (§8).
            data.get("user_id").and_then(as_id),
            store::now_wall(tz),
            id,
        ],
    )
    .map_err(super::leads::fk_error)?;
    rules::save_custom_values(&db, "persons", id, &data)?;
    store::log_system_activity(
        &db,
        tz,
        me.id,
        SystemLink::Person(id),
        "Person updated",
        None,
    )?;
    Ok(ok(
        json!({"data": person_json(&db, tz, id)?, "message": "Person updated successfully."}),
    ))
}

fn has_leads(db: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(db
        .query_row(
            "SELECT 1 FROM leads WHERE person_id = ?1 LIMIT 1",
            [id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub async fn destroy(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    person_json(&db, &s.tz, id)?;
    if has_leads(&db, id)? {
        // The FK restrict fails; Krayin answers 500 but words it as a success (§8).
        return Err(ApiError::Raw {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: json!({"message": "Person deleted successfully."}),
        });
    }
    db.execute("DELETE FROM persons WHERE id = ?1", [id])?;
    Ok(ok(json!({"message": "Person deleted successfully."})))
}

pub async fn mass_destroy(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let ids = indices(&data)?;
    let db = s.db();
    for id in ids {
        if !has_leads(&db, id)? {
            db.execute("DELETE FROM persons WHERE id = ?1", [id])?;
        }
    }
    Ok(ok(json!({"message": "Persons deleted successfully."})))
}

pub async fn activities(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    let ids: Vec<i64> = db
        .prepare_cached(
            "SELECT activity_id FROM person_activities WHERE person_id = ?1 ORDER BY activity_id DESC",
        )?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut data = Vec::new();
    for a in ids {
        if let Some(act) = store::activity(&db, &s.tz, a)? {
            data.push(to_json(&act));
        }
    }
    Ok(ok(json!({ "data": data })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_phone_rules() {
        let m = |v: Value| v.as_object().unwrap().clone();
        assert!(check_first_phone(&m(json!({})), false).is_ok());
        assert!(check_first_phone(&m(json!({})), true).is_err());
        assert!(check_first_phone(&m(json!({"contact_numbers": []})), false).is_err());
        assert!(
            check_first_phone(&m(json!({"contact_numbers": [{"value": null}]})), false).is_err()
        );
        assert!(check_first_phone(&m(json!({"contact_numbers": [{"value": ""}]})), true).is_ok());
    }
}
