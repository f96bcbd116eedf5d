//! Tests of the Messages wire types and their conversions.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Converted {
    serde_json::from_value::<MessagesRequest>(v).unwrap().to_canonical().unwrap()
}

#[test]
fn a_tool_round_trip_becomes_canonical_tool_calls_and_results() {
    let c = parse(json!({
        "model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "be brief"}],
        "tools": [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "text", "text": "and tomorrow?"}]}
        ],
        "top_k": 5, "stop_sequences": ["END"]
    }));
    let r = c.request;
    assert_eq!(r.messages.len(), 5);
    assert_eq!(r.messages[0].role, Role::System);
    assert_eq!(r.messages[2].tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(r.messages[3].role, Role::Tool);
    assert_eq!(r.messages[3].tool_call_id.as_deref(), Some("toolu_1"));
    assert_eq!(r.messages[4].content_text(), "and tomorrow?");
    assert_eq!(r.tool_choice, Some(llm::ToolChoice::Required));
    assert_eq!(r.parallel_tool_calls, Some(false));
    assert_eq!(r.stop, ["END"]);
    assert_eq!(r.top_k, Some(5));
    assert!(c.dropped.is_empty(), "{:?}", c.dropped);
}

#[test]
fn server_tools_and_bad_blocks_are_refused_with_their_field() {
    let req: MessagesRequest = serde_json::from_value(json!({
        "model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}]
    }))
    .unwrap();
    assert_eq!(req.to_canonical().err().unwrap().0, "tools[0].type");
    let req: MessagesRequest = serde_json::from_value(json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "x"}]}]
    }))
    .unwrap();
    assert_eq!(req.to_canonical().err().unwrap().0, "messages[0].content[0]");
}

#[test]
fn thinking_blocks_become_canonical_reasoning_and_come_back_first() {
    let c = parse(json!({
        "model": "m", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Check it.\n", "signature": "EqQB+/s=="},
                {"type": "redacted_thinking", "data": "EmwK=="},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
        ]
    }));
    assert!(c.dropped.is_empty(), "{:?}", c.dropped);
    let r = c.request;
    assert_eq!(r.thinking, Some(llm::ThinkingConfig::Enabled { budget_tokens: 2048 }));
    assert_eq!(
        r.messages[1].reasoning,
        [
            Reasoning::Thinking { thinking: "Check it.\n".into(), signature: Some("EqQB+/s==".into()), before: 0 },
            Reasoning::RedactedThinking { data: "EmwK==".into(), before: 0 },
        ]
    );
    assert_eq!(r.messages[1].tool_calls[0].id, "toolu_1");
    let mut without = r.clone();
    without.messages[1].reasoning.clear();
    assert!(r.estimate_prompt_tokens() > without.estimate_prompt_tokens(), "thinking sent back is input");

    let bad = |thinking: Value| {
        let v = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
                       "thinking": thinking});
        serde_json::from_value::<MessagesRequest>(v).unwrap().to_canonical()
    };
    assert_eq!(bad(json!({"type": "enabled", "budget_tokens": 10})).err().unwrap().0, "thinking.budget_tokens");
    assert_eq!(bad(json!({"budget_tokens": 2048})).err().unwrap().0, "thinking.type");
    // A type the gateway does not know is kept as sent (reported per upstream, not here).
    let newer = bad(json!({"type": "adaptive", "x": 1})).ok().unwrap();
    assert_eq!(newer.request.thinking, Some(llm::ThinkingConfig::Other(json!({"type": "adaptive", "x": 1}))));
    assert!(newer.dropped.is_empty(), "{:?}", newer.dropped);
    let user_thinking = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "thinking", "thinking": "x", "signature": "y"}]}]});
    let err = serde_json::from_value::<MessagesRequest>(user_thinking).unwrap().to_canonical().err().unwrap();
    assert_eq!(err.0, "messages[0].content[0]");

    // The answer: thinking first, signatures as the upstream sent them (none: empty).
    let mut message = llm::Message::text(Role::Assistant, "Hi");
    message.reasoning = vec![
        Reasoning::Thinking { thinking: "Hm.".into(), signature: Some("EqQB+/s==".into()), before: 0 },
        Reasoning::RedactedThinking { data: "EmwK==".into(), before: 0 },
        Reasoning::Thinking { thinking: "deepseek".into(), signature: None, before: 0 },
    ];
    let resp = llm::ChatResponse {
        id: "x".into(),
        model: "m".into(),
        created: 0,
        choices: vec![llm::Choice { index: 0, message, finish_reason: None, logprobs: None, refusal: None }],
        usage: None,
        system_fingerprint: None,
        service_tier: None,
    };
    let out = serde_json::to_value(MessageResponse::from_canonical("msg_1".into(), &resp)).unwrap();
    assert_eq!(
        out["content"],
        json!([
            {"type": "thinking", "thinking": "Hm.", "signature": "EqQB+/s=="},
            {"type": "redacted_thinking", "data": "EmwK=="},
            {"type": "thinking", "thinking": "deepseek", "signature": ""},
            {"type": "text", "text": "Hi"}
        ])
    );
}

#[test]
fn cached_input_is_counted_apart() {
    let u = llm::Usage {
        prompt_tokens: 100,
        completion_tokens: 7,
        cached_tokens: 60,
        cache_write_tokens: 10,
        ..Default::default()
    };
    let o = OutUsage::from(&u);
    assert_eq!(
        (o.input_tokens, o.cache_read_input_tokens, o.cache_creation_input_tokens, o.output_tokens),
        (30, 60, 10, 7)
    );
}
