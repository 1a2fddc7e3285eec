//! The sandbox's SQLite store: Krayin's tables (the columns the API exposes and filters on),
//! the seed of a fresh Krayin 2.1 install (§11), and row → wire type conversions.
//!
//! Datetimes are stored as Laravel stores them: wall time in the server's `APP_TIMEZONE`,
//! `Y-m-d H:i:s`, whole seconds. They leave as ISO-8601 UTC with microseconds (§12), so a
//! date-only `expected_close_date` comes back as the server's midnight in UTC.
//!
//! Not here: validation ([`super::rules`]) or HTTP.

use std::path::Path;

use anyhow::Context as _;
use jiff::tz::TimeZone;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::krayin::model::{
    Activity, Attribute, LabeledValue, Lead, LeadProduct, NamedItem, Organization, Participant,
    Person, Pipeline, Role, Stage, User,
};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS roles (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, description TEXT, permission_type TEXT NOT NULL,
  permissions TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 1,
  view_permission TEXT NOT NULL DEFAULT 'global', role_id INTEGER REFERENCES roles(id),
  image TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS personal_access_tokens (
  id INTEGER PRIMARY KEY, tokenable_type TEXT NOT NULL DEFAULT 'Webkul\User\Models\User',
  tokenable_id INTEGER NOT NULL, name TEXT NOT NULL, token TEXT NOT NULL UNIQUE, abilities TEXT,
  last_used_at TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS lead_sources (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS lead_types (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS lead_pipelines (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0,
  rotten_days INTEGER NOT NULL DEFAULT 30, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS lead_pipeline_stages (
  id INTEGER PRIMARY KEY, code TEXT, name TEXT NOT NULL, probability INTEGER NOT NULL DEFAULT 0,
  sort_order INTEGER NOT NULL DEFAULT 0,
  lead_pipeline_id INTEGER NOT NULL REFERENCES lead_pipelines(id) ON DELETE CASCADE,
  created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS organizations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, address TEXT,
  user_id INTEGER REFERENCES users(id) ON DELETE SET NULL, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS persons (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, emails TEXT NOT NULL, contact_numbers TEXT,
  job_title TEXT, user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  organization_id INTEGER REFERENCES organizations(id) ON DELETE SET NULL,
  created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS leads (
  id INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '', description TEXT, lead_value TEXT,
  status INTEGER, lost_reason TEXT, closed_at TEXT,
  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
  person_id INTEGER REFERENCES persons(id) ON DELETE RESTRICT,
  lead_source_id INTEGER REFERENCES lead_sources(id) ON DELETE CASCADE,
  lead_type_id INTEGER REFERENCES lead_types(id) ON DELETE CASCADE,
  lead_pipeline_id INTEGER REFERENCES lead_pipelines(id) ON DELETE CASCADE,
  lead_pipeline_stage_id INTEGER REFERENCES lead_pipeline_stages(id) ON DELETE CASCADE,
  expected_close_date TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS products (
  id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE, name TEXT NOT NULL, description TEXT,
  quantity INTEGER NOT NULL DEFAULT 0, price TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS lead_products (
  id INTEGER PRIMARY KEY, lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
  product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  quantity INTEGER NOT NULL DEFAULT 0, price TEXT, amount TEXT, created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS activities (
  id INTEGER PRIMARY KEY, parent_id INTEGER, title TEXT, type TEXT NOT NULL, comment TEXT,
  additional TEXT, location TEXT, schedule_from TEXT, schedule_to TEXT,
  is_done INTEGER NOT NULL DEFAULT 0, user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
  created_at TEXT, updated_at TEXT);
CREATE TABLE IF NOT EXISTS lead_activities (
  activity_id INTEGER NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
  lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS person_activities (
  activity_id INTEGER NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
  person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS activity_participants (
  id INTEGER PRIMARY KEY, activity_id INTEGER NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
  user_id INTEGER, person_id INTEGER);
CREATE TABLE IF NOT EXISTS attributes (
  id INTEGER PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
  lookup_type TEXT, entity_type TEXT NOT NULL, sort_order INTEGER, validation TEXT,
  is_required INTEGER NOT NULL DEFAULT 0, is_unique INTEGER NOT NULL DEFAULT 0,
  quick_add INTEGER NOT NULL DEFAULT 0, is_user_defined INTEGER NOT NULL DEFAULT 1,
  created_at TEXT, updated_at TEXT, UNIQUE (code, entity_type));
CREATE TABLE IF NOT EXISTS attribute_values (
  id INTEGER PRIMARY KEY, entity_type TEXT NOT NULL, entity_id INTEGER NOT NULL,
  attribute_id INTEGER NOT NULL REFERENCES attributes(id) ON DELETE CASCADE, value TEXT,
  UNIQUE (entity_type, entity_id, attribute_id));
CREATE INDEX IF NOT EXISTS leads_person ON leads(person_id);
CREATE INDEX IF NOT EXISTS leads_updated ON leads(updated_at);
CREATE INDEX IF NOT EXISTS lead_activities_lead ON lead_activities(lead_id);
CREATE INDEX IF NOT EXISTS person_activities_person ON person_activities(person_id);
CREATE INDEX IF NOT EXISTS participants_activity ON activity_participants(activity_id);
"#;

/// Opens the store, creating and seeding it when it is new. `None` = in memory.
pub fn open(path: Option<&Path>, tz: &TimeZone) -> anyhow::Result<Connection> {
    let conn = match path {
        Some(p) if p.as_os_str() != ":memory:" => Connection::open(p)
            .with_context(|| format!("cannot open the sandbox database {}", p.display()))?,
        _ => Connection::open_in_memory()?,
    };
    // WAL + NORMAL: durable enough for an emulator, and fast enough that the sandbox is never
    // the bottleneck of a benchmark run at Krayin's quota.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;",
    )?;
    conn.execute_batch(SCHEMA)
        .context("cannot create the sandbox schema")?;
    let seeded: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    if seeded == 0 {
        seed(&conn, tz).context("cannot seed the sandbox")?;
    }
    Ok(conn)
}

/// The admin account of a fresh install.
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin123";

/// What a fresh Krayin 2.1 install holds (CRM installer seeders, §11).
fn seed(conn: &Connection, tz: &TimeZone) -> rusqlite::Result<()> {
    let now = now_wall(tz);
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO roles (id, name, description, permission_type, permissions, created_at, updated_at)
         VALUES (1, 'Administrator', 'Administrator role', 'all', NULL, ?1, ?1)",
        [&now],
    )?;
    tx.execute(
        "INSERT INTO users (id, name, email, password, status, view_permission, role_id, created_at, updated_at)
         VALUES (1, 'Example Admin', ?1, ?2, 1, 'global', 1, ?3, ?3)",
        params![ADMIN_EMAIL, hash_password(ADMIN_PASSWORD), now],
    )?;
    tx.execute(
        "INSERT INTO lead_pipelines (id, name, is_default, rotten_days, created_at, updated_at)
         VALUES (1, 'Default Pipeline', 1, 30, ?1, ?1)",
        [&now],
    )?;
    for (id, code, name, probability) in [
        (1, "new", "New", 100),
        (2, "follow-up", "Follow Up", 100),
        (3, "prospect", "Prospect", 100),
        (4, "negotiation", "Negotiation", 100),
        (5, "won", "Won", 100),
        (6, "lost", "Lost", 0),
    ] {
        tx.execute(
            "INSERT INTO lead_pipeline_stages (id, code, name, probability, sort_order, lead_pipeline_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?1, 1, ?5, ?5)",
            params![id, code, name, probability, now],
        )?;
    }
    for (id, name) in [
        (1, "Email"),
        (2, "Web"),
        (3, "Web Form"),
        (4, "Phone"),
        (5, "Direct"),
    ] {
        tx.execute(
            "INSERT INTO lead_sources (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            params![id, name, now],
        )?;
    }
    for (id, name) in [(1, "New Business"), (2, "Existing Business")] {
        tx.execute(
            "INSERT INTO lead_types (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            params![id, name, now],
        )?;
    }
    // (code, name, type, lookup_type, entity_type, sort_order, is_required, is_unique, quick_add)
    // as CRM's AttributeSeeder; `validation` is empty for all of them.
    type SeedAttribute<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
        i64,
        i64,
        i64,
        i64,
    );
    let attributes: &[SeedAttribute] = &[
        ("title", "Title", "text", None, "leads", 1, 1, 0, 1),
        (
            "description",
            "Description",
            "textarea",
            None,
            "leads",
            2,
            0,
            0,
            1,
        ),
        (
            "lead_value",
            "Lead Value",
            "price",
            None,
            "leads",
            3,
            1,
            0,
            1,
        ),
        (
            "lead_source_id",
            "Source",
            "select",
            Some("lead_sources"),
            "leads",
            4,
            1,
            0,
            1,
        ),
        (
            "lead_type_id",
            "Type",
            "select",
            Some("lead_types"),
            "leads",
            5,
            1,
            0,
            1,
        ),
        (
            "user_id",
            "Sales Owner",
            "select",
            Some("users"),
            "leads",
            7,
            0,
            0,
            1,
        ),
        (
            "expected_close_date",
            "Expected Close Date",
            "date",
            None,
            "leads",
            8,
            0,
            0,
            1,
        ),
        (
            "lead_pipeline_id",
            "Pipeline",
            "lookup",
            Some("lead_pipelines"),
            "leads",
            9,
            1,
            0,
            1,
        ),
        (
            "lead_pipeline_stage_id",
            "Stage",
            "lookup",
            Some("lead_pipeline_stages"),
            "leads",
            10,
            1,
            0,
            1,
        ),
        ("name", "Name", "text", None, "persons", 1, 1, 0, 1),
        ("emails", "Emails", "email", None, "persons", 2, 1, 1, 1),
        (
            "contact_numbers",
            "Contact Numbers",
            "phone",
            None,
            "persons",
            3,
            0,
            1,
            1,
        ),
        (
            "job_title",
            "Job Title",
            "text",
            None,
            "persons",
            4,
            0,
            0,
            1,
        ),
        (
            "user_id",
            "Sales Owner",
            "select",
            Some("users"),
            "persons",
            5,
            0,
            0,
            1,
        ),
        (
            "organization_id",
            "Organization",
            "lookup",
            Some("organizations"),
            "persons",
            6,
            0,
            0,
            1,
        ),
        ("name", "Name", "text", None, "organizations", 1, 1, 1, 1),
        (
            "address",
            "Address",
            "address",
            None,
            "organizations",
            2,
            0,
            0,
            1,
        ),
        (
            "user_id",
            "Sales Owner",
            "select",
            Some("users"),
            "organizations",
            3,
            0,
            0,
            1,
        ),
        ("name", "Name", "text", None, "products", 1, 1, 0, 1),
        (
            "description",
            "Description",
            "textarea",
            None,
            "products",
            2,
            0,
            0,
            1,
        ),
        ("sku", "SKU", "text", None, "products", 3, 1, 1, 1),
        ("quantity", "Quantity", "text", None, "products", 4, 1, 0, 1),
        ("price", "Price", "price", None, "products", 5, 1, 0, 1),
    ];
    for (code, name, kind, lookup, entity, order, required, unique, quick) in attributes {
        tx.execute(
            "INSERT INTO attributes (code, name, type, lookup_type, entity_type, sort_order, validation,
               is_required, is_unique, quick_add, is_user_defined, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, 0, ?10, ?10)",
            params![code, name, kind, lookup, entity, order, required, unique, quick, now],
        )?;
    }
    tx.commit()
}

/// Krayin stores bcrypt hashes; the sandbox stores SHA-256 (a documented difference: login
/// speed is not what the sandbox models).
pub fn hash_password(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

/// Sanctum stores the SHA-256 of the token's secret part.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn revoke_all_tokens(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM personal_access_tokens", [])
}

// ---------------------------------------------------------------------------------------------
// Time (§12)

/// Now, as Laravel stores it: server wall time, whole seconds.
pub fn now_wall(tz: &TimeZone) -> String {
    jiff::Timestamp::now()
        .to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Today in the server's zone.
pub fn today(tz: &TimeZone) -> jiff::civil::Date {
    jiff::Timestamp::now().to_zoned_datetime(tz.clone()).date()
}

/// A stored wall time (or date) → ISO-8601 UTC with microseconds, as Laravel serializes it.
pub fn iso(stored: Option<String>, tz: &TimeZone) -> Option<String> {
    let s = stored?;
    let civil = if s.len() == 10 {
        s.parse::<jiff::civil::Date>()
            .ok()?
            .to_datetime(jiff::civil::Time::midnight())
    } else {
        s.replace(' ', "T").parse::<jiff::civil::DateTime>().ok()?
    };
    let ts = civil.to_zoned_datetime(tz.clone()).ok()?.timestamp();
    Some(format!("{}Z", ts.strftime("%Y-%m-%dT%H:%M:%S.%6f")))
}

/// A wall time sent by a client (`Y-m-d H:i:s`, or ISO with an offset that Laravel drops) →
/// stored form, or `None` if unreadable.
pub fn parse_wall(input: &str) -> Option<String> {
    let s = input.trim();
    // Laravel keeps the wall time and drops any offset (§12).
    let core: String = s.chars().take(19).collect();
    let dt = core
        .replace('T', " ")
        .replace(' ', "T")
        .parse::<jiff::civil::DateTime>()
        .ok()
        .or_else(|| {
            s.get(..10)?
                .parse::<jiff::civil::Date>()
                .ok()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })?;
    Some(dt.strftime("%Y-%m-%d %H:%M:%S").to_string())
}

// ---------------------------------------------------------------------------------------------
// Decimals

/// DECIMAL(12,4): `12500.5` → `12500.5000`; MySQL in non-strict mode clamps out-of-range
/// values to the column's maximum with a warning (§14), and so does the sandbox.
pub fn decimal4(input: &str) -> String {
    const MAX: &str = "99999999.9999";
    let s = input.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    if int.len() > 8 {
        return MAX.to_string();
    }
    let mut frac: String = frac.chars().take(4).collect();
    while frac.len() < 4 {
        frac.push('0');
    }
    format!("{int}.{frac}")
}

// ---------------------------------------------------------------------------------------------
// Rows → wire types

fn json_col(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

pub fn role(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<Role>> {
    conn.query_row(
        "SELECT id, name, description, permission_type, permissions, created_at, updated_at
         FROM roles WHERE id = ?1",
        [id],
        |r| {
            Ok(Role {
                id: r.get::<_, i64>(0)? as u64,
                name: r.get(1)?,
                description: r.get(2)?,
                permission_type: r.get(3)?,
                permissions: json_col(r.get(4)?),
                created_at: iso(r.get(5)?, tz),
                updated_at: iso(r.get(6)?, tz),
            })
        },
    )
    .optional()
}

pub fn user(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<User>> {
    let row = conn
        .query_row(
            "SELECT id, name, email, status, view_permission, role_id, image, created_at, updated_at
             FROM users WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((id, name, email, status, view_permission, role_id, image, created, updated)) = row
    else {
        return Ok(None);
    };
    let role = match role_id {
        Some(rid) => role(conn, tz, rid)?,
        None => None,
    };
    Ok(Some(User {
        id: id as u64,
        name,
        email,
        status: Some(status as u64),
        view_permission: Some(view_permission),
        role,
        created_at: iso(created, tz),
        updated_at: iso(updated, tz),
        image_url: image.clone(),
        image,
    }))
}

pub fn organization(
    conn: &Connection,
    tz: &TimeZone,
    id: i64,
) -> rusqlite::Result<Option<Organization>> {
    conn.query_row(
        "SELECT id, name, address, created_at, updated_at FROM organizations WHERE id = ?1",
        [id],
        |r| {
            Ok(Organization {
                id: r.get::<_, i64>(0)? as u64,
                name: r.get(1)?,
                address: json_col(r.get(2)?),
                created_at: iso(r.get(3)?, tz),
                updated_at: iso(r.get(4)?, tz),
            })
        },
    )
    .optional()
}

fn labeled(s: Option<String>) -> Option<Vec<LabeledValue>> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

pub fn person(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<Person>> {
    let row = conn
        .query_row(
            "SELECT id, name, emails, contact_numbers, organization_id, job_title, user_id,
                    created_at, updated_at
             FROM persons WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((id, name, emails, phones, org_id, job_title, user_id, created, updated)) = row else {
        return Ok(None);
    };
    Ok(Some(Person {
        id: id as u64,
        name,
        emails: labeled(emails).unwrap_or_default(),
        contact_numbers: labeled(phones),
        organization: match org_id {
            Some(o) => organization(conn, tz, o)?,
            None => None,
        },
        job_title,
        sales_owner: match user_id {
            Some(u) => user(conn, tz, u)?,
            None => None,
        },
        created_at: iso(created, tz),
        updated_at: iso(updated, tz),
    }))
}

pub fn lead(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<Lead>> {
    let row = conn
        .query_row(
            "SELECT id, title, description, lead_value, status, lost_reason, closed_at, user_id,
                    person_id, lead_source_id, lead_type_id, lead_pipeline_id,
                    lead_pipeline_stage_id, created_at, updated_at, expected_close_date
             FROM leads WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                    ),
                    (
                        r.get::<_, Option<i64>>(8)?,
                        r.get::<_, Option<i64>>(9)?,
                        r.get::<_, Option<i64>>(10)?,
                        r.get::<_, Option<i64>>(11)?,
                        r.get::<_, Option<i64>>(12)?,
                        r.get::<_, Option<String>>(13)?,
                        r.get::<_, Option<String>>(14)?,
                        r.get::<_, Option<String>>(15)?,
                    ),
                ))
            },
        )
        .optional()?;
    let Some((
        (id, title, description, lead_value, status, lost_reason, closed_at, user_id),
        (person_id, source, kind, pipeline, stage, created, updated, close_date),
    )) = row
    else {
        return Ok(None);
    };
    let products = lead_products(conn, tz, id)?;
    Ok(Some(Lead {
        id: id as u64,
        title: Some(title),
        description,
        lead_value,
        status: status.map(|s| s as u64),
        lost_reason,
        closed_at: iso(closed_at, tz),
        user: match user_id {
            Some(u) => user(conn, tz, u)?,
            None => None,
        },
        person: match person_id {
            Some(p) => person(conn, tz, p)?,
            None => None,
        },
        lead_products: products,
        lead_source_id: source.map(|v| v as u64),
        lead_type_id: kind.map(|v| v as u64),
        lead_pipeline_id: pipeline.map(|v| v as u64),
        lead_pipeline_stage_id: stage.map(|v| v as u64),
        created_at: iso(created, tz),
        updated_at: iso(updated, tz),
        expected_close_date: iso(close_date, tz),
    }))
}

fn lead_products(
    conn: &Connection,
    tz: &TimeZone,
    lead_id: i64,
) -> rusqlite::Result<Vec<LeadProduct>> {
    let mut stmt = conn.prepare_cached(
        "SELECT lp.id, lp.quantity, lp.price, lp.amount, lp.created_at, lp.updated_at,
                p.id, p.sku, p.name, p.price
         FROM lead_products lp JOIN products p ON p.id = lp.product_id
         WHERE lp.lead_id = ?1 ORDER BY lp.id",
    )?;
    let rows = stmt.query_map([lead_id], |r| {
        Ok(LeadProduct {
            id: r.get::<_, i64>(0)? as u64,
            quantity: Some(r.get::<_, i64>(1)?.to_string()),
            price: r.get(2)?,
            amount: r.get(3)?,
            created_at: iso(r.get(4)?, tz),
            updated_at: iso(r.get(5)?, tz),
            product: Some(serde_json::json!({
                "id": r.get::<_, i64>(6)?,
                "sku": r.get::<_, String>(7)?,
                "name": r.get::<_, String>(8)?,
                "price": r.get::<_, Option<String>>(9)?,
            })),
        })
    })?;
    rows.collect()
}

pub fn named_item(
    conn: &Connection,
    tz: &TimeZone,
    table: &str,
    id: i64,
) -> rusqlite::Result<Option<NamedItem>> {
    conn.query_row(
        &format!("SELECT id, name, created_at, updated_at FROM {table} WHERE id = ?1"),
        [id],
        |r| {
            Ok(NamedItem {
                id: r.get::<_, i64>(0)? as u64,
                name: r.get(1)?,
                created_at: iso(r.get(2)?, tz),
                updated_at: iso(r.get(3)?, tz),
            })
        },
    )
    .optional()
}

pub fn pipeline(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<Pipeline>> {
    let row = conn
        .query_row(
            "SELECT id, name, is_default, rotten_days, created_at, updated_at
             FROM lead_pipelines WHERE id = ?1",
            [id],
            |r| {
                Ok(Pipeline {
                    id: r.get::<_, i64>(0)? as u64,
                    name: r.get(1)?,
                    is_default: Some(r.get::<_, i64>(2)? as u64),
                    rotten_days: Some(r.get::<_, i64>(3)? as u64),
                    stages: Vec::new(),
                    created_at: iso(r.get(4)?, tz),
                    updated_at: iso(r.get(5)?, tz),
                })
            },
        )
        .optional()?;
    let Some(mut p) = row else { return Ok(None) };
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.code, s.name, s.created_at, s.updated_at,
                (SELECT COALESCE(SUM(CAST(l.lead_value AS REAL)), 0) FROM leads l
                 WHERE l.lead_pipeline_stage_id = s.id)
         FROM lead_pipeline_stages s WHERE s.lead_pipeline_id = ?1 ORDER BY s.sort_order, s.id",
    )?;
    p.stages = stmt
        .query_map([id], |r| {
            let value: f64 = r.get(5)?;
            Ok(Stage {
                id: r.get::<_, i64>(0)? as u64,
                code: r.get(1)?,
                name: r.get(2)?,
                lead_value: Some(format!("{value:.4}")),
                formatted_lead_value: Some(format!("${value:.2}")),
                // Seeded stages are Krayin's own; user-defined ones come from the UI only.
                is_user_defined: Some(0),
                created_at: iso(r.get(3)?, tz),
                updated_at: iso(r.get(4)?, tz),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(p))
}

pub fn attribute(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<Attribute>> {
    conn.query_row(
        "SELECT id, code, name, type, lookup_type, entity_type, sort_order, validation,
                is_required, is_unique, quick_add, is_user_defined, created_at, updated_at
         FROM attributes WHERE id = ?1",
        [id],
        |r| {
            Ok(Attribute {
                id: r.get::<_, i64>(0)? as u64,
                code: r.get(1)?,
                name: r.get(2)?,
                kind: r.get(3)?,
                lookup_type: r.get(4)?,
                entity_type: r.get(5)?,
                sort_order: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                validation: r.get(7)?,
                is_required: Some(r.get::<_, i64>(8)? as u64),
                is_unique: Some(r.get::<_, i64>(9)? as u64),
                quick_add: Some(r.get::<_, i64>(10)? as u64),
                is_user_defined: Some(r.get::<_, i64>(11)? as u64),
                options: Some(Value::Array(vec![])),
                created_at: iso(r.get(12)?, tz),
                updated_at: iso(r.get(13)?, tz),
            })
        },
    )
    .optional()
}

pub fn activity(conn: &Connection, tz: &TimeZone, id: i64) -> rusqlite::Result<Option<Activity>> {
    let row = conn
        .query_row(
            "SELECT id, parent_id, title, type, comment, additional, schedule_from, schedule_to,
                    is_done, user_id, location, created_at, updated_at
             FROM activities WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    (
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ),
                    (
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, Option<i64>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, Option<String>>(11)?,
                        r.get::<_, Option<String>>(12)?,
                    ),
                ))
            },
        )
        .optional()?;
    let Some((
        (id, parent_id, title, kind, comment, additional, from),
        (to, is_done, user_id, location, created, updated),
    )) = row
    else {
        return Ok(None);
    };
    let mut participants = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, person_id FROM activity_participants WHERE activity_id = ?1 ORDER BY id",
    )?;
    let rows: Vec<(Option<i64>, Option<i64>)> = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (u, p) in rows {
        participants.push(Participant {
            user: match u {
                Some(u) => user(conn, tz, u)?,
                None => None,
            },
            person: match p {
                Some(p) => person(conn, tz, p)?,
                None => None,
            },
        });
    }
    Ok(Some(Activity {
        id: id as u64,
        parent_id: parent_id.map(|v| v as u64),
        title,
        kind,
        comment,
        additional: json_col(additional),
        schedule_from: iso(from, tz),
        schedule_to: iso(to, tz),
        is_done: Some(is_done as u64),
        user: match user_id {
            Some(u) => user(conn, tz, u)?,
            None => None,
        },
        files: Vec::new(),
        participants,
        location,
        created_at: iso(created, tz),
        updated_at: iso(updated, tz),
    }))
}

/// Records one `system` activity (CRM `LogsActivity`): on every lead or person create and on
/// every changed attribute.
pub fn log_system_activity(
    conn: &Connection,
    tz: &TimeZone,
    user_id: i64,
    link: SystemLink,
    title: &str,
    additional: Option<Value>,
) -> rusqlite::Result<()> {
    let now = now_wall(tz);
    conn.execute(
        "INSERT INTO activities (title, type, additional, is_done, user_id, created_at, updated_at)
         VALUES (?1, 'system', ?2, 1, ?3, ?4, ?4)",
        params![title, additional.map(|v| v.to_string()), user_id, now],
    )?;
    let activity_id = conn.last_insert_rowid();
    match link {
        SystemLink::Lead(id) => conn.execute(
            "INSERT INTO lead_activities (activity_id, lead_id) VALUES (?1, ?2)",
            [activity_id, id],
        )?,
        SystemLink::Person(id) => conn.execute(
            "INSERT INTO person_activities (activity_id, person_id) VALUES (?1, ?2)",
            [activity_id, id],
        )?,
    };
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum SystemLink {
    Lead(i64),
    Person(i64),
}

/// The user a bearer token (`id|secret`, or a bare secret) belongs to.
pub fn token_user(conn: &Connection, token: &str) -> rusqlite::Result<Option<(i64, String)>> {
    let (id, secret) = match token.split_once('|') {
        Some((id, secret)) => (id.parse::<i64>().ok(), secret),
        None => (None, token),
    };
    let hash = hash_token(secret);
    let found: Option<(i64, i64)> = conn
        .query_row(
            "SELECT id, tokenable_id FROM personal_access_tokens WHERE token = ?1",
            [&hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((token_id, user_id)) = found else {
        return Ok(None);
    };
    if id.is_some_and(|id| id != token_id) {
        return Ok(None);
    }
    conn.query_row(
        "SELECT id, view_permission FROM users WHERE id = ?1",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_padded_and_clamped() {
        assert_eq!(decimal4("12500"), "12500.0000");
        assert_eq!(decimal4("12500.5"), "12500.5000");
        assert_eq!(decimal4(".5"), "0.5000");
        assert_eq!(decimal4("0099.12345"), "99.1234");
        assert_eq!(decimal4("123456789"), "99999999.9999");
    }

    #[test]
    fn dates_leave_as_server_midnight_in_utc() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(
            iso(Some("2030-01-31".into()), &tz).unwrap(),
            "2030-01-30T18:30:00.000000Z"
        );
        assert_eq!(
            iso(Some("2025-05-01 13:30:00".into()), &tz).unwrap(),
            "2025-05-01T08:00:00.000000Z"
        );
    }

    #[test]
    fn wall_times_drop_offsets() {
        assert_eq!(
            parse_wall("2030-01-02 10:00:00").unwrap(),
            "2030-01-02 10:00:00"
        );
        assert_eq!(
            parse_wall("2030-01-02T10:00:00+05:00").unwrap(),
            "2030-01-02 10:00:00"
        );
        assert_eq!(parse_wall("2030-01-02").unwrap(), "2030-01-02 00:00:00");
        assert!(parse_wall("tomorrow").is_none());
    }

    #[test]
    fn a_fresh_store_is_seeded_once() {
        let tz = TimeZone::get("Asia/Kolkata").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(open(Some(&path), &tz).unwrap());
        let conn = open(Some(&path), &tz).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM lead_pipeline_stages", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 6);
        let p = pipeline(&conn, &tz, 1).unwrap().unwrap();
        let codes: Vec<_> = p.stages.iter().map(|s| s.code.clone().unwrap()).collect();
        assert_eq!(
            codes,
            ["new", "follow-up", "prospect", "negotiation", "won", "lost"]
        );
    }
}
