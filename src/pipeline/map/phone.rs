//! Phone parsing and validity, as `phonenumber::parse` and `phonenumber::is_valid` decide
//! them, without their per-call cost.
//!
//! `phonenumber` keeps its compiled patterns in a cache keyed by the pattern text: every check
//! hashes a long pattern string (SipHash) a dozen times, in a cache of 100 patterns that a
//! country's dozen descriptors and a few countries overflow, and that was the largest single
//! cost of mapping a row; its parser also tries an RFC 3966 reading, then several large
//! regular expressions (extensions, second numbers) on every input. Here the same patterns,
//! from the same metadata, are compiled once each and found by the address of their metadata
//! entry, and the parse is the crate's, step by step, for the shape phones nearly always have
//! in a spreadsheet: ASCII digits, spaces, `-`, `.`, `(`, `)` and one leading `+`
//! ([`parse`]; anything else is left to the crate). Property tests and the `values` fuzz
//! target hold the answers equal to the crate's, including its quirks.

use std::collections::HashMap;
use std::sync::Arc;

use crate::pipeline::seen::BuildMix;

use phonenumber::PhoneNumber;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::Regex;

/// A pattern of the metadata, compiled once per thread, found by the address of its entry in
/// the static database (cheap to hash, unlike the pattern's text), and anchored: compiled as
/// `^(?:pattern)`. The crate only ever uses a match that starts at 0 (`find(..)` then
/// `start() == 0`, or the first match replaced after that test); a leftmost match starting at
/// 0 exists exactly when an anchored one does, with the same end and groups, and the anchored
/// search gives up at the first byte instead of trying every later start.
fn compiled(key: usize, text: &str) -> Option<Arc<Regex>> {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<HashMap<usize, Option<Arc<Regex>>, BuildMix>> =
            RefCell::new(HashMap::default());
    }
    CACHE.with(|cache| {
        cache
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                // As the crate builds them (`ignore_whitespace`: the metadata's patterns are
                // laid out on several lines; hence the newline before the closing parenthesis,
                // past any trailing comment).
                regex::RegexBuilder::new(&format!("^(?:{text}\n)"))
                    .ignore_whitespace(true)
                    .build()
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    })
}

/// Does the pattern match at the start of `value` (the crate's `find(..).start() == 0`)?
macro_rules! starts {
    ($pattern:expr, $value:expr) => {{
        let p = $pattern;
        compiled(p as *const _ as usize, p.as_str()).is_some_and(|re| re.is_match($value))
    }};
}

/// `Descriptor::is_match`.
fn matches(d: &Descriptor, value: &str) -> bool {
    if !d.possible_length().is_empty() && !d.possible_length().contains(&(value.len() as u16)) {
        return false;
    }
    starts!(d.national_number(), value)
}

/// `number_type(meta, value) != Type::Unknown`.
fn has_type(meta: &Metadata, value: &str) -> bool {
    let d = meta.descriptors();
    if !matches(d.general(), value) {
        return false;
    }
    [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
        d.fixed_line(),
        d.mobile(),
    ]
    .into_iter()
    .flatten()
    .any(|desc| matches(desc, value))
}

/// `validator::source_for`: the metadata a number of this calling code belongs to.
fn source_for(code: u16, national: &str) -> Option<&'static Metadata> {
    let regions = DATABASE.region(&code)?;
    if regions.len() == 1 {
        if regions[0] == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else {
            match regions[0].parse::<phonenumber::country::Id>() {
                Ok(id) => DATABASE.by_id(id.as_ref()),
                Err(_) => None,
            }
        }
    } else {
        regions.iter().find_map(|region| {
            let meta = DATABASE.by_id(*region)?;
            let found = match meta.leading_digits() {
                Some(pattern) => starts!(pattern, national),
                None => has_type(meta, national),
            };
            found.then_some(meta)
        })
    }
}

/// `phonenumber::is_valid`.
pub fn is_valid(number: &PhoneNumber) -> bool {
    is_valid_parts(number.country().code(), &number.national().to_string())
}

/// `phonenumber::is_valid` of the number with this calling code and national number (digits,
/// with the leading zeros the crate keeps).
pub fn is_valid_parts(code: u16, national: &str) -> bool {
    source_for(code, national).is_some_and(|m| has_type(m, national))
}

/// `validator::length(meta, number, Type::Unknown)`, as the crate computes it: against the
/// general descriptor's possible lengths.
#[derive(Debug, PartialEq, Eq)]
enum Length {
    PossibleLocalOnly,
    Possible,
    TooShort,
    TooLong,
    Invalid,
}

fn length(meta: &Metadata, national: &str) -> Length {
    let general = meta.descriptors().general();
    let n = national.len() as u16;
    let possible = general.possible_length();
    let Some((&minimum, &maximum)) = possible.first().zip(possible.last()) else {
        return Length::Invalid;
    };
    if general.possible_local_length().contains(&n) {
        Length::PossibleLocalOnly
    } else if n == minimum {
        Length::Possible
    } else if n < minimum {
        Length::TooShort
    } else if n > maximum {
        Length::TooLong
    } else if possible.contains(&n) {
        Length::Possible
    } else {
        Length::Invalid
    }
}

/// `helper::national_number`: the national prefix (and carrier code) taken off, or rewritten
/// by the country's transform rule. `None` where the crate would panic or fail to compile a
/// pattern: left to the crate.
fn national_number(meta: &Metadata, national: String) -> Option<String> {
    let Some(parsing) = meta.national_prefix_for_parsing() else {
        if let Some(prefix) = meta.national_prefix()
            && national.starts_with(prefix)
        {
            return Some(national[prefix.len()..].to_string());
        }
        return Some(national);
    };
    let re = compiled(parsing as *const _ as usize, parsing.as_str())?;
    let Some(found) = re.find(&national) else {
        return Some(national);
    };
    if found.start() != 0 {
        return Some(national);
    }
    let general = meta.descriptors().general();
    let viable = matches(general, &national);
    let captures = re.captures(&national)?;
    let first = captures.get(1);
    let last = captures.get(captures.len() - 1);
    match (meta.national_prefix_transform_rule(), last) {
        (Some(transform), Some(_)) => {
            first?; // the crate unwraps it
            let transformed = re.replace(&national, transform).into_owned();
            if viable && !matches(general, &transformed) {
                return Some(national);
            }
            Some(transformed)
        }
        _ => {
            // The crate checks the whole number here, not the part left after the prefix.
            if viable && !matches(general, &national) {
                return Some(national);
            }
            Some(national[found.end()..].to_string())
        }
    }
}

/// `phonenumber::parse(country, s)` for the usual shape of a phone cell: ASCII digits, spaces,
/// `-`, `.`, `(`, `)`, at most one `+` and only first, at least three digits, and a space if
/// there is any other separator (without spaces, the crate may read the text as an RFC 3966
/// number instead). Returns the calling code and the national number (digits with the leading
/// zeros the crate keeps), `Some(Err(()))` where the crate refuses the number, and `None` for
/// any other shape: the caller asks the crate.
pub fn parse(
    country: Option<phonenumber::country::Id>,
    s: &str,
) -> Option<Result<(u16, String), ()>> {
    let bytes = s.as_bytes();
    let (mut digits, mut space, mut separator) = (0, false, false);
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => digits += 1,
            b' ' => space = true,
            b'-' | b'.' | b'(' | b')' => separator = true,
            b'+' if i == 0 => {}
            _ => return None,
        }
    }
    if digits < 3 || (separator && !space) {
        return None;
    }
    // helper::extract, then normalize: the text from the `+` or the first digit to the last
    // digit, keeping the digits. (No extension can match: it needs a letter, `#`, `;` or `,`.)
    let plus = bytes.first() == Some(&b'+');
    let mut national = String::with_capacity(digits);
    national.extend(s.chars().filter(char::is_ascii_digit));

    // helper::international_prefix: the region's international dialling prefix (`00`) is
    // taken off when the number starts with it and goes on with something other than 0.
    let region_meta = match country {
        Some(c) => Some(DATABASE.by_id(c.as_ref())?),
        None => None,
    };
    let idd = match region_meta.and_then(|m| m.international_prefix()) {
        Some(p) => Some(compiled(p as *const _ as usize, p.as_str())?),
        None => None,
    };
    let idd_end = |n: &str| {
        idd.as_ref()
            .and_then(|re| re.find(n))
            .filter(|m| m.start() == 0 && !n[m.end()..].starts_with('0'))
            .map(|m| m.end())
    };
    #[derive(PartialEq)]
    enum Origin {
        Plus,
        Idd,
        Default,
    }
    let from = if plus {
        if let Some(end) = idd_end(&national) {
            national.drain(..end);
        }
        Origin::Plus
    } else if let Some(end) = idd_end(&national) {
        national.drain(..end);
        Origin::Idd
    } else {
        Origin::Default
    };

    // helper::country_code.
    let code: u16 = if from == Origin::Default {
        let Some(meta) = region_meta else {
            return Some(Err(()));
        };
        let code = meta.country_code();
        let text = code.to_string();
        if national.starts_with(&text)
            && (!matches(meta.descriptors().general(), &national)
                || !matches!(
                    length(meta, &national),
                    Length::Possible | Length::PossibleLocalOnly
                ))
        {
            national.drain(..text.len());
        }
        code
    } else {
        if national.len() <= 2 || national.starts_with('0') {
            return Some(Err(()));
        }
        let Some(len) = (1..=3).find(|len| {
            national[..*len]
                .parse::<u16>()
                .is_ok_and(|c| DATABASE.by_code(&c).is_some())
        }) else {
            return Some(Err(()));
        };
        let code = national[..len].parse().ok()?;
        national.drain(..len);
        code
    };

    // The metadata that decides the national prefix: the region's when one was given (even
    // for a `+` number of another country: the crate's choice), else the number's own.
    let meta = match region_meta {
        Some(m) => Some(m),
        None => source_for(code, national.trim_start_matches('0')),
    };
    if let Some(meta) = meta {
        let mut potential = national_number(meta, national.clone())?;
        if let Some(prefix) = meta.national_prefix()
            && potential.starts_with(prefix)
        {
            potential.drain(..prefix.len());
        }
        if length(meta, &potential) != Length::TooShort {
            national = potential;
        }
    }
    if national.len() < 2 || national.len() > 17 {
        return Some(Err(()));
    }
    // NationalNumber::from_str: leading zeros counted, the rest a u64 under 2^56.
    let rest = national.trim_start_matches('0');
    match rest.parse::<u64>() {
        Ok(v) if v < 1 << 56 && national.bytes().all(|b| b.is_ascii_digit()) => {
            Some(Ok((code, national)))
        }
        Ok(_) if !national.bytes().all(|b| b.is_ascii_digit()) => None,
        _ => Some(Err(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(input: &str, region: Option<phonenumber::country::Id>) {
        if let Ok(n) = phonenumber::parse(region, input) {
            assert_eq!(
                is_valid(&n),
                phonenumber::is_valid(&n),
                "{input:?} {region:?}"
            );
        }
    }

    #[test]
    fn agrees_with_the_crate_on_real_numbers() {
        use phonenumber::country::Id;
        for (n, r) in [
            ("+55 11 99999-0000", None),
            ("(11) 3333-4444", Some(Id::BR)),
            ("+44 20 7946 0101", None),
            ("+44 7911 123456", None),
            ("+1 202 555 0123", None),
            ("+1 684 733 1234", None), // American Samoa shares +1
            ("+7 701 123 4567", None), // Kazakhstan shares +7 with Russia
            ("+351 912 345 678", None),
            ("+800 1234 5678", None), // "001": international freephone
            ("+49 30 123456", None),
            ("+91 98765 43210", None),
            ("+44 1481 123456", None), // Guernsey under +44
            ("12345", Some(Id::US)),
        ] {
            same(n, r);
        }
    }

    /// The crate's own answer: what [`parse`] must give wherever it answers.
    fn crate_parse(region: Option<phonenumber::country::Id>, s: &str) -> Result<(u16, String), ()> {
        phonenumber::parse(region, s)
            .map(|n| (n.code().value(), n.national().to_string()))
            .map_err(|_| ())
    }

    fn same_parse(s: &str, region: Option<phonenumber::country::Id>) {
        if let Some(fast) = parse(region, s) {
            assert_eq!(fast, crate_parse(region, s), "{s:?} {region:?}");
        }
        // And the whole conversion, E.164 included, against the crate's parse, validity and
        // formatter.
        let ours = crate::pipeline::map::convert::parse_phone_in(s, region).ok();
        let theirs = phonenumber::parse(region, s.trim())
            .ok()
            .filter(phonenumber::is_valid)
            .map(|n| n.format().mode(phonenumber::Mode::E164).to_string());
        assert_eq!(ours, theirs, "{s:?} {region:?}");
    }

    const REGIONS: [Option<phonenumber::country::Id>; 14] = {
        use phonenumber::country::Id::*;
        [
            None,
            Some(BR),
            Some(US),
            Some(GB),
            Some(IT),
            Some(AR),
            Some(MX),
            Some(DE),
            Some(IN),
            Some(PT),
            Some(AU),
            Some(RU),
            Some(KZ),
            Some(JP),
        ]
    };

    #[test]
    fn parses_as_the_crate_does_on_real_numbers() {
        for s in [
            "+55 11 99999-0000",
            "(11) 99999-0000",
            "11 3333 4444",
            "011 44 20 7946 0101",
            "00 351 912 345 678",
            "0343 15 555 1212", // Argentina's transform rule
            "+54 9 343 555 1212",
            "+39 06 1234 5678", // Italy keeps the leading zero
            "06 1234 5678",
            "+44 (0)20 7946 0101",
            "020 7946 0101",
            "+7 701 123 4567",
            "8 701 123 4567",
            "+800 1234 5678",
            "5511999990000",
            "+5511999990000",
            "0",
            "+",
            "123",
            "+0 12 345",
        ] {
            assert!(
                parse(None, s).is_some() || s.len() < 4,
                "{s:?} should take the fast path"
            );
            for region in REGIONS {
                same_parse(s, region);
            }
        }
    }

    proptest! {
        #[test]
        fn parses_as_the_crate_does(s in "[+0-9() .-]{0,22}", r in 0..REGIONS.len()) {
            same_parse(&s, REGIONS[r]);
        }

        #[test]
        fn parses_as_the_crate_does_on_phone_shapes(
            prefix in prop::sample::select(vec!["+55 ", "+1 ", "+44 ", "+39 0", "+54 9 ", "0", "00 55 ", "011 44 ", "+7 ", "8 ", "+351 ", "+49 (0)", "(0xx11) ", ""]),
            groups in prop::collection::vec("[0-9]{1,5}", 1..5),
            sep in prop::sample::select(vec![" ", "-", ".", " - "]),
            r in 0..REGIONS.len(),
        ) {
            let s = format!("{prefix}{}", groups.join(sep));
            same_parse(&s, REGIONS[r]);
        }

        #[test]
        fn agrees_with_the_crate(
            cc in prop::sample::select(vec!["1", "7", "20", "33", "39", "44", "49", "55", "61", "81", "86", "91", "351", "800", "882", "971"]),
            digits in "[0-9]{4,13}",
        ) {
            same(&format!("+{cc}{digits}"), None);
        }

        #[test]
        fn agrees_with_the_crate_with_a_region(s in "[+0-9() -]{0,20}") {
            same(&s, Some(phonenumber::country::Id::BR));
        }
    }
}
