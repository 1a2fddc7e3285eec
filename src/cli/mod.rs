//! The command line: the only place clap lives. Each subcommand has its own file holding its
//! arguments, help and `run`; what the user typed is turned into typed configuration here, and
//! nothing below this module knows clap exists.
//!
//! Exit codes (also in `--help` and the README):
//! 0 = done, every row accounted for and written; 1 = finished, but some rows were rejected or
//! failed (report written); 2 = could not run (usage, configuration, I/O, auth);
//! 3 = stopped early (error threshold reached, interrupted).

mod api_args;
mod check;
mod export;
mod import;
mod input_args;
mod lookups;
mod mapping;
mod sandbox;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Finished, but some rows were rejected or failed.
pub const EXIT_REJECTED: u8 = 1;
/// Could not run: usage, configuration, I/O or authentication.
pub const EXIT_CANNOT_RUN: u8 = 2;
/// Stopped early: error threshold reached, or interrupted.
pub const EXIT_STOPPED: u8 = 3;

const AFTER_HELP: &str = "\
Exit codes:
  0  done: every row accounted for and written
  1  finished, but some rows were rejected or failed (see the error report)
  2  could not run: usage, configuration, I/O or authentication error
  3  stopped early: error threshold reached, or interrupted";

#[derive(Debug, Parser)]
#[command(name = "krayin-etl", version, about = "Batch ETL for Krayin CRM", after_help = AFTER_HELP)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import leads (with person and organization) from a CSV/XLSX/XLS/ODS file.
    Import(import::Args),
    /// Read, map and validate a file without writing anything; write the error report.
    Check(check::Args),
    /// Mapping helpers: `mapping suggest FILE` writes a starter mapping from a file's header.
    Mapping(mapping::Args),
    /// Export leads (or activities) to CSV, XLSX, Parquet or JSONL, with names instead of
    /// ids, filters, "changed since the last run" and summaries.
    Export(export::Args),
    /// List the pipelines, stages, sources, types, users and custom attributes a mapping can
    /// name (and check the connection).
    Lookups(lookups::Args),
    /// Serve a local emulator of Krayin's REST API (rest-api v2.1.1 on Krayin 2.1).
    Sandbox(sandbox::Args),
}

/// Parses the command line, runs the subcommand and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Import(args) => import::run(args),
        Command::Check(args) => check::run(args),
        Command::Export(args) => export::run(args),
        Command::Lookups(args) => lookups::run(args),
        Command::Mapping(args) => mapping::run(args),
        Command::Sandbox(args) => sandbox::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// The error and its causes on one line, like anyhow's `{:#}`, but leaving out a cause whose
/// text is already there: our errors that end in a hint ("… save it again") quote their cause
/// before the hint, and calamine's errors quote theirs, so `{:#}` said everything twice.
fn message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !out.contains(&cause) {
            out.push_str(": ");
            out.push_str(&cause);
        }
    }
    out
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("KRAYIN_ETL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::from(crate::pipeline::read::ReadError::Io {
            file: "a.csv".into(),
            source: io,
        });
        let m = message(&e);
        assert_eq!(m.matches("no such file").count(), 1, "{m}");
        assert!(m.ends_with("permissions"), "{m}");
        // A context adds its cause, as `{:#}` does.
        let e = anyhow::anyhow!("disk full").context("cannot write the report");
        assert_eq!(message(&e), "cannot write the report: disk full");
    }
}
