//! National identifiers, each with the check that keeps look-alikes out:
//!
//! - US SSN: `123-45-6789` or `123 45 6789` (one separator kind; bare 9-digit runs are not
//!   taken); area not 000, 666 or 900–999, group not 00, serial not 0000.
//! - UK National Insurance number: two prefix letters, six digits, a suffix A–D, compact or as
//!   `AB 12 34 56 C`; first letter not D F I Q U V, second not D F I O Q U V, and not the
//!   unused prefixes BG GB KN NK NT TN ZZ. Upper-case only.
//! - Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter), an optional dash before
//!   the letter; the letter is `TRWAGMYFPDXBNJZSQVHLCKE`[number mod 23] (NIE: X=0, Y=1, Z=2).
//! - French NIR (numéro de sécurité sociale): 15 characters, compact or `1 85 05 78 006 084 91`;
//!   sex 1/2 (7/8 provisional), month 01–12, 20–42 or 50–99, department digits or 2A/2B; key =
//!   97 − (first 13 digits mod 97), with 2A read as 19 and 2B as 18.
//! - Indian Aadhaar: 12 digits grouped `2345 6789 0124` (space or dash), first digit 2–9, Verhoeff
//!   check digit. Compact 12-digit runs are not taken: one random number in ten passes Verhoeff,
//!   and order numbers of that length are common.

use std::sync::LazyLock;

use regex::Regex;

use super::{build, clear_after, clear_before, digit_neighbour, digits, word_bounded, Span};

struct Patterns {
    ssn: Regex,
    nino: Regex,
    dni: Regex,
    nir: Regex,
    aadhaar: Regex,
}

static PATTERNS: LazyLock<Result<Patterns, String>> = LazyLock::new(|| {
    Ok(Patterns {
        ssn: build(r"\d{3}[- ]\d{2}[- ]\d{4}")?,
        nino: build(r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]")?,
        dni: build(r"[XYZ]-?\d{7}-?[A-Z]|\d{8}-?[A-Z]")?,
        nir: build(r"[1278] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}")?,
        aadhaar: build(r"[2-9]\d{3}[ -]\d{4}[ -]\d{4}")?,
    })
});

pub(crate) fn ready() -> Result<(), String> {
    PATTERNS.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// The separators of a candidate are one kind, and either all present or (when `optional`) none.
fn one_separator(s: &str, expected: usize, optional: bool) -> bool {
    let seps: Vec<char> = s.chars().filter(|c| *c == ' ' || *c == '-').collect();
    (optional && seps.is_empty()) || (seps.len() == expected && seps.iter().all(|c| *c == seps[0]))
}

fn valid_ssn(s: &str) -> bool {
    let d = digits(s);
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    one_separator(s, 2, false) && area != 0 && area != 666 && area < 900 && d[3..5] != [0, 0] && d[5..] != [0, 0, 0, 0]
}

fn valid_nino(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    let spaces = s.len() - compact.len();
    let (a, b) = (compact[0], compact[1]);
    (spaces == 0 || spaces == 4)
        && !b"DFIQUV".contains(&a)
        && !b"DFIOQUV".contains(&b)
        && ![*b"BG", *b"GB", *b"KN", *b"NK", *b"NT", *b"TN", *b"ZZ"].contains(&[a, b])
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn valid_dni(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    let Some((&letter, body)) = compact.split_last() else { return false };
    let mut n: u64 = 0;
    for (i, &b) in body.iter().enumerate() {
        let v = match (i, b) {
            (0, b'X') => 0,
            (0, b'Y') => 1,
            (0, b'Z') => 2,
            (_, b'0'..=b'9') => b - b'0',
            _ => return false,
        };
        n = n * 10 + u64::from(v);
    }
    DNI_LETTERS.get((n % 23) as usize) == Some(&letter)
}

fn valid_nir(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    let spaces = s.len() - compact.len();
    if !(spaces == 0 || spaces == 6) || compact.len() != 15 {
        return false;
    }
    let month: u32 = compact[3..5].parse().unwrap_or(0);
    if !((1..=12).contains(&month) || (20..=42).contains(&month) || (50..=99).contains(&month)) {
        return false;
    }
    let body = compact[..13].replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), compact[13..].parse::<u64>()) else { return false };
    key == 97 - n % 97
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// The digits (check digit last) pass the Verhoeff check.
pub(crate) fn verhoeff(d: &[u8]) -> bool {
    let c = d
        .iter()
        .rev()
        .enumerate()
        .fold(0u8, |c, (i, &x)| VERHOEFF_D[c as usize][VERHOEFF_P[i % 8][x as usize] as usize]);
    c == 0
}

pub(crate) fn ids(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    let numeric = |s: usize, e: usize| clear_before(text, s) && clear_after(text, e) && !digit_neighbour(text, s, e);
    let mut out = Vec::new();
    for m in p.ssn.find_iter(text) {
        if valid_ssn(m.as_str()) && numeric(m.start(), m.end()) {
            out.push((m.start(), m.end()));
        }
    }
    for m in p.nino.find_iter(text) {
        if valid_nino(m.as_str()) && word_bounded(text, m.start(), m.end()) {
            out.push((m.start(), m.end()));
        }
    }
    for m in p.dni.find_iter(text) {
        if valid_dni(m.as_str()) && word_bounded(text, m.start(), m.end()) && clear_before(text, m.start()) {
            out.push((m.start(), m.end()));
        }
    }
    for m in p.nir.find_iter(text) {
        if valid_nir(m.as_str()) && numeric(m.start(), m.end()) {
            out.push((m.start(), m.end()));
        }
    }
    for m in p.aadhaar.find_iter(text) {
        if one_separator(m.as_str(), 2, false) && verhoeff(&digits(m.as_str())) && numeric(m.start(), m.end()) {
            out.push((m.start(), m.end()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        ids(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    /// The Verhoeff check digit for `d`.
    fn verhoeff_digit(d: &[u8]) -> u8 {
        (0..10).find(|&c| verhoeff(&[d, &[c]].concat())).unwrap()
    }

    #[test]
    fn verhoeff_known_values() {
        assert!(verhoeff(&[2, 3, 6, 3]));
        assert!(!verhoeff(&[2, 3, 6, 4]));
        assert_eq!(verhoeff_digit(&[2, 3, 6]), 3);
    }

    #[test]
    fn ids_found() {
        let aadhaar: Vec<u8> = vec![2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2];
        let c = verhoeff_digit(&aadhaar);
        let aadhaar = format!("2345 6789 012{c}");
        for t in [
            "123-45-6789",
            "078 05 1120",
            "AB123456C",
            "JG 10 37 24 A",
            "12345678Z",
            "12345678-Z",
            "X1234567L",
            "Y-1234567-X",
            "1 85 05 78 006 084 91",
            "185057800608491",
            "2 69 05 2A 123 456 88",
            aadhaar.as_str(),
        ] {
            let text = format!("my id: {t}.");
            assert_eq!(found(&text), vec![t], "{t}");
        }
    }

    #[test]
    fn id_look_alikes() {
        let bad_aadhaar = {
            let c = verhoeff_digit(&[2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
            format!("2345 6789 012{}", (c + 1) % 10)
        };
        for t in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "123-45 6789",
            "123456789",
            "phone 415-55-0132x",
            "DA123456C",
            "GB123456A",
            "AB123456E",
            "AB 123456C",
            "12345678A",
            "X1234567A",
            "185057800608492",
            "1 85 13 78 006 084 91",
            "2024-01-15",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "order 234567890124",
            bad_aadhaar.as_str(),
            "1345 6789 0123",
            "v1.2.3 build 20240115",
            "codes 11 123 45 6789 22",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
