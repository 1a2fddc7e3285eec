//! Mapping: a [`Row`] of the user's file → a [`MappedLead`] (the lead, its person and
//! organization, in Krayin's terms), or a [`Rejection`] naming every problem of the row.
//!
//! [`Mapper::new`] compiles a mapping file against the file's header and the server's look-up
//! tables once, before any row is read, and refuses a mapping that cannot work (unknown column,
//! bad transform, unknown constant name). [`Mapper::map`] then converts one row: columns,
//! templates and constants; trim, case, replace, split; locale numbers; dates; phones to E.164;
//! names to ids (case- and accent-insensitive, each distinct name resolved once per run);
//! and Krayin's own rules (contract §7–§8), so that a row that passes is one Krayin accepts.
//!
//! Not here: what is repeated across rows of the file ([`crate::pipeline::validate`]).

pub mod convert;
pub mod phone;
pub mod spec;
pub mod suggest;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};
use smallvec::{SmallVec, smallvec};

use crate::krayin::Lookups;
use crate::record::{Cells, Problem, Rejection, Row, Stage};
use convert::{DateFormat, NumberLocale, Piece};
use spec::{Field, MappingFile, PastDatePolicy, SpecError, SpecErrors, TARGETS};

/// Krayin's VARCHAR(255) columns (§14: MySQL would truncate silently; we refuse instead).
pub const MAX_TEXT: usize = 255;
/// DECIMAL(12,4): at most 99,999,999.9999 (§14).
pub const MAX_LEAD_VALUE_INT_DIGITS: usize = 8;

/// Where a compiled field takes its value.
#[derive(Debug, Clone)]
enum Input {
    Column(usize),
    Template(Vec<Piece>),
    Constant(String),
    Nothing,
}

/// A field of the mapping, compiled against the header.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// `lead.title`, `person.emails`…
    pub target: String,
    /// The source column, for messages and the error report.
    pub column: Option<String>,
    input: Input,
    default: Option<String>,
    trim: bool,
    case: Option<String>,
    split: Option<Vec<char>>,
    /// Folded (case- and accent-insensitive) value → replacement.
    replace: HashMap<String, String>,
    required: bool,
    locale: NumberLocale,
    dates: Vec<DateFormat>,
    /// `phone_region` (the field's, else the settings'), parsed once.
    region: Option<phonenumber::country::Id>,
}

/// The `[settings]` every field falls back on, parsed once: `None` where the setting is wrong
/// (reported once, under its own key, not again for each field that falls back on it).
struct Defaults {
    locale: Option<NumberLocale>,
    dates: Option<Vec<DateFormat>>,
    region: Option<Option<phonenumber::country::Id>>,
}

impl Defaults {
    fn parse(settings: &spec::Settings, mut err: impl FnMut(&str, String)) -> Defaults {
        Defaults {
            locale: settings
                .number_locale
                .parse()
                .map_err(|e| err("settings.number_locale", e))
                .ok(),
            dates: settings
                .date_formats
                .iter()
                .map(|d| d.parse())
                .collect::<Result<Vec<DateFormat>, String>>()
                .map_err(|e| err("settings.date_formats", e))
                .ok(),
            region: settings
                .phone_region
                .as_deref()
                .map(convert::phone_region)
                .transpose()
                .map_err(|e| err("settings.phone_region", e))
                .ok(),
        }
    }
}

impl Compiled {
    /// Compiles one field, pushing every problem it has to `problems` (a missing column does
    /// not hide a bad locale on the same field); `None` when there was any, or when a setting
    /// it falls back on is wrong (that one is reported under `settings.*`).
    fn compile(
        target: &str,
        f: &Field,
        headers: &[String],
        defaults: &Defaults,
        file: &str,
        problems: &mut Vec<SpecError>,
    ) -> Option<Compiled> {
        let before = problems.len();
        let mut err = |message: String| {
            problems.push(SpecError {
                file: file.to_string(),
                key: target.to_string(),
                message,
            })
        };
        let sources = [f.column.is_some(), f.template.is_some(), f.value.is_some()]
            .iter()
            .filter(|b| **b)
            .count();
        if sources > 1 {
            err("set only one of column, template and value".into());
        }
        let input = if let Some(c) = &f.column {
            match convert::find_column(c, headers) {
                Some(idx) => Some(Input::Column(idx)),
                None => {
                    let hint = spec::suggest_column(c, headers)
                        .map(|h| format!(" Did you mean {h:?}?"))
                        .unwrap_or_default();
                    err(format!(
                        "the file has no column {c:?}.{hint} Its columns are: {}",
                        headers
                            .iter()
                            .map(|h| format!("{h:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    None
                }
            }
        } else if let Some(t) = &f.template {
            convert::compile_template(t, headers)
                .map(Input::Template)
                .map_err(&mut err)
                .ok()
        } else if let Some(v) = &f.value {
            Some(Input::Constant(v.clone()))
        } else if f.default.is_some() {
            Some(Input::Nothing)
        } else {
            err("needs a column, a template, a value or a default".into());
            None
        };
        if let Some(c) = &f.case
            && !matches!(c.as_str(), "lower" | "upper" | "title")
        {
            err(format!("unknown case {c:?}: use lower, upper or title"));
        }
        let locale = match &f.number_locale {
            Some(l) => l.parse().map_err(&mut err).ok(),
            None => defaults.locale,
        };
        let dates = match &f.date_formats {
            Some(d) => d
                .iter()
                .map(|d| d.parse())
                .collect::<Result<Vec<DateFormat>, String>>()
                .map_err(&mut err)
                .ok(),
            None => defaults.dates.clone(),
        };
        let region = match &f.phone_region {
            Some(r) => convert::phone_region(r).map(Some).map_err(&mut err).ok(),
            None => defaults.region,
        };
        let (Some(input), Some(locale), Some(dates), Some(region)) = (input, locale, dates, region)
        else {
            return None;
        };
        if problems.len() > before {
            return None;
        }
        Some(Compiled {
            target: target.to_string(),
            column: match &input {
                Input::Column(i) => Some(headers[*i].clone()),
                _ => f.column.clone(),
            },
            input,
            default: f.default.clone(),
            trim: f.trim.unwrap_or(true),
            case: f.case.clone(),
            split: f.split.as_ref().map(|s| s.chars().collect()),
            replace: f
                .replace
                .iter()
                .map(|(k, v)| (convert::fold(k), v.clone()))
                .collect(),
            required: f.required.unwrap_or(false),
            locale,
            dates,
            region,
        })
    }

    /// The raw text for this row (after default, trim, replace and case); `None` if empty.
    /// Borrowed from the row (or the mapping) unless a template, a replacement or a case
    /// change made a new string: mapping a row allocates only what the lead keeps.
    fn text<'a>(&'a self, cells: &'a Cells) -> Option<Cow<'a, str>> {
        let mut v: Cow<'a, str> = match &self.input {
            Input::Column(i) => Cow::Borrowed(cells.get(*i).unwrap_or("")),
            Input::Template(p) => convert::render(p, cells).map_or(Cow::Borrowed(""), Cow::Owned),
            Input::Constant(v) => Cow::Borrowed(v),
            Input::Nothing => Cow::Borrowed(""),
        };
        if self.trim {
            v = match v {
                Cow::Borrowed(b) => Cow::Borrowed(convert::trim(b)),
                Cow::Owned(o) if convert::trim(&o).len() == o.len() => Cow::Owned(o),
                Cow::Owned(o) => Cow::Owned(convert::trim(&o).to_string()),
            };
        }
        if v.is_empty() {
            v = Cow::Borrowed(self.default.as_deref().unwrap_or(""));
        }
        if !self.replace.is_empty()
            && let Some(r) = self.replace.get(&convert::fold(&v))
        {
            v = Cow::Borrowed(r);
        }
        if let Some(c) = &self.case {
            v = Cow::Owned(convert::apply_case(&v, c));
        }
        (!v.is_empty()).then_some(v)
    }

    /// Several values (split), each trimmed, empties dropped.
    fn values<'a>(&self, text: Option<&'a str>) -> SmallVec<[&'a str; 2]> {
        let Some(t) = text else {
            return SmallVec::new();
        };
        match &self.split {
            Some(seps) => split_values(t, seps),
            None => smallvec![t],
        }
    }

    fn problem(&self, value: &str, message: impl Into<String>) -> Problem {
        Problem::new(self.target.clone(), value, message).with_column(self.column.as_deref())
    }
}

/// `t` split at any of `seps`, each value trimmed, empties dropped.
fn split_values<'a>(t: &'a str, seps: &[char]) -> SmallVec<[&'a str; 2]> {
    // Nearly every cell holds one value: found at once for up to three ASCII separators.
    let one = match seps {
        [a] if a.is_ascii() => memchr::memchr(*a as u8, t.as_bytes()).is_none(),
        [a, b] if a.is_ascii() && b.is_ascii() => {
            memchr::memchr2(*a as u8, *b as u8, t.as_bytes()).is_none()
        }
        [a, b, c] if a.is_ascii() && b.is_ascii() && c.is_ascii() => {
            memchr::memchr3(*a as u8, *b as u8, *c as u8, t.as_bytes()).is_none()
        }
        _ => false,
    };
    if one {
        let v = convert::trim(t);
        return if v.is_empty() {
            SmallVec::new()
        } else {
            smallvec![v]
        };
    }
    t.split(|c| seps.contains(&c))
        .map(convert::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// An organization address (only sent when the organization is created).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Address {
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postcode: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MappedPerson {
    pub name: String,
    /// Valid e-mails, as written (Krayin compares them case-sensitively).
    pub emails: Vec<String>,
    /// E.164.
    pub phones: Vec<String>,
    pub job_title: Option<String>,
}

impl MappedPerson {
    /// The identity used to group rows of one person inside a file: the first e-mail, else the
    /// first phone, else the name.
    pub fn key(&self) -> String {
        if let Some(e) = self.emails.first() {
            format!("e:{}", crate::krayin::normalize_email(e))
        } else if let Some(p) = self.phones.first() {
            format!("p:{p}")
        } else {
            format!("n:{}", convert::fold(&self.name))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MappedOrganization {
    pub name: String,
    pub address: Option<Address>,
}

/// A row in Krayin's terms, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MappedLead {
    pub title: String,
    pub description: Option<String>,
    /// Plain decimal text, ≥ 0, ≤ 4 decimals.
    pub lead_value: Option<String>,
    /// In the server's zone.
    pub expected_close_date: Option<jiff::civil::Date>,
    pub source_id: Option<u64>,
    pub type_id: Option<u64>,
    pub pipeline_id: Option<u64>,
    pub stage_id: Option<u64>,
    pub user_id: Option<u64>,
    pub person: MappedPerson,
    pub organization: Option<MappedOrganization>,
    /// Custom lead attributes by code.
    pub attributes: BTreeMap<String, String>,
    /// Non-fatal notes (a past close date dropped).
    #[serde(skip)]
    pub warnings: Vec<Problem>,
}

impl MappedLead {
    /// A lead with only a title and a person, for tests.
    #[cfg(test)]
    pub fn bare(title: &str, name: &str, emails: &[&str], phones: &[&str]) -> MappedLead {
        MappedLead {
            title: title.into(),
            description: None,
            lead_value: None,
            expected_close_date: None,
            source_id: None,
            type_id: None,
            pipeline_id: None,
            stage_id: None,
            user_id: None,
            person: MappedPerson {
                name: name.into(),
                emails: emails.iter().map(|s| s.to_string()).collect(),
                phones: phones.iter().map(|s| s.to_string()).collect(),
                job_title: None,
            },
            organization: None,
            attributes: Default::default(),
            warnings: vec![],
        }
    }

    /// The `POST /leads` body. With `person_id`, the lead is attached to an existing person
    /// (other person fields are ignored by Krayin, §7); otherwise the person is created inline,
    /// with `organization_id` when the organization was created apart (it has an address),
    /// else Krayin's find-or-create by `organization_name`.
    pub fn body(&self, person_id: Option<u64>, organization_id: Option<u64>, label: &str) -> Value {
        let mut b = serde_json::Map::new();
        b.insert("title".into(), json!(self.title));
        if let Some(d) = &self.description {
            b.insert("description".into(), json!(d));
        }
        if let Some(v) = &self.lead_value {
            b.insert("lead_value".into(), json!(v));
        }
        if let Some(id) = self.source_id {
            b.insert("lead_source_id".into(), json!(id));
        }
        if let Some(id) = self.type_id {
            b.insert("lead_type_id".into(), json!(id));
        }
        if let Some(id) = self.user_id {
            b.insert("user_id".into(), json!(id));
        }
        if let Some(d) = self.expected_close_date {
            b.insert("expected_close_date".into(), json!(d.to_string()));
        }
        // Always sent: RA 2.x answers 500 without it (§7); 0 would mean "default first stage".
        b.insert(
            "lead_pipeline_stage_id".into(),
            json!(self.stage_id.unwrap_or(0)),
        );
        if let Some(id) = self.pipeline_id {
            b.insert("lead_pipeline_id".into(), json!(id));
        }
        for (code, v) in &self.attributes {
            b.insert(code.clone(), json!(v));
        }
        let person = match person_id {
            Some(id) => json!({"id": id}),
            None => {
                let mut p = serde_json::Map::new();
                p.insert("name".into(), json!(self.person.name));
                if !self.person.emails.is_empty() {
                    p.insert(
                        "emails".into(),
                        Value::Array(
                            self.person
                                .emails
                                .iter()
                                .map(|e| json!({"value": e, "label": label}))
                                .collect(),
                        ),
                    );
                }
                if !self.person.phones.is_empty() {
                    p.insert(
                        "contact_numbers".into(),
                        Value::Array(
                            self.person
                                .phones
                                .iter()
                                .map(|e| json!({"value": e, "label": label}))
                                .collect(),
                        ),
                    );
                }
                if let Some(j) = &self.person.job_title {
                    p.insert("job_title".into(), json!(j));
                }
                match (organization_id, &self.organization) {
                    (Some(id), _) => {
                        p.insert("organization_id".into(), json!(id));
                    }
                    (None, Some(o)) => {
                        p.insert("organization_name".into(), json!(o.name));
                    }
                    (None, None) => {}
                }
                if let Some(u) = self.user_id {
                    p.insert("user_id".into(), json!(u));
                }
                Value::Object(p)
            }
        };
        b.insert("person".into(), person);
        Value::Object(b)
    }

    /// The row's key from the mapping's `settings.key` (default: title and first e-mail), folded
    /// so that case and accents do not make two keys; `None` when a part is empty.
    pub fn key(&self, fields: &[String]) -> Option<String> {
        let default = ["title".to_string(), "person.emails".to_string()];
        let fields = if fields.is_empty() {
            &default[..]
        } else {
            fields
        };
        let mut parts = Vec::new();
        for f in fields {
            let part = match f.as_str() {
                "title" => Some(convert::fold(&self.title)),
                "person.emails" => self
                    .person
                    .emails
                    .first()
                    .map(|e| crate::krayin::normalize_email(e)),
                "person.name" => Some(convert::fold(&self.person.name)),
                other => other
                    .strip_prefix("attributes.")
                    .and_then(|code| self.attributes.get(code))
                    .map(|v| v.trim().to_string()),
            }?;
            if part.is_empty() {
                return None;
            }
            parts.push(format!("{f}={part}"));
        }
        Some(parts.join("\u{1f}"))
    }

    /// A stable fingerprint of what would be written: the journal's key (same content, same
    /// hash, whatever the row number).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        // The hash of the lead's JSON, serialized straight into the hasher.
        let mut hasher = Sha256::new();
        serde_json::to_writer(&mut hasher, self).expect("plain data serializes");
        hex::encode(&hasher.finalize()[..16])
    }
}

/// Name → id tables built from the server's look-ups.
#[derive(Debug, Default)]
struct Names {
    /// folded name → id, and the display names for suggestions.
    entries: Vec<(String, String, u64)>,
}

impl Names {
    fn add(&mut self, display: &str, id: u64) {
        self.entries
            .push((convert::fold(display), display.to_string(), id));
    }

    fn resolve(&self, what: &str, value: &str) -> Result<u64, String> {
        let f = convert::fold(value);
        if let Some((_, _, id)) = self.entries.iter().find(|(k, _, _)| *k == f) {
            return Ok(*id);
        }
        if let Ok(n) = value.trim().parse::<u64>()
            && self.entries.iter().any(|(_, _, id)| *id == n)
        {
            return Ok(n);
        }
        let best = self
            .entries
            .iter()
            .map(|(k, d, _)| (strsim::jaro_winkler(&f, k), d))
            .filter(|(s, _)| *s > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, d)| format!(" Did you mean {d:?}?"))
            .unwrap_or_default();
        let mut known: Vec<&str> = self.entries.iter().map(|(_, d, _)| d.as_str()).collect();
        known.dedup();
        Err(format!(
            "unknown {what} {value:?}.{best} Known: {}",
            known
                .iter()
                .take(12)
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// The look-up side of a mapping, from the server's tables.
#[derive(Debug, Default)]
struct Resolver {
    sources: Names,
    types: Names,
    pipelines: Names,
    /// pipeline id → its stages (name and code both resolve), in Krayin's order.
    stages: HashMap<u64, Names>,
    default_pipeline: Option<u64>,
    users: Names,
    lead_attributes: Vec<String>,
    /// Custom lead attribute code → (type, `validation`, `is_required`), to check values as
    /// Krayin's AttributeForm would (§7).
    attribute_rules: HashMap<String, (String, Option<String>, bool)>,
}

impl Resolver {
    fn new(l: &Lookups) -> Resolver {
        let mut r = Resolver::default();
        for s in &l.sources {
            r.sources.add(&s.name, s.id);
        }
        for t in &l.types {
            r.types.add(&t.name, t.id);
        }
        for p in &l.pipelines {
            r.pipelines.add(&p.name, p.id);
            if p.is_default == Some(1) {
                r.default_pipeline = Some(p.id);
            }
            let mut st = Names::default();
            for s in &p.stages {
                st.add(&s.name, s.id);
                if let Some(c) = &s.code {
                    st.add(c, s.id);
                }
            }
            r.stages.insert(p.id, st);
        }
        if r.default_pipeline.is_none() {
            r.default_pipeline = l.pipelines.first().map(|p| p.id);
        }
        for u in &l.users {
            r.users.add(&u.email, u.id);
            r.users.add(&u.name, u.id);
        }
        r.lead_attributes = l
            .attributes
            .iter()
            .filter(|a| a.entity_type == "leads")
            .map(|a| a.code.clone())
            .collect();
        r.attribute_rules = l
            .attributes
            .iter()
            .filter(|a| a.entity_type == "leads" && a.is_user_defined == Some(1))
            .map(|a| {
                (
                    a.code.clone(),
                    (
                        a.kind.clone(),
                        a.validation.clone(),
                        a.is_required == Some(1),
                    ),
                )
            })
            .collect();
        r
    }
}

/// Positions in [`TARGETS`].
mod slot {
    pub const TITLE: usize = 0;
    pub const DESCRIPTION: usize = 1;
    pub const LEAD_VALUE: usize = 2;
    pub const CLOSE_DATE: usize = 3;
    pub const SOURCE: usize = 4;
    pub const TYPE: usize = 5;
    pub const PIPELINE: usize = 6;
    pub const STAGE: usize = 7;
    pub const OWNER: usize = 8;
    pub const PERSON_NAME: usize = 9;
    pub const EMAILS: usize = 10;
    pub const PHONES: usize = 11;
    pub const JOB_TITLE: usize = 12;
    pub const ORG_NAME: usize = 13;
    pub const ORG_ADDRESS: usize = 14;
    pub const ORG_CITY: usize = 15;
    pub const ORG_STATE: usize = 16;
    pub const ORG_POSTCODE: usize = 17;
    pub const ORG_COUNTRY: usize = 18;
}

/// Resolved names of one look-up target within one pipeline: value as written → id or the
/// message. Looked up by `&str`, so a hit allocates nothing.
type LookupCache = Vec<((&'static str, u64), HashMap<String, Result<u64, String>>)>;

/// A compiled mapping: everything needed to map rows of one file.
pub struct Mapper {
    /// By position in [`TARGETS`].
    fields: [Option<Compiled>; TARGETS.len()],
    /// Positions of the fields marked `required`, in the targets' alphabetical order (the
    /// order their problems are listed in).
    required: Vec<usize>,
    attributes: Vec<(String, Compiled)>,
    pub settings: spec::Settings,
    pub spec: MappingFile,
    tz: jiff::tz::TimeZone,
    resolver: Option<Resolver>,
    /// Each distinct (target, pipeline, value) resolved once per run.
    cache: Mutex<LookupCache>,
}

impl Mapper {
    /// Compiles `spec` against the file's header. With `lookups`, names are resolved against
    /// the server's tables (and constants are checked now); without, the mapping is checked
    /// offline and names are left unresolved.
    pub fn new(
        spec: MappingFile,
        file: &str,
        headers: &[String],
        lookups: Option<&Lookups>,
    ) -> Result<Mapper, SpecErrors> {
        let settings = spec.settings.clone();
        // Every problem is collected and reported together (see `SpecErrors`).
        let mut problems: Vec<SpecError> = Vec::new();
        let err = |problems: &mut Vec<SpecError>, key: &str, message: String| {
            problems.push(SpecError {
                file: file.to_string(),
                key: key.to_string(),
                message,
            })
        };
        let tz = jiff::tz::TimeZone::get(&settings.timezone).unwrap_or_else(|_| {
            err(
                &mut problems,
                "settings.timezone",
                format!(
                    "unknown time zone {:?}: use an IANA name such as America/Sao_Paulo",
                    settings.timezone
                ),
            );
            jiff::tz::TimeZone::UTC
        });
        if spec.lead.title.is_none() {
            err(
                &mut problems,
                "lead.title",
                "every lead needs a title: map a column, a template or a value".into(),
            );
        }
        if spec.person.name.is_none() {
            err(
                &mut problems,
                "person.name",
                "every lead needs a person: map person.name".into(),
            );
        }
        let defaults = Defaults::parse(&settings, |key, message| err(&mut problems, key, message));
        let mut fields: [Option<Compiled>; TARGETS.len()] = Default::default();
        let mut attributes = Vec::new();
        for (target, f) in spec.fields() {
            let Some(c) = Compiled::compile(&target, f, headers, &defaults, file, &mut problems)
            else {
                continue;
            };
            match target.strip_prefix("attributes.") {
                Some(code) => attributes.push((code.to_string(), c)),
                None => {
                    let at = TARGETS
                        .iter()
                        .position(|t| *t == target)
                        .expect("MappingFile::fields lists only TARGETS and attributes");
                    fields[at] = Some(c);
                }
            }
        }
        let mut required: Vec<usize> = (0..TARGETS.len())
            .filter(|i| fields[*i].as_ref().is_some_and(|c| c.required))
            .collect();
        required.sort_by_key(|i| TARGETS[*i]);
        for key in &settings.key {
            let known = matches!(key.as_str(), "title" | "person.emails" | "person.name")
                || key
                    .strip_prefix("attributes.")
                    .is_some_and(|c| spec.attributes.contains_key(c));
            if !known {
                err(
                    &mut problems,
                    "settings.key",
                    format!(
                        "unknown key field {key:?}: use title, person.emails, person.name or attributes.<code> of this mapping"
                    ),
                );
            }
        }
        for (i, a) in spec.activities.iter().enumerate() {
            // `activities[2].after`: the second `[[activities]]` of the file.
            let mut check = |key: &str, r: Result<(), String>| {
                if let Err(e) = r {
                    err(&mut problems, &format!("activities[{}].{key}", i + 1), e);
                }
            };
            check("after", convert::parse_offset(&a.after).map(drop));
            check("duration", convert::parse_offset(&a.duration).map(drop));
            if let Some(e) = &a.every {
                check("every", convert::parse_offset(e).map(drop));
            }
            check(
                "title",
                convert::compile_template(&a.title, headers).map(drop),
            );
            if let Some(c) = &a.comment {
                check("comment", convert::compile_template(c, headers).map(drop));
            }
            if !matches!(a.kind.as_str(), "call" | "meeting" | "lunch" | "note") {
                check(
                    "type",
                    Err(format!(
                        "unknown activity type {:?}: Krayin knows call, meeting, lunch and note",
                        a.kind
                    )),
                );
            }
        }
        let resolver = lookups.map(Resolver::new);
        let mapper = Mapper {
            fields,
            required,
            attributes,
            settings,
            spec,
            tz,
            resolver,
            cache: Mutex::new(Vec::new()),
        };
        // Constants naming a source, stage… are checked now, not on every row.
        if let Some(r) = &mapper.resolver {
            // Every attribute the mapping names, compiled or not (one that failed to compile
            // would otherwise show this mistake only on the next run).
            for code in mapper.spec.attributes.keys() {
                if !r.lead_attributes.contains(code) {
                    err(
                        &mut problems,
                        &format!("attributes.{code}"),
                        format!(
                            "Krayin has no lead attribute with code {code:?}: create it in Settings → Attributes first"
                        ),
                    );
                }
            }
            let empty = Cells::new();
            let pipeline_text = mapper.fields[slot::PIPELINE]
                .as_ref()
                .and_then(|c| c.text(&empty));
            // A stage is looked up in its pipeline: when the pipeline is wrong, so would the
            // stage seem, so it is not looked up (one mistake, reported once).
            let mut pipeline_wrong =
                mapper.spec.lead.pipeline.is_some() && mapper.fields[slot::PIPELINE].is_none();
            for at in [
                slot::SOURCE,
                slot::TYPE,
                slot::PIPELINE,
                slot::STAGE,
                slot::OWNER,
            ] {
                let target = TARGETS[at];
                if at == slot::STAGE && pipeline_wrong {
                    continue;
                }
                if let Some(c) = &mapper.fields[at]
                    && matches!(c.input, Input::Constant(_) | Input::Nothing)
                    && let Some(v) = c.text(&empty)
                {
                    let pipeline = mapper.pipeline_for(pipeline_text.as_deref()).ok().flatten();
                    if let Err(e) = mapper.lookup(target, &v, pipeline) {
                        pipeline_wrong |= at == slot::PIPELINE;
                        err(&mut problems, target, e);
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(mapper)
        } else {
            Err(SpecErrors(problems))
        }
    }

    /// Whether names are resolved (a server was reachable).
    pub fn resolves_names(&self) -> bool {
        self.resolver.is_some()
    }

    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// The source column of a target, for mapping Krayin's 422 field errors back.
    pub fn column_of(&self, target: &str) -> Option<&str> {
        match target.strip_prefix("attributes.") {
            Some(code) => self
                .attributes
                .iter()
                .find(|(c, _)| c == code)
                .and_then(|(_, f)| f.column.as_deref()),
            None => TARGETS
                .iter()
                .position(|t| *t == target)
                .and_then(|at| self.fields[at].as_ref())
                .and_then(|c| c.column.as_deref()),
        }
    }

    fn lookup(
        &self,
        target: &'static str,
        value: &str,
        pipeline: Option<u64>,
    ) -> Result<u64, String> {
        let Some(r) = &self.resolver else {
            return Err("names cannot be resolved offline".into());
        };
        // Keyed by the raw text: folding is paid once per distinct spelling, not per row.
        let table = (target, pipeline.unwrap_or(0));
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(t, _)| *t == table)
            .and_then(|(_, names)| names.get(value))
        {
            return hit.clone();
        }
        let result = match target {
            "lead.source" => r.sources.resolve("source", value),
            "lead.type" => r.types.resolve("type", value),
            "lead.pipeline" => r.pipelines.resolve("pipeline", value),
            "lead.stage" => match pipeline.and_then(|p| r.stages.get(&p)) {
                Some(st) => st.resolve("stage", value),
                None => Err("no pipeline to look the stage up in".into()),
            },
            "lead.owner" => r.users.resolve("user", value),
            _ => Err(format!("{target} is not a look-up")),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let names = match cache.iter().position(|(t, _)| *t == table) {
            Some(i) => &mut cache[i].1,
            None => {
                cache.push((table, HashMap::new()));
                &mut cache.last_mut().expect("just pushed").1
            }
        };
        names.insert(value.to_string(), result.clone());
        result
    }

    /// The pipeline named by the row's `lead.pipeline` text, else Krayin's default.
    fn pipeline_for(&self, name: Option<&str>) -> Result<Option<u64>, String> {
        let Some(r) = &self.resolver else {
            return Ok(None);
        };
        match name {
            Some(name) => self.lookup("lead.pipeline", name, None).map(Some),
            None => Ok(r.default_pipeline),
        }
    }

    /// Maps one row, collecting every problem. `today` is the server's today (§7 `after:yesterday`).
    pub fn map(&self, row: &Row, today: jiff::civil::Date) -> Result<MappedLead, Rejection> {
        let cells = &row.cells;
        let mut conversion: Vec<Problem> = Vec::new();
        let mut rules: Vec<Problem> = Vec::new();
        let mut warnings = Vec::new();
        // Each field's text, computed once (borrowed from the row where it can be).
        let texts: [Option<Cow<'_, str>>; TARGETS.len()] =
            std::array::from_fn(|at| self.fields[at].as_ref().and_then(|c| c.text(cells)));
        let text = |at: usize| texts[at].as_deref();
        let field = |at: usize| self.fields[at].as_ref();
        let owned = |at: usize| text(at).map(str::to_string);

        // Required-ness set in the mapping, and Krayin's own (title, person name).
        for &at in &self.required {
            if text(at).is_none() {
                let c = field(at).expect("required lists mapped fields");
                rules.push(c.problem(
                    "",
                    format!("{} is empty, and the mapping requires it", TARGETS[at]),
                ));
            }
        }
        // Both are checked to exist by `Mapper::new`.
        let title_c = field(slot::TITLE).expect("lead.title is mapped");
        let name_c = field(slot::PERSON_NAME).expect("person.name is mapped");
        let title = owned(slot::TITLE).unwrap_or_default();
        if title.is_empty() {
            rules.push(title_c.problem("", "the lead has no title (Krayin requires one)"));
        }
        let person_name = owned(slot::PERSON_NAME).unwrap_or_default();
        if person_name.is_empty() {
            rules.push(name_c.problem("", "the person has no name (Krayin requires one)"));
        }
        check_length(title_c, &title, &mut rules);
        check_length(name_c, &person_name, &mut rules);
        let description = owned(slot::DESCRIPTION);
        let job_title = owned(slot::JOB_TITLE);
        if let (Some(j), Some(c)) = (&job_title, field(slot::JOB_TITLE)) {
            check_length(c, j, &mut rules);
        }

        // lead_value: locale number → Krayin's decimal rule (§7, §14).
        let lead_value = match (field(slot::LEAD_VALUE), text(slot::LEAD_VALUE)) {
            (Some(c), Some(raw)) => match convert::parse_number(raw, c.locale) {
                Err(e) => {
                    conversion.push(c.problem(
                        raw,
                        format!("{e}; write it like 15000.50 or set number_locale"),
                    ));
                    None
                }
                Ok(n) => {
                    let (int, frac) = n
                        .trim_start_matches('-')
                        .split_once('.')
                        .unwrap_or((n.trim_start_matches('-'), ""));
                    if n.starts_with('-') {
                        rules.push(c.problem(raw, "a lead value cannot be negative"));
                    } else if frac.len() > 4 {
                        rules.push(
                            c.problem(raw, "Krayin keeps at most 4 decimals: round the value"),
                        );
                    } else if int.len() > MAX_LEAD_VALUE_INT_DIGITS {
                        rules
                            .push(c.problem(raw, "Krayin's maximum lead value is 99,999,999.9999"));
                    }
                    Some(n)
                }
            },
            _ => None,
        };

        // expected_close_date: a date in the server's zone, today or later (§7).
        let mut expected_close_date = None;
        if let (Some(c), Some(raw)) = (field(slot::CLOSE_DATE), text(slot::CLOSE_DATE)) {
            match convert::parse_date(raw, &c.dates) {
                Err(e) => conversion.push(c.problem(raw, e)),
                Ok(d) if d < today => match self.settings.past_close_date {
                    PastDatePolicy::Reject => rules.push(c.problem(
                        raw,
                        format!("the expected close date is before today ({today}), which Krayin refuses"),
                    )),
                    PastDatePolicy::Drop => warnings.push(c.problem(
                        raw,
                        format!("the expected close date is before today ({today}): sent without it"),
                    )),
                },
                Ok(d) => expected_close_date = Some(d),
            }
        }

        // Look-ups.
        let pipeline = match self.pipeline_for(text(slot::PIPELINE)) {
            Ok(p) => p,
            Err(e) => {
                let c = field(slot::PIPELINE).expect("only a mapped pipeline fails");
                conversion.push(c.problem(text(slot::PIPELINE).unwrap_or_default(), e));
                None
            }
        };
        // source, type, owner, stage, by position in TARGETS.
        let mut ids: [Option<u64>; TARGETS.len()] = [None; TARGETS.len()];
        if self.resolver.is_some() {
            for at in [slot::SOURCE, slot::TYPE, slot::OWNER, slot::STAGE] {
                let (Some(c), Some(v)) = (field(at), text(at)) else {
                    continue;
                };
                match self.lookup(TARGETS[at], v, pipeline) {
                    Ok(id) => ids[at] = Some(id),
                    Err(e) => conversion.push(c.problem(v, e)),
                }
            }
        }
        // No stage mapped: the pipeline's first stage (Krayin needs a stage, §7).
        let stage_id = ids[slot::STAGE].or_else(|| {
            let r = self.resolver.as_ref()?;
            let p = pipeline?;
            r.stages.get(&p)?.entries.first().map(|(_, _, id)| *id)
        });

        // Person: e-mails (syntax), phones (E.164).
        let mut emails: Vec<String> = Vec::new();
        if let Some(c) = field(slot::EMAILS) {
            for e in c.values(text(slot::EMAILS)) {
                if crate::sandbox::rules::is_email(e) {
                    if e.len() > MAX_TEXT && e.chars().count() > MAX_TEXT {
                        rules.push(c.problem(e, "longer than 255 characters"));
                    }
                    if !emails.iter().any(|x| x.eq_ignore_ascii_case(e)) {
                        emails.push(e.to_string());
                    }
                } else {
                    rules.push(c.problem(e, format!("{e:?} is not a valid e-mail address")));
                }
            }
            let required = c.required
                || self
                    .spec
                    .person
                    .emails
                    .as_ref()
                    .is_some_and(|f| f.required != Some(false));
            if emails.is_empty() && required && !rules.iter().any(|p| p.field == "person.emails") {
                rules.push(c.problem("", "the person has no e-mail (Krayin requires one for a new person; set required = false under [person.emails] to allow it)"));
            }
        }
        let mut phones = Vec::new();
        if let Some(c) = field(slot::PHONES) {
            for p in c.values(text(slot::PHONES)) {
                match convert::parse_phone_in(p, c.region) {
                    Ok(e164) => {
                        if !phones.contains(&e164) {
                            phones.push(e164);
                        }
                    }
                    Err(e) => conversion.push(c.problem(p, e)),
                }
            }
        }

        // Organization.
        let organization = owned(slot::ORG_NAME).map(|name| {
            let addr = Address {
                address: owned(slot::ORG_ADDRESS),
                city: owned(slot::ORG_CITY),
                state: owned(slot::ORG_STATE),
                postcode: owned(slot::ORG_POSTCODE),
                country: owned(slot::ORG_COUNTRY),
            };
            MappedOrganization {
                name,
                address: (addr != Address::default()).then_some(addr),
            }
        });
        if let (Some(o), Some(c)) = (&organization, field(slot::ORG_NAME)) {
            check_length(c, &o.name, &mut rules);
        }

        let mut attributes = BTreeMap::new();
        for (code, c) in &self.attributes {
            let value = c.text(cells);
            if let Some(r) = &self.resolver
                && let Some((kind, validation, required)) = r.attribute_rules.get(code)
            {
                check_attribute(
                    c,
                    value.as_deref(),
                    kind,
                    validation.as_deref(),
                    *required,
                    &mut rules,
                );
            }
            if let Some(v) = value {
                attributes.insert(code.clone(), v.into_owned());
            }
        }

        if !conversion.is_empty() || !rules.is_empty() {
            let stage = if conversion.is_empty() {
                Stage::Validate
            } else {
                Stage::Map
            };
            conversion.extend(rules);
            return Err(Rejection::new(row, stage, conversion));
        }
        Ok(MappedLead {
            title,
            description,
            lead_value,
            expected_close_date,
            source_id: ids[slot::SOURCE],
            type_id: ids[slot::TYPE],
            pipeline_id: pipeline,
            stage_id,
            user_id: ids[slot::OWNER],
            person: MappedPerson {
                name: person_name,
                emails,
                phones,
                job_title,
            },
            organization,
            attributes,
            warnings,
        })
    }
}

/// Krayin's AttributeForm rules for a custom attribute (§7): `required` when `is_required`,
/// `price` → decimal, text `validation` numeric/email/decimal/url. Uniqueness is Krayin's to
/// check (its 422 comes back in the error report, pointed at the column).
fn check_attribute(
    c: &Compiled,
    value: Option<&str>,
    kind: &str,
    validation: Option<&str>,
    required: bool,
    rules: &mut Vec<Problem>,
) {
    let Some(v) = value else {
        if required {
            rules.push(c.problem("", "Krayin requires this attribute"));
        }
        return;
    };
    let decimal = |v: &str| crate::sandbox::rules::is_decimal(v);
    let ok = match (kind, validation) {
        ("price", _) | (_, Some("decimal")) => decimal(v),
        (_, Some("numeric")) => v.parse::<f64>().is_ok(),
        (_, Some("email")) => crate::sandbox::rules::is_email(v),
        (_, Some("url")) => v.starts_with("http://") || v.starts_with("https://"),
        _ => true,
    };
    if !ok {
        let what = match (kind, validation) {
            ("price", _) | (_, Some("decimal")) => "a decimal (digits, a dot, at most 4 decimals)",
            (_, Some("numeric")) => "a number",
            (_, Some("email")) => "an e-mail address",
            _ => "a URL (http:// or https://)",
        };
        rules.push(c.problem(v, format!("Krayin's attribute rules want {what}")));
    }
}

fn check_length(c: &Compiled, v: &str, rules: &mut Vec<Problem>) {
    // At most one character a byte: a short text needs no counting.
    if v.len() <= MAX_TEXT {
        return;
    }
    let n = v.chars().count();
    if n > MAX_TEXT {
        let shown: String = v.chars().take(40).collect();
        rules.push(c.problem(
            &format!("{shown}…"),
            format!("{n} characters: Krayin keeps at most 255 (it would cut the rest silently)"),
        ));
    }
}

#[cfg(test)]
mod tests;
