//! Reporting summaries of a lead export (polars group-by): for each stage, source, owner and
//! month (of `created_at`), the number of leads, how many are open, won and lost, and the
//! total and average `lead_value`. One long table: `dimension, value, leads, open, won, lost,
//! lead_value_total, lead_value_average`, sorted by dimension then value.

use polars::prelude::*;

use super::table::datetime_of;

/// The dimensions, in output order.
pub const DIMENSIONS: &[&str] = &["stage", "source", "owner", "month"];

/// `YYYY-MM` of each row's `created_at` (the export's zone), as a column named `month`.
pub fn month_column(frame: &DataFrame, from: &str) -> PolarsResult<Column> {
    let created = frame.column(from)?.cast(&DataType::Int64)?;
    let months: Vec<Option<String>> = created
        .i64()?
        .iter()
        .map(|v| v.map(|m| month_key(datetime_of(m))))
        .collect();
    Ok(Column::new("month".into(), months))
}

pub fn month_key(d: jiff::civil::DateTime) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The summary of a lead frame (before any `--columns` selection).
pub fn summarize(frame: &DataFrame) -> PolarsResult<DataFrame> {
    let mut df = frame.clone();
    df.with_column(month_column(frame, "created_at")?)?;
    let mut parts = Vec::with_capacity(DIMENSIONS.len());
    for dim in DIMENSIONS {
        let part = df
            .clone()
            .lazy()
            .group_by([col(*dim).fill_null(lit("(none)")).alias("value")])
            .agg([
                len().cast(DataType::Int64).alias("leads"),
                col("status")
                    .eq(lit("open"))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("open"),
                col("status")
                    .eq(lit("won"))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("won"),
                col("status")
                    .eq(lit("lost"))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("lost"),
                col("lead_value").sum().alias("lead_value_total"),
                col("lead_value").mean().alias("lead_value_average"),
            ])
            .with_column(lit(*dim).alias("dimension"))
            .select([
                col("dimension"),
                col("value"),
                col("leads"),
                col("open"),
                col("won"),
                col("lost"),
                col("lead_value_total"),
                col("lead_value_average"),
            ])
            .sort(["value"], SortMultipleOptions::default());
        parts.push(part);
    }
    concat(parts, UnionArgs::default())?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::table::{Cell, Kind, Table};
    use jiff::civil::datetime;

    #[test]
    fn counts_and_values_by_dimension() {
        let row = |stage: &str, status: &str, owner: Option<&str>, value: Option<f64>, m: i8| {
            vec![
                Cell::Str(stage.into()),
                Cell::Str(status.into()),
                Cell::Str("Web".into()),
                owner.map_or(Cell::Null, |o| Cell::Str(o.into())),
                value.map_or(Cell::Null, Cell::Float),
                Cell::DateTime(datetime(2026, m, 15, 12, 0, 0, 0)),
            ]
        };
        let t = Table {
            columns: vec![
                ("stage", Kind::Str),
                ("status", Kind::Str),
                ("source", Kind::Str),
                ("owner", Kind::Str),
                ("lead_value", Kind::Float),
                ("created_at", Kind::DateTime),
            ],
            rows: vec![
                row("New", "open", Some("Ana"), Some(100.0), 1),
                row("New", "open", Some("Ana"), Some(300.0), 2),
                row("Won", "won", None, Some(1000.0), 2),
                row("Lost", "lost", Some("Bo"), None, 2),
            ],
        };
        let s = summarize(&t.to_frame().unwrap()).unwrap();
        let get = |dim: &str, value: &str, col: &str| -> AnyValue<'static> {
            let m = s.column("dimension").unwrap().str().unwrap().equal(dim)
                & s.column("value").unwrap().str().unwrap().equal(value);
            let f = s.filter(&m).unwrap();
            assert_eq!(f.height(), 1, "{dim}={value}");
            f.column(col).unwrap().get(0).unwrap().into_static()
        };
        assert_eq!(get("stage", "New", "leads"), AnyValue::Int64(2));
        assert_eq!(
            get("stage", "New", "lead_value_total"),
            AnyValue::Float64(400.0)
        );
        assert_eq!(
            get("stage", "New", "lead_value_average"),
            AnyValue::Float64(200.0)
        );
        assert_eq!(get("source", "Web", "won"), AnyValue::Int64(1));
        assert_eq!(get("source", "Web", "lost"), AnyValue::Int64(1));
        assert_eq!(get("owner", "(none)", "leads"), AnyValue::Int64(1));
        assert_eq!(get("month", "2026-02", "leads"), AnyValue::Int64(3));
        assert_eq!(get("month", "2026-01", "open"), AnyValue::Int64(1));
        // A lost lead without a value counts as a lead, not as a zero in the average.
        assert_eq!(get("stage", "Lost", "lead_value_average"), AnyValue::Null);
        assert_eq!(s.height(), 3 + 1 + 3 + 2);
    }
}
