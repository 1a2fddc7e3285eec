//! CSV sniffing and reading: any bytes, as a `.csv` file, must give rows, rejections or a
//! `ReadError`, never a panic; rows come in file order (strictly increasing line numbers) and
//! every row it yields has the header's width (a ragged one is a rejection instead).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.csv");
    std::fs::write(&path, data).unwrap();
    if let Ok(source) = krayin_etl::pipeline::read::open(&path, &Default::default()) {
        let width = source.headers.len();
        let mut last = 0u64;
        for item in source.rows.take(10_000) {
            let line = match &item {
                Ok(row) => {
                    assert_eq!(row.cells.len(), width, "a row of the header's width");
                    row.provenance.row
                }
                Err(rejection) => rejection.provenance.row,
            };
            assert!(line > last, "line {line} after line {last}");
            last = line;
        }
    }
});
