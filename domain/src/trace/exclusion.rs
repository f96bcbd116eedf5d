//! Why the router passed over a candidate: a typed vocabulary, recorded on `RouteDecided` since
//! version 1.1 (version 1.0 recorded free text, upcast by [`Exclusion::from_legacy`]).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Exclusion {
    ProviderDisabled,
    /// The catalog says the model cannot serve chat (an embedding model, a retired one).
    ModelUnusable {
        detail: String,
    },
    ProviderNotAllowed,
    ModelNotAllowed,
    ProviderNotInStrategy,
    NoTools,
    NoVision,
    NoJson,
    NoStreaming,
    ContextWindow {
        needed: u64,
        window: u64,
    },
    StrategyRequires {
        capability: String,
    },
    StrategyMaxCost {
        estimated_micros: i64,
        max_micros: i64,
    },
    StrategyMinQuality {
        quality: f64,
        min: f64,
    },
    RequestMaxCost {
        estimated_micros: i64,
        max_micros: i64,
    },
    RequestMaxLatency {
        expected_ms: f64,
        max_ms: u64,
    },
    BreakerOpen,
    /// A version 1.0 text that matches none of the above (kept as it was recorded).
    Other {
        text: String,
    },
}

impl fmt::Display for Exclusion {
    /// The human text, as version 1.0 recorded it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Exclusion as X;
        match self {
            X::ProviderDisabled => f.write_str("provider disabled"),
            X::ModelUnusable { detail } => f.write_str(detail),
            X::ProviderNotAllowed => f.write_str("provider not allowed for this workspace"),
            X::ModelNotAllowed => f.write_str("model not allowed for this workspace"),
            X::ProviderNotInStrategy => f.write_str("provider not allowed by the strategy"),
            X::NoTools => f.write_str("model does not support tools"),
            X::NoVision => f.write_str("model does not support images"),
            X::NoJson => f.write_str("model does not support JSON mode"),
            X::NoStreaming => f.write_str("model does not support streaming"),
            X::ContextWindow { needed, window } => write!(f, "needs ~{needed} tokens, context window is {window}"),
            X::StrategyRequires { capability } => write!(f, "strategy requires {capability}"),
            X::StrategyMaxCost { estimated_micros, max_micros } => {
                write!(f, "estimated cost {estimated_micros} µ$ exceeds the strategy's {max_micros} µ$")
            }
            X::StrategyMinQuality { quality, min } => write!(f, "quality {quality:.2} below the strategy's {min:.2}"),
            X::RequestMaxCost { estimated_micros, max_micros } => {
                write!(f, "estimated cost {estimated_micros} µ$ exceeds the request's maxCost of {max_micros} µ$")
            }
            X::RequestMaxLatency { expected_ms, max_ms } => {
                write!(f, "expected latency {expected_ms:.0} ms exceeds the request's maxLatency of {max_ms} ms")
            }
            X::BreakerOpen => f.write_str("circuit breaker open"),
            X::Other { text } => f.write_str(text),
        }
    }
}

impl Exclusion {
    /// Reads a version 1.0 text back into the vocabulary (the texts 1.0 wrote, parsed back;
    /// anything else is kept as `Other`).
    pub fn from_legacy(text: &str) -> Exclusion {
        use Exclusion as X;
        let fixed = [
            X::ProviderDisabled,
            X::ProviderNotAllowed,
            X::ModelNotAllowed,
            X::ProviderNotInStrategy,
            X::NoTools,
            X::NoVision,
            X::NoJson,
            X::NoStreaming,
            X::BreakerOpen,
        ];
        if let Some(x) = fixed.into_iter().find(|x| x.to_string() == text) {
            return x;
        }
        let num = |s: &str| s.trim().parse::<i64>().ok();
        if let Some(rest) = text.strip_prefix("needs ~") {
            if let Some((needed, window)) = rest.split_once(" tokens, context window is ") {
                if let (Ok(needed), Ok(window)) = (needed.parse(), window.parse()) {
                    return X::ContextWindow { needed, window };
                }
            }
        }
        if let Some(cap) = text.strip_prefix("strategy requires ") {
            return X::StrategyRequires { capability: cap.to_string() };
        }
        if let Some(rest) = text.strip_prefix("estimated cost ") {
            if let Some((est, max)) = rest.split_once(" µ$ exceeds the strategy's ") {
                if let (Some(e), Some(m)) = (num(est), num(max.trim_end_matches(" µ$"))) {
                    return X::StrategyMaxCost { estimated_micros: e, max_micros: m };
                }
            }
            if let Some((est, max)) = rest.split_once(" µ$ exceeds the request's maxCost of ") {
                if let (Some(e), Some(m)) = (num(est), num(max.trim_end_matches(" µ$"))) {
                    return X::RequestMaxCost { estimated_micros: e, max_micros: m };
                }
            }
        }
        if let Some(rest) = text.strip_prefix("quality ") {
            if let Some((q, min)) = rest.split_once(" below the strategy's ") {
                if let (Ok(quality), Ok(min)) = (q.parse(), min.parse()) {
                    return X::StrategyMinQuality { quality, min };
                }
            }
        }
        if let Some(rest) = text.strip_prefix("expected latency ") {
            if let Some((e, max)) = rest.split_once(" ms exceeds the request's maxLatency of ") {
                if let (Ok(expected_ms), Ok(max_ms)) = (e.parse(), max.trim_end_matches(" ms").parse()) {
                    return X::RequestMaxLatency { expected_ms, max_ms };
                }
            }
        }
        if text == "not a chat model" || text == "model retired" {
            return X::ModelUnusable { detail: text.to_string() };
        }
        X::Other { text: text.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_of_version_1_0_reads_back_as_it_was_written() {
        let all = [
            Exclusion::ProviderDisabled,
            Exclusion::ProviderNotAllowed,
            Exclusion::ModelNotAllowed,
            Exclusion::ProviderNotInStrategy,
            Exclusion::NoTools,
            Exclusion::NoVision,
            Exclusion::NoJson,
            Exclusion::NoStreaming,
            Exclusion::ContextWindow { needed: 9000, window: 8192 },
            Exclusion::StrategyRequires { capability: "vision".into() },
            Exclusion::StrategyMaxCost { estimated_micros: 120, max_micros: 100 },
            Exclusion::StrategyMinQuality { quality: 0.5, min: 0.75 },
            Exclusion::RequestMaxCost { estimated_micros: 7, max_micros: 5 },
            Exclusion::RequestMaxLatency { expected_ms: 900.0, max_ms: 500 },
            Exclusion::BreakerOpen,
        ];
        for x in all {
            assert_eq!(Exclusion::from_legacy(&x.to_string()), x, "{x}");
        }
        assert_eq!(Exclusion::from_legacy("something new"), Exclusion::Other { text: "something new".into() });
        let json = serde_json::to_value(Exclusion::ContextWindow { needed: 2, window: 1 }).unwrap();
        assert_eq!(json, serde_json::json!({"reason": "contextWindow", "needed": 2, "window": 1}));
    }
}
