//! The CSV/TSV/TXT reader: bytes in any common encoding → UTF-8 records → [`Row`]s.
//!
//! Opening reads a sample (the first 64 KiB) to choose the encoding and the delimiter, then
//! rewinds and streams the whole file through a decoder (encoding_rs_io) into the csv crate.
//! Memory stays flat whatever the file size: the sample, the decoder's and csv's 8 KiB
//! buffers, and the record being read (a record is as large as its largest quoted field).
//!
//! - Encoding: a byte-order mark wins (it cannot be wrong); then `--encoding` if given; then
//!   UTF-8 if the sample is valid UTF-8; otherwise chardetng's guess, which is windows-1252 for
//!   the Latin-1 files that Excel saves as "CSV" on Brazilian Windows. Undecodable bytes become
//!   U+FFFD rather than errors, so one bad byte costs one character, not the run. When the
//!   sample is valid UTF-8 but the file goes on, the rest is scanned once (streaming, flat
//!   memory) before it is trusted: a Latin-1 file whose first 64 KiB happen to be plain ASCII
//!   is still recognised by its first accented line. A guessed legacy encoding is applied line
//!   by line, keeping the lines that are valid UTF-8 as they are ([`super::decode`]): files
//!   that mix the two are common, and decoded whole they would reach Krayin as mojibake.
//! - Delimiter: see [`sniff_delimiter`]; `--delimiter` overrides it.
//! - Rows: a record with a different cell count from the header is a [`Rejection`] (usually an
//!   unquoted delimiter or a missing quote), not an error; blank records are skipped and
//!   counted. Cells are passed on untouched: trimming and meaning are the mapping's job.
//!
//! It stops at rows: it never looks at what a cell means.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use ::csv::{ErrorKind, Reader, ReaderBuilder, StringRecord};
use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8};
use encoding_rs_io::DecodeReaderBytesBuilder;

use super::decode::{ByLine, Decoder};
use super::{
    BlankTally, Format, ReadError, ReadOptions, Source, clean_header, is_blank, reject_row,
    truncate_for_report,
};
use crate::record::{Cells, Provenance, Rejection, Row};

/// How much of the file decides the encoding and the delimiter: enough for hundreds of lines
/// of a typical lead sheet, small enough to read twice at no noticeable cost.
const SAMPLE_BYTES: usize = 64 * 1024;

/// Lines the delimiter sniffer looks at: a header and enough rows to outvote a few odd ones.
const SNIFF_LINES: usize = 20;

/// Delimiters tried, in the order that breaks ties: `,` is the CSV default, `;` is what Excel
/// writes where the decimal separator is a comma (Brazil), then tab (TSV) and pipe.
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// The stack of readers under csv: file → decoder (to UTF-8) → line tracker.
type Input = LineTracker<Decoder<File>>;

pub(super) fn open(path: &Path, file: Arc<str>, opts: &ReadOptions) -> Result<Source, ReadError> {
    let io_err = |source: io::Error| ReadError::Io {
        file: file.to_string(),
        source,
    };
    // Checked before touching the file so that a typo is reported as a typo.
    let forced = match &opts.encoding {
        Some(label) => Some(
            Encoding::for_label_no_replacement(label.trim().as_bytes()).ok_or_else(|| {
                ReadError::UnknownEncoding {
                    file: file.to_string(),
                    label: label.clone(),
                }
            })?,
        ),
        None => None,
    };

    let mut handle = File::open(path).map_err(io_err)?;
    let (sample, complete) = read_sample(&mut handle).map_err(io_err)?;
    let (encoding, bom_len, guessed) = match Encoding::for_bom(&sample) {
        Some((encoding, bom_len)) => (encoding, bom_len, false),
        None => match forced {
            Some(f) => (f, 0, false),
            None => {
                let mut guess = detect_encoding(&sample, complete);
                if guess == UTF_8 && !complete {
                    // The sample is UTF-8 but may be ASCII by chance: check the rest.
                    guess = confirm_utf8(&mut handle).map_err(io_err)?;
                }
                (guess, 0, true)
            }
        },
    };
    handle.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let delimiter = match opts.delimiter {
        Some(delimiter) => delimiter,
        None => {
            let (text, _) = encoding.decode_without_bom_handling(&sample[bom_len..]);
            // One column: any delimiter reads it the same, so take the standard one.
            sniff_delimiter(&text, complete).unwrap_or(b',')
        }
    };
    drop(sample);

    // A guessed legacy encoding may hold UTF-8 lines too (see `decode`): line by line then.
    let decoded = if guessed && encoding.is_single_byte() {
        Decoder::ByLine(ByLine::new(handle, encoding, file.clone()))
    } else {
        Decoder::Whole(
            DecodeReaderBytesBuilder::new()
                .encoding(Some(encoding))
                .bom_override(true)
                .strip_bom(true)
                .build(handle),
        )
    };
    let mut reader = ReaderBuilder::new()
        // The header is found by hand below: `header_row` may put it after other records.
        .has_headers(false)
        // Ragged records must reach us to become rejections, not errors that stop the run.
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(LineTracker::new(decoded));

    let headers = read_header(&mut reader, &file, opts.header_row)?;
    let width = headers.len();
    let blanks = BlankTally::default();
    let blank_rows = blanks.counter.clone();
    let rows = CsvRows {
        reader,
        record: StringRecord::new(),
        file,
        width,
        delimiter,
        blanks,
        done: false,
    };
    Ok(Source {
        headers,
        format: Format::Csv,
        sheet: None,
        encoding: Some(encoding.name()),
        delimiter: Some(delimiter),
        rows: Box::new(rows),
        blank_rows,
    })
}

/// Reads up to [`SAMPLE_BYTES`]; `true` when that is the whole file.
fn read_sample(file: &mut File) -> io::Result<(Vec<u8>, bool)> {
    let mut sample = Vec::with_capacity(SAMPLE_BYTES + 1);
    // One byte more than the sample tells whether the file goes on.
    file.by_ref()
        .take(SAMPLE_BYTES as u64 + 1)
        .read_to_end(&mut sample)?;
    let complete = sample.len() <= SAMPLE_BYTES;
    sample.truncate(SAMPLE_BYTES);
    Ok((sample, complete))
}

/// The encoding of a file without byte-order mark.
fn detect_encoding(sample: &[u8], complete: bool) -> &'static Encoding {
    match std::str::from_utf8(sample) {
        Ok(_) => return UTF_8,
        // The sample may end in the middle of a character; that is still UTF-8.
        Err(e) if e.error_len().is_none() && !complete => return UTF_8,
        Err(_) => {}
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(sample, complete);
    detector.guess(None, Utf8Detection::Allow)
}

/// Reads the rest of the file (after the sample) and returns UTF-8 if it is all valid UTF-8,
/// else chardetng's guess from the first chunk that is not.
fn confirm_utf8(file: &mut File) -> io::Result<&'static Encoding> {
    let mut buf = vec![0u8; SAMPLE_BYTES];
    // Bytes of a character cut by the end of the previous chunk.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(UTF_8);
        }
        let mut chunk = std::mem::take(&mut carry);
        chunk.extend_from_slice(&buf[..n]);
        match std::str::from_utf8(&chunk) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => carry = chunk[e.valid_up_to()..].to_vec(),
            Err(_) => {
                let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
                detector.feed(&chunk, false);
                return Ok(detector.guess(None, Utf8Detection::Allow));
            }
        }
    }
}

/// Skips to the header record and returns its cells, cleaned.
fn read_header(
    reader: &mut Reader<Input>,
    file: &str,
    header_row: Option<u64>,
) -> Result<Vec<String>, ReadError> {
    if header_row == Some(0) {
        return Err(ReadError::HeaderRowOutOfRange {
            file: file.to_string(),
            sheet: None,
            row: 0,
            first: 1,
            last: None,
        });
    }
    let mut record = StringRecord::new();
    let mut records = 0u64;
    loop {
        let more = reader.read_record(&mut record).map_err(|e| {
            let source = match e.into_kind() {
                ErrorKind::Io(e) => e,
                // Decoding has already replaced invalid bytes, so this is not expected; keep
                // the csv error as the cause all the same.
                other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
            };
            ReadError::Io {
                file: file.to_string(),
                source,
            }
        })?;
        if !more {
            return Err(match header_row {
                Some(row) if records > 0 => ReadError::HeaderRowOutOfRange {
                    file: file.to_string(),
                    sheet: None,
                    row,
                    first: 1,
                    last: Some(records),
                },
                _ => ReadError::Empty {
                    file: file.to_string(),
                    sheet: None,
                },
            });
        }
        records += 1;
        // Keeps the line tracker in step even for the records skipped here.
        let start = record.position().map_or(0, |p| p.byte());
        reader.get_mut().line_of(start);
        let blank = is_blank(record.iter());
        match header_row {
            Some(row) if records < row => continue,
            Some(row) if blank => {
                return Err(ReadError::BlankHeader {
                    file: file.to_string(),
                    sheet: None,
                    row,
                });
            }
            None if blank => continue,
            _ => return Ok(record.iter().map(clean_header).collect()),
        }
    }
}

/// Chooses the delimiter of a CSV text from its first [`SNIFF_LINES`] non-empty lines, or
/// `None` when no candidate appears (a one-column file).
///
/// Each candidate splits the text into records and fields as csv would with it (a quote opens
/// a quoted field only at the start of a field; delimiters and newlines inside quotes do not
/// count). The winner is the candidate whose per-line count is the same non-zero value on the
/// largest share of lines; ties go to more such lines, then to the higher count, then to the
/// order of [`CANDIDATES`]. With `complete == false` the text is a prefix of the file and its
/// last, possibly cut, line is ignored.
pub(super) fn sniff_delimiter(text: &str, complete: bool) -> Option<u8> {
    struct Score {
        /// Lines where the candidate appears `count` times.
        lines: usize,
        /// Non-empty lines as the candidate splits them.
        total: usize,
        count: usize,
    }
    impl Score {
        fn beats(&self, other: &Score) -> bool {
            // Shares compared without division: lines/total vs other.lines/other.total.
            let (mine, theirs) = (self.lines * other.total, other.lines * self.total);
            if mine != theirs {
                return mine > theirs;
            }
            (self.lines, self.count) > (other.lines, other.count)
        }
    }

    let mut best: Option<(Score, u8)> = None;
    for delimiter in CANDIDATES {
        let counts = delimiters_per_line(text, delimiter, complete);
        let mut tally: BTreeMap<usize, usize> = BTreeMap::new();
        for &count in counts.iter().filter(|&&c| c > 0) {
            *tally.entry(count).or_default() += 1;
        }
        let Some((&count, &lines)) = tally.iter().max_by_key(|&(count, lines)| (lines, count))
        else {
            continue;
        };
        let score = Score {
            lines,
            total: counts.len(),
            count,
        };
        // Strictly better only: on a full tie the earlier candidate stays.
        if best.as_ref().is_none_or(|(b, _)| score.beats(b)) {
            best = Some((score, delimiter));
        }
    }
    best.map(|(_, delimiter)| delimiter)
}

/// How many times `delimiter` occurs outside quotes on each of the first non-empty lines.
fn delimiters_per_line(text: &str, delimiter: u8, complete: bool) -> Vec<usize> {
    let delimiter = char::from(delimiter);
    let mut counts = Vec::new();
    let (mut count, mut in_quotes, mut field_start, mut content) = (0, false, true, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                // `""` is an escaped quote; a lone one closes the field.
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    in_quotes = false;
                }
            }
            continue;
        }
        match c {
            // csv ends records on CR, LF or CRLF; the empty "line" between CR and LF is skipped
            // like any empty line.
            '\n' | '\r' => {
                if content {
                    counts.push(count);
                    if counts.len() == SNIFF_LINES {
                        return counts;
                    }
                }
                (count, field_start, content) = (0, true, false);
            }
            '"' if field_start => (in_quotes, field_start, content) = (true, false, true),
            c if c == delimiter => (count, field_start, content) = (count + 1, true, true),
            // A line of spaces is as good as empty; a quote after a space is literal in csv.
            ' ' => field_start = false,
            _ => (field_start, content) = (false, true),
        }
    }
    if complete && content {
        counts.push(count);
    }
    counts
}

/// Numbers the lines of the decoded stream so each record gets the line it starts on.
///
/// csv's own `Position::line()` is taken before the reader skips what precedes a record (the
/// `\n` of a CRLF, empty lines), so on CRLF files it points one line early. This wrapper sits
/// under csv, notes where each line's content starts (byte offset → line number), and
/// [`line_of`](Self::line_of) maps a record's start offset to the first content at or after
/// it. Entries are dropped as records are read, so it holds at most the lines of the record
/// being read plus csv's read-ahead buffer.
///
/// A line ends at LF, CRLF or a lone CR (the "CSV (Macintosh)" files of Excel for Mac), as csv
/// reads them: a CR counts at once, and an LF right after it is the same line end.
struct LineTracker<R> {
    inner: R,
    /// Bytes passed through so far.
    offset: u64,
    /// Line ends passed through so far.
    newlines: u64,
    /// The next byte that is not CR or LF starts a line's content.
    at_line_start: bool,
    /// The last byte was a CR: an LF now ends no further line.
    after_cr: bool,
    /// (offset, 1-based line) of each line's first content byte not yet claimed by a record.
    starts: VecDeque<(u64, u64)>,
}

impl<R> LineTracker<R> {
    fn new(inner: R) -> LineTracker<R> {
        LineTracker {
            inner,
            offset: 0,
            newlines: 0,
            at_line_start: true,
            after_cr: false,
            starts: VecDeque::new(),
        }
    }

    /// Notes the line starts in `data`, the next bytes of the stream: between line ends it
    /// jumps to the next CR or LF (memchr) instead of looking at each byte.
    fn track(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.at_line_start {
                match data[i] {
                    b'\n' => {
                        self.newlines += u64::from(!self.after_cr);
                        self.after_cr = false;
                    }
                    b'\r' => {
                        self.newlines += 1;
                        self.after_cr = true;
                    }
                    _ => {
                        self.starts
                            .push_back((self.offset + i as u64, self.newlines + 1));
                        self.at_line_start = false;
                        self.after_cr = false;
                    }
                }
                if self.at_line_start {
                    i += 1;
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', &data[i..]) {
                Some(j) => {
                    // After content: this CR or LF ends the line.
                    self.newlines += 1;
                    self.after_cr = data[i + j] == b'\r';
                    self.at_line_start = true;
                    i += j + 1;
                }
                None => break,
            }
        }
        self.offset += data.len() as u64;
    }

    /// The line of the record whose parsing began at byte `start`. Calls must come in
    /// increasing order of `start`, as records are read.
    fn line_of(&mut self, start: u64) -> u64 {
        while self
            .starts
            .front()
            .is_some_and(|&(offset, _)| offset < start)
        {
            self.starts.pop_front();
        }
        match self.starts.front() {
            Some(&(_, line)) => line,
            // Nothing read past `start` (only after an I/O error): the line being read.
            None => self.newlines + 1,
        }
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.track(&buf[..n]);
        Ok(n)
    }
}

/// The data rows after the header, read one record at a time.
struct CsvRows {
    reader: Reader<Input>,
    /// Reused between records to avoid an allocation per row.
    record: StringRecord,
    file: Arc<str>,
    width: usize,
    delimiter: u8,
    blanks: BlankTally,
    done: bool,
}

impl CsvRows {
    fn row(&self, line: u64, cells: Cells) -> Row {
        Row {
            provenance: Provenance {
                file: self.file.clone(),
                sheet: None,
                row: line,
            },
            cells,
        }
    }

    fn ragged(&self, row: Row) -> Rejection {
        let raw = row.cells.join(&char::from(self.delimiter).to_string());
        let message = format!(
            "has {} cells where the header has {}: check for an unquoted delimiter or a \
             missing quote on this line",
            row.cells.len(),
            self.width
        );
        reject_row(row, truncate_for_report(&raw), message)
    }
}

impl Iterator for CsvRows {
    type Item = Result<Row, Rejection>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let result = self.reader.read_record(&mut self.record);
            let start = self.record.position().map_or(0, |p| p.byte());
            let line = self.reader.get_mut().line_of(start);
            match result {
                // Blank rows still pending here are the file's blank tail: not counted.
                Ok(false) => self.done = true,
                Ok(true) if is_blank(self.record.iter()) => self.blanks.blank(),
                Ok(true) => {
                    self.blanks.data();
                    let row = self.row(line, Cells::from_record(&self.record));
                    if row.cells.len() != self.width {
                        return Some(Err(self.ragged(row)));
                    }
                    return Some(Ok(row));
                }
                Err(err) => {
                    self.blanks.data();
                    // Invalid UTF-8 spoils one record and csv can go on; anything else (I/O)
                    // leaves the rest of the file unreadable, so this is the last item.
                    let message = if let ErrorKind::Utf8 { .. } = err.kind() {
                        format!("cannot be decoded: {err}; check the file's encoding")
                    } else {
                        self.done = true;
                        format!(
                            "the file could not be read from this line on ({err}); the rows \
                             after it were not imported. Check the file and import it again"
                        )
                    };
                    return Some(Err(reject_row(
                        self.row(line, Cells::new()),
                        String::new(),
                        message,
                    )));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use proptest::prelude::*;

    use super::super::{ReadError, ReadOptions, Source, open};
    use super::*;
    use crate::record::Stage;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn read_bytes(bytes: &[u8], opts: &ReadOptions) -> Result<Source, ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "leads.csv", bytes);
        // The file is fully opened (and the sample read) before the tempdir goes; the stream
        // keeps its open handle, which outlives the directory entry on Unix.
        open(&path, opts)
    }

    /// Every row as (line, cells), rejections as (line, "REJECTED: message").
    fn drain(source: &mut Source) -> Vec<(u64, Vec<String>)> {
        source
            .rows
            .by_ref()
            .map(|r| match r {
                Ok(row) => (row.provenance.row, row.cells.to_vec()),
                Err(rej) => (
                    rej.provenance.row,
                    vec![format!("REJECTED: {}", rej.summary())],
                ),
            })
            .collect()
    }

    fn cells(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn sniffs_the_common_delimiters() {
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n", true), Some(b','));
        assert_eq!(sniff_delimiter("a;b;c\n1,5;2;3\n", true), Some(b';'));
        assert_eq!(sniff_delimiter("a\tb\n1\t2\n", true), Some(b'\t'));
        assert_eq!(sniff_delimiter("a|b\n1|2\n", true), Some(b'|'));
        assert_eq!(sniff_delimiter("nome\njoão\n", true), None);
        assert_eq!(sniff_delimiter("", true), None);
    }

    #[test]
    fn sniffer_ignores_delimiters_inside_quotes() {
        // Commas are more numerous, but only inside quoted fields.
        let text = "nome;obs\n\"Silva, João\";\"a, b, c\"\n\"x, y\";\"z,\nw\"\n";
        assert_eq!(sniff_delimiter(text, true), Some(b';'));
    }

    #[test]
    fn sniffer_prefers_the_consistent_count() {
        // ';' is 2 on every line; ',' is 1 then 3 then 0.
        let text = "a;b;c\n1,5;2;3\n1,5;2,5;3,5\nx;y;z\n";
        assert_eq!(sniff_delimiter(text, true), Some(b';'));
        // Equal consistency: the higher count wins over the candidate order.
        assert_eq!(sniff_delimiter("a,b;c;d\n1,2;3;4\n", true), Some(b';'));
        // Full tie: candidate order.
        assert_eq!(sniff_delimiter("a,b;c\n1,2;3\n", true), Some(b','));
    }

    #[test]
    fn sniffer_drops_the_cut_last_line_of_a_sample() {
        let text = "a;b\n1;2\n3,4,5,6,7";
        assert_eq!(delimiters_per_line(text, b',', false), vec![0, 0]);
        assert_eq!(delimiters_per_line(text, b',', true), vec![0, 0, 4]);
        assert_eq!(sniff_delimiter(text, false), Some(b';'));
    }

    #[test]
    fn sniffer_looks_at_the_first_lines_only() {
        let mut text = "a;b\n".repeat(SNIFF_LINES);
        text.push_str(&"a,b,c\n".repeat(100));
        assert_eq!(sniff_delimiter(&text, true), Some(b';'));
    }

    #[test]
    fn utf8_with_bom_is_stripped_from_the_first_header() {
        let mut src =
            read_bytes(b"\xEF\xBB\xBFNome,Fone\nAna,1\n", &ReadOptions::default()).unwrap();
        assert_eq!(src.headers, cells(&["Nome", "Fone"]));
        assert_eq!(src.encoding, Some("UTF-8"));
        assert_eq!(drain(&mut src), vec![(2, cells(&["Ana", "1"]))]);
    }

    #[test]
    fn utf16le_with_bom_is_decoded() {
        let text = "Nome\tObservações\r\nJoão\tçã\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut src = read_bytes(&bytes, &ReadOptions::default()).unwrap();
        assert_eq!(src.encoding, Some("UTF-16LE"));
        assert_eq!(src.delimiter, Some(b'\t'));
        assert_eq!(src.headers, cells(&["Nome", "Observações"]));
        assert_eq!(drain(&mut src), vec![(2, cells(&["João", "çã"]))]);
    }

    #[test]
    fn windows_1252_is_detected_and_decoded() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("Observações;Fone\nJoão;123\n");
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "the fixture must not be UTF-8"
        );
        let mut src = read_bytes(&bytes, &ReadOptions::default()).unwrap();
        assert_eq!(src.encoding, Some("windows-1252"));
        assert_eq!(src.delimiter, Some(b';'));
        assert_eq!(src.headers, cells(&["Observações", "Fone"]));
        assert_eq!(drain(&mut src), vec![(2, cells(&["João", "123"]))]);
    }

    #[test]
    fn latin1_after_a_long_ascii_start_is_still_detected() {
        let mut text = String::from("Nome;Cidade\n");
        while text.len() < 3 * SAMPLE_BYTES {
            text.push_str("Joao;Sao Paulo\n");
        }
        text.push_str("João;São Paulo\n");
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        let mut source = read_bytes(&bytes, &ReadOptions::default()).unwrap();
        assert_eq!(source.encoding, Some("windows-1252"));
        let rows = drain(&mut source);
        assert_eq!(rows.last().unwrap().1, cells(&["João", "São Paulo"]));
    }

    #[test]
    fn forced_encoding_and_delimiter_override_detection() {
        // Valid UTF-8, read as Latin-1 on purpose: each UTF-8 byte becomes its own character.
        let opts = ReadOptions {
            encoding: Some("iso-8859-1".into()),
            delimiter: Some(b'|'),
            ..ReadOptions::default()
        };
        let mut src = read_bytes("a;b|ç\n1;2|3\n".as_bytes(), &opts).unwrap();
        // WHATWG maps the ISO-8859-1 label to windows-1252.
        assert_eq!(src.encoding, Some("windows-1252"));
        assert_eq!(src.headers, cells(&["a;b", "Ã§"]));
        assert_eq!(drain(&mut src), vec![(2, cells(&["1;2", "3"]))]);
    }

    #[test]
    fn a_bom_wins_over_a_forced_encoding() {
        let opts = ReadOptions {
            encoding: Some("windows-1252".into()),
            ..ReadOptions::default()
        };
        let src = read_bytes("\u{feff}Observações,x\n".as_bytes(), &opts).unwrap();
        assert_eq!(src.encoding, Some("UTF-8"));
        assert_eq!(src.headers, cells(&["Observações", "x"]));
    }

    #[test]
    fn unknown_encoding_label_is_named() {
        let opts = ReadOptions {
            encoding: Some("klingon-8".into()),
            ..ReadOptions::default()
        };
        let err = read_bytes(b"a,b\n", &opts).unwrap_err();
        assert!(
            matches!(err, ReadError::UnknownEncoding { ref label, .. } if label == "klingon-8")
        );
        let msg = err.to_string();
        assert!(
            msg.contains("leads.csv") && msg.contains("\"klingon-8\""),
            "{msg}"
        );
    }

    #[test]
    fn quoted_newlines_and_crlf_keep_row_numbers_right() {
        let text =
            "nome,obs\r\nAna,\"linha 1\r\nlinha 2\"\r\nBia,x\r\n\r\nCai,\"a\nb\nc\"\r\nDan,y\r\n";
        let mut src = read_bytes(text.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(
            drain(&mut src),
            vec![
                (2, cells(&["Ana", "linha 1\r\nlinha 2"])),
                (4, cells(&["Bia", "x"])),
                (6, cells(&["Cai", "a\nb\nc"])),
                (9, cells(&["Dan", "y"])),
            ]
        );
        // An empty line is not a record: nothing to count.
        assert_eq!(src.blank_rows.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn ragged_row_is_a_rejection_at_its_line() {
        let text = "a;b;c\n1;2;3\n1;2;3;4;5\n\n4;5\n7;8;9\n";
        let mut src = read_bytes(text.as_bytes(), &ReadOptions::default()).unwrap();
        let rows: Vec<_> = src.rows.by_ref().collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].as_ref().unwrap().provenance.row, 2);
        let rej = rows[1].as_ref().unwrap_err();
        assert_eq!(rej.stage, Stage::Read);
        assert_eq!(rej.provenance.row, 3);
        assert_eq!(rej.cells, cells(&["1", "2", "3", "4", "5"]));
        assert_eq!(rej.problems[0].field, "row");
        assert_eq!(rej.problems[0].value, "1;2;3;4;5");
        assert!(
            rej.problems[0]
                .message
                .starts_with("has 5 cells where the header has 3: check for an unquoted"),
            "{}",
            rej.problems[0].message
        );
        let rej = rows[2].as_ref().unwrap_err();
        assert_eq!(rej.provenance.row, 5);
        assert!(rej.problems[0].message.starts_with("has 2 cells"));
        assert_eq!(rows[3].as_ref().unwrap().provenance.row, 6);
    }

    #[test]
    fn blank_rows_are_skipped_and_counted_but_not_the_tail() {
        let text = "a,b\n1,2\n,\n  , \t\n3,4\n,\n,\n";
        let mut src = read_bytes(text.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(
            drain(&mut src),
            vec![(2, cells(&["1", "2"])), (5, cells(&["3", "4"]))]
        );
        assert_eq!(src.blank_rows.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn cells_are_not_trimmed() {
        let mut src = read_bytes(b"a,b\n  x , y\n", &ReadOptions::default()).unwrap();
        assert_eq!(drain(&mut src), vec![(2, cells(&["  x ", " y"]))]);
    }

    #[test]
    fn header_row_option_skips_records_before_it() {
        let text = "Relatório de leads\nexportado em 2024-05-01\nnome;fone\nAna;1\n";
        let opts = ReadOptions {
            header_row: Some(3),
            ..ReadOptions::default()
        };
        let mut src = read_bytes(text.as_bytes(), &opts).unwrap();
        assert_eq!(src.headers, cells(&["nome", "fone"]));
        assert_eq!(drain(&mut src), vec![(4, cells(&["Ana", "1"]))]);
    }

    #[test]
    fn header_row_beyond_the_file_or_blank_is_an_error() {
        let opts = |n| ReadOptions {
            header_row: Some(n),
            ..ReadOptions::default()
        };
        let err = read_bytes(b"a,b\n1,2\n", &opts(5)).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::HeaderRowOutOfRange {
                    row: 5,
                    last: Some(2),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("leads.csv: header row 5 is outside the data, which spans rows 1 to 2"),
            "{err}"
        );
        let err = read_bytes(b"a,b\n1,2\n", &opts(0)).unwrap_err();
        assert!(
            matches!(err, ReadError::HeaderRowOutOfRange { row: 0, .. }),
            "{err:?}"
        );
        let err = read_bytes(b"x,y\n,\n1,2\n", &opts(2)).unwrap_err();
        assert!(
            matches!(err, ReadError::BlankHeader { row: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn default_header_is_the_first_non_blank_record() {
        let mut src = read_bytes(b",,\n\nnome,fone\nAna,1\n", &ReadOptions::default()).unwrap();
        assert_eq!(src.headers, cells(&["nome", "fone"]));
        assert_eq!(drain(&mut src), vec![(4, cells(&["Ana", "1"]))]);
    }

    #[test]
    fn empty_inputs_are_empty_errors() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\n\n\r\n", b" , \n,\n"] {
            let err = read_bytes(bytes, &ReadOptions::default()).unwrap_err();
            assert!(matches!(err, ReadError::Empty { .. }), "{bytes:?}: {err:?}");
            assert!(
                err.to_string().contains("leads.csv: no header row"),
                "{err}"
            );
        }
    }

    #[test]
    fn header_only_has_no_rows() {
        let mut src = read_bytes(b"nome;fone;email\n", &ReadOptions::default()).unwrap();
        assert_eq!(src.headers.len(), 3);
        assert!(drain(&mut src).is_empty());
    }

    #[test]
    fn binary_garbage_does_not_panic() {
        // A deterministic pseudo-random byte soup (xorshift), with NULs and stray quotes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        match read_bytes(&bytes, &ReadOptions::default()) {
            Ok(mut src) => {
                let rows = drain(&mut src);
                // Row numbers never go backwards.
                assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0));
            }
            Err(err) => assert!(err.to_string().contains("leads.csv"), "{err}"),
        }
    }

    #[test]
    fn a_one_megabyte_cell_is_read_whole() {
        let big = "x".repeat(1 << 20);
        let text = format!("a,b\n\"{big}\",2\nz,3\n");
        let mut src = read_bytes(text.as_bytes(), &ReadOptions::default()).unwrap();
        let rows = drain(&mut src);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].1[0].len(), 1 << 20);
        assert_eq!(rows[1], (3, cells(&["z", "3"])));
    }

    #[test]
    fn a_ten_thousand_column_row_is_read() {
        let header: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
        let row: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
        let text = format!("{}\n{}\n", header.join(";"), row.join(";"));
        let mut src = read_bytes(text.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(src.delimiter, Some(b';'));
        assert_eq!(src.headers.len(), 10_000);
        let rows = drain(&mut src);
        assert_eq!(rows, vec![(2, row)]);
    }

    #[test]
    fn line_tracker_maps_record_starts_to_lines() {
        let mut tracker = LineTracker::new(&b"h\r\nx\r\n\r\n\ny\n"[..]);
        io::copy(&mut tracker, &mut io::sink()).unwrap();
        assert_eq!(tracker.line_of(0), 1);
        // csv starts the second record at the LF of the first CRLF.
        assert_eq!(tracker.line_of(2), 2);
        assert_eq!(tracker.line_of(4), 5);
        assert_eq!(tracker.line_of(100), 6);
    }

    proptest! {
        /// The memchr scan notes the same line starts as a byte-by-byte one, however the
        /// stream is cut into reads.
        #[test]
        fn line_tracking_matches_a_byte_by_byte_scan(
            data in proptest::collection::vec(proptest::sample::select(vec![b'\r', b'\n', b'a', b',']), 0..200),
            cuts in proptest::collection::vec(1usize..17, 1..40),
        ) {
            // Line ends: LF, CRLF, or a lone CR.
            let (mut newlines, mut at_start, mut starts) = (0u64, true, Vec::new());
            for (i, &b) in data.iter().enumerate() {
                let crlf = b == b'\n' && i > 0 && data[i - 1] == b'\r';
                match b {
                    b'\n' | b'\r' => {
                        newlines += u64::from(!crlf);
                        at_start = true;
                    }
                    _ if at_start => {
                        starts.push((i as u64, newlines + 1));
                        at_start = false;
                    }
                    _ => {}
                }
            }
            let mut t = LineTracker::new(io::empty());
            let mut rest = &data[..];
            for c in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*c).min(rest.len()));
                t.track(now);
                rest = later;
            }
            prop_assert_eq!(t.starts.iter().copied().collect::<Vec<_>>(), starts);
            prop_assert_eq!(t.newlines, newlines);
            prop_assert_eq!(t.offset, data.len() as u64);
        }
    }

    /// Found by the `csv_read` fuzz target: with CR alone as the line end (Excel for Mac's
    /// "CSV (Macintosh)"), every record was reported on line 1.
    #[test]
    fn regression_lone_cr_line_ends_number_the_rows() {
        let mut src = read_bytes(
            b"nome,email\rAna,a@x.test\rBia,b@x.test\r\rCai,c@x.test",
            &ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(
            drain(&mut src),
            vec![
                (2, cells(&["Ana", "a@x.test"])),
                (3, cells(&["Bia", "b@x.test"])),
                (5, cells(&["Cai", "c@x.test"])),
            ]
        );
        // The fuzzer's own input (not UTF-8: decoded as Windows-1252), rows in file order.
        let mut src = read_bytes(
            &[0xef, 0x0d, 0xff, 0xbf, 0x0d, 0xff],
            &ReadOptions::default(),
        )
        .unwrap();
        let lines: Vec<u64> = drain(&mut src).iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3]);
    }

    /// A generated table and how it was written.
    #[derive(Debug, Clone)]
    struct Table {
        delimiter: u8,
        crlf: bool,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    }

    fn table() -> impl Strategy<Value = Table> {
        (
            proptest::sample::select(CANDIDATES.to_vec()),
            any::<bool>(),
            2usize..6,
            1usize..10,
        )
            .prop_flat_map(|(delimiter, crlf, columns, rows)| {
                // Header cells are plain words: a table whose header holds a foreign
                // delimiter unquoted is ambiguous for any sniffer (and for a human).
                let header = proptest::collection::vec("[a-zçãé]{1,8}", columns);
                // Data cells from an alphabet of every troublemaker: all the delimiters,
                // quotes, spaces, CR, LF, accented letters.
                let cell = "[,;\t|\" \r\nab1çã]{0,6}";
                let rows =
                    proptest::collection::vec(proptest::collection::vec(cell, columns), rows);
                (Just(delimiter), Just(crlf), header, rows)
            })
            .prop_map(|(delimiter, crlf, header, rows)| Table {
                delimiter,
                crlf,
                header,
                rows,
            })
    }

    fn write_table(table: &Table) -> Vec<u8> {
        let mut writer = ::csv::WriterBuilder::new()
            .delimiter(table.delimiter)
            .terminator(if table.crlf {
                ::csv::Terminator::CRLF
            } else {
                ::csv::Terminator::Any(b'\n')
            })
            .from_writer(Vec::new());
        writer.write_record(&table.header).unwrap();
        for row in &table.rows {
            writer.write_record(row).unwrap();
        }
        writer.into_inner().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn sniffs_and_round_trips_generated_tables(table in table()) {
            let bytes = write_table(&table);
            let text = std::str::from_utf8(&bytes).unwrap();
            prop_assert_eq!(sniff_delimiter(text, true), Some(table.delimiter));

            let mut src = read_bytes(&bytes, &ReadOptions::default()).unwrap();
            prop_assert_eq!(src.delimiter, Some(table.delimiter));
            prop_assert_eq!(&src.headers, &table.header);

            // Expected: every non-blank row, at the line it starts on; blank rows before the
            // last data row counted.
            let mut expected = Vec::new();
            let mut line = 2u64;
            let mut blanks = 0u64;
            let mut pending = 0u64;
            for row in &table.rows {
                if is_blank(row) {
                    pending += 1;
                } else {
                    blanks += pending;
                    pending = 0;
                    expected.push((line, row.clone()));
                }
                // The writer quotes any field with a newline, so each line end inside a cell
                // (LF, CRLF, a lone CR) is a line of the file; the record's own terminator is
                // one more.
                let ends = |c: &String| {
                    c.matches('\n').count() as u64 + c.matches('\r').count() as u64
                        - c.matches("\r\n").count() as u64
                };
                line += 1 + row.iter().map(ends).sum::<u64>();
            }
            prop_assert_eq!(drain(&mut src), expected);
            prop_assert_eq!(src.blank_rows.load(Ordering::Relaxed), blanks);
        }
    }
}
