//! Value conversions of the mapping: locale numbers, dates, phones, templates, and the
//! case- and accent-insensitive folding used for name look-ups.
//!
//! Each function takes text as the user's spreadsheet has it and returns the form Krayin
//! accepts, or a message saying what was expected. Pure functions: property-tested below.

use std::str::FromStr;

use crate::record::Cells;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// `str::trim`, answering at once for text that starts and ends with visible ASCII (nearly
/// every cell): the full search decodes characters from both ends, and a row's cells are
/// trimmed a score of times.
#[inline]
pub fn trim(s: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(|b| (b'!'..=b'~').contains(b));
    if visible(s.as_bytes().first()) && visible(s.as_bytes().last()) {
        s
    } else {
        s.trim()
    }
}

/// Case- and accent-insensitive form for comparisons: `São  Paulo` → `sao paulo`.
pub fn fold(s: &str) -> String {
    let stripped: String = s.nfd().filter(|c| !is_combining_mark(*c)).collect();
    stripped
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A number locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberLocale {
    /// `15.000,00`
    PtBr,
    /// `15,000.00`
    En,
    /// Decide per value: the last of `.`/`,` is the decimal mark, unless it groups thousands.
    Auto,
}

impl FromStr for NumberLocale {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pt-br" | "pt_br" | "pt" | "br" | "de" | "es" | "it" | "fr" | "comma" => {
                Ok(NumberLocale::PtBr)
            }
            "en" | "en-us" | "en_us" | "en-gb" | "dot" => Ok(NumberLocale::En),
            "auto" => Ok(NumberLocale::Auto),
            other => Err(format!(
                "unknown number locale {other:?}: use pt-BR (15.000,00), en (15,000.00) or auto"
            )),
        }
    }
}

/// Does `s` look like digit groups of three after the first: `1.500.000` with `sep = '.'`?
fn is_grouped(s: &str, sep: char) -> bool {
    let mut parts = s.split(sep);
    let first = parts.next().unwrap_or("");
    !first.is_empty()
        && first.len() <= 3
        && first.bytes().all(|b| b.is_ascii_digit())
        && parts.clone().count() >= 1
        && parts.all(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Parses a decimal written in `locale` into plain `[-]digits[.digits]` text.
///
/// Currency symbols and spaces are dropped (`R$ 1.500,00`). A separator is taken for a
/// thousands separator only when it groups exactly three digits, so a spreadsheet's own
/// `15000.5` still reads as fifteen thousand and a half under `pt-BR`.
pub fn parse_number(input: &str, locale: NumberLocale) -> Result<String, String> {
    use std::borrow::Cow;
    let raw = trim(input);
    let plain = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b',' | b'-' | b'+' | b'(' | b')');
    // Spaces (and no-break spaces) and currency marks dropped, only where there are any: a
    // spreadsheet's number is nearly always plain already.
    let mut s: Cow<'_, str> = Cow::Borrowed(raw);
    if !raw.bytes().all(plain) {
        let mut t = String::with_capacity(raw.len());
        t.extend(raw.chars().filter(|c| !c.is_whitespace() && *c != '\u{a0}'));
        if !t.bytes().all(plain) {
            for sym in ["R$", "US$", "$", "€", "£", "BRL", "USD", "EUR"] {
                if t.contains(sym) {
                    t = t.replace(sym, "");
                }
            }
        }
        s = Cow::Owned(t);
    }
    let negative = s.starts_with('-') || (s.starts_with('(') && s.ends_with(')'));
    let s = s.trim_start_matches(['-', '+', '(']).trim_end_matches(')');
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
    {
        return Err(format!("{raw:?} is not a number"));
    }
    let (thousands, decimal) = match locale {
        NumberLocale::PtBr => ('.', ','),
        NumberLocale::En => (',', '.'),
        NumberLocale::Auto => {
            match (s.rfind('.'), s.rfind(',')) {
                (Some(d), Some(c)) if c > d => ('.', ','),
                (Some(_), Some(_)) => (',', '.'),
                // Only commas: `1,500` groups thousands, `1,5` is a decimal comma.
                (None, Some(_)) if is_grouped(s, ',') => (',', '.'),
                (None, Some(_)) => ('.', ','),
                _ => (',', '.'),
            }
        }
    };
    let (int, frac) = match s.rfind(decimal) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let int: Cow<'_, str> = if int.contains(thousands) {
        if !is_grouped(int, thousands) {
            // A lone `.` under pt-BR (`15000.5`) is a decimal point, not a thousands mark.
            if frac.is_none() && int.matches(thousands).count() == 1 {
                let (i, f) = int.split_once(thousands).expect("contains");
                return finish(negative, i, Some(f), raw);
            }
            return Err(format!(
                "{raw:?} mixes separators: expected {} thousands and {} decimals",
                if thousands == '.' { "'.'" } else { "','" },
                if decimal == ',' { "','" } else { "'.'" }
            ));
        }
        Cow::Owned(int.replace(thousands, ""))
    } else {
        Cow::Borrowed(int)
    };
    finish(negative, &int, frac, raw)
}

fn finish(negative: bool, int: &str, frac: Option<&str>, raw: &str) -> Result<String, String> {
    if !int.bytes().all(|b| b.is_ascii_digit())
        || frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
        || (int.is_empty() && frac.is_none())
    {
        return Err(format!("{raw:?} is not a number"));
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac
        .map(|f| f.trim_end_matches('0'))
        .filter(|f| !f.is_empty());
    let sign = negative && (int != "0" || frac.is_some());
    // `{sign}{int}.{frac}`, in one allocation (no formatter).
    let mut out = String::with_capacity(2 + int.len() + frac.map_or(0, str::len));
    if sign {
        out.push('-');
    }
    out.push_str(int);
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    Ok(out)
}

/// A date format: a strftime pattern, ISO-8601, or an Excel serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormat {
    Iso,
    Excel,
    Pattern(String),
}

impl FromStr for DateFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "iso" | "ISO" => Ok(DateFormat::Iso),
            "excel" => Ok(DateFormat::Excel),
            p if p.contains('%') => {
                // Try it on a known date so a broken pattern is refused at load time.
                let probe = jiff::civil::date(2031, 12, 24).strftime(p).to_string();
                jiff::fmt::strtime::parse(p, &probe)
                    .and_then(|t| t.to_date())
                    .map_err(|e| {
                        format!("date format {p:?} cannot read back a date it writes: {e}")
                    })?;
                Ok(DateFormat::Pattern(p.to_string()))
            }
            other => Err(format!(
                "unknown date format {other:?}: use a strftime pattern such as \"%d/%m/%Y\", or iso, or excel"
            )),
        }
    }
}

/// Excel's day zero (serial 1 = 1900-01-01, counting the phantom 1900-02-29).
fn excel_epoch() -> jiff::civil::Date {
    jiff::civil::date(1899, 12, 30)
}

/// Parses a date with the first format that reads it.
pub fn parse_date(input: &str, formats: &[DateFormat]) -> Result<jiff::civil::Date, String> {
    let s = trim(input);
    for f in formats {
        let parsed = match f {
            DateFormat::Iso => s
                .get(..10)
                .filter(|d| d.len() == 10 && d.as_bytes()[4] == b'-')
                .and_then(|d| d.parse::<jiff::civil::Date>().ok())
                .filter(|_| s.len() == 10 || matches!(s.as_bytes()[10], b' ' | b'T')),
            DateFormat::Excel => s
                .parse::<f64>()
                .ok()
                // 1 (1900-01-01) to 2958465 (9999-12-31).
                .filter(|v| (1.0..2_958_466.0).contains(v))
                .and_then(|v| {
                    excel_epoch()
                        .checked_add(jiff::Span::new().days(v.trunc() as i64))
                        .ok()
                }),
            DateFormat::Pattern(p) => jiff::fmt::strtime::parse(p, s)
                .ok()
                .and_then(|t| t.to_date().ok()),
        };
        if let Some(d) = parsed {
            return Ok(d);
        }
    }
    let names: Vec<String> = formats
        .iter()
        .map(|f| match f {
            DateFormat::Iso => "YYYY-MM-DD".to_string(),
            DateFormat::Excel => "an Excel date number".to_string(),
            DateFormat::Pattern(p) => p.clone(),
        })
        .collect();
    Err(format!(
        "{s:?} is not a date in any of: {}",
        names.join(", ")
    ))
}

/// A phone in E.164 (`+5511999990000`), using `region` for numbers without a country code.
pub fn parse_phone(input: &str, region: Option<&str>) -> Result<String, String> {
    let country = region.map(phone_region).transpose()?;
    parse_phone_in(input, country)
}

/// A phone region by ISO code (`BR`, `us`).
pub fn phone_region(r: &str) -> Result<phonenumber::country::Id, String> {
    phonenumber::country::Id::from_str(&r.to_ascii_uppercase())
        .map_err(|_| format!("unknown phone region {r:?}: use an ISO code such as BR, US, PT"))
}

/// [`parse_phone`] with the region already parsed (the mapper parses it once per field).
pub fn parse_phone_in(
    input: &str,
    country: Option<phonenumber::country::Id>,
) -> Result<String, String> {
    let s = trim(input);
    let parsed = match super::phone::parse(country, s) {
        Some(fast) => fast,
        None => phonenumber::parse(country, s)
            .map(|n| (n.code().value(), n.national().to_string()))
            .map_err(|_| ()),
    };
    let (code, national) = parsed.map_err(|()| {
        if country.is_none() && !s.starts_with('+') {
            format!("{s:?} has no country code: write it as +<country><number>, or set settings.phone_region")
        } else {
            format!("{s:?} is not a phone number")
        }
    })?;
    if !super::phone::is_valid_parts(code, &national) {
        return Err(format!("{s:?} is not a valid phone number for its country"));
    }
    // E.164 as the crate's formatter writes it (`+{code}{national}`, the national number with
    // its leading zeros), without the formatter's search for a national format, which E.164
    // does not use and which cost more than the rest of the check.
    let mut e164 = String::with_capacity(6 + national.len());
    e164.push('+');
    e164.push_str(itoa(code, &mut [0; 5]));
    e164.push_str(&national);
    Ok(e164)
}

/// `n` in decimal, written into `buf` (the formatter's machinery costs more than a phone's
/// calling code is worth).
fn itoa(mut n: u16, buf: &mut [u8; 5]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// A column, by position in the header.
    Column(usize),
}

/// Compiles `"{empresa} - {contato}"` against the header; an unknown column is an error naming
/// it (with the closest header).
pub fn compile_template(template: &str, headers: &[String]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!("template {template:?}: a '{{' is never closed"));
                        }
                    }
                }
                let idx = find_column(&name, headers).ok_or_else(|| {
                    let hint = super::spec::suggest_column(&name, headers)
                        .map(|h| format!(" Did you mean {{{h}}}?"))
                        .unwrap_or_default();
                    format!("template {template:?} names column {name:?}, which the file does not have.{hint}")
                })?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Column(idx));
            }
            '}' => return Err(format!("template {template:?}: a lone '}}' (write '}}}}')")),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Renders a template; `None` when every column it names is empty.
pub fn render(pieces: &[Piece], cells: &Cells) -> Option<String> {
    let size: usize = pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.len(),
            Piece::Column(i) => cells.get(*i).map_or(0, str::len),
        })
        .sum();
    let mut out = String::with_capacity(size);
    let mut any = false;
    let mut has_columns = false;
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Column(i) => {
                has_columns = true;
                let v = cells.get(*i).map(trim).unwrap_or("");
                any |= !v.is_empty();
                out.push_str(v);
            }
        }
    }
    (any || !has_columns).then_some(out)
}

/// A header by exact name, else case- and accent-insensitively (if unambiguous).
pub fn find_column(name: &str, headers: &[String]) -> Option<usize> {
    if let Some(i) = headers.iter().position(|h| h == name) {
        return Some(i);
    }
    let f = fold(name);
    let matches: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| fold(h) == f)
        .map(|(i, _)| i)
        .collect();
    (matches.len() == 1).then(|| matches[0])
}

/// `lower`, `upper`, `title`.
pub fn apply_case(s: &str, case: &str) -> String {
    match case {
        "lower" => s.to_lowercase(),
        "upper" => s.to_uppercase(),
        _ => s
            .split_whitespace()
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(f) => f
                        .to_uppercase()
                        .chain(c.flat_map(char::to_lowercase))
                        .collect(),
                    None => String::new(),
                }
            })
            .collect::<Vec<String>>()
            .join(" "),
    }
}

/// `24h`, `2d`, `1w`, `30m` → a span of calendar units.
pub fn parse_offset(s: &str) -> Result<jiff::Span, String> {
    let t = s.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("bad duration {t:?}: expected e.g. 30m, 24h, 2d, 1w"))?;
    Ok(match unit.trim() {
        "m" | "min" => jiff::Span::new().minutes(n),
        "h" => jiff::Span::new().hours(n),
        "d" => jiff::Span::new().days(n),
        "w" => jiff::Span::new().weeks(n),
        other => {
            return Err(format!(
                "bad duration unit {other:?} in {t:?}: use m, h, d or w"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_by_locale() {
        let br = NumberLocale::PtBr;
        let en = NumberLocale::En;
        let auto = NumberLocale::Auto;
        assert_eq!(parse_number("15.000,00", br).unwrap(), "15000");
        assert_eq!(parse_number("R$ 1.500,50", br).unwrap(), "1500.5");
        assert_eq!(
            parse_number("15000.5", br).unwrap(),
            "15000.5",
            "a spreadsheet number"
        );
        assert_eq!(parse_number("15,000.00", en).unwrap(), "15000");
        assert_eq!(parse_number("1,5", auto).unwrap(), "1.5");
        assert_eq!(parse_number("1,500", auto).unwrap(), "1500");
        assert_eq!(parse_number("1.234.567,891", auto).unwrap(), "1234567.891");
        assert_eq!(parse_number("-12", en).unwrap(), "-12");
        assert_eq!(parse_number("0,00", br).unwrap(), "0");
        assert_eq!(parse_number("€\u{a0}1 500,00", br).unwrap(), "1500");
        assert_eq!(parse_number("(1,234.50)", en).unwrap(), "-1234.5");
        assert_eq!(parse_number(" USD 12 ", en).unwrap(), "12");
        assert_eq!(parse_number("-0,00", br).unwrap(), "0");
        assert_eq!(parse_number("+007", en).unwrap(), "7");
        assert!(parse_number("abc", en).is_err());
        assert!(parse_number("1.2.3", en).is_err());
        assert!(parse_number("", en).is_err());
        assert!(parse_number("1,50.00", br).is_err());
    }

    #[test]
    fn dates_in_several_formats() {
        let f: Vec<DateFormat> = ["iso", "%d/%m/%Y", "excel"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let d = |y, m, dd| jiff::civil::date(y, m, dd);
        assert_eq!(parse_date("2030-01-31", &f).unwrap(), d(2030, 1, 31));
        assert_eq!(
            parse_date("2030-01-31 10:00:00", &f).unwrap(),
            d(2030, 1, 31)
        );
        assert_eq!(parse_date("31/01/2030", &f).unwrap(), d(2030, 1, 31));
        assert_eq!(
            parse_date("47514", &f).unwrap(),
            d(2030, 1, 31),
            "Excel serial"
        );
        assert!(parse_date("31/02/2030", &f).is_err());
        assert!(parse_date("soon", &f).unwrap_err().contains("%d/%m/%Y"));
        assert!("%Q".parse::<DateFormat>().is_err());
        assert!("dd/mm".parse::<DateFormat>().is_err());
    }

    #[test]
    fn phones_become_e164() {
        assert_eq!(
            parse_phone("(11) 99999-0000", Some("BR")).unwrap(),
            "+5511999990000"
        );
        assert_eq!(
            parse_phone("+55 11 99999 0000", None).unwrap(),
            "+5511999990000"
        );
        assert_eq!(
            parse_phone("5511999990000", Some("BR")).unwrap(),
            "+5511999990000"
        );
        assert!(parse_phone("123", Some("BR")).is_err());
        assert!(
            parse_phone("11 99999-0000", None)
                .unwrap_err()
                .contains("phone_region")
        );
        assert!(parse_phone("1", Some("XX")).is_err());
    }

    #[test]
    fn templates_compile_and_render() {
        let h: Vec<String> = ["Empresa", "Contato", "Observações"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let t = compile_template("{empresa} - {Contato} {{x}}", &h).unwrap();
        let cells: Cells = ["ACME", " Jane ", ""].into_iter().collect();
        assert_eq!(render(&t, &cells).unwrap(), "ACME - Jane {x}");
        assert_eq!(render(&t, &["", "", ""].into_iter().collect()), None);
        assert!(
            compile_template("{observacoes}", &h).is_ok(),
            "accent-insensitive"
        );
        let e = compile_template("{contatto}", &h).unwrap_err();
        assert!(e.contains("Did you mean {Contato}"), "{e}");
        assert!(compile_template("{open", &h).is_err());
    }

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("  São   Paulo "), "sao paulo");
        assert_eq!(fold("RESPONSÁVEL"), "responsavel");
        assert_eq!(apply_case("jANE roe", "title"), "Jane Roe");
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("24h").unwrap().get_hours(), 24);
        assert_eq!(parse_offset("1w").unwrap().get_weeks(), 1);
        assert!(parse_offset("soon").is_err());
    }

    proptest! {
        #[test]
        fn any_decimal_round_trips_through_both_locales(int in 0u64..10_000_000_000, frac in proptest::option::of(0u32..10_000)) {
            let plain = match frac { Some(f) => format!("{int}.{f:04}"), None => int.to_string() };
            let expected = parse_number(&plain, NumberLocale::En).unwrap();
            // Group the integer part in threes for each locale.
            let digits = int.to_string();
            let mut groups: Vec<&str> = Vec::new();
            let mut end = digits.len();
            while end > 3 { groups.push(&digits[end - 3..end]); end -= 3; }
            groups.push(&digits[..end]);
            groups.reverse();
            let br = match frac { Some(f) => format!("{},{f:04}", groups.join(".")), None => groups.join(".") };
            let en = match frac { Some(f) => format!("{}.{f:04}", groups.join(",")), None => groups.join(",") };
            prop_assert_eq!(parse_number(&br, NumberLocale::PtBr).unwrap(), expected.clone());
            prop_assert_eq!(parse_number(&en, NumberLocale::En).unwrap(), expected);
        }

        #[test]
        fn number_parsing_never_panics(s in "\\PC{0,20}") {
            let _ = parse_number(&s, NumberLocale::Auto);
            let _ = parse_number(&s, NumberLocale::PtBr);
        }

        #[test]
        fn date_parsing_never_panics(s in "\\PC{0,24}") {
            let f = vec![DateFormat::Iso, DateFormat::Excel, DateFormat::Pattern("%d/%m/%Y".into())];
            let _ = parse_date(&s, &f);
        }

        #[test]
        fn iso_dates_round_trip(y in 1900i16..2200, m in 1i8..=12, d in 1i8..=28) {
            let date = jiff::civil::date(y, m, d);
            prop_assert_eq!(parse_date(&date.to_string(), &[DateFormat::Iso]).unwrap(), date);
            let br = date.strftime("%d/%m/%Y").to_string();
            prop_assert_eq!(parse_date(&br, &[DateFormat::Pattern("%d/%m/%Y".into())]).unwrap(), date);
        }

        #[test]
        fn phone_parsing_never_panics(s in "[+0-9() -]{0,20}") {
            let _ = parse_phone(&s, Some("BR"));
        }

        #[test]
        fn templates_never_panic(t in "\\PC{0,30}") {
            let h = vec!["a".to_string(), "b".to_string()];
            if let Ok(p) = compile_template(&t, &h) {
                let _ = render(&p, &["x", "y"].into_iter().collect());
            }
        }
    }
}
