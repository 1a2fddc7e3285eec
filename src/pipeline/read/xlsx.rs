//! The spreadsheet reader (XLSX, XLSM, XLS, ODS through calamine): one sheet → [`Row`]s.
//!
//! It picks the sheet (by name, by 1-based position, or the first visible one), finds the
//! header row and turns each typed cell into the text a user would type into it: integral
//! numbers without ".0" or exponent (phones and ids stored as numbers stay whole), dates as
//! ISO `YYYY-MM-DD[ HH:MM:SS]`, errors as `#N/A`, formulas as their cached value.
//!
//! XLSX/XLSM sheets are streamed ([`super::xlsx_stream`]): this file opens the workbook,
//! picks the sheet and holds the cell conversions both paths share. XLS and ODS sheets, which
//! calamine can only load whole, are read here, and their peak grows with the sheet's used
//! range: about 100 bytes per cell while loading (measured: 200,000 rows × 10 columns, half of
//! them text, peaks at ~200 MB). Rows are then moved out of the loaded sheet one at a time as
//! they are consumed. That bound is accepted: those formats are old or rare for big exports,
//! and bounded before loading: a zip expanding past [`MAX_EXPANDED_BYTES`] is refused from
//! its directory, and an ODS past [`MAX_ODS_CELLS`] from a scan of its repeat attributes.
//!
//! Row numbers are the sheet's own (the number at the left edge), whatever row the used range
//! starts on. A row shorter than the header is simply a row with empty trailing cells; a row
//! with a value beyond the last header column is rejected, since that value would otherwise be
//! dropped silently. It stops at rows, like the CSV reader; meaning is the mapping's job.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use calamine::{
    Data, ExcelDateTime, Ods, Range, Reader, SheetType, SheetVisible, Sheets, Xls, Xlsx,
    open_workbook_from_rs,
};

use super::{
    BlankTally, Format, ReadError, ReadOptions, SheetSelector, Source, clean_header, is_blank,
    reject_row,
};
use crate::record::{Provenance, Rejection, Row};

pub(super) fn open(
    path: &Path,
    file: Arc<str>,
    format: Format,
    opts: &ReadOptions,
) -> Result<Source, ReadError> {
    let spreadsheet_err = |source: calamine::Error| ReadError::Spreadsheet {
        file: file.to_string(),
        source,
    };
    // Opened by hand so that a missing file is an I/O error like for CSV, not a zip error.
    let handle = File::open(path).map_err(|source| ReadError::Io {
        file: file.to_string(),
        source,
    })?;
    if matches!(format, Format::Xlsx | Format::Ods) {
        check_expansion(&handle, &file, format == Format::Ods)?;
    }
    let input = BufReader::new(handle);
    let workbook: Sheets<BufReader<File>> = match format {
        Format::Xlsx => Sheets::Xlsx(
            open_workbook_from_rs::<Xlsx<_>, _>(input)
                .map_err(|e| spreadsheet_err(calamine::Error::Xlsx(e)))?,
        ),
        Format::Xls => Sheets::Xls(
            open_workbook_from_rs::<Xls<_>, _>(input)
                .map_err(|e| spreadsheet_err(calamine::Error::Xls(e)))?,
        ),
        Format::Ods => Sheets::Ods(
            open_workbook_from_rs::<Ods<_>, _>(input)
                .map_err(|e| spreadsheet_err(calamine::Error::Ods(e)))?,
        ),
        Format::Csv => unreachable!("read::open sends CSV files to read::csv"),
    };

    let sheet = choose_sheet(&workbook, &file, opts.sheet.as_ref())?;
    // XLSX is streamed (flat memory); calamine can only load XLS and ODS sheets whole.
    let mut workbook = match workbook {
        Sheets::Xlsx(xlsx) => return super::xlsx_stream::open(xlsx, sheet, file, opts.header_row),
        other => other,
    };
    let range = workbook.worksheet_range(&sheet).map_err(spreadsheet_err)?;
    let layout = Layout::of(&range, &file, &sheet, opts.header_row)?;

    let blanks = BlankTally::default();
    let blank_rows = blanks.counter.clone();
    let headers = layout.headers.clone();
    let rows = SheetRows {
        range,
        next: layout.header + 1,
        end: layout.end,
        first_row: layout.first_row,
        first_col: layout.first_col,
        headers: layout.headers,
        file,
        sheet: sheet.as_str().into(),
        blanks,
    };
    Ok(Source {
        headers,
        format,
        sheet: Some(sheet),
        encoding: None,
        delimiter: None,
        rows: Box::new(rows),
        blank_rows,
    })
}

/// The name of the sheet to read.
fn choose_sheet<R>(
    workbook: &Sheets<R>,
    file: &str,
    selector: Option<&SheetSelector>,
) -> Result<String, ReadError>
where
    R: std::io::Read + std::io::Seek,
{
    let sheets = workbook.sheets_metadata();
    let found = match selector {
        Some(SheetSelector::Name(name)) => sheets.iter().find(|s| s.name == *name).or_else(|| {
            // Users type "leads" for "Leads " and mean it; accept it when only one sheet
            // could be meant.
            let wanted = name.trim().to_lowercase();
            let mut close = sheets
                .iter()
                .filter(|s| s.name.trim().to_lowercase() == wanted);
            match (close.next(), close.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        }),
        Some(SheetSelector::Index(n)) => n.checked_sub(1).and_then(|i| sheets.get(i)),
        None => sheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible && s.typ == SheetType::WorkSheet)
            // A workbook whose sheets are all hidden still has data someone meant to import.
            .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet)),
    };
    match (found, selector) {
        (Some(sheet), _) => Ok(sheet.name.clone()),
        (None, Some(wanted)) => Err(ReadError::MissingSheet {
            file: file.to_string(),
            wanted: wanted.clone(),
            available: sheets.iter().map(|s| s.name.clone()).collect(),
        }),
        (None, None) => Err(ReadError::Empty {
            file: file.to_string(),
            sheet: None,
        }),
    }
}

/// Where the header and the data are inside a sheet's used range.
struct Layout {
    /// Sheet row number (1-based) of the range's first row.
    first_row: u64,
    /// Sheet column index (0-based) of the range's first column.
    first_col: u32,
    /// Range row index of the header.
    header: usize,
    /// Range row index just past the last non-blank row.
    end: usize,
    headers: Vec<String>,
}

impl Layout {
    fn of(
        range: &Range<Data>,
        file: &str,
        sheet: &str,
        header_row: Option<u64>,
    ) -> Result<Layout, ReadError> {
        let empty = || ReadError::Empty {
            file: file.to_string(),
            sheet: Some(sheet.to_string()),
        };
        let Some((start_row, first_col)) = range.start() else {
            return Err(empty());
        };
        let first_row = u64::from(start_row) + 1;
        let height = range.height() as u64;
        // `range[i]` is row i as a slice, in constant time (`rows().nth(i)` walks from the
        // top, which made reading a sheet quadratic in its height).
        let blank_at = |i: usize| range[i].iter().all(cell_is_blank);

        let header = match header_row {
            // The user counts rows on the sheet, not in calamine's range.
            Some(row) if row >= first_row && row < first_row + height => {
                let header = (row - first_row) as usize;
                if blank_at(header) {
                    return Err(ReadError::BlankHeader {
                        file: file.to_string(),
                        sheet: Some(sheet.to_string()),
                        row,
                    });
                }
                header
            }
            Some(row) => {
                return Err(ReadError::HeaderRowOutOfRange {
                    file: file.to_string(),
                    sheet: Some(sheet.to_string()),
                    row,
                    first: first_row,
                    last: Some(first_row + height - 1),
                });
            }
            None => (0..range.height())
                .find(|&i| !blank_at(i))
                .ok_or_else(empty)?,
        };

        let mut headers: Vec<String> = range[header]
            .iter()
            .map(|c| clean_header(&cell_text(c)))
            .collect();
        // The range is as wide as its widest row; columns after the last named one are not
        // part of the table (a value there is reported by the row that has it).
        while headers.last().is_some_and(String::is_empty) {
            headers.pop();
        }
        // Blank rows at the end (formatted but empty cells widen the range) are not data.
        let end = (header + 1..range.height())
            .rev()
            .find(|&i| !blank_at(i))
            .map_or(header + 1, |i| i + 1);
        Ok(Layout {
            first_row,
            first_col,
            header,
            end,
            headers,
        })
    }
}

/// The data rows of one sheet, converted to text as they are consumed.
struct SheetRows {
    range: Range<Data>,
    /// Range row index of the next row to look at.
    next: usize,
    end: usize,
    first_row: u64,
    first_col: u32,
    headers: Vec<String>,
    file: Arc<str>,
    sheet: Arc<str>,
    blanks: BlankTally,
}

impl Iterator for SheetRows {
    type Item = Result<Row, Rejection>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.end {
            let index = self.next;
            self.next += 1;
            // Cells are moved out of the range, not copied: each row's strings are freed from
            // the sheet as it is read, so the peak stays that of the loaded sheet.
            let mut cells: Vec<String> = self.range[index]
                .iter_mut()
                .map(|cell| into_text(std::mem::take(cell)))
                .collect();
            if is_blank(&cells) {
                self.blanks.blank();
                continue;
            }
            self.blanks.data();
            let width = self.headers.len();
            // The range is never narrower than the header (the header is one of its rows).
            let extra = fit_to_header(&mut cells, width);
            let row = Row {
                provenance: Provenance {
                    file: self.file.clone(),
                    sheet: Some(self.sheet.clone()),
                    row: self.first_row + index as u64,
                },
                cells: cells.iter().collect(),
            };
            let Some((j, value)) = extra else {
                return Some(Ok(row));
            };
            let message = format!(
                "has a value in column {} beyond the last header column {} ({:?}): give that \
                 column a header or clear the cell",
                column_name(self.first_col as usize + j),
                column_name(self.first_col as usize + width.saturating_sub(1)),
                self.headers.last().map_or("", String::as_str),
            );
            return Some(Err(reject_row(row, value, message)));
        }
        None
    }
}

/// The most an XLSX/ODS may expand to. calamine holds a sheet in memory (about 100 bytes a
/// cell), and a few kilobytes of zip can claim gigabytes: refuse before decompressing.
pub const MAX_EXPANDED_BYTES: u64 = 1 << 30;

/// Refuses a workbook whose zip entries would expand beyond [`MAX_EXPANDED_BYTES`] (a zip
/// bomb, or a sheet too big to hold in memory), from the sizes its directory declares (the zip
/// reader never decompresses past them); with `ods`, also one whose `content.xml` expands to
/// more than [`MAX_ODS_CELLS`] cells with a value, counted from the repeat attributes in one
/// streaming pass (empty cells, which LibreOffice repeats to the sheet's edge, are not
/// counted: calamine does not keep them). The archive's directory is read once for both.
fn check_expansion(handle: &File, file: &str, ods: bool) -> Result<(), ReadError> {
    let Ok(mut archive) = zip::ZipArchive::new(handle) else {
        // Not a readable zip: calamine will say so in its own words.
        return Ok(());
    };
    let (mut expanded, mut compressed) = (0u64, 0u64);
    for i in 0..archive.len() {
        if let Ok(entry) = archive.by_index_raw(i) {
            expanded = expanded.saturating_add(entry.size());
            compressed = compressed.saturating_add(entry.compressed_size());
        }
    }
    if expanded > MAX_EXPANDED_BYTES {
        return Err(ReadError::TooLarge {
            file: file.to_string(),
            expanded,
            compressed,
        });
    }
    if ods && let Ok(content) = archive.by_name("content.xml") {
        // A read error here is one calamine meets too, and reports.
        if let Ok(cells) = ods_cells(std::io::BufReader::new(content), MAX_ODS_CELLS)
            && cells > MAX_ODS_CELLS
        {
            return Err(ReadError::TooManyCells {
                file: file.to_string(),
                cells,
            });
        }
    }
    Ok(())
}

/// The most cells with a value an ODS may expand to: calamine loads an ODS whole, at about
/// 125 bytes a cell, and `number-rows-repeated` / `number-columns-repeated` let a kilobyte
/// of XML claim a hundred million cells (calamine's own cap, ~12 GB). Ten million cells is
/// a sheet of 500,000 rows × 20 columns, ~1.2 GB.
pub const MAX_ODS_CELLS: u64 = 10_000_000;

/// Cells with a value (`office:value-type`) in an ODS `content.xml`, repeats multiplied out;
/// stops counting once past `stop`. A byte-level scan of the tags (quotes respected, since a
/// formula attribute may hold `>`), not an XML parse: only three attributes matter.
fn ods_cells(mut xml: impl std::io::BufRead, stop: u64) -> std::io::Result<u64> {
    let mut total = 0u64;
    let mut row_repeat = 1u64;
    let mut row_cells = 0u64;
    let mut tag = Vec::new();
    loop {
        // Skip text up to the next tag, then read the tag to its unquoted '>' (at the end of
        // the file, the read below finds nothing).
        xml.skip_until(b'<')?;
        tag.clear();
        let mut quote: Option<u8> = None;
        loop {
            let start = tag.len();
            if xml.read_until(b'>', &mut tag)? == 0 || tag.last() != Some(&b'>') {
                return Ok(total);
            }
            for &b in &tag[start..] {
                match (quote, b) {
                    (None, b'"' | b'\'') => quote = Some(b),
                    (Some(q), b) if b == q => quote = None,
                    _ => {}
                }
            }
            if quote.is_none() {
                break;
            }
        }
        tag.pop();
        // The name runs to the first space or '/' after its first byte (an end tag's '/').
        let name_end = tag
            .iter()
            .skip(1)
            .position(|b| b.is_ascii_whitespace() || *b == b'/')
            .map_or(tag.len(), |i| i + 1);
        match &tag[..name_end] {
            b"table:table-row" => {
                row_repeat = attr_number(&tag, b"table:number-rows-repeated").unwrap_or(1);
                row_cells = 0;
                if tag.ends_with(b"/") {
                    row_repeat = 1;
                }
            }
            b"/table:table-row" => {
                total = total.saturating_add(row_repeat.saturating_mul(row_cells));
                if total > stop {
                    return Ok(total);
                }
            }
            b"table:table-cell" | b"table:covered-table-cell"
                if memchr::memmem::find(&tag, b"office:value-type=").is_some() =>
            {
                let repeat = attr_number(&tag, b"table:number-columns-repeated").unwrap_or(1);
                row_cells = row_cells.saturating_add(repeat);
            }
            _ => {}
        }
    }
}

/// The number in `name="N"` inside a tag.
fn attr_number(tag: &[u8], name: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(tag, name)? + name.len();
    let rest = tag.get(at..)?.strip_prefix(b"=")?;
    let rest = rest
        .strip_prefix(b"\"")
        .or_else(|| rest.strip_prefix(b"'"))?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// Spreadsheet column letters for a 0-based index: 0 → A, 25 → Z, 26 → AA.
pub(super) fn column_name(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// A cell as the text a user would type into it.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => datetime_text(dt),
        Data::DateTimeIso(s) => iso_datetime_text(s),
        Data::DurationIso(s) => iso_duration_text(s),
        Data::Error(e) => e.to_string(),
    }
}

/// [`cell_text`] for a cell we own: strings are moved rather than copied.
pub(super) fn into_text(cell: Data) -> String {
    match cell {
        Data::String(s) => s,
        other => cell_text(&other),
    }
}

/// Fits a sheet row to a header `width` cells wide: the first value past the header (its
/// index and text; whitespace is not a value) is returned, to be refused rather than dropped,
/// and the cells are then kept up to the last value, so the report shows it; otherwise the
/// empty trailing cells are dropped and the row padded to the header's width.
pub(super) fn fit_to_header(cells: &mut Vec<String>, width: usize) -> Option<(usize, String)> {
    let extra = cells
        .iter()
        .enumerate()
        .skip(width)
        .find(|(_, c)| !c.trim().is_empty())
        .map(|(j, c)| (j, c.clone()));
    let keep = match extra {
        Some(_) => cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |j| j + 1),
        None => width,
    };
    cells.resize(keep.max(width), String::new());
    extra
}

/// Whether a cell would read as blank text, without building that text.
pub(super) fn cell_is_blank(cell: &Data) -> bool {
    match cell {
        Data::Empty => true,
        Data::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Largest magnitude printed as a plain integer: below it every integer is exact in an f64
/// and Excel shows all its digits (it keeps 15 significant digits).
const WHOLE_NUMBER_LIMIT: f64 = 1e15;

/// A number without exponent or trailing ".0": `5511999990000`, `15000.5`, `0.3`.
fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < WHOLE_NUMBER_LIMIT {
        // `as` is exact here (|f| < 2^53); -0.0 becomes "0".
        return (f as i64).to_string();
    }
    if f.fract() != 0.0 {
        // Excel shows at most 15 significant digits; what lies past them is binary noise
        // (0.1 + 0.2 is stored as 0.30000000000000004) that the user never saw.
        let rounded: f64 = format!("{f:.14e}").parse().unwrap_or(f);
        if rounded.fract() == 0.0 && rounded.abs() < WHOLE_NUMBER_LIMIT {
            return (rounded as i64).to_string();
        }
        return rounded.to_string();
    }
    // Display never uses an exponent for f64.
    f.to_string()
}

const MS_PER_DAY: f64 = 86_400_000.0;

/// An Excel date/time serial as ISO text: a date alone when the time is midnight, a time
/// alone when there is no date (serial below 1), a duration as hours:minutes:seconds.
fn datetime_text(dt: &ExcelDateTime) -> String {
    let serial = dt.as_f64();
    if dt.is_duration() {
        return duration_text((serial * MS_PER_DAY).round() as i64);
    }
    if !(0.0..2_958_466.0).contains(&serial) {
        // Outside Excel's calendar (before 1900 or after 9999): calamine would clamp it to a
        // real-looking date; the raw number is more honest.
        return number_text(serial);
    }
    let (year, month, day, hour, minute, second, milli) = dt.to_ymd_hms_milli();
    let time = time_text(hour, minute, second, milli);
    if serial < 1.0 {
        return time;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if (hour, minute, second, milli) == (0, 0, 0, 0) {
        date
    } else {
        format!("{date} {time}")
    }
}

fn time_text(hour: u8, minute: u8, second: u8, milli: u16) -> String {
    if milli == 0 {
        format!("{hour:02}:{minute:02}:{second:02}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    }
}

/// Milliseconds as `[-]H:MM:SS[.mmm]` with hours past 24 kept (Excel's `[h]:mm:ss`).
fn duration_text(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, milli) = (rest / 1000, rest % 1000);
    if milli == 0 {
        format!("{sign}{hours:02}:{minutes:02}:{seconds:02}")
    } else {
        format!("{sign}{hours:02}:{minutes:02}:{seconds:02}.{milli:03}")
    }
}

/// ODS dates come as ISO 8601 text ("2024-03-15T10:30:00"); put them in the same shape as
/// XLSX dates. Anything unexpected is passed on as is for the mapping to judge.
fn iso_datetime_text(s: &str) -> String {
    // DateTime first: Date would also accept "2024-03-15T10:30:00", dropping the time.
    let Ok(dt) = s.parse::<jiff::civil::DateTime>() else {
        return match s.parse::<jiff::civil::Date>() {
            Ok(date) => date.to_string(),
            Err(_) => s.to_string(),
        };
    };
    let date = dt.date().to_string();
    let milli = dt.subsec_nanosecond() / 1_000_000;
    if (dt.hour(), dt.minute(), dt.second(), milli) == (0, 0, 0, 0) {
        return date;
    }
    let time = time_text(
        dt.hour() as u8,
        dt.minute() as u8,
        dt.second() as u8,
        milli as u16,
    );
    format!("{date} {time}")
}

/// ODS times and durations come as ISO 8601 durations ("PT10H30M00S").
fn iso_duration_text(s: &str) -> String {
    match s.parse::<jiff::SignedDuration>() {
        Ok(d) => duration_text(d.as_millis() as i64),
        Err(_) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::Ordering;

    use calamine::{CellErrorType, ExcelDateTimeType};
    use rust_xlsxwriter::{ExcelDateTime as XlsxDate, Format as XlsxFormat, Formula, Workbook};

    use super::super::{ReadError, ReadOptions, SheetSelector, Source, open};
    use super::*;
    use crate::record::Stage;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    /// A workbook like the ones users send: a "Leads" sheet with typed cells, a blank row in
    /// the middle, a formatted but empty tail, a stray value past the header; and "Notes".
    fn leads_workbook(dir: &tempfile::TempDir) -> PathBuf {
        let mut wb = Workbook::new();
        let date = XlsxFormat::new().set_num_format("yyyy-mm-dd");
        let datetime = XlsxFormat::new().set_num_format("yyyy-mm-dd hh:mm");
        let filled = XlsxFormat::new().set_background_color("#FFFF00");

        let ws = wb.add_worksheet().set_name("Leads").unwrap();
        for (col, name) in ["Nome", " Telefone ", "Valor", "Data", "Total", "Ativo"]
            .iter()
            .enumerate()
        {
            ws.write_string(0, col as u16, *name).unwrap();
        }
        ws.write_string(1, 0, "Ana").unwrap();
        ws.write_number(1, 1, 5_511_999_990_000.0).unwrap();
        ws.write_number(1, 2, 15000.5).unwrap();
        ws.write_datetime_with_format(1, 3, XlsxDate::from_ymd(2024, 3, 15).unwrap(), &date)
            .unwrap();
        ws.write_formula(1, 4, Formula::new("=1+1").set_result("2"))
            .unwrap();
        ws.write_boolean(1, 5, true).unwrap();
        // Row 3 left blank. Row 4: a short row, with a time of day and binary noise.
        ws.write_string(3, 0, "Bia").unwrap();
        ws.write_number(3, 2, 0.1 + 0.2).unwrap();
        let at = XlsxDate::from_ymd(2024, 3, 15)
            .unwrap()
            .and_hms(10, 30, 0)
            .unwrap();
        ws.write_datetime_with_format(3, 3, at, &datetime).unwrap();
        // Row 5: a value in column H, past the last header (F).
        ws.write_string(4, 0, "Cai").unwrap();
        ws.write_string(4, 7, "solto").unwrap();
        // Row 6: data; rows 7..10 blank but formatted, which widens calamine's range.
        ws.write_string(5, 0, "Dan").unwrap();
        ws.write_string(6, 0, "   ").unwrap();
        ws.write_blank(9, 2, &filled).unwrap();

        let notes = wb.add_worksheet().set_name("Notes").unwrap();
        notes.write_string(0, 0, "Nota").unwrap();
        notes.write_string(1, 0, "ligar de manhã").unwrap();

        let offset = wb.add_worksheet().set_name("Offset").unwrap();
        offset.write_string(2, 2, "Nome").unwrap();
        offset.write_string(2, 3, "Fone").unwrap();
        offset.write_string(3, 2, "Eva").unwrap();
        offset.write_number(3, 3, 11.0).unwrap();

        wb.add_worksheet().set_name("Vazia").unwrap();

        let path = dir.path().join("leads.xlsx");
        wb.save(&path).unwrap();
        path
    }

    fn with_sheet(sheet: SheetSelector) -> ReadOptions {
        ReadOptions {
            sheet: Some(sheet),
            ..ReadOptions::default()
        }
    }

    fn rows(source: &mut Source) -> Vec<Result<Row, Rejection>> {
        source.rows.by_ref().collect()
    }

    #[test]
    fn reads_the_first_sheet_with_typed_cells_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        let mut src = open(&path, &ReadOptions::default()).unwrap();
        assert_eq!(src.format, Format::Xlsx);
        assert_eq!(src.sheet.as_deref(), Some("Leads"));
        assert_eq!((src.encoding, src.delimiter), (None, None));
        assert_eq!(
            src.headers,
            strings(&["Nome", "Telefone", "Valor", "Data", "Total", "Ativo"])
        );

        let rows = rows(&mut src);
        assert_eq!(rows.len(), 4, "{rows:?}");
        let ana = rows[0].as_ref().unwrap();
        assert_eq!(
            ana.provenance.to_string(),
            format!("{}[Leads]:2", path.display())
        );
        assert_eq!(
            ana.cells,
            strings(&["Ana", "5511999990000", "15000.5", "2024-03-15", "2", "true"])
        );

        let bia = rows[1].as_ref().unwrap();
        assert_eq!(bia.provenance.row, 4);
        assert_eq!(
            bia.cells,
            strings(&["Bia", "", "0.3", "2024-03-15 10:30:00", "", ""])
        );

        let cai = rows[2].as_ref().unwrap_err();
        assert_eq!((cai.provenance.row, cai.stage), (5, Stage::Read));
        assert_eq!(cai.problems[0].value, "solto");
        assert!(
            cai.problems[0]
                .message
                .starts_with("has a value in column H beyond the last header column F (\"Ativo\")"),
            "{}",
            cai.problems[0].message
        );
        assert_eq!(
            cai.cells,
            strings(&["Cai", "", "", "", "", "", "", "solto"])
        );

        let dan = rows[3].as_ref().unwrap();
        assert_eq!(dan.provenance.row, 6);
        assert_eq!(dan.cells.len(), 6);
        // Row 3 counted; the blank tail (rows 7–10) not.
        assert_eq!(src.blank_rows.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn sheet_by_name_and_by_one_based_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        for selector in [
            SheetSelector::Name("Notes".into()),
            SheetSelector::Name(" notes".into()),
            SheetSelector::Index(2),
        ] {
            let mut src = open(&path, &with_sheet(selector.clone())).unwrap();
            assert_eq!(src.sheet.as_deref(), Some("Notes"), "{selector:?}");
            assert_eq!(src.headers, strings(&["Nota"]));
            let rows = rows(&mut src);
            let row = rows[0].as_ref().unwrap();
            assert_eq!(row.cells, strings(&["ligar de manhã"]));
            assert_eq!(row.provenance.sheet.as_deref(), Some("Notes"));
            assert_eq!(row.provenance.row, 2);
        }
        let src = open(&path, &with_sheet(SheetSelector::Index(1))).unwrap();
        assert_eq!(src.sheet.as_deref(), Some("Leads"));
    }

    #[test]
    fn missing_sheet_lists_the_sheets() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        let err = open(&path, &with_sheet(SheetSelector::Name("Plan1".into()))).unwrap_err();
        assert!(matches!(err, ReadError::MissingSheet { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "{}: no sheet named \"Plan1\"; sheets are: \"Leads\", \"Notes\", \"Offset\", \
                 \"Vazia\". Pass --sheet with one of them (a name, or a number counting from 1)",
                path.display()
            )
        );
        for n in [0, 5] {
            let err = open(&path, &with_sheet(SheetSelector::Index(n))).unwrap_err();
            assert!(
                err.to_string().contains(&format!("no sheet number {n}")),
                "{err}"
            );
        }
    }

    #[test]
    fn range_not_starting_at_a1_keeps_sheet_row_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        let offset = |header_row| ReadOptions {
            sheet: Some(SheetSelector::Name("Offset".into())),
            header_row,
            ..ReadOptions::default()
        };
        for header_row in [None, Some(3)] {
            let mut src = open(&path, &offset(header_row)).unwrap();
            assert_eq!(src.headers, strings(&["Nome", "Fone"]));
            let rows = rows(&mut src);
            let row = rows[0].as_ref().unwrap();
            assert_eq!(
                (row.provenance.row, row.cells.to_vec()),
                (4, strings(&["Eva", "11"]))
            );
        }
        // Header on the last row: no data, not an error.
        let mut src = open(&path, &offset(Some(4))).unwrap();
        assert_eq!(src.headers, strings(&["Eva", "11"]));
        assert!(rows(&mut src).is_empty());

        for row in [1, 5] {
            let err = open(&path, &offset(Some(row))).unwrap_err();
            assert!(
                matches!(
                    err,
                    ReadError::HeaderRowOutOfRange {
                        first: 3,
                        last: Some(4),
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(
                err.to_string().ends_with(&format!(
                    "[Offset]: header row {row} is outside the data, which \
                                         spans rows 3 to 4. Pass a header row within the data"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn header_row_option_on_the_leads_sheet() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        let opts = ReadOptions {
            header_row: Some(4),
            ..ReadOptions::default()
        };
        let mut src = open(&path, &opts).unwrap();
        // Row 4 is ["Bia", "", 0.3, date] followed by empty cells, which are not columns.
        assert_eq!(
            src.headers,
            strings(&["Bia", "", "0.3", "2024-03-15 10:30:00"])
        );
        let rows = rows(&mut src);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_ref().unwrap_err().provenance.row, 5);
        assert_eq!(rows[1].as_ref().unwrap().provenance.row, 6);

        let blank = ReadOptions {
            header_row: Some(3),
            ..ReadOptions::default()
        };
        let err = open(&path, &blank).unwrap_err();
        assert!(
            matches!(err, ReadError::BlankHeader { row: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn empty_sheet_is_an_empty_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        let err = open(&path, &with_sheet(SheetSelector::Name("Vazia".into()))).unwrap_err();
        assert!(matches!(err, ReadError::Empty { .. }), "{err:?}");
        assert!(
            err.to_string().contains("leads.xlsx[Vazia]: no header row"),
            "{err}"
        );
    }

    #[test]
    fn default_sheet_is_the_first_visible_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let hidden = wb.add_worksheet().set_name("Config").unwrap();
        hidden.write_string(0, 0, "segredo").unwrap();
        hidden.set_hidden(true);
        let leads = wb.add_worksheet().set_name("Leads").unwrap();
        leads.write_string(0, 0, "Nome").unwrap();
        leads.set_active(true);
        let path = dir.path().join("hidden.xlsx");
        wb.save(&path).unwrap();

        let src = open(&path, &ReadOptions::default()).unwrap();
        assert_eq!(src.sheet.as_deref(), Some("Leads"));
        // Hidden sheets keep their place when counted.
        let src = open(&path, &with_sheet(SheetSelector::Index(1))).unwrap();
        assert_eq!(src.sheet.as_deref(), Some("Config"));
    }

    #[test]
    fn truncated_workbook_is_a_spreadsheet_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = leads_workbook(&dir);
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.xlsx");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = open(&cut, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, ReadError::Spreadsheet { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{}: cannot read the spreadsheet", cut.display())),
            "{msg}"
        );

        // Not a workbook at all, whatever its name says.
        let fake = dir.path().join("fake.xls");
        std::fs::write(&fake, b"nome;fone\nAna;1\n").unwrap();
        let err = open(&fake, &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, ReadError::Spreadsheet { .. }), "{err:?}");
    }

    #[test]
    fn ods_repeats_are_multiplied_out_and_empty_cells_not_counted() {
        let xml = br#"<table:table><table:table-row><table:table-cell office:value-type="string"><text:p>Nome</text:p></table:table-cell><table:table-cell table:number-columns-repeated="1000"/></table:table-row>
<table:table-row table:number-rows-repeated="500"><table:table-cell table:formula="of:=[.A1]>0" office:value-type="float" office:value="1" table:number-columns-repeated="3"/><table:table-cell/></table:table-row>
<table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table>"#;
        // 1 (the header; the 1,000 empty cells not) + 500 rows × 3 cells; the 1,048,000
        // empty rows LibreOffice writes to the sheet's edge count for nothing.
        assert_eq!(ods_cells(&xml[..], u64::MAX).unwrap(), 1 + 500 * 3);
        // Counting stops once past the limit.
        assert!(ods_cells(&xml[..], 100).unwrap() > 100);
    }

    #[test]
    fn an_ods_claiming_too_many_cells_is_refused_before_loading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repeat.ods");
        let content = r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Leads"><table:table-row table:number-rows-repeated="99000"><table:table-cell table:number-columns-repeated="1000" office:value-type="string"><text:p>x</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#;
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("mimetype", stored).unwrap();
        std::io::Write::write_all(&mut zip, b"application/vnd.oasis.opendocument.spreadsheet")
            .unwrap();
        zip.start_file("content.xml", stored).unwrap();
        std::io::Write::write_all(&mut zip, content.as_bytes()).unwrap();
        zip.finish().unwrap();
        let err = open(&path, &ReadOptions::default()).unwrap_err();
        assert!(
            matches!(err, ReadError::TooManyCells { cells, .. } if cells > MAX_ODS_CELLS),
            "{err:?}"
        );
        assert!(err.to_string().contains("Save it as XLSX or CSV"), "{err}");
    }

    #[test]
    fn ods_reads_like_xlsx() {
        // Made by tests/data/read/make_ods.py: a hidden "Config" sheet, then "Leads" with ODS's
        // own value types (ISO dates and durations) and two blank rows before the last one.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/read/leads.ods");
        let mut src = open(&path, &ReadOptions::default()).unwrap();
        assert_eq!(src.format, Format::Ods);
        assert_eq!(src.sheet.as_deref(), Some("Leads"));
        assert_eq!(
            src.headers,
            strings(&["Nome", "Fone", "Valor", "Data", "Hora", "Ativo"])
        );
        let rows: Vec<(u64, Vec<String>)> = rows(&mut src)
            .into_iter()
            .map(|r| r.map(|r| (r.provenance.row, r.cells.to_vec())).unwrap())
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    2,
                    strings(&[
                        "João",
                        "5511999990000",
                        "15000.5",
                        "2024-03-15",
                        "10:30:00",
                        "true"
                    ])
                ),
                (
                    5,
                    strings(&["Maria", "", "", "2024-03-15 10:30:00", "", ""])
                ),
            ]
        );
        assert_eq!(src.blank_rows.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_ten_thousand_column_row_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for col in 0..10_000u16 {
            ws.write_string(0, col, format!("c{col}")).unwrap();
            ws.write_number(1, col, f64::from(col)).unwrap();
        }
        let path = dir.path().join("wide.xlsx");
        wb.save(&path).unwrap();
        let mut src = open(&path, &ReadOptions::default()).unwrap();
        assert_eq!(src.headers.len(), 10_000);
        let rows = rows(&mut src);
        let row = rows[0].as_ref().unwrap();
        assert_eq!(row.cells.len(), 10_000);
        assert_eq!(&row.cells[9_999], "9999");
    }

    #[test]
    fn numbers_read_as_typed() {
        assert_eq!(number_text(5_511_999_990_000.0), "5511999990000");
        assert_eq!(number_text(15000.5), "15000.5");
        assert_eq!(number_text(0.1 + 0.2), "0.3");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(-42.0), "-42");
        assert_eq!(number_text(1e20), "100000000000000000000");
        assert_eq!(number_text(0.000_000_1), "0.0000001");
        assert_eq!(number_text(1234.5678), "1234.5678");
        assert_eq!(cell_text(&Data::Int(5_511_999_990_000)), "5511999990000");
        assert_eq!(cell_text(&Data::Bool(false)), "false");
        assert_eq!(cell_text(&Data::Empty), "");
        assert_eq!(cell_text(&Data::Error(CellErrorType::NA)), "#N/A");
        assert_eq!(cell_text(&Data::Error(CellErrorType::Div0)), "#DIV/0!");
        assert_eq!(cell_text(&Data::String(" x ".into())), " x ");
    }

    #[test]
    fn dates_and_times_read_as_iso_text() {
        let dt = |serial, is_1904| {
            cell_text(&Data::DateTime(ExcelDateTime::new(
                serial,
                ExcelDateTimeType::DateTime,
                is_1904,
            )))
        };
        // 2024-03-15 is serial 45366 in the 1900 system, 43904 in the 1904 one.
        assert_eq!(dt(45366.0, false), "2024-03-15");
        assert_eq!(dt(43904.0, true), "2024-03-15");
        assert_eq!(dt(45366.4375, false), "2024-03-15 10:30:00");
        assert_eq!(dt(0.5, false), "12:00:00");
        assert_eq!(dt(-1.0, false), "-1");
        let duration = Data::DateTime(ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false));
        assert_eq!(cell_text(&duration), "36:00:00");

        assert_eq!(
            cell_text(&Data::DateTimeIso("2024-03-15".into())),
            "2024-03-15"
        );
        assert_eq!(
            cell_text(&Data::DateTimeIso("2024-03-15T10:30:00".into())),
            "2024-03-15 10:30:00"
        );
        assert_eq!(
            cell_text(&Data::DateTimeIso("2024-03-15T00:00:00".into())),
            "2024-03-15"
        );
        assert_eq!(cell_text(&Data::DateTimeIso("amanhã".into())), "amanhã");
        assert_eq!(
            cell_text(&Data::DurationIso("PT10H30M00S".into())),
            "10:30:00"
        );
        assert_eq!(cell_text(&Data::DurationIso("PT36H".into())), "36:00:00");
        assert_eq!(cell_text(&Data::DurationIso("P1Y".into())), "P1Y");
    }

    #[test]
    fn column_names_follow_the_spreadsheet() {
        assert_eq!(column_name(0), "A");
        assert_eq!(column_name(25), "Z");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(701), "ZZ");
        assert_eq!(column_name(702), "AAA");
        assert_eq!(column_name(16_383), "XFD");
    }
}
