//! krayin-etl: a batch ETL pipeline for Krayin CRM.
//!
//! # Layout
//! In pipeline order:
//! - [`cli`]: the only place clap lives; one file per subcommand.
//! - [`config`]: flags, environment, `.env` and `krayin-etl.toml` → one client configuration.
//! - [`record`]: the vocabulary between stages: rows with provenance, rejections, problems.
//! - [`pipeline`]: read → map → validate → write → report, with the journal that makes reruns
//!   safe.
//! - [`export`]: Krayin → reporting files: fetch pages → names for ids → polars frame →
//!   filters and summaries → CSV/XLSX/Parquet/JSONL, with the incremental watermark.
//! - [`krayin`]: Krayin's REST API client (auth, rate limit, retries, typed errors, look-ups) and
//!   the wire types it shares with the sandbox.
//! - [`output`]: how every output file is created (beside its target, renamed when whole).
//! - [`sandbox`]: a local emulator of Krayin's REST API (axum + SQLite), faithful to
//!   `krayin-api.md`, with fault injection for tests and benchmarks.

pub mod cli;
pub mod config;
pub mod export;
pub mod krayin;
pub mod output;
pub mod pipeline;
pub mod record;
pub mod sandbox;
