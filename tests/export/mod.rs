//! The export, end to end through the binary, against the sandbox: every format read back and
//! compared field by field, incremental runs, filters, an empty CRM, failing pages.

use std::collections::{BTreeMap, BTreeSet};

use krayin_etl::export::table::{date_of, datetime_of};
use krayin_etl::sandbox::{Config, Faults};
use polars::prelude::*;
use serde_json::{Value, json};

use crate::util::{self, Workdir};

type Rows = Vec<BTreeMap<String, String>>;

const NUMERIC: &[&str] = &[
    "id",
    "lead_value",
    "person_id",
    "organization_id",
    "leads",
    "open",
    "won",
    "lost",
    "lead_value_total",
    "lead_value_average",
];
const DATES: &[&str] = &["expected_close_date"];

fn num(f: f64) -> String {
    format!("{f}")
}

fn canon(column: &str, v: String) -> String {
    if NUMERIC.contains(&column) && !v.is_empty() {
        return v.parse::<f64>().map(num).unwrap_or(v);
    }
    v
}

fn read_csv(path: &std::path::Path) -> Rows {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(k, v)| {
                    // Undo the formula neutralization to compare the data itself.
                    let v = match v.strip_prefix('\'') {
                        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
                        _ => v,
                    };
                    (k.to_string(), canon(k, v.to_string()))
                })
                .collect()
        })
        .collect()
}

fn read_jsonl(path: &std::path::Path) -> Rows {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Map<String, Value> = serde_json::from_str(l).unwrap();
            v.into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::Null => String::new(),
                        Value::String(s) => s,
                        Value::Number(n) => num(n.as_f64().unwrap()),
                        Value::Bool(b) => b.to_string(),
                        other => other.to_string(),
                    };
                    let s = canon(&k, s);
                    (k, s)
                })
                .collect()
        })
        .collect()
}

fn any_to_string(v: AnyValue<'_>) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::Int64(i) => num(i as f64),
        AnyValue::Int32(i) => num(i as f64),
        AnyValue::Float64(f) => num(f),
        AnyValue::Boolean(b) => b.to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::Date(d) => date_of(d).to_string(),
        AnyValue::Datetime(v, TimeUnit::Microseconds, _) => {
            datetime_of(v).strftime("%Y-%m-%d %H:%M:%S").to_string()
        }
        other => panic!("unexpected parquet value {other:?}"),
    }
}

fn frame_rows(df: &DataFrame) -> Rows {
    (0..df.height())
        .map(|i| {
            df.columns()
                .iter()
                .map(|c| {
                    let name = c.name().to_string();
                    let v = any_to_string(c.get(i).unwrap());
                    let v = canon(&name, v);
                    (name, v)
                })
                .collect()
        })
        .collect()
}

fn read_parquet_frame(path: &std::path::Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
}

fn read_parquet(path: &std::path::Path) -> Rows {
    frame_rows(&read_parquet_frame(path))
}

/// Excel serial day → civil date-time, to the second.
fn serial(f: f64) -> jiff::civil::DateTime {
    let base = jiff::civil::date(1899, 12, 30).at(0, 0, 0, 0);
    let secs = (f * 86_400.0).round() as i64;
    base.checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

fn read_xlsx(path: &std::path::Path, sheet: &str) -> Rows {
    use calamine::{Data, Reader};
    let mut wb = calamine::open_workbook_auto(path).unwrap();
    let range = wb.worksheet_range(sheet).unwrap();
    let mut rows = range.rows();
    let header: Vec<String> = rows.next().unwrap().iter().map(|c| c.to_string()).collect();
    rows.map(|r| {
        header
            .iter()
            .zip(r.iter())
            .map(|(k, c)| {
                let v = match c {
                    Data::Empty => String::new(),
                    Data::String(s) => s.clone(),
                    Data::Float(f) => num(*f),
                    Data::Int(i) => num(*i as f64),
                    Data::Bool(b) => b.to_string(),
                    Data::DateTime(d) if DATES.contains(&k.as_str()) => {
                        serial(d.as_f64()).date().to_string()
                    }
                    Data::DateTime(d) => {
                        serial(d.as_f64()).strftime("%Y-%m-%d %H:%M:%S").to_string()
                    }
                    other => panic!("unexpected cell {other:?} in {k}"),
                };
                (k.clone(), canon(k, v))
            })
            .collect()
    })
    .collect()
}

fn export(w: &Workdir, db: &str, args: &[&str]) -> util::Run {
    let mut a = vec!["export", "--sandbox", "--sandbox-db", db, "-q"];
    a.extend_from_slice(args);
    w.run(&a)
}

/// A work folder whose `sb.db` sandbox holds the imported `samples/leads.csv` (10 leads).
fn with_samples() -> Workdir {
    let w = Workdir::new();
    let r = w.run(&[
        "import",
        "samples/leads.csv",
        "--mapping",
        "mappings/leads.toml",
        "--sandbox",
        "--sandbox-db",
        "sb.db",
        "-q",
    ]);
    assert_eq!(r.code, 1, "5 sample rows are refused on purpose: {r:?}");
    w
}

/// Exit 2 (could not run) with `needle` in the message.
fn refused(r: &util::Run, needle: &str) {
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains(needle), "expected {needle:?}: {r:?}");
}

fn by_id(rows: &Rows) -> BTreeMap<String, BTreeMap<String, String>> {
    rows.iter().map(|r| (r["id"].clone(), r.clone())).collect()
}

#[test]
fn the_imported_samples_come_back_the_same_in_every_format() {
    let w = with_samples();
    for ext in ["csv", "xlsx", "parquet", "jsonl"] {
        let out = format!("out/leads.{ext}");
        let summary = format!("out/summary.{ext}");
        let r = export(&w, "sb.db", &["--out", &out, "--summary", &summary]);
        assert_eq!(r.code, 0, "{ext}: {r:?}");
    }
    let csv = read_csv(&w.path("out/leads.csv"));
    let formats = [
        ("xlsx", read_xlsx(&w.path("out/leads.xlsx"), "Leads")),
        ("parquet", read_parquet(&w.path("out/leads.parquet"))),
        ("jsonl", read_jsonl(&w.path("out/leads.jsonl"))),
    ];
    assert_eq!(csv.len(), 10);
    for (name, rows) in &formats {
        assert_eq!(rows.len(), csv.len(), "{name}");
        for (a, b) in csv.iter().zip(rows.iter()) {
            assert_eq!(a, b, "{name} differs from csv");
        }
    }

    // And each lead is what the source file said, joined through the success file.
    let exported = by_id(&csv);
    let source = w.csv("samples/leads.csv");
    let success = w.csv("samples/leads.success.csv");
    assert_eq!(success.len(), 10);
    for s in &success {
        let row = &s["source_row"];
        let src = source
            .iter()
            .find(|r| format!("{}: {}", r["Company"], r["Deal"]) == s["title"])
            .unwrap();
        let e = &exported[&s["lead_id"]];
        assert_eq!(e["title"], s["title"]);
        if s["outcome"] == "created" {
            // A lead for an existing person shows that person's organization.
            assert_eq!(e["organization"], src["Company"], "row {row}");
        }
        assert_eq!(
            e["person_emails"].to_lowercase(),
            src["Email"].trim().to_lowercase(),
            "row {row}"
        );
        if !src["Source"].is_empty() {
            assert_eq!(
                e["source"].to_lowercase(),
                src["Source"].to_lowercase(),
                "row {row}"
            );
        }
        if !src["Stage"].is_empty() {
            assert_eq!(
                e["stage"].to_lowercase(),
                src["Stage"].to_lowercase(),
                "row {row}"
            );
        }
        let value: Option<f64> = src["Value"].replace(',', "").trim().parse().ok();
        if let Some(v) = value {
            assert_eq!(e["lead_value"], num(v), "row {row}");
        }
        if src["Owner"].contains('@') {
            assert_eq!(e["owner_email"], src["Owner"], "row {row}");
        }
        let won = src["Stage"].eq_ignore_ascii_case("won");
        assert_eq!(e["status"], if won { "won" } else { "open" }, "row {row}");
    }
    // The close date is the date the file gave, not the UTC instant Krayin sends (§12).
    let acme = csv
        .iter()
        .find(|r| r["title"] == "ACME Corp: 50 seats")
        .unwrap();
    assert_eq!(acme["expected_close_date"], "2031-01-31");

    // The summaries agree with the rows, in every format.
    let total: f64 = csv
        .iter()
        .filter_map(|r| r["lead_value"].parse::<f64>().ok())
        .sum();
    let summaries = [
        read_csv(&w.path("out/summary.csv")),
        read_xlsx(&w.path("out/summary.xlsx"), "Summary"),
        read_parquet(&w.path("out/summary.parquet")),
        read_jsonl(&w.path("out/summary.jsonl")),
    ];
    for s in &summaries {
        assert_eq!(s, &summaries[0]);
        for dim in ["stage", "source", "owner", "month"] {
            let rows: Vec<_> = s.iter().filter(|r| r["dimension"] == dim).collect();
            let leads: f64 = rows
                .iter()
                .map(|r| r["leads"].parse::<f64>().unwrap())
                .sum();
            assert_eq!(leads, 10.0, "{dim}");
            let value: f64 = rows
                .iter()
                .map(|r| r["lead_value_total"].parse::<f64>().unwrap())
                .sum();
            assert!((value - total).abs() < 1e-6, "{dim}: {value} vs {total}");
        }
        let won = s
            .iter()
            .find(|r| r["dimension"] == "stage" && r["value"] == "Won")
            .unwrap();
        assert_eq!(won["won"], "1");
    }
}

#[test]
fn xlsx_columns_are_typed_with_a_summary_sheet_and_csv_is_neutralized() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sb, mut api) = rt.block_on(util::start(Config {
        db: None,
        ..util::config()
    }));
    rt.block_on(api.login());
    let mut body = util::lead("=HYPERLINK(\"http://x.test\",\"click\")", "f@x.test");
    body["lead_value"] = json!("1234.5678");
    body["expected_close_date"] = json!(util::date_in_days(30));
    let a = rt.block_on(api.post("/leads", body));
    assert_eq!(a.status, 200, "{a:?}");
    let w = Workdir::new();
    let token = api.token.clone().unwrap();
    for args in [
        &["export", "-q", "--out", "l.xlsx", "--summary"][..],
        &["export", "-q", "--out", "l.csv"][..],
    ] {
        let r = w.run_with(w.with_token(&sb, &token, args));
        assert_eq!(r.code, 0, "{r:?}");
    }
    use calamine::{Data, Reader};
    let mut wb = calamine::open_workbook_auto(w.path("l.xlsx")).unwrap();
    assert_eq!(
        wb.sheet_names(),
        vec!["Leads".to_string(), "Summary".to_string()]
    );
    let range = wb.worksheet_range("Leads").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    let cell = |name: &str| {
        range.rows().nth(1).unwrap()[header.iter().position(|h| h == name).unwrap()].clone()
    };
    assert!(matches!(cell("lead_value"), Data::Float(f) if f == 1234.5678));
    assert!(matches!(cell("id"), Data::Float(f) if f == 1.0));
    assert!(matches!(cell("expected_close_date"), Data::DateTime(_)));
    assert!(matches!(cell("created_at"), Data::DateTime(_)));
    // Text stays text in XLSX; in CSV it is defused.
    assert_eq!(
        cell("title"),
        Data::String("=HYPERLINK(\"http://x.test\",\"click\")".into())
    );
    let csv = w.csv("l.csv");
    assert_eq!(csv[0]["title"], "'=HYPERLINK(\"http://x.test\",\"click\")");
    let summary = read_xlsx(&w.path("l.xlsx"), "Summary");
    let stage = summary.iter().find(|r| r["dimension"] == "stage").unwrap();
    assert_eq!(stage["leads"], "1");
    assert_eq!(stage["lead_value_total"], "1234.5678");
    // The header row is frozen (a pane split below row 1), on the data sheet.
    let sheet1 = {
        use std::io::Read;
        let mut zip =
            ::zip::ZipArchive::new(std::fs::File::open(w.path("l.xlsx")).unwrap()).unwrap();
        let mut xml = String::new();
        zip.by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut xml)
            .unwrap();
        xml
    };
    let pane = sheet1
        .split("<pane ")
        .nth(1)
        .and_then(|p| p.split("/>").next())
        .unwrap_or_else(|| panic!("no pane in sheet1.xml: {sheet1}"));
    assert!(
        pane.contains("ySplit=\"1\"") && pane.contains("state=\"frozen\""),
        "{pane}"
    );

    // JSONL keeps the types: numbers as numbers, text as text, no value as null; activities'
    // `is_done` as a boolean.
    let r = w.run_with(w.with_token(&sb, &token, &["export", "-q", "--out", "l.jsonl"]));
    assert_eq!(r.code, 0, "{r:?}");
    let line: serde_json::Map<String, Value> =
        serde_json::from_str(w.read("l.jsonl").lines().next().unwrap()).unwrap();
    assert_eq!(line["id"], json!(1));
    assert_eq!(line["lead_value"], json!(1234.5678));
    assert!(line["title"].is_string(), "{line:?}");
    assert!(line["created_at"].is_string(), "{line:?}");
    assert_eq!(line["expected_close_date"], json!(util::date_in_days(30)));
    assert!(
        line.values().any(Value::is_null),
        "empty cells are null: {line:?}"
    );
    let a = rt.block_on(api.post(
        "/activities",
        json!({"type": "call", "title": "Call", "lead_id": 1,
               "schedule_from": "2026-01-05 10:00:00", "schedule_to": "2026-01-05 10:30:00"}),
    ));
    assert_eq!(a.status, 200, "{a:?}");
    let r = w.run_with(w.with_token(
        &sb,
        &token,
        &[
            "export",
            "activities",
            "-q",
            "--out",
            "a.jsonl",
            "--type",
            "call",
        ],
    ));
    assert_eq!(r.code, 0, "{r:?}");
    let line: serde_json::Map<String, Value> =
        serde_json::from_str(w.read("a.jsonl").lines().next().unwrap()).unwrap();
    // Krayin forces `is_done` to 0 on create (§10): false, as a JSON boolean.
    assert_eq!(line["is_done"], json!(false), "{line:?}");
    assert!(line["id"].is_u64(), "{line:?}");
    drop(sb);
}

#[test]
fn filters_are_sent_or_applied_and_unknown_names_are_refused() {
    let w = with_samples();
    let all = {
        let r = export(&w, "sb.db", &["--out", "all.csv"]);
        assert_eq!(r.code, 0, "{r:?}");
        read_csv(&w.path("all.csv"))
    };
    let check = |args: &[&str], keep: &dyn Fn(&BTreeMap<String, String>) -> bool| {
        let none_wanted = args.contains(&"2000-01-01");
        let mut a = vec!["--out", "f.csv"];
        a.extend_from_slice(args);
        let r = export(&w, "sb.db", &a);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        let got: BTreeSet<String> = read_csv(&w.path("f.csv"))
            .iter()
            .map(|r| r["id"].clone())
            .collect();
        let want: BTreeSet<String> = all
            .iter()
            .filter(|r| keep(r))
            .map(|r| r["id"].clone())
            .collect();
        assert_eq!(
            want.is_empty(),
            none_wanted,
            "{args:?}: the samples should make this filter meaningful"
        );
        assert_eq!(got, want, "{args:?}");
    };
    check(&["--stage", "Won"], &|r| r["stage"] == "Won");
    check(&["--status", "won"], &|r| r["status"] == "won");
    check(&["--status", "open,lost"], &|r| r["status"] != "won");
    check(&["--source", "web,Email"], &|r| {
        r["source"] == "Web" || r["source"] == "Email"
    });
    check(&["--owner", "admin@example.com"], &|r| {
        r["owner_email"] == "admin@example.com"
    });
    check(
        &["--pipeline", "Default Pipeline", "--stage", "new"],
        &|r| r["stage"] == "New",
    );
    check(&["--type", "New Business"], &|r| {
        r["type"] == "New Business"
    });
    check(&["--min-value", "5000", "--max-value", "50000"], &|r| {
        r["lead_value"]
            .parse::<f64>()
            .is_ok_and(|v| (5000.0..=50000.0).contains(&v))
    });
    let today = all[0]["created_at"][..10].to_string();
    check(&["--created-from", &today, "--created-to", &today], &|_| {
        true
    });
    check(&["--created-to", "2000-01-01"], &|_| false);
    check(&["--since", "1d"], &|_| true);

    let r = export(
        &w,
        "sb.db",
        &["--out", "c.csv", "--columns", "title,id,stage"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let text = w.read("c.csv");
    assert!(text.starts_with("title,id,stage\n"), "{text}");

    let r = export(&w, "sb.db", &["--out", "x.csv", "--stage", "Wonn"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--stage \"Wonn\"") && r.stderr.contains("Won"),
        "{r:?}"
    );
    let r = export(&w, "sb.db", &["--out", "x.csv", "--columns", "id,nope"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("\"nope\"") && r.stderr.contains("person_emails"),
        "{r:?}"
    );
    let r = export(&w, "sb.db", &["--out", "x.csv", "--summary", "s.xls"]);
    refused(&r, "--summary s.xls");
    let r = export(
        &w,
        "sb.db",
        &["--out", "x.csv", "--owner", "admin@example.co"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("did you mean admin@example.com?"),
        "{r:?}"
    );
    let r = export(&w, "sb.db", &["--out", "x.txt2"]);
    refused(&r, "--format");
    let r = export(&w, "sb.db", &["--out", "x.csv", "--columns", "id,title,id"]);
    refused(&r, "\"id\" is named twice");
    assert!(!w.path("x.csv").exists());

    // --since keeps what changed at or after the instant and leaves out the older rows.
    touch(&w.path("sb.db"), &[1, 2, 3], "2020-06-01 10:00:00");
    touch(&w.path("sb.db"), &[4], "2021-01-01 00:00:00");
    check(&["--since", "2021-01-01"], &|r| {
        !["1", "2", "3"].contains(&r["id"].as_str())
    });
    check(&["--since", "2020-06-01 10:00:01"], &|r| {
        !["1", "2", "3"].contains(&r["id"].as_str())
    });
}

/// A sandbox on the database file `db` holding `n` leads (ids 1..=n), each with a new person;
/// logged in (the token is kept in the file).
async fn filled(
    db: &std::path::Path,
    n: usize,
) -> (krayin_etl::sandbox::Handle, util::Api, String) {
    let (sb, mut api) = util::start(Config {
        db: Some(db.to_path_buf()),
        ..util::config()
    })
    .await;
    let token = api.login().await;
    for i in 0..n {
        let a = api
            .post(
                "/leads",
                util::lead(&format!("Lead {i}"), &format!("p{i}@x.test")),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
    }
    (sb, api, token)
}

/// Sets `updated_at` of some leads in the sandbox's database, to build ties and old rows.
fn touch(db: &std::path::Path, ids: &[u64], wall: &str) {
    let c = util::sandbox_db(db);
    for id in ids {
        c.execute(
            "UPDATE leads SET updated_at = ?1 WHERE id = ?2",
            rusqlite::params![wall, *id as i64],
        )
        .unwrap();
    }
}

fn report(w: &Workdir, rel: &str) -> Value {
    serde_json::from_str(&w.read(rel)).unwrap()
}

#[test]
fn incremental_exports_only_what_changed_and_a_quiet_rerun_costs_one_page() {
    let w = Workdir::new();
    let db = w.path("sb.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sb, api, token) = rt.block_on(filled(&db, 25));
    // All 25 changed in one second (many leads share a second in a bulk import), older than now.
    touch(&db, &(1..=25).collect::<Vec<_>>(), "2026-01-01 10:00:00");
    let run = |extra: &[&str]| {
        let mut a = vec![
            "export",
            "-q",
            "--out",
            "d.csv",
            "--incremental",
            "--page-size",
            "10",
            "--report",
            "r.json",
        ];
        a.extend_from_slice(extra);
        let r = w.run_with(w.with_token(&sb, &token, &a));
        assert_eq!(r.code, 0, "{r:?}");
        let ids: BTreeSet<u64> = read_csv(&w.path("d.csv"))
            .iter()
            .map(|r| r["id"].parse().unwrap())
            .collect();
        (ids, report(&w, "r.json"))
    };
    let (ids, rep) = run(&[]);
    assert_eq!(ids, (1..=25).collect());
    // Three pages of ten, and the newest change read first (the watermark, before reading).
    assert_eq!(rep["pages"], 4, "{rep}");
    let state: Value = serde_json::from_str(&w.read("d.csv.state.json")).unwrap();
    assert_eq!(state["watermark"], "2026-01-01T04:30:00.000000Z");
    assert_eq!(state["ids_at_watermark"].as_array().unwrap().len(), 25);

    // Nothing changed: nothing exported, one page request.
    touch(&db, &(1..=20).collect::<Vec<_>>(), "2025-12-31 10:00:00");
    let state_before = w.read("d.csv.state.json");
    let (ids, rep) = run(&[]);
    assert!(ids.is_empty(), "{ids:?}");
    assert_eq!(rep["requests"], 1, "{rep}");
    assert_eq!(w.read("d.csv").lines().count(), 1, "a header only");
    let _ = state_before;

    // Three leads edited and two created (all in one later second, straddling page boundaries).
    for id in [3, 7, 21] {
        let a = rt.block_on(api.put(
            &format!("/leads/attributes/edit/{id}"),
            json!({"title": format!("Edited {id}")}),
        ));
        assert_eq!(a.status, 200, "{a:?}");
    }
    for i in 0..12 {
        let a = rt.block_on(api.post(
            "/leads",
            util::lead(&format!("New {i}"), &format!("n{i}@x.test")),
        ));
        assert_eq!(a.status, 200, "{a:?}");
    }
    let changed: Vec<u64> = [3, 7, 21].into_iter().chain(26..=37).collect();
    touch(&db, &changed, "2026-02-01 09:00:00");
    // Told the wrong server zone, the read of the second cut by a page boundary finds nothing:
    // refused, rather than rows skipped.
    std::fs::copy(w.path("d.csv.state.json"), w.path("wrong.json")).unwrap();
    let r = w.run_with(w.with_token(
        &sb,
        &token,
        &[
            "export",
            "-q",
            "--out",
            "w.csv",
            "--incremental",
            "--state",
            "wrong.json",
            "--page-size",
            "10",
            "--server-timezone",
            "UTC",
        ],
    ));
    refused(&r, "--server-timezone");
    assert!(!w.path("w.csv").exists());
    let (ids, rep) = run(&[]);
    assert_eq!(ids, changed.iter().copied().collect(), "{rep}");
    let rows = read_csv(&w.path("d.csv"));
    assert!(rows.iter().any(|r| r["title"] == "Edited 21"));

    // One more lead changed in that same second after the export: found at the watermark.
    touch(&db, &[5], "2026-02-01 09:00:00");
    let (ids, _) = run(&[]);
    assert_eq!(ids, BTreeSet::from([5]));
    let (ids, _) = run(&[]);
    assert!(ids.is_empty());

    // Another query cannot reuse this watermark.
    let r = w.run_with(w.with_token(
        &sb,
        &token,
        &[
            "export",
            "-q",
            "--out",
            "d.csv",
            "--incremental",
            "--stage",
            "Won",
        ],
    ));
    refused(&r, "another export");
    drop(sb);
}

#[test]
fn an_empty_crm_exports_headers_and_typed_empty_files() {
    let w = Workdir::new();
    for ext in ["csv", "xlsx", "parquet", "jsonl"] {
        let r = export(&w, "empty.db", &["--out", &format!("e.{ext}")]);
        assert_eq!(r.code, 0, "{ext}: {r:?}");
    }
    assert!(
        w.read("e.csv").starts_with("id,title,"),
        "{}",
        w.read("e.csv")
    );
    assert_eq!(w.read("e.csv").lines().count(), 1);
    assert_eq!(w.read("e.jsonl"), "");
    let df = read_parquet_frame(&w.path("e.parquet"));
    assert_eq!(df.height(), 0);
    assert_eq!(df.column("lead_value").unwrap().dtype(), &DataType::Float64);
    assert!(matches!(
        df.column("created_at").unwrap().dtype(),
        DataType::Datetime(..)
    ));
    assert_eq!(read_xlsx(&w.path("e.xlsx"), "Leads").len(), 0);
    let r = export(&w, "empty.db", &["activities", "--out", "a.csv"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(w.read("a.csv").starts_with("id,type,"));
}

#[test]
fn failing_pages_are_retried_without_duplicated_or_missing_rows() {
    let w = Workdir::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Filled with faults off; the token survives in the database file.
    let db = w.path("f.db");
    let token = {
        let (sb, _api, token) = rt.block_on(filled(&db, 60));
        rt.block_on(sb.shutdown()).unwrap();
        token
    };
    // 15% of requests fail before the server acts, 5% lose their connection.
    let faulty = |seed| {
        rt.block_on(util::start(Config {
            db: Some(db.clone()),
            faults: Faults {
                fail_before: 0.15,
                drop_connection: 0.05,
                seed,
                ..Faults::default()
            },
            ..util::config()
        }))
        .0
    };
    let sb = faulty(7);
    for ext in ["csv", "parquet"] {
        let out = format!("p.{ext}");
        let r = w.run_with(w.with_token(
            &sb,
            &token,
            &[
                "export",
                "-q",
                "--out",
                &out,
                "--page-size",
                "7",
                "--concurrency",
                "3",
                "--report",
                "r.json",
            ],
        ));
        assert_eq!(r.code, 0, "{r:?}");
        let rows = if ext == "csv" {
            read_csv(&w.path(&out))
        } else {
            read_parquet(&w.path(&out))
        };
        let ids: Vec<u64> = rows.iter().map(|r| r["id"].parse().unwrap()).collect();
        assert_eq!(
            ids,
            (1..=60).collect::<Vec<_>>(),
            "every lead once, in id order"
        );
        let rep = report(&w, "r.json");
        let retries = rep["endpoints"]["GET /leads"]["retries"].as_u64().unwrap();
        assert!(retries > 0, "the faults hit the pages themselves: {rep}");
    }
    drop(sb);

    // Incremental under the same faults: a full first run, then 9 leads changed in one second
    // straddling page boundaries (page size 4): exactly those come out, each once.
    let sb = faulty(11);
    let run = |out: &str| {
        let r = w.run_with(w.with_token(
            &sb,
            &token,
            &[
                "export",
                "-q",
                "--out",
                out,
                "--incremental",
                "--state",
                "inc.json",
                "--page-size",
                "4",
                "--concurrency",
                "3",
                "--report",
                "r.json",
            ],
        ));
        assert_eq!(r.code, 0, "{r:?}");
        let ids: Vec<u64> = read_csv(&w.path(out))
            .iter()
            .map(|r| r["id"].parse().unwrap())
            .collect();
        (ids, report(&w, "r.json"))
    };
    let (ids, _) = run("i1.csv");
    assert_eq!(ids, (1..=60).collect::<Vec<_>>());
    let changed: Vec<u64> = vec![2, 3, 4, 5, 30, 31, 58, 59, 60];
    touch(&db, &changed, "2030-01-01 09:00:00");
    let (ids, rep) = run("i2.csv");
    assert_eq!(ids, changed, "{rep}");
    let (ids, _) = run("i3.csv");
    assert!(ids.is_empty(), "{ids:?}");
    drop(sb);
}

#[test]
fn activities_leave_out_system_entries_and_partitions_split_by_month() {
    let w = with_samples();
    let db = util::sandbox_db(&w.path("sb.db"));
    let system = util::count(&db, "SELECT COUNT(*) FROM activities WHERE type = 'system'");
    let calls = util::count(&db, "SELECT COUNT(*) FROM activities WHERE type = 'call'");
    assert!(system > 0 && calls == 10, "system {system}, calls {calls}");
    let r = export(&w, "sb.db", &["activities", "--out", "a.jsonl"]);
    assert_eq!(r.code, 0, "{r:?}");
    let rows = read_jsonl(&w.path("a.jsonl"));
    assert_eq!(rows.len() as i64, calls);
    assert!(rows.iter().all(|r| r["type"] == "call"));
    assert!(
        rows.iter().all(|r| !r["persons"].is_empty()),
        "participants named"
    );
    // Asking for system activities by type is asking for them: no --include-system needed.
    let r = export(
        &w,
        "sb.db",
        &["activities", "--out", "s.jsonl", "--type", "system"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let rows = read_jsonl(&w.path("s.jsonl"));
    assert_eq!(rows.len() as i64, system);
    assert!(rows.iter().all(|r| r["type"] == "system"));

    // Two leads moved to an earlier month: two partitions.
    db.execute(
        "UPDATE leads SET created_at = '2025-03-10 12:00:00' WHERE id IN (1, 2)",
        [],
    )
    .unwrap();
    // An incremental delta first (one file per run and month), then a full export: the full
    // export is the whole truth and the delta files go.
    let r = export(
        &w,
        "sb.db",
        &["--out", "lake", "--partition-by", "month", "--incremental"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let deltas = walk(&w.path("lake"));
    assert_eq!(deltas.len(), 2, "{deltas:?}");
    assert!(
        deltas
            .iter()
            .all(|p| p.to_string_lossy().contains("/part-"))
    );
    let r = export(&w, "sb.db", &["--out", "lake", "--partition-by", "month"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(deltas.iter().all(|p| !p.exists()));
    let march = w.path("lake/year=2025/month=03/data.parquet");
    assert_eq!(read_parquet(&march).len(), 2);
    let total: usize = walk(&w.path("lake"))
        .iter()
        .map(|p| read_parquet(p).len())
        .sum();
    assert_eq!(total, 10);
    // Moved back: the March partition is gone on the next full export.
    db.execute("UPDATE leads SET created_at = (SELECT created_at FROM leads WHERE id = 3) WHERE id IN (1, 2)", [])
        .unwrap();
    let r = export(&w, "sb.db", &["--out", "lake", "--partition-by", "month"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!march.exists());
    assert_eq!(walk(&w.path("lake")).len(), 1);
    let r = export(
        &w,
        "sb.db",
        &[
            "--out",
            "lake.csv",
            "--partition-by",
            "month",
            "--format",
            "csv",
        ],
    );
    assert_eq!(r.code, 2, "{r:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|e| e == "parquet") {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_filtered_incremental_export_is_keyed_on_what_the_names_mean_and_a_quiet_rerun_is_cheap() {
    let w = with_samples();
    let run = |owner: &str, extra: &[&str]| {
        let mut a = vec![
            "--out",
            "o.csv",
            "--incremental",
            "--owner",
            owner,
            "--report",
            "r.json",
        ];
        a.extend_from_slice(extra);
        let r = export(&w, "sb.db", &a);
        (r, report(&w, "r.json"))
    };
    let r = export(&w, "sb.db", &["--out", "all.csv"]);
    assert_eq!(r.code, 0, "{r:?}");
    let admins = read_csv(&w.path("all.csv"))
        .iter()
        .filter(|r| r["owner_email"] == "admin@example.com")
        .count();
    assert!(admins > 0);
    let (r, _) = run("admin@example.com", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(read_csv(&w.path("o.csv")).len(), admins);
    // The same user by name: the same export, so the same watermark (nothing changed since).
    let (r, rep) = run("Example Admin", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(read_csv(&w.path("o.csv")).len(), 0);
    // One page, plus the one look-up table the filter names (users), no other table; and the
    // embedded sandbox's login (with an API token there is none).
    assert_eq!(rep["requests"], 3, "{rep}");
    assert_eq!(rep["pages"], 1, "{rep}");
    let endpoints: Vec<&String> = rep["endpoints"].as_object().unwrap().keys().collect();
    assert_eq!(
        endpoints,
        ["GET /leads", "GET /settings/users", "POST /login"],
        "{rep}"
    );
    // Another filter is another export.
    let (r, _) = run("admin@example.com", &["--stage", "Won"]);
    refused(&r, "another export");
}
