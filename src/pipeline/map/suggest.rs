//! `mapping suggest`: a starter mapping from a file's header, by matching column names
//! (English and Portuguese, case- and accent-insensitively) to target fields.
//!
//! The result is a TOML mapping with a comment per field saying which column it came from,
//! and the columns nothing matched listed at the end, for the user to finish by hand.

use super::convert::fold;

/// Target → words that name it in real spreadsheets (folded forms).
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "organization.name",
        &[
            "company",
            "organization",
            "organisation",
            "account",
            "empresa",
            "organizacao",
            "cliente",
            "razao social",
            "nome fantasia",
        ],
    ),
    (
        "person.name",
        &[
            "contact",
            "contact name",
            "name",
            "full name",
            "person",
            "contato",
            "nome",
            "nome do contato",
            "pessoa",
        ],
    ),
    (
        "person.emails",
        &[
            "email",
            "e-mail",
            "emails",
            "e-mails",
            "mail",
            "email address",
            "correio",
        ],
    ),
    (
        "person.phones",
        &[
            "phone",
            "telephone",
            "mobile",
            "cell",
            "phone number",
            "telefone",
            "celular",
            "fone",
            "whatsapp",
            "tel",
        ],
    ),
    (
        "person.job_title",
        &[
            "job title",
            "title role",
            "position",
            "role",
            "cargo",
            "funcao",
        ],
    ),
    (
        "lead.title",
        &[
            "deal",
            "lead",
            "opportunity",
            "subject",
            "negocio",
            "oportunidade",
            "titulo",
            "assunto",
        ],
    ),
    (
        "lead.description",
        &[
            "notes",
            "note",
            "description",
            "comments",
            "observacoes",
            "observacao",
            "obs",
            "descricao",
            "comentarios",
        ],
    ),
    (
        "lead.lead_value",
        &[
            "value",
            "amount",
            "deal value",
            "lead value",
            "valor",
            "montante",
            "valor estimado",
        ],
    ),
    (
        "lead.expected_close_date",
        &[
            "close date",
            "expected close date",
            "closing date",
            "due date",
            "previsao",
            "data de fechamento",
            "previsao de fechamento",
            "prazo",
        ],
    ),
    (
        "lead.source",
        &[
            "source",
            "lead source",
            "channel",
            "fonte",
            "origem",
            "canal",
        ],
    ),
    ("lead.type", &["type", "lead type", "tipo"]),
    ("lead.pipeline", &["pipeline", "funil"]),
    (
        "lead.stage",
        &["stage", "status", "etapa", "fase", "estagio"],
    ),
    (
        "lead.owner",
        &[
            "owner",
            "sales owner",
            "assigned to",
            "responsavel",
            "vendedor",
            "dono",
        ],
    ),
    (
        "organization.address",
        &["address", "street", "endereco", "logradouro"],
    ),
    ("organization.city", &["city", "cidade", "municipio"]),
    ("organization.state", &["state", "province", "estado", "uf"]),
    (
        "organization.postcode",
        &["postcode", "zip", "zip code", "postal code", "cep"],
    ),
    ("organization.country", &["country", "pais"]),
];

/// The best column for each target: an exact synonym wins, then a close one.
pub fn suggest(headers: &[String]) -> Vec<(&'static str, String)> {
    let mut used = vec![false; headers.len()];
    let mut out = Vec::new();
    for (target, words) in SYNONYMS {
        let mut best: Option<(f64, usize)> = None;
        for (i, h) in headers.iter().enumerate() {
            if used[i] {
                continue;
            }
            let f = fold(h);
            let score = words
                .iter()
                .map(|w| {
                    if *w == f {
                        2.0
                    } else {
                        strsim::jaro_winkler(w, &f)
                    }
                })
                .fold(0.0, f64::max);
            if score >= 0.9 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, i));
            }
        }
        if let Some((_, i)) = best {
            used[i] = true;
            out.push((*target, headers[i].clone()));
        }
    }
    out
}

/// A starter mapping file for `file` with `headers`.
pub fn starter_mapping(file: &str, headers: &[String]) -> String {
    let found = suggest(headers);
    let col = |t: &str| found.iter().find(|(x, _)| *x == t).map(|(_, c)| c.clone());
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = format!(
        "# Starter mapping for {file}, written by `krayin-etl mapping suggest`.\n\
         # Check every field, then try it: krayin-etl check {file} --mapping <this file>\n\
         # Every key is documented in the README, section \"Mapping files\".\n\n\
         [settings]\n\
         timezone = \"Asia/Kolkata\"        # Krayin's APP_TIMEZONE\n\
         number_locale = \"auto\"           # pt-BR (15.000,00), en (15,000.00) or auto\n\
         date_formats = [\"iso\", \"%d/%m/%Y\", \"excel\"]\n\
         # phone_region = \"BR\"            # for phones written without +<country>\n\
         past_close_date = \"drop\"         # or \"reject\"\n"
    );
    let section = |out: &mut String, target: &str, body: String| {
        out.push_str(&format!("\n[{target}]\n{body}"));
    };
    // A lead needs a title: the deal column, else "<company> - <contact>".
    let title = match (col("lead.title"), col("organization.name"), col("person.name")) {
        (Some(t), _, _) => format!("column = {}\n", q(&t)),
        (None, Some(o), Some(p)) => format!("template = {}\n", q(&format!("{{{o}}} - {{{p}}}"))),
        (None, Some(o), None) => format!("column = {}\n", q(&o)),
        _ => "# CHECK: no column looks like a title; use column = \"...\" or template = \"{A} - {B}\"\nvalue = \"Imported lead\"\n".to_string(),
    };
    section(&mut out, "lead.title", title);
    for (target, c) in &found {
        if *target == "lead.title" {
            continue;
        }
        let extra = match *target {
            "person.emails" => "split = \";,\"\n",
            "person.phones" => "split = \";/\"\n",
            _ => "",
        };
        section(&mut out, target, format!("column = {}\n{extra}", q(c)));
    }
    if col("person.name").is_none() {
        section(
            &mut out,
            "person.name",
            "# CHECK: no column looks like a person's name\ncolumn = \"\"\n".into(),
        );
    }
    let unused: Vec<&String> = headers
        .iter()
        .filter(|h| !found.iter().any(|(_, c)| c == *h))
        .collect();
    if !unused.is_empty() {
        out.push_str("\n# Columns not mapped (map them above, or as custom attributes:\n# [attributes.<code>] column = \"...\"):\n");
        for h in unused {
            out.push_str(&format!("#   {}\n", q(h)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portuguese_headers_are_recognised() {
        let h: Vec<String> = [
            "Empresa",
            "Contato",
            "E-mail",
            "Telefone",
            "Valor",
            "Observações",
            "Fonte",
            "Responsável",
            "Coluna X",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = suggest(&h);
        let get = |t: &str| s.iter().find(|(x, _)| *x == t).map(|(_, c)| c.as_str());
        assert_eq!(get("organization.name"), Some("Empresa"));
        assert_eq!(get("person.name"), Some("Contato"));
        assert_eq!(get("person.emails"), Some("E-mail"));
        assert_eq!(get("person.phones"), Some("Telefone"));
        assert_eq!(get("lead.lead_value"), Some("Valor"));
        assert_eq!(get("lead.description"), Some("Observações"));
        assert_eq!(get("lead.source"), Some("Fonte"));
        assert_eq!(get("lead.owner"), Some("Responsável"));
        let text = starter_mapping("x.csv", &h);
        assert!(
            text.contains("template = \"{Empresa} - {Contato}\""),
            "{text}"
        );
        assert!(text.contains("\"Coluna X\""));
        // The starter parses as a mapping.
        let (spec, unknown) =
            super::super::spec::MappingFile::parse(&text, "suggested.toml").unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(spec.lead.title.is_some());
    }

    #[test]
    fn english_headers_are_recognised() {
        let h: Vec<String> = [
            "Company",
            "Deal",
            "Contact",
            "Email",
            "Phone",
            "Amount",
            "Close Date",
            "Stage",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let text = starter_mapping("leads.csv", &h);
        let (spec, unknown) =
            super::super::spec::MappingFile::parse(&text, "suggested.toml").unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        assert_eq!(spec.lead.title.unwrap().column.as_deref(), Some("Deal"));
        assert_eq!(
            spec.lead.expected_close_date.unwrap().column.as_deref(),
            Some("Close Date")
        );
        assert_eq!(spec.lead.stage.unwrap().column.as_deref(), Some("Stage"));
    }
}
