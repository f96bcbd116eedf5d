//! Request intent classification: fast, local and deterministic.
//!
//! The router asks "what kind of work is this request?" before it picks a model. This module answers
//! with one of nine [`Intent`]s and a confidence, from nothing but the request text: no model, no
//! network, no regex. It is a hand-weighted linear scorer over three kinds of evidence:
//!
//! * **keywords and two-word phrases** ("refactor", "tl dr", "step by", "into japanese", "翻译"...),
//!   looked up in one hash table built once from [`LEXICON`]; words in a pasted body (after the
//!   first blank line or `:` + newline) or inside quotes count for less than the instruction around
//!   them, so the text being *operated on* does not outvote the request;
//! * **symbols and shapes**: code fences, `;`/`{}`/`()`/`=>`/`::`, indentation, snake_case and
//!   camelCase, `KeyError`-style types, file extensions; arithmetic between numbers or one-letter
//!   variables, `^`, `²`, `∫`; email addresses and URLs;
//! * **scripts and languages**: non-Latin scripts and non-English stop words next to English ones
//!   suggest translation; CJK keywords are matched as substrings.
//!
//! [`Intent::Chat`] carries a constant prior, so text with no signal (greetings, small talk, the
//! empty string) falls back to chat with a low confidence. Scores are turned into probabilities by
//! a softmax; the confidence is the winner's probability.
//!
//! Cost: one pass over the bytes, one hash lookup per word (two after a word that starts a phrase),
//! no allocation after the first call (which builds the table): about 2 µs for a typical prompt and
//! 10 µs for 1 KB on one core. Measure with `cargo run --release --example intent_accuracy`.
//!
//! Accuracy is measured on `data/intents/labelled.jsonl` (see that example and the
//! `labelled_test_split_accuracy` test). Tune the lexicon only against the "dev" split's errors.
//!
//! Files: this one (the entry points, the tuning knobs and the scoring), `lexicon.rs` (the keyword
//! table: mostly data), `scan.rs` (one pass over the text gathering evidence), `shapes.rs` (code
//! and math shapes of a span of bytes) and `tests.rs`.

mod lexicon;
mod scan;
mod shapes;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

/// The intent vocabulary is the domain's: it is recorded on every trace.
pub use layerr_domain::trace::{Intent, ParseIntentError};
pub use lexicon::LEXICON;

use scan::{scan, Feats};

/// Number of intents the classifier answers ([`Intent::CLASSIFIED`]; never `embedding`).
pub const N_INTENTS: usize = layerr_domain::trace::N_CLASSIFIED;

/// The outcome of classifying one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The most probable intent (ties go to the earlier one in [`Intent::CLASSIFIED`]).
    pub intent: Intent,
    /// Probability of `intent`, in `[0, 1]`. Below about 0.4 the signal is weak; above 0.8 it is clear.
    pub confidence: f32,
    /// Softmax probability of every intent, in [`Intent::CLASSIFIED`] order; they sum to 1.
    pub scores: [(Intent, f32); N_INTENTS],
}

impl Classification {
    /// The probability given to `intent`.
    pub fn score(&self, intent: Intent) -> f32 {
        self.scores.get(intent.index()).map_or(0.0, |s| s.1)
    }

    /// The runner-up intent and its probability.
    pub fn runner_up(&self) -> (Intent, f32) {
        let mut best = (Intent::Chat, -1.0f32);
        for &(i, p) in &self.scores {
            if i != self.intent && p > best.1 {
                best = (i, p);
            }
        }
        best
    }
}

/// Classify one piece of text (for a request: the last user message, optionally with the system
/// prompt appended). Deterministic; never panics.
pub fn classify(text: &str) -> Classification {
    let mut raw = score(&scan(text));
    add_prior(&mut raw);
    finish(raw)
}

/// Classify a request from its system prompt and last user message; the user message counts
/// fully and the system prompt at [`SYSTEM_WEIGHT`], so a "You are a coding assistant" prompt
/// tilts an ambiguous question without overriding a clear one.
pub fn classify_messages(system: Option<&str>, last_user: &str) -> Classification {
    let mut raw = score(&scan(last_user));
    if let Some(sys) = system.filter(|s| !s.trim().is_empty()) {
        let s = score(&scan(sys));
        for (r, v) in raw.iter_mut().zip(s) {
            *r += SYSTEM_WEIGHT * v;
        }
    }
    add_prior(&mut raw);
    finish(raw)
}

/// Weight of the system prompt's evidence relative to the last user message.
pub const SYSTEM_WEIGHT: f32 = 0.35;

// ---------------------------------------------------------------------------------------------
// Tuning knobs.

/// Constant score of Chat: what every other intent must beat.
const CHAT_PRIOR: f32 = 1.0;
/// Softmax temperature, in score units.
const TEMPERATURE: f32 = 1.0;
/// Keyword weight in a pasted body (after the first blank line or ":\n"), relative to the instruction.
const BODY_WEIGHT: f32 = 0.4;
/// Keyword weight inside quotes, relative to outside.
const QUOTE_WEIGHT: f32 = 0.3;
/// A final paragraph at most this long, after a body, is read as an instruction again.
const TAIL_MAX: usize = 220;
/// Words longer than this (in bytes, lowercased) are never keywords.
const MAX_WORD: usize = 40;

const COD: usize = Intent::Coding as usize;
const MAT: usize = Intent::Math as usize;
const EXT: usize = Intent::Extraction as usize;
const TRA: usize = Intent::Translation as usize;
const CLS: usize = Intent::Classification as usize;
const CHT: usize = Intent::Chat as usize;

// ---------------------------------------------------------------------------------------------
// Scoring.

#[inline]
fn ln1p(x: u32) -> f32 {
    (x as f32).ln_1p()
}

/// Turn evidence into raw (pre-prior) scores.
fn score(f: &Feats) -> [f32; N_INTENTS] {
    let mut s = f.kw;

    // Code shapes.
    let code_shape = 3.0 * (f.fences.min(2) as f32 / 2.0).ceil()
        + 0.8 * (f.backticks / 2).min(4) as f32
        + 1.4 * ln1p(f.semis)
        + 1.0 * ln1p(f.braces)
        + 1.2 * f.empty_parens.min(3) as f32
        + 0.6 * ln1p(f.calls)
        + 1.3 * ln1p(f.code_ops)
        + 0.7 * ln1p(f.indent_lines)
        + 0.9 * ln1p(f.snake)
        + 1.0 * ln1p(f.camel)
        + 1.5 * f.exts.min(2) as f32
        + 3.0 * f.err_types.min(1) as f32;
    s[COD] += code_shape;

    // Math shapes.
    let math_shape = 1.3 * f.arith.ln_1p()
        + 1.2 * ln1p(f.carets)
        + 1.5 * ln1p(f.math_syms)
        + 0.5 * f.numbers.ln_1p()
        + 0.8 * ln1p(f.vars)
        + 1.5 * f.percents.ln_1p();
    s[MAT] += math_shape;

    // Extraction shapes: emails and links in the text to work on.
    s[EXT] += 0.5 * ln1p(f.emails + f.urls);

    // Translation: another language or script next to an English instruction.
    let foreign = f.non_latin >= 2 || f.foreign_stop >= 2 || f.accented >= 2;
    if foreign && f.en_stop >= 2 {
        s[TRA] += 1.0;
    }

    // "Is this review positive or negative? '...'": a choice between labels for a given item.
    if f.is_this && f.or_words > 0 && (f.quoted_words >= 3 || f.has_body) {
        s[CLS] += 1.5;
    }

    // Short, keyword-free texts are small talk.
    if (1..=6).contains(&f.words) && f.numbers == 0.0 {
        s[CHT] += 0.5;
    }
    s
}

fn add_prior(s: &mut [f32; N_INTENTS]) {
    s[CHT] += CHAT_PRIOR;
}

fn finish(raw: [f32; N_INTENTS]) -> Classification {
    let mut best = 0;
    for k in 1..N_INTENTS {
        if raw[k] > raw[best] {
            best = k;
        }
    }
    let max = raw[best];
    let mut exps = [0f32; N_INTENTS];
    let mut total = 0.0;
    for k in 0..N_INTENTS {
        let e = ((raw[k] - max) / TEMPERATURE).exp();
        exps[k] = e;
        total += e;
    }
    let mut scores = [(Intent::Chat, 0.0f32); N_INTENTS];
    for k in 0..N_INTENTS {
        scores[k] = (Intent::CLASSIFIED[k], exps[k] / total);
    }
    Classification { intent: Intent::CLASSIFIED[best], confidence: scores[best].1, scores }
}
