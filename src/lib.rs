//! krayin-etl: a batch ETL pipeline for Krayin CRM.
//!
//! # Layout
//! In pipeline order, as far as it is built:
//! - [`cli`]: the only place clap lives; one file per subcommand.
//! - [`krayin`]: Krayin's REST API: the wire types shared by the client and the sandbox.
//! - [`sandbox`]: a local emulator of Krayin's REST API (axum + SQLite), faithful to
//!   `krayin-api.md`, with fault injection for tests and benchmarks.

pub mod cli;
pub mod krayin;
pub mod sandbox;
