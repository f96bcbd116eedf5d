//! OpenAI response extras: `system_fingerprint` always, `service_tier` as asked, and `logprobs`
//! (with `top_logprobs` alternatives) when the request asks for them, whole and streamed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::*;
use serde_json::{json, Value};

fn chat(extra: Value) -> Value {
    let mut v = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "one two three"}]});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

#[tokio::test]
async fn logprobs_come_only_when_asked_and_match_the_text() {
    let s = spawn().await;
    let plain = post_json(&s, "/v1/chat/completions", &chat(json!({}))).await;
    assert_eq!(plain["system_fingerprint"], "fp_mock");
    assert_eq!(plain["service_tier"], "default");
    assert!(plain["choices"][0]["logprobs"].is_null());

    let v = post_json(
        &s,
        "/v1/chat/completions",
        &chat(json!({"logprobs": true, "top_logprobs": 2, "service_tier": "flex"})),
    )
    .await;
    assert_eq!(v["service_tier"], "flex");
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    let text: String = content.iter().map(|t| t["token"].as_str().unwrap()).collect();
    assert_eq!(text, v["choices"][0]["message"]["content"].as_str().unwrap());
    assert_eq!(content[0]["logprob"], -0.01);
    assert_eq!(content[0]["top_logprobs"].as_array().unwrap().len(), 2);
    assert_eq!(content[0]["top_logprobs"][0]["token"], content[0]["token"]);
    assert_eq!(content[1]["logprob"], -0.02);
}

#[tokio::test]
async fn streamed_chunks_carry_their_tokens_logprobs() {
    let s = spawn().await;
    let resp = post(&s, "/v1/chat/completions", &chat(json!({"stream": true, "logprobs": true}))).await;
    let events = parse_sse(&read_stream(resp).await.text());
    let chunks: Vec<Value> = events.iter().filter(|e| e.data != "[DONE]").map(|e| e.json()).collect();
    assert!(chunks.iter().all(|c| c["system_fingerprint"] == "fp_mock"));
    let with_text: Vec<&Value> =
        chunks.iter().filter(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty())).collect();
    assert!(!with_text.is_empty());
    for c in with_text {
        let lp = &c["choices"][0]["logprobs"]["content"][0];
        assert_eq!(lp["token"], c["choices"][0]["delta"]["content"]);
        assert!(lp["top_logprobs"].as_array().unwrap().is_empty());
    }
}
