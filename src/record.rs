//! The vocabulary passed between pipeline stages.
//!
//! A reader yields [`Row`]s (original cell texts plus where they came from) or a
//! [`Rejection`] when a row cannot even be read (a ragged CSV line). Mapping and validation
//! turn a `Row` into a mapped lead or a `Rejection` listing *every* [`Problem`] of the row;
//! the writer turns each valid lead into an outcome. A bad row is data, never an `Err` that
//! stops the run.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// Where a row came from, as a spreadsheet user would point at it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Provenance {
    pub file: Arc<str>,
    /// The sheet, for spreadsheets.
    pub sheet: Option<Arc<str>>,
    /// 1-based row number as the file shows it (the header is usually row 1). For a CSV
    /// record spanning several lines (a quoted newline), the line it starts on.
    pub row: u64,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sheet {
            Some(sheet) => write!(f, "{}[{}]:{}", self.file, sheet, self.row),
            None => write!(f, "{}:{}", self.file, self.row),
        }
    }
}

/// One data row: its cells as text, in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub provenance: Provenance,
    pub cells: Cells,
}

/// A row's cell texts in one buffer, with where each ends: two allocations a row where a
/// `Vec<String>` makes one per cell (a million-row file is tens of millions of small strings
/// made and freed, most of a large check's allocator time).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cells {
    text: String,
    /// Byte offset in `text` where each cell ends.
    ends: Vec<usize>,
}

impl Cells {
    pub fn new() -> Cells {
        Cells::default()
    }

    /// From a CSV record, copying its buffer whole.
    pub fn from_record(record: &csv::StringRecord) -> Cells {
        let mut ends = Vec::with_capacity(record.len());
        ends.extend((0..record.len()).map(|i| record.range(i).map_or(0, |r| r.end)));
        Cells {
            text: record.as_slice().to_string(),
            ends,
        }
    }

    pub fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.text[start..end])
    }

    pub fn iter(&self) -> CellsIter<'_> {
        CellsIter {
            cells: self,
            at: 0..self.len(),
        }
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }

    pub fn join(&self, sep: &str) -> String {
        self.to_vec().join(sep)
    }
}

impl std::ops::Index<usize> for Cells {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        self.get(i)
            .unwrap_or_else(|| panic!("cell {i} of a row of {}", self.len()))
    }
}

impl<S: AsRef<str>> FromIterator<S> for Cells {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Cells {
        let mut c = Cells::new();
        for s in iter {
            c.push(s.as_ref());
        }
        c
    }
}

/// The cells of a row, in order.
pub struct CellsIter<'a> {
    cells: &'a Cells,
    at: std::ops::Range<usize>,
}

impl<'a> Iterator for CellsIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        self.at.next().map(|i| &self.cells[i])
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.at.size_hint()
    }
}

impl DoubleEndedIterator for CellsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.at.next_back().map(|i| &self.cells[i])
    }
}

impl ExactSizeIterator for CellsIter<'_> {}

impl<'a> IntoIterator for &'a Cells {
    type Item = &'a str;
    type IntoIter = CellsIter<'a>;
    fn into_iter(self) -> CellsIter<'a> {
        self.iter()
    }
}

impl PartialEq<Vec<String>> for Cells {
    fn eq(&self, other: &Vec<String>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b)
    }
}

impl fmt::Debug for Cells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The pipeline stage that refused a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Read,
    Map,
    Validate,
    Write,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Read => "read",
            Stage::Map => "map",
            Stage::Validate => "validate",
            Stage::Write => "write",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The target field (`lead_value`, `person.emails`), or `row` for the row as a whole.
    pub field: String,
    /// The source column the value came from, when there is one.
    pub column: Option<String>,
    /// The offending value as read.
    pub value: String,
    /// What is wrong and, where possible, what to do.
    pub message: String,
}

impl Problem {
    pub fn new(
        field: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            field: field.into(),
            column: None,
            value: value.into(),
            message: message.into(),
        }
    }

    pub fn with_column(mut self, column: Option<&str>) -> Problem {
        self.column = column.map(str::to_string);
        self
    }
}

/// A row that will not be written, with every reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub provenance: Provenance,
    /// The original cells, so the error report can be fixed by hand and imported again.
    pub cells: Cells,
    pub stage: Stage,
    pub problems: Vec<Problem>,
}

impl Rejection {
    pub fn new(row: &Row, stage: Stage, problems: Vec<Problem>) -> Rejection {
        Rejection {
            provenance: row.provenance.clone(),
            cells: row.cells.clone(),
            stage,
            problems,
        }
    }

    /// The reasons on one line, for logs and summaries.
    pub fn summary(&self) -> String {
        self.problems
            .iter()
            .map(|p| match &p.column {
                Some(c) => format!(
                    "{} (column {c:?}, value {:?}): {}",
                    p.field, p.value, p.message
                ),
                None => format!("{}: {}", p.field, p.message),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_read_back_as_pushed() {
        let mut record = csv::StringRecord::new();
        for f in ["", "ação", "", "x,y", ""] {
            record.push_field(f);
        }
        let c = Cells::from_record(&record);
        assert_eq!(
            c,
            vec!["", "ação", "", "x,y", ""]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
        );
        assert_eq!(c.len(), 5);
        assert_eq!(&c[1], "ação");
        assert_eq!(c.get(5), None);
        assert_eq!(c.iter().rev().nth(1), Some("x,y"));
        assert_eq!(c.iter().len(), 5);
        assert_eq!((&c).into_iter().filter(|x| x.is_empty()).count(), 3);
        assert_eq!(c.join("|"), "|ação||x,y|");
        assert_eq!(c.to_vec().iter().collect::<Cells>(), c);
        assert!(Cells::new().is_empty());
        assert_eq!(format!("{c:?}"), r#"["", "ação", "", "x,y", ""]"#);
    }

    #[test]
    fn provenance_reads_like_a_location() {
        let p = Provenance {
            file: "leads.xlsx".into(),
            sheet: Some("Leads".into()),
            row: 7,
        };
        assert_eq!(p.to_string(), "leads.xlsx[Leads]:7");
        let row = Row {
            provenance: p,
            cells: ["a"].into_iter().collect(),
        };
        assert_eq!(row.cells.len(), 1);
        let r = Rejection::new(
            &row,
            Stage::Validate,
            vec![
                Problem::new("lead_value", "-1", "must not be negative").with_column(Some("valor")),
            ],
        );
        assert_eq!(
            r.summary(),
            "lead_value (column \"valor\", value \"-1\"): must not be negative"
        );
    }
}
