//! `krayin-etl mapping suggest FILE`: write a starter mapping by matching the file's headers
//! (English and Portuguese) to Krayin fields.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::pipeline::map::suggest;
use crate::pipeline::read::{self, ReadOptions, SheetSelector};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Write a starter mapping for FILE (to stdout, or --out).
    Suggest {
        /// The CSV/XLSX/XLS/ODS file whose header is matched.
        file: PathBuf,
        /// Write the mapping here instead of stdout (refuses to overwrite).
        #[arg(long, short = 'o', value_name = "PATH")]
        out: Option<PathBuf>,
        /// Spreadsheet sheet: a name, or a 1-based position.
        #[arg(long, value_name = "NAME|N")]
        sheet: Option<String>,
        /// 1-based row holding the header.
        #[arg(long, value_name = "N")]
        header_row: Option<u64>,
        /// CSV encoding label, overriding detection.
        #[arg(long, value_name = "LABEL")]
        encoding: Option<String>,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Suggest {
            file,
            out,
            sheet,
            header_row,
            encoding,
        } => {
            let opts = ReadOptions {
                header_row,
                encoding,
                sheet: sheet.map(|s| match s.parse::<usize>() {
                    Ok(n) if n >= 1 => SheetSelector::Index(n),
                    _ => SheetSelector::Name(s),
                }),
                ..ReadOptions::default()
            };
            let source = read::open(&file, &opts)?;
            let text = suggest::starter_mapping(&file.display().to_string(), &source.headers);
            match out {
                Some(path) => {
                    if path.exists() {
                        anyhow::bail!(
                            "{} exists: choose another --out, or remove it first",
                            path.display()
                        );
                    }
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!(
                        "starter mapping written to {}: check it, then run `krayin-etl check {} --mapping {}`",
                        path.display(),
                        file.display(),
                        path.display()
                    );
                }
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
