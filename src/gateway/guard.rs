//! Guardrails on the request path. The workspace's policy (its own, else the installation's
//! default; compiled once by the state) runs on the canonical request, so chat completions, legacy
//! completions, native chat, Messages and Responses are checked alike: message text, tool-call
//! arguments and tool results. Redactions change the request before any upstream sees it; a
//! `block` refuses it with `GUARDRAIL_VIOLATION` naming the rule; `flag` only records. The answer
//! is checked the same way, whole or streamed (streamed text goes through a
//! [`StreamGuard`] per choice and tool call, released a window behind the upstream). What the
//! guardrails decided is recorded as `GuardrailsApplied` (rule ids, kinds, offsets: never text),
//! and what the trace stores of the request and the answer is masked.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use layerr_domain::guardrails::{Action, Decision, FailMode, Side};
use layerr_guardrails::{mask, redact, Compiled, Hit, StreamGuard, TextRole};

use super::error::ChatError;
use crate::llm::{ChatRequest, ChatResponse, Content, Part, Role, ToolCallDelta};
use crate::state::{HotState, WorkspaceView};

/// The compiled policy requests of `ws` run under, if any. A policy that cannot be evaluated
/// refuses every request (`closed`, the default) or lets them through unchecked (`open`).
pub(crate) fn policy_for(hot: &HotState, ws: &WorkspaceView) -> Result<Option<Arc<Compiled>>, ChatError> {
    let Some(loaded) = hot.guardrails_for(ws) else { return Ok(None) };
    match (&loaded.compiled, loaded.fail_mode()) {
        (Ok(c), _) => Ok(Some(Arc::clone(c))),
        (Err(why), FailMode::Closed) => Err(ChatError::GuardrailUnavailable(format!(
            "The guardrail policy of workspace '{}' cannot be evaluated ({why}); it fails closed",
            ws.slug
        ))),
        (Err(why), FailMode::Open) => {
            tracing::warn!(workspace = %ws.slug, error = %why, "guardrail policy cannot be evaluated; failing open");
            Ok(None)
        }
    }
}

/// What a check decided: every decision, and the first block among them.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub decisions: Vec<Decision>,
    pub blocked: Option<Decision>,
}

impl Checked {
    fn add(&mut self, hits: &[Hit], side: Side, location: &str) {
        for h in hits {
            self.add_decision(h.decision(side, location));
        }
    }

    fn add_decision(&mut self, d: Decision) {
        if d.action == Action::Block && self.blocked.is_none() {
            self.blocked = Some(d.clone());
        }
        self.decisions.push(d);
    }

    /// The refusal a block answers with.
    pub fn violation(&self) -> Option<ChatError> {
        self.blocked.as_ref().map(violation)
    }
}

pub(crate) fn violation(d: &Decision) -> ChatError {
    let side = match d.side {
        Side::Input => "request",
        Side::Output => "answer",
    };
    ChatError::GuardrailViolation {
        rule_id: d.rule_id.clone(),
        message: format!("The {side} was blocked by guardrail rule '{}' ({} in {})", d.rule_id, d.kind, d.location),
    }
}

fn text_role(role: Role) -> TextRole {
    match role {
        Role::System | Role::Developer => TextRole::System,
        Role::User => TextRole::User,
        Role::Assistant => TextRole::Assistant,
        Role::Tool => TextRole::Tool,
    }
}

/// Scans `text`, records what was found, and applies the redactions in place.
fn guard_text(c: &Compiled, side: Side, role: TextRole, text: &mut String, location: &str, out: &mut Checked) {
    let hits = c.scan(side, role, text);
    if hits.is_empty() {
        return;
    }
    out.add(&hits, side, location);
    if hits.iter().any(|h| h.action == Action::Redact) {
        *text = redact(text, &hits);
    }
}

fn guard_content(c: &Compiled, side: Side, role: TextRole, content: &mut Content, at: &str, out: &mut Checked) {
    match content {
        Content::Text(t) => guard_text(c, side, role, t, &format!("{at}.content"), out),
        Content::Parts(parts) => {
            for (j, p) in parts.iter_mut().enumerate() {
                if let Part::Text { text, .. } = p {
                    guard_text(c, side, role, text, &format!("{at}.content[{j}]"), out);
                }
            }
        }
    }
}

/// The request side: every message's text, its tool calls' arguments and tool results, then the
/// token ceilings (an output ceiling lowers `max_tokens`, or blocks a request that asks for more).
pub(crate) fn check_input(c: &Compiled, req: &mut ChatRequest) -> Checked {
    let mut out = Checked::default();
    if c.checks(Side::Input) {
        for (i, m) in req.messages.iter_mut().enumerate() {
            let role = text_role(m.role);
            let at = format!("messages[{i}]");
            if let Some(content) = m.content.as_mut() {
                guard_content(c, Side::Input, role, content, &at, &mut out);
            }
            for (k, call) in m.tool_calls.iter_mut().enumerate() {
                let loc = format!("{at}.toolCalls[{k}].arguments");
                guard_text(c, Side::Input, TextRole::Assistant, &mut call.arguments, &loc, &mut out);
            }
        }
    }
    let limits = c.token_limits();
    if let Some(ceiling) = limits.input {
        let prompt = req.estimate_prompt_tokens();
        if prompt > u64::from(ceiling.tokens) {
            // Redacting cannot shorten a prompt: anything but `flag` refuses it.
            let action = if ceiling.action == Action::Flag { Action::Flag } else { Action::Block };
            out.add_decision(ceiling_decision(
                &ceiling.rule_id,
                action,
                Side::Input,
                "maxTokens:input",
                "prompt",
                prompt,
            ));
        }
    }
    if let Some(ceiling) = limits.output {
        let asked = req.max_tokens;
        if asked.is_none_or(|m| m > ceiling.tokens) {
            let action = match (ceiling.action, asked) {
                (Action::Block, Some(_)) => Action::Block,
                (Action::Flag, _) => Action::Flag,
                // No ask, or `redact`: the ceiling is applied.
                _ => {
                    req.max_tokens = Some(ceiling.tokens);
                    Action::Redact
                }
            };
            let asked = asked.map_or(0, u64::from);
            out.add_decision(ceiling_decision(
                &ceiling.rule_id,
                action,
                Side::Input,
                "maxTokens:output",
                "maxTokens",
                asked,
            ));
        }
    }
    out
}

fn ceiling_decision(rule: &str, action: Action, side: Side, kind: &str, location: &str, value: u64) -> Decision {
    Decision {
        rule_id: rule.to_string(),
        action,
        side,
        kind: kind.to_string(),
        location: location.to_string(),
        start: 0,
        end: u32::try_from(value).unwrap_or(u32::MAX),
        score: None,
    }
}

/// The answer side of a whole answer: each choice's text and tool-call arguments.
pub(crate) fn check_output(c: &Compiled, resp: &mut ChatResponse) -> Checked {
    let mut out = Checked::default();
    if !c.checks(Side::Output) {
        return out;
    }
    for (i, choice) in resp.choices.iter_mut().enumerate() {
        let at = format!("choices[{i}]");
        if let Some(content) = choice.message.content.as_mut() {
            guard_content(c, Side::Output, TextRole::Assistant, content, &at, &mut out);
        }
        for (k, call) in choice.message.tool_calls.iter_mut().enumerate() {
            let loc = format!("{at}.toolCalls[{k}].arguments");
            guard_text(c, Side::Output, TextRole::Assistant, &mut call.arguments, &loc, &mut out);
        }
        if let Some(refusal) = choice.refusal.as_mut() {
            guard_text(c, Side::Output, TextRole::Assistant, refusal, &format!("{at}.refusal"), &mut out);
        }
    }
    out
}

/// What the trace stores of some text: every match masked, whatever its action (a flagged or
/// blocked match must not land in the events either).
pub(crate) fn mask_text(c: &Compiled, side: Side, text: &str) -> String {
    let hits = c.scan(side, TextRole::User, text);
    if hits.is_empty() {
        text.to_string()
    } else {
        mask(text, &hits)
    }
}

/// The fields of a captured or stored body that hold a client's or a model's text (ids, types
/// and settings are left as they are).
const TEXT_FIELDS: &[&str] =
    &["content", "text", "input", "prompt", "system", "instructions", "arguments", "output", "refusal"];

/// A captured or stored body with the text of its [`TEXT_FIELDS`] masked (`side`: whose text).
pub(crate) fn mask_json(c: &Compiled, side: Side, v: &mut Value) {
    fn text(c: &Compiled, side: Side, v: &mut Value) {
        match v {
            Value::String(s) => {
                let hits = c.scan(side, TextRole::User, s);
                if !hits.is_empty() {
                    *s = mask(s, &hits);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|x| text(c, side, x)),
            Value::Object(_) => mask_json(c, side, v),
            _ => {}
        }
    }
    match v {
        Value::Array(items) => items.iter_mut().for_each(|x| mask_json(c, side, x)),
        Value::Object(fields) => {
            for (k, x) in fields.iter_mut() {
                if TEXT_FIELDS.contains(&k.as_str()) {
                    text(c, side, x);
                } else {
                    mask_json(c, side, x);
                }
            }
        }
        _ => {}
    }
}

/// `value` as it may be stored under the policy of workspace `slug` (conversations, stored
/// responses): the text of its [`TEXT_FIELDS`] masked. Unchanged without a policy.
pub fn masked_for_storage<T>(hot: &HotState, slug: &str, side: Side, value: T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let Some(c) = hot.workspace(slug).and_then(|ws| policy_for(hot, &ws).ok().flatten()) else { return value };
    let mut v = match serde_json::to_value(&value) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "a value to store could not be encoded for masking");
            return value;
        }
    };
    mask_json(&c, side, &mut v);
    match serde_json::from_value(v) {
        Ok(masked) => masked,
        Err(e) => {
            tracing::error!(error = %e, "a masked value to store could not be decoded");
            value
        }
    }
}

/// `text` as it may be stored under the policy of workspace `slug`.
pub fn masked_text_for_storage(hot: &HotState, slug: &str, side: Side, text: String) -> String {
    match hot.workspace(slug).and_then(|ws| policy_for(hot, &ws).ok().flatten()) {
        Some(c) => mask_text(&c, side, &text),
        None => text,
    }
}

/// A streamed answer's guards: one per choice's text and one per tool call's arguments.
pub(crate) struct StreamGuards {
    policy: Arc<Compiled>,
    text: HashMap<u32, StreamGuard>,
    tools: HashMap<(u32, u32), StreamGuard>,
    /// Decisions so far, recorded when the stream ends.
    pub checked: Checked,
}

/// What may be sent of one upstream delta.
pub(crate) struct Released {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCallDelta>,
    /// A block matched: send what came before it, then end the stream.
    pub blocked: Option<Decision>,
}

impl StreamGuards {
    pub fn new(policy: Arc<Compiled>) -> Option<StreamGuards> {
        policy.checks(Side::Output).then(|| StreamGuards {
            policy,
            text: HashMap::new(),
            tools: HashMap::new(),
            checked: Checked::default(),
        })
    }

    fn take(&mut self, step: layerr_guardrails::Step, location: &str) -> (String, Option<Decision>) {
        self.checked.add(&step.hits, Side::Output, location);
        let blocked = step.blocked.map(|h| h.decision(Side::Output, location));
        if let Some(b) = &blocked {
            self.checked.add_decision(b.clone());
        }
        (step.text, blocked)
    }

    pub fn push(&mut self, index: u32, content: Option<&str>, tool_calls: Vec<ToolCallDelta>) -> Released {
        let mut blocked = None;
        let content = match content {
            Some(c) => {
                let policy = Arc::clone(&self.policy);
                let step = self.text.entry(index).or_insert_with(|| StreamGuard::new(policy)).push(c);
                let (text, b) = self.take(step, &format!("choices[{index}].content"));
                blocked = blocked.or(b);
                (!text.is_empty()).then_some(text)
            }
            None => None,
        };
        let mut calls = Vec::with_capacity(tool_calls.len());
        for mut t in tool_calls {
            let policy = Arc::clone(&self.policy);
            let step =
                self.tools.entry((index, t.index)).or_insert_with(|| StreamGuard::new(policy)).push(&t.arguments);
            let (args, b) = self.take(step, &format!("choices[{index}].toolCalls[{}].arguments", t.index));
            blocked = blocked.or(b);
            t.arguments = args;
            if t.id.is_some() || t.name.is_some() || !t.arguments.is_empty() {
                calls.push(t);
            }
        }
        Released { content, tool_calls: calls, blocked }
    }

    /// The rest of choice `index`'s text and tool calls, once its upstream finished it.
    pub fn finish(&mut self, index: u32) -> Released {
        let mut blocked = None;
        let content = match self.text.remove(&index) {
            Some(mut g) => {
                let step = g.finish();
                let (text, b) = self.take(step, &format!("choices[{index}].content"));
                blocked = blocked.or(b);
                (!text.is_empty()).then_some(text)
            }
            None => None,
        };
        let mut keys: Vec<(u32, u32)> = self.tools.keys().copied().filter(|(i, _)| *i == index).collect();
        keys.sort_unstable();
        let mut calls = Vec::new();
        for key in keys {
            let Some(mut g) = self.tools.remove(&key) else { continue };
            let step = g.finish();
            let (args, b) = self.take(step, &format!("choices[{index}].toolCalls[{}].arguments", key.1));
            blocked = blocked.or(b);
            if !args.is_empty() {
                calls.push(ToolCallDelta { index: key.1, id: None, name: None, arguments: args });
            }
        }
        Released { content, tool_calls: calls, blocked }
    }

    /// Every choice still open (the upstream ended without finishing them).
    pub fn open_choices(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.text.keys().copied().chain(self.tools.keys().map(|(i, _)| *i)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn policy(&self) -> &Arc<Compiled> {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Message, ToolCall};
    use layerr_domain::guardrails::Policy;

    fn compiled(rules: Value) -> Arc<Compiled> {
        let p: Policy = serde_json::from_value(serde_json::json!({ "rules": rules })).unwrap();
        Arc::new(layerr_guardrails::compile(&p, &layerr_guardrails::Limits::default()).unwrap())
    }

    fn request(messages: Vec<Message>) -> ChatRequest {
        ChatRequest { model: "m".into(), messages, n: 1, ..Default::default() }
    }

    #[test]
    fn input_redactions_reach_parts_tool_arguments_and_tool_results() {
        let c = compiled(serde_json::json!([{ "id": "pii", "type": "pii", "kinds": ["email"], "action": "redact" }]));
        let mut call = Message::text(Role::Assistant, "");
        call.tool_calls =
            vec![ToolCall { id: "c1".into(), name: "send".into(), arguments: r#"{"to":"a.b@example.com"}"#.into() }];
        let mut req = request(vec![
            Message {
                content: Some(Content::Parts(vec![Part::Text {
                    text: "mail x.y@example.com".into(),
                    cache_control: None,
                }])),
                ..Message::text(Role::User, "")
            },
            call,
            Message::text(Role::Tool, "owner q@example.net"),
        ]);
        let checked = check_input(&c, &mut req);
        assert!(checked.blocked.is_none());
        let locations: Vec<&str> = checked.decisions.iter().map(|d| d.location.as_str()).collect();
        assert_eq!(locations, ["messages[0].content[0]", "messages[1].toolCalls[0].arguments", "messages[2].content"]);
        let all = format!("{:?}", req.messages);
        assert!(!all.contains("example.com") && !all.contains("example.net"), "{all}");
        assert!(req.messages[1].tool_calls[0].arguments.contains("[REDACTED:EMAIL]"));
    }

    #[test]
    fn a_block_is_the_first_blocking_decision_and_names_no_text() {
        let c = compiled(serde_json::json!([
            { "id": "flagged", "type": "terms", "terms": ["alpha"], "action": "flag" },
            { "id": "stop", "type": "terms", "terms": ["omega"], "action": "block" }
        ]));
        let mut req = request(vec![Message::text(Role::User, "alpha then omega")]);
        let checked = check_input(&c, &mut req);
        assert_eq!(checked.decisions.len(), 2);
        let err = checked.violation().unwrap();
        assert_eq!(err.code(), "GUARDRAIL_VIOLATION");
        let text = err.to_string();
        assert!(text.contains("'stop'") && !text.contains("omega"), "{text}");
        // A flag changes nothing.
        assert_eq!(req.messages[0].content.as_ref().unwrap().text(), "alpha then omega");
    }

    #[test]
    fn token_ceilings_lower_or_refuse() {
        let clamp =
            compiled(serde_json::json!([{ "id": "max", "type": "maxTokens", "output": 100, "action": "redact" }]));
        let mut req = request(vec![Message::text(Role::User, "hi")]);
        let checked = check_input(&clamp, &mut req);
        assert_eq!(req.max_tokens, Some(100), "no ask: the ceiling applies");
        assert!(checked.blocked.is_none());
        let block = compiled(
            serde_json::json!([{ "id": "max", "type": "maxTokens", "input": 5, "output": 100, "action": "block" }]),
        );
        let mut req = request(vec![Message::text(Role::User, "word ".repeat(200))]);
        req.max_tokens = Some(500);
        let checked = check_input(&block, &mut req);
        let kinds: Vec<&str> = checked.decisions.iter().map(|d| d.kind.as_str()).collect();
        assert_eq!(kinds, ["maxTokens:input", "maxTokens:output"]);
        assert_eq!(checked.blocked.unwrap().kind, "maxTokens:input");
    }

    #[test]
    fn stored_text_is_masked_in_text_fields_only() {
        let c = compiled(serde_json::json!([{ "id": "pii", "type": "pii", "kinds": ["email"], "action": "flag" }]));
        let mut v = serde_json::json!({
            "model": "a.b@example.com",
            "messages": [{ "role": "user", "content": "write to a.b@example.com" }],
            "input": [{ "type": "message", "content": [{ "type": "input_text", "text": "or c@example.org" }] }]
        });
        mask_json(&c, Side::Input, &mut v);
        let s = v.to_string();
        assert!(!s.contains("write to a.b@example.com") && !s.contains("c@example.org"), "{s}");
        assert_eq!(v["model"], "a.b@example.com", "settings are not text");
    }
}
