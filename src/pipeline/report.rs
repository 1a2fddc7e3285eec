//! Reports: the error report (every rejected row, from every stage) and the counts a run
//! prints.
//!
//! The error report holds, per rejected row: its row number, its original cells under the
//! original header, then the stage, fields, source columns, values and messages (several
//! problems of one row are joined with ` | `, so the row appears once). A user can fix the
//! cells by hand and import the file again with the same mapping: the added columns are
//! ignored, because a mapping names the columns it reads. Rows are written in input order.
//! CSV cells that a spreadsheet would run as formulas are neutralized with a leading `'`,
//! while a value such as `+5511999999999` is left importable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    let mut original = r.cells.clone();
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

/// Writes the report; `rejections` in any order (they are sorted by row here).
pub fn write_error_report(
    path: &Path,
    headers: &[String],
    rejections: &[Rejection],
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let widest = rejections
        .iter()
        .map(|r| r.cells.len())
        .max()
        .unwrap_or(0)
        .max(headers.len());
    let mut lines: Vec<(u64, Vec<String>)> = rejections.iter().map(|r| line(r, widest)).collect();
    lines.sort_by_key(|(row, _)| *row);
    let head = header(headers, widest);
    let is_xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    // Written to a temporary file then renamed: a crash never leaves half a report.
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write the error report in {}", dir.display()))?;
    if is_xlsx {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let sheet = wb.add_worksheet();
        sheet.set_name("Errors")?;
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for (c, h) in head.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, h, &bold)?;
        }
        for (r, (_, cells)) in lines.iter().enumerate() {
            for (c, v) in cells.iter().enumerate() {
                // Strings stay strings in XLSX: nothing is run as a formula.
                sheet.write_string((r + 1) as u32, c as u16, v)?;
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        wb.save(tmp.path())
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        let mut w = csv::Writer::from_writer(tmp.as_file());
        w.write_record(&head)?;
        for (_, cells) in &lines {
            w.write_record(cells.iter().map(|c| neutralize(c)))?;
        }
        w.flush()?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Rejections counted by stage and field, for the summary ("rejected by reason").
pub fn reasons(rejections: &[Rejection]) -> BTreeMap<(Stage, String), u64> {
    let mut out = BTreeMap::new();
    for r in rejections {
        for p in &r.problems {
            *out.entry((r.stage, p.field.clone())).or_default() += 1;
        }
    }
    out
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
        write_error_report(&path, &headers, &rs).unwrap();
        let got = std::fs::read_to_string(&path).unwrap();
        let want = "\
source_row,name,email,extra_3,error_stage,error_field,error_column,error_value,error_message
3,Ann,ann@x.test,extra,validate,row,,\"Ann,ann@x.test,extra\",has 3 cells where the header has 2
7,'=cmd,bad,,validate,person.emails | lead.title,email | ,bad | ,\"\"\"bad\"\" is not a valid e-mail address | the lead has no title\"
";
        assert_eq!(got, want);
    }

    #[test]
    fn xlsx_report_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leads.errors.xlsx");
        write_error_report(
            &path,
            &["a".into()],
            &[rej(2, &["=1+1"], vec![Problem::new("x", "y", "z")])],
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..2], b"PK", "a zip container");
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
