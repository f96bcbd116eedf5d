//! Personal-data detectors, one module per family. Each finds candidates with a regex compiled
//! once per process, then validates them in code (checksums, ranges, and the characters around
//! the candidate, since the regex crate has no look-around). All spans are on char boundaries.

pub(crate) mod contact;
pub(crate) mod credential;
pub(crate) mod finance;
pub(crate) mod national;

use layerr_domain::guardrails::PiiKind;

use crate::words::is_word;

/// A detected span.
pub(crate) type Span = (usize, usize);

/// The placeholder label and hit kind of each PII kind.
pub(crate) fn label(kind: PiiKind) -> &'static str {
    match kind {
        PiiKind::Email => "EMAIL",
        PiiKind::Phone => "PHONE",
        PiiKind::Card => "CARD",
        PiiKind::Iban => "IBAN",
        PiiKind::NationalId => "NATIONAL_ID",
        PiiKind::Ip => "IP",
        PiiKind::Credential => "CREDENTIAL",
    }
}

/// Whether every detector's patterns compiled (they are constants; this only fails on a bug).
pub(crate) fn ready() -> Result<(), String> {
    contact::ready()?;
    finance::ready()?;
    national::ready()?;
    credential::ready()
}

/// Every span of one kind in `text`, sorted by start.
pub(crate) fn detect(kind: PiiKind, text: &str) -> Vec<Span> {
    let mut spans = match kind {
        PiiKind::Email => contact::emails(text),
        PiiKind::Phone => contact::phones(text),
        PiiKind::Ip => contact::ips(text),
        PiiKind::Card => finance::cards(text),
        PiiKind::Iban => finance::ibans(text),
        PiiKind::NationalId => national::ids(text),
        PiiKind::Credential => credential::credentials(text),
    };
    spans.sort_unstable();
    spans.dedup();
    spans
}

pub(crate) fn char_before(text: &str, at: usize) -> Option<char> {
    text.get(..at)?.chars().next_back()
}

pub(crate) fn char_after(text: &str, at: usize) -> Option<char> {
    text.get(at..)?.chars().next()
}

/// Nothing glued to the left of a numeric candidate: no word char, no currency sign, no `#`, and
/// no `-./` after a letter or digit (nor `,:+` after a digit) that would make it part of a longer
/// token (`1.2.3.4.5`, `ORD-415-555-0132`, `$4111…`).
pub(crate) fn clear_before(text: &str, start: usize) -> bool {
    let Some(head) = text.get(..start) else { return false };
    let mut rev = head.chars().rev();
    match rev.next() {
        None => true,
        Some(c) if is_word(c) || "$€£¥#@".contains(c) => false,
        Some(c) if "-./".contains(c) => !rev.next().is_some_and(|d| d.is_alphanumeric()),
        Some(c) if ",:+".contains(c) => !rev.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    }
}

/// Nothing glued to the right of a numeric candidate: no word char, no `%`, and no `-./,:` that
/// is followed by a digit.
pub(crate) fn clear_after(text: &str, end: usize) -> bool {
    let Some(tail) = text.get(end..) else { return false };
    let mut it = tail.chars();
    match it.next() {
        None => true,
        Some(c) if is_word(c) || c == '%' => false,
        Some(c) if "-./,:".contains(c) => !it.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    }
}

/// A digit one separator (space, dash, dot) away on either side: the candidate is a piece of a
/// longer grouped number (`0044 0532 0130` inside an IBAN).
pub(crate) fn digit_neighbour(text: &str, start: usize, end: usize) -> bool {
    let mut before = text.get(..start).unwrap_or("").chars().rev();
    let mut after = text.get(end..).unwrap_or("").chars();
    let sep = |c: Option<char>| c.is_some_and(|c| " -.".contains(c));
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    (sep(before.next()) && digit(before.next())) || (sep(after.next()) && digit(after.next()))
}

/// Not inside a word on either side.
pub(crate) fn word_bounded(text: &str, start: usize, end: usize) -> bool {
    !char_before(text, start).is_some_and(is_word) && !char_after(text, end).is_some_and(is_word)
}

/// The ASCII digits of a string, as numbers.
pub(crate) fn digits(s: &str) -> Vec<u8> {
    s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect()
}

/// A compiled regex from a constant pattern, or the reason it did not compile.
pub(crate) fn build(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("internal PII pattern: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ordinary text full of numbers and tokens that look like personal data but are not.
    const BENIGN: &[&str] = &[
        "The meeting is on 2024-01-15 at 10:30:00 UTC, or 15/01/2024 09:00.",
        "Released v1.2.3 and 2.10.0-beta.1 today; see 3.2.1 of RFC 7231, page 45.",
        "Order #123456789 shipped, order number 4000123498 follows, invoice INV-2024-000123.",
        "Request id 550e8400-e29b-41d4-a716-446655440000 failed.",
        "It costs $1,299.99, €49.50 or 1.299,00 EUR; total 12,345,678.90.",
        "Timestamps 1700000000 and 1700000000123 ms, epoch 2024-01-15T10:30:00.123Z.",
        "The quick brown fox jumps over the lazy dog. I have 3 cats and 2 dogs.",
        "Room 1205 on floor 12; call extension 4821.",
        "Commit da39a3ee5e6b4b0d3255bfef95601890afd80709 and short sha 3f2a9c1.",
        "Windows 10.0.19045.3693, build 22631, kernel 6.5.0-1022-azure.",
        "The score was 3-2, then 21-19 in overtime; ISBN 978-3-16-148410-0.",
        "Coordinates 51.5074, -0.1278; width: 1920px; height: 1080px.",
        "Path /usr/local/lib/python3.11/site-packages/requests/__init__.py",
        "Visit https://example.com/docs/v2/getting-started?ref=nav#intro now.",
        "Use std::collections::HashMap<String, Vec<u8>> in Rust.",
        "The ratio is 16:9 and the time is 12:30:45.",
        "MyVeryLongClassNameForTheFactory2024Impl implements AbstractSingletonProxyFactoryBean.",
        "Population 8,336,817 in 2022; GDP grew 2.5% to 25.46 trillion.",
    ];

    #[test]
    fn benign_text_matches_no_kind() {
        for text in BENIGN {
            for kind in PiiKind::ALL {
                let found: Vec<&str> = detect(kind, text).into_iter().map(|(s, e)| &text[s..e]).collect();
                assert!(found.is_empty(), "{kind:?} in {text:?}: {found:?}");
            }
        }
    }

    #[test]
    fn every_pattern_compiles() {
        ready().unwrap();
    }

    #[test]
    fn digit_neighbours() {
        assert!(digit_neighbour("12 345", 3, 6) && digit_neighbour("345 12", 0, 3) && digit_neighbour("1-2", 2, 3));
        assert!(!digit_neighbour("call 345 now", 5, 8) && !digit_neighbour("345", 0, 3));
    }

    #[test]
    fn numeric_edges() {
        assert!(clear_before("x 1", 2) && clear_after("1 x", 1));
        assert!(!clear_before("a1", 1) && !clear_before("1.1", 2) && !clear_before("$1", 1));
        assert!(clear_before("card: 1", 6) && clear_before("(1", 1));
        assert!(!clear_after("1.5", 1) && clear_after("1.", 1) && clear_after("1, x", 1) && !clear_after("1%", 1));
    }
}
