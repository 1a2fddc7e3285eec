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
    pub cells: Vec<String>,
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
    pub cells: Vec<String>,
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
    fn provenance_reads_like_a_location() {
        let p = Provenance {
            file: "leads.xlsx".into(),
            sheet: Some("Leads".into()),
            row: 7,
        };
        assert_eq!(p.to_string(), "leads.xlsx[Leads]:7");
        let row = Row {
            provenance: p,
            cells: vec!["a".into()],
        };
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
