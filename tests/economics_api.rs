//! The economics routes end to end: traffic through the real gateway to mock upstreams whose
//! usage is known (prompt tokens = words + 3 per message; completion tokens = the mock's padded
//! word count), then every figure checked against the event store and against catalog prices
//! worked out by hand; a rebuild of the projection reproduces the answers; simulations re-route
//! recorded traffic under another strategy, price table and budget without calling a provider.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use common::events::{charged, of_type as events_of};
use common::upstream::ask;
use common::{assert_error, chat, config_for, provider, wait, Gateway, Kind, ADMIN_KEY};
use layerr_projections::economics::Economics;
use layerr_projections::{ProjectionRunner, StoredEvent};
use serde_json::{json, Value};

/// Completion tokens of every mock answer (the reply is padded to this many words).
const WORDS: usize = 20;

/// The sum of `CostCharged.costMicros` in the store for one workspace.
async fn charged_in_store(gw: &Gateway, workspace: &str) -> i64 {
    charged(&events_of(gw, "Trace").await, workspace)
}

async fn get(gw: &Gateway, key: &str, path: &str) -> (u16, Value) {
    let (s, _, v) = gw.call("GET", path, Some(key), None).await;
    (s, v)
}

/// A charge worked out by hand: tokens × micro-dollars per million, rounded half up.
fn cost(tokens_in: i64, tokens_out: i64, input_per_mtok: i64, output_per_mtok: i64) -> i64 {
    (tokens_in * input_per_mtok + tokens_out * output_per_mtok + 500_000) / 1_000_000
}

// Catalog prices (data/catalog.toml, micro-dollars per million tokens).
const MINI_IN: i64 = 150_000;
const MINI_OUT: i64 = 600_000;
const GPT4O_IN: i64 = 2_500_000;
const GPT4O_OUT: i64 = 10_000_000;
// Catalog quality priors for the chat intent.
const MINI_CHAT: f64 = 0.51;
const GPT4O_CHAT: f64 = 0.61;

fn micros(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn approx(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("not a number: {a}"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// The read routes' answers that do not move with the clock (for comparing before and after a
/// rebuild).
async fn stable_answers(gw: &Gateway, key: &str, from: &str, to: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/api/economics/providers?from={from}&to={to}"),
        format!("/api/economics/categories?from={from}&to={to}"),
        format!("/api/economics/savings?baseline=gpt-4o&from={from}&to={to}"),
        format!("/api/economics/insights?maxQualityDrop=0.15&from={from}&to={to}"),
    ] {
        let (s, v) = get(gw, key, &path).await;
        assert_eq!(s, 200, "{path}: {v}");
        out.push(v["data"].clone());
    }
    let (_, v) = get(gw, key, "/api/economics/summary").await;
    out.push(json!([
        v["data"]["spentThisMonthMicros"],
        v["data"]["requests"],
        v["data"]["tokens"],
        v["data"]["byDay"]
    ]));
    out
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).replace('+', "%2B")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_routes_match_the_store_and_hand_computed_prices_and_survive_a_rebuild() {
    let gw = Gateway::start(Kind::Postgres).await;
    let mock = layerr_mock::spawn().await;
    mock.set_words(WORDS);
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "gpt-4o"]).await;
    let key = gw.workspace("econ", "enterprise").await;
    let other = gw.workspace("other", "standard").await;
    let started = Utc::now();

    // "Hello there my friend": 4 words + 3 = 7 prompt tokens; every answer is 20 tokens.
    let text = "Hello there my friend";
    for _ in 0..3 {
        let (s, _, v) = chat(&gw, &key, ask("layerr-auto", Some("cost"), text)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["model"], "gpt-4o-mini", "the cost strategy picks the cheap model: {v}");
    }
    for _ in 0..2 {
        let (s, _, v) = chat(&gw, &key, ask("gpt-4o", None, text)).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, _, v) = chat(&gw, &key, ask("no-such-model", None, text)).await;
    assert_eq!(s, 404, "{v}");
    wait::economics_requests(&gw, "econ", 6).await;

    // The recorded usage is what the fixture says, and every request was a chat.
    let traces = events_of(&gw, "Trace").await;
    for e in traces.iter().filter(|e| e.event_type == "CostCharged") {
        assert_eq!(
            (e.body()["charge"]["tokensIn"].as_i64(), e.body()["charge"]["tokensOut"].as_i64()),
            (Some(7), Some(20))
        );
    }
    for e in traces.iter().filter(|e| e.event_type == "RequestReceived") {
        assert_eq!(e.body()["received"]["intent"], "chat", "{}", e.body());
    }
    let mini = cost(7, 20, MINI_IN, MINI_OUT); // 13.05 -> 13
    let big = cost(7, 20, GPT4O_IN, GPT4O_OUT); // 217.5 -> 218
    assert_eq!((mini, big), (13, 218));
    let total = 3 * mini + 2 * big;

    // Summary: the store's charges, to the micro-dollar.
    let (s, sum) = get(&gw, &key, "/api/economics/summary").await;
    let after = Utc::now();
    assert_eq!(s, 200, "{sum}");
    let d = &sum["data"];
    assert_eq!(micros(&d["spentThisMonthMicros"]), charged_in_store(&gw, "econ").await);
    assert_eq!(micros(&d["spentThisMonthMicros"]), total);
    approx(&d["spentThisMonth"], total as f64 / 1e6);
    assert_eq!((d["requests"].as_i64(), d["completed"].as_i64(), d["failed"].as_i64()), (Some(6), Some(5), Some(1)));
    assert_eq!(d["tokens"], json!({"in": 35, "out": 100, "cached": 0, "cacheWrite": 0, "reasoning": 0}));
    assert_eq!(sum["meta"]["workspaceId"], "econ");
    let month_start = Utc.with_ymd_and_hms(started.year(), started.month(), 1, 0, 0, 0).unwrap();
    let month_end = if started.month() == 12 {
        Utc.with_ymd_and_hms(started.year() + 1, 1, 1, 0, 0, 0).unwrap()
    } else {
        Utc.with_ymd_and_hms(started.year(), started.month() + 1, 1, 0, 0, 0).unwrap()
    };
    let month_ms = (month_end - month_start).num_milliseconds() as i128;
    let projected = micros(&d["projectedSpendMicros"]) as i128;
    let elapsed = |t: DateTime<Utc>| (t - month_start).num_milliseconds() as i128;
    // Linear extrapolation of month-to-date spend, at some instant of the call.
    assert!(projected >= total as i128 * month_ms / (elapsed(after) + 2) - 1, "{projected}");
    assert!(projected <= total as i128 * month_ms / elapsed(started).max(1), "{projected}");
    let days = d["byDay"].as_array().unwrap();
    assert_eq!(days.len() as u32, after.day());
    let today = days.last().unwrap();
    assert_eq!(today["date"], after.format("%Y-%m-%d").to_string());
    assert_eq!((micros(&today["costMicros"]), today["requests"].as_i64()), (total, Some(6)));
    assert!(days[..days.len() - 1].iter().all(|d| d["costMicros"] == 0));

    // Providers: one provider, two models, each figure from catalog prices.
    let (s, pv) = get(&gw, &key, "/api/economics/providers").await;
    assert_eq!(s, 200, "{pv}");
    let p = &pv["data"]["providers"][0];
    assert_eq!(pv["data"]["providers"].as_array().unwrap().len(), 1);
    assert_eq!(p["provider"], "oa");
    assert_eq!((micros(&p["costMicros"]), p["requests"].as_i64()), (total, Some(5)));
    assert_eq!((p["tokensIn"].as_i64(), p["tokensOut"].as_i64()), (Some(35), Some(100)));
    approx(&p["avgCostPerRequestUsd"], total as f64 / 1e6 / 5.0);
    approx(&p["share"], 1.0);
    let model = |name: &str| p["models"].as_array().unwrap().iter().find(|m| m["model"] == name).unwrap().clone();
    assert_eq!((micros(&model("gpt-4o")["costMicros"]), model("gpt-4o")["requests"].as_i64()), (2 * big, Some(2)));
    assert_eq!(
        (micros(&model("gpt-4o-mini")["costMicros"]), model("gpt-4o-mini")["requests"].as_i64()),
        (3 * mini, Some(3))
    );
    approx(&model("gpt-4o")["share"], ((2 * big) as f64 / total as f64 * 10_000.0).round() / 10_000.0);

    // Categories: gpt-4o is "balanced", gpt-4o-mini "fast" in the catalog.
    let (s, cv) = get(&gw, &key, "/api/economics/categories").await;
    assert_eq!(s, 200, "{cv}");
    let cats = cv["data"]["byCategory"].as_array().unwrap();
    assert_eq!(cats.len(), 2, "{cv}");
    assert_eq!((cats[0]["category"].as_str(), micros(&cats[0]["costMicros"])), (Some("balanced"), 2 * big));
    assert_eq!((cats[1]["category"].as_str(), micros(&cats[1]["costMicros"])), (Some("fast"), 3 * mini));
    assert_eq!(cats[1]["models"], json!(["gpt-4o-mini"]));
    let intents = cv["data"]["byIntent"].as_array().unwrap();
    assert_eq!(intents.len(), 1);
    assert_eq!((intents[0]["intent"].as_str(), micros(&intents[0]["costMicros"])), (Some("chat"), total));

    // Savings against gpt-4o: each request's tokens at gpt-4o's prices.
    let (s, sv) = get(&gw, &key, "/api/economics/savings?baseline=gpt-4o").await;
    assert_eq!(s, 200, "{sv}");
    let sv = &sv["data"];
    assert_eq!(sv["baseline"]["model"], "gpt-4o");
    assert_eq!(micros(&sv["actualMicros"]), total);
    assert_eq!(micros(&sv["baselineMicros"]), 5 * big, "the failed request has no tokens");
    assert_eq!(micros(&sv["savingsMicros"]), 5 * big - total);
    let strat =
        |name: &str| sv["byStrategy"].as_array().unwrap().iter().find(|r| r["strategy"] == name).unwrap().clone();
    assert_eq!((micros(&strat("cost")["actualMicros"]), micros(&strat("cost")["baselineMicros"])), (3 * mini, 3 * big));
    assert_eq!(micros(&strat("cost")["savingsMicros"]), 3 * (big - mini));
    assert_eq!(strat("balanced")["requests"], 3);
    assert_eq!(micros(&strat("balanced")["savingsMicros"]), 0, "gpt-4o against itself saves nothing");
    assert_eq!(micros(&sv["byIntent"][0]["savingsMicros"]), 5 * big - total);
    // Against the cheap model, the gpt-4o requests cost more than the baseline.
    let (_, sm) = get(&gw, &key, "/api/economics/savings?baseline=gpt-4o-mini").await;
    assert_eq!(micros(&sm["data"]["savingsMicros"]), 5 * mini - total);

    // Insights: the gpt-4o traffic could move to gpt-4o-mini (chat quality 0.61 -> 0.51). The
    // default tolerance (0.05) refuses that drop; 0.15 accepts it.
    let (s, iv) = get(&gw, &key, "/api/economics/insights").await;
    assert_eq!(s, 200, "{iv}");
    assert_eq!(iv["data"]["insights"], json!([]), "a 0.10 quality drop exceeds the default 0.05");
    let (s, iv) = get(&gw, &key, "/api/economics/insights?maxQualityDrop=0.15").await;
    assert_eq!(s, 200, "{iv}");
    let list = iv["data"]["insights"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{iv}");
    let i = &list[0];
    assert_eq!((i["intent"].as_str(), i["strategy"].as_str()), (Some("chat"), Some("balanced")));
    assert_eq!(
        (i["current"]["model"].as_str(), i["recommended"]["model"].as_str()),
        (Some("gpt-4o"), Some("gpt-4o-mini"))
    );
    assert_eq!(i["requests"], 2);
    assert_eq!(micros(&i["currentCostMicros"]), 2 * big);
    // The group's tokens (14 in, 40 out) on gpt-4o-mini: 26.1 -> 26.
    assert_eq!(micros(&i["alternativeCostMicros"]), cost(14, 40, MINI_IN, MINI_OUT));
    let window_saving = 2 * big - cost(14, 40, MINI_IN, MINI_OUT);
    assert_eq!(micros(&i["windowSavingMicros"]), window_saving);
    // The default window is 30 days: the monthly figure is the window's.
    assert_eq!(micros(&i["estimatedMonthlySavingMicros"]), window_saving);
    approx(&i["qualityChange"], ((MINI_CHAT - GPT4O_CHAT) * 10_000.0_f64).round() / 10_000.0);
    approx(&i["current"]["qualityPrior"], GPT4O_CHAT);
    let msg = i["message"].as_str().unwrap();
    assert!(msg.contains("chat") && msg.contains("'balanced'") && msg.contains("gpt-4o-mini"), "{msg}");
    // A 15-day window doubles to a month.
    let from = rfc(started - chrono::Duration::days(15) + chrono::Duration::minutes(1));
    let to = rfc(started + chrono::Duration::minutes(1));
    let (_, iv15) = get(&gw, &key, &format!("/api/economics/insights?maxQualityDrop=0.15&from={from}&to={to}")).await;
    assert_eq!(micros(&iv15["data"]["insights"][0]["estimatedMonthlySavingMicros"]), 2 * window_saving);

    // Another workspace sees none of it; naming this one is a 404.
    let (_, o) = get(&gw, &other, "/api/economics/summary").await;
    assert_eq!(micros(&o["data"]["spentThisMonthMicros"]), 0);
    assert_eq!(o["data"]["byDay"].as_array().unwrap().iter().map(|d| micros(&d["costMicros"])).sum::<i64>(), 0);
    let (_, o) = get(&gw, &other, "/api/economics/insights?maxQualityDrop=1").await;
    assert_eq!(o["data"]["insights"], json!([]), "no traffic, no insight");
    for route in ["summary", "providers", "categories", "savings?baseline=gpt-4o", "insights"] {
        let sep = if route.contains('?') { '&' } else { '?' };
        let (s, v) = get(&gw, &other, &format!("/api/economics/{route}{sep}workspace=econ")).await;
        assert_error(s, &v, 404, "WORKSPACE_NOT_FOUND");
    }
    // An admin sees every workspace, or one.
    let (_, a) = get(&gw, ADMIN_KEY, "/api/economics/providers").await;
    assert_eq!(micros(&a["data"]["totalCostMicros"]), total);
    assert_eq!(a["meta"]["workspaceId"], Value::Null);
    let (_, a) = get(&gw, ADMIN_KEY, "/api/economics/providers?workspace=other").await;
    assert_eq!(micros(&a["data"]["totalCostMicros"]), 0);

    // Bad input.
    for path in [
        "/api/economics/summary?month=2026-13",
        "/api/economics/summary?month=26-01",
        "/api/economics/summary?month=2999-01",
        "/api/economics/summary?from=2026-01-01T00:00:00Z",
        "/api/economics/providers?from=yesterday",
        "/api/economics/providers?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/api/economics/categories?color=red",
        "/api/economics/savings",
        "/api/economics/savings?baseline=gpt-9",
        "/api/economics/savings?baseline=text-embedding-3-small",
        "/api/economics/insights?maxQualityDrop=2",
        "/api/economics/insights?limit=0",
    ] {
        let (s, v) = get(&gw, &key, path).await;
        let err = assert_error(s, &v, 400, "VALIDATION_ERROR");
        assert!(err["message"].as_str().is_some(), "{path}");
    }
    let (s, v) = get(&gw, &key, "/api/economics/savings?baseline=gpt-9").await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["details"]["field"], "baseline");
    let (s, _, v) = gw.call("GET", "/api/economics/summary", None, None).await;
    assert_error(s, &v, 401, "UNAUTHORIZED");

    // A rebuild of the projection (truncate, replay the feed) reproduces every answer.
    let (from, to) = (rfc(started - chrono::Duration::hours(1)), rfc(after + chrono::Duration::hours(1)));
    let before = stable_answers(&gw, &key, &from, &to).await;
    let db = gw.started.state.store.db.clone();
    let rows = db.all_economics_rows().await.unwrap();
    assert_eq!(rows.len(), 6);
    let backing = gw.stop().await;
    let runner = ProjectionRunner::new(db.clone(), Arc::new(Economics), Default::default(), Duration::from_secs(1));
    let applied = runner.rebuild(|_, _| {}).await.unwrap();
    assert_eq!(applied, 5 * 3 + 2, "received, charged, completed (or received, failed) per request");
    assert_eq!(db.all_economics_rows().await.unwrap(), rows);
    let config = config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    assert_eq!(stable_answers(&gw, &key, &from, &to).await, before);
    drop(mock);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_equals_the_charges_on_sqlite() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    mock.set_words(WORDS);
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    let key = gw.workspace("lite", "enterprise").await;
    // 2 + 3, 4 + 3 and 6 + 3 prompt tokens.
    for text in ["Hello there", "Hello there my friend", "Hello there my dear old friend"] {
        let (s, _, v) = chat(&gw, &key, ask("layerr-auto", None, text)).await;
        assert_eq!(s, 200, "{v}");
    }
    wait::economics_requests(&gw, "lite", 3).await;
    let (s, v) = get(&gw, &key, "/api/economics/summary").await;
    assert_eq!(s, 200, "{v}");
    let want: i64 = [5, 7, 9].iter().map(|p| cost(*p, 20, MINI_IN, MINI_OUT)).sum();
    assert_eq!(want, 13 + 13 + 13, "12.75, 13.05 and 13.35 micro-dollars, each rounded");
    assert_eq!(micros(&v["data"]["spentThisMonthMicros"]), want);
    assert_eq!(micros(&v["data"]["spentThisMonthMicros"]), charged_in_store(&gw, "lite").await);
    assert_eq!(v["data"]["tokens"]["in"], 21);
    let (s, v) = get(&gw, &key, "/api/economics/savings?baseline=gpt-4o").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(micros(&v["data"]["baselineMicros"]), 213 + 218 + 223);
    assert_eq!(micros(&v["data"]["savingsMicros"]), 213 + 218 + 223 - want);
    gw.stop().await;
}

async fn simulate(gw: &Gateway, key: &str, body: Value) -> Value {
    let (s, _, v) = gw.call("POST", "/api/economics/simulate", Some(key), Some(body)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["data"]["status"], "running");
    let id = v["data"]["id"].as_str().unwrap().to_string();
    let done = wait::simulation(gw, key, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    done
}

/// The mean of the recorded `expectedLatencyMs` of one model's candidate over the traces.
fn recorded_latency(traces: &[StoredEvent], model: &str) -> f64 {
    let ms: Vec<f64> = traces
        .iter()
        .filter(|e| e.event_type == "RouteDecided")
        .map(|e| {
            let c =
                e.body()["decision"]["candidates"].as_array().unwrap().iter().find(|c| c["model"] == model).cloned();
            c.unwrap()["expectedLatencyMs"].as_f64().unwrap()
        })
        .collect();
    (ms.iter().sum::<f64>() / ms.len() as f64 * 10.0).round() / 10.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simulations_reroute_recorded_traffic_as_computed_by_hand() {
    let gw = Gateway::start(Kind::Postgres).await;
    let mock = layerr_mock::spawn().await;
    mock.set_words(WORDS);
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "gpt-4o"]).await;
    let body =
        json!({"id": "quality-only", "name": "Quality only", "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}});
    let (s, v) = gw.admin("POST", "/api/strategies", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let key = gw.workspace("sim", "enterprise").await;
    let nosy = gw.workspace("nosy", "standard").await;

    let from = rfc(Utc::now() - chrono::Duration::seconds(1));
    // Prompt tokens 5, 7, 9 and 11; all recorded under the cost strategy on gpt-4o-mini.
    let prompts: [(&str, i64); 4] = [
        ("Hello there", 5),
        ("Hello there my friend", 7),
        ("Hello there my dear old friend", 9),
        ("Hello there my dear old friend from school", 11),
    ];
    for (text, _) in prompts {
        let (s, _, v) = chat(&gw, &key, ask("layerr-auto", Some("cost"), text)).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["model"], "gpt-4o-mini");
    }
    wait::economics_requests(&gw, "sim", 4).await;
    let to = rfc(Utc::now() + chrono::Duration::seconds(1));
    let traces = events_of(&gw, "Trace").await;
    let recorded_in: Vec<i64> = traces
        .iter()
        .filter(|e| e.event_type == "CostCharged")
        .map(|e| e.body()["charge"]["tokensIn"].as_i64().unwrap())
        .collect();
    assert_eq!(recorded_in, prompts.iter().map(|p| p.1).collect::<Vec<_>>());
    assert!(traces
        .iter()
        .filter(|e| e.event_type == "RequestReceived")
        .all(|e| e.body()["received"]["intent"] == "chat"));
    let calls = mock.requests().len();
    let actual: i64 = prompts.iter().map(|p| cost(p.1, 20, MINI_IN, MINI_OUT)).sum();
    assert_eq!(actual, 13 + 13 + 13 + 14);
    assert_eq!(actual, charged_in_store(&gw, "sim").await);

    // Under quality-only weights every chat request goes to gpt-4o (chat prior 0.61 > 0.51).
    let r = simulate(&gw, &key, json!({"from": from, "to": to, "strategy": "quality-only"})).await;
    assert_eq!(r["progress"], json!({"done": 4, "total": 4, "percent": 100.0}));
    assert_eq!(r["params"]["strategy"], "quality-only");
    let res = &r["result"];
    let on_4o: Vec<i64> = prompts.iter().map(|p| cost(p.1, 20, GPT4O_IN, GPT4O_OUT)).collect();
    assert_eq!(on_4o, vec![213, 218, 223, 228], "212.5, 217.5, 222.5, 227.5 rounded half up");
    assert_eq!(micros(&res["actual"]["costMicros"]), actual);
    assert_eq!(micros(&res["simulated"]["costMicros"]), on_4o.iter().sum::<i64>());
    assert_eq!(micros(&res["difference"]["costMicros"]), on_4o.iter().sum::<i64>() - actual);
    for side in ["actual", "simulated"] {
        assert_eq!(res[side]["requests"], 4);
        assert_eq!((res[side]["served"].as_i64(), res[side]["rejected"].as_i64()), (Some(4), Some(0)));
    }
    approx(&res["actual"]["avgQuality"], MINI_CHAT);
    approx(&res["simulated"]["avgQuality"], GPT4O_CHAT);
    approx(&res["actual"]["avgLatencyMs"], recorded_latency(&traces, "gpt-4o-mini"));
    approx(&res["simulated"]["avgLatencyMs"], recorded_latency(&traces, "gpt-4o"));
    assert_eq!(res["rerouted"], 4);
    assert_eq!(
        res["routes"],
        json!([{"provider": "oa", "model": "gpt-4o", "actual": 0, "simulated": 4},
               {"provider": "oa", "model": "gpt-4o-mini", "actual": 4, "simulated": 0}])
    );
    let by_model = |m: &str| res["byModel"].as_array().unwrap().iter().find(|b| b["model"] == m).unwrap().clone();
    assert_eq!(micros(&by_model("gpt-4o")["simulated"]["costMicros"]), on_4o.iter().sum::<i64>());
    assert_eq!(by_model("gpt-4o")["actual"]["requests"], 0);
    assert_eq!(micros(&by_model("gpt-4o-mini")["actual"]["costMicros"]), actual);
    assert_eq!(res["byIntent"][0]["intent"], "chat");
    assert_eq!(micros(&res["actualAtSimulatedPricesMicros"]), actual);

    // A monthly budget of $0.0005: 213 + 218 fit, the next two would overspend.
    let r =
        simulate(&gw, &key, json!({"from": from, "to": to, "strategy": "quality-only", "monthlyBudget": 0.0005})).await;
    let sim = &r["result"]["simulated"];
    assert_eq!((sim["served"].as_i64(), sim["rejected"].as_i64()), (Some(2), Some(2)), "{r}");
    assert_eq!(micros(&sim["costMicros"]), 213 + 218);
    approx(&r["params"]["monthlyBudget"], 0.0005);

    // A price table that makes gpt-4o cheap ($1 in, $0.10 out per Mtok): the recorded cost
    // strategy now picks it, and the recorded tokens cost p + 2 micro-dollars each; gpt-4o-mini
    // repriced ($2 / $1) shows what the recorded routes would cost at the new prices.
    let prices = json!({"gpt-4o": {"inputPerMtok": 1.0, "outputPerMtok": 0.1},
                        "gpt-4o-mini": {"inputPerMtok": 2.0, "outputPerMtok": 1.0}});
    let r = simulate(&gw, &key, json!({"from": from, "to": to, "prices": prices})).await;
    let res = &r["result"];
    let cheap: i64 = prompts.iter().map(|p| cost(p.1, 20, 1_000_000, 100_000)).sum();
    assert_eq!(cheap, 7 + 9 + 11 + 13);
    assert_eq!(micros(&res["simulated"]["costMicros"]), cheap, "{r}");
    assert_eq!(res["routes"][0], json!({"provider": "oa", "model": "gpt-4o", "actual": 0, "simulated": 4}));
    let repriced: i64 = prompts.iter().map(|p| cost(p.1, 20, 2_000_000, 1_000_000)).sum();
    assert_eq!(micros(&res["actualAtSimulatedPricesMicros"]), repriced);
    assert_eq!(micros(&res["actual"]["costMicros"]), actual);
    assert_eq!(r["params"]["prices"]["gpt-4o"]["outputPerMtok"], 0.1);

    // An empty period completes with nothing in it.
    let r = simulate(&gw, &key, json!({"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"})).await;
    assert_eq!(r["result"]["actual"]["requests"], 0);
    assert_eq!(r["progress"]["percent"], 100.0);

    assert_eq!(mock.requests().len(), calls, "a simulation calls no provider");

    // The job's history is events: requested, coarse progress, completed.
    let sims = events_of(&gw, "Simulation").await;
    let first = sims[0].aggregate_id.clone();
    let types: Vec<&str> = sims.iter().filter(|e| e.aggregate_id == first).map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.first(), Some(&"SimulationRequested"));
    assert_eq!(types.last(), Some(&"SimulationCompleted"));
    assert!(types[1..types.len() - 1].iter().all(|t| *t == "SimulationProgressed"), "{types:?}");
    assert!(types.len() <= 12, "progress is coarse: {types:?}");
    assert_eq!(sims[0].meta("workspace"), Some("sim"));
    let requested = sims[0].body();
    assert_eq!(requested["params"]["strategy"], "quality-only");
    let completed = sims.iter().rfind(|e| e.aggregate_id == first).unwrap().body();
    assert_eq!(micros(&completed["result"]["simulated"]["costMicros"]), on_4o.iter().sum::<i64>());

    // Another workspace's simulation does not exist for it; an admin sees it.
    let path = format!("/api/economics/simulate/{first}");
    let (s, v) = get(&gw, &nosy, &path).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let (s, v) = get(&gw, ADMIN_KEY, &path).await;
    assert_eq!((s, v["data"]["workspaceId"].as_str()), (200, Some("sim")));
    for id in ["not-a-uuid", &uuid::Uuid::now_v7().to_string()] {
        let (s, v) = get(&gw, &key, &format!("/api/economics/simulate/{id}")).await;
        assert_error(s, &v, 404, "NOT_FOUND");
    }
    let (s, _, v) = gw
        .call("POST", "/api/economics/simulate", Some(&nosy), Some(json!({"from": from, "to": to, "workspace": "sim"})))
        .await;
    assert_error(s, &v, 404, "WORKSPACE_NOT_FOUND");

    // Bad input: 400 naming the field.
    let bad: Vec<(Value, &str, &str)> = vec![
        (json!({"to": to}), "VALIDATION_ERROR", "from"),
        (json!({"from": "yesterday", "to": to}), "VALIDATION_ERROR", "from"),
        (json!({"from": to, "to": from}), "VALIDATION_ERROR", "from"),
        (json!({"from": "2024-01-01T00:00:00Z", "to": "2025-06-01T00:00:00Z"}), "VALIDATION_ERROR", "to"),
        (json!({"from": from, "to": to, "strategy": ""}), "VALIDATION_ERROR", "strategy"),
        (json!({"from": from, "to": to, "monthlyBudget": 0}), "VALIDATION_ERROR", "monthlyBudget"),
        (
            json!({"from": from, "to": to, "prices": {"nope-model": {"inputPerMtok": 1, "outputPerMtok": 1}}}),
            "VALIDATION_ERROR",
            "prices.nope-model",
        ),
        (
            json!({"from": from, "to": to, "prices": {"gpt-4o": {"inputPerMtok": -1, "outputPerMtok": 1}}}),
            "VALIDATION_ERROR",
            "prices.gpt-4o.inputPerMtok",
        ),
        (json!({"from": from, "to": to, "prices": {"gpt-4o": {"inputPerMtok": 1}}}), "VALIDATION_ERROR", ""),
        (json!({"from": from, "to": to, "speed": 2}), "VALIDATION_ERROR", ""),
        (json!({"from": from, "to": to, "strategy": "nope"}), "INVALID_STRATEGY", ""),
    ];
    for (body, code, field) in bad {
        let (s, _, v) = gw.call("POST", "/api/economics/simulate", Some(&key), Some(body.clone())).await;
        let err = assert_error(s, &v, 400, code);
        if !field.is_empty() {
            assert_eq!(err["details"]["field"], field, "{body}: {v}");
        }
    }
    let (s, v) = gw.raw("POST", "/api/economics/simulate", Some(&key), "{not json").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    gw.stop().await;
}
