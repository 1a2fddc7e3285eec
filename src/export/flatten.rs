//! Krayin records → flat report rows: ids resolved to names (source, type, pipeline, stage,
//! owner), person and organization flattened, won/lost/open from the stage code, `lead_value`
//! as a number, date-times as wall times in the export's zone, and a date-only
//! `expected_close_date` taken back from the server's zone (contract §12).

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::table::{Cell, Kind, Table};
use crate::krayin::Lookups;
use crate::krayin::model::{Activity, LabeledValue, Lead, Person, User};

/// The columns of a lead export, in their default order.
pub const LEAD_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Int),
    ("title", Kind::Str),
    ("description", Kind::Str),
    ("lead_value", Kind::Float),
    ("status", Kind::Str),
    ("pipeline", Kind::Str),
    ("stage", Kind::Str),
    ("source", Kind::Str),
    ("type", Kind::Str),
    ("owner", Kind::Str),
    ("owner_email", Kind::Str),
    ("person_id", Kind::Int),
    ("person_name", Kind::Str),
    ("person_emails", Kind::Str),
    ("person_phones", Kind::Str),
    ("job_title", Kind::Str),
    ("organization_id", Kind::Int),
    ("organization", Kind::Str),
    ("products", Kind::Str),
    ("expected_close_date", Kind::Date),
    ("closed_at", Kind::DateTime),
    ("lost_reason", Kind::Str),
    ("created_at", Kind::DateTime),
    ("updated_at", Kind::DateTime),
];

/// The columns of an activity export.
pub const ACTIVITY_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Int),
    ("type", Kind::Str),
    ("title", Kind::Str),
    ("comment", Kind::Str),
    ("is_done", Kind::Bool),
    ("schedule_from", Kind::DateTime),
    ("schedule_to", Kind::DateTime),
    ("location", Kind::Str),
    ("owner", Kind::Str),
    ("owner_email", Kind::Str),
    ("persons", Kind::Str),
    ("person_ids", Kind::Str),
    ("users", Kind::Str),
    ("created_at", Kind::DateTime),
    ("updated_at", Kind::DateTime),
];

/// Multi-valued cells (e-mails, phones, participants) are joined with this.
pub const LIST_SEPARATOR: &str = "; ";

/// Ids → names, built once from the look-ups.
pub struct Names {
    sources: HashMap<u64, String>,
    types: HashMap<u64, String>,
    pipelines: HashMap<u64, String>,
    /// Stage id → (name, code).
    stages: HashMap<u64, (String, Option<String>)>,
    /// Export zone (wall times written) and server zone (Krayin's APP_TIMEZONE).
    pub tz: TimeZone,
    pub server_tz: TimeZone,
}

impl Names {
    pub fn new(l: &Lookups, tz: TimeZone, server_tz: TimeZone) -> Names {
        let named = |v: &[crate::krayin::model::NamedItem]| {
            v.iter().map(|i| (i.id, i.name.clone())).collect()
        };
        Names {
            sources: named(&l.sources),
            types: named(&l.types),
            pipelines: l.pipelines.iter().map(|p| (p.id, p.name.clone())).collect(),
            stages: l
                .pipelines
                .iter()
                .flat_map(|p| p.stages.iter())
                .map(|s| (s.id, (s.name.clone(), s.code.clone())))
                .collect(),
            tz,
            server_tz,
        }
    }

    /// An id with no name (deleted since, or unknown): written as `#<id>` rather than lost.
    fn name(map: &HashMap<u64, String>, id: Option<u64>) -> Cell {
        match id {
            None => Cell::Null,
            Some(id) => Cell::Str(map.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))),
        }
    }

    fn wall(&self, iso: Option<&str>) -> Cell {
        match iso.and_then(|s| s.parse::<Timestamp>().ok()) {
            Some(t) => Cell::DateTime(t.to_zoned_datetime(self.tz.clone()).datetime()),
            None => Cell::Null,
        }
    }

    /// `expected_close_date`: server midnight sent as UTC (§12), or a bare date.
    fn close_date(&self, raw: Option<&str>) -> Cell {
        let Some(s) = raw.filter(|s| !s.is_empty()) else {
            return Cell::Null;
        };
        if let Ok(t) = s.parse::<Timestamp>() {
            return Cell::Date(t.to_zoned_datetime(self.server_tz.clone()).date());
        }
        match s
            .get(..10)
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        {
            Some(d) => Cell::Date(d),
            None => Cell::Null,
        }
    }

    /// `won`, `lost` or `open`, from the stage's code (lead `status` is always 1, §14).
    pub fn status(&self, stage: Option<u64>) -> &'static str {
        match stage
            .and_then(|s| self.stages.get(&s))
            .and_then(|(_, c)| c.as_deref())
        {
            Some("won") => "won",
            Some("lost") => "lost",
            _ => "open",
        }
    }

    pub fn leads<'a>(&self, leads: impl IntoIterator<Item = &'a Lead>) -> Table {
        Table {
            columns: LEAD_COLUMNS.to_vec(),
            rows: leads.into_iter().map(|l| self.lead(l)).collect(),
        }
    }

    fn lead(&self, l: &Lead) -> Vec<Cell> {
        let person = l.person.as_ref();
        let org = person.and_then(|p| p.organization.as_ref());
        let value = l
            .lead_value
            .as_deref()
            .and_then(|v| v.trim().parse::<f64>().ok());
        let stage = match l.lead_pipeline_stage_id {
            None => Cell::Null,
            Some(id) => Cell::Str(
                self.stages
                    .get(&id)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_else(|| format!("#{id}")),
            ),
        };
        vec![
            Cell::Int(l.id as i64),
            l.title.clone().into(),
            l.description.clone().into(),
            value.map_or(Cell::Null, Cell::Float),
            Cell::Str(self.status(l.lead_pipeline_stage_id).into()),
            Self::name(&self.pipelines, l.lead_pipeline_id),
            stage,
            Self::name(&self.sources, l.lead_source_id),
            Self::name(&self.types, l.lead_type_id),
            user_name(l.user.as_ref()),
            user_email(l.user.as_ref()),
            person.map(|p| p.id).into(),
            person.map(|p| p.name.clone()).into(),
            join(person.map(|p| p.emails.as_slice()).unwrap_or(&[])).into(),
            join(
                person
                    .and_then(|p| p.contact_numbers.as_deref())
                    .unwrap_or(&[]),
            )
            .into(),
            person.and_then(|p| p.job_title.clone()).into(),
            org.map(|o| o.id).into(),
            org.map(|o| o.name.clone()).into(),
            products(l).into(),
            self.close_date(l.expected_close_date.as_deref()),
            self.wall(l.closed_at.as_deref()),
            l.lost_reason.clone().into(),
            self.wall(l.created_at.as_deref()),
            self.wall(l.updated_at.as_deref()),
        ]
    }

    pub fn activities<'a>(&self, items: impl IntoIterator<Item = &'a Activity>) -> Table {
        Table {
            columns: ACTIVITY_COLUMNS.to_vec(),
            rows: items.into_iter().map(|a| self.activity(a)).collect(),
        }
    }

    fn activity(&self, a: &Activity) -> Vec<Cell> {
        let persons: Vec<&Person> = a
            .participants
            .iter()
            .filter_map(|p| p.person.as_ref())
            .collect();
        let users: Vec<&User> = a
            .participants
            .iter()
            .filter_map(|p| p.user.as_ref())
            .collect();
        let joined = |v: Vec<String>| Cell::from(Some(v.join(LIST_SEPARATOR)));
        vec![
            Cell::Int(a.id as i64),
            Cell::Str(a.kind.clone()),
            a.title.clone().into(),
            a.comment.clone().into(),
            a.is_done.map_or(Cell::Null, |d| Cell::Bool(d != 0)),
            self.wall(a.schedule_from.as_deref()),
            self.wall(a.schedule_to.as_deref()),
            a.location.clone().into(),
            user_name(a.user.as_ref()),
            user_email(a.user.as_ref()),
            joined(persons.iter().map(|p| p.name.clone()).collect()),
            joined(persons.iter().map(|p| p.id.to_string()).collect()),
            joined(users.iter().map(|u| u.name.clone()).collect()),
            self.wall(a.created_at.as_deref()),
            self.wall(a.updated_at.as_deref()),
        ]
    }
}

fn user_name(u: Option<&User>) -> Cell {
    u.map(|u| u.name.clone()).into()
}

fn user_email(u: Option<&User>) -> Cell {
    u.map(|u| u.email.clone()).into()
}

fn join(values: &[LabeledValue]) -> Option<String> {
    let v: Vec<&str> = values
        .iter()
        .filter_map(|v| v.value.as_deref())
        .filter(|s| !s.is_empty())
        .collect();
    (!v.is_empty()).then(|| v.join(LIST_SEPARATOR))
}

/// `Product name × quantity`, joined: enough for a report; the ids are in Krayin.
fn products(l: &Lead) -> Option<String> {
    let v: Vec<String> = l
        .lead_products
        .iter()
        .map(|p| {
            let name = p
                .product
                .as_ref()
                .and_then(|v| v.get("name"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", p.id));
            let qty = p.quantity.as_deref().unwrap_or("1");
            let qty = qty
                .parse::<f64>()
                .map(|q| q.to_string())
                .unwrap_or(qty.into());
            format!("{name} × {qty}")
        })
        .collect();
    (!v.is_empty()).then(|| v.join(LIST_SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let lookups = Lookups {
            sources: vec![],
            types: vec![],
            pipelines: vec![],
            users: vec![],
            attributes: vec![],
        };
        Names::new(
            &lookups,
            TimeZone::get("America/Sao_Paulo").unwrap(),
            TimeZone::get("Asia/Kolkata").unwrap(),
        )
    }

    #[test]
    fn a_date_only_close_date_is_taken_back_in_the_server_zone() {
        // 2030-01-31 in Asia/Kolkata is sent as 2030-01-30T18:30Z (§12).
        let n = names();
        assert_eq!(
            n.close_date(Some("2030-01-30T18:30:00.000000Z")),
            Cell::Date(jiff::civil::date(2030, 1, 31))
        );
        assert_eq!(
            n.close_date(Some("2030-01-31")),
            Cell::Date(jiff::civil::date(2030, 1, 31))
        );
        assert_eq!(n.close_date(None), Cell::Null);
        assert_eq!(n.close_date(Some("soon")), Cell::Null);
    }

    #[test]
    fn date_times_are_wall_times_in_the_export_zone() {
        let n = names();
        assert_eq!(
            n.wall(Some("2025-05-01T08:00:00.000000Z")),
            Cell::DateTime(jiff::civil::datetime(2025, 5, 1, 5, 0, 0, 0))
        );
    }

    #[test]
    fn unknown_ids_are_kept_visible() {
        let n = names();
        assert_eq!(Names::name(&n.sources, Some(9)), Cell::Str("#9".into()));
        assert_eq!(n.status(Some(9)), "open");
    }
}
