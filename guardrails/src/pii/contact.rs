//! Contact details: email addresses, phone numbers, IP addresses.
//!
//! - Email: `local@domain.tld`; the local part of `[A-Za-z0-9._%+-]` not starting or ending with
//!   a dot nor holding `..`, domain labels of letters, digits and inner dashes, a TLD of 2–24
//!   letters.
//! - Phone: `+` and 1–3 digits then groups (optionally one parenthesised), separated by at most one
//!   space, dot or dash (`+44 20 7946 0958`, `+1 (415) 555-0132`, `+49-30-901820`); or national
//!   forms with separators: `(415) 555-0132`, `415-555-0132` / `415.555.0132` / `415 555 0132`
//!   (one separator kind), `020 7946 0958`, `07700 900123`, `01 23 45 67 89`. 7–15 digits in all.
//!   A bare run of digits is never a phone number (order numbers, timestamps).
//! - IP: IPv4 dotted quads, octets 0–255 without leading zeros, not part of a longer dotted run
//!   (`1.2.3.4.5`); IPv6 candidates of hex groups and at least two colons, parsed by
//!   `std::net::Ipv6Addr` (so `10:30:00` and MAC addresses are not addresses).

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;

use super::{build, char_after, char_before, clear_after, clear_before, digit_neighbour, digits, Span};

struct Patterns {
    email: Regex,
    phone: Regex,
    ipv4: Regex,
    ipv6: Regex,
}

static PATTERNS: LazyLock<Result<Patterns, String>> = LazyLock::new(|| {
    Ok(Patterns {
        email: build(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}")?,
        phone: build(concat!(
            r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,6}){1,6}",
            r"|\(\d{2,5}\)[ .-]?\d{3,4}[ .-]?\d{3,4}",
            r"|\d{3}[ .-]\d{3}[ .-]\d{4}",
            r"|0\d(?:[ .]\d{2}){4}",
            r"|0\d{4}[ -]\d{6}",
            r"|0\d{1,4}[ -]\d{3,4}[ -]\d{3,4}",
        ))?,
        ipv4: build(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")?,
        ipv6: build(r"[0-9A-Fa-f]{0,4}(?::(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})){2,7}")?,
    })
});

pub(crate) fn ready() -> Result<(), String> {
    PATTERNS.as_ref().map(|_| ()).map_err(Clone::clone)
}

pub(crate) fn emails(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    p.email
        .find_iter(text)
        .filter(|m| {
            let s = m.as_str();
            let Some((local, domain)) = s.split_once('@') else { return false };
            !local.starts_with('.')
                && !local.ends_with('.')
                && !local.contains("..")
                && domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
                && char_after(text, m.end()) != Some('@')
        })
        .map(|m| (m.start(), m.end()))
        .collect()
}

pub(crate) fn phones(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    p.phone
        .find_iter(text)
        .filter(|m| {
            let s = m.as_str();
            let n = digits(s).len();
            (7..=15).contains(&n)
                && consistent_national(s)
                && (s.starts_with('+') || s.starts_with('(') || clear_before(text, m.start()))
                && !char_before(text, m.start()).is_some_and(|c| c.is_alphanumeric() || c == '+')
                && clear_after(text, m.end())
                && (s.starts_with('+') || !digit_neighbour(text, m.start(), m.end()))
        })
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// A national number written `ddd-ddd-dddd` uses one separator kind throughout.
fn consistent_national(s: &str) -> bool {
    if s.starts_with('+') || s.starts_with('(') {
        return true;
    }
    let mut seps = s.chars().filter(|c| !c.is_ascii_digit());
    match seps.next() {
        Some(first) => seps.all(|c| c == first),
        None => false,
    }
}

pub(crate) fn ips(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    let mut out: Vec<Span> = p
        .ipv4
        .find_iter(text)
        .filter(|m| {
            m.as_str()
                .split('.')
                .all(|o| (o.len() == 1 || !o.starts_with('0')) && o.parse::<u16>().is_ok_and(|v| v <= 255))
                && clear_before(text, m.start())
                && clear_after(text, m.end())
        })
        .map(|m| (m.start(), m.end()))
        .collect();
    for m in p.ipv6.find_iter(text) {
        let s = m.as_str();
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if s.matches(':').count() >= 2
            && s.bytes().any(|b| b.is_ascii_hexdigit())
            && s.parse::<Ipv6Addr>().is_ok()
            && !glued(char_before(text, m.start()))
            && !glued(char_after(text, m.end()))
        {
            // An embedded IPv4 address is part of this one.
            out.retain(|&(s, e)| !(m.start() <= s && e <= m.end()));
            out.push((m.start(), m.end()));
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
    fn emails_found() {
        assert_eq!(found(emails, "mail jane.doe+x@mail.example.co.uk now"), vec!["jane.doe+x@mail.example.co.uk"]);
        assert_eq!(found(emails, "<a_b@x-y.io>, c@d.org."), vec!["a_b@x-y.io", "c@d.org"]);
    }

    #[test]
    fn email_look_alikes() {
        for t in [
            "@handle on twitter",
            "user@localhost",
            "version 1.2.3@beta",
            "git@host",
            ".a@x..com",
            "price 5@3.99",
            "a@-x.com",
            "a@b.c",
        ] {
            assert!(found(emails, t).is_empty(), "{t}: {:?}", found(emails, t));
        }
    }

    #[test]
    fn phones_found() {
        for t in [
            "+44 20 7946 0958",
            "+1 (415) 555-0132",
            "+33 1 23 45 67 89",
            "+49-30-901820",
            "+4930901820",
            "(415) 555-0132",
            "415-555-0132",
            "415.555.0132",
            "020 7946 0958",
            "07700 900123",
            "01 23 45 67 89",
        ] {
            let text = format!("call me on {t}, thanks");
            assert_eq!(found(phones, &text), vec![t], "{t}");
        }
    }

    #[test]
    fn phone_look_alikes() {
        for t in [
            "order 4159550132 shipped",
            "on 2024-01-15 at 10:30:00",
            "version 1.22.333",
            "uuid 123e4567-e89b-12d3-a456-426614174000",
            "price $1,299.99",
            "timestamp 1700000000123",
            "ORD-415-555-0132",
            "415-555.0132",
            "3+4 = 7",
            "+12 345",
            "ISBN 978-3-16-148410-0",
            "see 192.168.100.1",
            "it costs 100 200 euros",
            "IBAN DE89 3704 0044 0532 0130 00",
            "list 12 415 555 0132 99",
        ] {
            assert!(found(phones, t).is_empty(), "{t}: {:?}", found(phones, t));
        }
    }

    #[test]
    fn ips_found() {
        assert_eq!(found(ips, "from 192.168.0.1, and 10.0.0.255."), vec!["192.168.0.1", "10.0.0.255"]);
        assert_eq!(found(ips, "host 2001:db8::8a2e:370:7334 up"), vec!["2001:db8::8a2e:370:7334"]);
        assert_eq!(found(ips, "[::1]:8080 and fe80::1"), vec!["::1", "fe80::1"]);
        assert_eq!(found(ips, "::ffff:192.0.2.1"), vec!["::ffff:192.0.2.1"]);
    }

    #[test]
    fn ip_look_alikes() {
        for t in [
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "v1.2.3",
            "at 10:30:00",
            "mac 00:1A:2B:3C:4D:5E",
            "std::vector<int>",
            "a :: b",
            "Foo::Bar::baz",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "price 3.99",
        ] {
            assert!(found(ips, t).is_empty(), "{t}: {:?}", found(ips, t));
        }
    }
}
