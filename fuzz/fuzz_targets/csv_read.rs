//! CSV sniffing and reading: any bytes, as a `.csv` file, must give rows, rejections or a
//! `ReadError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzz.csv");
    std::fs::write(&path, data).unwrap();
    if let Ok(source) = krayin_etl::pipeline::read::open(&path, &Default::default()) {
        for row in source.rows.take(10_000) {
            let _ = row;
        }
    }
});
