//! Writing a frame: CSV, Parquet and JSONL through polars, XLSX through rust_xlsxwriter (typed
//! cells, a frozen header row, an autofilter). Every file is written beside its destination
//! and renamed into place, so a crash or Ctrl-C never leaves a half-written export.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use polars::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format as XlsxFormat, Workbook, Worksheet};

use super::table::{Kind, date_of, datetime_of, kind_of};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Xlsx,
    Parquet,
    Jsonl,
}

impl Format {
    /// From a file name's extension.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "csv" | "txt" => Format::Csv,
            "xlsx" => Format::Xlsx,
            "parquet" | "pq" => Format::Parquet,
            "jsonl" | "ndjson" => Format::Jsonl,
            _ => return None,
        })
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Parquet => "parquet",
            Format::Jsonl => "jsonl",
        }
    }
}

/// Writes `path` through a temporary file in the same folder, renamed into place on success.
pub fn atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = crate::output::temp_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        write(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// One sheet of an XLSX workbook.
pub struct Sheet<'a> {
    pub name: &'a str,
    pub frame: &'a DataFrame,
}

/// Writes `frame` to `path` in `format`. `extra` sheets are added to an XLSX workbook (the
/// summary); other formats ignore them.
pub fn write(
    frame: &DataFrame,
    path: &Path,
    format: Format,
    sheet_name: &str,
    extra: &[Sheet<'_>],
) -> anyhow::Result<()> {
    match format {
        Format::Csv => {
            let mut df = neutralized(frame)?;
            atomically(path, |w| {
                CsvWriter::new(w)
                    .include_header(true)
                    .with_date_format(Some("%Y-%m-%d".into()))
                    .with_datetime_format(Some("%Y-%m-%d %H:%M:%S".into()))
                    .finish(&mut df)?;
                Ok(())
            })
        }
        Format::Parquet => {
            let mut df = frame.clone();
            atomically(path, |w| {
                ParquetWriter::new(w).finish(&mut df)?;
                Ok(())
            })
        }
        Format::Jsonl => {
            let mut df = frame.clone();
            atomically(path, |w| {
                JsonWriter::new(w)
                    .with_json_format(JsonFormat::JsonLines)
                    .finish(&mut df)?;
                Ok(())
            })
        }
        Format::Xlsx => {
            let mut sheets = vec![Sheet {
                name: sheet_name,
                frame,
            }];
            sheets.extend(extra.iter().map(|s| Sheet {
                name: s.name,
                frame: s.frame,
            }));
            let mut book = Workbook::new();
            for s in &sheets {
                let ws = book.add_worksheet();
                ws.set_name(s.name)?;
                xlsx_sheet(ws, s.frame)?;
            }
            let bytes = book.save_to_buffer()?;
            atomically(path, |w| {
                w.write_all(&bytes)?;
                Ok(())
            })
        }
    }
}

/// Text cells a spreadsheet would run as formulas get a leading `'` (CSV only: XLSX cells
/// are typed as text, Parquet and JSONL are not opened by spreadsheets).
fn neutralized(frame: &DataFrame) -> anyhow::Result<DataFrame> {
    let mut columns = Vec::with_capacity(frame.width());
    for c in frame.columns() {
        if c.dtype() == &DataType::String {
            let ca = c.str()?;
            let v: Vec<Option<String>> = ca
                .iter()
                .map(|o| o.map(crate::pipeline::report::neutralize))
                .collect();
            columns.push(Column::new(c.name().clone(), v));
        } else {
            columns.push(c.clone());
        }
    }
    Ok(DataFrame::new(frame.height(), columns)?)
}

/// Excel keeps at most 32,767 characters in a cell.
const XLSX_CELL_MAX: usize = 32_767;
/// Rows of a worksheet, header included.
pub const XLSX_MAX_ROWS: usize = 1_048_576;

/// Excel's calendar runs from 1900 to 9999; Krayin keeps any date MySQL takes (a typo such as
/// `0202-03-04` included). `None` outside Excel's range: the cell is then written as text, so
/// one odd date does not cost the whole export.
fn excel_date(d: jiff::civil::Date) -> Option<ExcelDateTime> {
    let year = u16::try_from(d.year())
        .ok()
        .filter(|y| (1900..=9999).contains(y))?;
    ExcelDateTime::from_ymd(year, d.month() as u8, d.day() as u8).ok()
}

/// Once per column, not once per cell: a column of bad dates must not flood the log.
fn warn_outside_excel(column: &str, cells: usize) {
    if cells > 0 {
        tracing::warn!(
            column,
            cells,
            "dates before 1900 or after 9999 cannot be Excel dates: written as text \
             (YYYY-MM-DD); check them in Krayin"
        );
    }
}

fn xlsx_sheet(ws: &mut Worksheet, frame: &DataFrame) -> anyhow::Result<()> {
    anyhow::ensure!(
        frame.height() < XLSX_MAX_ROWS,
        "{} rows do not fit in an Excel sheet (at most {}): export to CSV or Parquet",
        frame.height(),
        XLSX_MAX_ROWS - 1
    );
    let header = XlsxFormat::new().set_bold();
    let date = XlsxFormat::new().set_num_format("yyyy-mm-dd");
    let datetime = XlsxFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let money = XlsxFormat::new().set_num_format("#,##0.00##");
    for (j, c) in frame.columns().iter().enumerate() {
        let col = j as u16;
        ws.write_string_with_format(0, col, c.name().as_str(), &header)?;
        let kind = kind_of(c.dtype());
        let mut width = c.name().len().max(10);
        match kind {
            Kind::Int => {
                let ca = c.cast(&DataType::Int64)?;
                for (i, v) in ca.i64()?.iter().enumerate() {
                    if let Some(v) = v {
                        ws.write_number(i as u32 + 1, col, v as f64)?;
                    }
                }
            }
            Kind::Float => {
                let ca = c.cast(&DataType::Float64)?;
                for (i, v) in ca.f64()?.iter().enumerate() {
                    if let Some(v) = v {
                        ws.write_number_with_format(i as u32 + 1, col, v, &money)?;
                    }
                }
                width = width.max(14);
            }
            Kind::Bool => {
                for (i, v) in c.bool()?.iter().enumerate() {
                    if let Some(v) = v {
                        ws.write_boolean(i as u32 + 1, col, v)?;
                    }
                }
            }
            Kind::Date => {
                let ca = c.cast(&DataType::Int32)?;
                let mut as_text = 0;
                for (i, v) in ca.i32()?.iter().enumerate() {
                    if let Some(v) = v {
                        let d = date_of(v);
                        match excel_date(d) {
                            Some(x) => {
                                ws.write_datetime_with_format(i as u32 + 1, col, &x, &date)?
                            }
                            None => {
                                as_text += 1;
                                ws.write_string(i as u32 + 1, col, d.to_string())?
                            }
                        };
                    }
                }
                warn_outside_excel(c.name().as_str(), as_text);
                width = width.max(12);
            }
            Kind::DateTime => {
                let ca = c.cast(&DataType::Int64)?;
                let mut as_text = 0;
                for (i, v) in ca.i64()?.iter().enumerate() {
                    if let Some(v) = v {
                        let d = datetime_of(v);
                        let x = excel_date(d.date())
                            .map(|x| {
                                x.and_hms(d.hour() as u16, d.minute() as u8, d.second() as f64)
                            })
                            .transpose()?;
                        match x {
                            Some(x) => {
                                ws.write_datetime_with_format(i as u32 + 1, col, &x, &datetime)?
                            }
                            None => {
                                as_text += 1;
                                let text = d.strftime("%Y-%m-%d %H:%M:%S").to_string();
                                ws.write_string(i as u32 + 1, col, text)?
                            }
                        };
                    }
                }
                warn_outside_excel(c.name().as_str(), as_text);
                width = width.max(19);
            }
            Kind::Str => {
                let ca = c.cast(&DataType::String)?;
                for (i, v) in ca.str()?.iter().enumerate() {
                    if let Some(v) = v {
                        // Excel counts characters; a cut never splits one.
                        let cut = v.char_indices().nth(XLSX_CELL_MAX).map(|(at, _)| at);
                        let v = match cut {
                            Some(at) => {
                                tracing::warn!(
                                    row = i + 1,
                                    column = c.name().as_str(),
                                    chars = v.chars().count(),
                                    "a cell longer than Excel's 32,767 characters was cut; \
                                     export to CSV or Parquet to keep it whole"
                                );
                                &v[..at]
                            }
                            None => v,
                        };
                        width = width.max(v.chars().count().min(50));
                        ws.write_string(i as u32 + 1, col, v)?;
                    }
                }
            }
        }
        ws.set_column_width(col, width as f64 + 2.0)?;
    }
    ws.set_freeze_panes(1, 0)?;
    if frame.width() > 0 {
        ws.autofilter(0, 0, frame.height() as u32, frame.width() as u16 - 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_extension() {
        let f = |p: &str| Format::from_path(Path::new(p));
        assert_eq!(f("a/b.CSV"), Some(Format::Csv));
        assert_eq!(f("b.xlsx"), Some(Format::Xlsx));
        assert_eq!(f("b.pq"), Some(Format::Parquet));
        assert_eq!(f("b.ndjson"), Some(Format::Jsonl));
        assert_eq!(f("b.xls"), None);
        assert_eq!(f("b"), None);
    }

    #[test]
    fn an_over_long_xlsx_cell_is_cut_at_excels_limit_on_a_character_boundary() {
        use calamine::{Data, Reader};
        let long = "é".repeat(XLSX_CELL_MAX + 10);
        let df = DataFrame::new(
            2,
            vec![Column::new(
                "text".into(),
                vec![Some(long.as_str()), Some("short")],
            )],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.xlsx");
        write(&df, &p, Format::Xlsx, "T", &[]).unwrap();
        let mut wb = calamine::open_workbook_auto(&p).unwrap();
        let r = wb.worksheet_range("T").unwrap();
        match r.get((1, 0)) {
            Some(Data::String(s)) => assert_eq!(s.chars().count(), XLSX_CELL_MAX),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.get((2, 0)), Some(&Data::String("short".into())));
    }

    /// A log line sink for one test: what `tracing` wrote while `f` ran.
    fn logs_of(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn regression_a_date_excel_cannot_hold_is_written_as_text_not_a_failed_export() {
        use super::super::table::{days, micros};
        use calamine::{Data, Reader};
        use jiff::civil::{date, datetime};
        // Year 0202 (a typo Krayin keeps) and 10000 never fit Excel's 1900..=9999.
        let dates = [date(202, 3, 4), date(2030, 1, 31), date(202, 5, 6)];
        let times = [
            datetime(202, 3, 4, 10, 30, 0, 0),
            datetime(2025, 5, 1, 8, 0, 0, 0),
            datetime(9999, 12, 31, 23, 0, 0, 0),
        ];
        let df = DataFrame::new(
            3,
            vec![
                Column::new("d".into(), dates.map(days).to_vec())
                    .cast(&DataType::Date)
                    .unwrap(),
                Column::new("t".into(), times.map(micros).to_vec())
                    .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                    .unwrap(),
            ],
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.xlsx");
        let logs = logs_of(|| write(&df, &p, Format::Xlsx, "T", &[]).unwrap());
        let mut wb = calamine::open_workbook_auto(&p).unwrap();
        let r = wb.worksheet_range("T").unwrap();
        assert_eq!(r.get((1, 0)), Some(&Data::String("0202-03-04".into())));
        assert!(matches!(r.get((2, 0)), Some(Data::DateTime(_))));
        assert_eq!(r.get((3, 0)), Some(&Data::String("0202-05-06".into())));
        assert_eq!(
            r.get((1, 1)),
            Some(&Data::String("0202-03-04 10:30:00".into()))
        );
        assert!(matches!(r.get((2, 1)), Some(Data::DateTime(_))));
        assert!(
            matches!(r.get((3, 1)), Some(Data::DateTime(_))),
            "9999 fits"
        );
        // One warning per column, with its count.
        let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
        assert_eq!(warnings.len(), 2, "{logs}");
        assert!(
            warnings[0].contains("column=\"d\"") && warnings[0].contains("cells=2"),
            "{logs}"
        );
        assert!(
            warnings[1].contains("column=\"t\"") && warnings[1].contains("cells=1"),
            "{logs}"
        );
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keep.csv");
        std::fs::write(&p, "old").unwrap();
        let e = atomically(&p, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("disk full"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
