//! XLSX/XLSM sheets streamed: cells are parsed as rows are consumed, so memory stays flat
//! whatever the sheet's size (what calamine keeps is the shared-strings table, which the
//! expansion check of [`super::xlsx`] bounds).
//!
//! calamine's cell reader borrows the workbook, so a thread owns both and sends the sheet's
//! rows over a bounded channel (batches of rows, a thousand or so ahead); dropping the rows
//! early (a stopped import) ends the thread at its next send. The rules are those of the
//! loaded sheets of [`super::xlsx`] (XLS and ODS, which calamine cannot stream): the header
//! is the first non-blank row (or `--header-row`), row numbers are the sheet's own, blank rows
//! count only when data follows them, the table's columns start where the sheet's used range
//! does (its declared `<dimension>`, which Excel, LibreOffice and the usual libraries write;
//! a pandas export's index column under an empty A1 is a column like the others), and a value
//! the header does not reach is refused rather than dropped.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use calamine::{Data, DataRef, Xlsx, XlsxError};

use super::xlsx::{column_name, fit_to_header, into_text};
use super::{BlankTally, Format, ReadError, Source, clean_header, is_blank, reject_row};
use crate::record::{Provenance, Rejection, Row};

/// Rows sent at a time: one channel operation (and, at worst, one wake-up) per batch rather
/// than per row, which cost the streamed reader a third more CPU than loading the sheet.
const BATCH: usize = 256;

/// Batches parsed ahead of the pipeline: enough to keep both threads busy, few enough to be
/// a megabyte or so.
const AHEAD: usize = 4;

/// Excel's last column is XFD, the 16,384th: a cell further right is from a malformed file.
const MAX_COLUMNS: usize = 16_384;

/// A sheet row: its 0-based index and its cells with a value (0-based column, text), in the
/// order the sheet has them.
type SheetRow = (u32, Vec<(u32, String)>);

/// What the reading thread sends.
enum Msg {
    /// First: the column where the sheet's declared used range starts.
    Start(u32),
    /// The next rows, in sheet order ([`BATCH`] at a time).
    Rows(Vec<SheetRow>),
    /// The sheet cannot be read past this point: the row being read (if any) is not whole.
    Failed { row: Option<u32>, error: XlsxError },
    /// Last: every row was sent.
    End,
}

/// Why the rows stopped coming.
enum Stop {
    End,
    Failed {
        row: Option<u32>,
        error: XlsxError,
    },
    /// The channel closed without [`Msg::End`]: the thread died (a panic).
    Died,
}

/// The receiving end: rows one at a time out of the batches.
struct Inbox {
    rx: Receiver<Msg>,
    batch: std::vec::IntoIter<SheetRow>,
}

impl Inbox {
    /// The column the thread sends first.
    fn start(&mut self) -> Result<u32, Stop> {
        match self.rx.recv() {
            Ok(Msg::Start(col)) => Ok(col),
            Ok(Msg::Failed { row, error }) => Err(Stop::Failed { row, error }),
            _ => Err(Stop::Died),
        }
    }

    fn next(&mut self) -> Result<SheetRow, Stop> {
        loop {
            if let Some(row) = self.batch.next() {
                return Ok(row);
            }
            match self.rx.recv() {
                Ok(Msg::Rows(rows)) => self.batch = rows.into_iter(),
                Ok(Msg::Failed { row, error }) => return Err(Stop::Failed { row, error }),
                Ok(Msg::End) => return Err(Stop::End),
                Ok(Msg::Start(_)) | Err(_) => return Err(Stop::Died),
            }
        }
    }
}

/// Whether a sent row holds a value (whitespace is none).
fn has_value(cells: &[(u32, String)]) -> bool {
    cells.iter().any(|(_, t)| !t.trim().is_empty())
}

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
    let failed = |error: XlsxError| ReadError::Spreadsheet {
        file: file.to_string(),
        source: calamine::Error::Xlsx(error),
    };
    let mut inbox = Inbox {
        rx,
        batch: Vec::new().into_iter(),
    };
    let first_col = match inbox.start() {
        Ok(col) => col,
        Err(Stop::Failed { error, .. }) => return Err(failed(error)),
        Err(_) => return Err(failed(died())),
    };

    // The header: the first non-blank row, or the one asked for. `first` and `last` are the
    // rows with a value seen so far, for the messages.
    let mut first: Option<u64> = None;
    let mut last: Option<u64> = None;
    let (header_index, header_cells) = loop {
        let (index, cells) = match inbox.next() {
            Ok(row) => row,
            Err(Stop::Failed { error, .. }) => return Err(failed(error)),
            Err(Stop::Died) => return Err(failed(died())),
            Err(Stop::End) => {
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
            }
        };
        let number = u64::from(index) + 1;
        let blank = !has_value(&cells);
        if !blank {
            first = first.or(Some(number));
            last = Some(number);
        }
        match header_row {
            None if blank => continue,
            None => break (index, cells),
            Some(row) if number < row => continue,
            Some(row) if number == row && !blank => break (index, cells),
            // Above the first row with a value: outside the data.
            Some(row) if first.is_none_or(|f| row < f) && number != row => {
                let first = first.unwrap_or(number);
                return Err(ReadError::HeaderRowOutOfRange {
                    file: file.to_string(),
                    sheet: Some(sheet.clone()),
                    row,
                    first,
                    last: last_row(last, &mut inbox),
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

    // A declared range that starts right of the header is wrong: the header wins.
    let first_col = header_cells
        .iter()
        .map(|(c, _)| *c)
        .min()
        .map_or(first_col, |c| c.min(first_col));
    let mut headers: Vec<String> = Vec::new();
    for (col, text) in &header_cells {
        let at = (col - first_col) as usize;
        if at >= MAX_COLUMNS {
            continue;
        }
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
        inbox,
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

/// The error for a reading thread that stopped without saying why (it panicked).
fn died() -> XlsxError {
    XlsxError::Io(std::io::Error::other(
        "the sheet's reader stopped unexpectedly",
    ))
}

/// The last sheet row with a value, reading the rest of the sheet (for an error message only).
fn last_row(seen: Option<u64>, inbox: &mut Inbox) -> Option<u64> {
    let mut last = seen;
    while let Ok((index, cells)) = inbox.next() {
        if has_value(&cells) {
            last = Some(u64::from(index) + 1);
        }
    }
    last
}

/// The reading thread: the range's first column, every row with a value in sheet order, then
/// the end or the error that stopped it. Returns early when nobody reads any more.
fn produce(mut workbook: Xlsx<BufReader<File>>, sheet: &str, tx: SyncSender<Msg>) {
    let mut cells = match workbook.worksheet_cells_reader(sheet) {
        Ok(cells) => cells,
        Err(error) => {
            let _ = tx.send(Msg::Failed { row: None, error });
            return;
        }
    };
    if tx.send(Msg::Start(cells.dimensions().start.1)).is_err() {
        return;
    }
    let mut row: Option<SheetRow> = None;
    let mut batch: Vec<SheetRow> = Vec::with_capacity(BATCH);
    loop {
        match cells.next_cell() {
            Ok(Some(cell)) => {
                let (index, col) = cell.get_position();
                // Styled but empty cells are not values. Strings are copied once, straight
                // from the cell (a clone of the whole value first cost a second copy).
                let text = match cell.get_value() {
                    DataRef::Empty => continue,
                    DataRef::String(s) => s.clone(),
                    DataRef::SharedString(s) => (*s).to_string(),
                    other => into_text(Data::from(other.clone())),
                };
                match &mut row {
                    Some((current, cells)) if *current == index => cells.push((col, text)),
                    _ => {
                        if let Some(done) = row.replace((index, vec![(col, text)])) {
                            batch.push(done);
                            if batch.len() == BATCH
                                && tx
                                    .send(Msg::Rows(std::mem::replace(
                                        &mut batch,
                                        Vec::with_capacity(BATCH),
                                    )))
                                    .is_err()
                            {
                                return; // the rows were dropped: nobody reads any more
                            }
                        }
                    }
                }
            }
            Ok(None) => {
                batch.extend(row);
                if tx.send(Msg::Rows(batch)).is_ok() {
                    let _ = tx.send(Msg::End);
                }
                return;
            }
            Err(error) => {
                // The row being read may be missing cells: it is not sent as a row.
                let row = row.map(|(index, _)| index);
                if tx.send(Msg::Rows(batch)).is_ok() {
                    let _ = tx.send(Msg::Failed { row, error });
                }
                return;
            }
        }
    }
}

/// The data rows after the header, as the reading thread sends them.
struct StreamRows {
    inbox: Inbox,
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

    /// The last item when the sheet cannot be read on: a rejection naming the first row not
    /// wholly read, so that nothing is dropped silently.
    fn failed(&mut self, row: Option<u32>, error: &XlsxError) -> Rejection {
        self.done = true;
        self.blanks.data();
        let index = row.unwrap_or(self.last.saturating_add(1));
        let message = format!(
            "the sheet could not be read from this row on ({error}); the rows after it were \
             not imported. The file may be truncated or corrupt: open it in Excel or \
             LibreOffice, save it again and import it again"
        );
        reject_row(self.row(index, Vec::new()), String::new(), message)
    }
}

impl Iterator for StreamRows {
    type Item = Result<Row, Rejection>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (index, sparse) = match self.inbox.next() {
                Ok(row) => row,
                // The sheet ended: blank rows still pending are its tail, not counted.
                Err(Stop::End) => {
                    self.done = true;
                    return None;
                }
                Err(Stop::Failed { row, error }) => return Some(Err(self.failed(row, &error))),
                Err(Stop::Died) => return Some(Err(self.failed(None, &died()))),
            };
            if index > self.last {
                for _ in self.last + 1..index {
                    self.blanks.blank();
                }
            }
            self.last = index;

            let width = self.headers.len();
            let mut cells = vec![String::new(); width];
            // A value left of the table (only if the file's declared range is wrong) or past
            // Excel's last column (a malformed file): refused, not placed.
            let mut stray: Option<(u32, String)> = None;
            for (col, text) in sparse {
                match col.checked_sub(self.first_col).map(|c| c as usize) {
                    Some(at) if at < MAX_COLUMNS => {
                        if at >= cells.len() {
                            cells.resize(at + 1, String::new());
                        }
                        cells[at] = text;
                    }
                    _ if stray.is_none() && !text.trim().is_empty() => stray = Some((col, text)),
                    _ => {}
                }
            }
            if stray.is_none() && is_blank(&cells) {
                self.blanks.blank();
                continue;
            }
            self.blanks.data();
            let extra = fit_to_header(&mut cells, width)
                .map(|(j, value)| (self.first_col as usize + j, value));
            let row = self.row(index, cells);
            let (value, message) = match (stray, extra) {
                (None, None) => return Some(Ok(row)),
                (Some((col, value)), _) => (
                    value,
                    format!(
                        "has a value in column {}, outside the table's columns (the sheet \
                         declares its range from column {}): the file may be corrupt; open it \
                         in Excel or LibreOffice and save it again",
                        column_name(col as usize),
                        column_name(self.first_col as usize),
                    ),
                ),
                (None, Some((col, value))) => (
                    value,
                    format!(
                        "has a value in column {} beyond the last header column {} ({:?}): \
                         give that column a header or clear the cell",
                        column_name(col),
                        column_name(self.first_col as usize + width.saturating_sub(1)),
                        self.headers.last().map_or("", String::as_str),
                    ),
                ),
            };
            return Some(Err(reject_row(row, value, message)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use rust_xlsxwriter::Workbook;

    use super::super::{ReadOptions, open};

    /// pandas' `df.to_excel()`: the index in column A under an empty A1. The table starts at
    /// the sheet's range, so the index is a column with an empty header, as when the sheet
    /// was loaded whole, and every row is read.
    #[test]
    fn an_index_column_under_an_empty_header_is_a_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        s.write_string(0, 1, "Nome").unwrap();
        s.write_string(0, 2, "Fone").unwrap();
        for r in 1..3 {
            s.write_number(r, 0, f64::from(r - 1)).unwrap();
            s.write_string(r, 1, format!("Pessoa {r}")).unwrap();
        }
        let path = dir.path().join("pandas.xlsx");
        wb.save(&path).unwrap();
        let src = open(&path, &ReadOptions::default()).unwrap();
        assert_eq!(src.headers, ["", "Nome", "Fone"]);
        let rows: Vec<_> = src.rows.collect();
        assert_eq!(rows.len(), 2);
        let row = rows[1].as_ref().unwrap();
        assert_eq!(row.cells.to_vec(), ["1", "Pessoa 2", ""]);
        assert_eq!(row.provenance.row, 3);
    }

    /// A sheet whose zip entry says it is shorter than it is: the rows before the cut are
    /// read, then one last rejection says the rest could not be (nothing dropped silently).
    #[test]
    fn a_sheet_cut_short_ends_in_a_rejection_naming_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let s = wb.add_worksheet();
        s.write_string(0, 0, "Nome").unwrap();
        s.write_string(0, 1, "Fone").unwrap();
        s.write_string(0, 2, "Email").unwrap();
        for r in 1..5000 {
            s.write_string(r, 0, format!("Pessoa {r}")).unwrap();
            s.write_string(r, 1, format!("+55 11 9{r:04}-0000"))
                .unwrap();
            s.write_string(r, 2, format!("p{r}@x.test")).unwrap();
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
        // Every row read is whole: a row the cut went through is not one of them.
        assert!(read.iter().all(|r| {
            r.as_ref()
                .is_ok_and(|r| r.cells.iter().all(|c| !c.is_empty()))
        }));
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
