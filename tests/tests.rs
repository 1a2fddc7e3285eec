//! The integration tests: one binary, each area in its own module.

mod badinput;
mod client;
mod export;
mod faults;
mod import;
mod sandbox;
mod util;
