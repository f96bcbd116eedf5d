//! Budgets: concurrent requests against a workspace whose monthly budget admits only some of them
//! never spend past it (reservations on admission, settled to the real cost); the rest get 402
//! before any provider call; streamed and non-streamed answers with the same usage cost the same,
//! to the hand-computed micro-dollar; the weekly alert fires once; the budget routes validate.
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

use common::events::{all as all_events, charged};
use common::upstream::post_chat;
use common::{assert_error, provider, Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_spend_past_the_budget_on_postgres() {
    budget_holds(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_never_spend_past_the_budget_on_sqlite() {
    budget_holds(Kind::Sqlite).await;
}

async fn budget_holds(kind: Kind) {
    let gw = Arc::new(Gateway::start(kind).await);
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o"]).await;
    let key = gw.workspace("tight", "enterprise").await;
    let (s, v) = gw
        .admin(
            "PATCH",
            "/api/workspaces/tight/limits",
            Some(json!({"overrides": {"requestsPerMinute": 1000000, "burst": 100000}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // $0.01: about 40 of these gpt-4o requests (≈225 µ$ each, ≤ ~300 µ$ reserved).
    const BUDGET: i64 = 10_000;
    let (s, v) = gw.admin("PATCH", "/api/economics/budget?workspace=tight", Some(json!({"monthlyBudget": 0.01}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["monthlyBudget"], 0.01);

    const N: usize = 240;
    const CONCURRENCY: usize = 50;
    let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for i in 0..N {
        let (gw, key, sem) = (gw.clone(), key.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.unwrap();
            let body = json!({"model": "gpt-4o", "max_tokens": 20, "stream": i % 2 == 1,
                              "messages": [{"role": "user", "content": format!("Tell me a fact, number {i}")}]});
            let resp = post_chat(&gw, &key, &body).await;
            let status = resp.status().as_u16();
            let trace = resp.headers()["x-layerr-trace-id"].to_str().unwrap().to_string();
            let text = resp.text().await.unwrap();
            (status, trace, text)
        }));
    }
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for t in tasks {
        let (status, trace, text) = t.await.unwrap();
        match status {
            200 => admitted.push(trace),
            402 => {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_error(402, &v, 402, "BUDGET_EXCEEDED");
                refused.push(trace);
            }
            other => panic!("unexpected status {other}: {text}"),
        }
    }
    assert!(admitted.len() >= 20, "a fair share is admitted: {}", admitted.len());
    assert!(refused.len() >= N / 2, "most are refused: {}", refused.len());
    assert_eq!(mock.requests().len(), admitted.len(), "a refused request calls no provider");

    // Every admitted trace reserved and settled; every refused one failed before any attempt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let events = loop {
        let events = all_events(&gw).await;
        let finished =
            events.iter().filter(|e| matches!(e.event_type.as_str(), "RequestCompleted" | "RequestFailed")).count();
        if finished == N {
            break events;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {finished} of {N} traces finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut types: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.aggregate_type == "Trace") {
        types.entry(e.aggregate_id.as_str()).or_default().push(e.event_type.as_str());
    }
    let mut reserved_total = 0;
    for t in &admitted {
        let ts = &types[t.as_str()];
        assert!(ts.contains(&"BudgetReserved") && ts.contains(&"BudgetSettled"), "{ts:?}");
        let settled = events
            .iter()
            .find(|e| e.aggregate_id == *t && e.event_type == "BudgetSettled")
            .map(|e| e.body().clone())
            .unwrap();
        let (reserved, actual) =
            (settled["reservedMicros"].as_i64().unwrap(), settled["actualMicros"].as_i64().unwrap());
        assert!(actual <= reserved, "the worst case bounds the real cost: {settled}");
        reserved_total += reserved;
    }
    for t in &refused {
        assert_eq!(types[t.as_str()], ["RequestReceived", "RouteDecided", "RequestFailed"]);
    }
    let spent = charged(&events, "tight");
    assert!(spent <= BUDGET, "spent {spent} µ$ of a {BUDGET} µ$ budget");
    assert!(reserved_total > spent, "reservations were worst cases, released as real costs settled");
    assert!(spent > BUDGET / 4, "the budget was actually used: {spent}");

    // The budget route agrees with the store (once the read model has caught up).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = gw.admin("GET", "/api/economics/budget?workspace=tight", None).await;
        assert_eq!(s, 200, "{v}");
        let d = &v["data"];
        if d["spentThisMonth"].as_f64() == Some(spent as f64 / 1e6) {
            assert_eq!(d["reservedInFlight"], 0.0);
            assert_eq!(d["requestsInFlight"], 0);
            assert_eq!(d["remainingBudget"].as_f64().unwrap(), (BUDGET - spent) as f64 / 1e6);
            // Requests were refused while others' worst cases were held, so spend ends below the
            // ceiling; the status follows the month's projection.
            assert!(matches!(d["status"].as_str(), Some("healthy" | "warning" | "exceeded")), "{d}");
            assert!(d["projectedSpend"].as_f64().unwrap() >= spent as f64 / 1e6);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "budget never showed {spent}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And the economics summary is the sum of the charges in the store, to the micro-dollar.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, v) = gw.admin("GET", "/api/economics/summary?workspace=tight", None).await;
        assert_eq!(s, 200, "{v}");
        if v["data"]["requests"] == N && v["data"]["spentThisMonthMicros"] == spent {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "summary never showed {spent} µ$ over {N}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// gpt-4o: $2.50 in, $10.00 out per million tokens (data/catalog.toml), half up to the µ$.
fn gpt_4o_micros(prompt: u64, completion: u64) -> i64 {
    ((prompt * 2_500_000 + completion * 10_000_000 + 500_000) / 1_000_000) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_whole_answers_with_the_same_usage_cost_the_same() {
    let gw = Gateway::start(Kind::Postgres).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o"]).await;
    let msg = json!([{"role": "user", "content": "Describe the sea in a few words"}]);
    let (s, h, whole) = gw
        .call("POST", "/v1/chat/completions", Some(ADMIN_KEY), Some(json!({"model": "gpt-4o", "messages": msg})))
        .await;
    assert_eq!(s, 200, "{whole}");
    let whole_trace = h["x-layerr-trace-id"].to_str().unwrap().to_string();
    let (p, c) =
        (whole["usage"]["prompt_tokens"].as_u64().unwrap(), whole["usage"]["completion_tokens"].as_u64().unwrap());

    let resp = post_chat(
        &gw,
        ADMIN_KEY,
        &json!({"model": "gpt-4o", "messages": msg, "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let stream_trace = resp.headers()["x-layerr-trace-id"].to_str().unwrap().to_string();
    let sse = resp.text().await.unwrap();
    let usage: Value = sse
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|l| *l != "[DONE]")
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|c| c["usage"].is_object())
        .map(|c| c["usage"].clone())
        .expect("the stream reports usage");
    assert_eq!((usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64()), (Some(p), Some(c)));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (a, b) = loop {
        let events = all_events(&gw).await;
        let cost = |t: &str| {
            events
                .iter()
                .find(|e| e.aggregate_id == t && e.event_type == "CostCharged")
                .map(|e| e.body()["charge"].clone())
        };
        if let (Some(a), Some(b)) = (cost(&whole_trace), cost(&stream_trace)) {
            break (a, b);
        }
        assert!(tokio::time::Instant::now() < deadline, "charges never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(a["costMicros"], b["costMicros"], "{a} vs {b}");
    assert_eq!(a["costMicros"].as_i64().unwrap(), gpt_4o_micros(p, c));
    assert_eq!(a["estimated"], false);
    assert_eq!(b["estimated"], false);
    assert_eq!(a["priceVersion"], b["priceVersion"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weekly_alert_fires_once_and_the_budget_routes_validate() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o"]).await;
    let key = gw.workspace("alerts", "standard").await;
    // A threshold of 1 µ$: the first charge crosses it.
    let (s, v) = gw
        .admin("PATCH", "/api/economics/budget", Some(json!({"workspace": "alerts", "weeklyAlertThreshold": 0.000001})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["monthlyBudget"], Value::Null);
    for i in 0..3 {
        let (s, _, v) = gw
            .call(
                "POST",
                "/v1/chat/completions",
                Some(&key),
                Some(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": format!("hi {i}")}]})),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = all_events(&gw).await;
        let alerts: Vec<_> = events.iter().filter(|e| e.event_type == "BudgetAlertTriggered").collect();
        if !alerts.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let events = all_events(&gw).await;
            let alerts: Vec<_> = events.iter().filter(|e| e.event_type == "BudgetAlertTriggered").collect();
            assert_eq!(alerts.len(), 1, "one alert per week");
            assert_eq!(alerts[0].aggregate_id, "alerts");
            assert_eq!(alerts[0].body()["thresholdMicros"], 1);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no alert recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _, v) = gw.call("GET", "/api/economics/budget", Some(&key), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["workspaceId"], "alerts");
    assert_eq!(v["data"]["status"], "warning", "{v}");

    // Only an admin changes a budget; bad values are refused with the field named.
    let (s, _, v) = gw.call("PATCH", "/api/economics/budget", Some(&key), Some(json!({"monthlyBudget": 1000}))).await;
    assert_error(s, &v, 403, "FORBIDDEN");
    for (body, field) in [
        (json!({"workspace": "alerts", "monthlyBudget": -1}), "monthlyBudget"),
        (json!({"workspace": "alerts", "monthlyBudget": "ten"}), "monthlyBudget"),
        (json!({"workspace": "alerts", "reserveOutputTokens": 0}), "reserveOutputTokens"),
        (json!({"workspace": "alerts", "budget": 5}), "budget"),
    ] {
        let (s, v) = gw.admin("PATCH", "/api/economics/budget", Some(body.clone())).await;
        let err = assert_error(s, &v, 400, "VALIDATION_ERROR");
        assert!(err.to_string().contains(field), "{body} -> {err}");
    }
    let (s, v) =
        gw.admin("PATCH", "/api/economics/budget", Some(json!({"workspace": "ghost", "monthlyBudget": 1}))).await;
    assert_error(s, &v, 404, "WORKSPACE_NOT_FOUND");
    let other = gw.workspace("other", "standard").await;
    let (s, _, v) = gw.call("GET", "/api/economics/budget?workspace=alerts", Some(&other), None).await;
    assert_error(s, &v, 404, "WORKSPACE_NOT_FOUND");
    // Clearing a ceiling.
    let (s, v) =
        gw.admin("PATCH", "/api/economics/budget", Some(json!({"workspace": "alerts", "monthlyBudget": 5}))).await;
    assert_eq!((s, v["data"]["monthlyBudget"].as_f64()), (200, Some(5.0)));
    let (s, v) =
        gw.admin("PATCH", "/api/economics/budget", Some(json!({"workspace": "alerts", "monthlyBudget": null}))).await;
    assert_eq!((s, v["data"]["monthlyBudget"].clone()), (200, Value::Null));
}

/// claude-sonnet-4: $3.00 in, $0.30 cache read, $15.00 out per million tokens.
fn sonnet_micros(uncached: u64, cached: u64, out: u64) -> i64 {
    ((uncached * 3_000_000 + cached * 300_000 + out * 15_000_000 + 500_000) / 1_000_000) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_cache_reads_are_charged_at_the_cache_price_streamed_or_not() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    let body = json!({"id": "an", "name": "an", "type": "anthropic", "baseUrl": mock.base_url(),
                      "models": ["claude-sonnet-4"], "apiKey": "sk-ant-test"});
    let (s, v) = gw.admin("POST", "/api/providers", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    // A LiteLLM-style cache breakpoint on the system prompt reaches Anthropic as `cache_control`;
    // the mock then reports half the prompt as read from the cache.
    let system = json!({"role": "system", "content": [
        {"type": "text", "text": "You are a careful assistant with a very long shared preamble",
         "cache_control": {"type": "ephemeral"}}]});
    let user = json!({"role": "user", "content": "What is prompt caching?"});
    let mut traces = Vec::new();
    for stream in [false, true] {
        let body = if stream {
            json!({"model": "claude-sonnet-4", "messages": [system, user], "stream": true,
                   "stream_options": {"include_usage": true}})
        } else {
            json!({"model": "claude-sonnet-4", "messages": [system, user]})
        };
        let resp = post_chat(&gw, ADMIN_KEY, &body).await;
        assert_eq!(resp.status(), 200);
        traces.push(resp.headers()["x-layerr-trace-id"].to_str().unwrap().to_string());
        let _ = resp.text().await.unwrap();
    }
    let sent = mock.requests();
    assert_eq!(sent.len(), 2);
    for r in &sent {
        let b = &r.body;
        assert_eq!(b["system"][0]["cache_control"], json!({"type": "ephemeral"}), "{b}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let charges = loop {
        let events = all_events(&gw).await;
        let charges: Vec<Value> = traces
            .iter()
            .filter_map(|t| {
                events
                    .iter()
                    .find(|e| &e.aggregate_id == t && e.event_type == "CostCharged")
                    .map(|e| e.body()["charge"].clone())
            })
            .collect();
        if charges.len() == 2 {
            break charges;
        }
        assert!(tokio::time::Instant::now() < deadline, "charges never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for c in &charges {
        let (tin, cached, out) =
            (c["tokensIn"].as_u64().unwrap(), c["cachedTokens"].as_u64().unwrap(), c["tokensOut"].as_u64().unwrap());
        assert!(cached > 0 && cached < tin, "the mock reported a cache read: {c}");
        assert_eq!(c["costMicros"].as_i64().unwrap(), sonnet_micros(tin - cached, cached, out), "{c}");
    }
    assert_eq!(charges[0], charges[1], "streamed and whole answers are charged alike");
}
