//! `krayin-etl check FILE --mapping M`: read → map → validate with no writes; prints what
//! would be imported and what would be refused, and writes the error report.

use std::process::ExitCode;

use super::api_args::ApiArgs;
use super::input_args::InputArgs;
use crate::pipeline;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    api: ApiArgs,
    /// Check without a server: everything but the names of sources, types, stages and owners.
    #[arg(long, conflicts_with = "sandbox")]
    offline: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let conn = if args.offline {
            None
        } else {
            Some(args.api.connect().await?)
        };
        let job = args.input.job();
        let summary = pipeline::check(&job, conn.as_ref().map(|c| &c.client)).await?;
        eprintln!(
            "{}: {} rows read ({} blank rows skipped), {} valid, {} rejected",
            job.input.display(),
            summary.rows,
            summary.blank,
            summary.valid,
            summary.rejections.len()
        );
        if summary.warnings > 0 {
            eprintln!(
                "{} warnings (e.g. past close dates that will be dropped)",
                summary.warnings
            );
        }
        if !summary.names_checked {
            eprintln!(
                "offline: names of sources, types, pipelines, stages and owners were not checked"
            );
        }
        let reasons = summary.rejections.reasons();
        if !reasons.is_empty() {
            eprintln!("rejected by reason (stage, field, rows):");
            for ((stage, field), n) in reasons {
                eprintln!("  {stage:<9} {field:<28} {n}");
            }
        }
        if let Some(p) = &summary.error_report {
            eprintln!("error report: {}", p.display());
        }
        if let Some(c) = conn
            && let Some(h) = c.sandbox
        {
            h.shutdown().await?;
        }
        Ok(if summary.rejections.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(super::EXIT_REJECTED)
        })
    })
}
