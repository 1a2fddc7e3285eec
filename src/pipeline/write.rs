//! The writer: valid rows → leads in Krayin, one [`Written`] outcome per row.
//!
//! Rows arrive grouped by person (rows sharing an e-mail are one person). A group is written
//! in order: its first lead creates the person inline (or attaches to the person the index
//! already knows), the next ones attach to that person by id, so one person is never created
//! twice. Groups run concurrently under the client's shared rate limiter; a per-person lock
//! keeps two groups of the same person (in different batches) apart.
//!
//! Krayin has no idempotency keys (§13), so a write whose fate is unknown (an ambiguous 500,
//! a dropped connection, or an intent left by a killed run) is resolved by looking the lead up
//! (person by e-mail, then that person's leads by title) before anything is sent again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::{Mutex, OnceCell};

use crate::krayin::{Class, Client, Error as ApiError, PageQuery, PersonIndex};
use crate::pipeline::map::convert::{self, Piece};
use crate::pipeline::map::{MappedLead, spec::ActivitySpec};
use crate::pipeline::validate::PersonKey;
use crate::record::{Problem, Rejection, Row, Stage};

/// One valid row, ready to write.
#[derive(Debug, Clone)]
pub struct Item {
    pub row: Row,
    pub lead: MappedLead,
    pub key: PersonKey,
    /// Fingerprint of the mapped content: the journal's key.
    pub fp: String,
}

/// What happened to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new lead; `reused_person` when it was attached to a person that already existed.
    Created {
        lead_id: u64,
        person_id: Option<u64>,
        reused_person: bool,
        /// Found by a look-up after an unknown outcome, not created by this request.
        recovered: bool,
    },
    /// Not written, on purpose (already imported, or an existing lead with the same key).
    Skipped {
        reason: String,
        lead_id: Option<u64>,
        person_id: Option<u64>,
    },
    /// Krayin refused it, or its fate could not be settled.
    Failed(Rejection),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Created {
                reused_person: true,
                ..
            } => "reused-person",
            Outcome::Created { .. } => "created",
            Outcome::Skipped { .. } => "skipped",
            Outcome::Failed(_) => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Written {
    pub item: Item,
    pub outcome: Outcome,
    /// The write's fate is settled (so the journal may record it as done).
    pub settled: bool,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Always create a new lead.
    Create,
    /// Skip a row whose lead (same title and person) already exists in Krayin.
    SkipExisting,
}

/// A follow-up activity, compiled against the header.
#[derive(Debug, Clone)]
pub struct Activity {
    kind: String,
    title: Vec<Piece>,
    comment: Option<Vec<Piece>>,
    after: jiff::Span,
    duration: jiff::Span,
    repeat: u32,
    every: jiff::Span,
}

impl Activity {
    pub fn compile(spec: &ActivitySpec, headers: &[String]) -> Result<Activity, String> {
        Ok(Activity {
            kind: spec.kind.clone(),
            title: convert::compile_template(&spec.title, headers)?,
            comment: spec
                .comment
                .as_deref()
                .map(|c| convert::compile_template(c, headers))
                .transpose()?,
            after: convert::parse_offset(&spec.after)?,
            duration: convert::parse_offset(&spec.duration)?,
            repeat: spec.repeat.max(1),
            every: convert::parse_offset(spec.every.as_deref().unwrap_or("1w"))?,
        })
    }
}

pub struct Writer {
    client: Client,
    mode: Mode,
    label: String,
    tz: jiff::tz::TimeZone,
    activities: Vec<Activity>,
    /// Target → source column, to point Krayin's 422 field errors at the user's columns.
    columns: HashMap<String, String>,
    index: OnceCell<Mutex<PersonIndex>>,
    leads: OnceCell<HashMap<(String, u64), u64>>,
    locks: std::sync::Mutex<HashMap<PersonKey, Arc<Mutex<Option<u64>>>>>,
    /// Fingerprints a previous run sent without recording an answer.
    pending: HashSet<String>,
}

impl Writer {
    pub fn new(
        client: Client,
        mode: Mode,
        label: String,
        tz: jiff::tz::TimeZone,
        activities: Vec<Activity>,
        columns: HashMap<String, String>,
        pending: HashSet<String>,
    ) -> Writer {
        Writer {
            client,
            mode,
            label,
            tz,
            activities,
            columns,
            index: OnceCell::new(),
            leads: OnceCell::new(),
            locks: std::sync::Mutex::new(HashMap::new()),
            pending,
        }
    }

    /// The person index, loaded on first use (a rerun with nothing to write never pays).
    async fn index(&self) -> Result<&Mutex<PersonIndex>, ApiError> {
        self.index
            .get_or_try_init(|| async { Ok(Mutex::new(self.client.person_index(500).await?)) })
            .await
    }

    /// (folded title, person id) → lead id, for `--mode skip-existing`.
    async fn leads(&self) -> Result<&HashMap<(String, u64), u64>, ApiError> {
        self.leads
            .get_or_try_init(|| async {
                let mut map = HashMap::new();
                let mut page = 1;
                loop {
                    let q = PageQuery {
                        page,
                        limit: 200,
                        ..PageQuery::default()
                    };
                    let p = self.client.leads_page(&q).await?;
                    for l in &p.data {
                        if let (Some(t), Some(person)) = (&l.title, &l.person) {
                            map.entry((convert::fold(t), person.id)).or_insert(l.id);
                        }
                    }
                    if page >= p.meta.last_page {
                        break;
                    }
                    page += 1;
                }
                Ok(map)
            })
            .await
    }

    fn lock_for(&self, key: &PersonKey) -> Arc<Mutex<Option<u64>>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(*key)
            .or_default()
            .clone()
    }

    /// Writes one person's rows, in order.
    pub async fn write_group(&self, items: Vec<Item>) -> Vec<Written> {
        let mut out = Vec::with_capacity(items.len());
        let Some(first) = items.first() else {
            return out;
        };
        let lock = self.lock_for(&first.key);
        let mut person = lock.lock().await;
        if person.is_none() {
            match self.known_person(&first.lead).await {
                Ok(p) => *person = p,
                Err(e) => {
                    for item in items {
                        out.push(self.failed(item, &e, false));
                    }
                    return out;
                }
            }
        }
        for item in items {
            let w = self.write_one(item, &mut person).await;
            out.push(w);
        }
        out
    }

    async fn known_person(&self, lead: &MappedLead) -> Result<Option<u64>, ApiError> {
        let index = self.index().await?.lock().await;
        Ok(lead
            .person
            .emails
            .iter()
            .find_map(|e| index.by_email(e))
            .or_else(|| lead.person.phones.iter().find_map(|p| index.by_phone(p))))
    }

    async fn remember(&self, person_id: u64, lead: &MappedLead) {
        if let Ok(index) = self.index().await {
            index
                .lock()
                .await
                .add(person_id, &lead.person.emails, &lead.person.phones);
        }
    }

    async fn write_one(&self, item: Item, person: &mut Option<u64>) -> Written {
        let existing = *person;
        if self.mode == Mode::SkipExisting
            && let Some(pid) = existing
        {
            match self.leads().await {
                Ok(leads) => {
                    if let Some(id) = leads.get(&(convert::fold(&item.lead.title), pid)) {
                        return Written {
                            outcome: Outcome::Skipped {
                                reason: format!(
                                    "a lead with this title already exists for this person (lead {id})"
                                ),
                                lead_id: Some(*id),
                                person_id: Some(pid),
                            },
                            item,
                            settled: true,
                        };
                    }
                }
                Err(e) => return self.failed(item, &e, false),
            }
        }
        // In flight when a previous run stopped: look before sending again.
        if self.pending.contains(&item.fp) {
            match self.find_lead(&item.lead, existing).await {
                Ok(Some((lead_id, pid))) => {
                    *person = Some(pid);
                    self.remember(pid, &item.lead).await;
                    return self
                        .created(item, lead_id, Some(pid), existing.is_some(), true)
                        .await;
                }
                Ok(None) => {}
                Err(e) => return self.failed(item, &e, false),
            }
        }
        let mut attempt_person = existing;
        let mut resolved_once = false;
        loop {
            let body = item.lead.body(attempt_person, &self.label);
            match self.client.create_lead(&body).await {
                Ok(lead) => {
                    let pid = lead.person.as_ref().map(|p| p.id).or(attempt_person);
                    if let Some(pid) = pid {
                        *person = Some(pid);
                        self.remember(pid, &item.lead).await;
                    }
                    return self
                        .created(item, lead.id, pid, attempt_person.is_some(), false)
                        .await;
                }
                Err(e) if e.is_ambiguous() && !resolved_once => {
                    resolved_once = true;
                    tracing::warn!(row = item.row.provenance.row, error = %e, "unknown outcome: looking the lead up");
                    match self.find_lead(&item.lead, attempt_person).await {
                        Ok(Some((lead_id, pid))) => {
                            *person = Some(pid);
                            self.remember(pid, &item.lead).await;
                            return self
                                .created(item, lead_id, Some(pid), attempt_person.is_some(), true)
                                .await;
                        }
                        // Not there: sending again cannot duplicate it. The person may exist
                        // (Krayin creates it before the lead, with no transaction, §14).
                        Ok(None) => {
                            if attempt_person.is_none()
                                && let Ok(Some(pid)) = self.find_person(&item.lead).await
                            {
                                attempt_person = Some(pid);
                            }
                        }
                        Err(e2) => return self.failed(item, &e2, false),
                    }
                }
                Err(e) if email_taken(&e) && attempt_person.is_none() && !resolved_once => {
                    // The person exists in Krayin after all (created by someone else, or an
                    // orphan of an earlier failed create): attach to it.
                    resolved_once = true;
                    match self.find_person(&item.lead).await {
                        Ok(Some(pid)) => attempt_person = Some(pid),
                        Ok(None) => return self.failed(item, &e, true),
                        Err(e2) => return self.failed(item, &e2, false),
                    }
                }
                Err(e) => {
                    let settled = !e.is_ambiguous();
                    return self.failed(item, &e, settled);
                }
            }
        }
    }

    async fn find_person(&self, lead: &MappedLead) -> Result<Option<u64>, ApiError> {
        let Some(email) = lead.person.emails.first() else {
            return Ok(None);
        };
        let found = self.client.find_persons_by_email(email).await?;
        Ok(found.iter().map(|p| p.id).min())
    }

    /// The lead this row would have created: its person (known, or by e-mail), then that
    /// person's leads with the same title.
    async fn find_lead(
        &self,
        lead: &MappedLead,
        person: Option<u64>,
    ) -> Result<Option<(u64, u64)>, ApiError> {
        let pid = match person {
            Some(p) => p,
            None => match self.find_person(lead).await? {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let params = vec![
            ("search".to_string(), format!("person_id:{pid}")),
            ("searchFields".to_string(), "person_id:=".to_string()),
            ("limit".to_string(), "500".to_string()),
        ];
        let leads = self.client.search_leads(&params).await?;
        let want = convert::fold(&lead.title);
        Ok(leads
            .iter()
            .filter(|l| l.title.as_deref().map(convert::fold).as_deref() == Some(want.as_str()))
            .map(|l| l.id)
            .max()
            .map(|id| (id, pid)))
    }

    async fn created(
        &self,
        item: Item,
        lead_id: u64,
        person_id: Option<u64>,
        reused: bool,
        recovered: bool,
    ) -> Written {
        // A lead found after an unknown outcome may already have its follow-ups.
        let wanted = !self.activities.is_empty();
        if wanted && (!recovered || !self.has_activities(lead_id).await) {
            self.create_activities(&item, lead_id, person_id).await;
        }
        Written {
            item,
            outcome: Outcome::Created {
                lead_id,
                person_id,
                reused_person: reused,
                recovered,
            },
            settled: true,
        }
    }

    async fn has_activities(&self, lead_id: u64) -> bool {
        self.client
            .lead_activities(lead_id)
            .await
            .map(|a| a.iter().any(|x| x.kind != "system"))
            .unwrap_or(false)
    }

    /// `[[activities]]` of the mapping, for a new lead, in the server's time zone (§12).
    async fn create_activities(&self, item: &Item, lead_id: u64, person_id: Option<u64>) {
        let now = jiff::Timestamp::now().to_zoned_datetime(self.tz.clone());
        for a in &self.activities {
            let title = convert::render(&a.title, &item.row.cells).unwrap_or_default();
            let comment = a
                .comment
                .as_ref()
                .and_then(|c| convert::render(c, &item.row.cells));
            for k in 0..a.repeat {
                let Ok(from) = now
                    .checked_add(a.after)
                    .and_then(|t| t.checked_add(a.every.checked_mul(i64::from(k))?))
                else {
                    continue;
                };
                let Ok(to) = from.checked_add(a.duration) else {
                    continue;
                };
                let mut body = json!({
                    "type": a.kind,
                    "title": title,
                    "schedule_from": from.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    "schedule_to": to.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                    "lead_id": lead_id,
                });
                if let Some(c) = &comment {
                    body["comment"] = json!(c);
                }
                if let Some(p) = person_id {
                    body["participants"] = json!({"persons": [p]});
                }
                if let Err(e) = self.client.create_activity(&body).await {
                    tracing::warn!(row = item.row.provenance.row, lead_id, error = %e, "follow-up activity not created");
                }
            }
        }
    }

    fn failed(&self, item: Item, e: &ApiError, settled: bool) -> Written {
        let problems = problems_of(e, &self.columns);
        let rejection = Rejection::new(&item.row, Stage::Write, problems);
        Written {
            item,
            outcome: Outcome::Failed(rejection),
            settled,
        }
    }
}

/// Krayin's 422 "already taken" on a person e-mail (§7).
fn email_taken(e: &ApiError) -> bool {
    e.field_errors()
        .is_some_and(|f| f.keys().any(|k| k.starts_with("person.emails.")))
}

/// Krayin's field errors, pointed at the user's columns (`person.emails.0.value` → the column
/// mapped to `person.emails`).
pub fn problems_of(e: &ApiError, columns: &HashMap<String, String>) -> Vec<Problem> {
    let target_of = |field: &str| -> String {
        let f = field.split('.').collect::<Vec<_>>();
        match f.as_slice() {
            ["person", "emails", ..] => "person.emails".into(),
            ["person", "contact_numbers", ..] => "person.phones".into(),
            ["person", rest @ ..] => format!("person.{}", rest.join(".")),
            ["lead_value"] => "lead.lead_value".into(),
            ["lead_source_id"] => "lead.source".into(),
            ["lead_type_id"] => "lead.type".into(),
            ["lead_pipeline_stage_id"] => "lead.stage".into(),
            ["user_id"] => "lead.owner".into(),
            [other] if ["title", "description", "expected_close_date"].contains(other) => {
                format!("lead.{other}")
            }
            _ => field.to_string(),
        }
    };
    match e.field_errors() {
        Some(fields) => fields
            .iter()
            .map(|(field, msgs)| {
                let target = target_of(field);
                Problem {
                    column: columns.get(&target).cloned(),
                    field: target,
                    value: String::new(),
                    message: format!("Krayin refused it: {}", msgs.join(" ")),
                }
            })
            .collect(),
        None => {
            let hint = match e.class() {
                Class::Ambiguous => {
                    " (Krayin may have created it: run the import again to settle it)"
                }
                Class::Auth => " (check the credentials)",
                _ => "",
            };
            vec![Problem::new("row", "", format!("{e}{hint}"))]
        }
    }
}
