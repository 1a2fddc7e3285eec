//! Local stages of the import, without the network: read + map + validate rows per second,
//! for a generated CSV and XLSX (look-ups from an in-memory table, as after the one request
//! per table a run makes). Run: `cargo bench --bench pipeline`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use krayin_etl::krayin::Lookups;
use krayin_etl::krayin::model::{NamedItem, Pipeline, Stage, User};
use krayin_etl::pipeline::map::Mapper;
use krayin_etl::pipeline::map::spec::MappingFile;
use krayin_etl::pipeline::read::{self, ReadOptions};
use krayin_etl::pipeline::validate::FileChecks;

const ROWS: usize = 20_000;

pub fn lookups() -> Lookups {
    let item = |id, name: &str| NamedItem {
        id,
        name: name.into(),
        created_at: None,
        updated_at: None,
    };
    let stage = |id, code: &str, name: &str| Stage {
        id,
        code: Some(code.into()),
        name: name.into(),
        lead_value: None,
        formatted_lead_value: None,
        is_user_defined: None,
        created_at: None,
        updated_at: None,
    };
    Lookups {
        sources: vec![
            item(1, "Email"),
            item(2, "Web"),
            item(3, "Web Form"),
            item(4, "Phone"),
            item(5, "Direct"),
        ],
        types: vec![item(1, "New Business"), item(2, "Existing Business")],
        pipelines: vec![Pipeline {
            id: 1,
            name: "Default Pipeline".into(),
            is_default: Some(1),
            rotten_days: None,
            stages: vec![
                stage(1, "new", "New"),
                stage(2, "follow-up", "Follow Up"),
                stage(5, "won", "Won"),
            ],
            created_at: None,
            updated_at: None,
        }],
        users: vec![User {
            id: 1,
            name: "Example Admin".into(),
            email: "admin@example.com".into(),
            status: Some(1),
            view_permission: None,
            role: None,
            created_at: None,
            updated_at: None,
            image: None,
            image_url: None,
        }],
        attributes: vec![],
    }
}

/// A CSV like `samples/leads.csv`, `rows` long, every row valid and a new person.
pub fn write_csv(path: &Path, rows: usize) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record([
        "Company",
        "Deal",
        "Contact",
        "Email",
        "Phone",
        "Value",
        "Close date",
        "Source",
        "Owner",
        "Stage",
        "Job title",
        "Notes",
    ])
    .unwrap();
    for i in 0..rows {
        w.write_record([
            format!("Company {i}"),
            format!("Deal {i}"),
            format!("Person {i}"),
            format!("p{i}@bench.test"),
            format!("+55 11 9{:04}-{:04}", i / 10_000, i % 10_000),
            format!("{},{:03}.50", 1 + i / 1000, i % 1000),
            "2031-01-31".into(),
            "Web".into(),
            "admin@example.com".into(),
            "Follow Up".into(),
            "Buyer".into(),
            "Imported by the benchmark".into(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

fn write_xlsx(path: &Path, rows: usize) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let s = wb.add_worksheet();
    let head = [
        "Company",
        "Deal",
        "Contact",
        "Email",
        "Phone",
        "Value",
        "Close date",
        "Source",
        "Owner",
        "Stage",
        "Job title",
        "Notes",
    ];
    for (c, h) in head.iter().enumerate() {
        s.write_string(0, c as u16, *h).unwrap();
    }
    let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2031, 1, 31).unwrap();
    for i in 0..rows {
        let r = (i + 1) as u32;
        s.write_string(r, 0, format!("Company {i}")).unwrap();
        s.write_string(r, 1, format!("Deal {i}")).unwrap();
        s.write_string(r, 2, format!("Person {i}")).unwrap();
        s.write_string(r, 3, format!("p{i}@bench.test")).unwrap();
        s.write_number(r, 4, 5511900000000.0 + i as f64).unwrap();
        s.write_number(r, 5, 1000.5 + i as f64).unwrap();
        s.write_datetime_with_format(r, 6, &d, &date).unwrap();
        s.write_string(r, 7, "Web").unwrap();
        s.write_string(r, 8, "admin@example.com").unwrap();
        s.write_string(r, 9, "Follow Up").unwrap();
        s.write_string(r, 10, "Buyer").unwrap();
        s.write_string(r, 11, "Imported by the benchmark").unwrap();
    }
    wb.save(path).unwrap();
}

/// read → map → validate every row (and, as an import does, fingerprint it for the journal);
/// returns the valid count.
fn run(input: &Path, mapping: &MappingFile, lookups: &Lookups, fingerprint: bool) -> usize {
    let source = read::open(input, &ReadOptions::default()).unwrap();
    let mapper = Mapper::new(
        mapping.clone(),
        "bench.toml",
        &source.headers,
        Some(lookups),
    )
    .unwrap();
    let mut checks = FileChecks::new(None, None);
    let today = jiff::civil::date(2026, 12, 3);
    let mut valid = 0;
    for row in source.rows {
        let row = row.unwrap();
        if let Ok(lead) = mapper.map(&row, today)
            && checks.check(&row, &lead).is_ok()
        {
            if fingerprint {
                black_box(lead.fingerprint());
            }
            black_box(&lead);
            valid += 1;
        }
    }
    valid
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut mapping = MappingFile::load(&root.join("mappings/leads.toml")).unwrap();
    mapping.activities.clear();
    mapping.settings.phone_region = Some("BR".into());
    let lookups = lookups();
    let csv_path = dir.path().join("bench.csv");
    write_csv(&csv_path, ROWS);
    let xlsx_path = dir.path().join("bench.xlsx");
    write_xlsx(&xlsx_path, ROWS);
    assert_eq!(
        run(&csv_path, &mapping, &lookups, true),
        ROWS,
        "every generated row is valid"
    );
    assert_eq!(run(&xlsx_path, &mapping, &lookups, true), ROWS);
    let mut g = c.benchmark_group("read+map+validate");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.bench_function("csv", |b| {
        b.iter(|| run(&csv_path, &mapping, &lookups, false))
    });
    g.bench_function("csv+fingerprint", |b| {
        b.iter(|| run(&csv_path, &mapping, &lookups, true))
    });
    g.bench_function("xlsx", |b| {
        b.iter(|| run(&xlsx_path, &mapping, &lookups, false))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
