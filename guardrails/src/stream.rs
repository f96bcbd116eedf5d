//! `StreamGuard`: output checked before its bytes leave. Text is released `holdback_chars`
//! characters behind what has arrived; a match that reaches past that point, or that touches the
//! end of what has arrived (it may still grow), holds the release point at its start.
//!
//! On every push the unreleased text is scanned (after up to [`CONTEXT_BYTES`] of released text,
//! so word boundaries and matches that began in released text are seen; the latter are applied
//! to their unreleased part). Hits wholly before the release point are applied: `Redact` replaced,
//! `Flag` passed through and reported, `Block` ends the stream with nothing of it or after it
//! released. Each hit is reported once, with offsets in the whole stream's original text. Topic
//! keywords count across the whole stream. Past [`MAX_PENDING_BYTES`] of unreleased text the
//! guard decides anyway (a hit across the window edge is applied whole).

use std::sync::Arc;

use layerr_domain::guardrails::{Action, Side};

use crate::{redact, Compiled, Hit, TextRole};

/// Unreleased text beyond this is decided and released even if a match may still grow.
pub const MAX_PENDING_BYTES: usize = 64 << 10;

/// How much released text is kept in front of the unreleased text when scanning.
pub const CONTEXT_BYTES: usize = 256;

/// What one push (or the finish) releases.
#[derive(Debug, Default)]
pub struct Step {
    /// To send now, redactions applied.
    pub text: String,
    /// The `Redact` and `Flag` hits in what this step releases; offsets in the whole stream's
    /// original text.
    pub hits: Vec<Hit>,
    /// A `Block` hit: stop. `text` holds only what came before it; later pushes release nothing.
    pub blocked: Option<Hit>,
}

/// Holds back streamed output (side `Output`, role `Assistant`) until it has been checked.
#[derive(Debug)]
pub struct StreamGuard {
    policy: Arc<Compiled>,
    /// Original text that has arrived and not been released.
    pending: String,
    /// The tail of the released original text.
    context: String,
    /// Original bytes released so far: the stream offset of `pending`.
    released: usize,
    /// Topic keywords seen in released text, per rule, per distinct keyword.
    seen: Vec<Vec<bool>>,
    stopped: bool,
}

impl StreamGuard {
    pub fn new(policy: Arc<Compiled>) -> Self {
        let seen = policy.topic_shape().into_iter().map(|n| vec![false; n]).collect();
        StreamGuard { policy, pending: String::new(), context: String::new(), released: 0, seen, stopped: false }
    }

    pub fn push(&mut self, delta: &str) -> Step {
        if self.stopped {
            return Step::default();
        }
        self.pending.push_str(delta);
        self.step(false)
    }

    /// Releases the rest after a final scan.
    pub fn finish(&mut self) -> Step {
        if self.stopped {
            return Step::default();
        }
        let step = self.step(true);
        self.stopped = true;
        step
    }

    fn step(&mut self, last: bool) -> Step {
        if !self.policy.checks(Side::Output) {
            self.released += self.pending.len();
            return Step { text: std::mem::take(&mut self.pending), ..Step::default() };
        }
        let ctx = self.context.len();
        let buf = format!("{}{}", self.context, self.pending);
        let (raw, occurrences) = self.policy.scan_with(Side::Output, TextRole::Assistant, &buf, &self.seen);
        // Relative to `pending`: hits wholly in the context were decided before; a hit that began
        // there is applied to its unreleased part.
        let hits: Vec<Hit> = raw
            .into_iter()
            .filter(|h| h.end > ctx)
            .map(|h| Hit { start: h.start.max(ctx) - ctx, end: h.end - ctx, ..h })
            .collect();
        let len = self.pending.len();
        let mut r = if last { len } else { chars_back(&self.pending, self.policy.holdback_chars()) };
        if !last && len > MAX_PENDING_BYTES {
            // Decide anyway: a hit across the window edge is applied whole.
            for h in &hits {
                if h.start < r && h.end > r {
                    r = h.end;
                }
            }
        } else if !last {
            loop {
                let before = r;
                for h in &hits {
                    if h.start < r && (h.end > r || h.end == len) {
                        r = h.start;
                    }
                }
                if r == before {
                    break;
                }
            }
        }
        let block = hits.iter().find(|h| h.end <= r && h.action == Action::Block).cloned();
        let cut = block.as_ref().map_or(r, |b| b.start);
        let applied: Vec<Hit> = hits
            .into_iter()
            .filter(|h| h.start < cut && h.action != Action::Block)
            .map(|h| Hit { end: h.end.min(cut), ..h })
            .collect();
        let text = redact(&self.pending[..cut], &applied);
        for o in occurrences {
            if o.end > ctx && o.end - ctx <= cut {
                if let Some(slot) = self.seen.get_mut(o.rule).and_then(|s| s.get_mut(o.term)) {
                    *slot = true;
                }
            }
        }
        let offset = self.released;
        let shift = |h: Hit| Hit { start: h.start + offset, end: h.end + offset, ..h };
        let step = Step { text, hits: applied.into_iter().map(shift).collect(), blocked: block.map(shift) };
        self.context.push_str(&self.pending[..cut]);
        if self.context.len() > CONTEXT_BYTES {
            let mut from = self.context.len() - CONTEXT_BYTES;
            while !self.context.is_char_boundary(from) {
                from += 1;
            }
            self.context.drain(..from);
        }
        self.pending.drain(..cut);
        self.released += cut;
        if step.blocked.is_some() {
            self.stopped = true;
            self.pending.clear();
        }
        step
    }
}

/// The byte index `n` chars before the end of `s` (0 if `s` is shorter).
fn chars_back(s: &str, n: usize) -> usize {
    if n == 0 {
        return s.len();
    }
    s.char_indices().rev().nth(n - 1).map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars_back_counts_chars_not_bytes() {
        assert_eq!(chars_back("abcdé", 0), 6);
        assert_eq!(chars_back("abcdé", 1), 4);
        assert_eq!(chars_back("abcdé", 2), 3);
        assert_eq!(chars_back("abcdé", 9), 0);
    }
}
