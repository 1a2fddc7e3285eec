//! The import, end to end through the binary, against the sandbox.

use std::time::Duration;

use krayin_etl::sandbox::{Config, Faults, Mode, RateLimit};

use serde_json::json;

use crate::util::{self, Workdir, count, sandbox_db};

fn import_sandbox(w: &Workdir, file: &str, mapping: &str, extra: &[&str]) -> util::Run {
    let mut args = vec![
        "import",
        file,
        "--mapping",
        mapping,
        "--sandbox",
        "--sandbox-db",
        "sb.db",
    ];
    args.extend_from_slice(extra);
    w.run(&args)
}

#[test]
fn the_samples_import_with_the_expected_counts_and_a_rerun_creates_nothing() {
    let w = Workdir::new();
    let r = import_sandbox(&w, "samples/leads.csv", "mappings/leads.toml", &[]);
    assert_eq!(r.code, 1, "some rows are rejected on purpose: {r:?}");
    assert!(
        r.stderr.contains(
            "15 rows: 8 created, 2 created for an existing person, 0 skipped, 5 rejected, 0 failed"
        ),
        "{r:?}"
    );
    let db = sandbox_db(&w.path("sb.db"));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM leads"), 10);
    // Jane Roe (rows 2 and 6) and John Smith (rows 3 and 17, e-mail case differs): one person each.
    assert_eq!(count(&db, "SELECT COUNT(*) FROM persons"), 8);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM persons WHERE name = 'Jane Roe'"),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM organizations WHERE name = 'ACME Corp'"
        ),
        1
    );
    // The follow-up call of the mapping, one per new lead.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM activities WHERE type = 'call'"),
        10
    );
    // Past close date: dropped (policy "drop"), lead created.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM leads WHERE title = 'Stark Industries: Expansion' AND expected_close_date IS NULL"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM leads WHERE title = 'Globex: Renewal' AND lead_value = '8000.5000'"
        ),
        1
    );

    let ok = w.csv("samples/leads.success.csv");
    assert_eq!(ok.len(), 10);
    assert_eq!(
        ok.iter()
            .filter(|l| l["outcome"] == "reused-person")
            .count(),
        2
    );
    let errors = w.csv("samples/leads.errors.csv");
    let rows: Vec<&str> = errors.iter().map(|e| e["source_row"].as_str()).collect();
    assert_eq!(rows, ["11", "12", "13", "14", "15"], "in input order");
    assert!(errors[2]["error_message"].contains("Did you mean \"Web\""));
    assert_eq!(errors[4]["error_column"], "Phone");

    let again = import_sandbox(&w, "samples/leads.csv", "mappings/leads.toml", &[]);
    assert!(
        again
            .stderr
            .contains("0 created, 0 created for an existing person, 10 skipped"),
        "{again:?}"
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM leads"),
        10,
        "the rerun created nothing"
    );
    let report: serde_json::Value =
        serde_json::from_str(&w.read("samples/.krayin-etl/leads.csv.report.json")).unwrap();
    assert!(
        report["requests"].as_u64().unwrap() <= 10,
        "a completed rerun is cheap: {report}"
    );
}

#[test]
fn brazilian_csv_and_excel_samples() {
    let w = Workdir::new();
    let r = import_sandbox(&w, "samples/leads-br.csv", "mappings/leads-br.toml", &[]);
    assert!(
        r.stderr
            .contains("9 rows: 5 created, 1 created for an existing person, 0 skipped, 3 rejected"),
        "{r:?}"
    );
    let db = sandbox_db(&w.path("sb.db"));
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM leads WHERE title = 'Padaria São João - Pães para eventos' AND lead_value = '15000.0000' AND expected_close_date = '2031-01-31'"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM persons WHERE contact_numbers LIKE '%+5511999990001%'"
        ),
        1
    );
    // "Indicação" → Direct (5), through the mapping's replace table.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM leads WHERE lead_source_id = 5"),
        2
    );

    let r = import_sandbox(
        &w,
        "samples/leads-excel.xlsx",
        "mappings/leads-excel.toml",
        &[],
    );
    assert!(
        r.stderr
            .contains("7 rows: 3 created, 1 created for an existing person, 0 skipped, 3 rejected"),
        "{r:?}"
    );
    // Real date cells and numeric phone cells.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM leads WHERE title = 'Northwind: Catalogue' AND expected_close_date = '2031-02-28' AND lead_value = '4200.5000'"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM persons WHERE contact_numbers LIKE '%+5511999990011%'"
        ),
        1
    );
    assert!(
        w.path("samples/leads-excel.errors.xlsx").exists(),
        "a spreadsheet gets a spreadsheet report"
    );
}

#[test]
fn an_existing_person_is_reused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start_logged_in(util::config()));
    let a = rt.block_on(api.post("/leads", util::lead("Existing deal", "jane@acme.test")));
    assert_eq!(a.status, 200);
    let pid = a.json()["data"]["person"]["id"].as_i64().unwrap();
    let w = Workdir::new();
    let r = w.run_with(w.against(
        &h,
        &[
            "import",
            "samples/leads.csv",
            "--mapping",
            "mappings/leads.toml",
            "--rate",
            "off",
        ],
    ));
    assert!(
        r.stderr
            .contains("7 created, 3 created for an existing person"),
        "{r:?}"
    );
    let stats = rt.block_on(api.stats());
    assert!(
        stats["duplicates"]["person_emails"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{stats}"
    );
    let ok = w.csv("samples/leads.success.csv");
    let jane: Vec<_> = ok
        .iter()
        .filter(|l| l["title"].starts_with("ACME Corp"))
        .collect();
    assert!(
        jane.iter()
            .all(|l| l["person_id"] == pid.to_string() && l["outcome"] == "reused-person")
    );
}

#[test]
fn past_close_dates_can_reject_the_row() {
    let w = Workdir::new();
    let m = w
        .read("mappings/leads.toml")
        .replace("past_close_date = \"drop\"", "past_close_date = \"reject\"");
    w.write("mappings/strict.toml", &m);
    let r = w.run(&[
        "check",
        "samples/leads.csv",
        "--mapping",
        "mappings/strict.toml",
        "--sandbox",
        "--sandbox-db",
        "sb.db",
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("9 valid, 6 rejected"), "{r:?}");
    let errors = w.csv("samples/leads.errors.csv");
    assert!(
        errors
            .iter()
            .any(|e| e["source_row"] == "10" && e["error_message"].contains("before today"))
    );
    let db = sandbox_db(&w.path("sb.db"));
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM leads"),
        0,
        "check writes nothing"
    );
}

#[test]
fn max_errors_stops_cleanly_and_a_rerun_finishes() {
    let w = Workdir::new();
    let r = import_sandbox(
        &w,
        "samples/leads.csv",
        "mappings/leads.toml",
        &[
            "--max-errors",
            "2",
            "--batch-size",
            "1",
            "--concurrency",
            "1",
        ],
    );
    assert_eq!(r.code, 3, "{r:?}");
    let db = sandbox_db(&w.path("sb.db"));
    let first = count(&db, "SELECT COUNT(*) FROM leads");
    assert!(first < 10, "stopped before the end: {first}");
    let r = import_sandbox(&w, "samples/leads.csv", "mappings/leads.toml", &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM leads"), 10);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM (SELECT title FROM leads GROUP BY title, person_id HAVING COUNT(*) > 1)"
        ),
        0
    );
}

#[test]
fn production_throttling_is_survived() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start(Config {
        mode: Mode::Production,
        rate_limit: Some(RateLimit {
            max: 8,
            per: Duration::from_secs(1),
        }),
        ..Config::default()
    }));
    let w = Workdir::new();
    let args = [
        "import",
        "samples/leads.csv",
        "--mapping",
        "mappings/leads.toml",
        "--rate",
        "off",
        "--concurrency",
        "8",
        "--throttle-wait",
        "1s",
    ];
    // Unpaced, eight at a time against 8/s: most writes are refused with a bare 500. Each is
    // settled by a look-up; a row still unsettled after several rounds is reported as such,
    // and the next run (as a nightly job would) settles it. Nothing is ever written twice.
    let mut r = w.run_with(w.against(&h, &args));
    for _ in 0..3 {
        if !r.stderr.contains(" failed") || r.stderr.contains(" 0 failed") {
            break;
        }
        let report = w.read("samples/leads.errors.csv");
        assert!(
            report.contains(krayin_etl::pipeline::write::UNSETTLED),
            "{report}"
        );
        r = w.run_with(w.against(&h, &args));
    }
    assert!(r.stderr.contains("5 rejected, 0 failed"), "{r:?}");
    let stats = rt.block_on(api.stats());
    assert!(
        stats["requests"]["throttled"].as_u64().unwrap() > 0,
        "the test must provoke throttling: {stats}"
    );
    assert_eq!(stats["counts"]["leads"], 10);
    assert!(stats["duplicates"]["leads"].as_array().unwrap().is_empty());
    assert!(
        stats["duplicates"]["person_emails"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A CSV of `n` new people, one lead each.
fn many(n: usize) -> String {
    let mut s = String::from(
        "Company,Deal,Contact,Email,Phone,Value,Close date,Source,Owner,Stage,Job title,Notes\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "Co {i},Deal {i},Person {i},p{i}@many.test,,{i}00,2031-01-01,Web,,,,\n"
        ));
    }
    s
}

#[test]
fn interrupted_then_rerun_writes_each_lead_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start(Config {
        rate_limit: None,
        faults: Faults {
            latency: "40ms".parse().unwrap(),
            ..Faults::default()
        },
        ..Config::default()
    }));
    let w = Workdir::new();
    w.write("samples/many.csv", &many(60));
    let child = w
        .against(
            &h,
            &[
                "import",
                "samples/many.csv",
                "--mapping",
                "mappings/leads.toml",
                "--rate",
                "off",
                "--concurrency",
                "2",
            ],
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it write some leads, then Ctrl-C.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rt.block_on(api.stats())["counts"]["leads"]
        .as_u64()
        .unwrap()
        < 5
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never started writing"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let mid = rt.block_on(api.stats())["counts"]["leads"]
        .as_u64()
        .unwrap();
    assert!(mid < 60, "interrupted before the end ({mid})");
    let r = w.run_with(w.against(
        &h,
        &[
            "import",
            "samples/many.csv",
            "--mapping",
            "mappings/leads.toml",
            "--rate",
            "off",
        ],
    ));
    assert_eq!(r.code, 0, "{r:?}");
    let stats = rt.block_on(api.stats());
    assert_eq!(stats["counts"]["leads"], 60, "{stats}");
    assert_eq!(stats["counts"]["persons"], 60);
    assert!(stats["duplicates"]["leads"].as_array().unwrap().is_empty());
}

#[test]
fn killed_at_random_moments_then_rerun_writes_each_lead_once() {
    // Random kill points, different each run; `KILL_SEED=<n>` replays a failure.
    let seed: u64 = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let mut state = seed | 1;
    let mut random = |n: u64| {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut targets: Vec<u64> = (0..3).map(|_| 1 + random(75)).collect();
    targets.sort_unstable();
    let pauses: Vec<u64> = (0..3).map(|_| random(30)).collect();
    let context = format!("KILL_SEED={seed} (kills after {targets:?} leads, +{pauses:?} ms)");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start(Config {
        rate_limit: None,
        faults: Faults {
            latency: "5ms..40ms".parse().unwrap(),
            seed,
            ..Faults::default()
        },
        ..Config::default()
    }));
    let w = Workdir::new();
    w.write("samples/many.csv", &many(80));
    let args = [
        "import",
        "samples/many.csv",
        "--mapping",
        "mappings/leads.toml",
        "--rate",
        "off",
        "--concurrency",
        "4",
    ];
    for (target, pause) in targets.iter().zip(&pauses) {
        let mut child = w
            .against(&h, &args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let n = rt.block_on(api.stats())["counts"]["leads"]
                .as_u64()
                .unwrap();
            if n >= *target || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{context}");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Somewhere between two requests, or in the middle of one.
        std::thread::sleep(Duration::from_millis(*pause));
        let _ = child.kill(); // SIGKILL: no clean-up at all
        let _ = child.wait();
    }
    let r = w.run_with(w.against(&h, &args));
    assert_eq!(r.code, 0, "{context}: {r:?}");
    let stats = rt.block_on(api.stats());
    assert_eq!(stats["counts"]["leads"], 80, "{context}: {stats}");
    assert_eq!(stats["counts"]["persons"], 80, "{context}: {stats}");
    assert!(
        stats["duplicates"]["leads"].as_array().unwrap().is_empty(),
        "{context}: {stats}"
    );
    let ok = w.csv("samples/many.success.csv");
    assert_eq!(
        ok.len(),
        80,
        "{context}: every row accounted for in the last run's success file"
    );
    // The report names exactly the leads and persons the CRM holds, each row its own lead.
    let mut api = api;
    let in_report = util::success_ids(&ok);
    assert_eq!(in_report.len(), 80, "{context}: one lead per row");
    assert_eq!(util::crm_leads(&rt, &mut api), in_report, "{context}");
}

#[test]
fn a_second_import_on_the_same_state_dir_is_refused() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path("samples/.krayin-etl")).unwrap();
    // PID 1 is alive: the lock is held.
    w.write("samples/.krayin-etl/leads.csv.lock", "1");
    let r = import_sandbox(&w, "samples/leads.csv", "mappings/leads.toml", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("another import"), "{r:?}");
}

#[test]
fn a_bad_mapping_is_refused_before_any_row() {
    let w = Workdir::new();
    w.write(
        "mappings/bad.toml",
        "[lead.title]\ncolumn = \"Compnay\"\n[person.name]\ncolumn = \"Contact\"\n",
    );
    let r = w.run(&[
        "check",
        "samples/leads.csv",
        "--mapping",
        "mappings/bad.toml",
        "--offline",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("mappings/bad.toml")
            && r.stderr.contains("lead.title")
            && r.stderr.contains("Did you mean \"Company\""),
        "{r:?}"
    );
    w.write("mappings/typo.toml", "[lead.titel]\ncolumn = \"Company\"\n");
    let r = w.run(&[
        "check",
        "samples/leads.csv",
        "--mapping",
        "mappings/typo.toml",
        "--offline",
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("lead.title"), "{r:?}");
}

#[test]
fn organizations_with_an_address_are_created_with_it_once() {
    let w = Workdir::new();
    w.write(
        "samples/orgs.csv",
        "Company,Contact,Email,City,Country\nACME,Ann,ann@acme.test,Lisbon,PT\nACME,Bob,bob@acme.test,Lisbon,PT\nInitech,Cy,cy@initech.test,,\n",
    );
    w.write(
        "mappings/orgs.toml",
        "[lead.title]\ntemplate = \"{Company} - {Contact}\"\n[person.name]\ncolumn = \"Contact\"\n[person.emails]\ncolumn = \"Email\"\n\
         [organization.name]\ncolumn = \"Company\"\n[organization.city]\ncolumn = \"City\"\n[organization.country]\ncolumn = \"Country\"\n",
    );
    let r = import_sandbox(&w, "samples/orgs.csv", "mappings/orgs.toml", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let db = sandbox_db(&w.path("sb.db"));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM organizations"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM organizations WHERE name = 'ACME' AND json_extract(address, '$.city') = 'Lisbon'"
        ),
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM persons p JOIN organizations o ON o.id = p.organization_id WHERE o.name = 'ACME'"
        ),
        2
    );
}

#[test]
fn upsert_updates_without_wiping_and_refuses_to_overwrite_changes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start_logged_in(util::config()));
    let w = Workdir::new();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "samples/leads.csv",
            "--mapping",
            "mappings/leads.toml",
            "--rate",
            "off",
            "--mode",
            "upsert",
        ];
        args.extend_from_slice(extra);
        w.run_with(w.with_token(&h, api.token.as_deref().unwrap(), &args))
    };
    let r = import(&[]);
    assert!(
        r.stderr
            .contains("8 created, 2 created for an existing person"),
        "{r:?}"
    );
    let lead = |title: &str| {
        let l = rt.block_on(api.get("/leads?pagination=0")).json();
        l["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["title"] == title)
            .unwrap()
            .clone()
    };
    let acme = lead("ACME Corp: 50 seats");
    let id = acme["id"].as_i64().unwrap();
    // A product line added in Krayin must survive the update.
    let p = rt.block_on(api.post(
        "/products",
        json!({"name": "Seat", "sku": "S1", "price": "10", "quantity": 1}),
    ));
    let pid = p.json()["data"]["id"].as_i64().unwrap();
    let a = rt.block_on(api.put(
        &format!("/leads/product/{id}"),
        json!({"product_id": pid, "quantity": 2, "price": "10"}),
    ));
    assert_eq!(a.status, 200, "{a:?}");
    std::thread::sleep(Duration::from_millis(1100)); // updated_at has whole seconds
    // The file changes the value of that row: an upsert updates it.
    let csv = w.read("samples/leads.csv").replace("12500.00", "13000.00");
    w.write("samples/leads.csv", &csv);
    let r = import(&["--overwrite"]);
    assert!(r.stderr.contains("1 updated"), "{r:?}");
    let after = lead("ACME Corp: 50 seats");
    assert_eq!(after["id"], acme["id"], "the same lead");
    assert_eq!(after["lead_value"], "13000.0000");
    assert_eq!(
        after["lead_products"].as_array().unwrap().len(),
        1,
        "products kept"
    );
    assert_eq!(
        after["expected_close_date"], acme["expected_close_date"],
        "close date kept"
    );
    assert_eq!(
        after["lead_pipeline_stage_id"],
        acme["lead_pipeline_stage_id"]
    );
    assert_eq!(
        rt.block_on(api.stats())["counts"]["leads"],
        10,
        "nothing created"
    );

    // Someone edits the lead in Krayin; the next upsert refuses to overwrite it…
    std::thread::sleep(Duration::from_millis(1100));
    let e = rt.block_on(api.put(
        &format!("/leads/attributes/edit/{id}"),
        json!({"description": "edited by hand", "expected_close_date": "2031-01-31"}),
    ));
    assert_eq!(e.status, 200);
    let csv = w.read("samples/leads.csv").replace("13000.00", "14000.00");
    w.write("samples/leads.csv", &csv);
    let r = import(&[]);
    assert_eq!(r.code, 1, "{r:?}");
    let errors = w.csv("samples/leads.errors.csv");
    assert!(
        errors
            .iter()
            .any(|e| e["error_message"].contains("changed in Krayin")),
        "{errors:?}"
    );
    assert_eq!(lead("ACME Corp: 50 seats")["lead_value"], "13000.0000");
    // …unless told to.
    let r = import(&["--overwrite"]);
    assert!(r.stderr.contains("1 updated"), "{r:?}");
    assert_eq!(lead("ACME Corp: 50 seats")["lead_value"], "14000.0000");
}

#[test]
fn an_external_id_key_finds_the_lead_this_tool_wrote() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start_logged_in(util::config()));
    let a = rt.block_on(api.post(
        "/settings/attributes",
        json!({"code": "external_id", "name": "External id", "type": "text", "entity_type": "leads"}),
    ));
    assert_eq!(a.status, 200, "{a:?}");
    let w = Workdir::new();
    w.write(
        "samples/ext.csv",
        "Ref,Deal,Contact,Email\nX-1,First title,Ann,ann@x.test\nX-2,Other,Bob,bob@x.test\n",
    );
    w.write(
        "mappings/ext.toml",
        "[settings]\nkey = [\"attributes.external_id\"]\n[lead.title]\ncolumn = \"Deal\"\n[person.name]\ncolumn = \"Contact\"\n\
         [person.emails]\ncolumn = \"Email\"\n[attributes.external_id]\ncolumn = \"Ref\"\n",
    );
    let token = api.token.clone().unwrap();
    let import = |mode: &str| {
        w.run_with(w.with_token(
            &h,
            &token,
            &[
                "import",
                "samples/ext.csv",
                "--mapping",
                "mappings/ext.toml",
                "--rate",
                "off",
                "--mode",
                mode,
            ],
        ))
    };
    let r = import("skip-existing");
    assert_eq!(r.code, 0, "{r:?}");
    // The title changes in the source; the external id does not.
    w.write(
        "samples/ext.csv",
        "Ref,Deal,Contact,Email\nX-1,Renamed title,Ann,ann@x.test\nX-2,Other,Bob,bob@x.test\n",
    );
    let r = import("skip-existing");
    assert!(
        r.stderr.contains("0 created") && r.stderr.contains("2 skipped"),
        "{r:?}"
    );
    let r = import("upsert");
    assert!(r.stderr.contains("1 updated"), "{r:?}");
    let leads = rt.block_on(api.get("/leads?pagination=0")).json();
    let titles: Vec<&str> = leads["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"Renamed title"));
}

#[test]
fn custom_attribute_rules_are_checked_and_krayins_422_points_at_the_column() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (h, api) = rt.block_on(util::start_logged_in(util::config()));
    let a = rt.block_on(api.post(
        "/settings/attributes",
        json!({"code": "erp_id", "name": "ERP id", "type": "text", "entity_type": "leads",
               "validation": "numeric", "is_unique": 1}),
    ));
    assert_eq!(a.status, 200, "{a:?}");
    let w = Workdir::new();
    // Row 3: not a number (refused before sending); row 4: the id of row 2 again (only Krayin
    // knows it is taken: its 422 lands in the error report, on the ERP column).
    w.write(
        "samples/erp.csv",
        "ERP,Deal,Contact,Email\n100,A,Ann,ann@x.test\nabc,B,Bob,bob@x.test\n100,C,Cy,cy@x.test\n",
    );
    w.write(
        "mappings/erp.toml",
        "[lead.title]\ncolumn = \"Deal\"\n[person.name]\ncolumn = \"Contact\"\n[person.emails]\ncolumn = \"Email\"\n\
         [attributes.erp_id]\ncolumn = \"ERP\"\n",
    );
    let token = api.token.clone().unwrap();
    let r = w.run_with(w.with_token(
        &h,
        &token,
        &[
            "import",
            "samples/erp.csv",
            "--mapping",
            "mappings/erp.toml",
            "--rate",
            "off",
            // Rows 2 and 4 race for the same unique value: one at a time, row 2 wins.
            "--concurrency",
            "1",
        ],
    ));
    assert_eq!(r.code, 1, "{r:?}");
    let errors = w.csv("samples/erp.errors.csv");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["source_row"], "3");
    assert_eq!(errors[0]["error_stage"], "validate");
    assert!(
        errors[0]["error_message"].contains("a number"),
        "{errors:?}"
    );
    assert_eq!(errors[1]["source_row"], "4");
    assert_eq!(errors[1]["error_stage"], "write");
    assert_eq!(errors[1]["error_field"], "attributes.erp_id");
    assert_eq!(errors[1]["error_column"], "ERP");
    assert!(
        errors[1]["error_message"].contains("already been taken"),
        "{errors:?}"
    );
}
