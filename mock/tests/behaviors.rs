//! Injected behaviours (errors, drops, cuts, delays, splitting), the control API and recording.
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
    json!({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "one two three four"}]})
}

fn claude(stream: bool) -> Value {
    json!({"model": "claude", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "one two three four"}]})
}

#[tokio::test]
async fn status_errors_use_each_provider_format() {
    let s = spawn().await;
    s.push(Behavior::status(429).retry_after(2).path("/v1/chat"));
    let resp = post(&s, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].is_string() && v["error"].get("param").is_some());
    // Consumed: the next one succeeds.
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);

    s.push(Behavior::status(529).retry_after_ms(1500));
    let resp = post(&s, "/v1/messages", &claude(true)).await;
    assert_eq!(resp.status(), 529);
    assert_eq!(resp.headers()["retry-after-ms"], "1500");
    assert_eq!(resp.headers()["retry-after"], "2");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));

    s.push(Behavior::status(400).message("bad thing"));
    let v: Value = post(&s, "/v1/messages", &claude(false)).await.json().await.unwrap();
    assert_eq!(v["error"], json!({"type": "invalid_request_error", "message": "bad thing"}));

    s.push(Behavior::status(503));
    let resp = post(&s, "/v1beta/models/gemini-2.0-flash:generateContent", &json!({"contents": []})).await;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.unwrap();
    assert_eq!((v["error"]["code"].as_u64(), v["error"]["status"].as_str()), (Some(503), Some("UNAVAILABLE")));

    s.push(Behavior::status(500));
    let resp = post(&s, "/api/chat", &json!({"model": "llama3.2", "messages": []})).await;
    assert_eq!(resp.status(), 500);
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
}

#[tokio::test]
async fn matching_by_path_model_times_and_default() {
    let s = spawn().await;
    s.push(Behavior::status(500).model("other-model").forever());
    s.push(Behavior::status(502).path("/v1/messages").times(2));
    for _ in 0..2 {
        assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);
        assert_eq!(post(&s, "/v1/messages", &claude(false)).await.status(), 502);
    }
    assert_eq!(post(&s, "/v1/messages", &claude(false)).await.status(), 200);
    let mut other = chat(false);
    other["model"] = json!("other-model");
    for _ in 0..3 {
        assert_eq!(post(&s, "/v1/chat/completions", &other).await.status(), 500);
    }
    s.clear_behaviors();
    assert_eq!(post(&s, "/v1/chat/completions", &other).await.status(), 200);
    s.set_default(Behavior::status(503));
    assert_eq!(post(&s, "/api/chat", &json!({"model": "x", "messages": []})).await.status(), 503);
    s.set_default(Behavior::ok());
    assert_eq!(post(&s, "/v1/chat/completions", &other).await.status(), 200);
}

#[tokio::test]
async fn drop_closes_without_response() {
    let s = spawn().await;
    s.push(Behavior::drop_connection());
    let err = client().post(s.url("/v1/chat/completions")).json(&chat(false)).send().await.unwrap_err();
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    // The server keeps serving.
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);
}

#[tokio::test]
async fn cut_after_chunks_aborts_mid_stream() {
    let s = spawn().await;
    s.push(Behavior::ok().cut_after_chunks(3).split(false));
    let resp = post(&s, "/v1/messages", &claude(true)).await;
    assert_eq!(resp.status(), 200);
    let body = read_stream(resp).await;
    assert!(body.error, "the stream must end with an error");
    let events = parse_sse(&body.text());
    let names: Vec<_> = events.iter().map(|e| e.event.clone().unwrap()).collect();
    assert_eq!(names, ["message_start", "content_block_start", "ping"]);

    // Split and cut: complete events only up to the cut.
    s.push(Behavior::ok().cut_after_chunks(2));
    let body = read_stream(post(&s, "/v1/chat/completions", &chat(true)).await).await;
    assert!(body.error);
    assert_eq!(parse_sse(&body.text()).len(), 2);

    // A non-streaming answer is cut half-way through its body.
    s.push(Behavior::ok().cut_after_chunks(1));
    let resp = post(&s, "/v1/chat/completions", &chat(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn error_after_chunks_sends_in_stream_errors() {
    let s = spawn().await;
    s.push(Behavior::ok().error_after_chunks(4));
    let body = read_stream(post(&s, "/v1/messages", &claude(true)).await).await;
    assert!(!body.error);
    let events = parse_sse(&body.text());
    assert_eq!(events.len(), 5);
    assert_eq!(events[4].event.as_deref(), Some("error"));
    assert_eq!(
        events[4].json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );

    s.push(Behavior::status(500).error_after_chunks(1));
    let resp = post(&s, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(resp.status(), 200);
    let events = parse_sse(&read_stream(resp).await.text());
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].json()["error"]["type"], "server_error");

    s.push(Behavior::ok().error_after_chunks(2));
    let text = read_stream(post(&s, "/api/chat", &json!({"model": "x", "messages": []})).await).await.text();
    let lines = parse_ndjson(&text);
    assert_eq!(lines.len(), 3);
    assert!(lines[2]["error"].is_string());
}

#[tokio::test]
async fn delays() {
    let s = spawn().await;
    s.push(Behavior::ok().delay_ms(300));
    let t = Instant::now();
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    // A 7-word reply: role, 7 deltas, finish and [DONE] = 10 frames, 9 gaps.
    s.push(Behavior::ok().chunk_delay_ms(40));
    let t = Instant::now();
    let resp = post(&s, "/v1/chat/completions", &chat(true)).await;
    let first = t.elapsed();
    let events = parse_sse(&read_stream(resp).await.text());
    assert_eq!(events.len(), 10);
    // Headers come before the paced events (a loose bound: other tests share the machine).
    assert!(first + Duration::from_millis(40 * 4) <= t.elapsed(), "headers come first");
    assert!(t.elapsed() >= Duration::from_millis(40 * 9));
}

#[tokio::test]
async fn split_can_be_disabled() {
    let s = spawn().await;
    s.set_split(false);
    let body = read_stream(post(&s, "/v1/messages", &claude(true)).await).await;
    let events = parse_sse(&body.text());
    assert!(body.chunks.len() <= events.len(), "{} chunks for {} events", body.chunks.len(), events.len());
    s.push(Behavior::ok().split(true));
    let body = read_stream(post(&s, "/v1/messages", &claude(true)).await).await;
    assert!(body.chunks.len() > events.len() * 3);
    assert_eq!(parse_sse(&body.text()).len(), events.len());
}

#[tokio::test]
async fn control_api_and_recording() {
    let s = spawn().await;
    let c = client();
    let health: Value = c.get(s.url("/_mock/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["ok"], true);

    let queued: Value = c
        .post(s.url("/_mock/behavior"))
        .json(&json!([{"status": 503, "path": "/v1/chat", "times": 2}, {"delay_ms": 1}]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["queued"], 2);
    let state: Value = c.get(s.url("/_mock/behavior")).send().await.unwrap().json().await.unwrap();
    assert_eq!(state["queue"][0]["status"], 503);
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 503);
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 503);
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);
    let bad = c.post(s.url("/_mock/behavior")).json(&json!({"statuss": 1})).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let reqs: Vec<Value> = c.get(s.url("/_mock/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0]["path"], "/v1/chat/completions");
    assert_eq!(reqs[0]["method"], "POST");
    assert_eq!(reqs[0]["headers"]["authorization"], "Bearer <redacted>");
    assert_eq!(reqs[0]["headers"]["x-api-key"], "<redacted>");
    assert_eq!(reqs[0]["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(reqs[0]["body"], chat(false));
    assert_eq!(s.requests()[2].body, chat(false));

    c.delete(s.url("/_mock/requests")).send().await.unwrap();
    assert!(s.requests().is_empty());
    let cfg: Value =
        c.put(s.url("/_mock/config")).json(&json!({"record": false})).send().await.unwrap().json().await.unwrap();
    assert_eq!(cfg["record"], false);
    post(&s, "/v1/chat/completions", &chat(false)).await;
    assert!(s.requests().is_empty());

    c.put(s.url("/_mock/behavior/default")).json(&json!({"status": 418})).send().await.unwrap();
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 418);
    c.delete(s.url("/_mock/behavior")).send().await.unwrap();
    assert_eq!(post(&s, "/v1/chat/completions", &chat(false)).await.status(), 200);
}
