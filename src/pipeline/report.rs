//! Reports: the error report (every rejected row, from every stage) and the counts a run
//! prints.
//!
//! The error report holds, per rejected row: its row number, its original cells under the
//! original header, then the stage, fields, source columns, values and messages (several
//! problems of one row are joined with ` | `, so the row appears once). A user can fix the
//! cells by hand and import the file again with the same mapping: the added columns are
//! ignored, because a mapping names the columns it reads. Rows are written in input order.
//! Refused rows wait on disk ([`Rejections`]), not in memory, until the report is written.
//! CSV cells that a spreadsheet would run as formulas are neutralized with a leading `'`,
//! while a value such as `+5511999999999` is left importable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::record::{Rejection, Stage};

/// Where the error report goes by default: beside the input, `<stem>.errors.csv` (or `.xlsx`
/// when the input was a spreadsheet).
pub fn default_error_path(input: &Path, spreadsheet: bool) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    let ext = if spreadsheet { "xlsx" } else { "csv" };
    input.with_file_name(format!("{stem}.errors.{ext}"))
}

/// The columns added after the original ones.
pub const ADDED: [&str; 5] = [
    "error_stage",
    "error_field",
    "error_column",
    "error_value",
    "error_message",
];
pub const ROW_COLUMN: &str = "source_row";

/// Would a spreadsheet run this cell as a formula? `=`, `@`, tab and CR always; `+` and `-`
/// unless what follows is a number (a phone like `+55 11 99999-0000`, a negative amount).
pub fn neutralize(cell: &str) -> String {
    let dangerous = match cell.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !cell[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '(' | ')' | '-' | '.' | ',')),
        _ => false,
    };
    if dangerous {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// One line of the report.
fn line(r: &Rejection, width: usize) -> (u64, Vec<String>) {
    let join = |f: &dyn Fn(&crate::record::Problem) -> String| {
        r.problems.iter().map(f).collect::<Vec<_>>().join(" | ")
    };
    let mut cells: Vec<String> = Vec::with_capacity(width + 6);
    cells.push(r.provenance.row.to_string());
    let mut original = r.cells.to_vec();
    original.resize(width.max(original.len()), String::new());
    cells.extend(original);
    cells.push(r.stage.to_string());
    cells.push(join(&|p| p.field.clone()));
    cells.push(join(&|p| p.column.clone().unwrap_or_default()));
    cells.push(join(&|p| p.value.clone()));
    cells.push(join(&|p| p.message.clone()));
    (r.provenance.row, cells)
}

fn header(original: &[String], widest: usize) -> Vec<String> {
    let mut h = vec![ROW_COLUMN.to_string()];
    h.extend(original.iter().cloned());
    // A ragged row may be wider than the header: name its extra cells.
    for i in original.len()..widest {
        h.push(format!("extra_{}", i + 1));
    }
    h.extend(ADDED.iter().map(|s| s.to_string()));
    h
}

/// Refused rows, kept on disk as they come: a file where every row is refused (a wrong
/// mapping on a million-row drop) must not hold its rows in memory. Each rejection is one CSV
/// record in an anonymous temporary file. Rows that arrive in row order (all of a `check`, and
/// of an import all but the write failures, which settle out of order) go to one spool that
/// is read back straight through; the others go to a second spool and keep 24 bytes in memory
/// each (row number, offset, length) to be sorted in at the end. Also the counts by reason.
#[derive(Default)]
pub struct Rejections {
    spool: Option<std::fs::File>,
    /// The highest row spooled in order so far.
    last_row: u64,
    late: Option<std::fs::File>,
    late_end: u64,
    late_index: Vec<(u64, u64, u32)>,
    len: usize,
    widest: usize,
    reasons: BTreeMap<(Stage, String), u64>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Rejections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejections")
            .field("len", &self.len)
            .finish()
    }
}

/// An anonymous temporary file, made on first use.
fn spool_file(f: &mut Option<std::fs::File>) -> anyhow::Result<&mut std::fs::File> {
    Ok(match f {
        Some(f) => f,
        None => f.insert(
            tempfile::tempfile().context("cannot create a temporary file for the error report")?,
        ),
    })
}

impl Rejections {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counted by stage and field, for the summary ("rejected by reason").
    pub fn reasons(&self) -> &BTreeMap<(Stage, String), u64> {
        &self.reasons
    }

    pub fn push(&mut self, r: &Rejection) -> anyhow::Result<()> {
        use std::io::Write;
        for p in &r.problems {
            *self.reasons.entry((r.stage, p.field.clone())).or_default() += 1;
        }
        self.widest = self.widest.max(r.cells.len());
        let (row, cells) = line(r, 0);
        self.buf.clear();
        {
            let mut w = csv::Writer::from_writer(&mut self.buf);
            w.write_field(r.cells.len().to_string())?;
            w.write_record(&cells)?;
            w.flush()?;
        }
        let in_order = row >= self.last_row;
        let spool = if in_order {
            self.last_row = row;
            spool_file(&mut self.spool)?
        } else {
            self.late_index
                .push((row, self.late_end, self.buf.len() as u32));
            self.late_end += self.buf.len() as u64;
            spool_file(&mut self.late)?
        };
        spool
            .write_all(&self.buf)
            .context("cannot spool a refused row to a temporary file")?;
        self.len += 1;
        Ok(())
    }

    /// Every rejection, in row order (a row refused several times keeps its arrival order),
    /// each line padded to the widest row: the in-order spool read straight through, the late
    /// rows merged in at their places.
    fn lines(
        &mut self,
    ) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Vec<String>>> + '_>> {
        use std::io::{Read, Seek, SeekFrom};
        // Stable: a row's late rejections keep their arrival order.
        self.late_index.sort_by_key(|(row, _, _)| *row);
        let widest = self.widest;
        let padded = move |rec: csv::StringRecord| -> anyhow::Result<Vec<String>> {
            let original: usize = rec.get(0).unwrap_or("0").parse()?;
            let mut cells: Vec<String> = rec.iter().skip(1).map(str::to_string).collect();
            // [row, original..., added...]: pad the original cells to the widest row.
            let at = 1 + original;
            cells.splice(
                at..at,
                std::iter::repeat_n(String::new(), widest.saturating_sub(original)),
            );
            Ok(cells)
        };
        fn reader<R: std::io::Read>(r: R) -> csv::Reader<R> {
            csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(r)
        }
        let row_of = |rec: &csv::StringRecord| rec.get(1).and_then(|r| r.parse::<u64>().ok());
        let mut main = match self.spool.as_mut() {
            Some(spool) => {
                spool.seek(SeekFrom::Start(0))?;
                Some(reader(std::io::BufReader::new(&*spool)).into_records())
            }
            None => None,
        }
        .into_iter()
        .flatten()
        .peekable();
        let late_file = self.late.as_ref();
        let mut buf = Vec::new();
        let mut late = self.late_index.iter().peekable();
        Ok(Box::new(std::iter::from_fn(move || {
            // A late row goes before the in-order rows above it; on a tie after them (every
            // in-order rejection of a row arrived before any late one of it).
            let take_late = match (late.peek(), main.peek()) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some((row, _, _)), Some(Ok(rec))) => row_of(rec).is_some_and(|m| *row < m),
                (Some(_), Some(Err(_))) => false,
            };
            if !take_late {
                return main.next().map(|rec| padded(rec?));
            }
            let (_, offset, len) = late.next().expect("peeked");
            let mut read = || -> anyhow::Result<Vec<String>> {
                let mut f = late_file.context("the late rejections' spool is missing")?;
                f.seek(SeekFrom::Start(*offset))?;
                buf.resize(*len as usize, 0);
                f.read_exact(&mut buf)?;
                let rec = reader(&buf[..])
                    .records()
                    .next()
                    .context("a spooled rejection is missing")??;
                padded(rec)
            };
            Some(read())
        })))
    }
}

/// Writes the report, sorted by row.
pub fn write_error_report(
    path: &Path,
    headers: &[String],
    rejections: &mut Rejections,
) -> anyhow::Result<()> {
    let widest = rejections.widest.max(headers.len());
    rejections.widest = widest;
    let head = header(headers, widest);
    let is_xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    // Written to a temporary file then renamed: a crash never leaves half a report.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = crate::output::temp_in(dir)
        .with_context(|| format!("cannot write the error report in {}", dir.display()))?;
    if is_xlsx {
        write_xlsx(tmp.path(), &head, rejections.lines()?, SHEET_ROWS)
            .with_context(|| format!("cannot write the error report {}", path.display()))?;
    } else {
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(tmp.as_file()));
        w.write_record(&head)?;
        for cells in rejections.lines()? {
            w.write_record(cells?.iter().map(|c| neutralize(c)))?;
        }
        w.flush()?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Data rows an Excel sheet holds under its header (1,048,576 rows in all).
const SHEET_ROWS: usize = 1_048_575;

/// The XLSX report: sheet "Errors", then "Errors 2", "Errors 3"… every `per_sheet` rows, so
/// that a report longer than Excel's sheets is still whole (only a spreadsheet that is itself
/// malformed can have that many rows).
fn write_xlsx(
    path: &Path,
    head: &[String],
    lines: impl Iterator<Item = anyhow::Result<Vec<String>>>,
    per_sheet: usize,
) -> anyhow::Result<()> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    // ZIP64, so that a sheet past 4 GB of XML (wide rows of long cells) is written rather
    // than failed at the end; Excel and LibreOffice read it, and it costs 20 bytes.
    wb.use_zip_large_file(true);
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let mut lines = lines.peekable();
    for n in 1.. {
        let sheet = wb.add_worksheet_with_constant_memory()?;
        sheet.set_name(if n == 1 {
            "Errors".to_string()
        } else {
            format!("Errors {n}")
        })?;
        for (c, h) in head.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
        }
        for (r, cells) in lines.by_ref().take(per_sheet).enumerate() {
            for (c, v) in cells?.iter().enumerate() {
                // Strings stay strings in XLSX: nothing is run as a formula.
                sheet.write_string((r + 1) as u32, c as u16, v)?;
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        if lines.peek().is_none() {
            break;
        }
    }
    wb.save(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Problem, Provenance, Row};

    fn rej(row: u64, cells: &[&str], problems: Vec<Problem>) -> Rejection {
        Rejection::new(
            &Row {
                provenance: Provenance {
                    file: "in.csv".into(),
                    sheet: None,
                    row,
                },
                cells: cells.iter().map(|s| s.to_string()).collect(),
            },
            Stage::Validate,
            problems,
        )
    }

    #[test]
    fn formulas_are_neutralized_but_phones_survive() {
        assert_eq!(neutralize("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize("+5511999999999"), "+5511999999999");
        assert_eq!(neutralize("+55 (11) 99999-9999"), "+55 (11) 99999-9999");
        assert_eq!(neutralize("-15,00"), "-15,00");
        assert_eq!(neutralize("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(neutralize("plain"), "plain");
    }

    /// Golden file: the exact CSV a user gets.
    #[test]
    fn csv_report_golden() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leads.errors.csv");
        let headers = vec!["name".to_string(), "email".to_string()];
        let rs = vec![
            rej(
                7,
                &["=cmd", "bad"],
                vec![
                    Problem::new(
                        "person.emails",
                        "bad",
                        "\"bad\" is not a valid e-mail address",
                    )
                    .with_column(Some("email")),
                    Problem::new("lead.title", "", "the lead has no title"),
                ],
            ),
            rej(
                3,
                &["Ann", "ann@x.test", "extra"],
                vec![Problem::new(
                    "row",
                    "Ann,ann@x.test,extra",
                    "has 3 cells where the header has 2",
                )],
            ),
        ];
        let mut log = Rejections::default();
        for r in &rs {
            log.push(r).unwrap();
        }
        write_error_report(&path, &headers, &mut log).unwrap();
        let got = std::fs::read_to_string(&path).unwrap();
        let want = "\
source_row,name,email,extra_3,error_stage,error_field,error_column,error_value,error_message
3,Ann,ann@x.test,extra,validate,row,,\"Ann,ann@x.test,extra\",has 3 cells where the header has 2
7,'=cmd,bad,,validate,person.emails | lead.title,email | ,bad | ,\"\"\"bad\"\" is not a valid e-mail address | the lead has no title\"
";
        assert_eq!(got, want);
    }

    #[test]
    fn spooled_rejections_come_back_sorted_padded_and_counted() {
        let mut log = Rejections::default();
        let p = |f: &str| vec![Problem::new(f, "v", "m")];
        for (row, cells, field) in [
            (5, &["a"][..], "x"),
            (2, &["b", "c", "d"][..], "y"),
            (9, &[][..], "x"),
            (2, &["e"][..], "z"),
        ] {
            log.push(&rej(row, cells, p(field))).unwrap();
        }
        assert_eq!(log.len(), 4);
        let got: Vec<Vec<String>> = log.lines().unwrap().map(|l| l.unwrap()).collect();
        let firsts: Vec<(&str, &str)> =
            got.iter().map(|l| (l[0].as_str(), l[1].as_str())).collect();
        assert_eq!(firsts, [("2", "b"), ("2", "e"), ("5", "a"), ("9", "")]);
        assert!(
            got.iter().all(|l| l.len() == 1 + 3 + ADDED.len()),
            "{got:?}"
        );
        assert_eq!(
            got[1][1..4],
            ["e".to_string(), String::new(), String::new()]
        );
        assert_eq!(log.reasons()[&(Stage::Validate, "x".to_string())], 2);
        // In arrival order, the spool is read straight through, with the same lines, and
        // nothing is kept in memory per row.
        let mut sorted = Rejections::default();
        for l in [(2, "b"), (5, "a"), (5, "c")] {
            sorted.push(&rej(l.0, &[l.1], p("x"))).unwrap();
        }
        assert!(sorted.late_index.is_empty() && sorted.late.is_none());
        let got: Vec<Vec<String>> = sorted.lines().unwrap().map(|l| l.unwrap()).collect();
        let firsts: Vec<(&str, &str)> =
            got.iter().map(|l| (l[0].as_str(), l[1].as_str())).collect();
        assert_eq!(firsts, [("2", "b"), ("5", "a"), ("5", "c")]);
    }

    proptest::proptest! {
        /// Whatever the arrival order, the report is the rejections stably sorted by row.
        #[test]
        fn rejections_come_back_stably_sorted_by_row(rows in proptest::collection::vec(1u64..12, 0..40)) {
            let mut log = Rejections::default();
            for (i, row) in rows.iter().enumerate() {
                log.push(&rej(*row, &[&i.to_string()], vec![Problem::new("f", "v", "m")])).unwrap();
            }
            let mut want: Vec<(u64, usize)> = rows.iter().copied().zip(0..).collect();
            want.sort_by_key(|(row, _)| *row);
            let got: Vec<(u64, usize)> = log
                .lines()
                .unwrap()
                .map(|l| {
                    let l = l.unwrap();
                    (l[0].parse().unwrap(), l[1].parse().unwrap())
                })
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn xlsx_report_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leads.errors.xlsx");
        let mut log = Rejections::default();
        log.push(&rej(2, &["=1+1"], vec![Problem::new("x", "y", "z")]))
            .unwrap();
        write_error_report(&path, &["a".into()], &mut log).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..2], b"PK", "a zip container");
    }

    #[test]
    fn an_xlsx_report_longer_than_a_sheet_goes_on_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.errors.xlsx");
        let lines = (1..=5).map(|i| Ok(vec![i.to_string(), format!("row {i}")]));
        write_xlsx(&path, &["row".into(), "why".into()], lines, 2).unwrap();
        use calamine::Reader as _;
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
        assert_eq!(wb.sheet_names(), ["Errors", "Errors 2", "Errors 3"]);
        let rows = |wb: &mut calamine::Xlsx<_>, name: &str| -> Vec<String> {
            let range = wb.worksheet_range(name).unwrap();
            range.rows().map(|r| r[0].to_string()).collect()
        };
        assert_eq!(rows(&mut wb, "Errors"), ["row", "1", "2"]);
        assert_eq!(rows(&mut wb, "Errors 3"), ["row", "5"]);
    }

    #[test]
    fn default_paths() {
        assert_eq!(
            default_error_path(Path::new("/d/leads.csv"), false),
            Path::new("/d/leads.errors.csv")
        );
        assert_eq!(
            default_error_path(Path::new("in.xlsx"), true),
            Path::new("in.errors.xlsx")
        );
    }
}
