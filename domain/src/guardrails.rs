//! Guardrail policies as the events carry them: a list of rules, each with an id, a scope, an
//! action and a check. Pure data; the engine that compiles and runs a policy is the
//! `layerr-guardrails` crate, which refuses what it cannot run safely (pattern sizes, counts).
//!
//! The wire shape (camelCase, `type` names the check):
//! ```json
//! { "failMode": "closed", "streamHoldbackChars": 64,
//!   "rules": [ { "id": "pii", "type": "pii", "kinds": ["email", "card"], "scope": "both", "action": "redact" },
//!              { "id": "acme", "type": "regex", "pattern": "ACME-\\d{6}", "scope": "input", "action": "block" } ] }
//! ```

use serde::{Deserialize, Serialize};

/// How long streamed text is held back, in characters, unless the policy says otherwise.
pub const DEFAULT_STREAM_HOLDBACK_CHARS: u32 = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// What happens when the policy cannot be evaluated (it no longer compiles under the
    /// installation's limits, or a check fails internally): refuse (`closed`, the default) or
    /// let the request through unchecked (`open`).
    #[serde(default)]
    pub fail_mode: FailMode,
    /// Streamed output is released this many characters behind what the upstream has sent, so a
    /// match is found before any of it reaches the client.
    #[serde(default = "default_holdback")]
    pub stream_holdback_chars: u32,
    pub rules: Vec<Rule>,
}

fn default_holdback() -> u32 {
    DEFAULT_STREAM_HOLDBACK_CHARS
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailMode {
    #[default]
    Closed,
    Open,
}

/// Unknown fields are refused by the check (`Check`), which receives every field the rule's own
/// do not take (serde's `deny_unknown_fields` does not combine with `flatten`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Named in violations and decision events: 1 to 64 of `[A-Za-z0-9._-]`, unique in a policy.
    pub id: String,
    #[serde(default)]
    pub scope: Scope,
    pub action: Action,
    #[serde(flatten)]
    pub check: Check,
}

/// Which side of a call a rule looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    Input,
    Output,
    #[default]
    Both,
}

impl Scope {
    pub fn covers(self, side: Side) -> bool {
        matches!((self, side), (Scope::Both, _) | (Scope::Input, Side::Input) | (Scope::Output, Side::Output))
    }
}

/// The side a piece of text is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Side {
    Input,
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Refuse the request (`400 GUARDRAIL_VIOLATION`), or end a stream with an error event.
    Block,
    /// Replace the matched text with `[REDACTED:<label>]` before it goes on.
    Redact,
    /// Let it through; record the decision.
    Flag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Check {
    /// Personal data; `kinds` empty means every kind.
    Pii {
        #[serde(default)]
        kinds: Vec<PiiKind>,
    },
    /// A custom regular expression (linear-time syntax: no look-around or back-references).
    Regex {
        pattern: String,
        #[serde(default)]
        case_insensitive: bool,
    },
    /// Denied terms, matched case-insensitively on word boundaries.
    Terms { terms: Vec<String> },
    /// A denied topic: matched when at least `min_matches` distinct keywords of it appear.
    Topic {
        name: String,
        keywords: Vec<String>,
        #[serde(default = "one")]
        min_matches: u32,
    },
    /// Prompt-injection heuristics (input only): matched when the score reaches `threshold`.
    Injection {
        #[serde(default = "half")]
        threshold: f64,
    },
    /// Token ceilings: the estimated prompt, and the completion the request may ask for.
    MaxTokens {
        #[serde(default)]
        input: Option<u32>,
        #[serde(default)]
        output: Option<u32>,
    },
}

fn one() -> u32 {
    1
}

fn half() -> f64 {
    0.5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PiiKind {
    Email,
    Phone,
    Card,
    Iban,
    NationalId,
    Ip,
    Credential,
}

impl PiiKind {
    pub const ALL: [PiiKind; 7] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Card,
        PiiKind::Iban,
        PiiKind::NationalId,
        PiiKind::Ip,
        PiiKind::Credential,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Card => "card",
            PiiKind::Iban => "iban",
            PiiKind::NationalId => "nationalId",
            PiiKind::Ip => "ip",
            PiiKind::Credential => "credential",
        }
    }
}

/// What a guardrail found, as decision events record it: the rule, what kind of match, where
/// (byte offsets in the UTF-8 text of one location) and what was done. Never the text itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub rule_id: String,
    pub action: Action,
    pub side: Side,
    /// `pii:email`, `regex`, `term`, `topic`, `injection`, `maxTokens:input`, `maxTokens:output`.
    pub kind: String,
    /// Where in the request or answer: `messages[2].content`, `messages[1].toolCalls[0].arguments`,
    /// `output.content`, `output.toolCalls[0].arguments`, `prompt`, `maxTokens`.
    pub location: String,
    pub start: u32,
    pub end: u32,
    /// The injection score, when the check has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shape_round_trips_with_defaults() {
        let p: Policy = serde_json::from_value(json!({
            "rules": [
                { "id": "pii", "type": "pii", "action": "redact" },
                { "id": "acme", "type": "regex", "pattern": "ACME-\\d+", "caseInsensitive": true, "scope": "input", "action": "block" },
                { "id": "t", "type": "topic", "name": "weapons", "keywords": ["rifle"], "action": "flag" },
                { "id": "inj", "type": "injection", "scope": "input", "action": "block" },
                { "id": "max", "type": "maxTokens", "input": 100, "action": "block" }
            ]
        }))
        .unwrap();
        assert_eq!(p.fail_mode, FailMode::Closed);
        assert_eq!(p.stream_holdback_chars, DEFAULT_STREAM_HOLDBACK_CHARS);
        assert_eq!(p.rules[0].scope, Scope::Both);
        assert_eq!(p.rules[0].check, Check::Pii { kinds: vec![] });
        assert_eq!(p.rules[1].check, Check::Regex { pattern: "ACME-\\d+".into(), case_insensitive: true });
        assert_eq!(
            p.rules[2].check,
            Check::Topic { name: "weapons".into(), keywords: vec!["rifle".into()], min_matches: 1 }
        );
        assert_eq!(p.rules[3].check, Check::Injection { threshold: 0.5 });
        assert_eq!(p.rules[4].check, Check::MaxTokens { input: Some(100), output: None });
        let back: Policy = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert_eq!(serde_json::to_value(&p.rules[1]).unwrap()["caseInsensitive"], true);
    }

    #[test]
    fn unknown_fields_and_checks_are_refused() {
        let bad = [
            json!({ "rules": [], "extra": 1 }),
            json!({ "rules": [{ "id": "a", "type": "telepathy", "action": "block" }] }),
            json!({ "rules": [{ "id": "a", "type": "pii", "action": "block", "kinds": ["dna"] }] }),
            json!({ "rules": [{ "id": "a", "type": "pii", "action": "nuke" }] }),
            json!({ "rules": [{ "id": "a", "type": "regex", "pattern": "x", "action": "block", "flags": "i" }] }),
        ];
        for b in bad {
            assert!(serde_json::from_value::<Policy>(b.clone()).is_err(), "{b}");
        }
    }

    #[test]
    fn scope_covers_its_sides() {
        assert!(Scope::Both.covers(Side::Input) && Scope::Both.covers(Side::Output));
        assert!(Scope::Input.covers(Side::Input) && !Scope::Input.covers(Side::Output));
        assert!(!Scope::Output.covers(Side::Input) && Scope::Output.covers(Side::Output));
    }
}
