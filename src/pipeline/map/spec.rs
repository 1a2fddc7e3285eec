//! Mapping files (`mappings/*.toml`): how the columns of a user's spreadsheet become a Krayin
//! lead with its person and organization.
//!
//! A mapping is checked against the file's header *before any row is read*: a column the file
//! lacks, an unknown target field, a bad transform or a template naming a missing column is
//! refused with the mapping file, the key and a suggestion. The README's "Mapping files" section
//! documents every key; keep it in step with this file.
//!
//! Not here: applying the mapping to a row ([`super::convert`], [`super::Mapper`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole mapping file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MappingFile {
    /// Reader options for the input this mapping is meant for.
    #[serde(default)]
    pub source: SourceOptions,
    #[serde(default)]
    pub settings: Settings,
    #[serde(default)]
    pub lead: LeadFields,
    #[serde(default)]
    pub person: PersonFields,
    #[serde(default)]
    pub organization: OrganizationFields,
    /// Custom lead attributes by code (`[attributes.external_id]`).
    #[serde(default)]
    pub attributes: BTreeMap<String, Field>,
    /// Follow-up activities created for each new lead.
    #[serde(default)]
    pub activities: Vec<ActivitySpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SourceOptions {
    /// A single character: `,`, `;`, `\t`, `|`.
    pub delimiter: Option<String>,
    /// A WHATWG label: `utf-8`, `windows-1252`, `iso-8859-1`, `utf-16le`.
    pub encoding: Option<String>,
    /// 1-based row of the header.
    pub header_row: Option<u64>,
    /// A sheet name, or its 1-based position as a number.
    pub sheet: Option<toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Krayin's `APP_TIMEZONE`: "today" for close dates, and wall times sent (§12).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Default number locale: `pt-BR` (`15.000,00`), `en` (`15,000.00`) or `auto`.
    #[serde(default = "default_locale")]
    pub number_locale: String,
    /// Default date formats, tried in order: strftime patterns, `iso`, `excel`.
    #[serde(default = "default_dates")]
    pub date_formats: Vec<String>,
    /// Default region for phones written without a country code (ISO 3166, e.g. `BR`).
    pub phone_region: Option<String>,
    /// What to do with an `expected_close_date` before today (Krayin refuses it): `drop` the
    /// field with a warning, or `reject` the row.
    #[serde(default)]
    pub past_close_date: PastDatePolicy,
    /// Label Krayin stores with each e-mail and phone.
    #[serde(default = "default_label")]
    pub contact_label: String,
    /// Fields that identify a lead for `--mode skip-existing|upsert`, e.g.
    /// `["title", "person.emails"]` or `["attributes.external_id"]`.
    #[serde(default)]
    pub key: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: default_timezone(),
            number_locale: default_locale(),
            date_formats: default_dates(),
            phone_region: None,
            past_close_date: PastDatePolicy::default(),
            contact_label: default_label(),
            key: Vec::new(),
        }
    }
}

fn default_timezone() -> String {
    "Asia/Kolkata".into()
}
fn default_locale() -> String {
    "auto".into()
}
fn default_dates() -> Vec<String> {
    vec!["iso".into(), "%d/%m/%Y".into(), "excel".into()]
}
fn default_label() -> String {
    "work".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PastDatePolicy {
    #[default]
    Drop,
    Reject,
}

/// Where a target field's value comes from, and how it is transformed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Field {
    /// A source column (by header name).
    pub column: Option<String>,
    /// A template over columns: `"{empresa} - {contato}"` (`{{` and `}}` for braces).
    pub template: Option<String>,
    /// A constant.
    pub value: Option<String>,
    /// Used when the column or template gives an empty value.
    pub default: Option<String>,
    /// Trim spaces (default true).
    pub trim: Option<bool>,
    /// `lower`, `upper` or `title`.
    pub case: Option<String>,
    /// Split a cell into several values on any of these characters (e-mails, phones).
    pub split: Option<String>,
    /// Number locale for this field: `pt-BR`, `en`, `auto`.
    pub number_locale: Option<String>,
    /// Date formats for this field (strftime, `iso`, `excel`).
    pub date_formats: Option<Vec<String>>,
    /// Replace whole values before anything else: `{ "Site" = "Web" }`.
    #[serde(default)]
    pub replace: BTreeMap<String, String>,
    /// Refuse the row when the value is empty (on top of Krayin's own rules).
    pub required: Option<bool>,
    /// Region for phones of this field.
    pub phone_region: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeadFields {
    pub title: Option<Field>,
    pub description: Option<Field>,
    pub lead_value: Option<Field>,
    pub expected_close_date: Option<Field>,
    /// Lead source by name (`Web`), looked up once per run.
    pub source: Option<Field>,
    /// Lead type by name (`New Business`).
    #[serde(rename = "type")]
    pub kind: Option<Field>,
    /// Pipeline by name (default: Krayin's default pipeline).
    pub pipeline: Option<Field>,
    /// Stage by name or code within the pipeline (default: its first stage).
    pub stage: Option<Field>,
    /// Sales owner by e-mail or name.
    pub owner: Option<Field>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PersonFields {
    pub name: Option<Field>,
    pub emails: Option<Field>,
    pub phones: Option<Field>,
    pub job_title: Option<Field>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrganizationFields {
    pub name: Option<Field>,
    pub address: Option<Field>,
    pub city: Option<Field>,
    pub state: Option<Field>,
    pub postcode: Option<Field>,
    pub country: Option<Field>,
}

/// `[[activities]]`: a follow-up created for each new lead.
#[derive(Debug, Clone, Deserialize)]
pub struct ActivitySpec {
    /// Krayin activity type: `call`, `meeting`, `lunch`, `note`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Template over columns, e.g. `"Call {contato}"`.
    pub title: String,
    pub comment: Option<String>,
    /// When, after the import: `24h`, `2d`, `1w`.
    #[serde(default = "default_after")]
    pub after: String,
    /// Length of the activity.
    #[serde(default = "default_duration")]
    pub duration: String,
    /// Repeat this many times in total (a sequence), each `every` apart.
    #[serde(default = "one")]
    pub repeat: u32,
    pub every: Option<String>,
}

fn default_after() -> String {
    "24h".into()
}
fn default_duration() -> String {
    "30m".into()
}
fn one() -> u32 {
    1
}

/// One mistake in a mapping, naming the file and the key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct SpecError {
    pub file: String,
    pub key: String,
    pub message: String,
}

/// Every mistake found in a mapping, reported together so that one edit fixes them all (a
/// compiler's habit, not a stop at the first one): unknown keys, columns the file lacks, bad
/// locales, formats and transforms. Never empty.
#[derive(Debug, Clone)]
pub struct SpecErrors(pub Vec<SpecError>);

impl std::fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_slice() {
            [] => write!(f, "the mapping is wrong"),
            [one] => write!(f, "{one}"),
            [first, ..] => {
                write!(
                    f,
                    "{}: {} mistakes in the mapping (the README's \"Mapping files\" section lists every key):",
                    first.file,
                    self.0.len()
                )?;
                for e in &self.0 {
                    write!(f, "\n  {}: {}", e.key, e.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SpecErrors {}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }
}

/// The keys a field table (`[lead.title]`, `[attributes.code]`…) may set: [`Field`]'s, for
/// the "did you mean" of a misspelt one (a unit test holds every name here known to `Field`).
const FIELD_KEYS: [&str; 12] = [
    "column",
    "template",
    "value",
    "default",
    "trim",
    "case",
    "split",
    "number_locale",
    "date_formats",
    "replace",
    "required",
    "phone_region",
];

impl MappingFile {
    /// Reads and parses a mapping, refusing any key it does not know (see [`MappingFile::read`]).
    pub fn load(path: &Path) -> Result<MappingFile, SpecErrors> {
        let (spec, unknown) = MappingFile::read(path)?;
        if unknown.is_empty() {
            Ok(spec)
        } else {
            Err(SpecErrors(unknown))
        }
    }

    /// Reads and parses a mapping. A syntax or type error stops here (the TOML parser knows
    /// only the first); keys the mapping does not know are all collected and returned beside
    /// it, so that [`super::Mapper::new`]'s findings can be reported with them.
    pub fn read(path: &Path) -> Result<(MappingFile, Vec<SpecError>), SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: file.clone(),
            key: "(file)".into(),
            message: format!("cannot read the mapping: {e}"),
        })?;
        MappingFile::parse(&text, &file)
    }

    /// [`MappingFile::read`] on text already read; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<(MappingFile, Vec<SpecError>), SpecError> {
        // A syntax or type error: where it is (line and column, from the parser's span) and
        // the line itself, since the span is often a value or an empty spot, not a key.
        let syntax = |e: toml::de::Error| {
            let (key, line) = match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let number = before.matches('\n').count() + 1;
                    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                        .chars()
                        .count()
                        + 1;
                    let line = text.lines().nth(number - 1).unwrap_or("").trim();
                    (
                        format!("line {number}, column {column}"),
                        format!(": `{line}`"),
                    )
                }
                None => ("(syntax)".to_string(), String::new()),
            };
            SpecError {
                file: file.to_string(),
                key,
                message: format!(
                    "{}{line} (see the README's \"Mapping files\" section)",
                    e.message().trim_end()
                ),
            }
        };
        let mut unknown = Vec::new();
        let de = toml::Deserializer::parse(text).map_err(syntax)?;
        // serde_ignored sees every key no struct field took, wherever it is: all of them are
        // reported, where `deny_unknown_fields` would stop at the first.
        let spec: MappingFile = serde_ignored::deserialize(de, |path| {
            unknown.push(dotted(&path));
        })
        .map_err(syntax)?;
        let unknown = unknown
            .into_iter()
            .map(|key| SpecError {
                file: file.to_string(),
                message: format!("unknown key.{}", suggest_key(&key)),
                key,
            })
            .collect();
        Ok((spec, unknown))
    }

    /// Every (target key, field) pair the mapping sets, in a stable order.
    pub fn fields(&self) -> Vec<(String, &Field)> {
        let mut out: Vec<(String, &Field)> = Vec::new();
        let l = &self.lead;
        for (k, f) in [
            ("lead.title", &l.title),
            ("lead.description", &l.description),
            ("lead.lead_value", &l.lead_value),
            ("lead.expected_close_date", &l.expected_close_date),
            ("lead.source", &l.source),
            ("lead.type", &l.kind),
            ("lead.pipeline", &l.pipeline),
            ("lead.stage", &l.stage),
            ("lead.owner", &l.owner),
            ("person.name", &self.person.name),
            ("person.emails", &self.person.emails),
            ("person.phones", &self.person.phones),
            ("person.job_title", &self.person.job_title),
            ("organization.name", &self.organization.name),
            ("organization.address", &self.organization.address),
            ("organization.city", &self.organization.city),
            ("organization.state", &self.organization.state),
            ("organization.postcode", &self.organization.postcode),
            ("organization.country", &self.organization.country),
        ] {
            if let Some(f) = f {
                out.push((k.to_string(), f));
            }
        }
        for (code, f) in &self.attributes {
            out.push((format!("attributes.{code}"), f));
        }
        out
    }
}

/// The targets a mapping may set besides custom attributes, in [`MappingFile::fields`]' order
/// (the mapper keeps a compiled field at its target's position).
pub const TARGETS: [&str; 19] = [
    "lead.title",
    "lead.description",
    "lead.lead_value",
    "lead.expected_close_date",
    "lead.source",
    "lead.type",
    "lead.pipeline",
    "lead.stage",
    "lead.owner",
    "person.name",
    "person.emails",
    "person.phones",
    "person.job_title",
    "organization.name",
    "organization.address",
    "organization.city",
    "organization.state",
    "organization.postcode",
    "organization.country",
];

/// The closest known target to a misspelt key.
pub fn suggest_target(key: &str) -> Option<&'static str> {
    let key = key.trim_matches(|c: char| c == '[' || c == ']' || c.is_whitespace());
    let last = key.rsplit('.').next().unwrap_or(key);
    TARGETS
        .iter()
        .map(|t| {
            let tail = t.rsplit('.').next().unwrap_or(t);
            let score = strsim::jaro_winkler(key, t).max(strsim::jaro_winkler(last, tail));
            (score, *t)
        })
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, t)| t)
}

/// A key's path as a reader of the mapping counts it: `lead.title.colum`, `activities[2].afterr`
/// for the second `[[activities]]` (serde's `Option` and newtype layers, which have no name in
/// the file, left out).
fn dotted(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path;
    let (parent, segment) = match path {
        Path::Root => return String::new(),
        Path::Seq { parent, index } => return format!("{}[{}]", dotted(parent), index + 1),
        Path::Map { parent, key } => (*parent, key.clone()),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => return dotted(parent),
    };
    let parent = dotted(parent);
    if parent.is_empty() {
        segment
    } else {
        format!("{parent}.{segment}")
    }
}

/// " Did you mean …?" for an unknown key: a target for a table (`lead.titel`), a field key
/// for a key inside one (`lead.title.colum`); empty when nothing is close.
fn suggest_key(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let field_level = matches!(
        parts.as_slice(),
        ["lead" | "person" | "organization" | "attributes", _, _]
    );
    let best = if field_level {
        let last = parts[2];
        FIELD_KEYS
            .iter()
            .map(|k| (strsim::jaro_winkler(last, k), *k))
            .filter(|(s, _)| *s > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| format!("{}.{}.{k}", parts[0], parts[1]))
    } else if matches!(
        parts.as_slice(),
        ["lead" | "person" | "organization", _] | [_]
    ) {
        suggest_target(path).map(str::to_string)
    } else {
        None
    };
    best.map(|b| format!(" Did you mean `{b}`?"))
        .unwrap_or_default()
}

/// The header closest to a missing column name (case- and accent-insensitively).
pub fn suggest_column<'a>(wanted: &str, headers: &'a [String]) -> Option<&'a str> {
    let w = super::convert::fold(wanted);
    headers
        .iter()
        .map(|h| {
            (
                strsim::jaro_winkler(&w, &super::convert::fold(h)),
                h.as_str(),
            )
        })
        .filter(|(s, _)| *s > 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, h)| h)
}

/// Where the mapping file is, for messages.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: PathBuf,
    pub spec: MappingFile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "[lead.titel]\ncolumn = \"x\"\n").unwrap();
        let e = MappingFile::load(&p).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("m.toml"), "{msg}");
        assert!(msg.contains("titel"), "{msg}");
        assert!(msg.contains("lead.title"), "{msg}");
    }

    #[test]
    fn every_unknown_key_is_reported_at_once() {
        let text = "[lead.titel]\ncolumn = \"x\"\n[person.name]\ncolum = \"y\"\n\
                    [settings]\ntimezone = \"UTC\"\nbogus = 1\n[[activities]]\ntype = \"call\"\n\
                    title = \"t\"\nafterr = \"1d\"\n";
        let (spec, unknown) = MappingFile::parse(text, "m.toml").unwrap();
        assert_eq!(
            spec.settings.timezone, "UTC",
            "the known keys are still read"
        );
        let keys: Vec<&str> = unknown.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "activities[1].afterr",
                "lead.titel",
                "person.name.colum",
                "settings.bogus"
            ]
        );
        assert!(unknown[1].message.contains("`lead.title`"), "{unknown:?}");
        assert!(!unknown[3].message.contains("Did you mean"), "{unknown:?}");
        assert!(
            unknown[2].message.contains("`person.name.column`"),
            "{unknown:?}"
        );
        let all = SpecErrors(unknown).to_string();
        assert!(all.starts_with("m.toml: 4 mistakes"), "{all}");
        assert_eq!(all.lines().count(), 5, "{all}");
    }

    #[test]
    fn the_field_keys_offered_as_suggestions_are_fields_keys() {
        let body: String = FIELD_KEYS
            .iter()
            .map(|k| match *k {
                "trim" | "required" => format!("{k} = true\n"),
                "date_formats" => format!("{k} = [\"iso\"]\n"),
                "replace" => format!("{k} = {{ a = \"b\" }}\n"),
                _ => format!("{k} = \"x\"\n"),
            })
            .collect();
        let (_, unknown) = MappingFile::parse(&format!("[lead.title]\n{body}"), "m.toml").unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
    }

    #[test]
    fn a_type_error_names_the_key() {
        let e = MappingFile::parse("[lead.title]\ntrim = \"yes\"\n", "m.toml").unwrap_err();
        assert!(e.to_string().contains("m.toml"), "{e}");
        assert_eq!(e.key, "line 2, column 8");
        assert!(
            e.message.contains("bool") && e.message.contains("`trim = \"yes\"`"),
            "{e}"
        );
    }

    #[test]
    fn a_full_mapping_parses() {
        let m: MappingFile = toml::from_str(
            r#"
            [settings]
            timezone = "America/Sao_Paulo"
            number_locale = "pt-BR"
            phone_region = "BR"
            past_close_date = "reject"
            key = ["title", "person.emails"]
            [lead.title]
            template = "{empresa} - {contato}"
            [lead.lead_value]
            column = "valor"
            [lead.source]
            column = "fonte"
            default = "Web"
            replace = { "Site" = "Web" }
            [person.emails]
            column = "email"
            split = ";,"
            [attributes.external_id]
            column = "id"
            [[activities]]
            type = "call"
            title = "Call {contato}"
            after = "24h"
            "#,
        )
        .unwrap();
        assert_eq!(m.fields().len(), 5);
        assert_eq!(m.settings.past_close_date, PastDatePolicy::Reject);
        assert_eq!(m.activities[0].repeat, 1);
    }
}
