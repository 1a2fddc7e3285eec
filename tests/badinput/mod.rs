//! The bad-input corpus (`tests/data/bad/`): every file ends in a clear message naming it and a
//! documented exit code (0, 1 or 2), never a panic.

use crate::util::Workdir;

/// Copies a corpus file into the workdir and runs `check --offline` on it.
fn check(w: &Workdir, file: &str, mapping: &str) -> crate::util::Run {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad");
    for f in [file, mapping] {
        if !w.path(f).exists() && root.join(f).exists() {
            std::fs::copy(root.join(f), w.path(f)).unwrap();
        }
    }
    w.run(&["check", file, "--mapping", mapping, "--offline"])
}

fn sane(r: &crate::util::Run) {
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    assert!([0, 1, 2].contains(&r.code), "{r:?}");
}

#[test]
fn every_corpus_file_gets_a_clear_answer() {
    let w = Workdir::new();
    // A NUL byte is just a character: the row is read, its e-mail valid.
    let r = check(&w, "nul.csv", "minimal.toml");
    sane(&r);
    assert!(
        r.stderr.contains("2 rows read") && r.stderr.contains("2 valid"),
        "{r:?}"
    );

    // Mixed encodings: a UTF-8 line and a Windows-1252 line, each read in its own encoding.
    let r = check(&w, "mixed-encoding.csv", "minimal.toml");
    sane(&r);
    assert!(r.stderr.contains("2 valid"), "{r:?}");
    // …and so they reach Krayin as written (the UTF-8 line was "JoÃ£o" before).
    let r = w.run(&[
        "import",
        "mixed-encoding.csv",
        "--mapping",
        "minimal.toml",
        "--sandbox",
        "--sandbox-db",
        "sb.db",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("the file mixes encodings"), "{r:?}");
    let db = crate::util::sandbox_db(&w.path("sb.db"));
    let names: Vec<String> = db
        .prepare("SELECT name FROM persons ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, ["Conceição", "João"]);

    // Formula cells: refused where invalid (the e-mail), neutralized in the error report.
    let r = check(&w, "formulas.csv", "minimal.toml");
    sane(&r);
    assert_eq!(r.code, 1, "{r:?}");
    let report = w.read("formulas.errors.csv");
    assert!(
        report.contains("'+cmd|calc") && report.contains("'@SUM(A1)"),
        "{report}"
    );

    // Emoji and right-to-left text are ordinary text.
    let r = check(&w, "emoji-rtl.csv", "minimal.toml");
    sane(&r);
    assert_eq!(r.code, 0, "{r:?}");

    // A truncated workbook: refused with the file named and what to do.
    let r = check(&w, "truncated.xlsx", "minimal.toml");
    sane(&r);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("truncated.xlsx") && r.stderr.contains("save it again"),
        "{r:?}"
    );

    // The message says it once (the cause is not repeated after the hint).
    assert_eq!(r.stderr.matches("Could not find EOCD").count(), 1, "{r:?}");

    // A zip bomb that lies about its size (its sheet declares 1 KB, inflates to 16 MB): the
    // directory check believes it, the zip reader stops at the declared size.
    let r = check(&w, "liar.xlsx", "minimal.toml");
    sane(&r);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("liar.xlsx") && r.stderr.contains("larger than its declared"),
        "{r:?}"
    );

    // An ODS whose repeat attributes claim 99 million cells in 1.6 KB (calamine would load
    // them, ~12 GB): refused from a scan of its XML, before loading.
    let r = check(&w, "repeat.ods", "minimal.toml");
    sane(&r);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("repeat.ods") && r.stderr.contains("99000003 cells"),
        "{r:?}"
    );

    // A zip bomb: refused before anything is decompressed.
    let r = check(&w, "bomb.xlsx", "minimal.toml");
    sane(&r);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("bomb.xlsx") && r.stderr.contains("zip bomb"),
        "{r:?}"
    );

    // A mapping full of mistakes: every one in one message, each with its key, and a hint
    // where one is close.
    let r = check(&w, "nul.csv", "mapping-mistakes.toml");
    sane(&r);
    assert_eq!(r.code, 2, "{r:?}");
    for needle in [
        "mapping-mistakes.toml: 16 mistakes",
        "source.delimiter: delimiter \"::\" must be a single character",
        "person.phones: ",
        "activities[1].every: bad duration \"often\"",
        "settings.timezone: unknown time zone \"Mars/Olympus\"",
        "settings.key: unknown key field \"email\"",
        "lead.titel: unknown key. Did you mean `lead.title`?",
        "lead.title: every lead needs a title",
        "lead.lead_value: the file has no column \"Value\"",
        "klingon",
        "dd/mm",
        "lead.description: template \"{Notes} for {Contact}\" names column \"Notes\"",
        "person.name.colum: unknown key. Did you mean `person.name.column`?",
        "person.name: unknown case \"shout\"",
        "person.emails: set only one of column, template and value",
        "activities[1].type: unknown activity type \"visit\"",
        "activities[1].after: bad duration \"tomorrow\"",
    ] {
        assert!(r.stderr.contains(needle), "{needle:?} missing: {r:?}");
    }
    // …before any row is read: no report.
    assert!(!w.path("nul.errors.csv").exists());

    // A syntax error stops the parser: its line is named.
    let r = check(&w, "nul.csv", "mapping-syntax.toml");
    sane(&r);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("mapping-syntax.toml: line 3, column 18:")
            && r.stderr.contains("`column = \"Company`"),
        "{r:?}"
    );
    // A value of the wrong type: the key and what it takes.
    let r = check(&w, "nul.csv", "mapping-type.toml");
    sane(&r);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("mapping-type.toml") && r.stderr.contains("bool"),
        "{r:?}"
    );
}

#[test]
fn huge_rows_and_cells_are_read_without_trouble() {
    let w = Workdir::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bad/minimal.toml");
    std::fs::copy(root, w.path("minimal.toml")).unwrap();
    // 10,000 columns.
    let mut head: Vec<String> = vec!["Company".into(), "Contact".into(), "Email".into()];
    head.extend((3..10_000).map(|i| format!("c{i}")));
    let mut row: Vec<String> = vec!["ACME".into(), "Ann".into(), "ann@x.test".into()];
    row.extend((3..10_000).map(|i| i.to_string()));
    w.write(
        "wide.csv",
        &format!("{}\n{}\n", head.join(","), row.join(",")),
    );
    let r = w.run(&[
        "check",
        "wide.csv",
        "--mapping",
        "minimal.toml",
        "--offline",
    ]);
    sane(&r);
    assert_eq!(r.code, 0, "{r:?}");
    // A 1 MB cell in a mapped column: refused (Krayin keeps 255 characters), not a crash.
    let big = "x".repeat(1 << 20);
    w.write(
        "bigcell.csv",
        &format!("Company,Contact,Email\n{big},Ann,ann@x.test\nACME,Bob,bob@x.test\n"),
    );
    let r = w.run(&[
        "check",
        "bigcell.csv",
        "--mapping",
        "minimal.toml",
        "--offline",
    ]);
    sane(&r);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("1 valid, 1 rejected"), "{r:?}");
    // The error report keeps the original cell whole, so it can be fixed by hand.
    assert!(w.read("bigcell.errors.csv").len() > 1 << 20);
}
