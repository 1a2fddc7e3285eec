//! Number, date and phone parsing on any text, in every locale and format the mapping offers;
//! phone validity checked against the `phonenumber` crate's own.
#![no_main]

use krayin_etl::pipeline::map::convert::{
    DateFormat, NumberLocale, parse_date, parse_number, parse_phone,
};
use krayin_etl::pipeline::map::phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    for locale in [NumberLocale::PtBr, NumberLocale::En, NumberLocale::Auto] {
        if let Ok(n) = parse_number(s, locale) {
            // What comes out is plain `[-]digits[.digits]`, and reads back as itself.
            assert_eq!(
                parse_number(&n, NumberLocale::En).as_deref(),
                Ok(n.as_str())
            );
        }
    }
    let formats = [
        DateFormat::Iso,
        DateFormat::Excel,
        DateFormat::Pattern("%d/%m/%Y".into()),
    ];
    let _ = parse_date(s, &formats);
    let _ = parse_phone(s, Some("BR"));
    let _ = parse_phone(s, None);
    // Our phone validity is the crate's decision, made faster: never a different answer.
    use phonenumber::country::Id;
    for region in [None, Some(Id::BR), Some(Id::US), Some(Id::GB), Some(Id::PT)] {
        if let Ok(n) = phonenumber::parse(region, s) {
            assert_eq!(phone::is_valid(&n), phonenumber::is_valid(&n), "{s:?} {region:?}");
        }
    }
});
