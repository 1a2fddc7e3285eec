//! `krayin-etl import FILE --mapping M`: the main job. Reads, maps and validates every row,
//! writes the valid ones as Krayin leads (with person and organization) under Krayin's rate
//! limit, and accounts for every row in the success file or the error report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::api_args::ApiArgs;
use super::input_args::InputArgs;
use crate::pipeline::import::{self, Stopped, Threshold};
use crate::pipeline::write::Mode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    api: ApiArgs,
    /// Requests in flight at once (all under the one rate limit).
    #[arg(long, default_value_t = 4, value_name = "N")]
    concurrency: usize,
    /// Rows per batch: intents are made durable before a batch is sent, outcomes after.
    #[arg(long, default_value_t = 50, value_name = "N")]
    batch_size: usize,
    /// create: always a new lead. skip-existing: skip a row whose lead (same title, same
    /// person) is already in Krayin. upsert: update that lead instead (products, stage and
    /// close date kept unless mapped), else create it.
    #[arg(long, value_enum, default_value_t = Mode::Create)]
    mode: Mode,
    /// With --mode upsert: also update leads changed in Krayin since this tool last wrote
    /// them (otherwise reported as conflicts).
    #[arg(long)]
    overwrite: bool,
    /// Stop cleanly (exit 3) once more rows than this failed: a count (10) or a share (5%).
    /// Default: never stop for bad rows.
    #[arg(long, value_name = "N|P%")]
    max_errors: Option<Threshold>,
    /// Success file: one line per written or skipped row (default: beside the input,
    /// <name>.success.csv).
    #[arg(long, value_name = "PATH")]
    success: Option<PathBuf>,
    /// JSON run report (default: <state-dir>/<input>.report.json).
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Where the journal and lock live (default: .krayin-etl/ beside the input).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Check only: read, map and validate, write nothing (same as `check`).
    #[arg(long)]
    dry_run: bool,
    /// No progress display and no summary; errors only.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let conn = args.api.connect().await?;
        let job = args.input.job();
        if args.dry_run {
            let s = crate::pipeline::check(&job, Some(&conn.client)).await?;
            if !args.quiet {
                eprintln!(
                    "dry run: {} rows read, {} valid, {} rejected{}",
                    s.rows,
                    s.valid,
                    s.rejections.len(),
                    s.error_report.as_ref().map(|p| format!("; error report: {}", p.display())).unwrap_or_default()
                );
            }
            return Ok(ExitCode::from(if s.rejections.is_empty() { 0 } else { super::EXIT_REJECTED }));
        }
        // Ctrl-C: stop taking rows, finish what is in flight, write journal and reports.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                tracing::warn!("interrupted: finishing the requests in flight, then writing the reports");
                let _ = stop_tx.send(true);
            }
        });
        let opts = import::Options {
            job: job.clone(),
            mode: args.mode,
            concurrency: args.concurrency.max(1),
            batch_size: args.batch_size.max(1),
            max_errors: args.max_errors,
            success: args.success.clone(),
            report: args.report.clone(),
            state_dir: args.state_dir.clone(),
            progress: !args.quiet && std::io::stderr().is_terminal(),
            overwrite: args.overwrite,
        };
        let result = import::run(opts, conn.client.clone(), stop_rx).await;
        if let Some(h) = conn.sandbox {
            h.shutdown().await?;
        }
        let s = result?;
        if !args.quiet {
            eprintln!(
                "{}: {} rows: {} created, {} created for an existing person, {}{} skipped, {} rejected, {} failed{}",
                s.input,
                s.rows,
                s.created,
                s.reused_person,
                if s.updated > 0 { format!("{} updated, ", s.updated) } else { String::new() },
                s.skipped,
                s.rejected,
                s.failed,
                if s.blank_rows > 0 { format!(" ({} blank rows ignored)", s.blank_rows) } else { String::new() }
            );
            eprintln!(
                "{} requests in {:.1} s ({:.2} leads/s, {} retries, {:.1} s waiting for the rate limit)",
                s.requests, s.duration_secs, s.leads_per_sec, s.retries, s.limiter_wait_secs
            );
            if s.warnings > 0 {
                eprintln!("{} warnings (see the log above)", s.warnings);
            }
            if let Some(p) = &s.error_report {
                eprintln!("error report: {p}");
            }
            if let Some(p) = &s.success_file {
                eprintln!("success file: {p}");
            }
        }
        Ok(match s.stopped {
            Some(Stopped::AuthFailed) => {
                eprintln!("stopped: authentication failed");
                ExitCode::from(super::EXIT_CANNOT_RUN)
            }
            Some(reason) => {
                eprintln!("stopped early ({reason:?}): run the same command again to continue");
                ExitCode::from(super::EXIT_STOPPED)
            }
            None if s.errors() > 0 => ExitCode::from(super::EXIT_REJECTED),
            None => ExitCode::SUCCESS,
        })
    })
}
