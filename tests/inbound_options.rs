//! The `layerr` routing options reach the chat service alike from every inbound LLM API: as the
//! `layerr` body field, or as `x-layerr-strategy` / `x-layerr-fallback` / `x-layerr-explain`
//! headers for clients that cannot add body fields (Claude Code, Codex, Cursor); the body wins.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::upstream::mock_provider;
use common::{Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};

/// (path, body without `layerr`) of each inbound API.
fn apis() -> Vec<(&'static str, Value)> {
    let messages = json!([{"role": "user", "content": "hi"}]);
    vec![
        ("/v1/chat/completions", json!({"model": "gpt-4o-mini", "messages": messages})),
        ("/v1/completions", json!({"model": "gpt-4o-mini", "prompt": "hi"})),
        ("/v1/responses", json!({"model": "gpt-4o-mini", "input": "hi"})),
        ("/v1/messages", json!({"model": "gpt-4o-mini", "max_tokens": 16, "messages": messages})),
    ]
}

async fn post(
    gw: &Gateway,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = gw.client.post(format!("{}{path}", gw.base)).bearer_auth(ADMIN_KEY).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let h = resp.headers().clone();
    (status, h, resp.json().await.unwrap())
}

/// The error message of an answer, in the envelope or in Anthropic's error shape (both have `error.message`).
fn message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_body_options_reach_every_inbound_api() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let _mock = mock_provider(&gw).await;
    for (path, body) in apis() {
        // The header is read: an unknown strategy named there is refused like one in the body.
        let (s, _, v) = post(&gw, path, &body, &[("x-layerr-strategy", "no-such-strategy")]).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(message(&v).contains("no-such-strategy"), "{path}: {v}");
        // An unknown fallback mode names the header.
        let (s, _, v) = post(&gw, path, &body, &[("x-layerr-fallback", "sideways")]).await;
        assert_eq!(s, 400, "{path}: {v}");
        assert!(message(&v).contains("sideways"), "{path}: {v}");
        // Explain and a strategy by header: the explain headers name it.
        let (s, h, v) = post(&gw, path, &body, &[("x-layerr-strategy", "cost"), ("x-layerr-explain", "true")]).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!(h["x-layerr-strategy"], "cost", "{path}");
        assert!(h.contains_key("x-layerr-provider"), "{path}: explain headers");
        // Without x-layerr-explain only the trace id is there.
        let (s, h, _) = post(&gw, path, &body, &[("x-layerr-strategy", "cost")]).await;
        assert_eq!(s, 200, "{path}");
        assert!(h.contains_key("x-layerr-trace-id") && !h.contains_key("x-layerr-provider"), "{path}");
        // The body's field wins over the header.
        let mut with_body = body.clone();
        with_body["layerr"] = json!({"strategy": "speed", "explain": true});
        let (s, h, v) = post(&gw, path, &with_body, &[("x-layerr-strategy", "cost")]).await;
        assert_eq!(s, 200, "{path}: {v}");
        assert_eq!(h["x-layerr-strategy"], "speed", "{path}: the body wins");
    }
}
