//! Fault behaviours: absurd usage, empty choices, malformed and huge bodies, plain bodies for streams, hangs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn chat(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "one two three four"}]})
}

fn claude(stream: bool) -> Value {
    json!({"model": "claude", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "one two three four"}]})
}

fn llama(stream: bool) -> Value {
    json!({"model": "llama3.2", "stream": stream, "messages": [{"role": "user", "content": "one two three four"}]})
}

fn gemini() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "one two three four"}]}]})
}

const GEMINI: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const GEMINI_SSE: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";

fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()["content-type"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn usage_tokens_are_reported_as_is() {
    let s = spawn().await;
    let max = u64::MAX;
    let big = i64::MAX as u64;

    s.push(Behavior::ok().usage_tokens(max));
    let v = post_json(&s, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(v["usage"]["prompt_tokens"].as_u64(), Some(max));
    assert_eq!(v["usage"]["completion_tokens"].as_u64(), Some(max));
    assert_eq!(v["usage"]["total_tokens"].as_u64(), Some(max), "the total saturates");
    assert!(v["choices"][0]["message"]["content"].is_string());

    s.push(Behavior::ok().usage_tokens(big));
    let events = parse_sse(&read_stream(post(&s, "/v1/chat/completions", &chat(true)).await).await.text());
    let usage = &events[events.len() - 2].json()["usage"];
    assert_eq!((usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64()), (Some(big), Some(big)));
    assert_eq!(events.last().unwrap().data, "[DONE]");

    s.push(Behavior::ok().usage_tokens(big));
    let v = post_json(&s, "/v1/messages", &claude(false)).await;
    assert_eq!((v["usage"]["input_tokens"].as_u64(), v["usage"]["output_tokens"].as_u64()), (Some(big), Some(big)));
    s.push(Behavior::ok().usage_tokens(big));
    let events = parse_sse(&read_stream(post(&s, "/v1/messages", &claude(true)).await).await.text());
    assert_eq!(events[0].json()["message"]["usage"]["input_tokens"].as_u64(), Some(big));
    let delta = events.iter().find(|e| e.event.as_deref() == Some("message_delta")).unwrap().json();
    assert_eq!(delta["usage"]["output_tokens"].as_u64(), Some(big));

    s.push(Behavior::ok().usage_tokens(max));
    let v = post_json(&s, GEMINI, &gemini()).await;
    let u = &v["usageMetadata"];
    assert_eq!((u["promptTokenCount"].as_u64(), u["candidatesTokenCount"].as_u64()), (Some(max), Some(max)));
    s.push(Behavior::ok().usage_tokens(7));
    let events = parse_sse(&read_stream(post(&s, GEMINI_SSE, &gemini()).await).await.text());
    assert_eq!(events.last().unwrap().json()["usageMetadata"]["candidatesTokenCount"].as_u64(), Some(7));

    s.push(Behavior::ok().usage_tokens(big));
    let v = post_json(&s, "/api/chat", &llama(false)).await;
    assert_eq!((v["prompt_eval_count"].as_u64(), v["eval_count"].as_u64()), (Some(big), Some(big)));
    s.push(Behavior::ok().usage_tokens(big));
    let lines = parse_ndjson(&read_stream(post(&s, "/api/chat", &llama(true)).await).await.text());
    assert_eq!(lines.last().unwrap()["eval_count"].as_u64(), Some(big));

    // JSON form, as the control API takes it.
    let b: Behavior = serde_json::from_str(r#"{"usage_tokens": 18446744073709551615}"#).unwrap();
    assert_eq!(b, Behavior::ok().usage_tokens(max));
}

#[tokio::test]
async fn empty_choices_in_every_format() {
    let s = spawn().await;
    s.push(Behavior::ok().empty_choices());
    let v = post_json(&s, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(v["choices"], json!([]));
    assert!(v["usage"]["total_tokens"].as_u64().is_some());

    s.push(Behavior::ok().empty_choices());
    let resp = post(&s, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&read_stream(resp).await.text());
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert!(events.len() >= 2);
    for e in &events[..events.len() - 1] {
        assert_eq!(e.json()["choices"], json!([]), "{}", e.data);
    }

    s.push(Behavior::ok().empty_choices());
    assert_eq!(post_json(&s, "/v1/messages", &claude(false)).await["content"], json!([]));
    s.push(Behavior::ok().empty_choices());
    let events = parse_sse(&read_stream(post(&s, "/v1/messages", &claude(true)).await).await.text());
    assert!(events.iter().all(|e| !e.event.as_deref().unwrap().starts_with("content_block")));
    assert_eq!(events.last().unwrap().event.as_deref(), Some("message_stop"));

    s.push(Behavior::ok().empty_choices());
    assert_eq!(post_json(&s, GEMINI, &gemini()).await["candidates"], json!([]));
    s.push(Behavior::ok().empty_choices());
    let events = parse_sse(&read_stream(post(&s, GEMINI_SSE, &gemini()).await).await.text());
    assert!(events.iter().all(|e| e.json()["candidates"] == json!([])));

    s.push(Behavior::ok().empty_choices());
    let v = post_json(&s, "/api/chat", &llama(false)).await;
    assert_eq!(v["message"], json!({"role": "assistant", "content": ""}));
    s.push(Behavior::ok().empty_choices());
    let lines = parse_ndjson(&read_stream(post(&s, "/api/chat", &llama(true)).await).await.text());
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0]["done"].as_bool(), lines[0]["message"]["content"].as_str()), (Some(true), Some("")));
}

#[tokio::test]
async fn malformed_bodies_and_streams() {
    let s = spawn().await;
    for (path, body) in [
        ("/v1/chat/completions", chat(false)),
        ("/v1/messages", claude(false)),
        (GEMINI, gemini()),
        ("/api/chat", llama(false)),
    ] {
        s.push(Behavior::ok().malformed());
        let resp = post(&s, path, &body).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert!(content_type(&resp).starts_with("application/json"));
        let bytes = resp.bytes().await.unwrap();
        assert!(serde_json::from_slice::<Value>(&bytes).is_err(), "{path}: {}", String::from_utf8_lossy(&bytes));
    }

    // SSE: the first event is valid, what follows is not.
    for (path, body) in [("/v1/chat/completions", chat(true)), ("/v1/messages", claude(true)), (GEMINI_SSE, gemini())] {
        s.push(Behavior::ok().malformed());
        let resp = post(&s, path, &body).await;
        assert_eq!(resp.status(), 200);
        let streamed = read_stream(resp).await;
        assert!(!streamed.error);
        let text = streamed.text().replace("\r\n", "\n");
        let (first, rest) = text.split_once("\n\n").unwrap();
        let data = first.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        serde_json::from_str::<Value>(data).unwrap_or_else(|e| panic!("{path}: first event {data:?}: {e}"));
        let bad_lines = rest
            .lines()
            .filter(|l| !l.is_empty())
            .filter(|l| match l.strip_prefix("data: ") {
                Some(d) => serde_json::from_str::<Value>(d).is_err(),
                None => !l.starts_with("event: "),
            })
            .count();
        assert!(bad_lines >= 2, "{path}: {rest:?}");
        assert!(!text.contains("[DONE]") && !text.contains("message_stop\ndata: {\""));
    }

    s.push(Behavior::ok().malformed());
    let text = read_stream(post(&s, "/api/chat", &llama(true)).await).await.text();
    let mut lines = text.lines();
    serde_json::from_str::<Value>(lines.next().unwrap()).unwrap();
    assert!(lines.all(|l| serde_json::from_str::<Value>(l).is_err()));
}

#[tokio::test]
async fn body_bytes_pads_bodies_and_streams() {
    let s = spawn().await;
    let target = 3 << 20;
    s.push(Behavior::ok().body_bytes(target));
    let resp = post(&s, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(resp.status(), 200);
    let streamed = read_stream(resp).await;
    assert!(!streamed.error);
    assert!(streamed.chunks.len() > 10, "written in chunks, not at once: {}", streamed.chunks.len());
    let bytes = streamed.chunks.concat();
    assert!(bytes.len() >= target && bytes.len() < target + 1024, "{} bytes", bytes.len());
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.len() > target - 1024 && content.ends_with(" pad"));
    assert!(!content.contains("<<layerr-mock"));

    for (path, body) in [("/v1/messages", claude(false)), (GEMINI, gemini()), ("/api/chat", llama(false))] {
        s.push(Behavior::ok().body_bytes(target));
        let bytes = post(&s, path, &body).await.bytes().await.unwrap();
        assert!(bytes.len() >= target, "{path}: {}", bytes.len());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(!v.to_string().contains("<<layerr-mock"), "{path}");
    }

    // Streams: whole, valid events adding up to at least the target.
    for (path, body) in [("/v1/chat/completions", chat(true)), ("/v1/messages", claude(true)), (GEMINI_SSE, gemini())] {
        s.push(Behavior::ok().body_bytes(target));
        let streamed = read_stream(post(&s, path, &body).await).await;
        let text = streamed.text();
        assert!(text.len() >= target, "{path}: {}", text.len());
        let events = parse_sse(&text);
        assert!(events.len() > 40, "{path}");
        events.iter().filter(|e| e.data != "[DONE]").for_each(|e| drop(e.json()));
    }
    s.push(Behavior::ok().body_bytes(target));
    let text = read_stream(post(&s, "/api/chat", &llama(true)).await).await.text();
    assert!(text.len() >= target);
    let lines = parse_ndjson(&text);
    assert_eq!(lines.last().unwrap()["done"], true);
}

#[tokio::test]
async fn plain_body_answers_a_stream_with_json() {
    let s = spawn().await;
    s.push(Behavior::ok().plain_body());
    let resp = post(&s, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");

    s.push(Behavior::ok().plain_body());
    let resp = post(&s, "/v1/messages", &claude(true)).await;
    assert_eq!(content_type(&resp), "application/json");
    assert_eq!(resp.json::<Value>().await.unwrap()["type"], "message");

    s.push(Behavior::ok().plain_body());
    let resp = post(&s, GEMINI_SSE, &gemini()).await;
    assert_eq!(content_type(&resp), "application/json");
    assert!(resp.json::<Value>().await.unwrap()["candidates"].is_array(), "an object, not an array");

    s.push(Behavior::ok().plain_body());
    let resp = post(&s, "/api/chat", &llama(true)).await;
    assert_eq!(content_type(&resp), "application/json");
    assert_eq!(resp.json::<Value>().await.unwrap()["done"], true);
}

#[tokio::test]
async fn hang_never_answers() {
    let s = spawn().await;
    s.push(Behavior::hang().path("/v1/chat"));
    let t = Instant::now();
    let err = client()
        .post(s.url("/v1/chat/completions"))
        .timeout(Duration::from_millis(400))
        .json(&chat(false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(t.elapsed() >= Duration::from_millis(400));
    // The server keeps serving, and the rule was consumed.
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);
    let b: Behavior = serde_json::from_str(r#"{"hang": true}"#).unwrap();
    assert_eq!(b, Behavior::hang());
}
