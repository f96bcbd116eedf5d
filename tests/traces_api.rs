//! The trace pipeline end to end: a concurrent load leaves exactly the expected events, the
//! `traces` read model equals a fold of them and a rebuild reproduces it (SQLite and Postgres);
//! the detail meets the spec's trace shape; list filters, paging, explain, economics, analytics;
//! replay dry-run then/now after a strategy change, a live replay linked to its original, compare.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::events::of_type as events_of;
use common::upstream::{post_chat, trace_id};
use common::{assert_error, chat, provider, wait, Gateway, Kind, ADMIN_KEY};
use layerr_mock::Behavior;
use layerr_projections::traces::{TraceView, Traces};
use layerr_projections::{ProjectionRunner, StoredEvent};
use serde_json::{json, Value};

async fn capture_full(gw: &Gateway, slug: &str) {
    let (s, v) =
        gw.admin("PATCH", &format!("/api/workspaces/{slug}/runtime"), Some(json!({"contentCapture": "full"}))).await;
    assert_eq!(s, 200, "{v}");
}

async fn get(gw: &Gateway, path: &str) -> (u16, Value) {
    gw.admin("GET", path, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_load_yields_exact_events_and_a_rebuildable_read_model_on_sqlite() {
    concurrent_load(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_load_yields_exact_events_and_a_rebuildable_read_model_on_postgres() {
    concurrent_load(Kind::Postgres).await;
}

async fn concurrent_load(kind: Kind) {
    let gw = Arc::new(Gateway::start(kind).await);
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "gpt-4o"]).await;
    let key = gw.workspace("load", "enterprise").await;

    const OK: usize = 48;
    const MISSING: usize = 6;
    let mut tasks = Vec::new();
    for i in 0..OK + MISSING {
        let (gw, key) = (gw.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let model = if i < OK { "layerr-auto" } else { "no-such-model" };
            let body = json!({"model": model, "stream": i % 3 == 0,
                              "messages": [{"role": "user", "content": format!("Say hello number {i}")}]});
            let resp = post_chat(&gw, &key, &body).await;
            let status = resp.status().as_u16();
            let trace = resp.headers()["x-layerr-trace-id"].to_str().unwrap().to_string();
            let _ = resp.bytes().await.unwrap();
            (i, status, trace)
        }));
    }
    let mut expected: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for t in tasks {
        let (i, status, trace) = t.await.unwrap();
        if i < OK {
            assert_eq!(status, 200);
            expected.insert(
                trace,
                vec!["RequestReceived", "RouteDecided", "AttemptSucceeded", "CostCharged", "RequestCompleted"],
            );
        } else {
            assert_eq!(status, 404);
            expected.insert(trace, vec!["RequestReceived", "RouteDecided", "RequestFailed"]);
        }
    }
    assert_eq!(expected.len(), OK + MISSING, "trace ids are unique");
    wait::finished_traces(&gw, OK + MISSING).await;

    // Exactly the expected events: per trace, the types in sequence order 1..n, nothing else.
    let events = events_of(&gw, "Trace").await;
    let mut by_trace: BTreeMap<String, Vec<&StoredEvent>> = BTreeMap::new();
    for e in &events {
        by_trace.entry(e.aggregate_id.clone()).or_default().push(e);
    }
    assert_eq!(by_trace.len(), expected.len(), "no trace more or fewer than the requests");
    let mut total = 0;
    for (trace, want) in &expected {
        let got = &by_trace[trace];
        let types: Vec<&str> = got.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(&types, want, "trace {trace}");
        let seqs: Vec<i64> = got.iter().map(|e| e.sequence).collect();
        assert_eq!(seqs, (1..=want.len() as i64).collect::<Vec<_>>(), "trace {trace}");
        assert!(got.iter().all(|e| e.meta("workspace") == Some("load")));
        total += want.len();
    }
    assert_eq!(events.len(), total);

    // The read model is the fold of those events.
    let db = gw.started.state.store.db.clone();
    for (trace, evs) in &by_trace {
        let mut folded = TraceView::new(trace, evs[0]);
        for e in evs {
            folded.apply(e).unwrap();
        }
        let stored = db.trace(trace).await.unwrap().expect("trace in the read model");
        assert_eq!(stored, folded, "trace {trace}");
        let charged: i64 = evs
            .iter()
            .filter(|e| e.event_type == "CostCharged")
            .map(|e| e.body()["charge"]["costMicros"].as_i64().unwrap())
            .sum();
        assert_eq!(stored.cost_micros(), charged);
    }

    // The list agrees with the store, page by page.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, v) = get(&gw, &format!("/api/traces?workspace=load&limit=7{cursor}")).await;
        assert_eq!(s, 200, "{v}");
        seen.extend(v["data"].as_array().unwrap().iter().map(|t| t["traceId"].as_str().unwrap().to_string()));
        match v["meta"]["page"]["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "paging repeats nothing");
    assert_eq!(unique, expected.keys().cloned().collect(), "paging covers every trace");
    let (_, failed) = get(&gw, "/api/traces?workspace=load&status=failed&limit=100").await;
    assert_eq!(failed["data"].as_array().unwrap().len(), MISSING);
    assert!(failed["data"].as_array().unwrap().iter().all(|t| t["errorCode"] == "MODEL_NOT_FOUND"));

    // A rebuild (truncate + replay of the feed) reproduces the live model exactly.
    let live = db.all_trace_views().await.unwrap();
    let gw = Arc::try_unwrap(gw).ok().expect("no other handle");
    let backing = gw.stop().await;
    let runner = ProjectionRunner::new(db.clone(), Arc::new(Traces), Default::default(), Duration::from_secs(1));
    let mut last = (0, 0);
    let applied = runner.rebuild(|done, total| last = (done, total)).await.unwrap();
    // The projector also reads the workspaces' events (a deleted workspace's traces are dropped).
    let workspace_events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE aggregate_type = 'Workspace'")
        .fetch_one(&db.any)
        .await
        .unwrap();
    assert_eq!(applied as i64, total as i64 + workspace_events);
    assert_eq!(last, (applied, applied as i64));
    assert_eq!(db.all_trace_views().await.unwrap(), live);
    drop(backing);
}

/// The spec's trace example, field for field (same keys at every level, same JSON types).
fn assert_shape(example: &Value, actual: &Value, path: &str) {
    match example {
        Value::Object(m) => {
            let a = actual.as_object().unwrap_or_else(|| panic!("{path} should be an object: {actual}"));
            for (k, v) in m {
                let child = a.get(k).unwrap_or_else(|| panic!("{path}.{k} missing in {actual}"));
                assert_shape(v, child, &format!("{path}.{k}"));
            }
        }
        Value::Array(items) => {
            let a = actual.as_array().unwrap_or_else(|| panic!("{path} should be an array: {actual}"));
            if let Some(first) = items.first() {
                assert!(!a.is_empty(), "{path} should not be empty");
                for x in a {
                    assert_shape(first, x, &format!("{path}[]"));
                }
            }
        }
        Value::String(_) => assert!(actual.is_string(), "{path} should be a string: {actual}"),
        Value::Number(_) => assert!(actual.is_number(), "{path} should be a number: {actual}"),
        Value::Bool(_) => assert!(actual.is_boolean(), "{path} should be a boolean: {actual}"),
        Value::Null => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_explain_economics_and_analytics() {
    let gw = Gateway::start(Kind::Postgres).await;
    let down = layerr_mock::spawn().await;
    down.set_default(Behavior::status(503).forever());
    let up = layerr_mock::spawn().await;
    // Same model on both: the first in the chain fails, the request falls back to the second.
    provider(&gw, "a-down", &format!("{}/v1", down.base_url()), &["gpt-4o"]).await;
    provider(&gw, "b-up", &format!("{}/v1", up.base_url()), &["gpt-4o"]).await;
    let (s, _) =
        gw.admin("PATCH", "/api/workspaces/default/runtime", Some(json!({"retries": {"maxAttempts": 1}}))).await;
    assert_eq!(s, 200);
    let (s, h, v) = chat(
        &gw,
        ADMIN_KEY,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Write a Rust function that reverses a string"}]}),
    )
    .await;
    let trace = trace_id(&h);
    assert_eq!(s, 200, "{v}");
    wait::finished_traces(&gw, 1).await;

    let (s, d) = get(&gw, &format!("/api/traces/{trace}")).await;
    assert_eq!(s, 200, "{d}");
    let example = json!({
        "traceId": "trace-uuid", "workspaceId": "my-project",
        "intent": {"classification": "coding", "confidence": 0.94},
        "strategy": "quality",
        "routingDecision": {"primaryProvider": "anthropic-prod", "primaryModel": "claude-sonnet-4",
            "fallbackChain": ["openai-prod"], "scores": {"quality": 0.92, "speed": 0.78, "cost": 0.65}},
        "execution": {"attempts": 1, "finalProvider": "anthropic-prod", "latencyMs": 3400, "tokensIn": 1240,
            "tokensOut": 892, "costUsd": 0.023},
        "explanation": {"summary": "Selected Claude Sonnet", "providerRationale": "Top quality score"}
    });
    let data = &d["data"];
    assert_shape(&example, data, "data");
    assert_eq!(data["traceId"], trace);
    assert_eq!(data["workspaceId"], "default");
    assert_eq!(data["intent"]["classification"], "coding");
    let primary = data["routingDecision"]["primaryProvider"].as_str().unwrap();
    let fallback = data["routingDecision"]["fallbackChain"][0].as_str().unwrap();
    assert_eq!(data["execution"]["attempts"], 2, "{data}");
    assert_eq!(data["execution"]["finalProvider"], fallback);
    assert_eq!(data["execution"]["attemptLog"][0]["provider"], primary);
    assert_eq!(data["execution"]["attemptLog"][0]["succeeded"], false);
    assert_eq!(data["execution"]["tokensIn"], v["usage"]["prompt_tokens"]);
    assert_eq!(data["execution"]["tokensOut"], v["usage"]["completion_tokens"]);
    assert!(data["execution"]["costUsd"].as_f64().unwrap() > 0.0);

    let (s, e) = get(&gw, &format!("/api/traces/{trace}/explain")).await;
    assert_eq!(s, 200, "{e}");
    let cands = e["data"]["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    let fb = cands.iter().find(|c| c["provider"] == fallback).unwrap();
    assert_eq!(fb["chainPosition"], 1);
    assert_eq!(fb["passedOver"], Value::Null, "the fallback served the request: {e}");
    let pr = cands.iter().find(|c| c["provider"] == primary).unwrap();
    assert_eq!(pr["selected"], true);
    assert!(pr["passedOver"].as_str().unwrap().contains("failed"), "{e}");
    assert!(pr["scores"]["total"].is_number());

    let (s, econ) = get(&gw, &format!("/api/traces/{trace}/economics")).await;
    assert_eq!(s, 200, "{econ}");
    let alts = econ["data"]["alternatives"].as_array().unwrap();
    assert_eq!(alts.len(), 2);
    // The same model at the same catalog price costs the same on either provider.
    assert_eq!(alts[0]["costMicros"], alts[1]["costMicros"]);
    assert_eq!(econ["data"]["costMicros"], alts[0]["costMicros"]);
    assert_eq!(econ["data"]["charges"][0]["priceVersion"].as_str().map(|s| !s.is_empty()), Some(true));

    let (s, a) = get(&gw, "/api/traces/analytics?groupBy=provider&interval=1h").await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["data"]["overall"]["requests"], 1);
    assert_eq!(a["data"]["overall"]["fallbackRate"], 1.0);
    assert_eq!(a["data"]["groups"][0]["group"], fallback);
    assert!(a["data"]["buckets"][0]["latencyP50Ms"].is_number());

    // Filters.
    let (_, r) = get(&gw, &format!("/api/traces/recent?provider={fallback}&intent=coding")).await;
    assert_eq!(r["data"]["traces"].as_array().unwrap().len(), 1, "{r}");
    let (_, r) = get(&gw, &format!("/api/traces?provider={primary}")).await;
    assert_eq!(r["data"].as_array().unwrap().len(), 0, "the failed primary did not serve it: {r}");
    let (_, r) = get(&gw, "/api/traces?minCost=1000").await;
    assert_eq!(r["data"].as_array().unwrap().len(), 0);
    let (_, r) = get(&gw, "/api/traces?maxLatency=600000&minLatency=0&status=completed").await;
    assert_eq!(r["data"].as_array().unwrap().len(), 1);

    // Bad input and other workspaces.
    let (s, v) = get(&gw, "/api/traces?status=weird").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = get(&gw, "/api/traces?minCost=2&maxCost=1").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = get(&gw, "/api/traces?from=yesterday").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = get(&gw, "/api/traces?cursor=abc").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = get(&gw, "/api/traces/analytics?groupBy=color").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = get(&gw, "/api/traces/analytics?interval=1s&window=30d").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    for bad in
        ["/api/traces/recent?window=1%C3%A9", "/api/traces/analytics?interval=%C3%A9", "/api/traces/recent?window="]
    {
        let (s, v) = get(&gw, bad).await;
        assert_error(s, &v, 400, "VALIDATION_ERROR");
    }
    let (s, v) = get(&gw, "/api/traces/not-a-trace").await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let other = gw.workspace("other", "standard").await;
    let (s, _, v) = gw.call("GET", &format!("/api/traces/{trace}"), Some(&other), None).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let (s, _, v) = gw.call("GET", "/api/traces?workspace=default", Some(&other), None).await;
    assert_error(s, &v, 404, "WORKSPACE_NOT_FOUND");
    let (s, _, v) = gw.call("GET", "/api/traces", Some(&other), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 0, "another workspace's traces stay hidden");
    let (s, _, v) = gw.call("GET", "/api/traces", None, None).await;
    assert_error(s, &v, 401, "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_dry_run_then_and_now_live_replay_and_compare() {
    let gw = Gateway::start(Kind::Postgres).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o", "gpt-4o-mini"]).await;
    capture_full(&gw, "default").await;
    let (s, v) = gw
        .admin(
            "POST",
            "/api/strategies",
            Some(json!({"id": "house", "name": "House", "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let body = json!({"model": "layerr-auto", "layerr": {"strategy": "house"},
                      "messages": [{"role": "user", "content": "Explain how a hash map works"}]});
    let (s, h, v) = chat(&gw, ADMIN_KEY, body).await;
    let original = trace_id(&h);
    assert_eq!(s, 200, "{v}");
    wait::finished_traces(&gw, 1).await;
    let (_, d) = get(&gw, &format!("/api/traces/{original}")).await;
    let chosen_then = d["data"]["routingDecision"]["primaryModel"].as_str().unwrap().to_string();
    assert_eq!(chosen_then, "gpt-4o", "quality-only weights pick the stronger model: {d}");

    // The strategy now cares only about cost.
    let (s, v) = gw
        .admin("PATCH", "/api/strategies/house", Some(json!({"weights": {"quality": 0.0, "speed": 0.0, "cost": 1.0}})))
        .await;
    assert_eq!(s, 200, "{v}");

    let path = format!("/api/traces/{original}/replay");
    let (s, r) = gw.admin("POST", &path, Some(json!({"mode": "dry-run"}))).await;
    assert_eq!(s, 200, "{r}");
    let r = &r["data"];
    assert_eq!(r["then"]["primary"]["model"], "gpt-4o", "{r}");
    assert_eq!(r["then"]["reproducesRecorded"], true, "{r}");
    assert_eq!(r["then"]["weights"]["quality"], 1.0);
    assert_eq!(r["now"]["primary"]["model"], "gpt-4o-mini", "{r}");
    assert_eq!(r["now"]["weights"]["cost"], 1.0);
    assert_eq!(r["wouldChange"], true);
    let changes: Vec<&str> = r["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(changes.iter().any(|c| c.starts_with("primary route")), "{changes:?}");
    assert!(changes.iter().any(|c| c.contains("weights")), "{changes:?}");
    assert_eq!(mock.requests().len(), 1, "a dry run calls no provider");

    // Live: the recorded request again, under today's strategy; a new trace linked to the original.
    let (s, l) = gw.admin("POST", &path, Some(json!({"mode": "live"}))).await;
    assert_eq!(s, 200, "{l}");
    let replayed = l["data"]["traceId"].as_str().unwrap().to_string();
    assert_ne!(replayed, original);
    assert_eq!(l["data"]["replayOf"], original);
    assert_eq!(l["data"]["status"], "completed");
    assert_eq!(l["data"]["model"], "gpt-4o-mini");
    assert_eq!(mock.requests().len(), 2);
    wait::finished_traces(&gw, 2).await;
    let (_, d2) = get(&gw, &format!("/api/traces/{replayed}")).await;
    assert_eq!(d2["data"]["replayOf"], original);
    let (_, d1) = get(&gw, &format!("/api/traces/{original}")).await;
    assert_eq!(d1["data"]["replays"], json!([replayed]));

    let (s, c) = get(&gw, &format!("/api/traces/{original}/compare/{replayed}")).await;
    assert_eq!(s, 200, "{c}");
    let c = &c["data"];
    assert_eq!(c["relation"], "b replays a");
    assert_eq!(c["sameRoute"], false);
    let field = |name: &str| c["fields"].as_array().unwrap().iter().find(|f| f["field"] == name).unwrap().clone();
    assert_eq!(field("finalModel")["a"], "gpt-4o");
    assert_eq!(field("finalModel")["b"], "gpt-4o-mini");
    assert_eq!(field("intent")["same"], true);
    assert!(field("output")["a"].as_str().is_some_and(|s| !s.is_empty()), "output captured: {c}");
    assert!(field("costUsd")["delta"].is_number());
    assert!(c["differing"].as_array().unwrap().iter().any(|f| f == "finalModel"));

    // A live replay with another model.
    let (s, l) = gw.admin("POST", &path, Some(json!({"mode": "live", "model": "gpt-4o"}))).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["data"]["model"], "gpt-4o");

    // Bad input.
    let (s, v) = gw.admin("POST", &path, Some(json!({"mode": "rewind"}))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = gw.admin("POST", &path, Some(json!({"mode": "dry-run", "against": "later"}))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = gw.admin("POST", &path, Some(json!({"mode": "dry-run", "strategy": "nope"}))).await;
    assert_error(s, &v, 400, "INVALID_STRATEGY");
    let (s, v) = gw.admin("POST", &path, Some(json!({"mode": "live", "speed": 2}))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = gw.admin("POST", "/api/traces/missing/replay", Some(json!({"mode": "dry-run"}))).await;
    assert_error(s, &v, 404, "NOT_FOUND");

    // A streamed answer is captured too (assembled from its deltas).
    let resp = post_chat(
        &gw,
        ADMIN_KEY,
        &json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "stream it"}]}),
    )
    .await;
    let streamed_trace = resp.headers()["x-layerr-trace-id"].to_str().unwrap().to_string();
    let sse = resp.text().await.unwrap();
    let mut streamed = String::new();
    for line in sse.lines().filter_map(|l| l.strip_prefix("data: ")).filter(|l| *l != "[DONE]") {
        let chunk: Value = serde_json::from_str(line).unwrap();
        if let Some(c) = chunk["choices"][0]["delta"]["content"].as_str() {
            streamed.push_str(c);
        }
    }
    assert!(!streamed.is_empty());
    wait::finished_traces(&gw, 4).await;
    let (_, d) = get(&gw, &format!("/api/traces/{streamed_trace}")).await;
    assert_eq!(d["data"]["execution"]["output"], streamed.as_str(), "{d}");

    // Without captured content only a dry run is possible.
    let (s, _) =
        gw.admin("PATCH", "/api/workspaces/default/runtime", Some(json!({"contentCapture": "metadata"}))).await;
    assert_eq!(s, 200);
    let (s, h, _) =
        chat(&gw, ADMIN_KEY, json!({"model": "layerr-auto", "messages": [{"role": "user", "content": "hi"}]})).await;
    let t3 = trace_id(&h);
    assert_eq!(s, 200);
    wait::finished_traces(&gw, 5).await;
    let (_, d) = get(&gw, &format!("/api/traces/{t3}")).await;
    assert_eq!(d["data"]["execution"]["output"], Value::Null, "metadata capture keeps no text");
    let p3 = format!("/api/traces/{t3}/replay");
    let (s, v) = gw.admin("POST", &p3, Some(json!({"mode": "live"}))).await;
    assert_error(s, &v, 409, "CONFLICT");
    let (s, v) = gw.admin("POST", &p3, Some(json!({"mode": "dry-run", "against": "now"}))).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"]["now"]["primary"]["model"].is_string());
    assert_eq!(v["data"]["then"], Value::Null);
}

/// A client that hangs up while the provider is answering does not cancel the call: the answer
/// is still charged and the trace completed (the provider bills it either way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_mid_call_still_leaves_a_charged_trace() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    mock.set_default(Behavior::ok().delay_ms(600).forever());
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o"]).await;
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "take your time"}]});
    let send = post_chat(&gw, ADMIN_KEY, &body);
    assert!(tokio::time::timeout(Duration::from_millis(200), send).await.is_err(), "the client gave up first");
    wait::finished_traces(&gw, 1).await;
    let views = gw.started.state.store.db.all_trace_views().await.unwrap();
    let v = &views[0];
    assert_eq!(v.status(), "completed", "{v:?}");
    assert!(v.cost_micros() > 0, "the answer was charged: {v:?}");
    assert_eq!(v.attempts.len(), 1);
}

/// A workspace deleted and created again under the same slug starts empty: its key does not see
/// the old one's traces, spend or conversations (and neither does a rebuild).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recreated_slug_does_not_inherit_the_old_workspaces_history() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o"]).await;
    let old = gw.workspace("reborn", "standard").await;
    let (s, _, v) = gw
        .call(
            "POST",
            "/v1/chat/completions",
            Some(&old),
            Some(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait::finished_traces(&gw, 1).await;
    let (s, _) = gw.admin("DELETE", "/api/workspaces/reborn", None).await;
    assert_eq!(s, 200);
    let new = gw.workspace("reborn", "standard").await;
    wait::until(Duration::from_secs(10), Duration::from_millis(50), async || {
        let (s, _, v) = gw.call("GET", "/api/traces", Some(&new), None).await;
        assert_eq!(s, 200, "{v}");
        let (_, _, e) = gw.call("GET", "/api/economics/summary", Some(&new), None).await;
        let (_, _, b) = gw.call("GET", "/api/economics/budget", Some(&new), None).await;
        if v["data"].as_array().unwrap().is_empty() && e["data"]["requests"] == 0 && b["data"]["spentThisMonth"] == 0.0
        {
            Ok(())
        } else {
            Err(format!("old history still visible: {v} {e} {b}"))
        }
    })
    .await;
}
