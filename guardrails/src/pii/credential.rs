//! Credentials: secrets with a well-known shape, and high-entropy tokens.
//!
//! Prefixed (not inside a longer word): OpenAI `sk-…` / `sk-proj-…`, Anthropic `sk-ant-…` (20+
//! chars after the prefix, letters and digits both present), AWS access key ids `AKIA`/`ASIA` + 16,
//! GitHub `ghp_ gho_ ghu_ ghs_ ghr_` + 36 and `github_pat_` + 22, Slack `xox[abprs]-`, Google
//! `AIza` + 35, Stripe `sk_live_ rk_live_`, GitLab `glpat-` + 20, Layerr `lyr_` + 16, JWTs
//! (`eyJ….eyJ….…`), and PEM `-----BEGIN … PRIVATE KEY-----` blocks up to their END line, or to
//! the end of the base64 lines that follow when the END line has not arrived (a truncated key;
//! a word on the line after it may be taken with it).
//!
//! High-entropy tokens: a maximal run of ≥ 24 chars of `[A-Za-z0-9+/=_-]` holding upper-case,
//! lower-case AND digits, digits in at least two places (not `CamelCaseName123`), Shannon
//! entropy ≥ 4 bits/char, no run of 6+ lower-case letters (words, identifiers), and not only hex digits and dashes (UUIDs, hashes: hex entropy is at most 4, so
//! hex secrets are caught only by prefix). Deliberately conservative: lower-case-only tokens, short
//! tokens and base64 of ordinary words are not caught.

use std::sync::LazyLock;

use regex::Regex;

use super::{build, char_before, Span};

struct Patterns {
    prefixed: Regex,
    token: Regex,
}

static PATTERNS: LazyLock<Result<Patterns, String>> = LazyLock::new(|| {
    Ok(Patterns {
        prefixed: build(concat!(
            r"sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}",
            r"|(?:AKIA|ASIA)[A-Z0-9]{16}",
            r"|gh[pousr]_[A-Za-z0-9]{36,255}",
            r"|github_pat_[A-Za-z0-9_]{22,255}",
            r"|xox[abprs]-[A-Za-z0-9-]{10,}",
            r"|AIza[0-9A-Za-z_-]{35}",
            r"|(?:sk|rk)_live_[A-Za-z0-9]{16,}",
            r"|glpat-[A-Za-z0-9_-]{20,}",
            r"|lyr_[A-Za-z0-9]{16,}",
            r"|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
            r"|-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[A-Za-z0-9+/=\r\n]*)",
        ))?,
        token: build(r"[A-Za-z0-9+/=_-]{24,}")?,
    })
});

pub(crate) fn ready() -> Result<(), String> {
    PATTERNS.as_ref().map(|_| ()).map_err(Clone::clone)
}

pub(crate) fn credentials(text: &str) -> Vec<Span> {
    let Ok(p) = &*PATTERNS else { return vec![] };
    let mut out: Vec<Span> = Vec::new();
    for m in p.prefixed.find_iter(text) {
        let s = m.as_str();
        let glued = char_before(text, m.start()).is_some_and(|c| c.is_alphanumeric() || "_-".contains(c));
        let generic_sk = s.starts_with("sk-") && {
            let body = s.trim_start_matches("sk-ant-").trim_start_matches("sk-proj-").trim_start_matches("sk-");
            !(body.bytes().any(|b| b.is_ascii_digit()) && body.bytes().any(|b| b.is_ascii_alphabetic()))
        };
        if !glued && !generic_sk {
            // A PEM block's trailing whitespace is not part of it.
            let end = m.start() + s.trim_end().len();
            out.push((m.start(), end));
        }
    }
    for m in p.token.find_iter(text) {
        if out.iter().any(|&(s, e)| s < m.end() && m.start() < e) {
            continue;
        }
        if high_entropy(m.as_str()) {
            out.push((m.start(), m.end()));
        }
    }
    out
}

/// Shannon entropy in bits per char.
pub(crate) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / n).map(|p| -p * p.log2()).sum()
}

fn high_entropy(s: &str) -> bool {
    let b = s.as_bytes();
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let digit = b.iter().any(u8::is_ascii_digit);
    let hexish = b.iter().all(|c| c.is_ascii_hexdigit() || *c == b'-');
    let mut run = 0;
    let mut longest_lower = 0;
    let mut digit_runs = 0;
    let mut prev_digit = false;
    for c in b {
        run = if c.is_ascii_lowercase() { run + 1 } else { 0 };
        longest_lower = longest_lower.max(run);
        if c.is_ascii_digit() && !prev_digit {
            digit_runs += 1;
        }
        prev_digit = c.is_ascii_digit();
    }
    upper && lower && digit && digit_runs >= 2 && !hexish && longest_lower < 6 && entropy(s) >= 4.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        credentials(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn prefixed_secrets_found() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x2\nabcd==\n-----END RSA PRIVATE KEY-----";
        for t in [
            "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t",
            "sk-ant-api03-Xy7Zq9Wv2Ut4Sr6Qp8On",
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7A",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "xoxb-123456789012-abcdefABCDEF",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "glpat-xxxxxxxxxxxxxxxxxxxx",
            "lyr_0123456789abcdefABCDEF",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            pem,
        ] {
            let text = format!("key: {t}\nthanks");
            assert_eq!(found(&text), vec![t], "{t}");
        }
        let truncated = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        assert_eq!(found(truncated), vec![truncated]);
    }

    #[test]
    fn high_entropy_tokens_found() {
        for t in ["Zx9Qp2Lm7Rt4Vb8Nk3Ws6Yd1", "aB3xK9mQ2pL7vR4tY8wZ1nC5hJ6gF0dS", "q8Vz+3Kd/Lp2Xw9Tn4Rb7Mc1Hj6="] {
            let text = format!("token {t} end");
            assert_eq!(found(&text), vec![t], "{t}");
        }
    }

    #[test]
    fn credential_look_alikes() {
        for t in [
            "task-abcdefghijklmnopqrstuvwxyz0123",
            "sk-this-is-a-long-hyphenated-slug-here",
            "uuid 550e8400-e29b-41d4-a716-446655440000",
            "sha da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "md5 D41D8CD98F00B204E9800998ECF8427E",
            "path /home/user/projects/my-app2/src/components/Button3",
            "url https://example.com/api/v2/users?id=12345&sort=name",
            "internationalization_and_localization_2024",
            "MyVeryLongClassNameForTheFactory2024Impl",
            "ThisIsNotASecretButItIsLong123",
            "2024-01-15T10:30:00Z",
            "a3f9c2e1b7d4f6a8c0e2b4d6f8a1c3e5b7d9f0a2",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA11aa",
            "the quick brown fox jumps over the lazy dog",
        ] {
            assert!(found(t).is_empty(), "{t}: {:?}", found(t));
        }
    }
}
