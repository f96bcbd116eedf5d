//! The explain headers: `x-layerr-trace-id` on every chat answer, and with `layerr.explain` the
//! routing explanation (intent, strategy, provider, model, attempts, scores, summary).

use axum::http::{HeaderMap, HeaderValue};

use crate::gateway::Explain;

/// A header value from text that may hold anything: non-ASCII and control characters become
/// `?`, and it is cut at 900 characters.
fn ascii(s: &str) -> HeaderValue {
    let clean: String =
        s.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).take(900).collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

pub fn headers(e: &Explain, h: &mut HeaderMap) {
    h.insert("x-layerr-trace-id", ascii(&e.trace_id));
    if !e.enabled {
        return;
    }
    h.insert("x-layerr-intent", ascii(e.intent.map_or("", |i| i.as_str())));
    h.insert("x-layerr-intent-confidence", ascii(&format!("{:.2}", e.confidence)));
    h.insert("x-layerr-strategy", ascii(&e.strategy));
    if let Some(p) = &e.provider {
        h.insert("x-layerr-provider", ascii(p));
    }
    if let Some(m) = &e.model {
        h.insert("x-layerr-model", ascii(m));
    }
    h.insert("x-layerr-attempts", ascii(&e.attempts.len().to_string()));
    if !e.attempts.is_empty() {
        let notes: Vec<String> = e.attempts.iter().map(ToString::to_string).collect();
        h.insert("x-layerr-fallback-attempts", ascii(&notes.join("; ")));
    }
    if let Some(s) = &e.scores {
        h.insert(
            "x-layerr-scores",
            ascii(&format!("quality={:.2}; speed={:.2}; cost={:.2}; total={:.2}", s.quality, s.speed, s.cost, s.total)),
        );
    }
    h.insert("x-layerr-summary", ascii(&e.summary));
}
