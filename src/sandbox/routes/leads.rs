//! Leads (contract §7): list, search, get, create, the three update paths with their traps,
//! delete, mass endpoints, lead products, a lead's activities.
//!
//! Create follows `LeadController::store` + `LeadRepository::create` step by step, with no
//! transaction: validate → read the stage (absent → 500, unknown → 404) → create the inline
//! person (or take `person.id`) → insert the lead (an unknown source/type/user id is a foreign
//! key error, 500, *after* the person exists) → custom values, products, system activity.

use axum::Extension;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::{AuthUser, Input, as_id, indices, ok, route_id, to_json, url_path, varchar};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::list::{self, parse_params};
use crate::sandbox::rules::{self, Scope, as_text, is_empty, push};
use crate::sandbox::store::{self, SystemLink};

const MODEL: &str = "Webkul\\Lead\\Models\\Lead";

fn lead_json(db: &Connection, tz: &TimeZone, id: i64) -> Result<Value, ApiError> {
    match store::lead(db, tz, id)? {
        Some(l) => Ok(to_json(&l)),
        None => Err(ApiError::ModelNotFound {
            model: MODEL,
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
    let listing = list::list_ids(&db, "leads", &params, None)?;
    let data = listing
        .ids
        .iter()
        .map(|id| lead_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(match listing.page {
        Some(info) => list::paginated(data, &info, &url_path(&headers, "leads")),
        None => json!({ "data": data }),
    }))
}

pub async fn search(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    // §6: for a user whose view permission is not global, Krayin calls `findWhereIn` on a
    // Collection and crashes.
    if me.view_permission != "global" {
        return Err(ApiError::server(
            "Method Illuminate\\Database\\Eloquent\\Collection::findWhereIn does not exist.",
        ));
    }
    let params = parse_params(q.as_deref());
    let db = s.db();
    let ids = list::search_ids(&db, &list::LEADS, &params)?;
    let data = ids
        .iter()
        .map(|id| lead_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(json!({ "data": data })))
}

pub async fn show(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    Ok(ok(json!({ "data": lead_json(&s.db(), &s.tz, id)? })))
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
            "SELECT activity_id FROM lead_activities WHERE lead_id = ?1 ORDER BY activity_id DESC",
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

/// A resolved pipeline stage.
pub struct StageRef {
    pub id: i64,
    pub pipeline_id: i64,
    pub code: Option<String>,
}

impl StageRef {
    pub fn is_closed(&self) -> bool {
        matches!(self.code.as_deref(), Some("won") | Some("lost"))
    }
}

pub fn stage_by_id(db: &Connection, id: i64) -> rusqlite::Result<Option<StageRef>> {
    db.query_row(
        "SELECT id, lead_pipeline_id, code FROM lead_pipeline_stages WHERE id = ?1",
        [id],
        |r| {
            Ok(StageRef {
                id: r.get(0)?,
                pipeline_id: r.get(1)?,
                code: r.get(2)?,
            })
        },
    )
    .optional()
}

/// `lead_pipeline_stage_id` as the controller reads it: a falsy value (`0`) means the default
/// pipeline's first stage, anything else must exist (`findOrFail` → 404).
fn resolve_stage(db: &Connection, v: &Value) -> Result<StageRef, ApiError> {
    let id = as_id(v).unwrap_or(0);
    if id == 0 {
        let first: Option<i64> = db
            .query_row(
                "SELECT s.id FROM lead_pipeline_stages s JOIN lead_pipelines p ON p.id = s.lead_pipeline_id
                 WHERE p.is_default = 1 ORDER BY s.sort_order, s.id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let first =
            first.ok_or_else(|| ApiError::server("Attempt to read property \"id\" on null"))?;
        return Ok(stage_by_id(db, first)?.expect("stage just read"));
    }
    stage_by_id(db, id)?.ok_or(ApiError::ModelNotFound {
        model: "Webkul\\Lead\\Models\\Stage",
        id: id.to_string(),
    })
}

/// LeadForm (§7): lead attributes at the top level, person attributes under `person`, only
/// for keys present; plus the product lines.
fn validate_lead_form(
    db: &Connection,
    tz: &TimeZone,
    data: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    rules::validate_entity(
        db,
        tz,
        data,
        "",
        &Scope {
            entity: "leads",
            exclude_id: None,
        },
        &mut errors,
    )?;
    if let Some(person) = data.get("person").and_then(Value::as_object) {
        let person_id = person.get("id").and_then(as_id);
        rules::validate_entity(
            db,
            tz,
            person,
            "person.",
            &Scope {
                entity: "persons",
                exclude_id: person_id,
            },
            &mut errors,
        )?;
    }
    validate_products(db, data, &mut errors)?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn validate_products(
    db: &Connection,
    data: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> rusqlite::Result<()> {
    let Some(products) = data.get("products") else {
        return Ok(());
    };
    let Some(items) = products.as_array() else {
        push(errors, "products", "The products must be an array.".into());
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let Some(pid) = item.get("product_id").filter(|v| !is_empty(v)) else {
            continue;
        };
        let exists = as_id(pid).is_some_and(|id| {
            db.query_row("SELECT 1 FROM products WHERE id = ?1", [id], |_| Ok(()))
                .optional()
                .ok()
                .flatten()
                .is_some()
        });
        if !exists {
            let f = format!("products.{i}.product_id");
            push(errors, &f, format!("The selected {f} is invalid."));
        }
        for part in ["name", "price", "quantity"] {
            if item.get(part).is_none_or(is_empty) {
                let f = format!("products.{i}.{part}");
                push(
                    errors,
                    &f,
                    format!("The {f} field is required when products.{i}.product_id is present."),
                );
            }
        }
    }
    Ok(())
}

/// Replaces the lead's product lines with `items` (PUT semantics).
fn save_products(
    db: &Connection,
    tz: &TimeZone,
    lead_id: i64,
    items: &[Value],
) -> Result<(), ApiError> {
    db.execute("DELETE FROM lead_products WHERE lead_id = ?1", [lead_id])?;
    let now = store::now_wall(tz);
    for item in items {
        let Some(pid) = item.get("product_id").and_then(as_id) else {
            continue;
        };
        let qty = item
            .get("quantity")
            .and_then(as_text)
            .and_then(|q| q.parse::<f64>().ok())
            .unwrap_or(0.0);
        let price = item
            .get("price")
            .and_then(as_text)
            .and_then(|p| p.parse::<f64>().ok())
            .unwrap_or(0.0);
        db.execute(
            "INSERT INTO lead_products (lead_id, product_id, quantity, price, amount, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![
                lead_id,
                pid,
                qty as i64,
                store::decimal4(&format!("{price}")),
                store::decimal4(&format!("{}", price * qty)),
                now
            ],
        )?;
    }
    Ok(())
}

/// The lead's person: `person.id` (must exist: 404), an inline new person, or the top-level
/// `person_id` (unvalidated) when there is no `person` key.
fn person_for(
    db: &Connection,
    tz: &TimeZone,
    me: &AuthUser,
    data: &Map<String, Value>,
) -> Result<Option<i64>, ApiError> {
    match data.get("person") {
        Some(Value::Object(p)) => {
            if let Some(id) = p.get("id").filter(|v| !is_empty(v)) {
                let id = as_id(id).unwrap_or(0);
                let exists = db
                    .query_row("SELECT 1 FROM persons WHERE id = ?1", [id], |_| Ok(()))
                    .optional()?
                    .is_some();
                if !exists {
                    return Err(ApiError::ModelNotFound {
                        model: "Webkul\\Contact\\Models\\Person",
                        id: id.to_string(),
                    });
                }
                // Other `person` fields are ignored: no person update (§7).
                return Ok(Some(id));
            }
            Ok(Some(super::persons::create_person(db, tz, me, p, false)?))
        }
        _ => Ok(data.get("person_id").and_then(as_id)),
    }
}

pub async fn store(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let db = s.db();
    let tz = &s.tz;
    validate_lead_form(&db, tz, &data)?;
    // RA 2.x reads `$data['lead_pipeline_stage_id']` unguarded: absent → PHP warning → 500.
    let Some(stage_value) = data.get("lead_pipeline_stage_id") else {
        return Err(ApiError::server(
            "Undefined array key \"lead_pipeline_stage_id\"",
        ));
    };
    let stage = resolve_stage(&db, stage_value)?;
    let person_id = person_for(&db, tz, &me, &data)?;
    let now = store::now_wall(tz);
    let closed_at = stage.is_closed().then(|| now.clone());
    let close_date = data
        .get("expected_close_date")
        .and_then(as_text)
        .filter(|d| !d.is_empty());
    // No transaction (§14): if this insert fails, the person created above stays.
    db.execute(
        "INSERT INTO leads (title, description, lead_value, status, closed_at, user_id, person_id,
           lead_source_id, lead_type_id, lead_pipeline_id, lead_pipeline_stage_id,
           expected_close_date, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        params![
            varchar(data.get("title")).unwrap_or_default(),
            data.get("description").and_then(as_text),
            data.get("lead_value")
                .and_then(as_text)
                .map(|v| store::decimal4(&v)),
            closed_at,
            data.get("user_id").and_then(as_id),
            person_id,
            data.get("lead_source_id").and_then(as_id),
            data.get("lead_type_id").and_then(as_id),
            stage.pipeline_id,
            stage.id,
            close_date,
            now,
        ],
    )
    .map_err(fk_error)?;
    let lead_id = db.last_insert_rowid();
    rules::save_custom_values(&db, "leads", lead_id, &data)?;
    if let Some(items) = data.get("products").and_then(Value::as_array) {
        save_products(&db, tz, lead_id, items)?;
    }
    store::log_system_activity(
        &db,
        tz,
        me.id,
        SystemLink::Lead(lead_id),
        "Lead created",
        None,
    )?;
    let mut lead = lead_json(&db, tz, lead_id)?;
    // The create answer echoes the types sent: the model is not re-read (§7).
    if let Some(v) = data.get("lead_value") {
        lead["lead_value"] = v.clone();
    }
    Ok(ok(
        json!({"data": lead, "message": "Lead created successfully."}),
    ))
}

/// SQLite's constraint failure, worded as MySQL's, still a 500 (§14).
pub fn fk_error(e: rusqlite::Error) -> ApiError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
    {
        return ApiError::server(format!(
            "SQLSTATE[23000]: Integrity constraint violation: 1452 Cannot add or update a child row: \
             a foreign key constraint fails ({e})"
        ));
    }
    ApiError::from(e)
}

/// The attributes whose changes Krayin logs as `system` activities.
const TRACKED: &[&str] = &[
    "title",
    "description",
    "lead_value",
    "lead_source_id",
    "lead_type_id",
    "user_id",
    "person_id",
    "lead_pipeline_stage_id",
    "expected_close_date",
];

fn snapshot(db: &Connection, id: i64) -> rusqlite::Result<Option<Map<String, Value>>> {
    db.query_row(
        &format!("SELECT {} FROM leads WHERE id = ?1", TRACKED.join(", ")),
        [id],
        |r| {
            let mut m = Map::new();
            for (i, col) in TRACKED.iter().enumerate() {
                let v: rusqlite::types::Value = r.get(i)?;
                m.insert(
                    col.to_string(),
                    match v {
                        rusqlite::types::Value::Integer(n) => json!(n),
                        rusqlite::types::Value::Text(t) => json!(t),
                        rusqlite::types::Value::Real(f) => json!(f),
                        _ => Value::Null,
                    },
                );
            }
            Ok(m)
        },
    )
    .optional()
}

fn log_changes(
    db: &Connection,
    tz: &TimeZone,
    me: &AuthUser,
    id: i64,
    before: &Map<String, Value>,
) -> rusqlite::Result<()> {
    let Some(after) = snapshot(db, id)? else {
        return Ok(());
    };
    for col in TRACKED {
        if before.get(*col) != after.get(*col) {
            store::log_system_activity(
                db,
                tz,
                me.id,
                SystemLink::Lead(id),
                "Lead updated",
                Some(json!({
                    "attribute": col,
                    "old": {"value": before.get(*col), "label": before.get(*col)},
                    "new": {"value": after.get(*col), "label": after.get(*col)},
                })),
            )?;
        }
    }
    Ok(())
}

fn existing(db: &Connection, id: i64) -> Result<Map<String, Value>, ApiError> {
    snapshot(db, id)?.ok_or(ApiError::ModelNotFound {
        model: MODEL,
        id: id.to_string(),
    })
}

/// `PUT /leads/{id}`: LeadForm, then the destructive full update of §7 "Update traps":
/// an omitted `expected_close_date` is nulled, omitted `products` are deleted, a `person`
/// without `id` creates a new person.
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
    let before = existing(&db, id)?;
    validate_lead_form(&db, tz, &data)?;
    let Some(stage_value) = data.get("lead_pipeline_stage_id") else {
        return Err(ApiError::server(
            "Undefined array key \"lead_pipeline_stage_id\"",
        ));
    };
    let stage = resolve_stage(&db, stage_value)?;
    let person_id = match data.get("person") {
        Some(Value::Object(_)) => person_for(&db, tz, &me, &data)?,
        _ => before.get("person_id").and_then(as_id),
    };
    let now = store::now_wall(tz);
    let closed_at = if stage.is_closed() {
        Some(
            data.get("closed_at")
                .and_then(as_text)
                .and_then(|c| store::parse_wall(&c))
                .unwrap_or_else(|| now.clone()),
        )
    } else {
        None
    };
    let keep = |key: &str| data.get(key).is_none();
    db.execute(
        "UPDATE leads SET
           title = CASE WHEN ?1 THEN title ELSE ?2 END,
           description = CASE WHEN ?3 THEN description ELSE ?4 END,
           lead_value = CASE WHEN ?5 THEN lead_value ELSE ?6 END,
           lead_source_id = CASE WHEN ?7 THEN lead_source_id ELSE ?8 END,
           lead_type_id = CASE WHEN ?9 THEN lead_type_id ELSE ?10 END,
           user_id = CASE WHEN ?11 THEN user_id ELSE ?12 END,
           person_id = ?13, lead_pipeline_id = ?14, lead_pipeline_stage_id = ?15,
           closed_at = ?16, expected_close_date = ?17, updated_at = ?18
         WHERE id = ?19",
        params![
            keep("title"),
            varchar(data.get("title")).unwrap_or_default(),
            keep("description"),
            data.get("description").and_then(as_text),
            keep("lead_value"),
            data.get("lead_value")
                .and_then(as_text)
                .map(|v| store::decimal4(&v)),
            keep("lead_source_id"),
            data.get("lead_source_id").and_then(as_id),
            keep("lead_type_id"),
            data.get("lead_type_id").and_then(as_id),
            keep("user_id"),
            data.get("user_id").and_then(as_id),
            person_id,
            stage.pipeline_id,
            stage.id,
            closed_at,
            // Omitted → NULL: the trap of §7.
            data.get("expected_close_date")
                .and_then(as_text)
                .filter(|d| !d.is_empty()),
            now,
            id,
        ],
    )
    .map_err(fk_error)?;
    rules::save_custom_values(&db, "leads", id, &data)?;
    // Omitted products → every product line deleted: the other trap of §7.
    let items = data
        .get("products")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    save_products(&db, tz, id, &items)?;
    log_changes(&db, tz, &me, id, &before)?;
    Ok(ok(
        json!({"data": lead_json(&db, tz, id)?, "message": "Lead updated successfully."}),
    ))
}

/// `PUT /leads/attributes/edit/{id}`: no validation, only the keys sent change (products are
/// untouched), but an omitted `expected_close_date` is still nulled. The only path that accepts
/// a past `expected_close_date`.
pub async fn edit_attributes(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    let tz = &s.tz;
    let before = existing(&db, id)?;
    let mut sets: Vec<String> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    use rusqlite::types::Value as Sql;
    let text = |v: Option<String>| v.map(Sql::Text).unwrap_or(Sql::Null);
    let int = |v: Option<i64>| v.map(Sql::Integer).unwrap_or(Sql::Null);
    for key in ["title", "description"] {
        if data.contains_key(key) {
            sets.push(format!("{key} = ?"));
            args.push(text(varchar(data.get(key))));
        }
    }
    if let Some(v) = data.get("lead_value") {
        sets.push("lead_value = ?".into());
        // No validation: MySQL (non-strict) stores what it can parse.
        let parsed = as_text(v)
            .filter(|t| t.parse::<f64>().is_ok_and(|f| f >= 0.0))
            .map(|t| store::decimal4(&t))
            .unwrap_or_else(|| "0.0000".into());
        args.push(Sql::Text(parsed));
    }
    for key in ["lead_source_id", "lead_type_id", "user_id", "person_id"] {
        if let Some(v) = data.get(key) {
            sets.push(format!("{key} = ?"));
            args.push(int(as_id(v)));
        }
    }
    if let Some(v) = data.get("lead_pipeline_stage_id") {
        let stage = resolve_stage(&db, v)?;
        sets.push("lead_pipeline_stage_id = ?".into());
        args.push(Sql::Integer(stage.id));
        sets.push("lead_pipeline_id = ?".into());
        args.push(Sql::Integer(stage.pipeline_id));
    }
    if let Some(v) = data.get("closed_at") {
        sets.push("closed_at = ?".into());
        args.push(text(as_text(v).and_then(|c| store::parse_wall(&c))));
    }
    sets.push("expected_close_date = ?".into());
    args.push(text(
        data.get("expected_close_date")
            .and_then(as_text)
            .filter(|d| !d.is_empty()),
    ));
    sets.push("updated_at = ?".into());
    args.push(Sql::Text(store::now_wall(tz)));
    args.push(Sql::Integer(id));
    db.execute(
        &format!("UPDATE leads SET {} WHERE id = ?", sets.join(", ")),
        rusqlite::params_from_iter(args),
    )
    .map_err(fk_error)?;
    rules::save_custom_values(&db, "leads", id, &data)?;
    log_changes(&db, tz, &me, id, &before)?;
    Ok(ok(
        json!({"data": lead_json(&db, tz, id)?, "message": "Lead updated successfully."}),
    ))
}

/// Moves a lead to `stage`, as `LeadRepository::update` does: `closed_at` set on won/lost and
/// cleared otherwise, and the omitted `expected_close_date` nulled.
fn move_to_stage(
    db: &Connection,
    tz: &TimeZone,
    id: i64,
    stage: &StageRef,
    null_close_date: bool,
) -> rusqlite::Result<()> {
    let now = store::now_wall(tz);
    db.execute(
        "UPDATE leads SET lead_pipeline_stage_id = ?1, lead_pipeline_id = ?2,
           closed_at = CASE WHEN ?3 THEN COALESCE(closed_at, ?4) ELSE NULL END,
           expected_close_date = CASE WHEN ?5 THEN NULL ELSE expected_close_date END,
           updated_at = ?4
         WHERE id = ?6",
        params![
            stage.id,
            stage.pipeline_id,
            stage.is_closed(),
            now,
            null_close_date,
            id
        ],
    )?;
    Ok(())
}

/// `PUT /leads/stage/edit/{id}`: the stage must exist and belong to the lead's pipeline.
pub async fn edit_stage(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    let before = existing(&db, id)?;
    let field = "lead_pipeline_stage_id";
    let Some(raw) = data.get(field).filter(|v| !is_empty(v)) else {
        return Err(ApiError::field(
            field,
            "The lead pipeline stage id field is required.",
        ));
    };
    let pipeline = before
        .get("lead_pipeline_stage_id")
        .and_then(as_id)
        .and_then(|sid| {
            stage_by_id(&db, sid)
                .ok()
                .flatten()
                .map(|st| st.pipeline_id)
        });
    let stage = as_id(raw)
        .map(|sid| stage_by_id(&db, sid))
        .transpose()?
        .flatten()
        .filter(|st| pipeline.is_none_or(|p| p == st.pipeline_id));
    let Some(stage) = stage else {
        return Err(ApiError::field(
            field,
            "The selected lead pipeline stage id is invalid.",
        ));
    };
    move_to_stage(&db, &s.tz, id, &stage, true)?;
    log_changes(&db, &s.tz, &me, id, &before)?;
    Ok(ok(
        json!({"data": lead_json(&db, &s.tz, id)?, "message": "Lead updated successfully."}),
    ))
}

pub async fn destroy(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    existing(&db, id)?;
    db.execute("DELETE FROM leads WHERE id = ?1", [id])?;
    Ok(ok(json!({"message": "Lead deleted successfully."})))
}

/// `POST /leads/mass-update` `{"indices": [...], "value": stage id}`: sets the stage only.
pub async fn mass_update(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let ids = indices(&data)?;
    let db = s.db();
    let Some(stage_id) = data.get("value").and_then(as_id) else {
        return Err(ApiError::field("value", "The value field is required."));
    };
    let stage = stage_by_id(&db, stage_id)?.ok_or(ApiError::ModelNotFound {
        model: "Webkul\\Lead\\Models\\Stage",
        id: stage_id.to_string(),
    })?;
    for id in ids {
        move_to_stage(&db, &s.tz, id, &stage, false)?;
    }
    Ok(ok(json!({"message": "Leads updated successfully."})))
}

pub async fn mass_destroy(
    State(s): State<SharedState>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let ids = indices(&data)?;
    let db = s.db();
    for id in ids {
        db.execute("DELETE FROM leads WHERE id = ?1", [id])?;
    }
    Ok(ok(json!({"message": "Leads deleted successfully."})))
}

/// `PUT /leads/product/{lead_id}` `{product_id, quantity, price}`: adds or replaces one line.
pub async fn add_product(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    existing(&db, id)?;
    let mut errors = FieldErrors::new();
    for f in ["product_id", "quantity", "price"] {
        if data.get(f).is_none_or(is_empty) {
            push(
                &mut errors,
                f,
                format!("The {} field is required.", rules::display(f)),
            );
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let pid = data.get("product_id").and_then(as_id).unwrap_or(0);
    let qty = data
        .get("quantity")
        .and_then(as_text)
        .and_then(|q| q.parse::<f64>().ok())
        .unwrap_or(0.0);
    let price = data
        .get("price")
        .and_then(as_text)
        .and_then(|p| p.parse::<f64>().ok())
        .unwrap_or(0.0);
    let now = store::now_wall(&s.tz);
    db.execute(
        "DELETE FROM lead_products WHERE lead_id = ?1 AND product_id = ?2",
        [id, pid],
    )?;
    db.execute(
        "INSERT INTO lead_products (lead_id, product_id, quantity, price, amount, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![id, pid, qty as i64, store::decimal4(&price.to_string()), store::decimal4(&(price * qty).to_string()), now],
    )
    .map_err(fk_error)?;
    Ok(ok(
        json!({"data": lead_json(&db, &s.tz, id)?, "message": "Product added successfully."}),
    ))
}

pub async fn remove_product(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
    Input(data): Input,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    let db = s.db();
    existing(&db, id)?;
    let pid = data.get("product_id").and_then(as_id).unwrap_or(0);
    db.execute(
        "DELETE FROM lead_products WHERE lead_id = ?1 AND product_id = ?2",
        [id, pid],
    )?;
    Ok(ok(json!({"message": "Product removed successfully."})))
}
