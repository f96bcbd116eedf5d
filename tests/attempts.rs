//! The one attempt executor, seen from outside: chat, streamed chat and embeddings get the same
//! retries, fallback, breaker and rate-limit behaviour (issue 10). A provider's 429 is a rate
//! limit, not a health failure: it moves on, never opens the breaker, and when every target is
//! busy the client gets 429 RATE_LIMITED with the soonest Retry-After.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::upstream::trace_id;
use common::{assert_error, provider, wait, Gateway, Kind, ADMIN_KEY};
use layerr_mock::Behavior;
use serde_json::{json, Value};

const CHAT_MODEL: &str = "gpt-4.1-mini";
const EMBED_MODEL: &str = "text-embedding-3-small";

#[derive(Clone, Copy, Debug)]
enum Call {
    Chat,
    Stream,
    Embed,
}

/// (status, headers, body text)
async fn call(gw: &Gateway, c: Call) -> (u16, reqwest::header::HeaderMap, String) {
    call_as(gw, c, ADMIN_KEY).await
}

/// [`call`] with another key.
async fn call_as(gw: &Gateway, c: Call, key: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let (path, body) = match c {
        Call::Chat | Call::Stream => (
            "/v1/chat/completions",
            json!({"model": CHAT_MODEL, "stream": matches!(c, Call::Stream),
                   "messages": [{"role": "user", "content": "hi"}], "layerr": {"fallback": "strict"}}),
        ),
        Call::Embed => ("/v1/embeddings", json!({"model": EMBED_MODEL, "input": "hello"})),
    };
    let resp = gw.client.post(format!("{}{path}", gw.base)).bearer_auth(key).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn attempt_log(gw: &Gateway, headers: &reqwest::header::HeaderMap) -> Vec<Value> {
    let trace = wait::trace(gw, &trace_id(headers)).await;
    trace["execution"]["attemptLog"].as_array().cloned().unwrap_or_default()
}

/// (provider, succeeded) of each attempt, in order.
fn providers_tried(log: &[Value]) -> Vec<(String, bool)> {
    log.iter().map(|x| (x["provider"].as_str().unwrap().to_string(), x["succeeded"].as_bool().unwrap())).collect()
}

async fn circuit(gw: &Gateway, id: &str) -> String {
    let (s, v) = gw.admin("GET", &format!("/api/providers/{id}"), None).await;
    assert_eq!(s, 200, "{v}");
    v["data"]["health"]["circuit"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_target_rate_limited_is_a_429_with_the_soonest_retry_after_and_no_open_breaker() {
    for c in [Call::Chat, Call::Stream, Call::Embed] {
        let gw = Gateway::start(Kind::Sqlite).await;
        let a = layerr_mock::spawn().await;
        let b = layerr_mock::spawn().await;
        a.set_default(Behavior::status(429).retry_after(2).forever());
        b.set_default(Behavior::status(429).retry_after(5).forever());
        provider(&gw, "pa", &format!("{}/v1", a.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
        provider(&gw, "pb", &format!("{}/v1", b.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
        let (s, h, text) = call(&gw, c).await;
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{c:?}: {s} {text}"));
        assert_error(s, &v, 429, "RATE_LIMITED");
        assert_eq!(h["retry-after"], "2", "{c:?}: the soonest of the targets' Retry-After");
        assert_eq!(v["error"]["details"]["retryAfterMs"], 2000, "{v}");
        let log = attempt_log(&gw, &h).await;
        // One attempt per target: a 429 moves on at once, no retry on the same target.
        assert_eq!(log.len(), 2, "{c:?}: {log:?}");
        assert!(log.iter().all(|a| a["errorKind"] == "rate_limited" && a["status"] == 429), "{log:?}");

        // Retry-After is honoured: within it neither target is asked again, and the client is
        // told how long is left.
        let asked = (a.requests().len(), b.requests().len());
        let (s, h, text) = call(&gw, c).await;
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{c:?}: {s} {text}"));
        assert_error(s, &v, 429, "RATE_LIMITED");
        assert_eq!(h["retry-after"], "2", "{c:?}: what is left of pa's 2 s, rounded up");
        let left = v["error"]["details"]["retryAfterMs"].as_u64().unwrap();
        assert!(left > 1000 && left <= 2000, "{v}");
        assert_eq!((a.requests().len(), b.requests().len()), asked, "{c:?}: a busy target was asked again");
        assert!(attempt_log(&gw, &h).await.is_empty());

        // Once pa's Retry-After has passed it is asked again; pb's (5 s) has not.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (s, h, _) = call(&gw, c).await;
        assert_eq!(s, 429);
        let log = attempt_log(&gw, &h).await;
        assert_eq!(providers_tried(&log), [("pa".to_string(), false)], "{c:?}: {log:?}");
        assert_eq!(b.requests().len(), asked.1, "{c:?}");

        // More 429s (without Retry-After) than the breaker's threshold (5 consecutive failures):
        // the breakers stay closed.
        a.set_default(Behavior::status(429).forever());
        b.set_default(Behavior::status(429).forever());
        tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
        for i in 0..6 {
            let (s, h, text) = call(&gw, c).await;
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{c:?} {i}: {s} {text}"));
            assert_error(s, &v, 429, "RATE_LIMITED");
            assert_eq!(attempt_log(&gw, &h).await.len(), 2, "{c:?} {i}");
        }
        assert_eq!(circuit(&gw, "pa").await, "closed", "{c:?}");
        assert_eq!(circuit(&gw, "pb").await, "closed", "{c:?}");
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_and_embeddings_retry_and_fall_back_alike() {
    for c in [Call::Chat, Call::Stream, Call::Embed] {
        let gw = Gateway::start(Kind::Sqlite).await;
        let a = layerr_mock::spawn().await;
        let b = layerr_mock::spawn().await;
        provider(&gw, "pa", &format!("{}/v1", a.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
        provider(&gw, "pb", &format!("{}/v1", b.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
        // One 503, then fine: retried on the same target (embeddings had no retries before).
        a.push(Behavior::status(503));
        let (s, h, text) = call(&gw, c).await;
        assert_eq!(s, 200, "{c:?}: {text}");
        let log = attempt_log(&gw, &h).await;
        let seen = providers_tried(&log);
        assert_eq!(seen, [("pa".to_string(), false), ("pa".to_string(), true)], "{c:?}: {log:?}");

        // A provider that keeps failing: two tries (maxAttempts 2), then the fallback.
        a.set_default(Behavior::status(500).forever());
        let (s, h, text) = call(&gw, c).await;
        assert_eq!(s, 200, "{c:?}: {text}");
        let log = attempt_log(&gw, &h).await;
        let seen = providers_tried(&log);
        assert_eq!(
            seen,
            [("pa".to_string(), false), ("pa".to_string(), false), ("pb".to_string(), true)],
            "{c:?}: {log:?}"
        );
        gw.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_and_embeddings_share_the_deadline_alike() {
    for c in [Call::Chat, Call::Stream, Call::Embed] {
        let gw = Gateway::start(Kind::Sqlite).await;
        let key = gw.workspace("dl", "enterprise").await;
        let (s, _, v) = gw
            .call(
                "PATCH",
                "/api/workspaces/dl/runtime",
                Some(&key),
                Some(json!({"timeouts": {"totalMs": 1200, "connectMs": 500, "firstTokenMs": 1200}, "retries": {"maxAttempts": 1}})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let a = layerr_mock::spawn().await;
        let b = layerr_mock::spawn().await;
        provider(&gw, "pa", &format!("{}/v1", a.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
        provider(&gw, "pb", &format!("{}/v1", b.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
        // A hanging first target gets its share of the deadline (half, with one after it),
        // then the fallback answers within what is left.
        a.set_default(Behavior::hang().forever());
        let t0 = std::time::Instant::now();
        let (s, h, text) = call_as(&gw, c, &key).await;
        assert_eq!(s, 200, "{c:?}: {text}");
        let took = t0.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(500) && took < std::time::Duration::from_millis(1200),
            "{c:?}: {took:?}"
        );
        let log = attempt_log(&gw, &h).await;
        assert_eq!(providers_tried(&log), [("pa".to_string(), false), ("pb".to_string(), true)], "{c:?}: {log:?}");
        assert_eq!(log[0]["errorKind"], "timeout", "{log:?}");

        // Both hang: the request ends at its deadline with 504 TIMEOUT.
        b.set_default(Behavior::hang().forever());
        let t0 = std::time::Instant::now();
        let (s, _, text) = call_as(&gw, c, &key).await;
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{c:?}: {s} {text}"));
        assert_error(s, &v, 504, "TIMEOUT");
        assert!(t0.elapsed() < std::time::Duration::from_millis(2500), "{c:?}: {:?}", t0.elapsed());
        gw.stop().await;
    }
}

/// The request is at fault, not a provider: an embedding model named on a chat route is a 404
/// MODEL_NOT_FOUND (as OpenAI answers it) on every inbound API, and an absurd embedding
/// `dimensions` a 400 naming the field, with no upstream called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_named_model_cannot_serve_is_the_clients_error() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let up = layerr_mock::spawn().await;
    provider(&gw, "pa", &format!("{}/v1", up.base_url()), &[CHAT_MODEL, EMBED_MODEL]).await;
    let calls = [
        ("/v1/chat/completions", json!({"model": EMBED_MODEL, "messages": [{"role": "user", "content": "hi"}]})),
        ("/v1/completions", json!({"model": EMBED_MODEL, "prompt": "hi"})),
        ("/v1/responses", json!({"model": EMBED_MODEL, "input": "hi"})),
        ("/api/chat", json!({"model": EMBED_MODEL, "messages": [{"role": "user", "content": "hi"}]})),
    ];
    for (path, body) in calls {
        let resp =
            gw.client.post(format!("{}{path}", gw.base)).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
        let s = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        let e = assert_error(s, &v, 404, "MODEL_NOT_FOUND");
        assert!(e["message"].as_str().unwrap().contains(EMBED_MODEL), "{path}: {v}");
    }
    // Messages answers in Anthropic's error shape.
    let resp = gw
        .client
        .post(format!("{}/v1/messages", gw.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"model": EMBED_MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "not_found_error", "{v}");
    for dims in [0, 1_000_259] {
        let resp = gw
            .client
            .post(format!("{}/v1/embeddings", gw.base))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"model": EMBED_MODEL, "input": "hello", "dimensions": dims}))
            .send()
            .await
            .unwrap();
        let s = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap();
        let e = assert_error(s, &v, 400, "VALIDATION_ERROR");
        assert_eq!(e["details"]["field"], "dimensions", "{v}");
    }
    assert_eq!(up.requests().len(), 0, "no upstream is asked");
}
