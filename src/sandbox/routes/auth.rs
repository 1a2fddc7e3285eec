//! `POST /login`, `DELETE /logout`, `GET /get` (contract §3).
//!
//! Login answers the token at the top level and deletes every earlier token of the user, so two
//! tools sharing an account log each other out. Tokens never expire. `status` is not checked.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use rand::Rng;
use rand::distr::Alphanumeric;
use rusqlite::{OptionalExtension, params};
use serde_json::{Value, json};

use super::{AuthUser, Input, ok, to_json};
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, FieldErrors};
use crate::sandbox::rules::{self, is_empty, push};
use crate::sandbox::store;

pub async fn login(State(s): State<SharedState>, Input(data): Input) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    for field in ["email", "password", "device_name"] {
        if data.get(field).is_none_or(is_empty) {
            push(
                &mut errors,
                field,
                format!("The {} field is required.", rules::display(field)),
            );
        }
    }
    if let Some(email) = data.get("email").and_then(Value::as_str)
        && !email.is_empty()
        && !rules::is_email(email)
    {
        push(
            &mut errors,
            "email",
            "The email must be a valid email address.".into(),
        );
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let email = rules::as_text(&data["email"]).unwrap_or_default();
    let password = rules::as_text(&data["password"]).unwrap_or_default();
    let device = rules::as_text(&data["device_name"]).unwrap_or_default();
    let db = s.db();
    let found: Option<(i64, String)> = db
        .query_row(
            "SELECT id, password FROM users WHERE email = ?1",
            [&email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let user_id = match found {
        Some((id, hash)) if hash == store::hash_password(&password) => id,
        _ => {
            return Err(ApiError::field(
                "email",
                "The provided credentials are incorrect.",
            ));
        }
    };
    // Sanctum: `$user->tokens()->delete()` before creating the new one (§3).
    db.execute(
        "DELETE FROM personal_access_tokens WHERE tokenable_id = ?1",
        [user_id],
    )?;
    let secret: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let now = store::now_wall(&s.tz);
    db.execute(
        "INSERT INTO personal_access_tokens (tokenable_id, name, token, abilities, created_at, updated_at)
         VALUES (?1, ?2, ?3, '[\"*\"]', ?4, ?4)",
        params![user_id, device, store::hash_token(&secret), now],
    )?;
    let token_id = db.last_insert_rowid();
    let user = store::user(&db, &s.tz, user_id)?;
    Ok(ok(json!({
        "data": to_json(&user),
        "message": "Login successful.",
        "token": format!("{token_id}|{secret}"),
    })))
}

pub async fn logout(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
) -> Result<Response, ApiError> {
    s.db().execute(
        "DELETE FROM personal_access_tokens WHERE tokenable_id = ?1",
        [me.id],
    )?;
    Ok(ok(json!({"message": "Logout successful."})))
}

pub async fn me(
    State(s): State<SharedState>,
    Extension(me): Extension<AuthUser>,
) -> Result<Response, ApiError> {
    let user = store::user(&s.db(), &s.tz, me.id)?;
    Ok(ok(json!({"data": to_json(&user)})))
}
