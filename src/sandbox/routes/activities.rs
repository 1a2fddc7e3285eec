//! Activities (contract §10): list, get, create, update (no validation), delete, mass-update
//! (`is_done`), mass-destroy.
//!
//! Create forces `is_done` (1 for notes, else 0) and `user_id` (the token user), links to one
//! of `lead_id` > `person_id`, and saves the activity *before* linking it: an unknown `lead_id`
//! is a 500 after the write. Overlapping meetings of the same participants are refused with 400
//! JSON when the request says `X-Requested-With: XMLHttpRequest`, else with a 302.

use axum::Extension;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::{AuthUser, Input, as_id, indices, ok, route_id, to_json, url_path};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::list::{self, parse_params};
use crate::sandbox::rules::{as_text, is_empty, push};
use crate::sandbox::store;

fn activity_json(db: &Connection, tz: &TimeZone, id: i64) -> Result<Value, ApiError> {
    match store::activity(db, tz, id)? {
        Some(a) => Ok(to_json(&a)),
        None => Err(ApiError::ModelNotFound {
            model: "Webkul\\Activity\\Models\\Activity",
            id: id.to_string(),
        }),
    }
}

pub async fn index(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let params = parse_params(q.as_deref());
    let db = s.db();
    let listing = list::list_ids(&db, "activities", &params, None)?;
    let data = listing
        .ids
        .iter()
        .map(|id| activity_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(match listing.page {
        Some(info) => list::paginated(data, &info, &url_path(&headers, "activities")),
        None => json!({ "data": data }),
    }))
}

pub async fn show(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    Ok(ok(json!({ "data": activity_json(&s.db(), &s.tz, id)? })))
}

fn ids_of(v: Option<&Value>) -> Vec<i64> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(as_id).collect())
        .unwrap_or_default()
}

/// Does a meeting between `from` and `to` overlap another meeting sharing a participant?
fn overlaps(
    db: &Connection,
    from: &str,
    to: &str,
    users: &[i64],
    persons: &[i64],
) -> rusqlite::Result<bool> {
    if users.is_empty() && persons.is_empty() {
        return Ok(false);
    }
    let users = Value::from(users.to_vec()).to_string();
    let persons = Value::from(persons.to_vec()).to_string();
    Ok(db
        .query_row(
            "SELECT 1 FROM activities a JOIN activity_participants p ON p.activity_id = a.id
             WHERE a.type = 'meeting' AND a.schedule_from < ?2 AND a.schedule_to > ?1
               AND (p.user_id IN (SELECT value FROM json_each(?3))
                    OR p.person_id IN (SELECT value FROM json_each(?4)))
             LIMIT 1",
            params![from, to, users, persons],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub async fn store(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    headers: HeaderMap,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let db = s.db();
    let tz = &s.tz;
    let kind = data.get("type").and_then(as_text).unwrap_or_default();
    let mut errors = FieldErrors::new();
    if kind.is_empty() {
        push(&mut errors, "type", "The type field is required.".into());
    }
    if kind == "note" && data.get("comment").is_none_or(is_empty) {
        push(
            &mut errors,
            "comment",
            "The comment field is required when type is note.".into(),
        );
    }
    if !matches!(kind.as_str(), "note" | "file") {
        for f in ["schedule_from", "schedule_to"] {
            if data.get(f).is_none_or(is_empty) {
                push(
                    &mut errors,
                    f,
                    format!(
                        "The {} field is required unless type is in note, file.",
                        f.replace('_', " ")
                    ),
                );
            }
        }
    }
    if kind == "file" {
        // Files arrive as multipart uploads, which the sandbox does not take.
        push(
            &mut errors,
            "file",
            "The file field is required when type is file.".into(),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let from = data
        .get("schedule_from")
        .and_then(as_text)
        .and_then(|v| store::parse_wall(&v));
    let to = data
        .get("schedule_to")
        .and_then(as_text)
        .and_then(|v| store::parse_wall(&v));
    let participants = data.get("participants").and_then(Value::as_object);
    let users = ids_of(participants.and_then(|p| p.get("users")));
    let persons = ids_of(participants.and_then(|p| p.get("persons")));
    if kind == "meeting"
        && let (Some(f), Some(t)) = (&from, &to)
        && overlaps(&db, f, t, &users, &persons)?
    {
        let ajax = headers
            .get("x-requested-with")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("XMLHttpRequest"));
        if ajax {
            return Err(ApiError::Raw {
                status: StatusCode::BAD_REQUEST,
                body: json!({"message": "admin::app.activities.overlapping-error"}),
            });
        }
        return Ok(Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, "/")
            .body(Body::empty())
            .expect("static response"));
    }
    let now = store::now_wall(tz);
    db.execute(
        "INSERT INTO activities (title, type, comment, additional, location, schedule_from,
           schedule_to, is_done, user_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            data.get("title").and_then(as_text),
            kind,
            data.get("comment").and_then(as_text),
            data.get("additional")
                .filter(|v| !v.is_null())
                .map(Value::to_string),
            data.get("location").and_then(as_text),
            from,
            to,
            // Forced on create; a sent `is_done` is ignored (§10).
            i64::from(kind == "note"),
            me.id,
            now,
        ],
    )?;
    let id = db.last_insert_rowid();
    save_participants(&db, id, &users, &persons)?;
    // Linked after the save: a bad `lead_id` fails here, with the activity already stored.
    link(&db, id, &data)?;
    Ok(ok(
        json!({"data": activity_json(&db, tz, id)?, "message": "Activity created successfully."}),
    ))
}

fn save_participants(
    db: &Connection,
    id: i64,
    users: &[i64],
    persons: &[i64],
) -> rusqlite::Result<()> {
    db.execute(
        "DELETE FROM activity_participants WHERE activity_id = ?1",
        [id],
    )?;
    for u in users {
        db.execute(
            "INSERT INTO activity_participants (activity_id, user_id) VALUES (?1, ?2)",
            [id, *u],
        )?;
    }
    for p in persons {
        db.execute(
            "INSERT INTO activity_participants (activity_id, person_id) VALUES (?1, ?2)",
            [id, *p],
        )?;
    }
    Ok(())
}

/// One link: `lead_id` wins over `person_id` (CRM `Listeners/Activity.php`).
fn link(db: &Connection, id: i64, data: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(lead) = data.get("lead_id").and_then(as_id) {
        db.execute(
            "INSERT INTO lead_activities (activity_id, lead_id) VALUES (?1, ?2)",
            [id, lead],
        )
        .map_err(super::leads::fk_error)?;
    } else if let Some(person) = data.get("person_id").and_then(as_id) {
        db.execute(
            "INSERT INTO person_activities (activity_id, person_id) VALUES (?1, ?2)",
            [id, person],
        )
        .map_err(super::leads::fk_error)?;
    }
    Ok(())
}

/// PUT: no validation; the fillable columns sent change, `participants` replaces all.
pub async fn update(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    activity_json(&db, &s.tz, id)?;
    use rusqlite::types::Value as Sql;
    let mut sets = Vec::new();
    let mut args: Vec<Sql> = Vec::new();
    for key in ["title", "type", "location", "comment"] {
        if let Some(v) = data.get(key) {
            sets.push(format!("{key} = ?"));
            args.push(as_text(v).map(Sql::Text).unwrap_or(Sql::Null));
        }
    }
    if let Some(v) = data.get("additional") {
        sets.push("additional = ?".to_string());
        args.push(if v.is_null() {
            Sql::Null
        } else {
            Sql::Text(v.to_string())
        });
    }
    for key in ["schedule_from", "schedule_to"] {
        if let Some(v) = data.get(key) {
            sets.push(format!("{key} = ?"));
            args.push(
                as_text(v)
                    .and_then(|t| store::parse_wall(&t))
                    .map(Sql::Text)
                    .unwrap_or(Sql::Null),
            );
        }
    }
    for key in ["is_done", "user_id"] {
        if let Some(v) = data.get(key) {
            sets.push(format!("{key} = ?"));
            args.push(as_id(v).map(Sql::Integer).unwrap_or(Sql::Null));
        }
    }
    sets.push("updated_at = ?".to_string());
    args.push(Sql::Text(store::now_wall(&s.tz)));
    args.push(Sql::Integer(id));
    db.execute(
        &format!("UPDATE activities SET {} WHERE id = ?", sets.join(", ")),
        rusqlite::params_from_iter(args),
    )
    .map_err(super::leads::fk_error)?;
    if let Some(p) = data.get("participants").and_then(Value::as_object) {
        save_participants(&db, id, &ids_of(p.get("users")), &ids_of(p.get("persons")))?;
    }
    if data.contains_key("lead_id") {
        link(&db, id, &data)?;
    }
    Ok(ok(
        json!({"data": activity_json(&db, &s.tz, id)?, "message": "Activity updated successfully."}),
    ))
}

pub async fn destroy(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    activity_json(&db, &s.tz, id)?;
    db.execute("DELETE FROM activities WHERE id = ?1", [id])?;
    Ok(ok(json!({"message": "Activity deleted successfully."})))
}

/// `{"indices": [...], "value": 0|1}` sets `is_done`.
pub async fn mass_update(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let ids = indices(&data)?;
    let Some(value) = data.get("value").and_then(as_id) else {
        return Err(ApiError::field("value", "The value field is required."));
    };
    let db = s.db();
    let now = store::now_wall(&s.tz);
    for id in ids {
        db.execute(
            "UPDATE activities SET is_done = ?1, updated_at = ?2 WHERE id = ?3",
            params![value, now, id],
        )?;
    }
    Ok(ok(json!({"message": "Activities updated successfully."})))
}

pub async fn mass_destroy(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let ids = indices(&data)?;
    let db = s.db();
    for id in ids {
        db.execute("DELETE FROM activities WHERE id = ?1", [id])?;
    }
    Ok(ok(json!({"message": "Activities deleted successfully."})))
}
