//! Dropped parameters are a typed field of each attempt (`droppedParams`, `AttemptSucceeded` /
//! `AttemptFailed` 1.2), worked out by the executor for the attempt's own provider kind, shown in
//! `GET /api/traces/{id}` and written as `x-layerr-dropped-params` from the answering attempt's
//! list (never recomputed at the edge). What the inbound format itself could not carry (the
//! legacy completions' `suffix`) is merged into the same list.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::events::all;
use common::upstream::{admin_chat, header, provider, provider_of, trace_id};
use common::{on_both_stores, wait, Gateway, Kind, ADMIN_KEY};
use layerr_mock::Behavior;
use serde_json::{json, Value};

const MODEL: &str = "shared-model";

fn ask(stream: bool) -> Value {
    json!({"model": MODEL, "stream": stream, "seed": 7, "logit_bias": {"50256": -100},
           "messages": [{"role": "user", "content": "say something short"}],
           "layerr": {"fallback": "relaxed"}})
}

async fn attempt_log(gw: &Gateway, trace: &str) -> Vec<Value> {
    let t = wait::trace(gw, trace).await;
    t["execution"]["attemptLog"].as_array().cloned().unwrap()
}

fn dropped(a: &Value) -> Vec<String> {
    a["droppedParams"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
}

on_both_stores!(each_attempt_records_what_its_own_upstream_did_not_receive);
async fn each_attempt_records_what_its_own_upstream_did_not_receive(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let anthropic = layerr_mock::spawn().await;
    let openai = layerr_mock::spawn().await;
    provider_of(&gw, "an", "anthropic", &anthropic.base_url(), &[MODEL]).await;
    provider(&gw, "oa", &format!("{}/v1", openai.base_url()), &[MODEL]).await;

    // Whatever the order of the chain, across these requests both kinds are tried: the one that
    // is down fails (its attempts recorded) and the other answers.
    let mut seen = (false, false);
    for (down, stream) in [(&openai, false), (&anthropic, false), (&openai, true), (&anthropic, true)] {
        anthropic.set_default(Behavior::ok());
        openai.set_default(Behavior::ok());
        down.set_default(Behavior::status(503).forever());
        let resp = gw
            .client
            .post(format!("{}/v1/chat/completions", gw.base))
            .bearer_auth(ADMIN_KEY)
            .json(&ask(stream))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let h = resp.headers().clone();
        let _ = resp.text().await.unwrap();
        let log = attempt_log(&gw, &trace_id(&h)).await;
        for a in &log {
            match a["provider"].as_str().unwrap() {
                "an" => {
                    seen.0 = true;
                    assert_eq!(dropped(a), ["seed", "logit_bias"], "{a}");
                }
                "oa" => {
                    seen.1 = true;
                    assert!(dropped(a).is_empty(), "an OpenAI upstream gets everything: {a}");
                }
                other => panic!("{other}"),
            }
        }
        let answered = log.iter().find(|a| a["succeeded"] == true).unwrap();
        let want = dropped(answered).join(", ");
        assert_eq!(header(&h, "x-layerr-dropped-params"), want, "stream {stream}: the answering attempt's list");
    }
    assert_eq!(seen, (true, true));

    // The stored events carry the field at version 1.2.
    let attempts: Vec<_> = all(&gw).await.into_iter().filter(|e| e.event_type.starts_with("Attempt")).collect();
    assert!(!attempts.is_empty());
    for e in &attempts {
        assert_eq!(e.event_version, "1.2");
        assert!(e.body()["attempt"]["droppedParams"].is_array(), "{:?}", e.payload);
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_formats_own_drops_join_the_attempts_list() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    provider_of(&gw, "an", "anthropic", &mock.base_url(), &["claude-sonnet-4"]).await;

    // /v1/completions: `suffix` has no chat equivalent, whoever answers.
    for (model, want) in [("gpt-4o-mini", "suffix"), ("claude-sonnet-4", "suffix, seed")] {
        let body = json!({"model": model, "prompt": "Say hi", "suffix": "!", "seed": 3, "max_tokens": 16});
        let (s, h, v) = gw.call("POST", "/v1/completions", Some(ADMIN_KEY), Some(body)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(header(&h, "x-layerr-dropped-params"), want);
        let log = attempt_log(&gw, &trace_id(&h)).await;
        assert_eq!(log.len(), 1);
        assert_eq!(dropped(&log[0]).join(", "), want);
    }

    // Legacy `logprobs: n` is chat's `logprobs` and `top_logprobs`: an upstream without them
    // reports it once, in the legacy name, on the header and the trace alike.
    let body = json!({"model": "claude-sonnet-4", "prompt": "Say hi", "logprobs": 2, "max_tokens": 16});
    let (s, h, v) = gw.call("POST", "/v1/completions", Some(ADMIN_KEY), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(header(&h, "x-layerr-dropped-params"), "logprobs");
    let log = attempt_log(&gw, &trace_id(&h)).await;
    assert_eq!(dropped(&log[0]), ["logprobs"]);

    // Nothing dropped: an empty list, and no header.
    let (s, h, v) =
        admin_chat(&gw, json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(header(&h, "x-layerr-dropped-params"), "");
    let log = attempt_log(&gw, &trace_id(&h)).await;
    assert_eq!(log[0]["droppedParams"], json!([]));
    gw.stop().await;
}

/// A Messages request's `thinking` becomes a `reasoning_effort` for an OpenAI model that reasons
/// (the catalog's `reasoning`) only: a model that does not refuses the parameter, so it is not
/// sent and `thinking` is reported on that attempt, header and trace alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_thinking_reaches_openai_reasoning_models_only() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "o4-mini"]).await;
    for (model, effort, want) in [("o4-mini", Some("medium"), ""), ("gpt-4o-mini", None, "thinking")] {
        let body = json!({"model": model, "max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048},
                          "messages": [{"role": "user", "content": "say something short"}]});
        let (s, h, v) = gw.call("POST", "/v1/messages", Some(ADMIN_KEY), Some(body)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(header(&h, "x-layerr-dropped-params"), want, "{model}");
        let sent = mock.requests().into_iter().rev().find(|r| r.body["model"] == model).unwrap();
        assert_eq!(sent.body.get("reasoning_effort").and_then(Value::as_str), effort, "{model}");
        let log = attempt_log(&gw, &trace_id(&h)).await;
        assert_eq!(dropped(&log[0]).join(", "), want, "{model}");
    }
    gw.stop().await;
}
