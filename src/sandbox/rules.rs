//! Krayin's attribute-driven validation (CRM `LeadForm` and `AttributeForm`, contract §7–§9).
//!
//! Rules come from the `attributes` table, and only for keys present in the request: an omitted
//! attribute is never "required". Each attribute's type adds its rule: `price` → Krayin's
//! `Decimal` (`^\d*(\.\d{1,4})?$`), `date` → `date_format:Y-m-d` (and `after:yesterday` for
//! `expected_close_date`), `email`/`phone` → arrays of `{value, label}` whose values must not
//! exist on another record when `is_unique`. Messages are Laravel's defaults, with the field
//! named by its key (underscores become spaces), except the uniqueness message Krayin words
//! itself ("The value has already been taken.").
//!
//! Not here: what the controllers do after validation (`routes/`), or how errors render.

use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value, json};

use super::error::FieldErrors;
use super::store;

/// One row of the `attributes` table, as far as validation needs it.
#[derive(Debug, Clone)]
pub struct AttrRule {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub validation: Option<String>,
    pub is_required: bool,
    pub is_unique: bool,
    pub is_user_defined: bool,
}

pub fn attributes_for(conn: &Connection, entity: &str) -> rusqlite::Result<Vec<AttrRule>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, code, type, validation, is_required, is_unique, is_user_defined
         FROM attributes WHERE entity_type = ?1 ORDER BY sort_order, id",
    )?;
    stmt.query_map([entity], |r| {
        Ok(AttrRule {
            id: r.get(0)?,
            code: r.get(1)?,
            kind: r.get(2)?,
            validation: r.get(3)?,
            is_required: r.get::<_, i64>(4)? != 0,
            is_unique: r.get::<_, i64>(5)? != 0,
            is_user_defined: r.get::<_, i64>(6)? != 0,
        })
    })?
    .collect()
}

/// Laravel's attribute display name: `lead_value` → `lead value`.
pub fn display(field: &str) -> String {
    field.replace('_', " ")
}

pub fn push(errors: &mut FieldErrors, field: &str, message: String) {
    match errors.get_mut(field).and_then(Value::as_array_mut) {
        Some(list) => list.push(Value::String(message)),
        None => {
            errors.insert(field.to_string(), json!([message]));
        }
    }
}

/// Laravel's `required`: null, a blank string and an empty array all fail.
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The text form Laravel validates: numbers as PHP prints them.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        _ => None,
    }
}

/// Krayin's `Decimal` rule (CRM `Core/src/Contracts/Validations/Decimal.php`).
pub fn is_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    int.bytes().all(|b| b.is_ascii_digit())
        && match frac {
            None => true,
            Some(f) => (1..=4).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()),
        }
        && !s.is_empty()
}

/// Laravel's `email` rule as the `validator` crate reads it (the WHATWG form).
pub fn is_email(s: &str) -> bool {
    use validator::ValidateEmail;
    plain_email(s) || s.validate_email()
}

/// The common case of an address `validator` accepts, decided byte by byte: ASCII, a local
/// part of 1 to 64 of the WHATWG characters, a domain of labels of 1 to 63 letters, digits and
/// inner hyphens, at most 255 bytes: its two patterns, without running them (a sixth of
/// mapping a row's cost). `false` means "ask `validator`" (IP literals, IDN, refusals).
fn plain_email(s: &str) -> bool {
    let Some(at) = s.rfind('@') else {
        return false;
    };
    let (user, domain) = (&s.as_bytes()[..at], &s.as_bytes()[at + 1..]);
    let user_ok = (1..=64).contains(&user.len())
        && user
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(b));
    user_ok
        && domain.len() <= 255
        && domain.split(|b| *b == b'.').all(|label| {
            (1..=63).contains(&label.len())
                && label[0].is_ascii_alphanumeric()
                && label[label.len() - 1].is_ascii_alphanumeric()
                && label
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
}

/// `date_format:Y-m-d`: four-digit year, two-digit month and day, a real date.
pub fn parse_ymd(s: &str) -> Option<jiff::civil::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    s.parse().ok()
}

/// Trims every string of a request body, as Laravel's `TrimStrings` middleware does
/// (passwords excepted).
pub fn trim_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            let t = s.trim();
            if t.len() != s.len() {
                *s = t.to_string();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(trim_strings),
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if k != "password" && k != "password_confirmation" {
                    trim_strings(v);
                }
            }
        }
        _ => {}
    }
}

/// Where a uniqueness check looks: the entity's table and the record to leave out (the one
/// being updated, or the `person.id` of a lead form).
pub struct Scope<'a> {
    pub entity: &'a str,
    pub exclude_id: Option<i64>,
}

fn table_of(entity: &str) -> &'static str {
    match entity {
        "leads" => "leads",
        "persons" => "persons",
        "organizations" => "organizations",
        "products" => "products",
        _ => "",
    }
}

/// Is `value` already stored on another record? For e-mail and phone attributes that means an
/// entry of the JSON list with exactly this value (case-sensitive, as `JSON_CONTAINS`).
fn taken(conn: &Connection, attr: &AttrRule, scope: &Scope, value: &str) -> rusqlite::Result<bool> {
    let exclude = scope.exclude_id.unwrap_or(0);
    if !attr.is_user_defined {
        let table = table_of(scope.entity);
        if table.is_empty() {
            return Ok(false);
        }
        let sql = if matches!(attr.kind.as_str(), "email" | "phone") {
            format!(
                "SELECT 1 FROM {table} t, json_each(t.{code}) j
                 WHERE json_valid(t.{code}) AND json_extract(j.value, '$.value') = ?1 AND t.id != ?2 LIMIT 1",
                code = attr.code
            )
        } else {
            // Plain columns compare with the column's collation (case-insensitive names, as
            // MySQL's utf8mb4_unicode_ci).
            format!(
                "SELECT 1 FROM {table} WHERE {code} = ?1 AND id != ?2 LIMIT 1",
                code = attr.code
            )
        };
        return conn
            .query_row(&sql, rusqlite::params![value, exclude], |_| Ok(()))
            .optional()
            .map(|o| o.is_some());
    }
    // Custom attributes live in attribute_values as JSON text.
    let sql = if matches!(attr.kind.as_str(), "email" | "phone") {
        "SELECT 1 FROM attribute_values v, json_each(v.value) j
         WHERE v.attribute_id = ?1 AND json_valid(v.value)
           AND json_extract(j.value, '$.value') = ?2 AND v.entity_id != ?3 LIMIT 1"
    } else {
        "SELECT 1 FROM attribute_values v
         WHERE v.attribute_id = ?1 AND v.value = json_quote(?2) AND v.entity_id != ?3 LIMIT 1"
    };
    conn.query_row(sql, rusqlite::params![attr.id, value, exclude], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
}

/// Validates the attributes of `entity` present in `data`, naming fields with `prefix`
/// (`"person."` for the inline person of a lead form).
pub fn validate_entity(
    conn: &Connection,
    tz: &TimeZone,
    data: &Map<String, Value>,
    prefix: &str,
    scope: &Scope,
    errors: &mut FieldErrors,
) -> rusqlite::Result<()> {
    for attr in attributes_for(conn, scope.entity)? {
        let Some(value) = data.get(&attr.code) else {
            // Only keys present are validated (§7).
            continue;
        };
        let field = format!("{prefix}{}", attr.code);
        let name = display(&field);
        match attr.kind.as_str() {
            "email" | "phone" => validate_multi(conn, &attr, value, &field, scope, errors)?,
            "boolean" => {}
            "address" => validate_address(&attr, value, &field, errors),
            _ => {
                if is_empty(value) {
                    // `expected_close_date`: JSON null fails the date format, "" skips (§7).
                    if attr.kind == "date" && value.is_null() {
                        push(
                            errors,
                            &field,
                            format!("The {name} does not match the format Y-m-d."),
                        );
                    } else if attr.is_required {
                        push(errors, &field, format!("The {name} field is required."));
                    }
                    continue;
                }
                validate_scalar(conn, tz, &attr, value, &field, scope, errors)?;
            }
        }
    }
    Ok(())
}

fn validate_scalar(
    conn: &Connection,
    tz: &TimeZone,
    attr: &AttrRule,
    value: &Value,
    field: &str,
    scope: &Scope,
    errors: &mut FieldErrors,
) -> rusqlite::Result<()> {
    let name = display(field);
    let text = as_text(value);
    match attr.kind.as_str() {
        "price" if !text.as_deref().is_some_and(is_decimal) => {
            push(
                errors,
                field,
                format!("The {name} must be a valid decimal."),
            );
        }
        "date" => match text.as_deref().and_then(parse_ymd) {
            None => push(
                errors,
                field,
                format!("The {name} does not match the format Y-m-d."),
            ),
            Some(d) => {
                if attr.code == "expected_close_date" && d < store::today(tz) {
                    push(
                        errors,
                        field,
                        format!("The {name} must be a date after yesterday."),
                    );
                }
            }
        },
        "text" | "textarea" => {
            if text.is_none() {
                push(errors, field, format!("The {name} must be a string."));
            }
            let t = text.unwrap_or_default();
            match attr.validation.as_deref() {
                Some("numeric") if t.parse::<f64>().is_err() => {
                    push(errors, field, format!("The {name} must be a number."))
                }
                Some("email") if !is_email(&t) => push(
                    errors,
                    field,
                    format!("The {name} must be a valid email address."),
                ),
                Some("decimal") if !is_decimal(&t) => push(
                    errors,
                    field,
                    format!("The {name} must be a valid decimal."),
                ),
                Some("url") if !(t.starts_with("http://") || t.starts_with("https://")) => {
                    push(errors, field, format!("The {name} must be a valid URL."))
                }
                _ => {}
            }
        }
        _ => {}
    }
    if attr.is_unique
        && let Some(t) = as_text(value)
        && taken(conn, attr, scope, &t)?
    {
        push(errors, field, format!("The {name} has already been taken."));
    }
    Ok(())
}

/// `emails` / `contact_numbers`: `[{value, label}, ...]`.
fn validate_multi(
    conn: &Connection,
    attr: &AttrRule,
    value: &Value,
    field: &str,
    scope: &Scope,
    errors: &mut FieldErrors,
) -> rusqlite::Result<()> {
    let name = display(field);
    if is_empty(value) {
        if attr.is_required {
            push(errors, field, format!("The {name} field is required."));
        }
        return Ok(());
    }
    let Some(items) = value.as_array() else {
        push(errors, field, format!("The {name} must be an array."));
        return Ok(());
    };
    for (i, item) in items.iter().enumerate() {
        let vfield = format!("{field}.{i}.value");
        let lfield = format!("{field}.{i}.label");
        let v = item.get("value").unwrap_or(&Value::Null);
        let l = item.get("label").unwrap_or(&Value::Null);
        if is_empty(v) {
            if attr.is_required {
                push(errors, &vfield, format!("The {vfield} field is required."));
            }
        } else {
            let text = as_text(v).unwrap_or_default();
            if attr.kind == "email" && !is_email(&text) {
                push(
                    errors,
                    &vfield,
                    format!("The {vfield} must be a valid email address."),
                );
            }
            if attr.is_unique && taken(conn, attr, scope, &text)? {
                push(
                    errors,
                    &vfield,
                    "The value has already been taken.".to_string(),
                );
            }
        }
        if is_empty(l) && attr.is_required {
            push(errors, &lfield, format!("The {lfield} field is required."));
        }
    }
    Ok(())
}

fn validate_address(attr: &AttrRule, value: &Value, field: &str, errors: &mut FieldErrors) {
    if !attr.is_required {
        return;
    }
    for part in ["address", "country", "state", "city", "postcode"] {
        if value.get(part).is_none_or(is_empty) {
            let f = format!("{field}.{part}");
            push(errors, &f, format!("The {f} field is required."));
        }
    }
}

/// Stores the values of user-defined (custom) attributes present in `data`.
pub fn save_custom_values(
    conn: &Connection,
    entity: &str,
    entity_id: i64,
    data: &Map<String, Value>,
) -> rusqlite::Result<()> {
    for attr in attributes_for(conn, entity)? {
        if !attr.is_user_defined {
            continue;
        }
        if let Some(v) = data.get(&attr.code) {
            conn.execute(
                "INSERT INTO attribute_values (entity_type, entity_id, attribute_id, value)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (entity_type, entity_id, attribute_id) DO UPDATE SET value = excluded.value",
                rusqlite::params![entity, entity_id, attr.id, v.to_string()],
            )?;
        }
    }
    // Krayin resets custom booleans that were not sent (§7 "Update traps").
    conn.execute(
        "UPDATE attribute_values SET value = '0'
         WHERE entity_type = ?1 AND entity_id = ?2 AND attribute_id IN
           (SELECT id FROM attributes WHERE entity_type = ?1 AND type = 'boolean' AND is_user_defined = 1)
           AND attribute_id NOT IN (SELECT id FROM attributes WHERE entity_type = ?1 AND code IN
             (SELECT value FROM json_each(?3)))",
        rusqlite::params![
            entity,
            entity_id,
            Value::Array(data.keys().map(|k| Value::String(k.clone())).collect()).to_string()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_emails_skip_the_patterns_and_the_rest_asks_validator() {
        for ok in [
            "jane@acme.test",
            "J.O'Neil+crm@mail-1.example.co.uk",
            "a@b",
            "x@localhost",
        ] {
            assert!(plain_email(ok) && is_email(ok), "{ok}");
        }
        for other in ["jane@[127.0.0.1]", "jane@exämple.test"] {
            assert!(!plain_email(other) && is_email(other), "{other}");
        }
        let long = format!("{}@x.test", "a".repeat(65));
        for bad in [
            "",
            "@x.test",
            "jane@",
            "jane@-x.test",
            "jane@x-.test",
            "jane@x..test",
            "jane@x.test.",
            "ja ne@x.test",
            &long,
        ] {
            assert!(!plain_email(bad) && !is_email(bad), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// What the byte-by-byte shortcut accepts, `validator` accepts.
        #[test]
        fn a_plain_email_is_an_email(s in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~@ \\[\\]:-]{0,20}|[a-z.-]{0,66}@[a-zA-Z0-9.-]{0,70}") {
            if plain_email(&s) {
                use validator::ValidateEmail;
                proptest::prop_assert!(s.validate_email(), "{:?}", s);
            }
        }
    }

    #[test]
    fn decimal_rule_matches_krayin() {
        for ok in ["0", "12500", "12500.5", "12500.1234", ".5", "007"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in [
            "-1",
            "+1",
            "1,5",
            "15.000,00",
            "1.23456",
            "1.",
            "",
            "abc",
            "1e5",
        ] {
            assert!(!is_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn ymd_is_strict() {
        assert!(parse_ymd("2030-01-31").is_some());
        assert!(parse_ymd("2030-02-30").is_none());
        assert!(parse_ymd("31/01/2030").is_none());
        assert!(parse_ymd("2030-1-31").is_none());
    }

    #[test]
    fn trim_spares_passwords() {
        let mut v = json!({"a": " x ", "password": " p ", "n": [" y"]});
        trim_strings(&mut v);
        assert_eq!(v, json!({"a": "x", "password": " p ", "n": ["y"]}));
    }
}
