//! The export's in-memory table: typed columns of flattened records, turned into a polars
//! `DataFrame` for filtering, summaries and the CSV/Parquet/JSONL writers.
//!
//! Date-times are *wall times* in the export's time zone (naive, microseconds): what a report
//! reader expects to see, and what Excel can show. Dates are calendar dates.

use jiff::civil::{Date, DateTime};
use polars::prelude::*;

/// A column's type in every output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Str,
    Bool,
    Date,
    DateTime,
}

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Date(Date),
    DateTime(DateTime),
}

impl From<Option<String>> for Cell {
    fn from(v: Option<String>) -> Cell {
        match v {
            Some(s) if !s.is_empty() => Cell::Str(s),
            _ => Cell::Null,
        }
    }
}

impl From<Option<u64>> for Cell {
    fn from(v: Option<u64>) -> Cell {
        v.map_or(Cell::Null, |n| Cell::Int(n as i64))
    }
}

/// Rows of cells under named, typed columns.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<(&'static str, Kind)>,
    pub rows: Vec<Vec<Cell>>,
}

const EPOCH: Date = Date::constant(1970, 1, 1);

pub fn days(d: Date) -> i32 {
    d.since(EPOCH).map(|s| s.get_days()).unwrap_or(0)
}

pub fn micros(dt: DateTime) -> i64 {
    dt.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_microsecond())
        .unwrap_or(0)
}

/// Back from polars' physical values.
pub fn date_of(days: i32) -> Date {
    EPOCH
        .checked_add(jiff::Span::new().days(days as i64))
        .unwrap_or(EPOCH)
}

pub fn datetime_of(micros: i64) -> DateTime {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_zoned_datetime(jiff::tz::TimeZone::UTC).datetime())
        .unwrap_or_default()
}

impl Table {
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        let height = self.rows.len();
        let mut columns = Vec::with_capacity(self.columns.len());
        for (i, (name, kind)) in self.columns.iter().enumerate() {
            let cells = self.rows.iter().map(|r| &r[i]);
            let name: PlSmallStr = (*name).into();
            let column = match kind {
                Kind::Int => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Cell::Int(n) => Some(*n),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                Kind::Float => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Cell::Float(n) => Some(*n),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                Kind::Str => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Cell::Str(s) => Some(s.as_str()),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                Kind::Bool => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Cell::Bool(b) => Some(*b),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                Kind::Date => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Cell::Date(d) => Some(days(*d)),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                )
                .cast(&DataType::Date)?,
                Kind::DateTime => Column::new(
                    name,
                    cells
                        .map(|c| match c {
                            Cell::DateTime(d) => Some(micros(*d)),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                )
                .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
            };
            columns.push(column);
        }
        DataFrame::new(height, columns)
    }
}

/// The kind of a frame column, for writers that need it (XLSX).
pub fn kind_of(dtype: &DataType) -> Kind {
    match dtype {
        DataType::Boolean => Kind::Bool,
        DataType::Float32 | DataType::Float64 => Kind::Float,
        DataType::Date => Kind::Date,
        DataType::Datetime(..) => Kind::DateTime,
        d if d.is_integer() => Kind::Int,
        _ => Kind::Str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_survive_the_physical_round_trip() {
        let d = Date::constant(2030, 1, 31);
        assert_eq!(date_of(days(d)), d);
        assert_eq!(days(EPOCH), 0);
        assert_eq!(days(Date::constant(1969, 12, 31)), -1);
        let t = DateTime::constant(2025, 5, 1, 13, 30, 0, 123_456_000);
        assert_eq!(datetime_of(micros(t)), t);
    }

    #[test]
    fn a_table_becomes_a_typed_frame() {
        let t = Table {
            columns: vec![
                ("id", Kind::Int),
                ("v", Kind::Float),
                ("s", Kind::Str),
                ("b", Kind::Bool),
                ("d", Kind::Date),
                ("t", Kind::DateTime),
            ],
            rows: vec![
                vec![
                    Cell::Int(1),
                    Cell::Float(2.5),
                    Cell::Str("x".into()),
                    Cell::Bool(true),
                    Cell::Date(Date::constant(2030, 1, 31)),
                    Cell::DateTime(DateTime::constant(2025, 5, 1, 8, 0, 0, 0)),
                ],
                vec![Cell::Null; 6],
            ],
        };
        let df = t.to_frame().unwrap();
        assert_eq!(df.height(), 2);
        let kinds: Vec<Kind> = df.columns().iter().map(|c| kind_of(c.dtype())).collect();
        assert_eq!(kinds, t.columns.iter().map(|c| c.1).collect::<Vec<_>>());
        assert_eq!(df.column("s").unwrap().null_count(), 1);
    }
}
