//! The import pipeline: read → map → validate → write → report.
//!
//! [`prepare`] opens the input and compiles the mapping against its header (and the server's
//! look-ups) before any row is read; [`check`] runs read → map → validate with no writes.
//! The stages, in order: [`read`] (files → rows with provenance), [`map`] (rows → leads in
//! Krayin's terms, or rejections), [`validate`] (checks across the rows of a file), [`write`]
//! (leads → Krayin, one outcome per row), [`report`] (error report and counts); [`journal`]
//! makes the writes survive crashes and reruns, and [`import`] chains them all.

pub mod import;
pub mod journal;
pub mod map;
pub mod read;
pub mod report;
pub mod seen;
pub mod validate;
pub mod write;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::krayin::{Client, Lookups};
use map::Mapper;
use map::spec::{MappingFile, SpecError, SpecErrors};
use read::{ReadOptions, SheetSelector, Source};

/// What the user asked to read, and with which mapping.
#[derive(Debug, Clone)]
pub struct Job {
    pub input: PathBuf,
    pub mapping: PathBuf,
    /// Flags win over the mapping's `[source]` table.
    pub read: ReadOptions,
    pub errors: Option<PathBuf>,
}

/// An input opened and a mapping compiled: nothing read yet.
pub struct Prepared {
    pub source: Source,
    pub mapper: Mapper,
    pub headers: Vec<String>,
    pub spreadsheet: bool,
}

/// The mapping's `[source]` table as reader options, under the command line's. A mistake is
/// pushed to `problems`, to be reported with the mapping's others: a bad delimiter leaves the
/// delimiter to be sniffed, a bad sheet leaves `None` (the file cannot be read without it).
fn read_options(
    flags: &ReadOptions,
    spec: &MappingFile,
    mapping: &Path,
    problems: &mut Vec<SpecError>,
) -> Option<ReadOptions> {
    let s = &spec.source;
    let mut problem = |key: &str, message: String| {
        problems.push(SpecError {
            file: mapping.display().to_string(),
            key: key.to_string(),
            message,
        })
    };
    let delimiter = match (&flags.delimiter, &s.delimiter) {
        (Some(d), _) => Some(*d),
        (None, Some(d)) => parse_delimiter(d)
            .map_err(|e| problem("source.delimiter", e.to_string()))
            .ok(),
        (None, None) => None,
    };
    let sheet = match (&flags.sheet, &s.sheet) {
        (Some(sh), _) => Some(sh.clone()),
        (None, Some(toml::Value::Integer(i))) if *i >= 1 => Some(SheetSelector::Index(*i as usize)),
        (None, Some(toml::Value::String(name))) => Some(SheetSelector::Name(name.clone())),
        (None, Some(other)) => {
            problem(
                "source.sheet",
                format!("{other} is neither a sheet name nor a position (1, 2, …)"),
            );
            return None;
        }
        (None, None) => None,
    };
    Some(ReadOptions {
        delimiter,
        encoding: flags.encoding.clone().or_else(|| s.encoding.clone()),
        header_row: flags.header_row.or(s.header_row),
        sheet,
    })
}

/// `;`, `,`, `tab` or `\t`, `|`: one byte.
pub fn parse_delimiter(s: &str) -> anyhow::Result<u8> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => anyhow::bail!("delimiter {s:?} must be a single character such as ; , | or tab"),
    }
}

/// Opens the input and compiles the mapping against its header: every refusal happens here,
/// before any row is read.
pub fn prepare(job: &Job, lookups: Option<&Lookups>) -> anyhow::Result<Prepared> {
    // Unknown keys wait to be reported with what compiling the mapping finds: one message
    // lists every mistake of the mapping.
    let (spec, mut problems) = MappingFile::read(&job.mapping)?;
    let Some(opts) = read_options(&job.read, &spec, &job.mapping, &mut problems) else {
        return Err(SpecErrors(problems).into());
    };
    let source = match read::open(&job.input, &opts) {
        Ok(source) => source,
        // The mapping's mistakes found so far are not lost to the input's.
        Err(e) if !problems.is_empty() => {
            return Err(anyhow::anyhow!(
                "{}\nand the input: {e}",
                SpecErrors(problems)
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let headers = source.headers.clone();
    let spreadsheet = source.format != read::Format::Csv;
    let mapper = Mapper::new(spec, &job.mapping.display().to_string(), &headers, lookups);
    let mapper = match mapper {
        Ok(m) if problems.is_empty() => m,
        Ok(_) => return Err(SpecErrors(problems).into()),
        Err(SpecErrors(found)) => {
            problems.extend(found);
            return Err(SpecErrors(problems).into());
        }
    };
    Ok(Prepared {
        source,
        mapper,
        headers,
        spreadsheet,
    })
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckSummary {
    pub rows: u64,
    pub valid: u64,
    pub blank: u64,
    pub rejections: report::Rejections,
    pub warnings: u64,
    pub error_report: Option<PathBuf>,
    pub names_checked: bool,
}

/// read → map → validate, no writes. `client` (when given) supplies the look-ups.
pub async fn check(job: &Job, client: Option<&Client>) -> anyhow::Result<CheckSummary> {
    let lookups = match client {
        Some(c) => Some(
            c.lookups()
                .await
                .context("cannot fetch Krayin's look-up tables")?,
        ),
        None => None,
    };
    let prepared = prepare(job, lookups.as_deref())?;
    let today = crate::sandbox::store::today(prepared.mapper.time_zone());
    let Prepared {
        source,
        mapper,
        headers,
        spreadsheet,
    } = prepared;
    let blank = source.blank_rows.clone();
    // Reading and mapping are CPU and file work: off the async threads.
    let mut summary = tokio::task::spawn_blocking(move || {
        let mut s = CheckSummary::default();
        let mut file_checks = validate::FileChecks::new(
            mapper.column_of("person.emails"),
            mapper.column_of("person.phones"),
        );
        for item in source.rows {
            s.rows += 1;
            let row = match item {
                Ok(row) => row,
                Err(rejection) => {
                    s.rejections.push(&rejection)?;
                    continue;
                }
            };
            let checked = match mapper.map(&row, today) {
                Ok(lead) => file_checks.check(&row, &lead)?.map(|_| lead),
                Err(r) => Err(r),
            };
            match checked {
                Ok(lead) => {
                    s.valid += 1;
                    s.warnings += lead.warnings.len() as u64;
                }
                Err(r) => s.rejections.push(&r)?,
            }
        }
        s.names_checked = mapper.resolves_names();
        anyhow::Ok(s)
    })
    .await
    .context("the check stopped unexpectedly")??;
    summary.blank = blank.load(std::sync::atomic::Ordering::Relaxed);
    if !summary.rejections.is_empty() {
        let path = job
            .errors
            .clone()
            .unwrap_or_else(|| report::default_error_path(&job.input, spreadsheet));
        report::write_error_report(&path, &headers, &mut summary.rejections)?;
        summary.error_report = Some(path);
    }
    Ok(summary)
}
