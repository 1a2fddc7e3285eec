//! Mapping templates: compile any text against a header, render it against any cells.
#![no_main]

use krayin_etl::pipeline::map::convert::{compile_template, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let mut parts = data.splitn(2, '\n');
    let template = parts.next().unwrap_or("");
    let cells: krayin_etl::record::Cells = parts.next().unwrap_or("").split(',').collect();
    let headers: Vec<String> = vec![
        "Empresa".into(),
        "Contato".into(),
        "Observações".into(),
        "a".into(),
    ];
    if let Ok(pieces) = compile_template(template, &headers) {
        let _ = render(&pieces, &cells);
    }
});
