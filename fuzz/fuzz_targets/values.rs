//! Number, date and phone parsing on any text, in every locale and format the mapping offers;
//! our phone fast path, validity and E.164 checked against the `phonenumber` crate's own; the
//! e-mail rule's shortcut against `validator`, and the shortcuts of trimming and of the
//! e-mail hash against what they stand for.
#![no_main]

use krayin_etl::pipeline::map::convert::{
    DateFormat, NumberLocale, parse_date, parse_number, parse_phone, parse_phone_in,
};
use krayin_etl::pipeline::map::phone;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    {
        use validator::ValidateEmail;
        assert_eq!(krayin_etl::sandbox::rules::is_email(s), s.validate_email(), "{s:?}");
    }
    assert_eq!(krayin_etl::pipeline::map::convert::trim(s), s.trim());
    assert_eq!(
        krayin_etl::krayin::email_hash(s),
        krayin_etl::krayin::stable_hash(&krayin_etl::krayin::normalize_email(s))
    );
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
        let reference = phonenumber::parse(region, s);
        if let Ok(n) = &reference {
            assert_eq!(phone::is_valid(n), phonenumber::is_valid(n), "{s:?} {region:?}");
        }
        // The fast path answers as the crate would, or leaves the text to it.
        if let Some(fast) = phone::parse(region, s) {
            let crate_says = reference
                .as_ref()
                .map(|n| (n.code().value(), n.national().to_string()))
                .map_err(|_| ());
            assert_eq!(fast, crate_says, "{s:?} {region:?}");
        }
        // And the whole check gives the crate's E.164 for exactly the numbers it finds valid.
        let ours = parse_phone_in(s, region).ok();
        let theirs = phonenumber::parse(region, s.trim())
            .ok()
            .filter(phonenumber::is_valid)
            .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
        assert_eq!(ours, theirs, "{s:?} {region:?}");
    }
});
