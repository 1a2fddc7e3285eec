//! Options naming the input file and how to read it, shared by `check` and `import`.

use std::path::PathBuf;

use crate::pipeline::read::{ReadOptions, SheetSelector};
use crate::pipeline::{Job, parse_delimiter};

#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// The file to import: CSV/TSV/TXT (any delimiter and encoding), XLSX/XLSM, XLS or ODS.
    pub input: PathBuf,
    /// The mapping file (see mappings/ and the README's "Mapping files").
    #[arg(long, short = 'm', value_name = "PATH")]
    pub mapping: PathBuf,
    /// CSV delimiter, overriding detection: `,` `;` `|` or `tab`.
    #[arg(long, value_name = "CHAR", value_parser = delimiter)]
    pub delimiter: Option<u8>,
    /// CSV encoding, overriding detection: utf-8, windows-1252, iso-8859-1, utf-16le…
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// 1-based row holding the header (default 1).
    #[arg(long, value_name = "N")]
    pub header_row: Option<u64>,
    /// Spreadsheet sheet: a name, or a 1-based position (default: the first visible sheet).
    #[arg(long, value_name = "NAME|N")]
    pub sheet: Option<String>,
    /// Error report path (default: beside the input, <name>.errors.csv, or .xlsx for a
    /// spreadsheet input).
    #[arg(long, value_name = "PATH")]
    pub errors: Option<PathBuf>,
}

fn delimiter(s: &str) -> Result<u8, String> {
    parse_delimiter(s).map_err(|e| e.to_string())
}

impl InputArgs {
    pub fn job(&self) -> Job {
        let sheet = self.sheet.as_ref().map(|s| match s.parse::<usize>() {
            Ok(n) if n >= 1 => SheetSelector::Index(n),
            _ => SheetSelector::Name(s.clone()),
        });
        Job {
            input: self.input.clone(),
            mapping: self.mapping.clone(),
            read: ReadOptions {
                delimiter: self.delimiter,
                encoding: self.encoding.clone(),
                header_row: self.header_row,
                sheet,
            },
            errors: self.errors.clone(),
        }
    }
}
