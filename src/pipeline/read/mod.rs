//! Readers: a file → its header and a stream of [`Row`]s with provenance.
//!
//! [`open`] picks a reader from the file's extension, reads the header row and hands back a
//! [`Source`]: the header, what was detected (sheet, encoding, delimiter) and an iterator of
//! rows. CSV/TSV/TXT files are streamed by [`csv`](self::csv) with flat memory (through
//! [`decode`](self::decode) when their encoding is a guessed legacy one); spreadsheets are
//! read one sheet at a time through calamine: XLSX/XLSM streamed by
//! [`xlsx_stream`](self::xlsx_stream), XLS and ODS loaded whole by [`xlsx`](self::xlsx).
//!
//! Every cell comes out as text, exactly as read (no trimming, no conversion beyond turning a
//! spreadsheet's typed cell into the text a user would type): deciding what a cell *means* is
//! the mapping's job (`pipeline::map`), which starts where this module stops.
//!
//! What is an error and what is data: a file that cannot be read at all (missing, unknown
//! format, no header, no such sheet) is a [`ReadError`] and stops the run before any row; a
//! row that cannot be read (a ragged CSV line, a spreadsheet value beyond the last header
//! column) is a [`Rejection`] at [`Stage::Read`] yielded in its place, and the run goes on.
//! Blank rows are neither: they are skipped and counted in [`Source::blank_rows`].

mod csv;
mod decode;
mod xlsx;
mod xlsx_stream;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::record::{Problem, Rejection, Row, Stage};

/// The kind of file, decided by its extension alone (content sniffing would make a renamed
/// file behave differently from what its name promises to the user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.csv`, `.tsv`, `.txt`: delimited text, delimiter and encoding detected.
    Csv,
    /// `.xlsx`, `.xlsm`.
    Xlsx,
    /// `.xls` (Excel 97–2003).
    Xls,
    /// `.ods` (LibreOffice / OpenOffice).
    Ods,
}

impl Format {
    /// The format a file's extension announces (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Format, ReadError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv" | "tsv" | "txt") => Ok(Format::Csv),
            Some("xlsx" | "xlsm") => Ok(Format::Xlsx),
            Some("xls") => Ok(Format::Xls),
            Some("ods") => Ok(Format::Ods),
            _ => Err(ReadError::UnknownFormat {
                file: path.display().to_string(),
                extension: path.extension().map(|e| e.to_string_lossy().into_owned()),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which sheet of a workbook to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetSelector {
    /// The sheet's name, exactly as on its tab.
    Name(String),
    /// The sheet's position, **1-based** as users count tabs (`Index(1)` is the first sheet),
    /// in workbook order, hidden sheets included (they keep their place in the workbook).
    Index(usize),
}

impl fmt::Display for SheetSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SheetSelector::Name(name) => write!(f, "{name:?}"),
            SheetSelector::Index(n) => write!(f, "number {n}"),
        }
    }
}

/// How to read a file; every field is optional and defaults to detection.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Override the sniffed CSV delimiter.
    pub delimiter: Option<u8>,
    /// Override CSV encoding detection with a WHATWG label ("utf-8", "windows-1252",
    /// "iso-8859-1", "utf-16le", …). A byte-order mark in the file still wins: it cannot lie.
    pub encoding: Option<String>,
    /// 1-based row of the header. Spreadsheets: the sheet's row number as shown at the left
    /// edge. CSV: the n-th record (empty lines are not records). Default: the first row that
    /// is not blank, which is row 1 in nearly every file.
    pub header_row: Option<u64>,
    /// Default: the first visible sheet.
    pub sheet: Option<SheetSelector>,
}

/// An opened file: its header and the stream of its data rows.
pub struct Source {
    /// Column names, trimmed and without BOM; otherwise as written (duplicates allowed: the
    /// mapping decides what to do with them).
    pub headers: Vec<String>,
    pub format: Format,
    /// The sheet actually read (spreadsheets only).
    pub sheet: Option<String>,
    /// The encoding used (CSV only), as encoding_rs names it ("UTF-8", "windows-1252").
    pub encoding: Option<&'static str>,
    /// The delimiter used (CSV only).
    pub delimiter: Option<u8>,
    /// Data rows in file order; a row that cannot be read is a `Rejection` in its place.
    pub rows: Box<dyn Iterator<Item = Result<Row, Rejection>> + Send>,
    /// Blank rows skipped so far, incremented as `rows` is consumed. Blank rows after the last
    /// data row are not counted: they are how spreadsheets and their CSV exports end.
    pub blank_rows: Arc<AtomicU64>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("headers", &self.headers)
            .field("format", &self.format)
            .field("sheet", &self.sheet)
            .field("encoding", &self.encoding)
            .field("delimiter", &self.delimiter.map(char::from))
            .field("blank_rows", &self.blank_rows.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why a file could not be read at all. Every message names the file, says what is wrong and
/// what to do about it, because it is shown to the user as is.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{file}: cannot read the file: {source}. Check the path and the file's permissions")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file}: unknown file type{}; expected .csv, .tsv, .txt, .xlsx, .xlsm, .xls or .ods. \
         Save the file in one of these formats",
        match extension { Some(e) => format!(" \".{e}\""), None => " (no extension)".to_string() }
    )]
    UnknownFormat {
        file: String,
        extension: Option<String>,
    },
    #[error("{file}{}: no header row: the {} is empty or has only blank rows. \
             Check that this is the right file{}",
        sheet_suffix(sheet), if sheet.is_some() { "sheet" } else { "file" },
        if sheet.is_some() { " and sheet" } else { "" })]
    Empty { file: String, sheet: Option<String> },
    #[error(
        "{file}{}: header row {row} is blank. Pass the number of the row that holds the \
             column names as the header row",
        sheet_suffix(sheet)
    )]
    BlankHeader {
        file: String,
        sheet: Option<String>,
        row: u64,
    },
    #[error(
        "{file}: unknown encoding {label:?}. Use a WHATWG label such as \"utf-8\", \
             \"windows-1252\", \"iso-8859-1\" or \"utf-16le\""
    )]
    UnknownEncoding { file: String, label: String },
    #[error(
        "{file}: no sheet {}; {}. Pass --sheet with one of them (a name, or a number \
             counting from 1)",
        describe_selector(wanted),
        list_sheets(available)
    )]
    MissingSheet {
        file: String,
        wanted: SheetSelector,
        /// Every sheet of the workbook, in order.
        available: Vec<String>,
    },
    #[error(
        "{file}: cannot read the spreadsheet: {source}. The file may be truncated, corrupt \
             or password-protected: open it in Excel or LibreOffice and save it again"
    )]
    Spreadsheet {
        file: String,
        #[source]
        source: calamine::Error,
    },
    #[error(
        "{file}: the workbook would expand to {} MB ({} MB compressed), more than the {} MB a \
         spreadsheet may take in memory (or a zip bomb). Save the sheet as CSV, which is read \
         as a stream", expanded / 1_000_000, compressed / 1_000_000, xlsx::MAX_EXPANDED_BYTES / 1_000_000
    )]
    TooLarge {
        file: String,
        expanded: u64,
        compressed: u64,
    },
    #[error(
        "{file}: the sheets would expand to {cells} cells with a value (repeated rows and \
         columns counted), more than the {} an ODS may have here: an ODS is loaded whole, \
         about 125 bytes a cell. Save it as XLSX or CSV, which are read as a stream",
        xlsx::MAX_ODS_CELLS
    )]
    TooManyCells { file: String, cells: u64 },
    #[error("{file}{}: header row {row} is outside the data, which {}. Pass a header row \
             within the data", sheet_suffix(sheet),
        match last { Some(last) => format!("spans rows {first} to {last}"),
                     None => "has no rows".to_string() })]
    HeaderRowOutOfRange {
        file: String,
        sheet: Option<String>,
        row: u64,
        /// First and last row of the data, in the same numbering as `row`.
        first: u64,
        last: Option<u64>,
    },
}

fn sheet_suffix(sheet: &Option<String>) -> String {
    match sheet {
        Some(s) => format!("[{s}]"),
        None => String::new(),
    }
}

fn describe_selector(wanted: &SheetSelector) -> String {
    match wanted {
        SheetSelector::Name(name) => format!("named {name:?}"),
        SheetSelector::Index(n) => format!("number {n}"),
    }
}

fn list_sheets(available: &[String]) -> String {
    if available.is_empty() {
        return "the workbook has no sheets".to_string();
    }
    let names: Vec<String> = available.iter().map(|s| format!("{s:?}")).collect();
    format!("sheets are: {}", names.join(", "))
}

/// Reads `path`'s header and returns the stream of its rows. Nothing is read past the header
/// (and, for CSV, a 64 KiB sample) until `rows` is consumed.
pub fn open(path: &Path, opts: &ReadOptions) -> Result<Source, ReadError> {
    let format = Format::from_path(path)?;
    let file: Arc<str> = path.display().to_string().into();
    match format {
        Format::Csv => csv::open(path, file, opts),
        Format::Xlsx | Format::Xls | Format::Ods => xlsx::open(path, file, format, opts),
    }
}

/// A row whose every cell is empty or whitespace carries nothing to import.
fn is_blank<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> bool {
    cells
        .into_iter()
        .all(|c| crate::pipeline::map::convert::trim(c.as_ref()).is_empty())
}

/// A header cell as the mapping will match it: trimmed, and without the BOM that Excel and
/// Notepad leave at the start of files (and that survives copy-pasting into a sheet).
fn clean_header(cell: &str) -> String {
    cell.trim_start_matches('\u{feff}').trim().to_string()
}

/// How much of a bad row goes into a rejection's `value`: enough to recognise the line in the
/// error report, not so much that a runaway quote drags megabytes into it.
const REPORT_VALUE_CHARS: usize = 200;

fn truncate_for_report(text: &str) -> String {
    match text.char_indices().nth(REPORT_VALUE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Blank rows seen but not yet counted: they only count once a data row follows them, so that
/// the blank tail of a file is not reported as skipped rows.
#[derive(Debug, Default)]
struct BlankTally {
    pending: u64,
    counter: Arc<AtomicU64>,
}

impl BlankTally {
    fn blank(&mut self) {
        self.pending += 1;
    }

    fn data(&mut self) {
        if self.pending > 0 {
            self.counter.fetch_add(self.pending, Ordering::Relaxed);
            self.pending = 0;
        }
    }
}

/// A rejection of a whole row at the read stage.
fn reject_row(row: Row, value: String, message: String) -> Rejection {
    Rejection::new(&row, Stage::Read, vec![Problem::new("row", value, message)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_whatever_its_case() {
        let f = |p: &str| Format::from_path(Path::new(p)).ok();
        assert_eq!(f("a.csv"), Some(Format::Csv));
        assert_eq!(f("a.TSV"), Some(Format::Csv));
        assert_eq!(f("dir.x/a.txt"), Some(Format::Csv));
        assert_eq!(f("a.Xlsx"), Some(Format::Xlsx));
        assert_eq!(f("a.xlsm"), Some(Format::Xlsx));
        assert_eq!(f("a.xls"), Some(Format::Xls));
        assert_eq!(f("a.ods"), Some(Format::Ods));
        assert_eq!(f("a.pdf"), None);
        assert_eq!(f("leads"), None);
    }

    #[test]
    fn unknown_format_names_the_file_and_the_choices() {
        let err = open(Path::new("leads.pdf"), &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, ReadError::UnknownFormat { .. }));
        let msg = err.to_string();
        assert!(
            msg.starts_with("leads.pdf: unknown file type \".pdf\""),
            "{msg}"
        );
        assert!(msg.contains(".xlsx"), "{msg}");
        let err = open(Path::new("leads"), &ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("(no extension)"), "{err}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["nope.csv", "nope.xlsx"] {
            let path = dir.path().join(name);
            let err = open(&path, &ReadOptions::default()).unwrap_err();
            assert!(matches!(err, ReadError::Io { .. }), "{err:?}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn missing_sheet_message_lists_the_sheets() {
        let err = ReadError::MissingSheet {
            file: "leads.xlsx".into(),
            wanted: SheetSelector::Name("Plan1".into()),
            available: vec!["Leads".into(), "Notes".into()],
        };
        assert_eq!(
            err.to_string(),
            "leads.xlsx: no sheet named \"Plan1\"; sheets are: \"Leads\", \"Notes\". Pass --sheet \
             with one of them (a name, or a number counting from 1)"
        );
    }

    #[test]
    fn report_values_are_cut_on_a_char_boundary() {
        let long = "ç".repeat(500);
        let cut = truncate_for_report(&long);
        assert_eq!(cut.chars().count(), REPORT_VALUE_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_for_report("short"), "short");
    }

    #[test]
    fn headers_lose_bom_and_surrounding_space_only() {
        assert_eq!(clean_header("\u{feff} Nome  "), "Nome");
        assert_eq!(clean_header(" Nome  Completo "), "Nome  Completo");
    }
}
