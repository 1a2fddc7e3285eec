//! The import pipeline: read → map → validate → write → report.
//!
//! Built so far: [`read`] (files → rows with provenance).

pub mod map;
pub mod read;
