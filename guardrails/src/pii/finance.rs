//! Payment cards and IBANs.
//!
//! - Card: a run of digits with single space or dash separators (one kind). Compact, 13–19
//!   digits; or grouped in 4s (the last group 1–4), Amex 4-6-5 or Diners 4-6-4. Within a longer
//!   run (`4111 1111 1111 1111 12/25`) the leftmost-longest grouped sub-run is tried. The digits
//!   must pass Luhn and carry a plausible issuer prefix for their length: Visa 4 (13, 16, 19),
//!   Mastercard 51–55 and 2221–2720 (16), Amex 34/37 (15), Discover 6011/65/644–649 (16–19),
//!   JCB 35 (16–19), Diners 30/36/38 (14–19).
//! - IBAN: two upper-case letters, two check digits, the BBAN; compact or in groups of 4 after the
//!   first four characters; ISO 7064 mod-97 = 1; the exact length for the SEPA countries listed
//!   in `IBAN_LENGTHS`, 15–34 for any other country code.

use std::sync::LazyLock;

use regex::Regex;

use super::{build, char_before, clear_after, clear_before, word_bounded, Span};
use crate::words::is_word;

struct Patterns {
    digit_run: Regex,
    iban: Regex,
}

static PATTERNS: LazyLock<Result<Patterns, String>> = LazyLock::new(|| {
    Ok(Patterns {
        digit_run: build(r"\d+(?:[ -]\d+)*")?,
        iban: build(r"[A-Z]{2}\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?|[A-Z]{2}\d{2}[A-Z0-9]{11,30}")?,
    })
});

pub(crate) fn ready() -> Result<(), String> {
    PATTERNS.as_ref().map(|_| ()).map_err(Clone::clone)
}

pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

fn prefix(d: &[u8], k: usize) -> u32 {
    d.iter().take(k).fold(0, |acc, &x| acc * 10 + u32::from(x))
}

/// A plausible issuer prefix for this many digits.
fn plausible_card(d: &[u8]) -> bool {
    let n = d.len();
    match d.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => (51..=55).contains(&prefix(d, 2)) && n == 16,
        Some(2) => (2221..=2720).contains(&prefix(d, 4)) && n == 16,
        Some(3) => match prefix(d, 2) {
            34 | 37 => n == 15,
            35 => (16..=19).contains(&n),
            30 | 36 | 38 => (14..=19).contains(&n),
            _ => false,
        },
        Some(6) => {
            (prefix(d, 4) == 6011 || prefix(d, 2) == 65 || (644..=649).contains(&prefix(d, 3)))
                && (16..=19).contains(&n)
        }
        _ => false,
    }
}

fn card_grouping(groups: &[&str]) -> bool {
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    match lens.as_slice() {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|&l| l == 4) && (1..=4).contains(last),
        [] => false,
    }
}

fn card_digits(groups: &[&str]) -> Vec<u8> {
    groups.iter().flat_map(|g| g.bytes().map(|b| b - b'0')).collect()
}

pub(crate) fn cards(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    let mut out = Vec::new();
    for m in p.digit_run.find_iter(text) {
        // A run glued to a word on its left (`DE89 3704 …`, `ORD-4111…`) is not a card anywhere.
        if !clear_before(text, m.start()) {
            continue;
        }
        let run = m.as_str();
        let Some(sep) = run
            .chars()
            .find(|c| !c.is_ascii_digit())
            .map_or(Some(' '), |s| run.chars().filter(|c| !c.is_ascii_digit()).all(|c| c == s).then_some(s))
        else {
            continue;
        };
        // Group offsets within the run.
        let mut groups: Vec<(usize, &str)> = Vec::new();
        let mut at = 0;
        for g in run.split(sep) {
            groups.push((at, g));
            at += g.len() + 1;
        }
        let n = groups.len();
        let mut i = 0;
        'start: while i < n {
            // A card is at most 5 groups (4-4-4-4-3): bounded work on long runs of numbers.
            for j in (i + 1..=n.min(i + 5)).rev() {
                let slice: Vec<&str> = groups[i..j].iter().map(|&(_, g)| g).collect();
                let d = card_digits(&slice);
                if !(13..=19).contains(&d.len()) || !card_grouping(&slice) || !luhn(&d) || !plausible_card(&d) {
                    continue;
                }
                let start = m.start() + groups[i].0;
                let end = m.start() + groups[j - 1].0 + groups[j - 1].1.len();
                if j < n || clear_after(text, end) {
                    out.push((start, end));
                    i = j;
                    continue 'start;
                }
            }
            i += 1;
        }
    }
    out
}

/// IBAN lengths of the SEPA countries.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GI", 23),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("VA", 22),
];

/// `compact` (no spaces) is a valid IBAN: length for its country and mod-97 = 1.
pub(crate) fn valid_iban(compact: &str) -> bool {
    let Some(country) = compact.get(..2) else { return false };
    let len_ok = match IBAN_LENGTHS.iter().find(|(c, _)| *c == country) {
        Some(&(_, len)) => compact.len() == len,
        None => (15..=34).contains(&compact.len()),
    };
    if !len_ok || !compact.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return false;
    }
    let rearranged = compact[4..].bytes().chain(compact[..4].bytes());
    let mut rem: u32 = 0;
    for b in rearranged {
        let v = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

pub(crate) fn ibans(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    let mut out = Vec::new();
    for m in p.iban.find_iter(text) {
        if char_before(text, m.start()).is_some_and(is_word) {
            continue;
        }
        let s = m.as_str();
        // Try the whole candidate, then drop trailing groups (a following word may have been taken).
        let mut ends: Vec<usize> = s.match_indices(' ').map(|(i, _)| i).skip(1).collect();
        ends.push(s.len());
        for &end in ends.iter().rev() {
            let compact: String = s[..end].chars().filter(|c| *c != ' ').collect();
            if valid_iban(&compact) && word_bounded(text, m.start(), m.start() + end) {
                out.push((m.start(), m.start() + end));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(f: fn(&str) -> Vec<Span>, text: &str) -> Vec<&str> {
        f(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn cards_found() {
        for t in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "5555 5555 5555 4444",
            "2223 0031 2200 3222",
            "3782 822463 10005",
            "6011 1111 1111 1117",
            "3530 1113 3330 0000",
            "3056 930902 5904",
            "4222222222222",
        ] {
            let text = format!("my card is {t}, thanks");
            assert_eq!(found(cards, &text), vec![t], "{t}");
        }
        assert_eq!(found(cards, "4111 1111 1111 1111 12/25"), vec!["4111 1111 1111 1111"]);
        assert_eq!(found(cards, "I have 3 4111 1111 1111 1111"), vec!["4111 1111 1111 1111"]);
    }

    #[test]
    fn card_look_alikes() {
        for t in [
            "4111 1111 1111 1112",      // Luhn fails
            "1234 5678 9012 3452",      // no issuer starts with 1
            "order 1700000000000000",   // timestamp-like
            "4111 1111-1111 1111",      // mixed separators
            "41 11 11 11 11 11 11 11",  // not card grouping
            "4111111111111111111111",   // too long
            "$4111111111111111",        // a price
            "id 4111111111111111.5",    // part of a decimal
            "9780306406157 is an ISBN", // bad prefix
            "2024-01-15 10:30:00",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
        ] {
            assert!(found(cards, t).is_empty(), "{t}: {:?}", found(cards, t));
        }
    }

    #[test]
    fn ibans_found() {
        for t in [
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91ABNA0417164300",
            "BE68 5390 0754 7034",
            "NO93 8601 1117 947",
        ] {
            let text = format!("pay to {t} today");
            assert_eq!(found(ibans, &text), vec![t], "{t}");
        }
        assert_eq!(found(ibans, "IBAN DE89 3704 0044 0532 0130 00 AB"), vec!["DE89 3704 0044 0532 0130 00"]);
    }

    #[test]
    fn iban_look_alikes() {
        for t in [
            "DE89 3704 0044 0532 0130 01", // mod-97 fails
            "DE89370400440532013",         // wrong length for DE
            "ISO 8601 2024 0115",
            "AB12 CDEF GHIJ KLMN",
            "de89370400440532013000",
            "XDE89370400440532013000",
            "RFC1234567890123456 is a ticket",
        ] {
            assert!(found(ibans, t).is_empty(), "{t}: {:?}", found(ibans, t));
        }
    }
}
