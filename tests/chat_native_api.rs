//! `/api/chat` and `/api/conversations…` end to end, on SQLite and on Postgres, against the mock
//! upstream: conversations created and continued (the upstream sees the history), context files
//! inline and from the workspace's `filesRoot` (traversal, symlinks out of the root and oversize
//! files refused), `maxCost` and `maxLatency`, streaming that records the answer, list / get /
//! delete, other workspaces' conversations hidden, and the validation envelope.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::upstream::mock_provider;
use common::{assert_error, config_for, events, wait, Gateway, Kind, Resp, ADMIN_KEY};
use layerr_mock::{Behavior, MockServer};
use layerr_projections::conversations::Conversations;
use layerr_projections::ProjectionRunner;
use serde_json::{json, Value};

async fn setup(kind: Kind) -> (Gateway, MockServer, String) {
    let gw = Gateway::start(kind).await;
    let mock = mock_provider(&gw).await;
    let key = gw.workspace("team", "enterprise").await;
    (gw, mock, key)
}

async fn call(gw: &Gateway, method: &str, path: &str, key: &str, body: Option<Value>) -> Resp {
    gw.send(method, path, Some(key), body).await
}

async fn chat(gw: &Gateway, key: &str, body: Value) -> Resp {
    call(gw, "POST", "/api/chat", key, Some(body)).await
}

fn user(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

/// The messages the upstream received in its last request, as (role, content) pairs.
fn sent_messages(mock: &MockServer) -> Vec<(String, String)> {
    let reqs = mock.requests();
    let last = reqs.last().expect("the upstream was called");
    last.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_string(), m["content"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, c)| (r.to_string(), c.to_string())).collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

/// A trace's `RouteDecided` decision, once the appender has committed it.
async fn route_decided(gw: &Gateway, trace_id: &str) -> Value {
    let e = events::wait_for(gw, trace_id, "RouteDecided").await;
    assert_eq!(
        e.event_version,
        layerr_domain::trace::ROUTE_DECIDED_VERSION,
        "RouteDecided is written at its current version"
    );
    e.body()["decision"].clone()
}

// -------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_created_continued_listed_and_deleted_on_sqlite() {
    conversation_lifecycle(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversations_are_created_continued_listed_and_deleted_on_postgres() {
    conversation_lifecycle(Kind::Postgres).await;
}

async fn conversation_lifecycle(kind: Kind) {
    let (gw, mock, key) = setup(kind).await;
    let other = gw.workspace("other", "standard").await;

    // A first turn starts a conversation.
    let r = chat(&gw, &key, user("What is the capital of France?")).await;
    let d = r.data().clone();
    let id = d["conversationId"].as_str().unwrap().to_string();
    let trace1 = d["traceId"].as_str().unwrap().to_string();
    assert_eq!(r.header("x-layerr-conversation-id"), Some(id.as_str()));
    assert_eq!(r.header("x-layerr-trace-id"), Some(trace1.as_str()));
    assert_eq!(r.body["meta"]["workspaceId"], "team");
    assert_eq!(d["message"]["role"], "assistant");
    let answer1 = d["message"]["content"].as_str().unwrap().to_string();
    assert!(answer1.starts_with("mock reply to: What is the capital"), "{d}");
    assert!(d["message"].get("toolCalls").is_none(), "{d}");
    assert_eq!(d["provider"], "oa");
    assert!(["gpt-4o-mini", "gpt-4o"].contains(&d["model"].as_str().unwrap()), "{d}");
    assert!(d["usage"]["tokensIn"].as_u64().unwrap() > 0 && d["usage"]["tokensOut"].as_u64().unwrap() > 0);
    assert!(d["costUsd"].as_f64().unwrap() > 0.0, "{d}");
    assert_eq!(d["finishReason"], "stop");
    assert_eq!(d["routing"]["strategy"], "balanced");
    assert!(!d["routing"]["intent"].as_str().unwrap().is_empty());
    assert!(!d["routing"]["summary"].as_str().unwrap().is_empty());
    assert_eq!(d["routing"]["attempts"][0]["provider"], "oa");
    assert_eq!(d["routing"]["attempts"][0]["outcome"], "ok");
    assert_eq!(sent_messages(&mock), pairs(&[("user", "What is the capital of France?")]));

    // A follow-up names the conversation: the upstream gets the history first.
    let r =
        chat(&gw, &key, json!({"conversationId": id, "messages": [{"role": "user", "content": "And of Germany?"}]}))
            .await;
    let d2 = r.data().clone();
    assert_eq!(d2["conversationId"], id.as_str());
    let answer2 = d2["message"]["content"].as_str().unwrap().to_string();
    assert_eq!(
        sent_messages(&mock),
        pairs(&[("user", "What is the capital of France?"), ("assistant", &answer1), ("user", "And of Germany?")])
    );

    // The same through the conversation's own route.
    let r = call(&gw, "POST", &format!("/api/conversations/{id}/messages"), &key, Some(user("And of Italy?"))).await;
    let d3 = r.data().clone();
    assert_eq!(
        (d3["conversationId"].as_str(), r.header("x-layerr-conversation-id")),
        (Some(id.as_str()), Some(id.as_str()))
    );
    assert_eq!(sent_messages(&mock).len(), 5);
    assert_eq!(sent_messages(&mock)[3], ("assistant".to_string(), answer2.clone()));

    // The conversation: every message, each turn linked to its trace, answers with usage and cost.
    let r = call(&gw, "GET", &format!("/api/conversations/{id}"), &key, None).await;
    let c = r.data().clone();
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["title"], "What is the capital of France?");
    assert_eq!(c["messageCount"], 6);
    let msgs = c["messages"].as_array().unwrap();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user", "assistant"]);
    assert_eq!(
        (msgs[0]["traceId"].as_str(), msgs[1]["traceId"].as_str()),
        (Some(trace1.as_str()), Some(trace1.as_str()))
    );
    assert_eq!(msgs[3]["traceId"], d2["traceId"]);
    assert_eq!(msgs[5]["content"], d3["message"]["content"]);
    assert_eq!(msgs[1]["content"], answer1.as_str());
    assert_eq!(msgs[1]["usage"], d["usage"]);
    assert_eq!(msgs[1]["costUsd"], d["costUsd"]);
    assert_eq!(msgs[1]["provider"], "oa");
    assert!(msgs[0]["usage"].is_null() && msgs[0]["provider"].is_null());
    let total: f64 = [&d, &d2, &d3].iter().map(|x| x["costUsd"].as_f64().unwrap()).sum();
    assert!((c["costUsd"].as_f64().unwrap() - total).abs() < 1e-9, "{c}");

    // The list (read model): newest first, cursor paging, totals and the last message.
    let r = chat(&gw, &key, user("Second conversation")).await;
    let id2 = r.data()["conversationId"].as_str().unwrap().to_string();
    assert_ne!(id2, id);
    let list = wait::get(&gw, &key, "/api/conversations", |v| {
        v["data"].as_array().is_some_and(|a| a.len() == 2 && a.iter().any(|c| c["messageCount"] == 6))
    })
    .await;
    assert_eq!(ids(&list), [id2.clone(), id.clone()]);
    let first = &list["data"][1];
    assert_eq!(first["title"], "What is the capital of France?");
    assert_eq!(first["lastMessage"]["role"], "assistant");
    assert_eq!(first["lastMessage"]["preview"], d3["message"]["content"]);
    assert!((first["costUsd"].as_f64().unwrap() - total).abs() < 1e-9, "{first}");
    assert_eq!(first["usage"]["tokensIn"], c["usage"]["tokensIn"]);
    let p1 = call(&gw, "GET", "/api/conversations?limit=1", &key, None).await;
    assert_eq!(ids(&p1.body), vec![id2.as_str()]);
    let cursor = p1.body["meta"]["page"]["nextCursor"].as_str().unwrap().to_string();
    let p2 = call(&gw, "GET", &format!("/api/conversations?limit=1&cursor={cursor}"), &key, None).await;
    assert_eq!(ids(&p2.body), vec![id.as_str()]);
    assert!(p2.body["meta"]["page"]["nextCursor"].is_null(), "{}", p2.body);

    // Another workspace sees none of it; an admin sees it, narrowed by `?workspace=`.
    let path = format!("/api/conversations/{id}");
    call(&gw, "GET", &path, &other, None).await.err(404, "NOT_FOUND");
    call(&gw, "DELETE", &path, &other, None).await.err(404, "NOT_FOUND");
    call(&gw, "POST", &format!("{path}/messages"), &other, Some(user("hi"))).await.err(404, "NOT_FOUND");
    chat(&gw, &other, json!({"conversationId": id, "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .err(404, "NOT_FOUND");
    assert_eq!(call(&gw, "GET", "/api/conversations", &other, None).await.data(), &json!([]));
    call(&gw, "GET", "/api/conversations?workspace=team", &other, None).await.err(404, "WORKSPACE_NOT_FOUND");
    assert_eq!(call(&gw, "GET", &path, ADMIN_KEY, None).await.data()["workspace"], "team");
    call(&gw, "GET", &format!("{path}?workspace=other"), ADMIN_KEY, None).await.err(404, "NOT_FOUND");
    assert_eq!(ids(&call(&gw, "GET", "/api/conversations?workspace=team", ADMIN_KEY, None).await.body).len(), 2);
    // An admin continues it in its own workspace without naming one.
    let r = call(&gw, "POST", &format!("{path}/messages"), ADMIN_KEY, Some(user("Admin here"))).await;
    assert_eq!(r.body["meta"]["workspaceId"], "team", "{}", r.body);

    // Unknown and malformed ids.
    let unknown = uuid::Uuid::now_v7();
    call(&gw, "GET", &format!("/api/conversations/{unknown}"), &key, None).await.err(404, "NOT_FOUND");
    call(&gw, "GET", "/api/conversations/not-an-id", &key, None).await.err(404, "NOT_FOUND");
    chat(&gw, &key, json!({"conversationId": unknown.to_string(), "messages": [{"role": "user", "content": "x"}]}))
        .await
        .err(404, "NOT_FOUND");

    // Delete: gone from get, follow-ups and the list.
    let before = mock.requests().len();
    let r = call(&gw, "DELETE", &path, &key, None).await;
    assert_eq!(r.data(), &json!({"id": id, "deleted": true}));
    call(&gw, "GET", &path, &key, None).await.err(404, "NOT_FOUND");
    call(&gw, "DELETE", &path, &key, None).await.err(404, "NOT_FOUND");
    call(&gw, "POST", &format!("{path}/messages"), &key, Some(user("still there?"))).await.err(404, "NOT_FOUND");
    assert_eq!(mock.requests().len(), before, "nothing reached the upstream for a deleted conversation");
    let list = wait::get(&gw, &key, "/api/conversations", |v| v["data"].as_array().is_some_and(|a| a.len() == 1)).await;
    assert_eq!(ids(&list), [id2]);

    // A rebuild (truncate, replay the feed) reproduces the read model.
    let db = gw.started.state.store.db.clone();
    let backing = gw.stop().await;
    let workspace_events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE aggregate_type = 'Workspace'")
        .fetch_one(&db.any)
        .await
        .unwrap();
    let runner = ProjectionRunner::new(db, Arc::new(Conversations), Default::default(), Duration::from_secs(1));
    let applied = runner.rebuild(|_, _| {}).await.unwrap();
    // It also reads the workspaces' events (a deleted workspace's conversations are dropped).
    assert_eq!(applied as i64 - workspace_events, 2 + 8 + 1 + 2, "two starts, 8 + 2 messages, one deletion");
    let config = config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    assert_eq!(call(&gw, "GET", "/api/conversations", &key, None).await.data(), &list["data"]);
    gw.stop().await;
}

// -------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_files_inline_and_from_the_files_root_on_sqlite() {
    context_files(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_files_inline_and_from_the_files_root_on_postgres() {
    context_files(Kind::Postgres).await;
}

fn with_files(files: Value) -> Value {
    json!({"messages": [{"role": "user", "content": "Explain these files"}], "context": {"files": files}})
}

async fn context_files(kind: Kind) {
    let (gw, mock, key) = setup(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() { println!(\"from the root\"); }\n").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET-CONTENT").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
    std::fs::write(root.join("big.txt"), "x".repeat(300 * 1024)).unwrap();
    std::fs::write(root.join("binary.dat"), [0xffu8, 0xfe, 0x00, 0x01]).unwrap();
    let root_str = root.to_str().unwrap().to_string();

    // Inline files need no configuration and go into the prompt as a system section.
    let r = chat(&gw, &key, with_files(json!([{"path": "notes.md", "content": "remember the milk"}]))).await;
    r.data();
    let sent = sent_messages(&mock);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, "system");
    assert!(sent[0].1.contains("File: notes.md\n```\nremember the milk\n```"), "{}", sent[0].1);
    assert_eq!(sent[1], ("user".to_string(), "Explain these files".to_string()));

    // A path without a filesRoot is refused, saying why.
    let e = chat(&gw, &key, with_files(json!(["src/main.rs"]))).await.invalid_field("context.files[0]");
    assert!(e["message"].as_str().unwrap().contains("filesRoot"), "{e}");

    // filesRoot is part of the runtime profile: set by an admin only, validated, shown, clearable.
    let rt = "/api/workspaces/team/runtime";
    let (s, _, v) = gw.call("PATCH", rt, Some(&key), Some(json!({"filesRoot": root_str}))).await;
    assert_error(s, &v, 403, "FORBIDDEN");
    let (s, _, v) = gw.call("PATCH", rt, Some(&key), Some(json!({"filesRoot": null}))).await;
    assert_error(s, &v, 403, "FORBIDDEN");
    let admin = ADMIN_KEY.to_string();
    call(&gw, "PATCH", rt, &admin, Some(json!({"filesRoot": "relative/dir"}))).await.invalid_field("filesRoot");
    let missing = dir.path().join("missing");
    call(&gw, "PATCH", rt, &admin, Some(json!({"filesRoot": missing}))).await.invalid_field("filesRoot");
    call(&gw, "PATCH", rt, &admin, Some(json!({"filesRoot": 5}))).await.invalid_field("filesRoot");
    for system in ["/", "/etc", "/proc/self"] {
        call(&gw, "PATCH", rt, &admin, Some(json!({"filesRoot": system}))).await.invalid_field("filesRoot");
    }
    let r = call(&gw, "PATCH", rt, &admin, Some(json!({"filesRoot": root_str}))).await;
    assert_eq!(r.data()["filesRoot"], root_str.as_str());
    assert_eq!(call(&gw, "GET", rt, &key, None).await.data()["filesRoot"], root_str.as_str());

    // Files from the root and inline ones together, in order.
    let r = chat(&gw, &key, with_files(json!(["src/main.rs", {"path": "b.txt", "content": "inline b"}]))).await;
    r.data();
    let system = &sent_messages(&mock)[0].1;
    let a = system.find("File: src/main.rs\n```\nfn main() { println!(\"from the root\"); }\n```").expect(system);
    let b = system.find("File: b.txt\n```\ninline b\n```").expect(system);
    assert!(a < b);

    // Refusals: traversal, absolute paths, symlinks out of the root, non-files, size, encoding.
    let calls = mock.requests().len();
    let secret_abs = dir.path().join("secret.txt").to_str().unwrap().to_string();
    for (file, reason) in [
        (json!("../secret.txt"), "'..'"),
        (json!("src/../../secret.txt"), "'..'"),
        (json!(secret_abs), "relative"),
        (json!("escape.txt"), "outside"),
        (json!("up/secret.txt"), "outside"),
        (json!("src"), "regular file"),
        (json!("nope.rs"), "no such file"),
        (json!("big.txt"), "262144-byte limit"),
        (json!("binary.dat"), "UTF-8"),
        (json!({"path": "big-inline.txt", "content": "y".repeat(257 * 1024)}), "262144-byte limit"),
        (json!({"path": "", "content": "x"}), "path must be"),
    ] {
        let r = chat(&gw, &key, with_files(json!(["src/main.rs", file]))).await;
        let e = r.invalid_field("context.files[1]");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains(reason), "{file}: {msg}");
        let text = r.body.to_string();
        assert!(!text.contains("TOP-SECRET") && !text.contains(dir.path().to_str().unwrap()), "{text}");
    }
    // Too many files, and too much in total.
    let many: Vec<Value> = (0..21).map(|i| json!({"path": format!("f{i}"), "content": "x"})).collect();
    chat(&gw, &key, with_files(Value::Array(many))).await.invalid_field("context.files");
    let chunk = "z".repeat(250 * 1024);
    let heavy: Vec<Value> = (0..5).map(|i| json!({"path": format!("h{i}"), "content": chunk})).collect();
    let e = chat(&gw, &key, with_files(Value::Array(heavy))).await.invalid_field("context.files[4]");
    assert!(e["message"].as_str().unwrap().contains("1048576-byte limit per request"), "{e}");
    assert_eq!(mock.requests().len(), calls, "no refused request reached the upstream");
    gw.stop().await;
}

// -------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_cost_and_max_latency_preferences_on_sqlite() {
    preferences(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_cost_and_max_latency_preferences_on_postgres() {
    preferences(Kind::Postgres).await;
}

fn prefs(text: &str, p: Value) -> Value {
    json!({"messages": [{"role": "user", "content": text}], "preferences": p})
}

async fn preferences(kind: Kind) {
    let (gw, mock, key) = setup(kind).await;
    const Q: &str = "What is a good name for a cat?";

    // Before any traffic the router expects catalog latencies (hundreds of ms): 1 ms fits none.
    let r = chat(&gw, &key, prefs(Q, json!({"maxLatency": 1}))).await;
    let e = r.err(502, "PROVIDER_UNAVAILABLE");
    let cands = e["details"]["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2, "{e}");
    assert!(cands.iter().all(|c| c["excluded"].as_str().unwrap().contains("maxLatency")), "{e}");
    assert!(r.header("x-layerr-trace-id").is_some_and(|t| !t.is_empty()));
    assert!(
        r.header("x-layerr-conversation-id").is_none_or(str::is_empty),
        "a failed first turn starts no conversation"
    );
    assert!(mock.requests().is_empty());

    // A quality-only strategy prefers gpt-4o; a ceiling between the two estimates leaves gpt-4o-mini.
    let weights = json!({"quality": 1.0, "speed": 0.0, "cost": 0.0});
    let (s, v) =
        gw.admin("POST", "/api/strategies", Some(json!({"id": "best", "name": "Best", "weights": weights}))).await;
    assert_eq!(s, 201, "{v}");
    let r = chat(&gw, &key, prefs(Q, json!({"strategy": "best"}))).await;
    assert_eq!(r.data()["model"], "gpt-4o", "{}", r.body);
    assert_eq!(r.data()["routing"]["strategy"], "best");
    let decision = route_decided(&gw, r.data()["traceId"].as_str().unwrap()).await;
    let cost_of = |m: &str| {
        decision["candidates"].as_array().unwrap().iter().find(|c| c["model"] == m).unwrap()["estimatedCostMicros"]
            .as_i64()
            .unwrap()
    };
    let (mini, big) = (cost_of("gpt-4o-mini"), cost_of("gpt-4o"));
    assert!(mini < big, "{decision}");
    let ceiling = (mini + big) as f64 / 2.0 / 1_000_000.0;
    let r = chat(&gw, &key, prefs(Q, json!({"strategy": "best", "maxCost": ceiling}))).await;
    assert_eq!(r.data()["model"], "gpt-4o-mini", "{}", r.body);
    let decision = route_decided(&gw, r.data()["traceId"].as_str().unwrap()).await;
    let big_c = decision["candidates"].as_array().unwrap().iter().find(|c| c["model"] == "gpt-4o").unwrap().clone();
    // The event records the reason typed (RouteDecided 1.1).
    assert_eq!(big_c["excluded"]["reason"], "requestMaxCost", "{decision}");
    assert!(big_c["excluded"]["estimatedMicros"].as_i64().unwrap() > big_c["excluded"]["maxMicros"].as_i64().unwrap());

    // A ceiling below every estimate: the 502 lists each candidate's reason; nothing is sent.
    let calls = mock.requests().len();
    let r = chat(&gw, &key, prefs(Q, json!({"maxCost": 0.000001}))).await;
    let e = r.err(502, "PROVIDER_UNAVAILABLE");
    let cands = e["details"]["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2, "{e}");
    for c in cands {
        assert!(c["excluded"].as_str().unwrap().contains("exceeds the request's maxCost of 1 µ$"), "{e}");
    }
    assert_eq!(mock.requests().len(), calls);

    // maxLatency is also the request's deadline: the upstream now has a fast record, so the route
    // is allowed, but a stalled answer ends at the budget with a 504, well before the stall ends.
    mock.push(Behavior::ok().delay_ms(4_000).forever());
    let t0 = Instant::now();
    let r = chat(&gw, &key, prefs(Q, json!({"maxLatency": 700}))).await;
    r.err(504, "TIMEOUT");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(650) && took < Duration::from_millis(2_500), "{took:?}");
    gw.stop().await;
}

// -------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_turns_are_recorded_on_sqlite() {
    streaming(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_turns_are_recorded_on_postgres() {
    streaming(Kind::Postgres).await;
}

/// (status, headers, the deltas' text, saw `[DONE]`, raw body)
async fn stream(
    gw: &Gateway,
    key: &str,
    path: &str,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, String, bool, String) {
    let resp = gw.client.post(format!("{}{path}", gw.base)).bearer_auth(key).json(&body).send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let raw = resp.text().await.unwrap();
    let mut text = String::new();
    let mut done = false;
    for frame in raw.split("\n\n").filter(|f| !f.trim().is_empty()) {
        let data = frame.strip_prefix("data: ").unwrap_or_else(|| panic!("not an SSE data frame: {frame:?}"));
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    (status, headers, text, done, raw)
}

async fn streaming(kind: Kind) {
    let (gw, mock, key) = setup(kind).await;
    mock.set_words(30);
    let body = json!({"messages": [{"role": "user", "content": "Tell me a story"}], "stream": true});
    let (status, h, text, done, raw) = stream(&gw, &key, "/api/chat", body).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(h["content-type"], "text/event-stream");
    assert!(done, "{raw}");
    assert!(text.starts_with("mock reply to: Tell me a story"), "{text}");
    assert!(raw.contains("\"object\":\"chat.completion.chunk\""), "{raw}");
    assert!(raw.contains("\"usage\":{"), "the closing usage chunk: {raw}");
    let id = h["x-layerr-conversation-id"].to_str().unwrap().to_string();
    let trace = h["x-layerr-trace-id"].to_str().unwrap().to_string();

    // Recorded before `[DONE]`: the conversation holds the streamed answer at once.
    let c = call(&gw, "GET", &format!("/api/conversations/{id}"), &key, None).await.data().clone();
    let msgs = c["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{c}");
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["content"], text.as_str());
    assert_eq!(msgs[1]["traceId"], trace.as_str());
    assert!(msgs[1]["usage"]["tokensOut"].as_u64().unwrap() >= 30, "{c}");
    assert!(msgs[1]["costUsd"].as_f64().unwrap() > 0.0, "{c}");
    assert_eq!(msgs[1]["provider"], "oa");

    // A streamed follow-up sees the history.
    let body = json!({"messages": [{"role": "user", "content": "And then?"}], "stream": true});
    let (status, h, _, done, raw) = stream(&gw, &key, &format!("/api/conversations/{id}/messages"), body).await;
    assert!(status == 200 && done, "{raw}");
    assert_eq!(h["x-layerr-conversation-id"].to_str().unwrap(), id);
    assert_eq!(
        sent_messages(&mock),
        pairs(&[("user", "Tell me a story"), ("assistant", &text), ("user", "And then?")])
    );

    // A stream cut mid-way ends with an error event, no `[DONE]`, and records no half turn.
    mock.push(Behavior::ok().cut_after_chunks(4));
    let body = json!({"conversationId": id, "messages": [{"role": "user", "content": "Once more"}], "stream": true});
    let (status, _, _, done, raw) = stream(&gw, &key, "/api/chat", body).await;
    assert_eq!(status, 200);
    assert!(!done && raw.contains("STREAM_INTERRUPTED"), "{raw}");
    let c = call(&gw, "GET", &format!("/api/conversations/{id}"), &key, None).await.data().clone();
    assert_eq!(c["messageCount"], 4, "{c}");

    // A stream that fails before its first byte answers the error envelope.
    mock.push(Behavior::status(500).forever());
    let r = chat(&gw, &key, json!({"messages": [{"role": "user", "content": "x"}], "stream": true})).await;
    r.err(502, "PROVIDER_UNAVAILABLE");
    gw.stop().await;
}

// -------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_answer_the_validation_envelope() {
    let (gw, mock, key) = setup(Kind::Sqlite).await;
    let m = |role: &str, content: Value| json!({"role": role, "content": content});
    for (body, field) in [
        (json!({}), "messages"),
        (json!({"messages": []}), "messages"),
        (json!({"messages": [m("tool", json!("x"))]}), "messages[0].role"),
        (json!({"messages": [m("user", json!(5))]}), "messages[0].content"),
        (json!({"messages": [m("user", json!([{"type": "text", "text": "hi"}]))]}), "messages[0].content"),
        (json!({"messages": [{"role": "user", "content": "hi", "name": "x"}]}), "messages[0].name"),
        (json!({"messages": [m("user", json!("  "))]}), "messages[0].content"),
        (json!({"messages": [m("user", json!("hi")), m("assistant", json!("ok"))]}), "messages[1].role"),
        (json!({"messages": [m("user", json!("hi"))], "foo": 1}), "foo"),
        (json!({"messages": [m("user", json!("hi"))], "stream": "yes"}), "stream"),
        (json!({"messages": [m("user", json!("hi"))], "temperature": 3}), "temperature"),
        (json!({"messages": [m("user", json!("hi"))], "maxTokens": 0}), "maxTokens"),
        (json!({"messages": [m("user", json!("hi"))], "maxTokens": -5}), "maxTokens"),
        (json!({"messages": [m("user", json!("hi"))], "model": ""}), "model"),
        (json!({"messages": [m("user", json!("hi"))], "conversationId": "nope"}), "conversationId"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"maxCost": 0}}), "preferences.maxCost"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"maxCost": -1}}), "preferences.maxCost"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"maxCost": "0.5"}}), "preferences.maxCost"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"maxCost": 1e-9}}), "preferences.maxCost"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"maxLatency": 0}}), "preferences.maxLatency"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"maxLatency": 1.5}}), "preferences.maxLatency"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"fallback": "maybe"}}), "preferences.fallback"),
        (json!({"messages": [m("user", json!("hi"))], "preferences": {"speed": true}}), "preferences.speed"),
        (json!({"messages": [m("user", json!("hi"))], "context": {"files": [5]}}), "context.files[0]"),
        (json!({"messages": [m("user", json!("hi"))], "context": {"files": [{"path": "a"}]}}), "context.files[0]"),
        (json!({"messages": [m("user", json!("hi"))], "context": {"urls": []}}), "context.urls"),
    ] {
        let r = chat(&gw, &key, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        r.invalid_field(field);
    }
    let (s, v) = gw.raw("POST", "/api/chat", Some(&key), "{not json").await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let r = chat(&gw, &key, json!({"messages": [m("user", json!("hi"))], "preferences": {"strategy": "nope"}})).await;
    r.err(400, "INVALID_STRATEGY");
    let r = chat(&gw, &key, json!({"messages": [m("user", json!("hi"))], "workspace": "other"})).await;
    r.err(404, "WORKSPACE_NOT_FOUND");
    let r = chat(&gw, ADMIN_KEY, json!({"messages": [m("user", json!("hi"))], "workspace": "ghost"})).await;
    r.err(404, "WORKSPACE_NOT_FOUND");

    // The conversation route takes the id from its path only.
    let id = chat(&gw, &key, user("hello")).await.data()["conversationId"].as_str().unwrap().to_string();
    let calls = mock.requests().len();
    let r = call(
        &gw,
        "POST",
        &format!("/api/conversations/{id}/messages"),
        &key,
        Some(json!({"conversationId": id, "messages": [m("user", json!("hi"))]})),
    )
    .await;
    r.invalid_field("conversationId");
    call(&gw, "POST", &format!("/api/conversations/{id}/messages"), &key, Some(json!({"messages": []})))
        .await
        .invalid_field("messages");
    // List parameters.
    call(&gw, "GET", "/api/conversations?limit=0", &key, None).await.invalid_field("limit");
    call(&gw, "GET", "/api/conversations?limit=201", &key, None).await.invalid_field("limit");
    call(&gw, "GET", "/api/conversations?cursor=garbage", &key, None).await.invalid_field("cursor");
    call(&gw, "GET", "/api/conversations?bogus=1", &key, None).await.err(400, "VALIDATION_ERROR");
    call(&gw, "PUT", "/api/conversations", &key, None).await.err(405, "METHOD_NOT_ALLOWED");
    assert_eq!(mock.requests().len(), calls, "no refused request reached the upstream");
    let (s, _, v) = gw.call("GET", "/api/conversations", None, None).await;
    assert_error(s, &v, 401, "UNAUTHORIZED");
    gw.stop().await;
}
