//! Phone validity, as `phonenumber::is_valid` decides it, without its per-call cost.
//!
//! `phonenumber` keeps its compiled patterns in a cache keyed by the pattern text: every check
//! hashes a long pattern string (SipHash) a dozen times, in a cache of 100 patterns that a
//! country's dozen descriptors and a few countries overflow, and that was the largest single
//! cost of mapping a row. Here the same patterns, from the same metadata, are compiled once each
//! and found by the address of their metadata entry. The decision is the crate's, step by step
//! (`validator::source_for`, then `number_type != Unknown`); a property test holds the two
//! equal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use phonenumber::PhoneNumber;
use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::Regex;

/// A pattern of the metadata, compiled once, found by the address of its entry in the static
/// database (cheap to hash, unlike the pattern's text).
fn compiled(key: usize, text: &str) -> Option<Arc<Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<usize, Option<Arc<Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(key)
        // As the crate builds them (`ignore_whitespace`: the metadata's patterns are laid out
        // on several lines).
        .or_insert_with(|| {
            regex::RegexBuilder::new(text)
                .ignore_whitespace(true)
                .build()
                .ok()
                .map(Arc::new)
        })
        .clone()
}

/// Does the pattern match at the start of `value` (the crate's `find(..).start() == 0`)?
macro_rules! starts {
    ($pattern:expr, $value:expr) => {{
        let p = $pattern;
        compiled(p as *const _ as usize, p.as_str())
            .and_then(|re| re.find($value).map(|m| m.start() == 0))
            .unwrap_or(false)
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

/// `phonenumber::is_valid`.
pub fn is_valid(number: &PhoneNumber) -> bool {
    let code = number.country().code();
    let national = number.national().to_string();
    let Some(regions) = DATABASE.region(&code) else {
        return false;
    };
    let meta = if regions.len() == 1 {
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
                Some(pattern) => starts!(pattern, &national),
                None => has_type(meta, &national),
            };
            found.then_some(meta)
        })
    };
    meta.is_some_and(|m| has_type(m, &national))
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

    proptest! {
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
