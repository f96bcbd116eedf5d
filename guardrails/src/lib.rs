//! The guardrail engine: compiles a [`Policy`] (the data type in `layerr_domain::guardrails`)
//! into a [`Compiled`] form and runs it on text. Pure: no IO, no async, no clocks.
//!
//! # Use
//! ```
//! use layerr_domain::guardrails::{Policy, Side};
//! use layerr_guardrails::{compile, redact, Limits, TextRole};
//! let policy: Policy = serde_json::from_str(
//!     r#"{ "rules": [ { "id": "pii", "type": "pii", "kinds": ["email"], "action": "redact" } ] }"#,
//! ).unwrap();
//! let compiled = compile(&policy, &Limits::default()).unwrap();
//! let text = "write to jane@example.com";
//! let hits = compiled.scan(Side::Input, TextRole::User, text);
//! assert_eq!(redact(text, &hits), "write to [REDACTED:EMAIL]");
//! ```
//!
//! # What `compile` refuses
//! Rule ids must be 1–64 of `[A-Za-z0-9._-]` and unique; at most [`Limits::max_rules`] rules. A
//! regex must parse (linear-time syntax: no look-around, no back-references), nest at most 64
//! deep, be at most [`Limits::max_pattern_bytes`] long, compile under
//! [`Limits::max_compiled_bytes`] (this is how "catastrophic" patterns such as `(a{1000}){1000}`
//! are refused: the regex crate never backtracks, so the only danger is size) and must not match
//! the empty string (`a*`, `\b`, `^`). Terms and keywords are non-empty, at most
//! [`Limits::max_term_bytes`] each, at most [`Limits::max_terms`] in the whole policy, and patterns,
//! terms and keywords together at most [`Limits::max_total_bytes`]; counts and sizes are checked
//! before anything is built. A topic needs `1 ≤ minMatches ≤` its distinct keywords; an
//! injection threshold is in (0, 1] and the rule may not have scope `output`; `maxTokens` needs
//! `input` or `output`, each ≥ 1; `streamHoldbackChars` ≤ [`Limits::max_holdback_chars`].
//! Errors name the field (`rules[2].pattern`).
//!
//! # What each check catches, and its limits
//! - **PII** (each kind's rules and checksums are documented in its module under `src/pii/`):
//!   - `email`: `local@domain.tld` with a 2–24 letter TLD.
//!   - `phone`: `+` international numbers (`+44 20 7946 0958`, `+1 (415) 555-0132`,
//!     `+33 1 23 45 67 89`, `+49-30-901820`) and separated national forms (`(415) 555-0132`,
//!     `415-555-0132`, `020 7946 0958`, `01 23 45 67 89`); 7–15 digits. Bare digit runs never count.
//!   - `card`: 13–19 digits, compact or in groups of 4 (Amex 4-6-5, Diners 4-6-4) with one space or
//!     dash, Luhn-checked, with a plausible issuer prefix and length.
//!   - `iban`: ISO 13616, compact or in groups of 4, mod-97 = 1, per-country length for the SEPA
//!     countries (15–34 otherwise). Upper-case only.
//!   - `nationalId`: US SSN, UK NINO, Spanish DNI/NIE, French NIR, Indian Aadhaar (grouped
//!     `1234 5678 9012` only), each with its checksum or validity rules (`pii::national`).
//!   - `ip`: IPv4 (no leading zeros, not part of a longer dotted run) and IPv6 (parsed by std).
//!   - `credential`: well-known key prefixes, JWTs, PEM private-key blocks (also unterminated),
//!     and high-entropy tokens (see `pii::credential`: ≥ 24 chars, upper AND lower case AND
//!     digits, ≥ 4 bits/char, no long lower-case word inside; pure hex and UUIDs are never caught
//!     by entropy alone; base64 blobs such as inline images are). Conservative by design: a false
//!     positive redacts real content.
//! - **regex**: every non-overlapping match (`find_iter`); `caseInsensitive` uses the builder flag.
//! - **terms**: whole words (not inside a longer word of letters, digits or `_`), many at once
//!   (Aho-Corasick), leftmost-longest. Case-insensitive for ASCII; a term with non-ASCII letters
//!   matches as written, all lower-case, all upper-case, or capitalised (no full Unicode folding).
//! - **topic**: keywords matched like terms; once at least `minMatches` distinct keywords occur
//!   (in a stream: anywhere in the stream so far), every occurrence is a hit.
//! - **injection** (input side, `User` and `Tool` text only): weighted heuristics over normalised
//!   text (`injection`), score `1 − Π(1 − wᵢ)`, one hit when the score reaches the threshold.
//! - **maxTokens**: not a text check; [`Compiled::token_limits`] reports the tightest ceilings.
//!
//! # Streams
//! [`StreamGuard`] releases output `holdback_chars` characters behind what has arrived, and holds
//! any match that reaches past that point or touches the end of what has arrived. Guarantee: a
//! match is never partly released as long as its shortest prefix that is not yet a match is
//! shorter than the window (for a card, an email, a term: the whole thing is within 64 chars, so
//! it is caught whole). Longer constructs (a PEM block, a match longer than the window whose
//! prefix is not a match) can be partly released before they are recognised; the pending buffer is
//! capped at [`stream::MAX_PENDING_BYTES`], past which text is decided and released anyway.
//! Regex anchors (`^`, `\A`) see the start of the pending buffer, not of the stream. A policy
//! with no output text rule releases everything as it arrives.

mod compile;
mod injection;
mod pii;
pub mod stream;
mod words;

use std::sync::Arc;

use layerr_domain::guardrails::{Action, Decision, Side};

pub use compile::{compile, Compiled};
pub use stream::{Step, StreamGuard};

/// What an installation lets a policy ask for. Read from the configuration's `[guardrails]`
/// table (snake_case, every field optional) and shown by the API (camelCase).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"), deny_unknown_fields, default)]
pub struct Limits {
    pub max_rules: usize,
    pub max_pattern_bytes: usize,
    /// Per regex, passed to `RegexBuilder::size_limit`.
    pub max_compiled_bytes: usize,
    /// Terms and keywords across the policy.
    pub max_terms: usize,
    pub max_term_bytes: usize,
    /// Patterns, terms and keywords together.
    pub max_total_bytes: usize,
    pub max_holdback_chars: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rules: 100,
            max_pattern_bytes: 4096,
            max_compiled_bytes: 1 << 20,
            max_terms: 10_000,
            max_term_bytes: 256,
            max_total_bytes: 256 << 10,
            max_holdback_chars: 4096,
        }
    }
}

/// Why a policy was refused: the field (`rules[2].pattern`, `rules`, `streamHoldbackChars`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        PolicyError { field: field.into(), message: message.into() }
    }
}

/// Who wrote a piece of text: decides whether injection heuristics run on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRole {
    System,
    User,
    Assistant,
    Tool,
}

/// One match of one rule in one piece of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule_id: Arc<str>,
    pub action: Action,
    /// `pii:email`, `pii:phone`, `pii:card`, `pii:iban`, `pii:nationalId`, `pii:ip`,
    /// `pii:credential`, `regex`, `term`, `topic`, `injection`.
    pub kind: String,
    /// The placeholder label: `EMAIL`, `PHONE`, `CARD`, `IBAN`, `NATIONAL_ID`, `IP`, `CREDENTIAL`,
    /// `PATTERN`, `TERM`, `TOPIC`, `INJECTION`.
    pub label: &'static str,
    /// Byte offsets in the UTF-8 text (on char boundaries).
    pub start: usize,
    pub end: usize,
    /// The injection score.
    pub score: Option<f64>,
}

impl Hit {
    /// The decision record for this hit (offsets saturate at `u32::MAX`).
    pub fn decision(&self, side: Side, location: &str) -> Decision {
        Decision {
            rule_id: self.rule_id.to_string(),
            action: self.action,
            side,
            kind: self.kind.clone(),
            location: location.to_string(),
            start: u32::try_from(self.start).unwrap_or(u32::MAX),
            end: u32::try_from(self.end).unwrap_or(u32::MAX),
            score: self.score,
        }
    }
}

/// The tightest `maxTokens` ceilings of a policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenLimits {
    pub input: Option<Ceiling>,
    pub output: Option<Ceiling>,
}

/// One ceiling and the rule that set it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ceiling {
    pub tokens: u32,
    pub rule_id: Arc<str>,
    pub action: Action,
}

/// `text` with the spans of hits whose action is `Redact` replaced by `[REDACTED:<label>]`
/// (overlapping spans merged into one placeholder, labelled by the earliest).
pub fn redact(text: &str, hits: &[Hit]) -> String {
    replace_spans(text, hits.iter().filter(|h| h.action == Action::Redact))
}

/// `text` with the span of every hit (any action) replaced by `[REDACTED:<label>]`: what is
/// stored in traces, so matched content never lands in events.
pub fn mask(text: &str, hits: &[Hit]) -> String {
    replace_spans(text, hits.iter())
}

fn replace_spans<'a>(text: &str, hits: impl Iterator<Item = &'a Hit>) -> String {
    let mut spans: Vec<(usize, usize, &'static str)> = hits
        .filter_map(|h| {
            let (s, e) = widen(text, h.start, h.end);
            (s < e).then_some((s, e, h.label))
        })
        .collect();
    spans.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut i = 0;
    while i < spans.len() {
        let (start, mut end, label) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            i += 1;
        }
        out.push_str(&text[at..start]);
        out.push_str("[REDACTED:");
        out.push_str(label);
        out.push(']');
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// A span clamped to the text and widened to char boundaries.
fn widen(text: &str, start: usize, end: usize) -> (usize, usize) {
    let mut s = start.min(text.len());
    let mut e = end.min(text.len()).max(s);
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    while !text.is_char_boundary(e) {
        e += 1;
    }
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(action: Action, label: &'static str, start: usize, end: usize) -> Hit {
        Hit { rule_id: "r".into(), action, kind: "regex".into(), label, start, end, score: None }
    }

    #[test]
    fn redact_replaces_only_redact_hits_and_merges_overlaps() {
        let text = "aaa bbb ccc ddd";
        let hits = [
            hit(Action::Redact, "A", 0, 3),
            hit(Action::Flag, "B", 4, 7),
            hit(Action::Redact, "C", 8, 11),
            hit(Action::Redact, "D", 9, 15),
        ];
        assert_eq!(redact(text, &hits), "[REDACTED:A] bbb [REDACTED:C]");
        assert_eq!(mask(text, &hits), "[REDACTED:A] [REDACTED:B] [REDACTED:C]");
        assert_eq!(redact(text, &[]), text);
    }

    #[test]
    fn spans_are_clamped_to_char_boundaries() {
        let text = "é1é";
        let hits = [hit(Action::Redact, "X", 1, 3)];
        assert_eq!(redact(text, &hits), "[REDACTED:X]é");
        let far = [hit(Action::Redact, "X", 3, 99)];
        assert_eq!(redact(text, &far), "é1[REDACTED:X]");
    }

    #[test]
    fn decision_carries_the_hit_without_text() {
        let h = Hit { score: Some(0.9), ..hit(Action::Block, "INJECTION", 2, 9) };
        let d = h.decision(Side::Input, "messages[0].content");
        assert_eq!((d.rule_id.as_str(), d.start, d.end, d.score), ("r", 2, 9, Some(0.9)));
        assert_eq!(d.location, "messages[0].content");
    }
}
