use super::*;

fn parse(v: Value) -> Result<llm::ChatRequest, FieldError> {
    serde_json::from_value::<ChatCompletionRequest>(v).unwrap().to_canonical()
}

#[test]
fn a_full_request_converts() {
    let r = parse(serde_json::json!({
        "model": "layerr-auto",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": true, "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_object"}, "n": 2, "stop": "END", "max_completion_tokens": 50,
        "temperature": 0.2, "top_p": 0.9, "seed": 7, "user": "u1", "metadata": {"a": "b"},
        "layerr": {"strategy": "quality", "fallback": "strict", "explain": true}
    }))
    .unwrap();
    assert!(r.stream && r.include_usage);
    assert_eq!(r.tool_choice, Some(llm::ToolChoice::Function("get_weather".into())));
    assert_eq!(r.stop, vec!["END"]);
    assert_eq!(r.max_tokens, Some(50));
    assert_eq!(r.n, 2);
    assert!(r.needs_json() && r.needs_tools());
    assert_eq!(r.system_text().as_deref(), Some("be brief"));
    assert_eq!(r.last_user_text(), "hi");
}

#[test]
fn bad_fields_are_named() {
    let base = |extra: Value| {
        let mut v = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        parse(v).unwrap_err().0
    };
    assert_eq!(base(serde_json::json!({"temperature": 3})), "temperature");
    assert_eq!(base(serde_json::json!({"n": 0})), "n");
    assert_eq!(base(serde_json::json!({"messages": []})), "messages");
    assert_eq!(base(serde_json::json!({"metadata": {"a": "b"}, "reasoning_effort": "x", "messages": []})), "messages");
    assert_eq!(base(serde_json::json!({"tool_choice": "required"})), "tool_choice");
    assert_eq!(base(serde_json::json!({"response_format": {"type": "xml"}})), "response_format.type");
}

#[test]
fn unknown_fields_are_extras_not_errors() {
    let r = parse(serde_json::json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "bogus": 1, "top_k": 5, "repetition_penalty": 1.1, "logprobs": true
    }))
    .unwrap();
    assert_eq!(r.top_k, Some(5));
    assert_eq!(r.extra["bogus"], 1);
    assert_eq!(r.extra["repetition_penalty"], 1.1);
    assert_eq!(r.extra["logprobs"], true);
    assert!(!r.extra.contains_key("top_k"));
}

#[test]
fn response_extras_round_trip() {
    let lp = serde_json::json!({"content": [{"token": "a", "logprob": -0.5, "top_logprobs": []}], "refusal": null});
    let wire: ChatCompletion = serde_json::from_value(serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "system_fingerprint": "fp_1", "service_tier": "flex",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": lp,
                     "message": {"role": "assistant", "content": null, "refusal": "I can't"}}]
    }))
    .unwrap();
    let canonical = wire.to_canonical();
    assert_eq!(canonical.system_fingerprint.as_deref(), Some("fp_1"));
    assert_eq!(canonical.choices[0].refusal.as_deref(), Some("I can't"));
    let back = serde_json::to_value(ChatCompletion::from_canonical(&canonical)).unwrap();
    assert_eq!(back["system_fingerprint"], "fp_1");
    assert_eq!(back["service_tier"], "flex");
    assert_eq!(back["choices"][0]["logprobs"], lp);
    assert_eq!(back["choices"][0]["message"]["refusal"], "I can't");
    assert!(back["choices"][0]["message"]["content"].is_null());
}

#[test]
fn a_legacy_completion_becomes_a_chat_request() {
    let body: CompletionRequest = serde_json::from_value(serde_json::json!({
        "model": "m", "prompt": ["Say hi"], "logprobs": 2, "echo": true, "suffix": "!", "best_of": 3, "n": 1,
        "seed": 4, "stop": "\n", "top_k": 3
    }))
    .unwrap();
    let (req, dropped) = body.to_canonical().unwrap();
    assert_eq!(req.last_user_text(), "Say hi");
    assert_eq!(req.max_tokens, Some(LEGACY_MAX_TOKENS));
    assert_eq!(req.extra["logprobs"], true);
    assert_eq!(req.extra["top_logprobs"], 2);
    assert_eq!((req.seed, req.top_k, req.stop.clone()), (Some(4), Some(3), vec!["\n".to_string()]));
    assert_eq!(dropped, ["suffix", "best_of"]);
    let many: CompletionRequest =
        serde_json::from_value(serde_json::json!({"model": "m", "prompt": ["a", "b"]})).unwrap();
    assert_eq!(many.to_canonical().unwrap_err().0, "prompt");
    let bad: CompletionRequest =
        serde_json::from_value(serde_json::json!({"model": "m", "prompt": "a", "logprobs": 9})).unwrap();
    assert_eq!(bad.to_canonical().unwrap_err().0, "logprobs");
}

#[test]
fn chat_logprobs_become_legacy_logprobs() {
    let chat = serde_json::json!({"content": [
        {"token": "Hi", "logprob": -0.1, "top_logprobs": [{"token": "Hi", "logprob": -0.1}, {"token": "Yo", "logprob": -2.0}]},
        {"token": "!", "logprob": -0.3, "top_logprobs": []}
    ]});
    let l = LegacyLogprobs::from_chat(&chat, 4).unwrap();
    assert_eq!(l.tokens, ["Hi", "!"]);
    assert_eq!(l.token_logprobs, [Some(-0.1), Some(-0.3)]);
    assert_eq!(l.text_offset, [4, 6]);
    assert_eq!(l.top_logprobs[0]["Yo"], -2.0);
}
