//! `krayin-etl export [leads|activities] --out FILE`: Krayin's leads (or activities) as a
//! reporting file, with names instead of ids, filters, "changed since the last run", and
//! summaries.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::api_args::ApiArgs;
use crate::export::write::Format;
use crate::export::{self, ApiFilters, Entity, LocalFilters, Status, SummaryTo};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to export. Activities leave out Krayin's automatic `system` entries.
    #[arg(value_enum, default_value_t = Entity::Leads)]
    entity: Entity,
    /// The output file (a folder with --partition-by month).
    #[arg(long, short = 'o', value_name = "PATH")]
    out: PathBuf,
    /// Output format (default: from --out's extension: .csv .xlsx .parquet .jsonl).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Only leads of these pipelines (names, comma-separated). Sent to Krayin.
    #[arg(long, value_name = "NAME")]
    pipeline: Vec<String>,
    /// Only leads in these stages (names or codes, comma-separated). Sent to Krayin.
    #[arg(long, value_name = "NAME")]
    stage: Vec<String>,
    /// Only open, won or lost leads (from the stage's code). Sent to Krayin.
    #[arg(long, value_enum, value_delimiter = ',')]
    status: Vec<Status>,
    /// Only leads from these sources (names). Sent to Krayin.
    #[arg(long, value_name = "NAME")]
    source: Vec<String>,
    /// Leads: these lead types (names). Activities: these types (call, meeting, note…).
    /// Sent to Krayin.
    #[arg(long = "type", value_name = "NAME")]
    kind: Vec<String>,
    /// Only records owned by these users (e-mails or names). Sent to Krayin.
    #[arg(long, value_name = "EMAIL")]
    owner: Vec<String>,
    /// Only records changed since: 2026-12-01, "2026-12-01 08:30" (in --timezone),
    /// 2026-12-01T08:30:00Z, 36h or 7d. Reads newest first and stops there.
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Only records created on or after this date (in --timezone). Applied locally.
    #[arg(long, value_name = "DATE")]
    created_from: Option<jiff::civil::Date>,
    /// Only records created on or before this date (in --timezone). Applied locally.
    #[arg(long, value_name = "DATE")]
    created_to: Option<jiff::civil::Date>,
    /// Only leads worth at least this much. Applied locally.
    #[arg(long, value_name = "AMOUNT")]
    min_value: Option<f64>,
    /// Only leads worth at most this much. Applied locally.
    #[arg(long, value_name = "AMOUNT")]
    max_value: Option<f64>,
    /// Only what changed since the last run of this export (watermark in --state); the first
    /// run exports everything.
    #[arg(long)]
    incremental: bool,
    /// The incremental state file (default: <out>.state.json).
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Columns to write, in this order (comma-separated). Default: all.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Counts and lead values by stage, source, owner and month: to FILE (any format, by its
    /// extension), or with no FILE as a second sheet of an XLSX export.
    #[arg(long, value_name = "FILE")]
    summary: Option<Option<PathBuf>>,
    /// Parquet only: one folder per month of created_at (year=YYYY/month=MM), --out being the
    /// root folder.
    #[arg(long, value_name = "month", value_parser = ["month"])]
    partition_by: Option<String>,
    /// Time zone of the written dates and times, and of --since/--created-* dates (default:
    /// --server-timezone).
    #[arg(long, value_name = "ZONE")]
    timezone: Option<String>,
    /// Krayin's APP_TIMEZONE (its default install: Asia/Kolkata).
    #[arg(long, value_name = "ZONE", default_value = "Asia/Kolkata")]
    server_timezone: String,
    /// Rows per page requested from Krayin.
    #[arg(long, default_value_t = 200, value_name = "N")]
    page_size: u64,
    /// Pages in flight at once (all under the one rate limit).
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Activities: also export Krayin's automatic `system` entries (audit log).
    #[arg(long)]
    include_system: bool,
    /// JSON run report: counts, requests by endpoint, timings.
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// No progress bar and no summary line.
    #[arg(long, short = 'q')]
    quiet: bool,
    #[command(flatten)]
    api: ApiArgs,
}

fn zone(name: &str, flag: &str) -> anyhow::Result<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name).with_context(|| {
        format!("{flag} {name:?}: unknown time zone (an IANA name, e.g. America/Sao_Paulo)")
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let server_tz = zone(&args.server_timezone, "--server-timezone")?;
    let tz = match &args.timezone {
        Some(z) => zone(z, "--timezone")?,
        None => server_tz.clone(),
    };
    let format = match args.format {
        Some(f) => f,
        None if args.partition_by.is_some() => Format::Parquet,
        None => Format::from_path(&args.out).with_context(|| {
            format!(
                "--out {}: cannot tell the format from the extension; use .csv, .xlsx, \
                 .parquet or .jsonl, or --format",
                args.out.display()
            )
        })?,
    };
    let since = match &args.since {
        Some(s) => Some(
            export::parse_since(s, &tz, jiff::Timestamp::now())
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?,
        ),
        None => None,
    };
    let summary = args.summary.as_ref().map(|p| match p {
        None => SummaryTo::Sheet,
        Some(p) => SummaryTo::File(p.clone()),
    });
    let opts = export::Options {
        entity: args.entity,
        out: args.out.clone(),
        format,
        api: ApiFilters {
            pipeline: args.pipeline,
            stage: args.stage,
            status: args.status,
            source: args.source,
            kind: args.kind,
            owner: args.owner,
        },
        local: LocalFilters {
            since,
            created_from: args.created_from,
            created_to: args.created_to,
            min_value: args.min_value,
            max_value: args.max_value,
        },
        incremental: args.incremental,
        state: args.state,
        columns: args.columns,
        summary,
        partition_by_month: args.partition_by.is_some(),
        tz,
        server_tz,
        page_size: args.page_size,
        concurrency: args.concurrency,
        include_system: args.include_system,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        report: args.report,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let conn = args.api.connect().await?;
        let result = tokio::select! {
            r = export::run(opts, conn.client.clone()) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        if let Some(h) = conn.sandbox {
            h.shutdown().await?;
        }
        let Some(result) = result else {
            eprintln!(
                "interrupted: nothing was written; the previous files and watermark are unchanged"
            );
            return Ok(ExitCode::from(super::EXIT_STOPPED));
        };
        let s = result?;
        if !args.quiet {
            let changed = match &s.changed_since {
                Some(t) => format!(" changed since {t}"),
                None => String::new(),
            };
            let system = if s.system_activities_left_out > 0 {
                format!(
                    " ({} system activities left out)",
                    s.system_activities_left_out
                )
            } else {
                String::new()
            };
            eprintln!(
                "{} {}{changed} → {} ({}){system}",
                s.rows,
                s.entity.name(),
                s.out,
                s.format.extension()
            );
            eprintln!(
                "{} requests ({} pages) in {:.1} s; writing took {:.2} s",
                s.requests, s.pages, s.duration_secs, s.write_secs
            );
            if let Some(f) = &s.summary_file {
                eprintln!("summary: {f}");
            }
            if !s.partitions.is_empty() {
                eprintln!("{} partition files written", s.partitions.len());
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
