//! Mapping of rows against a fake Krayin look-up set.

use std::sync::Arc;

use super::spec::MappingFile;
use super::*;
use crate::krayin::model::{NamedItem, Pipeline, Stage as KStage, User};
use crate::record::Provenance;

fn item(id: u64, name: &str) -> NamedItem {
    NamedItem {
        id,
        name: name.into(),
        created_at: None,
        updated_at: None,
    }
}

pub fn lookups() -> Lookups {
    let stage = |id: u64, code: &str, name: &str| KStage {
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
            id: 7,
            name: "Maria Souza".into(),
            email: "maria@acme.test".into(),
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

fn headers() -> Vec<String> {
    [
        "Empresa",
        "Contato",
        "E-mail",
        "Telefone",
        "Valor",
        "Previsão",
        "Fonte",
        "Responsável",
        "Etapa",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

const MAPPING: &str = r#"
[settings]
timezone = "America/Sao_Paulo"
number_locale = "pt-BR"
date_formats = ["%d/%m/%Y", "iso"]
phone_region = "BR"
past_close_date = "reject"
[lead.title]
template = "{Empresa} - {Contato}"
[lead.lead_value]
column = "Valor"
[lead.expected_close_date]
column = "Previsão"
[lead.source]
column = "Fonte"
default = "Web"
replace = { "Site" = "Web" }
[lead.type]
value = "New Business"
[lead.stage]
column = "etapa"
[lead.owner]
column = "responsavel"
[person.name]
column = "Contato"
case = "title"
[person.emails]
column = "E-mail"
split = ";,"
[person.phones]
column = "Telefone"
split = ";"
[organization.name]
column = "Empresa"
"#;

fn mapper() -> Mapper {
    let spec: MappingFile = toml::from_str(MAPPING).unwrap();
    Mapper::new(spec, "m.toml", &headers(), Some(&lookups())).unwrap()
}

fn row(cells: &[&str]) -> Row {
    Row {
        provenance: Provenance {
            file: Arc::from("in.csv"),
            sheet: None,
            row: 2,
        },
        cells: cells.iter().map(|s| s.to_string()).collect(),
    }
}

fn today() -> jiff::civil::Date {
    jiff::civil::date(2026, 12, 3)
}

#[test]
fn a_good_row_maps_to_krayin_terms() {
    let m = mapper();
    let l = m
        .map(
            &row(&[
                "ACME",
                "jane ROE",
                "Jane@acme.test; j@acme.test",
                "(11) 99999-0000",
                "15.000,50",
                "31/01/2030",
                "site",
                "MARIA@acme.test",
                "Follow Up",
            ]),
            today(),
        )
        .unwrap();
    assert_eq!(l.title, "ACME - jane ROE");
    assert_eq!(l.person.name, "Jane Roe");
    assert_eq!(l.person.emails, ["Jane@acme.test", "j@acme.test"]);
    assert_eq!(l.person.phones, ["+5511999990000"]);
    assert_eq!(l.lead_value.as_deref(), Some("15000.5"));
    assert_eq!(l.expected_close_date, Some(jiff::civil::date(2030, 1, 31)));
    assert_eq!(l.source_id, Some(2), "replace Site→Web, case-insensitive");
    assert_eq!(l.type_id, Some(1));
    assert_eq!(l.stage_id, Some(2));
    assert_eq!(l.user_id, Some(7));
    assert_eq!(l.organization.as_ref().unwrap().name, "ACME");
    let body = l.body(None, None, "work");
    assert_eq!(body["lead_pipeline_stage_id"], 2);
    assert_eq!(body["person"]["emails"][0]["value"], "Jane@acme.test");
    assert_eq!(body["person"]["organization_name"], "ACME");
    assert_eq!(
        l.body(Some(9), None, "work")["person"],
        serde_json::json!({"id": 9})
    );
    assert_eq!(
        l.body(None, Some(4), "work")["person"]["organization_id"],
        4
    );
}

#[test]
fn every_problem_of_a_row_is_reported() {
    let m = mapper();
    let r = m
        .map(
            &row(&[
                "",
                "",
                "not-an-email",
                "123",
                "-5",
                "01/01/2020",
                "Webb",
                "nobody",
                "nowhere",
            ]),
            today(),
        )
        .unwrap_err();
    let fields: Vec<&str> = r.problems.iter().map(|p| p.field.as_str()).collect();
    for f in [
        "lead.title",
        "person.name",
        "person.emails",
        "person.phones",
        "lead.lead_value",
        "lead.expected_close_date",
        "lead.source",
        "lead.owner",
        "lead.stage",
    ] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let source = r
        .problems
        .iter()
        .find(|p| p.field == "lead.source")
        .unwrap();
    assert!(
        source.message.contains("Did you mean \"Web\""),
        "{}",
        source.message
    );
    assert_eq!(source.column.as_deref(), Some("Fonte"));
    assert_eq!(source.value, "Webb");
    assert_eq!(r.stage, Stage::Map);
}

#[test]
fn defaults_fill_empty_cells_and_stage_defaults_to_the_first() {
    let m = mapper();
    let l = m
        .map(
            &row(&["ACME", "Jane", "jane@acme.test", "", "", "", "", "", ""]),
            today(),
        )
        .unwrap();
    assert_eq!(l.source_id, Some(2), "default Web");
    assert_eq!(l.stage_id, Some(1), "first stage of the default pipeline");
    assert_eq!(l.lead_value, None);
}

#[test]
fn past_dates_follow_the_policy() {
    let mut spec: MappingFile = toml::from_str(MAPPING).unwrap();
    let cells = [
        "ACME",
        "Jane",
        "jane@acme.test",
        "",
        "1",
        "02/12/2026",
        "",
        "",
        "",
    ];
    let m = Mapper::new(spec.clone(), "m.toml", &headers(), Some(&lookups())).unwrap();
    assert!(m.map(&row(&cells), today()).is_err(), "reject");
    spec.settings.past_close_date = PastDatePolicy::Drop;
    let m = Mapper::new(spec, "m.toml", &headers(), Some(&lookups())).unwrap();
    let l = m.map(&row(&cells), today()).unwrap();
    assert_eq!(l.expected_close_date, None);
    assert_eq!(l.warnings.len(), 1);
    let today_ok = [
        "ACME",
        "Jane",
        "jane@acme.test",
        "",
        "1",
        "03/12/2026",
        "",
        "",
        "",
    ];
    assert!(
        m.map(&row(&today_ok), today())
            .unwrap()
            .expected_close_date
            .is_some()
    );
}

#[test]
fn krayin_limits_are_enforced() {
    let m = mapper();
    let long = "x".repeat(300);
    let r = m
        .map(
            &row(&[
                &long,
                "Jane",
                "jane@acme.test",
                "",
                "123456789",
                "",
                "",
                "",
                "",
            ]),
            today(),
        )
        .unwrap_err();
    assert_eq!(r.stage, Stage::Validate);
    assert!(
        r.problems
            .iter()
            .any(|p| p.field == "lead.title" && p.message.contains("255"))
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.field == "lead.lead_value" && p.message.contains("99,999,999"))
    );
    let r = m
        .map(
            &row(&["A", "Jane", "jane@acme.test", "", "1,23456", "", "", "", ""]),
            today(),
        )
        .unwrap_err();
    assert!(r.problems[0].message.contains("4 decimals"));
}

#[test]
fn bad_mappings_are_refused_before_reading() {
    let h = headers();
    let bad = |toml_text: &str| {
        let spec: MappingFile = toml::from_str(toml_text).unwrap();
        Mapper::new(spec, "m.toml", &h, Some(&lookups()))
            .err()
            .map(|e| e.to_string())
    };
    let base = "[lead.title]\nvalue = \"t\"\n[person.name]\ncolumn = \"Contato\"\n";
    let e = bad(&format!("{base}[lead.lead_value]\ncolumn = \"Vallor\"\n")).unwrap();
    assert!(
        e.contains("m.toml")
            && e.contains("lead.lead_value")
            && e.contains("Did you mean \"Valor\""),
        "{e}"
    );
    let e = bad(&format!("{base}[lead.source]\nvalue = \"Webb\"\n")).unwrap();
    assert!(e.contains("Did you mean \"Web\""), "{e}");
    let e = bad(&format!(
        "{base}[lead.lead_value]\ncolumn = \"Valor\"\nnumber_locale = \"klingon\"\n"
    ))
    .unwrap();
    assert!(e.contains("klingon"), "{e}");
    let e = bad(&format!(
        "{base}[lead.expected_close_date]\ncolumn = \"Previsão\"\ndate_formats = [\"dd/mm\"]\n"
    ))
    .unwrap();
    assert!(e.contains("dd/mm"), "{e}");
    let e = bad(&format!(
        "{base}[attributes.external_id]\ncolumn = \"Valor\"\n"
    ))
    .unwrap();
    assert!(e.contains("Settings"), "{e}");
    let e = bad("[lead.title]\ncolumn = \"Empresa\"\ntemplate = \"x\"\n[person.name]\ncolumn = \"Contato\"\n").unwrap();
    assert!(e.contains("only one"), "{e}");
    let e = bad("[person.name]\ncolumn = \"Contato\"\n").unwrap();
    assert!(e.contains("lead.title"), "{e}");
    let e = bad(&format!("{base}[settings]\ntimezone = \"Mars/Olympus\"\n")).unwrap();
    assert!(e.contains("Mars/Olympus"), "{e}");

    // A bad setting every field falls back on is one mistake, under its own key.
    let e = bad(&format!(
        "{base}[lead.lead_value]\ncolumn = \"Valor\"\n[person.emails]\ncolumn = \"E-mail\"\n\
         [settings]\nnumber_locale = \"pt-PT\"\n"
    ))
    .unwrap();
    assert!(e.starts_with("m.toml: settings.number_locale: "), "{e}");
    // A wrong pipeline is not reported again as a wrong stage; several mistakes are all
    // listed, one a line.
    let e = bad(&format!(
        "{base}[lead.pipeline]\nvalue = \"Vendass\"\n[lead.stage]\nvalue = \"New\"\n\
         [lead.source]\nvalue = \"Webb\"\n"
    ))
    .unwrap();
    assert!(e.starts_with("m.toml: 2 mistakes"), "{e}");
    assert!(
        e.contains("\n  lead.pipeline: ") && e.contains("\n  lead.source: "),
        "{e}"
    );
    assert!(!e.contains("lead.stage"), "{e}");
}

#[test]
fn fingerprints_depend_on_content_only() {
    let m = mapper();
    let cells = ["ACME", "Jane", "jane@acme.test", "", "1", "", "", "", ""];
    let a = m.map(&row(&cells), today()).unwrap();
    let mut r = row(&cells);
    r.provenance.row = 99;
    let b = m.map(&r, today()).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    let c = m
        .map(
            &row(&["ACME", "Jane", "jane@acme.test", "", "2", "", "", "", ""]),
            today(),
        )
        .unwrap();
    assert_ne!(a.fingerprint(), c.fingerprint());
    // The journal's keys from earlier runs stay valid: the hash of the lead's JSON text, its
    // first 16 bytes in hex, however it is computed.
    use sha2::{Digest, Sha256};
    let text = serde_json::to_string(&a).unwrap();
    assert_eq!(
        a.fingerprint(),
        hex::encode(&Sha256::digest(text.as_bytes())[..16])
    );
}

#[test]
fn offline_mapping_checks_everything_but_names() {
    let spec: MappingFile = toml::from_str(MAPPING).unwrap();
    let m = Mapper::new(spec, "m.toml", &headers(), None).unwrap();
    assert!(!m.resolves_names());
    let l = m
        .map(
            &row(&[
                "ACME",
                "Jane",
                "jane@acme.test",
                "",
                "",
                "",
                "Nonsense",
                "",
                "",
            ]),
            today(),
        )
        .unwrap();
    assert_eq!(l.source_id, None);
}

proptest::proptest! {
    /// The one-value shortcut of `split_values` answers as the plain split does, for one to
    /// four separators, ASCII or not.
    #[test]
    fn split_values_is_the_plain_split(
        t in "[ a;,|é\u{a0}\t]{0,12}",
        seps in proptest::sample::select(vec![";", ";,", ";,|", ";,|é", "é", ",é"]),
    ) {
        let seps: Vec<char> = seps.chars().collect();
        let plain: Vec<&str> = t
            .split(|c| seps.contains(&c))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        proptest::prop_assert_eq!(split_values(&t, &seps).to_vec(), plain);
    }

    /// `convert::trim` is `str::trim`.
    #[test]
    fn trim_is_str_trim(t in "[ a~!\t\n\u{a0}\u{3000}é]{0,6}") {
        proptest::prop_assert_eq!(convert::trim(&t), t.trim());
    }
}
