//! Faithful pass-through on the OpenAI routes: documented parameters and provider extras reach
//! an OpenAI-format upstream as sent (what the mock received is checked), adapters for other
//! formats translate what they can and name the rest in `x-layerr-dropped-params`, response
//! extras (`logprobs`, `system_fingerprint`, `service_tier`) come back whole and streamed, a
//! streamed tool call keeps `content` null, and `POST /v1/completions` answers in the legacy
//! `text_completion` shape through the chat service. The `/api` routes stay strict.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::events::of_trace_until;
use common::upstream::{admin_chat, header, post_chat, provider, provider_of, trace_id};
use common::{Gateway, Kind, ADMIN_KEY};
use layerr_mock::MockServer;
use serde_json::{json, Value};

fn ask(model: &str, extra: Value) -> Value {
    let mut v = json!({"model": model, "messages": [{"role": "user", "content": "say something short"}]});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

/// The parameters sent, as the OpenAI SDK would send them (`top_k` and the other extras come
/// from `extra_body`).
fn params() -> Value {
    json!({
        "reasoning_effort": "low", "logprobs": true, "top_logprobs": 2, "metadata": {"user_id": "u-7", "team": "a"},
        "seed": 42, "service_tier": "flex", "top_k": 5, "logit_bias": {"50256": -100}, "store": false,
        "verbosity": "low", "prompt_cache_key": "pk-1", "safety_identifier": "sid-1",
        "repetition_penalty": 1.05, "prompt_cache_retention": "24h"
    })
}

/// The SSE `data:` payloads of a body, `[DONE]` excluded; whether `[DONE]` ended it.
fn sse(text: &str) -> (Vec<Value>, bool) {
    let data: Vec<&str> = text.split("\n\n").filter_map(|b| b.strip_prefix("data: ")).collect();
    let done = data.last() == Some(&"[DONE]");
    (data.iter().filter(|d| **d != "[DONE]").map(|d| serde_json::from_str(d).unwrap()).collect(), done)
}

fn dropped(h: &reqwest::header::HeaderMap) -> Vec<String> {
    let v = header(h, "x-layerr-dropped-params");
    if v.is_empty() {
        vec![]
    } else {
        v.split(", ").map(str::to_string).collect()
    }
}

async fn setup() -> (Gateway, MockServer) {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    provider_of(&gw, "an", "anthropic", &mock.base_url(), &["claude-sonnet-4"]).await;
    provider_of(&gw, "ge", "gemini", &mock.base_url(), &["gemini-2.5-flash"]).await;
    provider_of(&gw, "ol", "ollama", &mock.base_url(), &["llama3.1:8b"]).await;
    (gw, mock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openai_upstream_receives_every_parameter_and_its_extras_come_back() {
    let (gw, mock) = setup().await;
    let (s, h, v) = admin_chat(&gw, ask("gpt-4o-mini", params())).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(header(&h, "x-layerr-dropped-params"), "", "an OpenAI upstream gets everything");

    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    for (k, want) in params().as_object().unwrap() {
        assert_eq!(&sent[0].body[k], want, "{k} reached the upstream as sent");
    }
    assert!(sent[0].body.get("layerr").is_none());

    assert_eq!(v["system_fingerprint"], "fp_mock");
    assert_eq!(v["service_tier"], "flex");
    let tokens = v["choices"][0]["logprobs"]["content"].as_array().expect("logprobs come back");
    let text: String = tokens.iter().map(|t| t["token"].as_str().unwrap()).collect();
    assert_eq!(text, v["choices"][0]["message"]["content"].as_str().unwrap());
    assert_eq!(tokens[0]["top_logprobs"].as_array().unwrap().len(), 2);

    // Without logprobs asked, none come back (the mock sends `null`).
    let (_, _, plain) = admin_chat(&gw, ask("gpt-4o-mini", json!({}))).await;
    assert!(plain["choices"][0]["logprobs"].is_null());
    assert_eq!(plain["system_fingerprint"], "fp_mock");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_extras_come_back_and_a_tool_call_keeps_content_null() {
    let (gw, mock) = setup().await;
    let body = ask("gpt-4o-mini", json!({"stream": true, "logprobs": true, "top_logprobs": 1, "top_k": 3}));
    let resp = post_chat(&gw, ADMIN_KEY, &body).await;
    assert_eq!(resp.status(), 200);
    let (chunks, done) = sse(&resp.text().await.unwrap());
    assert!(done);
    assert_eq!(mock.requests()[0].body["top_k"], 3);
    assert!(chunks.iter().any(|c| c["system_fingerprint"] == "fp_mock"), "{chunks:?}");
    let streamed: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    let logprob_tokens: String = chunks
        .iter()
        .flat_map(|c| c["choices"][0]["logprobs"]["content"].as_array().cloned().unwrap_or_default())
        .map(|t| t["token"].as_str().unwrap().to_string())
        .collect();
    assert!(!streamed.is_empty());
    assert_eq!(logprob_tokens, streamed, "every streamed token's logprobs came back");

    // A tool call: no chunk says `content: ""`.
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"location": {"type": "string"}}}}}]);
    let body = ask("gpt-4o-mini", json!({"stream": true, "tools": tools, "tool_choice": "required"}));
    let resp = post_chat(&gw, ADMIN_KEY, &body).await;
    let (chunks, done) = sse(&resp.text().await.unwrap());
    assert!(done);
    assert!(chunks.iter().any(|c| c["choices"][0]["delta"]["tool_calls"].is_array()), "{chunks:?}");
    for c in &chunks {
        for choice in c["choices"].as_array().unwrap() {
            let content = &choice["delta"]["content"];
            assert!(content.is_null(), "a tool call's content stays null: {c}");
        }
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_formats_translate_what_they_can_and_report_the_rest() {
    let (gw, mock) = setup().await;
    let extra = json!({"top_k": 5, "seed": 9, "logit_bias": {"1": 2}, "metadata": {"user_id": "u-1"},
                       "repetition_penalty": 1.1, "logprobs": false});

    // Anthropic: top_k and metadata.user_id are translated; seed, logit_bias and the vLLM extra
    // are not (`logprobs: false` asks for nothing).
    let (s, h, v) = admin_chat(&gw, ask("claude-sonnet-4", extra.clone())).await;
    assert_eq!(s, 200, "{v}");
    let mut d = dropped(&h);
    d.sort();
    assert_eq!(d, ["logit_bias", "repetition_penalty", "seed"]);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.body["top_k"], 5);
    assert_eq!(sent.body["metadata"], json!({"user_id": "u-1"}));
    assert!(sent.body.get("logit_bias").is_none() && sent.body.get("seed").is_none());

    // Anthropic again: reasoning_effort becomes a thinking budget.
    let (s, h, _) = admin_chat(&gw, ask("claude-sonnet-4", json!({"reasoning_effort": "medium"}))).await;
    assert_eq!(s, 200);
    assert_eq!(header(&h, "x-layerr-dropped-params"), "");
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
    assert!(sent.body["max_tokens"].as_u64().unwrap() > 2048);

    // Gemini: top_k and seed are translated, the metadata and the rest reported.
    let (s, h, v) = admin_chat(&gw, ask("gemini-2.5-flash", extra.clone())).await;
    assert_eq!(s, 200, "{v}");
    let mut d = dropped(&h);
    d.sort();
    assert_eq!(d, ["logit_bias", "metadata", "repetition_penalty"]);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["generationConfig"]["topK"], 5);
    assert_eq!(sent.body["generationConfig"]["seed"], 9);

    // Ollama, streamed: top_k and seed in `options`; the header goes out before the stream.
    let mut body = ask("llama3.1:8b", extra);
    body["stream"] = json!(true);
    let resp = post_chat(&gw, ADMIN_KEY, &body).await;
    assert_eq!(resp.status(), 200);
    let mut d = dropped(resp.headers());
    d.sort();
    assert_eq!(d, ["logit_bias", "metadata", "repetition_penalty"]);
    let (_, done) = sse(&resp.text().await.unwrap());
    assert!(done);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["options"]["top_k"], 5);
    assert_eq!(sent.body["options"]["seed"], 9);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_routes_stay_strict() {
    let (gw, _mock) = setup().await;
    let body = json!({"messages": [{"role": "user", "content": "hi"}], "top_k": 5});
    gw.send("POST", "/api/chat", Some(ADMIN_KEY), Some(body)).await.invalid_field("top_k");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_completions_are_answered_by_a_chat_model() {
    let (gw, mock) = setup().await;
    let body = json!({"model": "gpt-4o-mini", "prompt": "Say hello", "max_tokens": 50, "seed": 3, "stop": ["\n\n"],
                      "logprobs": 1, "user": "u-2", "top_k": 4});
    let (s, h, v) = gw.call("POST", "/v1/completions", Some(ADMIN_KEY), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"), "{v}");
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("mock reply to: Say hello"), "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["choices"][0]["index"], 0);
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().concat_text(), text);
    assert_eq!(lp["text_offset"][0], 0);
    assert_eq!(lp["top_logprobs"][0].as_object().unwrap().len(), 1);
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["system_fingerprint"], "fp_mock");
    assert_eq!(header(&h, "x-layerr-dropped-params"), "");

    // The chat request it became.
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.body["messages"], json!([{"role": "user", "content": "Say hello"}]));
    assert_eq!(sent.body["max_completion_tokens"], 50);
    assert_eq!((sent.body["seed"].clone(), sent.body["top_k"].clone()), (json!(3), json!(4)));
    assert_eq!((sent.body["logprobs"].clone(), sent.body["top_logprobs"].clone()), (json!(true), json!(1)));
    assert_eq!(sent.body["stop"], json!(["\n\n"]));
    assert_eq!(sent.body["user"], "u-2");

    // Traced like a chat completion, with its own endpoint.
    let events = of_trace_until(&gw, &trace_id(&h), "RequestCompleted").await;
    assert_eq!(events[0]["body"]["received"]["endpoint"], "/v1/completions");

    // Echo, suffix (reported), and an Anthropic answer (its logprobs reported).
    let body = json!({"model": "claude-sonnet-4", "prompt": ["Hi"], "echo": true, "suffix": "END", "logprobs": 0});
    let (s, h, v) = gw.call("POST", "/v1/completions", Some(ADMIN_KEY), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["choices"][0]["text"].as_str().unwrap().starts_with("Himock reply to: Hi"), "{v}");
    let mut d = dropped(&h);
    d.sort();
    assert_eq!(d, ["logprobs", "suffix"]);

    // Several prompts in one request are refused, naming the field.
    let body = json!({"model": "gpt-4o-mini", "prompt": ["a", "b"]});
    let (s, _, v) = gw.call("POST", "/v1/completions", Some(ADMIN_KEY), Some(body)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "prompt", "{v}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_completions_stream_as_text_completion_chunks() {
    let (gw, _mock) = setup().await;
    for model in ["gpt-4o-mini", "gemini-2.5-flash"] {
        let body = json!({"model": model, "prompt": "Count to three", "max_tokens": 64, "stream": true,
                          "stream_options": {"include_usage": true}});
        let resp =
            gw.client.post(format!("{}/v1/completions", gw.base)).bearer_auth(ADMIN_KEY).json(&body).send().await;
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(header(resp.headers(), "content-type"), "text/event-stream");
        let (chunks, done) = sse(&resp.text().await.unwrap());
        assert!(done, "ends with [DONE]");
        assert!(chunks.iter().all(|c| c["object"] == "text_completion"), "{chunks:?}");
        let text: String = chunks.iter().filter_map(|c| c["choices"][0]["text"].as_str()).collect();
        assert!(text.starts_with("mock reply to: Count to three"), "{model}: {text}");
        assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "{chunks:?}");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert!(last["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{last}");
    }
    gw.stop().await;
}

trait ConcatText {
    fn concat_text(&self) -> String;
}

impl ConcatText for Vec<Value> {
    fn concat_text(&self) -> String {
        self.iter().filter_map(Value::as_str).collect()
    }
}
