//! `compile`: validates a policy against the installation's limits (sizes and counts first, before
//! anything is built) and builds its matchers; `Compiled::scan` runs them on one piece of text.

use std::sync::Arc;

use layerr_domain::guardrails::{Action, Check, FailMode, PiiKind, Policy, Scope, Side};
use regex::{Regex, RegexBuilder};

use crate::words::Words;
use crate::{injection, pii, Ceiling, Hit, Limits, PolicyError, TextRole, TokenLimits};

/// A policy ready to run: every matcher built. Cheap to share (`Arc<Compiled>`).
#[derive(Debug)]
pub struct Compiled {
    policy: Policy,
    rules: Vec<CompiledRule>,
}

#[derive(Debug)]
struct CompiledRule {
    id: Arc<str>,
    action: Action,
    scope: Scope,
    matcher: Matcher,
}

#[derive(Debug)]
enum Matcher {
    Pii(Vec<PiiKind>),
    Regex(Regex),
    Terms(Words),
    Topic { words: Words, min: usize },
    Injection { threshold: f64 },
    MaxTokens { input: Option<u32>, output: Option<u32> },
}

/// One keyword occurrence of a topic rule (`rule` indexes the policy's rules).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicOccurrence {
    pub rule: usize,
    pub term: usize,
    pub end: usize,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::new(field, message)
}

/// Validates `policy` under `limits` and builds its matchers.
pub fn compile(policy: &Policy, limits: &Limits) -> Result<Compiled, PolicyError> {
    check_sizes(policy, limits)?;
    let mut rules = Vec::with_capacity(policy.rules.len());
    for (i, rule) in policy.rules.iter().enumerate() {
        let at = |f: &str| format!("rules[{i}].{f}");
        if rule.id.is_empty()
            || rule.id.len() > 64
            || !rule.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(err(at("id"), "must be 1 to 64 characters of A-Z a-z 0-9 . _ -"));
        }
        if policy.rules[..i].iter().any(|r| r.id == rule.id) {
            return Err(err(at("id"), format!("duplicate rule id {:?}", rule.id)));
        }
        let matcher = match &rule.check {
            Check::Pii { kinds } => {
                pii::ready().map_err(|e| err(at("kinds"), e))?;
                let mut kinds = if kinds.is_empty() { PiiKind::ALL.to_vec() } else { kinds.clone() };
                kinds.sort_unstable();
                kinds.dedup();
                Matcher::Pii(kinds)
            }
            Check::Regex { pattern, case_insensitive } => {
                Matcher::Regex(build_regex(pattern, *case_insensitive, limits).map_err(|m| err(at("pattern"), m))?)
            }
            Check::Terms { terms } => Matcher::Terms(Words::new(terms).map_err(|m| err(at("terms"), m))?),
            Check::Topic { keywords, min_matches, .. } => {
                let words = Words::new(keywords).map_err(|m| err(at("keywords"), m))?;
                let min = *min_matches as usize;
                if min < 1 || min > words.distinct {
                    return Err(err(
                        at("minMatches"),
                        format!("must be between 1 and the number of distinct keywords ({})", words.distinct),
                    ));
                }
                Matcher::Topic { words, min }
            }
            Check::Injection { threshold } => {
                if !(*threshold > 0.0 && *threshold <= 1.0) {
                    return Err(err(at("threshold"), "must be greater than 0 and at most 1"));
                }
                if rule.scope == Scope::Output {
                    return Err(err(at("scope"), "injection checks run on input only (scope input or both)"));
                }
                injection::ready().map_err(|e| err(at("threshold"), e))?;
                Matcher::Injection { threshold: *threshold }
            }
            Check::MaxTokens { input, output } => {
                if input.is_none() && output.is_none() {
                    return Err(err(at("input"), "maxTokens needs input, output or both"));
                }
                for (name, v) in [("input", input), ("output", output)] {
                    if *v == Some(0) {
                        return Err(err(at(name), "must be at least 1"));
                    }
                }
                Matcher::MaxTokens { input: *input, output: *output }
            }
        };
        rules.push(CompiledRule { id: Arc::from(rule.id.as_str()), action: rule.action, scope: rule.scope, matcher });
    }
    Ok(Compiled { policy: policy.clone(), rules })
}

/// Counts and sizes, before anything is built (a 10 MB term list is refused here, cheaply).
fn check_sizes(policy: &Policy, limits: &Limits) -> Result<(), PolicyError> {
    if policy.stream_holdback_chars > limits.max_holdback_chars {
        return Err(err("streamHoldbackChars", format!("must be at most {}", limits.max_holdback_chars)));
    }
    if policy.rules.len() > limits.max_rules {
        return Err(err("rules", format!("{} rules, over the limit of {}", policy.rules.len(), limits.max_rules)));
    }
    let mut terms = 0usize;
    let mut total = 0usize;
    for (i, rule) in policy.rules.iter().enumerate() {
        let (field, list): (&str, &[String]) = match &rule.check {
            Check::Regex { pattern, .. } => {
                if pattern.len() > limits.max_pattern_bytes {
                    return Err(err(
                        format!("rules[{i}].pattern"),
                        format!("{} bytes, over the limit of {}", pattern.len(), limits.max_pattern_bytes),
                    ));
                }
                total += pattern.len();
                ("pattern", &[])
            }
            Check::Terms { terms } => ("terms", terms),
            Check::Topic { keywords, .. } => ("keywords", keywords),
            _ => ("", &[]),
        };
        if !field.is_empty() && field != "pattern" {
            if list.is_empty() {
                return Err(err(format!("rules[{i}].{field}"), "must not be empty"));
            }
            terms += list.len();
            if terms > limits.max_terms {
                return Err(err(
                    format!("rules[{i}].{field}"),
                    format!("more than {} terms and keywords in the policy", limits.max_terms),
                ));
            }
            for (j, t) in list.iter().enumerate() {
                if t.trim().is_empty() || t.len() > limits.max_term_bytes {
                    return Err(err(
                        format!("rules[{i}].{field}[{j}]"),
                        format!("must be 1 to {} bytes and not blank", limits.max_term_bytes),
                    ));
                }
                total += t.len();
            }
        }
        if total > limits.max_total_bytes {
            return Err(err(
                "rules",
                format!("patterns, terms and keywords exceed {} bytes in total", limits.max_total_bytes),
            ));
        }
    }
    Ok(())
}

fn build_regex(pattern: &str, case_insensitive: bool, limits: &Limits) -> Result<Regex, String> {
    let re = RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(limits.max_compiled_bytes)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(limit) => format!(
                "the compiled pattern exceeds the size limit of {limit} bytes (nested or large repetitions multiply its size)"
            ),
            other => format!("invalid pattern: {other}"),
        })?;
    // Probe texts: a pattern that can match nothing at all would match everywhere.
    for probe in ["", " ", "a", "A", "0", "_", "a b", "a\nb", "é", "-."] {
        if re.find_iter(probe).any(|m| m.is_empty()) {
            return Err("must not match the empty string (it would match everywhere)".into());
        }
    }
    Ok(re)
}

impl Compiled {
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn fail_mode(&self) -> FailMode {
        self.policy.fail_mode
    }

    pub fn holdback_chars(&self) -> usize {
        self.policy.stream_holdback_chars as usize
    }

    /// Whether any text rule (everything but maxTokens; injection only on input) covers `side`.
    pub fn checks(&self, side: Side) -> bool {
        self.rules.iter().any(|r| runs_on(r, side))
    }

    /// Every hit in one piece of text, sorted by start. Injection runs only on `User` and `Tool`
    /// text on the input side.
    pub fn scan(&self, side: Side, role: TextRole, text: &str) -> Vec<Hit> {
        self.scan_with(side, role, text, &[]).0
    }

    /// `scan`, with the topic keywords already seen (per rule index, per distinct keyword) counted
    /// toward each topic's threshold; also returns every topic keyword occurrence.
    pub(crate) fn scan_with(
        &self,
        side: Side,
        role: TextRole,
        text: &str,
        seen: &[Vec<bool>],
    ) -> (Vec<Hit>, Vec<TopicOccurrence>) {
        let mut hits = Vec::new();
        let mut occurrences = Vec::new();
        let mut pii_cache: [Option<Vec<pii::Span>>; PiiKind::ALL.len()] = Default::default();
        for (i, rule) in self.rules.iter().enumerate() {
            if !runs_on(rule, side) {
                continue;
            }
            let hit = |kind: String, label: &'static str, start: usize, end: usize| Hit {
                rule_id: rule.id.clone(),
                action: rule.action,
                kind,
                label,
                start,
                end,
                score: None,
            };
            match &rule.matcher {
                Matcher::Pii(kinds) => {
                    for &kind in kinds {
                        let slot = &mut pii_cache[kind as usize];
                        let spans = slot.get_or_insert_with(|| pii::detect(kind, text));
                        for &(s, e) in spans.iter() {
                            hits.push(hit(format!("pii:{}", kind.as_str()), pii::label(kind), s, e));
                        }
                    }
                }
                Matcher::Regex(re) => {
                    for m in re.find_iter(text).filter(|m| !m.is_empty()) {
                        hits.push(hit("regex".into(), "PATTERN", m.start(), m.end()));
                    }
                }
                Matcher::Terms(words) => {
                    for o in words.find(text) {
                        hits.push(hit("term".into(), "TERM", o.start, o.end));
                    }
                }
                Matcher::Topic { words, min } => {
                    let found = words.find(text);
                    let mut distinct = seen.get(i).cloned().unwrap_or_default();
                    distinct.resize(words.distinct, false);
                    for o in &found {
                        if let Some(d) = distinct.get_mut(o.term) {
                            *d = true;
                        }
                    }
                    if distinct.iter().filter(|d| **d).count() >= *min {
                        for o in &found {
                            hits.push(hit("topic".into(), "TOPIC", o.start, o.end));
                        }
                    }
                    occurrences.extend(found.iter().map(|o| TopicOccurrence { rule: i, term: o.term, end: o.end }));
                }
                Matcher::Injection { threshold } => {
                    if side == Side::Input && matches!(role, TextRole::User | TextRole::Tool) {
                        if let Some((score, s, e)) = injection::score(text) {
                            if score >= *threshold {
                                hits.push(Hit { score: Some(score), ..hit("injection".into(), "INJECTION", s, e) });
                            }
                        }
                    }
                }
                Matcher::MaxTokens { .. } => {}
            }
        }
        hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
        (hits, occurrences)
    }

    /// The number of distinct keywords of each rule (0 for rules that are not topics): the shape
    /// of the `seen` table `scan_with` takes.
    pub(crate) fn topic_shape(&self) -> Vec<usize> {
        self.rules
            .iter()
            .map(|r| match &r.matcher {
                Matcher::Topic { words, .. } => words.distinct,
                _ => 0,
            })
            .collect()
    }

    /// The tightest maxTokens ceilings, with the rule that set each (the first on a tie).
    pub fn token_limits(&self) -> TokenLimits {
        let mut limits = TokenLimits::default();
        for rule in &self.rules {
            let Matcher::MaxTokens { input, output } = rule.matcher else { continue };
            for (ceiling, slot) in [(input, &mut limits.input), (output, &mut limits.output)] {
                if let Some(tokens) = ceiling {
                    if slot.as_ref().is_none_or(|c| tokens < c.tokens) {
                        *slot = Some(Ceiling { tokens, rule_id: rule.id.clone(), action: rule.action });
                    }
                }
            }
        }
        limits
    }
}

fn runs_on(rule: &CompiledRule, side: Side) -> bool {
    rule.scope.covers(side)
        && match rule.matcher {
            Matcher::MaxTokens { .. } => false,
            Matcher::Injection { .. } => side == Side::Input,
            _ => true,
        }
}
