//! XLSX/XLSM sheets streamed: cells are parsed as rows are consumed, so memory stays flat
//! whatever the sheet's size (what calamine keeps is the shared-strings table, which the
//! expansion check of [`super::xlsx`] bounds).
//!
//! calamine's cell reader borrows the workbook, so a thread owns both and sends the sheet's
//! rows over a bounded channel (a few hundred rows ahead of the pipeline); dropping the rows
//! early (a stopped import) ends the thread at its next send. The rules are those of the
//! loaded sheets of [`super::xlsx`] (XLS and ODS, which calamine cannot stream): the header
//! is the first non-blank row (or `--header-row`), row numbers are the sheet's own, blank rows
//! count only when data follows them, and a value the header does not name is refused rather
//! than dropped: beyond the last header column, or (here) left of the first one, since the
//! table's columns start where its header does.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Data, Xlsx, XlsxError};

use super::xlsx::{column_name, into_text};
use super::{BlankTally, Format, ReadError, Source, clean_header, is_blank, reject_row};
use crate::record::{Provenance, Rejection, Row};

/// Rows parsed ahead of the pipeline: enough to keep both threads busy, few enough to be
/// a few hundred kilobytes.
const AHEAD: usize = 256;

/// A sheet row as the reading thread sends it: its 0-based index and its cells with a value
/// (0-based column, text), in the order the sheet has them.
type SheetRow = (u32, Vec<(u32, String)>);

/// Streams `sheet` of `workbook`: finds the header and returns the source of the rows after it.
pub(super) fn open(
    workbook: Xlsx<BufReader<File>>,
    sheet: String,
    file: Arc<str>,
    header_row: Option<u64>,
) -> Result<Source, ReadError> {
    let (tx, rx) = sync_channel(AHEAD);
    let name = sheet.clone();
    std::thread::Builder::new()
        .name("xlsx-reader".into())
        .spawn(move || produce(workbook, &name, tx))
        .map_err(|source| ReadError::Io {
            file: file.to_string(),
            source,
        })?;
    let failed = |source: XlsxError| ReadError::Spreadsheet {
        file: file.to_string(),
        source: calamine::Error::Xlsx(source),
    };
    // The header: the first non-blank row, or the one asked for. `first` and `last` are the
    // rows with a value seen so far, for the messages.
    let mut first: Option<u64> = None;
    let mut last: Option<u64> = None;
    let (header_index, header_cells) = loop {
        let Some(next) = rx.recv().ok() else {
            // The sheet ended first.
            return Err(match (header_row, first) {
                (Some(row), Some(first)) => ReadError::HeaderRowOutOfRange {
                    file: file.to_string(),
                    sheet: Some(sheet.clone()),
                    row,
                    first,
                    last,
                },
                _ => ReadError::Empty {
                    file: file.to_string(),
                    sheet: Some(sheet.clone()),
                },
            });
        };
        let (index, cells) = next.map_err(failed)?;
        let number = u64::from(index) + 1;
        let blank = cells.iter().all(|(_, t)| t.trim().is_empty());
        if !blank {
            first = first.or(Some(number));
            last = Some(number);
        }
        match header_row {
            None if blank => continue,
            None => break (index, cells),
            Some(row) if number < row => continue,
            Some(row) if number == row && !blank => break (index, cells),
            // Before the data (a row above the first with a value): out of range, like the
            // loaded sheets say it.
            Some(row) if first.is_none_or(|f| row < f) => {
                let first = first.unwrap_or(number);
                return Err(ReadError::HeaderRowOutOfRange {
                    file: file.to_string(),
                    sheet: Some(sheet.clone()),
                    row,
                    first,
                    last: last_row(last, &rx),
                });
            }
            // Inside the data but blank (or absent from the sheet, which is the same).
            Some(row) => {
                return Err(ReadError::BlankHeader {
                    file: file.to_string(),
                    sheet: Some(sheet.clone()),
                    row,
                });
            }
        }
    };

    let first_col = header_cells
        .iter()
        .find(|(_, t)| !t.trim().is_empty())
        .map_or(0, |(c, _)| *c);
    let mut headers: Vec<String> = Vec::new();
    for (col, text) in &header_cells {
        let Some(at) = col.checked_sub(first_col).map(|c| c as usize) else {
            continue;
        };
        if headers.len() <= at {
            headers.resize(at + 1, String::new());
        }
        headers[at] = clean_header(text);
    }
    while headers.last().is_some_and(String::is_empty) {
        headers.pop();
    }

    let blanks = BlankTally::default();
    let blank_rows = blanks.counter.clone();
    let rows = StreamRows {
        rx,
        last: header_index,
        first_col,
        headers: headers.clone(),
        file,
        sheet: sheet.as_str().into(),
        blanks,
        done: false,
    };
    Ok(Source {
        headers,
        format: Format::Xlsx,
        sheet: Some(sheet),
        encoding: None,
        delimiter: None,
        rows: Box::new(rows),
        blank_rows,
    })
}

/// The last sheet row with a value, reading the rest of the sheet (for an error message only).
fn last_row(seen: Option<u64>, rx: &Receiver<Result<SheetRow, XlsxError>>) -> Option<u64> {
    let mut last = seen;
    for (index, cells) in rx.iter().flatten() {
        if cells.iter().any(|(_, t)| !t.trim().is_empty()) {
            last = Some(u64::from(index) + 1);
        }
    }
    last
}

/// The reading thread: every row with a value, in sheet order, then the end (the sender
/// dropped) or the error that stopped it.
fn produce(
    mut workbook: Xlsx<BufReader<File>>,
    sheet: &str,
    tx: SyncSender<Result<SheetRow, XlsxError>>,
) {
    let mut cells = match workbook.worksheet_cells_reader(sheet) {
        Ok(cells) => cells,
        Err(e) => {
            let _ = tx.send(Err(e));
            return;
        }
    };
    let mut row: Option<SheetRow> = None;
    loop {
        match cells.next_cell() {
            Ok(Some(cell)) => {
                let (index, col) = cell.get_position();
                let data = Data::from(cell.get_value().clone());
                // Styled but empty cells are not values.
                if matches!(data, Data::Empty) {
                    continue;
                }
                let text = into_text(data);
                match &mut row {
                    Some((current, cells)) if *current == index => cells.push((col, text)),
                    _ => {
                        if let Some(done) = row.replace((index, vec![(col, text)]))
                            && tx.send(Ok(done)).is_err()
                        {
                            return; // the rows were dropped: nobody is reading
                        }
                    }
                }
            }
            Ok(None) => {
                if let Some(done) = row {
                    let _ = tx.send(Ok(done));
                }
                return;
            }
            Err(e) => {
                if let Some(done) = row.take() {
                    let _ = tx.send(Ok(done));
                }
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// The data rows after the header, as the reading thread sends them.
struct StreamRows {
    rx: Receiver<Result<SheetRow, XlsxError>>,
    /// 0-based index of the last row received (the header at first): a jump past the next
    /// index is blank rows the sheet does not store.
    last: u32,
    first_col: u32,
    headers: Vec<String>,
    file: Arc<str>,
    sheet: Arc<str>,
    blanks: BlankTally,
    done: bool,
}

impl StreamRows {
    fn row(&self, index: u32, cells: Vec<String>) -> Row {
        Row {
            provenance: Provenance {
                file: self.file.clone(),
                sheet: Some(self.sheet.clone()),
                row: u64::from(index) + 1,
            },
            cells: cells.iter().collect(),
        }
    }
}

impl Iterator for StreamRows {
    type Item = Result<Row, Rejection>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let next = match self.rx.recv() {
                Ok(next) => next,
                // The sheet ended: blank rows still pending are its tail, not counted.
                Err(_) => {
                    self.done = true;
                    return None;
                }
            };
            let (index, sparse) = match next {
                Ok(row) => row,
                Err(e) => {
                    // The rest of the sheet cannot be read (a corrupt or truncated file): the
                    // last item, naming the row after the last one read.
                    self.done = true;
                    self.blanks.data();
                    let row = self.row(self.last.saturating_add(1), Vec::new());
                    let message = format!(
                        "the sheet could not be read from this row on ({e}); the rows after it \
                         were not imported. The file may be truncated or corrupt: open it in \
                         Excel or LibreOffice, save it again and import it again"
                    );
                    return Some(Err(reject_row(row, String::new(), message)));
                }
            };
            for _ in self.last.saturating_add(1)..index {
                self.blanks.blank();
            }
            self.last = index;

            let width = self.headers.len();
            let mut cells = vec![String::new(); width];
            let mut left: Option<(u32, String)> = None;
            for (col, text) in sparse {
                let Some(at) = col.checked_sub(self.first_col).map(|c| c as usize) else {
                    if left.is_none() && !text.trim().is_empty() {
                        left = Some((col, text));
                    }
                    continue;
                };
                if cells.len() <= at {
                    cells.resize(at + 1, String::new());
                }
                cells[at] = text;
            }
            if left.is_none() && is_blank(&cells) {
                self.blanks.blank();
                continue;
            }
            self.blanks.data();
            // A value past the header; whitespace there is not a value. Trailing cells are
            // kept up to the last value when refusing, so the report shows it.
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
            let header = |j: usize| column_name(self.first_col as usize + j);
            let problem = match (left, extra) {
                (Some((col, value)), _) => Some((
                    value,
                    format!(
                        "has a value in column {} left of the first header column {} ({:?}): \
                         give that column a header or clear the cell",
                        column_name(col as usize),
                        header(0),
                        self.headers.first().map_or("", String::as_str),
                    ),
                )),
                (None, Some((j, value))) => Some((
                    value,
                    format!(
                        "has a value in column {} beyond the last header column {} ({:?}): \
                         give that column a header or clear the cell",
                        header(j),
                        header(width.saturating_sub(1)),
                        self.headers.last().map_or("", String::as_str),
                    ),
                )),
                (None, None) => None,
            };
            let row = self.row(index, cells);
            return Some(match problem {
                None => Ok(row),
                Some((value, message)) => Err(reject_row(row, value, message)),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use rust_xlsxwriter::Workbook;

    use super::super::{ReadOptions, open};
    use crate::record::Stage;

    #[test]
    fn a_value_left_of_the_header_is_refused_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        s.write_string(0, 1, "Nome").unwrap();
        s.write_string(0, 2, "Fone").unwrap();
        s.write_string(1, 1, "Ana").unwrap();
        s.write_string(2, 0, "nota").unwrap();
        s.write_string(2, 1, "Bia").unwrap();
        let path = dir.path().join("left.xlsx");
        wb.save(&path).unwrap();
        let src = open(&path, &ReadOptions::default()).unwrap();
        assert_eq!(src.headers, ["Nome", "Fone"]);
        let rows: Vec<_> = src.rows.collect();
        assert_eq!(rows[0].as_ref().unwrap().cells.to_vec(), ["Ana", ""]);
        let bia = rows[1].as_ref().unwrap_err();
        assert_eq!((bia.provenance.row, bia.stage), (3, Stage::Read));
        assert_eq!(bia.problems[0].value, "nota");
        assert!(
            bia.problems[0].message.starts_with(
                "has a value in column A left of the first header column B (\"Nome\")"
            ),
            "{}",
            bia.problems[0].message
        );
    }

    /// A sheet whose zip entry says it is shorter than it is: the rows before the cut are
    /// read, then one last rejection says the rest could not be (nothing dropped silently).
    #[test]
    fn a_sheet_cut_short_ends_in_a_rejection_naming_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        s.write_string(0, 0, "Nome").unwrap();
        for r in 1..5000 {
            s.write_string(r, 0, format!("Pessoa {r}")).unwrap();
        }
        let path = dir.path().join("cut.xlsx");
        wb.save(&path).unwrap();
        // The central directory's record of the sheet now declares 64 KiB.
        let mut bytes = std::fs::read(&path).unwrap();
        let name = b"xl/worksheets/sheet1.xml";
        let at = (0..bytes.len() - 46)
            .find(|&i| {
                bytes[i..].starts_with(b"PK\x01\x02")
                    && bytes[i + 46..].starts_with(name)
                    && u16::from_le_bytes([bytes[i + 28], bytes[i + 29]]) as usize == name.len()
            })
            .expect("the sheet's central record");
        let real = u32::from_le_bytes(bytes[at + 24..at + 28].try_into().unwrap());
        assert!(real > 64 * 1024, "{real}");
        bytes[at + 24..at + 28].copy_from_slice(&(64 * 1024u32).to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();

        let src = open(&path, &ReadOptions::default()).unwrap();
        let rows: Vec<_> = src.rows.collect();
        let (last, read) = rows.split_last().unwrap();
        assert!(read.len() > 100 && read.len() < 4999, "{}", read.len());
        assert!(read.iter().all(Result::is_ok));
        let last = last.as_ref().unwrap_err();
        assert_eq!(last.provenance.row, read.len() as u64 + 2);
        assert!(
            last.problems[0]
                .message
                .contains("could not be read from this row on"),
            "{}",
            last.problems[0].message
        );
    }
}
