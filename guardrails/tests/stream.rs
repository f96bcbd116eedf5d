//! `StreamGuard` against whole-text scanning: whatever the chunking, the released text equals
//! `redact` of the whole text, nothing of a match is released early, a Block stops the stream
//! before the blocked text, and each hit is reported once with whole-stream offsets.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failure is a panic")]

use std::sync::Arc;

use layerr_domain::guardrails::{Action, Policy, Side};
use layerr_guardrails::{compile, redact, Compiled, Hit, Limits, Step, StreamGuard, TextRole};
use serde_json::{json, Value};

fn compiled(holdback: u32, rules: Value) -> Arc<Compiled> {
    let p: Policy = serde_json::from_value(json!({ "streamHoldbackChars": holdback, "rules": rules })).unwrap();
    Arc::new(compile(&p, &Limits::default()).unwrap())
}

/// Everything a stream released, every step's text, the hits and the block.
struct Run {
    text: String,
    chunks: Vec<String>,
    hits: Vec<Hit>,
    blocked: Option<Hit>,
}

fn run(policy: &Arc<Compiled>, pieces: &[&str]) -> Run {
    let mut g = StreamGuard::new(policy.clone());
    let mut out = Run { text: String::new(), chunks: vec![], hits: vec![], blocked: None };
    let take = |s: Step, out: &mut Run| {
        out.text.push_str(&s.text);
        out.chunks.push(s.text);
        out.hits.extend(s.hits);
        if out.blocked.is_none() {
            out.blocked = s.blocked;
        }
    };
    for p in pieces {
        let s = g.push(p);
        take(s, &mut out);
    }
    let s = g.finish();
    take(s, &mut out);
    out
}

fn char_boundaries(text: &str) -> Vec<usize> {
    (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect()
}

const CARD_TEXT: &str = "my card is 4111 1111 1111 1111, thanks";

#[test]
fn a_card_is_never_partly_released_at_any_split() {
    // The default window, then windows shorter than the text (so text is released mid-stream).
    for window in [64, 19, 24] {
        card_splits(window);
    }
}

fn card_splits(window: u32) {
    let policy = compiled(window, json!([{ "id": "pii", "type": "pii", "kinds": ["card"], "action": "redact" }]));
    let expected = redact(CARD_TEXT, &policy.scan(Side::Output, TextRole::Assistant, CARD_TEXT));
    assert_eq!(expected, "my card is [REDACTED:CARD], thanks");
    let b = char_boundaries(CARD_TEXT);
    for (x, &i) in b.iter().enumerate() {
        for &j in &b[x..] {
            let r = run(&policy, &[&CARD_TEXT[..i], &CARD_TEXT[i..j], &CARD_TEXT[j..]]);
            assert_eq!(r.text, expected, "window {window}, split at {i}, {j}");
            for c in &r.chunks {
                assert!(!c.contains(|ch: char| ch.is_ascii_digit()), "split at {i}, {j}: released {c:?}");
            }
            assert_eq!(r.hits.len(), 1);
            assert_eq!((r.hits[0].start, r.hits[0].end), (11, 30));
        }
    }
    let singles: Vec<String> = CARD_TEXT.chars().map(String::from).collect();
    let r = run(&policy, &singles.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.text, expected);
    assert!(r.chunks.iter().all(|c| !c.contains(|ch: char| ch.is_ascii_digit())));
}

#[test]
fn a_window_as_long_as_the_match_is_enough_and_growing_matches_are_held() {
    // A card is 19 chars: its longest non-matching prefix is 18, so a window of 19 holds it whole.
    let policy = compiled(19, json!([{ "id": "pii", "type": "pii", "kinds": ["card"], "action": "redact" }]));
    let singles: Vec<String> = CARD_TEXT.chars().map(String::from).collect();
    let r = run(&policy, &singles.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.text, "my card is [REDACTED:CARD], thanks");
    assert!(r.chunks.iter().all(|c| !c.contains(|ch: char| ch.is_ascii_digit())));
    // With no window at all, a match that touches the end of what has arrived is still held.
    let policy = compiled(0, json!([{ "id": "n", "type": "regex", "pattern": "\\d+", "action": "redact" }]));
    let mut g = StreamGuard::new(policy);
    assert_eq!(g.push("ab 12").text, "ab ");
    assert_eq!(g.push("3").text, "");
    assert_eq!(g.push(" x").text, "[REDACTED:PATTERN] x");
    assert_eq!(g.finish().text, "");
}

#[test]
fn a_block_term_split_across_chunks_stops_the_stream_before_it() {
    let policy =
        compiled(64, json!([{ "id": "deny", "type": "terms", "terms": ["project orion"], "action": "block" }]));
    let text = "The plan is called Project Orion and it is secret.";
    let b = char_boundaries(text);
    for &i in &b {
        let r = run(&policy, &[&text[..i], &text[i..]]);
        let blocked = r.blocked.unwrap_or_else(|| panic!("split at {i}: not blocked"));
        assert_eq!((blocked.start, blocked.end, blocked.action), (19, 32, Action::Block));
        assert_eq!(r.text, "The plan is called ");
        assert!(!r.text.to_lowercase().contains("orion"));
    }
    // After a block nothing more is released.
    let mut g = StreamGuard::new(policy.clone());
    let s = g.push(&format!("{text}{}", " padding".repeat(20)));
    assert!(s.blocked.is_some());
    assert!(g.push("more text").text.is_empty());
    assert!(g.finish().text.is_empty());
}

#[test]
fn holdback_zero_without_rules_releases_everything_at_once() {
    let policy = compiled(0, json!([]));
    let mut g = StreamGuard::new(policy);
    assert_eq!(g.push("hello ").text, "hello ");
    assert_eq!(g.push("wörld").text, "wörld");
    assert_eq!(g.finish().text, "");
}

#[test]
fn text_is_held_back_by_the_window_in_chars() {
    let policy = compiled(3, json!([{ "id": "t", "type": "terms", "terms": ["zzz"], "action": "redact" }]));
    let mut g = StreamGuard::new(policy);
    assert_eq!(g.push("abcdé").text, "ab");
    assert_eq!(g.push("fg").text, "cd");
    assert_eq!(g.finish().text, "éfg");
}

#[test]
fn flags_pass_through_and_are_reported_once() {
    let policy = compiled(8, json!([{ "id": "f", "type": "terms", "terms": ["beta"], "action": "flag" }]));
    let text = "alpha beta gamma delta beta epsilon zeta eta theta";
    let r = run(&policy, &text.split_inclusive(' ').collect::<Vec<_>>());
    assert_eq!(r.text, text);
    let spans: Vec<_> = r.hits.iter().map(|h| (h.start, h.end)).collect();
    assert_eq!(spans, [(6, 10), (23, 27)]);
    assert!(r.blocked.is_none());
}

#[test]
fn topics_count_distinct_keywords_across_the_stream() {
    let policy = compiled(
        4,
        json!([{ "id": "w", "type": "topic", "name": "w", "keywords": ["rifle", "ammo"], "minMatches": 2, "action": "redact" }]),
    );
    let first = "I bought a rifle yesterday, and a long story follows here. ";
    let text = format!("{first}Then ammo.");
    let r = run(&policy, &[first, "Then ammo."]);
    // The rifle was released before the topic was reached; the ammo was not.
    assert_eq!(r.text, format!("{first}Then [REDACTED:TOPIC]."));
    assert_eq!(r.hits.len(), 1);
    assert_eq!(&text[r.hits[0].start..r.hits[0].end], "ammo");
}

#[test]
fn a_pending_buffer_past_the_cap_is_decided_anyway() {
    let policy = compiled(64, json!([{ "id": "r", "type": "regex", "pattern": "x+", "action": "redact" }]));
    let mut g = StreamGuard::new(policy);
    let big = "x".repeat(70 * 1024);
    let s = g.push(&big);
    assert_eq!(s.text, "[REDACTED:PATTERN]");
    assert_eq!(g.push("y").text, "");
    assert_eq!(g.finish().text, "y");
}

/// xorshift64: deterministic pseudo-random chunkings without a new dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_chunkings_match_whole_text_redaction() {
    // The longest PII here is under 40 chars, so any window from 40 up gives the same result.
    for window in [64, 40] {
        random_chunkings(window);
    }
}

fn random_chunkings(window: u32) {
    let policy = compiled(
        window,
        json!([
            { "id": "pii", "type": "pii", "action": "redact" },
            { "id": "flag", "type": "terms", "terms": ["quarterly report"], "action": "flag" }
        ]),
    );
    let text = "Hi, I'm Jane (jane.doe@example.com, +44 20 7946 0958). Ünïcödé ✓ text. \
                Card 5555 5555 5555 4444 exp 12/27; IBAN DE89 3704 0044 0532 0130 00. \
                Server 192.168.10.20 and 2001:db8::1 got the quarterly report. \
                SSN 123-45-6789, key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t, token Zx9Qp2Lm7Rt4Vb8Nk3Ws6Yd1. Bye!";
    let whole = policy.scan(Side::Output, TextRole::Assistant, text);
    assert!(whole.len() >= 10, "{whole:?}");
    let expected = redact(text, &whole);
    let b = char_boundaries(text);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..200 {
        let max_chunk = [1, 3, 8, 20, 100][round % 5];
        let mut cuts = vec![0];
        while *cuts.last().unwrap() < text.len() {
            let last = *cuts.last().unwrap();
            let want = last + 1 + (rng.next() % max_chunk) as usize;
            cuts.push(*b.iter().find(|&&i| i >= want).unwrap_or(&text.len()));
        }
        let pieces: Vec<&str> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
        let r = run(&policy, &pieces);
        assert_eq!(r.text, expected, "window {window}, round {round}: {pieces:?}");
        assert_eq!(r.hits, whole, "window {window}, round {round}");
        assert!(r.blocked.is_none());
    }
}

#[test]
fn word_boundaries_see_released_text() {
    // "cat" arriving after a released "con" is inside the word "concat": not a term.
    let policy = compiled(0, json!([{ "id": "t", "type": "terms", "terms": ["cat"], "action": "redact" }]));
    let r = run(&policy, &["con", "cat ", "and cat", " here"]);
    assert_eq!(r.text, "concat and [REDACTED:TERM] here");
    assert_eq!(r.hits.len(), 1);
    assert_eq!((r.hits[0].start, r.hits[0].end), (11, 14));
}

#[test]
fn a_match_longer_than_the_window_is_applied_from_the_release_point() {
    // The window limit, made visible: "BEGIN" is not a match on its own, so it is released; once
    // the match completes, its unreleased part is still redacted (and a block still stops).
    let policy =
        compiled(4, json!([{ "id": "r", "type": "regex", "pattern": "BEGIN [a-z ]+ END", "action": "redact" }]));
    let r = run(&policy, &["x BEGIN some", " long text ", "END y"]);
    assert!(r.text.starts_with("x BEGIN"), "{}", r.text);
    assert!(r.text.ends_with("[REDACTED:PATTERN] y"), "{}", r.text);
    assert!(!r.text.contains("END"));
    let policy =
        compiled(4, json!([{ "id": "r", "type": "regex", "pattern": "BEGIN [a-z ]+ END", "action": "block" }]));
    let r = run(&policy, &["x BEGIN some", " long text ", "END y"]);
    assert!(r.blocked.is_some());
    assert!(!r.text.contains("END"));
}

#[test]
fn redactions_before_a_block_are_applied_and_reported() {
    let policy = compiled(
        64,
        json!([
            { "id": "pii", "type": "pii", "kinds": ["email"], "action": "redact" },
            { "id": "deny", "type": "terms", "terms": ["forbidden"], "action": "block" }
        ]),
    );
    let r = run(&policy, &["mail a@b.io then the forb", "idden word and c@d.io"]);
    assert_eq!(r.text, "mail [REDACTED:EMAIL] then the ");
    assert_eq!(r.hits.iter().map(|h| h.rule_id.as_ref()).collect::<Vec<_>>(), ["pii"]);
    assert_eq!(r.blocked.map(|b| (b.start, b.end)), Some((21, 30)));
}
