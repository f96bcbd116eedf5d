//! The chat path end to end against mock upstreams: routing, fallback before the first byte,
//! retries, timeouts, upstream 4xx pass-through, the 502 envelope, explain headers, streaming,
//! and the trace events each request leaves in the store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::events::{of_trace_until as trace_events, types};
use common::upstream::{admin_chat, header, post_chat};
use common::{assert_error, provider, Gateway, Kind, ADMIN_KEY};
use layerr_mock::Behavior;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_completion_is_routed_answered_and_traced_on_sqlite() {
    plain_completion(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_completion_is_routed_answered_and_traced_on_postgres() {
    plain_completion(Kind::Postgres).await;
}

async fn plain_completion(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "gpt-4o"]).await;

    let (s, h, v) = admin_chat(&gw, json!({"model": "layerr-auto", "messages": [{"role": "user", "content": "Summarize this text: cats sleep a lot"}]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().starts_with("mock reply to: Summarize"));
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let trace = header(&h, "x-layerr-trace-id").to_string();
    assert!(!trace.is_empty());
    assert!(h.get("x-layerr-provider").is_none(), "explain headers only on request");

    // What we sent upstream: the credential, and the canonical request in OpenAI format.
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), Some("Bearer <redacted>"), "the credential was sent");

    let events = trace_events(&gw, &trace, "RequestCompleted").await;
    assert_eq!(
        types(&events),
        ["RequestReceived", "RouteDecided", "AttemptSucceeded", "CostCharged", "RequestCompleted"]
    );
    assert_eq!(events[0]["body"]["received"]["intent"], "summarization");
    let decision = &events[1]["body"]["decision"];
    assert_eq!(decision["candidates"].as_array().unwrap().len(), 2);
    assert!(decision["candidates"][0]["scores"]["total"].as_f64().is_some());
    let charge = &events[3]["body"]["charge"];
    assert_eq!(charge["tokensIn"], v["usage"]["prompt_tokens"]);
    assert_eq!(charge["tokensOut"], v["usage"]["completion_tokens"]);
    assert!(charge["costMicros"].as_i64().unwrap() > 0);
    assert_eq!(charge["priceVersion"], layerr::catalog::Catalog::builtin().version.as_str());
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("sk-test-secret-value"), "the provider key never enters an event");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fallback_before_the_first_byte_is_recorded_and_explained() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let primary = layerr_mock::spawn().await;
    let secondary = layerr_mock::spawn().await;
    primary.set_default(Behavior::status(503).forever());
    provider(&gw, "primary", &format!("{}/v1", primary.base_url()), &["gpt-4.1-mini"]).await;
    provider(&gw, "secondary", &format!("{}/v1", secondary.base_url()), &["gpt-4.1-mini"]).await;
    // Make "primary" the router's first choice: block nothing, but the names tie-break on id.
    let (s, h, v) = admin_chat(
        &gw,
        json!({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}],
               "layerr": {"explain": true, "fallback": "strict"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(header(&h, "x-layerr-provider"), "secondary");
    assert_eq!(header(&h, "x-layerr-attempts"), "3", "primary twice (max_attempts 2), then secondary");
    let attempts = header(&h, "x-layerr-fallback-attempts");
    assert!(
        attempts.contains("primary:gpt-4.1-mini:server(503)") && attempts.contains("secondary:gpt-4.1-mini:ok"),
        "{attempts}"
    );
    assert_eq!(header(&h, "x-layerr-strategy"), "balanced");
    assert!(!header(&h, "x-layerr-scores").is_empty());
    assert!(!header(&h, "x-layerr-summary").is_empty());
    let trace = header(&h, "x-layerr-trace-id").to_string();
    let events = trace_events(&gw, &trace, "RequestCompleted").await;
    assert_eq!(
        types(&events),
        [
            "RequestReceived",
            "RouteDecided",
            "AttemptFailed",
            "AttemptFailed",
            "AttemptSucceeded",
            "CostCharged",
            "RequestCompleted"
        ]
    );
    assert_eq!(events[2]["body"]["attempt"]["provider"], "primary");
    assert_eq!(events[2]["body"]["attempt"]["errorKind"], "server");
    assert_eq!(events[2]["body"]["attempt"]["status"], 503);
    assert_eq!(events[4]["body"]["attempt"]["provider"], "secondary");

    // Streaming falls back the same way, before anything reaches the client.
    let resp = post_chat(&gw, ADMIN_KEY, &json!({"model": "gpt-4.1-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}], "layerr": {"explain": true}})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-layerr-provider"], "secondary");
    let body = resp.text().await.unwrap();
    assert!(body.contains("mock reply to: hi") || body.contains("\"content\":\"hi"), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_chain_timeout_and_upstream_4xx_map_to_the_spec_codes() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "pa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    provider(&gw, "pb", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;

    mock.push(Behavior::status(500).times(4));
    let (s, h, v) =
        admin_chat(&gw, json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})).await;
    let err = assert_error(s, &v, 502, "PROVIDER_UNAVAILABLE");
    assert_eq!(err["details"]["attempts"], 4);
    assert_eq!(err["details"]["providers"], json!(["pa", "pb"]));
    assert!(!header(&h, "x-layerr-trace-id").is_empty(), "errors carry the trace id too");
    let trace = header(&h, "x-layerr-trace-id").to_string();
    let events = trace_events(&gw, &trace, "RequestFailed").await;
    assert_eq!(events.last().unwrap()["body"]["code"], "PROVIDER_UNAVAILABLE");

    // The client's own mistake, as the upstream saw it: passed back as a 400, not retried.
    mock.clear();
    mock.push(Behavior::status(400).message("max_tokens is too large for this model"));
    let (s, _, v) =
        admin_chat(&gw, json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})).await;
    let err = assert_error(s, &v, 400, "INVALID_REQUEST");
    assert!(err["message"].as_str().unwrap().contains("max_tokens is too large"), "{err}");
    assert_eq!(mock.requests().len(), 1, "a 4xx is not retried elsewhere");

    // A slow upstream beyond the workspace's total timeout: 504.
    let (s, v) = gw
        .admin(
            "PATCH",
            "/api/workspaces/default/runtime",
            Some(json!({"timeouts": {"totalMs": 300, "firstTokenMs": 200, "connectMs": 100}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    mock.set_default(Behavior::ok().delay_ms(2_000).forever());
    let (s, _, v) =
        admin_chat(&gw, json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_error(s, &v, 504, "TIMEOUT");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_unknown_things_are_enveloped() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    let (s, _, v) = admin_chat(&gw, json!({"model": "gpt-4o-mini", "messages": []})).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "messages");
    let (s, _, v) = admin_chat(
        &gw,
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
    )
    .await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "temperature");
    let (s, _, v) = admin_chat(&gw, json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "layerr": {"strategy": "fastest"}})).await;
    assert_error(s, &v, 400, "INVALID_STRATEGY");
    let (s, _, v) =
        admin_chat(&gw, json!({"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]})).await;
    assert_error(s, &v, 404, "MODEL_NOT_FOUND");
    let (s, v) = gw.raw("POST", "/v1/chat/completions", Some(ADMIN_KEY), "{\"model\": ").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, _, v) = gw.call("POST", "/v1/chat/completions", None, Some(json!({}))).await;
    assert_error(s, &v, 401, "UNAUTHORIZED");
    assert!(mock.requests().is_empty(), "nothing reached the upstream");

    let (s, _, v) = gw.call("GET", "/v1/models", Some(ADMIN_KEY), None).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["layerr-auto", "gpt-4o-mini"]);
    let (s, _, v) = gw.call("GET", "/v1/models/gpt-4o-mini", Some(ADMIN_KEY), None).await;
    assert_eq!((s, v["owned_by"].as_str()), (200, Some("oa")));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_midway_ends_with_an_error_and_is_recorded() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    mock.set_words(40);
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    mock.push(Behavior::ok().cut_after_chunks(4));
    let resp = post_chat(&gw, ADMIN_KEY, &json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "tell me a long story"}]})).await;
    assert_eq!(resp.status(), 200);
    let trace = resp.headers()["x-layerr-trace-id"].to_str().unwrap().to_string();
    let body = resp.text().await.unwrap();
    assert!(body.contains("\"code\":\"STREAM_INTERRUPTED\""), "{body}");
    assert!(!body.contains("[DONE]"));
    let events = trace_events(&gw, &trace, "RequestFailed").await;
    let t = types(&events);
    assert!(t.contains(&"AttemptFailed".to_string()) && t.contains(&"CostCharged".to_string()), "{t:?}");
    gw.stop().await;
}
