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
use crate::pipeline::journal;
use crate::pipeline::map::convert::{self, Piece};
use crate::pipeline::map::{MappedLead, spec::ActivitySpec};
use crate::pipeline::seen::Seen;
use crate::pipeline::validate::PersonKey;
use crate::record::{Problem, Rejection, Row, Stage};

/// Said of a row whose fate is unknown; the fault-injection test counts on it.
pub const UNSETTLED: &str = "Krayin may have created it: run the import again to settle it";

/// Unknown outcomes of one row settled by look-up before giving up on it (for this run).
const MAX_RESOLUTIONS: u32 = 5;

/// One valid row, ready to write.
#[derive(Debug, Clone)]
pub struct Item {
    pub row: Row,
    pub lead: MappedLead,
    pub key: PersonKey,
    /// Fingerprint of the mapped content: the journal's key.
    pub fp: String,
    /// The row's key from the mapping (`settings.key`), for skip-existing and upsert.
    pub lead_key: Option<String>,
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
        /// Krayin's `updated_at` in the create answer: the baseline for upsert conflicts.
        updated_at: Option<String>,
    },
    /// An existing lead brought up to date (`--mode upsert`).
    Updated {
        lead_id: u64,
        person_id: Option<u64>,
        /// Krayin's `updated_at` after our write: the baseline for the next conflict check.
        updated_at: Option<String>,
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
            Outcome::Updated { .. } => "updated",
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
    /// Update the lead with the same title and person if it exists (keeping its stage, close
    /// date and products unless the mapping sets them), else create it.
    Upsert,
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
    /// (hash of the folded title, person id) → lead id, for `--mode skip-existing`.
    leads: OnceCell<Mutex<HashMap<(u64, u64), u64>>>,
    /// folded organization name → id, loaded on first need.
    orgs: OnceCell<Mutex<HashMap<String, u64>>>,
    /// One lock per person being written, so a person's rows go in order; dropped once its
    /// group is written (the person index then knows the person).
    locks: std::sync::Mutex<HashMap<PersonKey, Arc<Mutex<Option<u64>>>>>,
    /// Fingerprints a previous run sent without recording an answer.
    pending: HashSet<String>,
    /// Lead id → Krayin's `updated_at` after this tool's last write (from the journal).
    written_at: journal::WrittenAt,
    /// Row key ([`journal::key_hash`]) → (lead id, person id or 0) of leads this tool wrote,
    /// from the journal and this run; spills to disk like the in-file checks.
    keys: std::sync::Mutex<Seen<u128>>,
    /// The key can be checked against Krayin (it is made of title and person only; Krayin's
    /// API never returns custom attributes, so an attribute key matches only what this tool
    /// wrote).
    key_in_krayin: bool,
    /// `--overwrite`: update leads changed in Krayin since our last write.
    overwrite: bool,
    /// The mapping sets a stage (else an upsert keeps the lead's current one).
    stage_mapped: bool,
}

/// What the writer needs besides the client.
pub struct Settings {
    pub mode: Mode,
    pub label: String,
    pub tz: jiff::tz::TimeZone,
    pub activities: Vec<Activity>,
    pub columns: HashMap<String, String>,
    pub pending: HashSet<String>,
    pub written_at: journal::WrittenAt,
    pub keys: Seen<u128>,
    pub key_in_krayin: bool,
    pub overwrite: bool,
    pub stage_mapped: bool,
}

impl Writer {
    pub fn new(client: Client, settings: Settings) -> Writer {
        Writer {
            client,
            mode: settings.mode,
            label: settings.label,
            tz: settings.tz,
            activities: settings.activities,
            columns: settings.columns,
            index: OnceCell::new(),
            leads: OnceCell::new(),
            orgs: OnceCell::new(),
            locks: std::sync::Mutex::new(HashMap::new()),
            pending: settings.pending,
            written_at: settings.written_at,
            keys: std::sync::Mutex::new(settings.keys),
            key_in_krayin: settings.key_in_krayin,
            overwrite: settings.overwrite,
            stage_mapped: settings.stage_mapped,
        }
    }

    /// The person index, loaded on first use (a rerun with nothing to write never pays).
    async fn index(&self) -> Result<&Mutex<PersonIndex>, ApiError> {
        self.index
            .get_or_try_init(|| async { Ok(Mutex::new(self.client.person_index(500).await?)) })
            .await
    }

    async fn leads(&self) -> Result<&Mutex<HashMap<(u64, u64), u64>>, ApiError> {
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
                            map.entry((title_hash(t), person.id)).or_insert(l.id);
                        }
                    }
                    if page >= p.meta.last_page {
                        break;
                    }
                    page += 1;
                }
                Ok(Mutex::new(map))
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
        let first_key = first.key;
        let lock = self.lock_for(&first_key);
        let mut person = lock.lock().await;
        let known = match *person {
            Some(p) => Ok(Some(p)),
            None => self.known_person(&first.lead).await,
        };
        match known {
            Ok(p) => {
                *person = p;
                for item in items {
                    let w = self.write_one(item, &mut person).await;
                    out.push(w);
                }
            }
            Err(e) => {
                for item in items {
                    out.push(self.failed(item, &e, false));
                }
            }
        }
        drop(person);
        self.release(&first_key, lock);
        out
    }

    /// Drops a person's lock unless another group of the same person waits on it.
    fn release(&self, key: &PersonKey, lock: Arc<Mutex<Option<u64>>>) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the map's: nobody else holds it, and none can take it while the map is
        // locked.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(key);
        }
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
        // A lead this tool wrote under the same key (this run or an earlier one).
        let journalled = match &item.lead_key {
            Some(k) if self.mode != Mode::Create => {
                let found = self
                    .keys
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(journal::key_hash(k));
                match found {
                    Ok(ids) => ids.map(|(id, pid)| (id, journal::unpack(pid))),
                    Err(e) => return self.local_failure(item, &e),
                }
            }
            _ => None,
        };
        if let Some((id, pid)) = journalled {
            if self.mode == Mode::Upsert {
                return self
                    .update(item, id, pid.or(existing).unwrap_or_default())
                    .await;
            }
            return Written {
                outcome: Outcome::Skipped {
                    reason: format!("a lead with this key was already imported (lead {id})"),
                    lead_id: Some(id),
                    person_id: pid,
                },
                item,
                settled: true,
            };
        }
        if self.mode != Mode::Create
            && self.key_in_krayin
            && let Some(pid) = existing
        {
            match self.leads().await {
                Ok(leads) => {
                    let found = leads
                        .lock()
                        .await
                        .get(&(title_hash(&item.lead.title), pid))
                        .copied();
                    if let Some(id) = found {
                        if self.mode == Mode::Upsert {
                            return self.update(item, id, pid).await;
                        }
                        return Written {
                            outcome: Outcome::Skipped {
                                reason: format!(
                                    "a lead with this title already exists for this person (lead {id})"
                                ),
                                lead_id: Some(id),
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
                        .created(item, lead_id, Some(pid), existing.is_some(), true, None)
                        .await;
                }
                Ok(None) => {}
                Err(e) => return self.failed(item, &e, false),
            }
        }
        let mut attempt_person = existing;
        // Each unknown outcome is settled by a look-up before sending again, so repeating is
        // safe; the bound only keeps a pathological server from holding the row forever.
        let mut resolutions = 0u32;
        let mut attached_once = false;
        loop {
            let organization = match attempt_person {
                None => match self.organization_for(&item.lead).await {
                    Ok(o) => o,
                    Err(e) => return self.failed(item, &e, true),
                },
                // An existing person keeps its organization (Krayin ignores the rest, §7).
                Some(_) => None,
            };
            let body = item.lead.body(attempt_person, organization, &self.label);
            match self.client.create_lead(&body).await {
                Ok(lead) => {
                    let pid = lead.person.as_ref().map(|p| p.id).or(attempt_person);
                    if let Some(pid) = pid {
                        *person = Some(pid);
                        self.remember(pid, &item.lead).await;
                    }
                    return self
                        .created(
                            item,
                            lead.id,
                            pid,
                            attempt_person.is_some(),
                            false,
                            lead.updated_at.clone(),
                        )
                        .await;
                }
                Err(e) if e.is_ambiguous() && resolutions < MAX_RESOLUTIONS => {
                    resolutions += 1;
                    tracing::warn!(row = item.row.provenance.row, error = %e, "unknown outcome: looking the lead up");
                    match self.find_lead(&item.lead, attempt_person).await {
                        Ok(Some((lead_id, pid))) => {
                            *person = Some(pid);
                            self.remember(pid, &item.lead).await;
                            return self
                                .created(
                                    item,
                                    lead_id,
                                    Some(pid),
                                    attempt_person.is_some(),
                                    true,
                                    None,
                                )
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
                Err(e) if email_taken(&e) && attempt_person.is_none() && !attached_once => {
                    // The person exists in Krayin after all (created by someone else, or an
                    // orphan of an earlier failed create): attach to it.
                    attached_once = true;
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

    /// `--mode upsert` on an existing lead, without Krayin's destructive full update (§7
    /// "Update traps"): `PUT /leads/attributes/edit/{id}` changes only the keys sent and leaves
    /// products alone; the stage and the expected close date are resent (the current ones when
    /// the mapping sets none), since that path nulls an omitted close date. A lead changed in
    /// Krayin since this tool last wrote it is reported as a conflict, unless `--overwrite`.
    async fn update(&self, item: Item, lead_id: u64, person_id: u64) -> Written {
        let current = match self.client.get_lead(lead_id).await {
            Ok(l) => l,
            Err(e) => return self.failed(item, &e, true),
        };
        let ours = match self.written_at.get(lead_id) {
            Ok(o) => o,
            Err(e) => return self.local_failure(item, &e),
        };
        if !self.overwrite
            && let Some(ours) = ours
            && current.updated_at.as_deref().map(journal::Stamp::of) != Some(ours)
        {
            let problem = Problem::new(
                "row",
                format!("lead {lead_id}"),
                format!(
                    "lead {lead_id} was changed in Krayin (at {}) since this tool last wrote it (at {ours}): \
                     not overwritten; pass --overwrite to replace the changes",
                    current.updated_at.as_deref().unwrap_or("?")
                ),
            );
            return Written {
                outcome: Outcome::Failed(Rejection::new(&item.row, Stage::Write, vec![problem])),
                item,
                settled: true,
            };
        }
        let lead = &item.lead;
        let mut body = serde_json::Map::new();
        body.insert("title".into(), json!(lead.title));
        if let Some(d) = &lead.description {
            body.insert("description".into(), json!(d));
        }
        if let Some(v) = &lead.lead_value {
            body.insert("lead_value".into(), json!(v));
        }
        for (key, v) in [
            ("lead_source_id", lead.source_id),
            ("lead_type_id", lead.type_id),
            ("user_id", lead.user_id),
        ] {
            if let Some(v) = v {
                body.insert(key.into(), json!(v));
            }
        }
        let stage = lead
            .stage_id
            .filter(|_| self.stage_mapped)
            .or(current.lead_pipeline_stage_id);
        if let Some(st) = stage {
            body.insert("lead_pipeline_stage_id".into(), json!(st));
        }
        // The close date: ours, else the current one converted back to the server's date (§12).
        let close = lead.expected_close_date.map(|d| d.to_string()).or_else(|| {
            let ts: jiff::Timestamp = current.expected_close_date.as_deref()?.parse().ok()?;
            Some(ts.to_zoned_datetime(self.tz.clone()).date().to_string())
        });
        if let Some(c) = close {
            body.insert("expected_close_date".into(), json!(c));
        }
        for (code, v) in &lead.attributes {
            body.insert(code.clone(), json!(v));
        }
        match self
            .client
            .edit_lead_attributes(lead_id, &serde_json::Value::Object(body))
            .await
        {
            Ok(updated) => Written {
                outcome: Outcome::Updated {
                    lead_id,
                    person_id: Some(person_id),
                    updated_at: updated.updated_at,
                },
                item,
                settled: true,
            },
            // Re-applying the same attributes is harmless: a lost answer just stays unsettled
            // and the next run updates again.
            Err(e) => {
                let settled = !e.is_ambiguous();
                self.failed(item, &e, settled)
            }
        }
    }

    /// The organization to attach a new person to by id: only when the mapping gives an
    /// address, which Krayin's inline `organization_name` cannot carry. Found by name
    /// (organizations loaded once), else created with its address.
    async fn organization_for(&self, lead: &MappedLead) -> Result<Option<u64>, ApiError> {
        let Some(org) = &lead.organization else {
            return Ok(None);
        };
        let Some(address) = &org.address else {
            return Ok(None);
        };
        let orgs = self
            .orgs
            .get_or_try_init(|| async {
                let all = self.client.organizations_all().await?;
                Ok::<_, ApiError>(Mutex::new(
                    all.into_iter()
                        .map(|o| (convert::fold(&o.name), o.id))
                        .collect::<HashMap<_, _>>(),
                ))
            })
            .await?;
        let mut orgs = orgs.lock().await;
        let key = convert::fold(&org.name);
        if let Some(id) = orgs.get(&key) {
            return Ok(Some(*id));
        }
        let body = json!({"name": org.name, "address": address});
        let id = match self.client.create_organization(&body).await {
            Ok(o) => o.id,
            // Created meanwhile, or the answer was lost: the name is unique, look it up.
            Err(e)
                if e.is_ambiguous() || e.field_errors().is_some_and(|f| f.contains_key("name")) =>
            {
                let q = PageQuery {
                    filters: vec![("name".into(), org.name.clone())],
                    ..PageQuery::default()
                };
                match self.client.organizations_page(&q).await?.data.first() {
                    Some(o) => o.id,
                    None => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        orgs.insert(key, id);
        Ok(Some(id))
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
        updated_at: Option<String>,
    ) -> Written {
        // Later rows of this run with the same key find it (skip-existing, upsert).
        if let (Some(pid), Some(leads)) = (person_id, self.leads.get()) {
            leads
                .lock()
                .await
                .insert((title_hash(&item.lead.title), pid), lead_id);
        }
        if let Some(k) = &item.lead_key {
            let kept = self
                .keys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert_first(journal::key_hash(k), (lead_id, journal::pack(person_id)));
            if let Err(e) = kept {
                // The journal has it (a rerun knows the key); only a later row of this run
                // with the same key could miss it.
                tracing::error!(row = item.row.provenance.row, error = %format!("{e:#}"), "cannot remember the row's key for this run");
            }
        }
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
                updated_at,
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

    /// A row stopped by a local fault before anything was sent (settled: nothing to look up).
    fn local_failure(&self, item: Item, e: &anyhow::Error) -> Written {
        let problem = Problem::new(
            "row",
            String::new(),
            format!("{e:#}; nothing was sent for this row: run the import again"),
        );
        Written {
            outcome: Outcome::Failed(Rejection::new(&item.row, Stage::Write, vec![problem])),
            item,
            settled: true,
        }
    }

    fn failed(&self, item: Item, e: &ApiError, settled: bool) -> Written {
        let mut problems = problems_of(e, &self.columns);
        // Unsettled: the lead may exist (the error may come from the look-up that was meant to
        // settle it). The intent stays in the journal, and the next run settles it first.
        if !settled {
            for p in &mut problems {
                if !p.message.contains(UNSETTLED) {
                    p.message.push_str(&format!(" ({UNSETTLED})"));
                }
            }
        }
        let rejection = Rejection::new(&item.row, Stage::Write, problems);
        Written {
            item,
            outcome: Outcome::Failed(rejection),
            settled,
        }
    }
}

/// A lead title as Krayin's look-ups compare it (folded), hashed: the title map holds every
/// lead of the CRM, and a title is only ever compared among one person's leads.
fn title_hash(title: &str) -> u64 {
    crate::krayin::stable_hash(&convert::fold(title))
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
            // Any other top-level key is a custom attribute the mapping sent.
            [other] if columns.contains_key(&format!("attributes.{other}")) => {
                format!("attributes.{other}")
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
                Class::Ambiguous => format!(" ({UNSETTLED})"),
                Class::Auth => " (check the credentials)".to_string(),
                _ => String::new(),
            };
            vec![Problem::new("row", "", format!("{e}{hint}"))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::krayin::{ClientConfig, Credentials, auth::Secret};
    use crate::record::Provenance;

    fn item(row: u64, title: &str, email: &str) -> Item {
        let lead = MappedLead::bare(title, "Jane", &[email], &[]);
        Item {
            row: Row {
                provenance: Provenance {
                    file: "t.csv".into(),
                    sheet: None,
                    row,
                },
                cells: [title, email].into_iter().collect(),
            },
            key: crate::krayin::stable_hash(email),
            fp: lead.fingerprint(),
            lead_key: lead.key(&[]),
            lead,
        }
    }

    /// A person's lock lives while its rows are written, then goes: memory does not grow
    /// with the persons of the file; the person index and the key map carry what later rows
    /// need (the same person attached, the same key skipped).
    #[tokio::test]
    async fn person_locks_go_once_written_and_later_rows_still_find_their_person() {
        let handle = crate::sandbox::spawn(crate::sandbox::Config {
            rate_limit: None,
            ..Default::default()
        })
        .await
        .unwrap();
        let mut config = ClientConfig::new(
            handle.api_base().parse().unwrap(),
            Credentials::Login {
                email: crate::sandbox::store::ADMIN_EMAIL.into(),
                password: Secret::new(crate::sandbox::store::ADMIN_PASSWORD),
                device_name: "test".into(),
            },
        );
        config.rate = None;
        let writer = Writer::new(
            Client::new(config).unwrap(),
            Settings {
                mode: Mode::SkipExisting,
                label: "work".into(),
                tz: jiff::tz::TimeZone::UTC,
                activities: vec![],
                columns: HashMap::new(),
                pending: HashSet::new(),
                written_at: Default::default(),
                keys: Seen::default(),
                key_in_krayin: true,
                overwrite: false,
                stage_mapped: false,
            },
        );
        let groups =
            (0..20u64).map(|i| vec![item(i + 2, &format!("Deal {i}"), &format!("p{i}@t.test"))]);
        let written: Vec<Vec<Written>> =
            futures::future::join_all(groups.map(|g| writer.write_group(g))).await;
        assert!(written.iter().flatten().all(|w| matches!(
            w.outcome,
            Outcome::Created {
                reused_person: false,
                ..
            }
        )));
        assert!(
            writer.locks.lock().unwrap().is_empty(),
            "every lock released"
        );
        // The same person again, in two groups at once: one person, the key skipped once.
        let again = futures::future::join(
            writer.write_group(vec![item(30, "Deal 3", "p3@t.test")]),
            writer.write_group(vec![item(31, "Other deal", "p3@t.test")]),
        )
        .await;
        let first = &written[3][0].outcome;
        let Outcome::Created {
            lead_id, person_id, ..
        } = first
        else {
            panic!("{first:?}")
        };
        match &again.0[0].outcome {
            Outcome::Skipped { lead_id: l, .. } => assert_eq!(l, &Some(*lead_id)),
            o => panic!("the same key is skipped: {o:?}"),
        }
        match &again.1[0].outcome {
            Outcome::Created {
                person_id: p,
                reused_person: true,
                ..
            } => assert_eq!(p, person_id),
            o => panic!("the known person is attached: {o:?}"),
        }
        assert!(writer.locks.lock().unwrap().is_empty());
        handle.shutdown().await.unwrap();
    }
}
