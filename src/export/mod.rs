//! The export: Krayin leads (or activities) → a reporting file.
//!
//! ```text
//! filters ──► fetch (pages through the client) ──► flatten (ids → names) ──► frame (polars)
//!        ──► local filters ──► summary ──► columns ──► write (CSV/XLSX/Parquet/JSONL) ──► state
//! ```
//!
//! Filters Krayin can apply (exact column filters, contract §6) are sent to it, after names are
//! turned into ids; the others (dates, value ranges) are applied to the frame. `--incremental`
//! keeps a watermark in a state file and reads only what changed since (sorted by
//! `updated_at`, descending, stopping at the watermark). Nothing is written until everything
//! was read, and every file is renamed into place: a failed or interrupted export leaves the
//! previous files and the previous watermark as they were.

pub mod fetch;
pub mod flatten;
pub mod state;
pub mod summary;
pub mod table;
pub mod write;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use polars::prelude::*;
use serde::Serialize;

use self::fetch::{Cutoff, Plan};
use self::flatten::Names;
use self::table::{Table, micros};
use self::write::{Format, Sheet};
use crate::krayin::model::{Activity, Lead};
use crate::krayin::{Client, Lookups, Tables};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Entity {
    Leads,
    Activities,
}

impl Entity {
    pub fn name(self) -> &'static str {
        match self {
            Entity::Leads => "leads",
            Entity::Activities => "activities",
        }
    }
}

/// Won, lost or open: a filter on the stage's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Status {
    Open,
    Won,
    Lost,
}

/// Filters sent to Krayin, by name, as the user wrote them (each a list: any of them).
#[derive(Debug, Clone, Default)]
pub struct ApiFilters {
    pub pipeline: Vec<String>,
    pub stage: Vec<String>,
    pub status: Vec<Status>,
    pub source: Vec<String>,
    /// Lead type names, or activity types (`call`, `meeting`…) for activities.
    pub kind: Vec<String>,
    /// User e-mails (or names).
    pub owner: Vec<String>,
}

/// Filters applied to the frame: Krayin has no range filters (§13).
#[derive(Debug, Clone, Default)]
pub struct LocalFilters {
    /// Changed at or after (`updated_at`); also where an `updated_at`-ordered read stops.
    pub since: Option<Timestamp>,
    pub created_from: Option<Date>,
    /// Inclusive.
    pub created_to: Option<Date>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
}

/// Where the summary goes.
#[derive(Debug, Clone, PartialEq)]
pub enum SummaryTo {
    /// A sheet named `Summary` in the XLSX output.
    Sheet,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub entity: Entity,
    pub out: PathBuf,
    pub format: Format,
    pub api: ApiFilters,
    pub local: LocalFilters,
    pub incremental: bool,
    /// The incremental state file (default `<out>.state.json`).
    pub state: Option<PathBuf>,
    pub columns: Option<Vec<String>>,
    pub summary: Option<SummaryTo>,
    pub partition_by_month: bool,
    /// Zone of the written date-times.
    pub tz: TimeZone,
    /// Krayin's APP_TIMEZONE.
    pub server_tz: TimeZone,
    pub page_size: u64,
    pub concurrency: usize,
    pub include_system: bool,
    pub progress: bool,
    pub report: Option<PathBuf>,
}

/// What an export did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub entity: Entity,
    pub out: String,
    pub format: Format,
    /// Rows written to the output.
    pub rows: u64,
    /// Rows Krayin counted for the query when reading began (`meta.total`).
    pub total: u64,
    /// Rows read and kept before local filters.
    pub read: u64,
    pub pages: u64,
    pub requests: u64,
    pub incremental: bool,
    /// The cutoff this run read from (incremental or `--since`), ISO-8601 UTC.
    pub changed_since: Option<String>,
    pub watermark: Option<String>,
    pub summary_file: Option<String>,
    pub partitions: Vec<String>,
    pub system_activities_left_out: u64,
    pub fetch_secs: f64,
    pub write_secs: f64,
    pub duration_secs: f64,
    pub endpoints: std::collections::BTreeMap<String, crate::krayin::metrics::EndpointReport>,
}

/// The default state file: beside the output.
pub fn default_state_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".state.json");
    out.with_file_name(name)
}

/// `--since`: `2026-12-01` (midnight in `tz`), `2026-12-01 08:30[:00]` (wall time in `tz`),
/// RFC 3339 (`2026-12-01T08:30:00Z`), or an age: `36h`, `7d`.
pub fn parse_since(s: &str, tz: &TimeZone, now: Timestamp) -> Result<Timestamp, String> {
    let s = s.trim();
    let bad = || {
        format!(
            "bad date {s:?}: expected 2026-12-01, \"2026-12-01 08:30\", 2026-12-01T08:30:00Z, 36h or 7d"
        )
    };
    if let Some(n) = s.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()) {
        return now
            .checked_sub(jiff::SignedDuration::from_hours(n * 24))
            .map_err(|_| bad());
    }
    if let Some(n) = s.strip_suffix('h').and_then(|n| n.parse::<i64>().ok()) {
        return now
            .checked_sub(jiff::SignedDuration::from_hours(n))
            .map_err(|_| bad());
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    if let Some(d) = (s.len() == 10).then(|| s.parse::<Date>().ok()).flatten() {
        return d
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| bad());
    }
    if let Ok(dt) = s.replace(' ', "T").parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| bad());
    }
    Err(bad())
}

/// Runs an export with a connected client.
pub async fn run(opts: Options, client: Client) -> anyhow::Result<Summary> {
    let started = Instant::now();
    if opts.partition_by_month && opts.format != Format::Parquet {
        bail!("--partition-by month writes Parquet: use --format parquet (or an .parquet --out)");
    }
    if opts.entity == Entity::Activities {
        if !opts.api.pipeline.is_empty()
            || !opts.api.stage.is_empty()
            || !opts.api.status.is_empty()
            || !opts.api.source.is_empty()
        {
            bail!("--pipeline, --stage, --status and --source filter leads, not activities");
        }
        if opts.local.min_value.is_some() || opts.local.max_value.is_some() {
            bail!("--min-value and --max-value filter leads, not activities");
        }
        if opts.summary.is_some() {
            bail!("--summary summarizes leads (by stage, source, owner and month), not activities");
        }
    }
    if let Some(SummaryTo::File(p)) = &opts.summary
        && Format::from_path(p).is_none()
    {
        bail!(
            "--summary {}: cannot tell the format from the extension; use .csv, .xlsx, \
             .parquet or .jsonl",
            p.display()
        );
    }
    if opts.summary == Some(SummaryTo::Sheet) && opts.format != Format::Xlsx {
        bail!("--summary without a file adds a sheet to an XLSX export: give it a file name");
    }
    let all_columns: Vec<&str> = match opts.entity {
        Entity::Leads => flatten::LEAD_COLUMNS.iter().map(|c| c.0).collect(),
        Entity::Activities => flatten::ACTIVITY_COLUMNS.iter().map(|c| c.0).collect(),
    };
    if let Some(cols) = &opts.columns {
        let mut named = HashSet::new();
        for c in cols {
            if !named.insert(c.as_str()) {
                bail!("--columns: {c:?} is named twice; name each column once");
            }
            if !all_columns.contains(&c.as_str()) {
                bail!(
                    "--columns: no column {c:?} in a {} export; the columns are: {}",
                    opts.entity.name(),
                    all_columns.join(",")
                );
            }
        }
    }
    // Names in filters → ids: only the look-up tables the filters name are fetched (a quiet
    // incremental rerun costs its one page request plus these).
    let have = filter_tables(opts.entity, &opts.api);
    let mut lookups = if have.is_empty() {
        Lookups::default()
    } else {
        client.lookup_tables(have).await?
    };
    let filters = resolve_filters(&lookups, opts.entity, &opts.api)?;
    let include_system = opts.include_system
        || (opts.entity == Entity::Activities && split(&opts.api.kind).any(|k| eq(k, "system")));

    let query = canonical_query(&filters, &opts, include_system);
    let state_path = opts
        .state
        .clone()
        .unwrap_or_else(|| default_state_path(&opts.out));
    let previous = if opts.incremental {
        let s = state::load(&state_path)?;
        if let Some(s) = &s
            && (s.query != query || s.entity != opts.entity.name())
        {
            bail!(
                "{} was written for another export ({} {}), not this one ({} {}): use another \
                 --state file, or delete it to export everything again",
                state_path.display(),
                s.entity,
                s.query,
                opts.entity.name(),
                query
            );
        }
        s
    } else {
        None
    };

    // The cutoff: the watermark of the last run, or --since, whichever is later; and how to
    // name it in the report.
    let mut cutoff: Option<Cutoff> = None;
    let mut changed_since: Option<String> = None;
    if let Some(s) = &previous {
        let after = s.watermark.parse::<Timestamp>().with_context(|| {
            format!("{}: bad watermark {:?}", state_path.display(), s.watermark)
        })?;
        cutoff = Some(Cutoff {
            after,
            seen: s.ids_at_watermark.iter().copied().collect(),
        });
        changed_since = Some(s.watermark.clone());
    }
    if let Some(since) = opts.local.since {
        let just_before = since - jiff::SignedDuration::from_micros(1);
        if cutoff.as_ref().is_none_or(|c| c.after < just_before) {
            cutoff = Some(Cutoff {
                after: just_before,
                seen: HashSet::new(),
            });
            changed_since = Some(iso(since));
        }
    }

    let plan = Plan {
        filters,
        page_size: opts.page_size.max(1),
        concurrency: opts.concurrency.max(1),
        cutoff: cutoff.clone(),
        server_tz: opts.server_tz.clone(),
        pin_watermark: opts.incremental && cutoff.is_none(),
    };

    let bar = opts.progress.then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_message(opts.entity.name());
        b
    });
    let on_page = |read: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total.max(read));
            b.set_position(read);
        }
    };

    let fetch_started = Instant::now();
    let mut system_left_out = 0;
    let (table, total, read_rows, pages, newest) = match opts.entity {
        Entity::Leads => {
            let f = fetch::read::<Lead>(&client, &plan, &on_page).await?;
            let table = if f.rows.is_empty() {
                Table {
                    columns: flatten::LEAD_COLUMNS.to_vec(),
                    rows: Vec::new(),
                }
            } else {
                let more = NAMING_TABLES.without(have);
                if !more.is_empty() {
                    lookups.merge(client.lookup_tables(more).await?, more);
                }
                Names::new(&lookups, opts.tz.clone(), opts.server_tz.clone()).leads(f.rows.values())
            };
            (table, f.total, f.rows.len() as u64, f.pages, f.newest)
        }
        Entity::Activities => {
            let f = fetch::read::<Activity>(&client, &plan, &on_page).await?;
            let names = Names::new(&Lookups::default(), opts.tz.clone(), opts.server_tz.clone());
            let kept: Vec<&Activity> = f
                .rows
                .values()
                .filter(|a| include_system || a.kind != "system")
                .collect();
            system_left_out = f.rows.len() as u64 - kept.len() as u64;
            (
                names.activities(kept),
                f.total,
                f.rows.len() as u64,
                f.pages,
                f.newest,
            )
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let fetch_secs = fetch_started.elapsed().as_secs_f64();

    let write_started = Instant::now();
    let frame = table.to_frame()?;
    let frame = apply_local(frame, &opts.local, opts.entity)?;
    let summary_frame = match &opts.summary {
        Some(_) => Some(summary::summarize(&frame)?),
        None => None,
    };
    let selected = match &opts.columns {
        Some(cols) => frame.select(cols.iter().map(|c| c.as_str()))?,
        None => frame.clone(),
    };
    let mut partitions = Vec::new();
    if opts.partition_by_month {
        partitions = write_partitions(&frame, &selected, &opts.out, opts.incremental)?;
    } else {
        let extra: Vec<Sheet<'_>> = match (&opts.summary, &summary_frame) {
            (Some(SummaryTo::Sheet), Some(s)) => vec![Sheet {
                name: "Summary",
                frame: s,
            }],
            _ => vec![],
        };
        let sheet = match opts.entity {
            Entity::Leads => "Leads",
            Entity::Activities => "Activities",
        };
        write::write(&selected, &opts.out, opts.format, sheet, &extra)?;
    }
    let mut summary_file = None;
    if let (Some(SummaryTo::File(p)), Some(s)) = (&opts.summary, &summary_frame) {
        let format = Format::from_path(p).unwrap_or(Format::Csv);
        write::write(s, p, format, "Summary", &[])?;
        summary_file = Some(p.display().to_string());
    }
    let write_secs = write_started.elapsed().as_secs_f64();

    let watermark = newest.as_ref().map(|(t, _)| iso(*t));
    let summary = Summary {
        entity: opts.entity,
        out: opts.out.display().to_string(),
        format: opts.format,
        rows: selected.height() as u64,
        total,
        read: read_rows,
        pages,
        requests: client.metrics().total_requests(),
        incremental: opts.incremental,
        changed_since,
        watermark,
        summary_file,
        partitions,
        system_activities_left_out: system_left_out,
        fetch_secs,
        write_secs,
        duration_secs: started.elapsed().as_secs_f64(),
        endpoints: client.metrics().report(),
    };
    // The run report first: a report that cannot be written must not cost a delta, so the
    // watermark moves last, once everything else is in place.
    if let Some(p) = &opts.report {
        let text = serde_json::to_string_pretty(&summary)?;
        write::atomically(p, |w| {
            use std::io::Write;
            w.write_all(text.as_bytes())?;
            Ok(())
        })?;
    }
    // The watermark moves only now that the output is in place.
    if opts.incremental {
        let next = match (&newest, &previous) {
            (Some((t, ids)), _) => Some((iso(*t), ids.iter().copied().collect())),
            (None, Some(p)) => Some((p.watermark.clone(), p.ids_at_watermark.clone())),
            (None, None) => None,
        };
        if let Some((watermark, ids_at_watermark)) = next {
            state::save(
                &state_path,
                &state::State {
                    version: state::VERSION,
                    entity: opts.entity.name().into(),
                    query: query.clone(),
                    watermark,
                    ids_at_watermark,
                    last_run: Timestamp::now().to_string(),
                    last_rows: selected.height() as u64,
                },
            )?;
        }
    }

    Ok(summary)
}

fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// The look-up tables naming a lead's ids (attributes are never exported).
const NAMING_TABLES: Tables = Tables {
    sources: true,
    types: true,
    pipelines: true,
    users: true,
    attributes: false,
};

/// The look-up tables the API filters need to turn names into ids.
fn filter_tables(entity: Entity, f: &ApiFilters) -> Tables {
    let users = !f.owner.is_empty();
    match entity {
        Entity::Leads => Tables {
            sources: !f.source.is_empty(),
            types: !f.kind.is_empty(),
            pipelines: !(f.pipeline.is_empty() && f.stage.is_empty() && f.status.is_empty()),
            users,
            attributes: false,
        },
        // Activity types are codes (`call`, `meeting`), sent as typed.
        Entity::Activities => Tables {
            users,
            ..Tables::default()
        },
    }
}

/// The filters a watermark belongs to, in one canonical line: the API filters as the ids
/// they resolved to (so `--owner jane@x.com` and `--owner "Jane Doe"` are one export, and a
/// renamed stage still is), then the local filters.
fn canonical_query(filters: &[(String, String)], o: &Options, include_system: bool) -> String {
    let mut parts: Vec<String> = filters
        .iter()
        .map(|(k, v)| {
            let mut v: Vec<String> = v.split(',').map(|x| x.trim().to_lowercase()).collect();
            v.sort();
            v.dedup();
            format!("{k}={}", v.join(","))
        })
        .collect();
    parts.sort();
    let l = &o.local;
    let mut local = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    };
    local("created-from", l.created_from.map(|d| d.to_string()));
    local("created-to", l.created_to.map(|d| d.to_string()));
    local("min-value", l.min_value.map(|d| d.to_string()));
    local("max-value", l.max_value.map(|d| d.to_string()));
    if include_system {
        parts.push("include-system".into());
    }
    if parts.is_empty() {
        "all".into()
    } else {
        parts.join(" ")
    }
}

fn split(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn eq(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn ids_param(ids: impl IntoIterator<Item = u64>) -> String {
    let mut v: Vec<u64> = ids.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn unknown(flag: &str, value: &str, known: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!(
        "{flag} {value:?}: Krayin has no such name; it has: {} (see `krayin-etl lookups`)",
        known.join(", ")
    )
}

fn activity_type_filter(entity: Entity, f: &ApiFilters) -> Vec<(String, String)> {
    if entity == Entity::Activities && !f.kind.is_empty() {
        vec![("type".into(), split(&f.kind).collect::<Vec<_>>().join(","))]
    } else {
        Vec::new()
    }
}

/// Names → ids, as exact column filters (§6).
fn resolve_filters(
    l: &Lookups,
    entity: Entity,
    f: &ApiFilters,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = activity_type_filter(entity, f);
    let mut owners = Vec::new();
    for o in split(&f.owner) {
        let u = l
            .users
            .iter()
            .find(|u| eq(&u.email, o))
            .or_else(|| l.users.iter().find(|u| eq(&u.name, o)))
            .ok_or_else(|| {
                // Not every user's e-mail in a log: the closest one, and where to see them all.
                let closest = l
                    .users
                    .iter()
                    .map(|u| {
                        (
                            strsim::jaro_winkler(&u.email.to_lowercase(), &o.to_lowercase()),
                            u,
                        )
                    })
                    .filter(|(score, _)| *score > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, u)| format!(" (did you mean {}?)", u.email))
                    .unwrap_or_default();
                anyhow::anyhow!(
                    "--owner {o:?}: Krayin has no user with this e-mail or name{closest}; \
                     `krayin-etl lookups` lists them"
                )
            })?;
        owners.push(u.id);
    }
    if !owners.is_empty() {
        out.push(("user_id".into(), ids_param(owners)));
    }
    if entity == Entity::Activities {
        return Ok(out);
    }
    let mut pipelines = Vec::new();
    for p in split(&f.pipeline) {
        let found = l.pipelines.iter().find(|x| eq(&x.name, p)).ok_or_else(|| {
            unknown(
                "--pipeline",
                p,
                l.pipelines.iter().map(|x| x.name.clone()).collect(),
            )
        })?;
        pipelines.push(found);
    }
    if !pipelines.is_empty() {
        out.push((
            "lead_pipeline_id".into(),
            ids_param(pipelines.iter().map(|p| p.id)),
        ));
    }
    // Stages: of the chosen pipelines, or of all.
    let scope: Vec<&crate::krayin::model::Pipeline> = if pipelines.is_empty() {
        l.pipelines.iter().collect()
    } else {
        pipelines.clone()
    };
    let stages_in_scope = || scope.iter().flat_map(|p| p.stages.iter());
    let mut stage_ids: Option<HashSet<u64>> = None;
    let names: Vec<&str> = split(&f.stage).collect();
    if !names.is_empty() {
        let mut ids = HashSet::new();
        for n in names {
            let matched: Vec<u64> = stages_in_scope()
                .filter(|s| eq(&s.name, n) || s.code.as_deref().is_some_and(|c| eq(c, n)))
                .map(|s| s.id)
                .collect();
            if matched.is_empty() {
                return Err(unknown(
                    "--stage",
                    n,
                    stages_in_scope().map(|s| s.name.clone()).collect(),
                ));
            }
            ids.extend(matched);
        }
        stage_ids = Some(ids);
    }
    if !f.status.is_empty() {
        let ids: HashSet<u64> = stages_in_scope()
            .filter(|s| {
                let st = match s.code.as_deref() {
                    Some("won") => Status::Won,
                    Some("lost") => Status::Lost,
                    _ => Status::Open,
                };
                f.status.contains(&st)
            })
            .map(|s| s.id)
            .collect();
        stage_ids = Some(match stage_ids {
            Some(prev) => prev.intersection(&ids).copied().collect(),
            None => ids,
        });
    }
    if let Some(ids) = stage_ids {
        if ids.is_empty() {
            bail!("--stage and --status together match no stage: nothing could be exported");
        }
        out.push(("lead_pipeline_stage_id".into(), ids_param(ids)));
    }
    let named = |flag: &str,
                 values: &[String],
                 items: &[crate::krayin::model::NamedItem]|
     -> anyhow::Result<Option<String>> {
        let mut ids = Vec::new();
        for v in split(values) {
            let i = items
                .iter()
                .find(|i| eq(&i.name, v))
                .ok_or_else(|| unknown(flag, v, items.iter().map(|i| i.name.clone()).collect()))?;
            ids.push(i.id);
        }
        Ok((!ids.is_empty()).then(|| ids_param(ids)))
    };
    if let Some(ids) = named("--source", &f.source, &l.sources)? {
        out.push(("lead_source_id".into(), ids));
    }
    if let Some(ids) = named("--type", &f.kind, &l.types)? {
        out.push(("lead_type_id".into(), ids));
    }
    Ok(out)
}

/// Date and value ranges, on the frame (Krayin cannot filter them, §13).
fn apply_local(frame: DataFrame, f: &LocalFilters, entity: Entity) -> anyhow::Result<DataFrame> {
    let mut conds: Vec<Expr> = Vec::new();
    let physical = |name: &str| col(name).cast(DataType::Int64);
    let tz_midnight = |d: Date| micros(d.to_datetime(jiff::civil::Time::midnight()));
    if let Some(from) = f.created_from {
        conds.push(physical("created_at").gt_eq(lit(tz_midnight(from))));
    }
    if let Some(to) = f.created_to {
        let next = to
            .tomorrow()
            .map_err(|e| anyhow::anyhow!("--created-to: {e}"))?;
        conds.push(physical("created_at").lt(lit(tz_midnight(next))));
    }
    if entity == Entity::Leads {
        if let Some(min) = f.min_value {
            conds.push(col("lead_value").gt_eq(lit(min)));
        }
        if let Some(max) = f.max_value {
            conds.push(col("lead_value").lt_eq(lit(max)));
        }
    }
    if conds.is_empty() {
        return Ok(frame);
    }
    let all = conds
        .into_iter()
        .reduce(|a, b| a.and(b))
        .expect("non-empty");
    Ok(frame.lazy().filter(all).collect()?)
}

/// `--partition-by month`: `OUT/year=YYYY/month=MM/*.parquet` (Hive layout, read by DuckDB,
/// Spark and Trino), by `created_at`. A full export replaces the folder's partitions; an
/// incremental one adds a file per run to the partitions it touches. Each file is renamed into
/// place; a run failing between two months leaves the earlier months new and the later ones
/// as they were (and the watermark unmoved, so the next run writes them again).
fn write_partitions(
    frame: &DataFrame,
    selected: &DataFrame,
    out: &Path,
    incremental: bool,
) -> anyhow::Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let months = summary::month_column(frame, "created_at")?;
    let months = months.str()?;
    let mut keys: Vec<String> = months
        .iter()
        .map(|m| m.unwrap_or("none").to_string())
        .collect();
    keys.sort();
    keys.dedup();
    let stamp = Timestamp::now().strftime("%Y%m%dT%H%M%S%6fZ").to_string();
    let mut written = Vec::new();
    for key in &keys {
        let mask: BooleanChunked = months.iter().map(|m| m.unwrap_or("none") == key).collect();
        let part = selected.filter(&mask)?;
        let (y, m) = key
            .split_once('-')
            .unwrap_or(("__HIVE_DEFAULT_PARTITION__", "__HIVE_DEFAULT_PARTITION__"));
        let dir = out.join(format!("year={y}")).join(format!("month={m}"));
        let file = if incremental {
            dir.join(format!("part-{stamp}.parquet"))
        } else {
            dir.join("data.parquet")
        };
        write::write(&part, &file, Format::Parquet, "", &[])?;
        written.push(file.display().to_string());
    }
    if !incremental {
        // A full export is the whole truth: every other Parquet file of the layout goes (months
        // that no longer have rows, and the deltas of earlier incremental runs, which could
        // bring deleted leads back).
        for year in std::fs::read_dir(out)? {
            let year = year?.path();
            if !year.is_dir() || !name_starts(&year, "year=") {
                continue;
            }
            for month in std::fs::read_dir(&year)? {
                let month = month?.path();
                if !month.is_dir() || !name_starts(&month, "month=") {
                    continue;
                }
                for file in std::fs::read_dir(&month)? {
                    let file = file?.path();
                    let parquet = file.extension().is_some_and(|e| e == "parquet");
                    if parquet && !written.contains(&file.display().to_string()) {
                        std::fs::remove_file(&file)?;
                    }
                }
            }
        }
    }
    Ok(written)
}

fn name_starts(p: &Path, prefix: &str) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_wall_times_instants_and_ages() {
        let tz = TimeZone::get("America/Sao_Paulo").unwrap();
        let now: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
        let t = |s| parse_since(s, &tz, now).unwrap().to_string();
        assert_eq!(t("2026-12-01"), "2026-12-01T03:00:00Z");
        assert_eq!(t("2026-12-01 08:30"), "2026-12-01T11:30:00Z");
        assert_eq!(t("2026-12-01T08:30:00Z"), "2026-12-01T08:30:00Z");
        assert_eq!(t("7d"), "2026-11-26T12:00:00Z");
        assert_eq!(t("36h"), "2026-12-02T00:00:00Z");
        let e = parse_since("yesterday", &tz, now).unwrap_err();
        assert!(e.contains("\"yesterday\""), "{e}");
    }

    #[test]
    fn the_default_state_file_sits_beside_the_output() {
        assert_eq!(
            default_state_path(Path::new("out/leads.parquet")),
            PathBuf::from("out/leads.parquet.state.json")
        );
    }
}
