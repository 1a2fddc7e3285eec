//! `/_sandbox/stats`: what tests and demos need to see inside the sandbox (sandbox only; Krayin
//! has no such route). Record counts, duplicates (persons sharing an e-mail case-insensitively,
//! leads with the same title and person), requests served by route and status, throttled
//! requests, and the faults injected so far.

use std::collections::BTreeMap;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::ok;
use crate::sandbox::SharedState;
use crate::sandbox::error::{ApiError, WasThrottled};

#[derive(Debug, Default, Serialize)]
pub struct RequestStats {
    pub total: u64,
    /// `"POST /api/v1/leads"` → status → count.
    pub by_route: BTreeMap<String, BTreeMap<u16, u64>>,
    pub throttled: u64,
}

/// Counts every request by its route pattern and final status.
pub async fn record(State(s): State<SharedState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(no route)".into());
    let key = format!("{} {}", req.method(), route);
    let inspect = route.starts_with("/_sandbox");
    let res = next.run(req).await;
    if !inspect {
        let mut stats = s.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.total += 1;
        *stats
            .by_route
            .entry(key)
            .or_default()
            .entry(res.status().as_u16())
            .or_default() += 1;
        if res.extensions().get::<WasThrottled>().is_some() {
            stats.throttled += 1;
        }
    }
    res
}

fn count(db: &rusqlite::Connection, sql: &str) -> rusqlite::Result<i64> {
    db.query_row(sql, [], |r| r.get(0))
}

pub async fn stats(State(s): State<SharedState>) -> Result<Response, ApiError> {
    let (counts, person_emails, leads) = records(&s.db())?;
    let requests = serde_json::to_value(&*s.stats.lock().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or(Value::Null);
    let faults =
        serde_json::to_value(&*s.faults.injected.lock().unwrap_or_else(|p| p.into_inner()))
            .unwrap_or(Value::Null);
    Ok(ok(json!({
        "counts": counts,
        "duplicates": {"person_emails": person_emails, "leads": leads},
        "requests": requests,
        "faults": faults,
    })))
}

type Records = (Value, Vec<Value>, Vec<Value>);

fn records(db: &rusqlite::Connection) -> rusqlite::Result<Records> {
    let counts = json!({
        "leads": count(db, "SELECT COUNT(*) FROM leads")?,
        "persons": count(db, "SELECT COUNT(*) FROM persons")?,
        "organizations": count(db, "SELECT COUNT(*) FROM organizations")?,
        "activities": count(db, "SELECT COUNT(*) FROM activities WHERE type != 'system'")?,
        "system_activities": count(db, "SELECT COUNT(*) FROM activities WHERE type = 'system'")?,
        "tokens": count(db, "SELECT COUNT(*) FROM personal_access_tokens")?,
    });
    let mut stmt = db.prepare(
        "SELECT lower(json_extract(j.value, '$.value')) AS e, group_concat(DISTINCT p.id)
         FROM persons p, json_each(p.emails) j
         WHERE json_valid(p.emails) AND e IS NOT NULL AND e != ''
         GROUP BY e HAVING COUNT(DISTINCT p.id) > 1 ORDER BY e",
    )?;
    let person_emails: Vec<Value> = stmt
        .query_map([], |r| {
            Ok(json!({"email": r.get::<_, String>(0)?, "person_ids": ids(&r.get::<_, String>(1)?)}))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = db.prepare(
        "SELECT title, person_id, group_concat(id) FROM leads
         GROUP BY title, person_id HAVING COUNT(*) > 1 ORDER BY title",
    )?;
    let leads: Vec<Value> = stmt
        .query_map([], |r| {
            Ok(json!({
                "title": r.get::<_, String>(0)?,
                "person_id": r.get::<_, Option<i64>>(1)?,
                "lead_ids": ids(&r.get::<_, String>(2)?),
            }))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((counts, person_emails, leads))
}

fn ids(list: &str) -> Vec<i64> {
    list.split(',').filter_map(|s| s.parse().ok()).collect()
}
