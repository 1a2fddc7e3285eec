//! Products, only as far as lead product lines need them (§7 "Update traps": a full `PUT` of a
//! lead deletes the products it does not resend). List, get, create.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::{Input, ok, route_id, url_path, varchar};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::list::{self, parse_params};
use crate::sandbox::rules::{self, Scope, as_text};
use crate::sandbox::store;

fn product_json(db: &Connection, tz: &jiff::tz::TimeZone, id: i64) -> Result<Value, ApiError> {
    let row = db
        .query_row(
            "SELECT id, sku, name, description, quantity, price, created_at, updated_at
             FROM products WHERE id = ?1",
            [id],
            |r| {
                Ok(json!({
                    "id": r.get::<_, i64>(0)?,
                    "sku": r.get::<_, String>(1)?,
                    "name": r.get::<_, String>(2)?,
                    "description": r.get::<_, Option<String>>(3)?,
                    "quantity": r.get::<_, i64>(4)?,
                    "price": r.get::<_, Option<String>>(5)?,
                    "created_at": store::iso(r.get(6)?, tz),
                    "updated_at": store::iso(r.get(7)?, tz),
                }))
            },
        )
        .optional()?;
    row.ok_or(ApiError::ModelNotFound {
        model: "Webkul\\Product\\Models\\Product",
        id: id.to_string(),
    })
}

pub async fn index(
    State(s): State<SharedState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let params = parse_params(q.as_deref());
    let db = s.db();
    let found = list::list_ids(&db, "products", &params, None)?;
    let data = found
        .ids
        .iter()
        .map(|id| product_json(&db, &s.tz, *id))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(match found.page {
        Some(info) => list::paginated(data, &info, &url_path(&headers, "products")),
        None => json!({ "data": data }),
    }))
}

pub async fn show(
    State(s): State<SharedState>,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = route_id(&id, &uri)?;
    Ok(ok(json!({ "data": product_json(&s.db(), &s.tz, id)? })))
}

pub async fn store(State(s): State<SharedState>, Input(data): Input) -> Result<Response, ApiError> {
    let db = s.db();
    let mut errors = FieldErrors::new();
    rules::validate_entity(
        &db,
        &s.tz,
        &data,
        "",
        &Scope {
            entity: "products",
            exclude_id: None,
        },
        &mut errors,
    )?;
    for f in ["name", "sku", "price"] {
        if !data.contains_key(f) {
            rules::push(&mut errors, f, format!("The {f} field is required."));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = store::now_wall(&s.tz);
    db.execute(
        "INSERT INTO products (sku, name, description, quantity, price, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            varchar(data.get("sku")),
            varchar(data.get("name")),
            data.get("description").and_then(as_text),
            data.get("quantity").and_then(super::as_id).unwrap_or(0),
            data.get("price")
                .and_then(as_text)
                .map(|p| store::decimal4(&p)),
            now
        ],
    )?;
    let id = db.last_insert_rowid();
    Ok(ok(
        json!({"data": product_json(&db, &s.tz, id)?, "message": "Product created successfully."}),
    ))
}
