//! Regression tests for the fault probe's findings about upstreams and money (issue 9): absurd
//! usage and prices cannot overflow a sum or stop a restart, a hanging provider leaves time for
//! the fallback, and empty, non-stream or oversized answers are upstream faults the chain moves
//! past instead of successes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::time::{Duration, Instant};

use common::upstream::post_chat;
use common::{assert_error, config_for, provider, wait, Gateway, Kind, ADMIN_KEY};
use layerr_mock::Behavior;
use serde_json::{json, Value};

/// Two providers of gpt-4.1-mini: "primary" (first in the chain: ids tie-break) and "secondary".
async fn two_providers(gw: &Gateway) -> (layerr_mock::MockServer, layerr_mock::MockServer) {
    let primary = layerr_mock::spawn().await;
    let secondary = layerr_mock::spawn().await;
    provider(gw, "primary", &format!("{}/v1", primary.base_url()), &["gpt-4.1-mini"]).await;
    provider(gw, "secondary", &format!("{}/v1", secondary.base_url()), &["gpt-4.1-mini"]).await;
    (primary, secondary)
}

fn body(stream: bool) -> Value {
    json!({"model": "gpt-4.1-mini", "stream": stream, "messages": [{"role": "user", "content": "hi"}],
           "layerr": {"explain": true, "fallback": "strict"}})
}

/// (status, the provider that answered, the trace id, the body text)
async fn ask(gw: &Gateway, stream: bool) -> (u16, String, String, String) {
    let resp = post_chat(gw, ADMIN_KEY, &body(stream)).await;
    let status = resp.status().as_u16();
    let h = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let (provider, trace) = (h("x-layerr-provider"), h("x-layerr-trace-id"));
    (status, provider, trace, resp.text().await.unwrap())
}

fn attempt_kinds(t: &Value) -> Vec<String> {
    t["execution"]["attemptLog"]
        .as_array()
        .map(|a| a.iter().map(|x| format!("{}:{}", x["provider"].as_str().unwrap_or(""), x["errorKind"])).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_usage_and_prices_cannot_overflow_money_on_sqlite() {
    absurd_usage_and_prices(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_usage_and_prices_cannot_overflow_money_on_postgres() {
    absurd_usage_and_prices(Kind::Postgres).await;
}

async fn absurd_usage_and_prices(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let (primary, secondary) = two_providers(&gw).await;
    // An upstream reporting i64::MAX tokens was charged $6.9 trillion; now its answer is refused
    // as undecodable and the fallback serves, streamed or not.
    primary.set_default(Behavior::ok().usage_tokens(i64::MAX as u64).forever());
    let (s, p, id, text) = ask(&gw, false).await;
    assert_eq!((s, p.as_str()), (200, "secondary"), "{text}");
    let t = wait::trace(&gw, &id).await;
    assert!(attempt_kinds(&t).iter().any(|k| k == "primary:\"decode\""), "{t}");
    let cost = t["execution"]["costMicros"].as_i64();
    let charged: Vec<Value> = gw_charges(&gw, &id).await;
    assert_eq!(charged.len(), 1, "only the fallback's answer is charged: {charged:?}");
    assert_eq!(charged[0]["provider"], "secondary");
    assert!(charged[0]["costMicros"].as_i64().unwrap() < 1_000, "{charged:?} {cost:?}");
    // Streamed: the usage arrives after the text, so the answer ends with an error, uncharged.
    let (s, _, id, text) = ask(&gw, true).await;
    assert_eq!(s, 200, "{text}");
    if !text.contains("implausible usage") {
        // The fallback answered before the primary's usage was read (the chain never got there).
        assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    }
    let charged = gw_charges(&gw, &id).await;
    assert!(charged.iter().all(|c| c["costMicros"].as_i64().unwrap() < 1_000), "{charged:?}");

    // A price override beyond $10,000 per million tokens is refused.
    let (s, v) = gw
        .admin(
            "POST",
            "/api/providers",
            Some(json!({"id": "pricey", "name": "pricey", "type": "openai", "baseUrl": format!("{}/v1", secondary.base_url()),
                        "models": ["gpt-4.1-mini"],
                        "modelOverrides": [{"id": "gpt-4.1-mini", "inputPerMtok": 9_000_000_000_000_000_000u64}]})),
        )
        .await;
    let err = assert_error(s, &v, 400, "VALIDATION_ERROR");
    assert!(err["message"].as_str().unwrap().contains("at most"), "{v}");

    // What an earlier build stored (charges of i64::MAX in the read models) can no longer stop a
    // start or fail the spend reads: sums saturate.
    let backing = gw.stop().await;
    let config = config_for(&backing);
    let db = layerr::server::open_store(&config).await.unwrap();
    for table in ["traces", "economics_requests"] {
        let n = sqlx::query(&format!("UPDATE {table} SET cost_micros = 9223372036854775807"))
            .execute(&db.any)
            .await
            .unwrap()
            .rows_affected();
        assert!(n >= 2, "{table}: {n} rows");
    }
    db.any.close().await;
    let gw = Gateway::start_with(backing, config).await;
    for path in ["/api/economics/summary", "/api/economics/budget", "/api/economics/providers"] {
        let (s, v) = gw.admin("GET", path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
    }
    let (s, v) = gw.admin("GET", "/api/economics/summary", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["spentThisMonthMicros"], i64::MAX, "{v}");
    gw.stop().await;
}

/// The `CostCharged` events of a trace (their `charge` bodies), once it has finished.
async fn gw_charges(gw: &Gateway, id: &str) -> Vec<Value> {
    wait::trace(gw, id).await;
    let (s, v) = gw.admin("GET", &format!("/api/traces/{id}/economics"), None).await;
    assert_eq!(s, 200, "{v}");
    v["data"]["charges"].as_array().cloned().unwrap_or_default()
}

/// A fresh gateway with the two providers and the primary misbehaving: the router's order
/// (primary first) is not yet changed by what earlier requests measured.
async fn faulty(primary_does: Behavior) -> (Gateway, layerr_mock::MockServer, layerr_mock::MockServer) {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (primary, secondary) = two_providers(&gw).await;
    primary.set_default(primary_does.forever());
    (gw, primary, secondary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_provider_leaves_time_for_the_fallback() {
    for stream in [false, true] {
        let (gw, _p, _s) = faulty(Behavior::hang()).await;
        let (s, v) = gw
            .admin(
                "PATCH",
                "/api/workspaces/default/runtime",
                Some(json!({"timeouts": {"totalMs": 4000, "connectMs": 1000, "firstTokenMs": 4000}})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let t0 = Instant::now();
        let (s, p, id, text) = ask(&gw, stream).await;
        // Before: the primary's two tries used the whole 4 s and the answer was a 504.
        assert_eq!((s, p.as_str()), (200, "secondary"), "stream={stream}: {text}");
        assert!(t0.elapsed() < Duration::from_millis(3_900), "stream={stream}: {:?}", t0.elapsed());
        let t = wait::trace(&gw, &id).await;
        assert!(attempt_kinds(&t).iter().any(|k| k == "primary:\"timeout\""), "{t}");
        gw.stop().await;
    }
    // An explicit cap per attempt is a runtime setting; `null` clears it.
    let (gw, _p, _s) = faulty(Behavior::hang()).await;
    let (s, v) =
        gw.admin("PATCH", "/api/workspaces/default/runtime", Some(json!({"timeouts": {"attemptMs": 300}}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["timeouts"]["attemptMs"], 300, "{v}");
    let t0 = Instant::now();
    let (s, p, id, text) = ask(&gw, false).await;
    assert_eq!((s, p.as_str()), (200, "secondary"), "{text}");
    assert!(t0.elapsed() < Duration::from_millis(1_500), "{:?}", t0.elapsed());
    let t = wait::trace(&gw, &id).await;
    assert!(attempt_kinds(&t).iter().any(|k| k == "primary:\"timeout\""), "{t}");
    let (s, v) =
        gw.admin("PATCH", "/api/workspaces/default/runtime", Some(json!({"timeouts": {"attemptMs": null}}))).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["timeouts"].get("attemptMs").is_none_or(Value::is_null), "{v}");
    let (s, v) =
        gw.admin("PATCH", "/api/workspaces/default/runtime", Some(json!({"timeouts": {"attemptMs": 0}}))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_non_stream_and_oversized_answers_are_faults_that_fall_back() {
    // (what the primary does, stream?) Before: `choices: []` was passed on as a success, a stream
    // answered with a JSON body was recorded as a connect error, and a 100 MB body was buffered
    // and relayed whole.
    let cases = [
        (Behavior::ok().empty_choices(), false),
        (Behavior::ok().plain_body(), true),
        (Behavior::ok().body_bytes(40 << 20), false),
    ];
    for (fault, stream) in cases {
        let label = format!("{fault:?}");
        let (gw, _p, _s) = faulty(fault).await;
        let (s, p, id, text) = ask(&gw, stream).await;
        assert_eq!((s, p.as_str()), (200, "secondary"), "{label}: {}", &text[..text.len().min(300)]);
        assert!(text.len() < 1 << 20, "{label}");
        let kinds = attempt_kinds(&wait::trace(&gw, &id).await);
        assert!(kinds.iter().any(|k| k == "primary:\"decode\""), "{label}: {kinds:?}");
        assert!(!kinds.iter().any(|k| k == "primary:\"connect\""), "{label}: {kinds:?}");
        gw.stop().await;
    }
}
