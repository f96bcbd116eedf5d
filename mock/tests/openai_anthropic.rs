//! OpenAI Chat Completions / Embeddings / Models and Anthropic Messages wire shapes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::*;
use serde_json::{json, Value};

const CHAT: &str = "/v1/chat/completions";
const MESSAGES: &str = "/v1/messages";

fn openai_req() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Tell me a story about a very small dragon that lived in Ünterbach"}
        ]
    })
}

#[tokio::test]
async fn openai_json_shape_and_usage() {
    let s = spawn().await;
    let v = post_json(&s, CHAT, &openai_req()).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["message"]["role"], "assistant");
    // First 40 characters of the last user message.
    assert_eq!(choice["message"]["content"], "mock reply to: Tell me a story about a very small drago");
    // 3 + 13 words (+3 each message); the reply has 12 words.
    assert_eq!(v["usage"]["prompt_tokens"], 3 + 3 + 13 + 3);
    assert_eq!(v["usage"]["completion_tokens"], 12);
    assert_eq!(v["usage"]["total_tokens"], 22 + 12);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[tokio::test]
async fn openai_stream_matches_json() {
    let s = spawn().await;
    let plain = post_json(&s, CHAT, &openai_req()).await;
    let mut req = openai_req();
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let resp = post(&s, CHAT, &req).await;
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let body = read_stream(resp).await;
    assert!(!body.error);
    let events = parse_sse(&body.text());
    // Split by default: many more HTTP chunks than events.
    assert!(body.chunks.len() > events.len() * 3, "{} chunks for {} events", body.chunks.len(), events.len());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], plain["usage"]);
    assert!(rest.iter().all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    let text: String = rest.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, plain["choices"][0]["message"]["content"].as_str().unwrap());
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert!(rest[..rest.len() - 1].iter().all(|c| c["choices"][0]["finish_reason"].is_null()));

    // Without include_usage: no usage field at all.
    req["stream_options"] = json!({"include_usage": false});
    let events = parse_sse(&read_stream(post(&s, CHAT, &req).await).await.text());
    assert!(events[..events.len() - 1].iter().all(|e| e.json().get("usage").is_none()));
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
           {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}])
}

#[tokio::test]
async fn openai_tool_calls() {
    let s = spawn().await;
    let mut req = json!({"model": "m", "tools": weather_tools(),
                         "messages": [{"role": "user", "content": "What's the weather in Paris?"}]});
    let v = post_json(&s, CHAT, &req).await;
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Paris"}));

    // Streamed: id and name first, then argument fragments.
    req["stream"] = json!(true);
    let events = parse_sse(&read_stream(post(&s, CHAT, &req).await).await.text());
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(Event::json).collect();
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!((first["index"].as_u64(), first["function"]["name"].as_str()), (Some(0), Some("get_weather")));
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"location": "Paris"}));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");

    // tool_choice forces a named tool; "none" disables tools.
    req["stream"] = json!(false);
    req["messages"][0]["content"] = json!("hello");
    req["tool_choice"] = json!({"type": "function", "function": {"name": "get_time"}});
    let v = post_json(&s, CHAT, &req).await;
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_time");
    req["tool_choice"] = json!("none");
    req["messages"][0]["content"] = json!("weather?");
    assert_eq!(post_json(&s, CHAT, &req).await["choices"][0]["finish_reason"], "stop");

    // A tool result is echoed back.
    let req = json!({"model": "m", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees and sunny"}
    ]});
    let v = post_json(&s, CHAT, &req).await;
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().contains("22 degrees and sunny"));
}

#[tokio::test]
async fn openai_options() {
    let s = spawn().await;
    let mut req = openai_req();
    req["response_format"] = json!({"type": "json_object"});
    let content = post_json(&s, CHAT, &req).await["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    let parsed: Value = serde_json::from_str(&content).unwrap();
    assert!(parsed["answer"].as_str().unwrap().starts_with("mock reply to: Tell me"));

    let mut req = openai_req();
    req["n"] = json!(3);
    req["max_completion_tokens"] = json!(2);
    let v = post_json(&s, CHAT, &req).await;
    assert_eq!(v["choices"].as_array().unwrap().len(), 3);
    assert_eq!(v["choices"][2]["index"], 2);
    assert_eq!(v["choices"][1]["message"]["content"], "mock reply");
    assert_eq!(v["choices"][1]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 6);

    let mut req = openai_req();
    req["stop"] = json!(["story", "zzz"]);
    req["prompt_cache_key"] = json!("k");
    let v = post_json(&s, CHAT, &req).await;
    assert_eq!(v["choices"][0]["message"]["content"], "mock reply to: Tell me a ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 11);

    // `words` pads the reply.
    s.set_words(20);
    let v = post_json(&s, CHAT, &openai_req()).await;
    assert_eq!(v["usage"]["completion_tokens"], 20);

    let resp = post(&s, CHAT, &json!({"model": "m"})).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn openai_embeddings_and_models() {
    let s = spawn().await;
    let v = post_json(&s, "/v1/embeddings", &json!({"model": "text-embedding-3-small", "input": ["a b c", "d"]})).await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(v["usage"], json!({"prompt_tokens": 4, "total_tokens": 4}));
    let again = post_json(&s, "/v1/embeddings", &json!({"model": "x", "input": "a b c", "dimensions": 8})).await;
    assert_eq!(again["data"][0]["embedding"], v["data"][0]["embedding"]);
    let b64 = post_json(&s, "/v1/embeddings", &json!({"model": "x", "input": "a", "encoding_format": "base64"})).await;
    assert_eq!(b64["data"][0]["embedding"].as_str().unwrap().len(), 44); // 32 bytes

    let v: Value = client().get(s.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["object"], "list");
    assert!(v["data"].as_array().unwrap().iter().all(|m| m["object"] == "model" && m["id"].is_string()));
}

fn anthropic_req() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello Claude, how are you today?"}]}]
    })
}

#[tokio::test]
async fn anthropic_json_and_stream() {
    let s = spawn().await;
    let v = post_json(&s, MESSAGES, &anthropic_req()).await;
    assert_eq!((v["type"].as_str(), v["role"].as_str()), (Some("message"), Some("assistant")));
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["content"], json!([{"type": "text", "text": "mock reply to: Hello Claude, how are you today?"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    let usage = &v["usage"];
    assert_eq!(usage["input_tokens"], 2 + 3 + 6 + 3);
    assert_eq!(usage["output_tokens"], 9);
    assert_eq!(
        (usage["cache_read_input_tokens"].as_u64(), usage["cache_creation_input_tokens"].as_u64()),
        (Some(0), Some(0))
    );

    let mut req = anthropic_req();
    req["stream"] = json!(true);
    let events = parse_sse(&read_stream(post(&s, MESSAGES, &req).await).await.text());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    let deltas = names.iter().filter(|n| **n == "content_block_delta").count();
    assert_eq!(deltas, 9);
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    for e in &events {
        assert_eq!(e.json()["type"], e.event.as_deref().unwrap(), "event name matches data.type");
    }
    let start = events[0].json();
    assert_eq!(start["message"]["usage"]["input_tokens"], usage["input_tokens"]);
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(events[1].json()["content_block"], json!({"type": "text", "text": ""}));
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let d = e.json();
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(text, v["content"][0]["text"].as_str().unwrap());
    let delta = events[events.len() - 2].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], usage["output_tokens"]);
}

#[tokio::test]
async fn anthropic_tool_use_cache_and_errors() {
    let s = spawn().await;
    let mut req = anthropic_req();
    req["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    req["messages"][0]["content"][0]["text"] = json!("What is the weather like?");
    let v = post_json(&s, MESSAGES, &req).await;
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["type"], "tool_use");
    assert_eq!(v["content"][0]["name"], "get_weather");
    assert_eq!(v["content"][0]["input"], json!({"location": "Paris"}));
    let tool_id = v["content"][0]["id"].as_str().unwrap().to_string();

    req["stream"] = json!(true);
    let events = parse_sse(&read_stream(post(&s, MESSAGES, &req).await).await.text());
    let block = events[1].json();
    assert_eq!(block["content_block"]["type"], "tool_use");
    assert_eq!(block["content_block"]["input"], json!({}));
    let partial: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| e.json()["delta"]["partial_json"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), json!({"location": "Paris"}));
    assert_eq!(events[events.len() - 2].json()["delta"]["stop_reason"], "tool_use");

    // Tool result → text echoing it.
    req["stream"] = json!(false);
    req["messages"] = json!([
        {"role": "user", "content": "What is the weather like?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": "get_weather", "input": {"location": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "rainy, 12C"}]}
    ]);
    let v = post_json(&s, MESSAGES, &req).await;
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["content"][0]["text"].as_str().unwrap().contains("rainy, 12C"));

    // cache_control → half the prompt read from the cache.
    let mut req = anthropic_req();
    req["system"] = json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]);
    let u = post_json(&s, MESSAGES, &req).await["usage"].clone();
    assert_eq!((u["input_tokens"].as_u64(), u["cache_read_input_tokens"].as_u64()), (Some(7), Some(7)));

    // max_tokens → stop_reason max_tokens; stop_sequences.
    let mut req = anthropic_req();
    req["max_tokens"] = json!(3);
    let v = post_json(&s, MESSAGES, &req).await;
    assert_eq!(
        (v["stop_reason"].as_str(), v["content"][0]["text"].as_str()),
        (Some("max_tokens"), Some("mock reply to:"))
    );
    req["max_tokens"] = json!(100);
    req["stop_sequences"] = json!(["how"]);
    let v = post_json(&s, MESSAGES, &req).await;
    assert_eq!((v["stop_reason"].as_str(), v["stop_sequence"].as_str()), (Some("stop_sequence"), Some("how")));

    // Documented request validation.
    let resp = client().post(s.url(MESSAGES)).json(&anthropic_req()).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!((v["type"].as_str(), v["error"]["type"].as_str()), (Some("error"), Some("invalid_request_error")));
    let mut req = anthropic_req();
    req.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(post(&s, MESSAGES, &req).await.status(), 400);
}
