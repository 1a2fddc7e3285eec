//! The integration tests: one binary, each area in its own module.

mod sandbox;
mod util;
