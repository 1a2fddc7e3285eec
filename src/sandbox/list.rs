//! List and search endpoints (contract §6).
//!
//! Lists (RA `Controller::allResources`): `page`, `limit` (default 10, no maximum), `sort`
//! (default `id`), `order` (default `desc`, anything but asc/desc → 500), `pagination=0` (whole
//! table), and every other parameter an exact `WHERE column IN (...)` filter; a parameter that is
//! not a column is an SQL error (500). The pagination links carry only `page`.
//!
//! Search endpoints (prettus `RequestCriteria`): `search`, `searchFields`, `searchJoin`,
//! `orderBy`, `sortedBy`, `limit`; unpaginated, and `limit` only applies when `search` or
//! `orderBy` is given.
//!
//! Not here: turning ids into resources (the routes do that with [`super::store`]).

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::error::ApiError;

/// Query parameters in the order sent; a repeated key keeps its last value, as PHP does.
pub type Params = Vec<(String, String)>;

pub fn parse_params(raw: Option<&str>) -> Params {
    let mut out: Params = Vec::new();
    for (k, v) in form_urlencoded_pairs(raw.unwrap_or("")) {
        if let Some(slot) = out.iter_mut().find(|(key, _)| *key == k) {
            slot.1 = v;
        } else {
            out.push((k, v));
        }
    }
    out
}

fn form_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default()
}

pub fn get<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(&format!("PRAGMA table_info({table})"))?;
    stmt.query_map([], |r| r.get::<_, String>(1))?.collect()
}

fn unknown_column(table: &str, column: &str) -> ApiError {
    ApiError::server(format!(
        "SQLSTATE[42S22]: Column not found: 1054 Unknown column '{table}.{column}' in 'where clause'"
    ))
}

/// One page (or the whole table) of ids.
pub struct Listing {
    pub ids: Vec<i64>,
    /// `None` with `pagination=0`.
    pub page: Option<PageInfo>,
}

pub struct PageInfo {
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// Runs a §6 list query on `table`. `extra_where` narrows it further (e.g. to one entity type)
/// without being visible to the client.
pub fn list_ids(
    conn: &Connection,
    table: &str,
    params: &Params,
    extra_where: Option<&str>,
) -> Result<Listing, ApiError> {
    let cols = columns(conn, table)?;
    let mut clauses: Vec<String> = extra_where.map(|w| vec![w.to_string()]).unwrap_or_default();
    let mut args: Vec<SqlValue> = Vec::new();
    for (key, value) in params {
        // Stripped or consumed by the controller; everything else is a column filter.
        if matches!(
            key.as_str(),
            "page" | "limit" | "sort" | "order" | "pagination" | "entity_type"
        ) {
            continue;
        }
        if !cols.iter().any(|c| c == key) {
            return Err(unknown_column(table, key));
        }
        let values: Vec<&str> = value.split(',').map(str::trim).collect();
        let marks = vec!["?"; values.len()].join(", ");
        clauses.push(format!("{table}.{key} IN ({marks})"));
        args.extend(values.into_iter().map(|v| SqlValue::Text(v.to_string())));
    }
    let sort = get(params, "sort")
        .filter(|s| !s.is_empty())
        .unwrap_or("id");
    if !cols.iter().any(|c| c == sort) {
        return Err(ApiError::server(format!(
            "SQLSTATE[42S22]: Column not found: 1054 Unknown column '{table}.{sort}' in 'order clause'"
        )));
    }
    let order = match get(params, "order").filter(|s| !s.is_empty()) {
        None => "DESC",
        Some(o) if o.eq_ignore_ascii_case("asc") => "ASC",
        Some(o) if o.eq_ignore_ascii_case("desc") => "DESC",
        Some(_) => {
            return Err(ApiError::server(
                "Order direction must be \"asc\" or \"desc\".",
            ));
        }
    };
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    // Decimals are stored as text; sort them as numbers, as MySQL's DECIMAL would.
    let sort_expr = if sort == "lead_value" || sort == "price" {
        format!("CAST({table}.{sort} AS REAL)")
    } else {
        format!("{table}.{sort}")
    };
    // Ties (same updated_at second, say) fall back to the id, in the same direction.
    let order_sql = format!("ORDER BY {sort_expr} {order}, {table}.id {order}");
    let paginate = get(params, "pagination") != Some("0");
    if !paginate {
        let sql = format!("SELECT {table}.id FROM {table} {where_sql} {order_sql}");
        let ids = query_ids(conn, &sql, &args)?;
        return Ok(Listing { ids, page: None });
    }
    let per_page = get(params, "limit")
        .and_then(|l| l.trim().parse::<u64>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(10);
    let page = get(params, "page")
        .and_then(|p| p.trim().parse::<u64>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(1);
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {table} {where_sql}"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT {table}.id FROM {table} {where_sql} {order_sql} LIMIT {per_page} OFFSET {}",
        (page - 1).saturating_mul(per_page)
    );
    let ids = query_ids(conn, &sql, &args)?;
    Ok(Listing {
        ids,
        page: Some(PageInfo {
            page,
            per_page,
            total: total as u64,
        }),
    })
}

fn query_ids(conn: &Connection, sql: &str, args: &[SqlValue]) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = conn.prepare(sql)?;
    stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?
        .collect()
}

/// Laravel's paginated resource collection around `data` (§6): links carry only `page`.
pub fn paginated(data: Vec<Value>, info: &PageInfo, path: &str) -> Value {
    let last_page = info.total.div_ceil(info.per_page).max(1);
    let url = |p: u64| format!("{path}?page={p}");
    let count = data.len() as u64;
    let from = (count > 0).then(|| (info.page - 1) * info.per_page + 1);
    let to = from.map(|f| f + count - 1);
    json!({
        "data": data,
        "links": {
            "first": url(1),
            "last": url(last_page),
            "prev": (info.page > 1).then(|| url(info.page - 1)),
            "next": (info.page < last_page).then(|| url(info.page + 1)),
        },
        "meta": {
            "current_page": info.page,
            "from": from,
            "last_page": last_page,
            "links": meta_links(info.page, last_page, &url),
            "path": path,
            "per_page": info.per_page,
            "to": to,
            "total": info.total,
        }
    })
}

/// Laravel's `UrlWindow` with `onEachSide = 3`.
fn meta_links(current: u64, last: u64, url: &dyn Fn(u64) -> String) -> Vec<Value> {
    let on_each_side = 3u64;
    let page = |p: u64| json!({"url": url(p), "label": p.to_string(), "active": p == current});
    let dots = || json!({"url": null, "label": "...", "active": false});
    let range = |a: u64, b: u64| (a..=b).map(page).collect::<Vec<_>>();
    let mut out = vec![json!({
        "url": (current > 1).then(|| url(current - 1)),
        "label": "&laquo; Previous",
        "active": false
    })];
    if last < on_each_side * 2 + 8 {
        out.extend(range(1, last));
    } else {
        let window = on_each_side + 4;
        if current <= window {
            out.extend(range(1, window + on_each_side));
            out.push(dots());
            out.extend(range(last - 1, last));
        } else if current > last - window {
            out.extend(range(1, 2));
            out.push(dots());
            out.extend(range(last - (window + (on_each_side - 1)), last));
        } else {
            out.extend(range(1, 2));
            out.push(dots());
            out.extend(range(current - on_each_side, current + on_each_side));
            out.push(dots());
            out.extend(range(last - 1, last));
        }
    }
    out.push(json!({
        "url": (current < last).then(|| url(current + 1)),
        "label": "Next &raquo;",
        "active": false
    }));
    out
}

/// A searchable field of a repository's `$fieldSearchable`.
pub struct Searchable {
    pub table: &'static str,
    pub fields: &'static [&'static str],
    /// Columns holding JSON text: compared byte for byte (MySQL's utf8mb4_bin JSON).
    pub json_columns: &'static [&'static str],
}

pub const LEADS: Searchable = Searchable {
    table: "leads",
    fields: &[
        "title",
        "lead_value",
        "status",
        "user_id",
        "user.name",
        "person_id",
        "person.name",
        "lead_source_id",
        "lead_type_id",
        "lead_pipeline_id",
        "lead_pipeline_stage_id",
        "created_at",
        "closed_at",
        "expected_close_date",
    ],
    json_columns: &[],
};

pub const PERSONS: Searchable = Searchable {
    table: "persons",
    fields: &[
        "name",
        "emails",
        "contact_numbers",
        "organization_id",
        "job_title",
        "organization.name",
        "user_id",
        "user.name",
    ],
    json_columns: &["emails", "contact_numbers"],
};

pub const USERS: Searchable = Searchable {
    table: "users",
    fields: &["name", "email", "status", "view_permission", "role_id"],
    json_columns: &[],
};

/// prettus' `parserSearchData`: `field:value;field2:value2` → pairs.
fn search_data(search: &str) -> Vec<(String, String)> {
    // PHP's `stripos(...)` is falsy for a colon at position 0.
    if search.find(':').is_none_or(|i| i == 0) {
        return Vec::new();
    }
    search
        .split(';')
        .filter_map(|row| {
            let mut parts = row.split(':');
            let field = parts.next()?;
            let value = parts.next()?;
            Some((field.to_string(), value.to_string()))
        })
        .collect()
}

/// prettus' `parserSearchValue`: the part of `search` that names no field, if any.
fn search_value(search: &str) -> Option<String> {
    let has = |c: char| search.find(c).is_some_and(|i| i > 0);
    if has(';') || has(':') {
        return search
            .split(';')
            .find(|v| !v.contains(':'))
            .map(str::to_string);
    }
    Some(search.to_string())
}

fn escape_glob(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '*' | '?' | '[' | ']' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            '%' => out.push('*'),
            '_' => out.push('?'),
            _ => out.push(c),
        }
    }
    out
}

/// Runs a prettus `RequestCriteria` search; returns matching ids in order.
pub fn search_ids(
    conn: &Connection,
    spec: &Searchable,
    params: &Params,
) -> Result<Vec<i64>, ApiError> {
    let search = get(params, "search").unwrap_or("").to_string();
    let order_by = get(params, "orderBy").unwrap_or("").to_string();
    let sorted_by = get(params, "sortedBy").unwrap_or("asc");
    let and_join = get(params, "searchJoin").is_some_and(|j| j.eq_ignore_ascii_case("and"));
    let table = spec.table;
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    if !search.is_empty() {
        // (field, condition) in `$fieldSearchable` order, narrowed by searchFields.
        let mut fields: Vec<(String, String)> = spec
            .fields
            .iter()
            .map(|f| (f.to_string(), "=".to_string()))
            .collect();
        if let Some(sf) = get(params, "searchFields").filter(|s| !s.is_empty()) {
            let mut chosen = Vec::new();
            for entry in sf.split(';') {
                let (field, cond) = entry.split_once(':').unwrap_or((entry, "="));
                let cond = cond.trim().to_ascii_lowercase();
                if !spec.fields.contains(&field) || !matches!(cond.as_str(), "=" | "like" | "in") {
                    return Err(ApiError::server(format!(
                        "Fields not accepted: {field}. Accepted fields: {}",
                        spec.fields.join(", ")
                    )));
                }
                chosen.push((field.to_string(), cond));
            }
            fields.retain(|(f, _)| chosen.iter().any(|(c, _)| c == f));
            for (f, c) in chosen {
                if let Some(slot) = fields.iter_mut().find(|(ff, _)| *ff == f) {
                    slot.1 = c;
                }
            }
        }
        let data = search_data(&search);
        let bare = search_value(&search);
        let mut parts: Vec<String> = Vec::new();
        for (field, cond) in &fields {
            let raw = match data.iter().find(|(f, _)| f == field) {
                Some((_, v)) => Some(v.clone()),
                None if cond != "in" => bare.clone(),
                None => None,
            };
            let Some(raw) = raw else { continue };
            let (column, relation) = match field.split_once('.') {
                Some((rel, col)) => (col.to_string(), Some(rel.to_string())),
                None => (field.clone(), None),
            };
            let is_json = relation.is_none() && spec.json_columns.contains(&column.as_str());
            let target = match &relation {
                Some(_) => format!("r.{column}"),
                None => format!("{table}.{column}"),
            };
            let predicate = match cond.as_str() {
                "like" if is_json => {
                    args.push(SqlValue::Text(format!("*{}*", escape_glob(&raw))));
                    format!("{target} GLOB ?")
                }
                "like" => {
                    args.push(SqlValue::Text(format!("%{raw}%")));
                    format!("{target} LIKE ?")
                }
                "in" => {
                    let values: Vec<&str> = raw.split(',').collect();
                    if values.first().is_none_or(|v| v.trim().is_empty()) {
                        continue;
                    }
                    let marks = vec!["?"; values.len()].join(", ");
                    args.extend(values.iter().map(|v| SqlValue::Text(v.to_string())));
                    format!("{target} IN ({marks})")
                }
                _ if is_json => {
                    args.push(SqlValue::Text(raw));
                    format!("{target} = ?")
                }
                _ => {
                    args.push(SqlValue::Text(raw));
                    format!("{target} = ? COLLATE NOCASE")
                }
            };
            let clause = match relation.as_deref() {
                Some(rel) => {
                    let (fk, rtable) = match rel {
                        "user" => ("user_id", "users"),
                        "person" => ("person_id", "persons"),
                        "organization" => ("organization_id", "organizations"),
                        other => {
                            return Err(ApiError::server(format!(
                                "Call to undefined relationship [{other}] on model."
                            )));
                        }
                    };
                    format!("{table}.{fk} IN (SELECT r.id FROM {rtable} r WHERE {predicate})")
                }
                None => predicate,
            };
            parts.push(clause);
        }
        if !parts.is_empty() {
            let joiner = if and_join { " AND " } else { " OR " };
            clauses.push(format!("({})", parts.join(joiner)));
        }
    }
    let mut order_sql = String::new();
    if !order_by.is_empty() {
        let cols = columns(conn, table)?;
        if !cols.contains(&order_by) {
            return Err(ApiError::server(format!(
                "SQLSTATE[42S22]: Column not found: 1054 Unknown column '{order_by}' in 'order clause'"
            )));
        }
        let dir = if sorted_by.eq_ignore_ascii_case("desc") {
            "DESC"
        } else {
            "ASC"
        };
        order_sql = format!("ORDER BY {table}.{order_by} {dir}");
    }
    let mut limit_sql = String::new();
    // The prettus bug of §6: `limit` is only honoured together with `search` or `orderBy`.
    if !search.is_empty() || !order_by.is_empty() {
        let limit = get(params, "limit")
            .and_then(|l| l.trim().parse::<u64>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(10);
        limit_sql = format!("LIMIT {limit}");
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let sql = format!("SELECT {table}.id FROM {table} {where_sql} {order_sql} {limit_sql}");
    Ok(query_ids(conn, &sql, &args)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prettus_parsers() {
        assert_eq!(
            search_data("name:Jane;emails:j@x"),
            vec![
                ("name".to_string(), "Jane".to_string()),
                ("emails".to_string(), "j@x".to_string())
            ]
        );
        assert!(search_data("Jane").is_empty());
        assert_eq!(search_value("Jane").as_deref(), Some("Jane"));
        assert_eq!(search_value("name:Jane"), None);
        assert_eq!(search_value("name:Jane;bob").as_deref(), Some("bob"));
    }

    #[test]
    fn glob_escapes_and_translates_wildcards() {
        assert_eq!(escape_glob("a_b%c*"), "a?b*c[*]");
    }

    #[test]
    fn small_page_counts_show_every_page() {
        let links = meta_links(2, 3, &|p| format!("/x?page={p}"));
        let labels: Vec<_> = links
            .iter()
            .map(|l| l["label"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(labels, ["&laquo; Previous", "1", "2", "3", "Next &raquo;"]);
        let many = meta_links(10, 40, &|p| format!("/x?page={p}"));
        assert!(many.iter().any(|l| l["label"] == "..."));
    }
}
