//! The `krayin-etl` binary: parse arguments, set up logging, run, return a deliberate exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    krayin_etl::cli::main()
}
