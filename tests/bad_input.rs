//! Hostile input at the HTTP edge, on SQLite and on Postgres (issue 9, defects 5 and 10):
//!
//! - control characters (U+0000 above all: Postgres `text` cannot hold it) in `/api` names, ids,
//!   descriptions, object keys, path and query parameters answer 400 `VALIDATION_ERROR` naming the
//!   field, before anything reaches the store (they gave 500s and 503s with database text);
//! - U+0000 inside message content (`/api/chat`, `/v1/chat/completions`) is the user's and is
//!   accepted: the upstream gets it as sent, the events keep it, the conversation is stored and
//!   read back exactly, and no read model stops on it (the conversation was never stored);
//! - an answer sent before the request body was read (401, 404, 405, 429, a 400 on a path
//!   parameter, 413) leaves the keep-alive connection usable or says `Connection: close`
//!   (pooling clients saw "server disconnected");
//! - the envelope the edge answers bad input with: request ids on every answer, unknown routes
//!   and wrong methods, malformed, mistyped, trailing-garbage and oversized bodies, JSON arrays
//!   where objects belong, bad query parameters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::time::{Duration, Instant};

use common::resp::{admin, send, send_headers, send_raw, slugs};
use common::upstream::mock_provider;
use common::{assert_error, wait, Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asserts a 400 `VALIDATION_ERROR` naming `field`.
fn refused(what: &str, status: u16, body: &Value, field: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    let e = assert_error(status, body, 400, "VALIDATION_ERROR");
    assert_eq!(e["details"]["field"], field, "{what}: {body}");
    let message = e["message"].as_str().unwrap();
    assert!(message.contains("control characters"), "{what}: {body}");
}

// -------------------------------------------------------------------------------------------------
// Control characters in /api fields, path and query parameters.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_api_fields_and_parameters_are_refused_on_sqlite() {
    control_characters_refused(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_api_fields_and_parameters_are_refused_on_postgres() {
    control_characters_refused(Kind::Postgres).await;
}

async fn control_characters_refused(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let _mock = mock_provider(&gw).await;
    let key = gw.workspace("team", "enterprise").await;
    let weights = json!({"quality": 1.0, "speed": 0.0, "cost": 0.0});
    let provider = |extra: Value| {
        let mut p = json!({"id": "p2", "name": "p2", "type": "openai", "baseUrl": "http://127.0.0.1:9/v1",
                           "models": ["m"], "apiKey": "sk-x"});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    };
    let chat = |extra: Value| {
        let mut b = json!({"messages": [{"role": "user", "content": "hi"}]});
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };

    // JSON bodies: (method, path, body, the field named).
    let bodies: Vec<(&str, &str, Value, &str)> = vec![
        ("POST", "/api/workspaces", json!({"slug": "ws\u{0}"}), "slug"),
        ("POST", "/api/workspaces", json!({"slug": "ws-a", "name": "A\u{0}B"}), "name"),
        ("POST", "/api/workspaces", json!({"slug": "ws-b", "name": "two\nlines"}), "name"),
        ("POST", "/api/workspaces", json!({"slug": "ws-c", "description": "x\u{0}y"}), "description"),
        ("POST", "/api/workspaces", json!({"slug": "ws-d", "description": "bell\u{7}"}), "description"),
        ("POST", "/api/workspaces", json!({"slug": "ws-e", "keyName": "k\u{0}"}), "keyName"),
        ("PATCH", "/api/workspaces/team", json!({"name": "\u{0}"}), "name"),
        ("PATCH", "/api/workspaces/team", json!({"description": "\u{0}"}), "description"),
        ("POST", "/api/workspaces/team/keys", json!({"name": "key\u{0}"}), "name"),
        ("PATCH", "/api/workspaces/team/runtime", json!({"filesRoot": "/tmp/\u{0}"}), "filesRoot"),
        ("PATCH", "/api/workspaces/team/restrictions", json!({"blockedModels": ["ok", "m\u{0}"]}), "blockedModels[1]"),
        ("POST", "/api/providers", provider(json!({"id": "p\u{0}"})), "id"),
        ("POST", "/api/providers", provider(json!({"name": "p\u{0}"})), "name"),
        ("POST", "/api/providers", provider(json!({"models": ["m\u{0}"]})), "models[0]"),
        ("POST", "/api/providers", provider(json!({"baseUrl": "http://127.0.0.1:9/\nv1"})), "baseUrl"),
        ("POST", "/api/providers", provider(json!({"apiKey": "sk-\u{0}"})), "apiKey"),
        ("PATCH", "/api/providers/oa", json!({"name": "oa\u{0}"}), "name"),
        ("POST", "/api/providers/oa/test", json!({"model": "gpt-4o-mini\u{0}"}), "model"),
        ("POST", "/api/strategies", json!({"id": "s\u{0}", "weights": weights}), "id"),
        ("POST", "/api/strategies", json!({"id": "s1", "name": "S\u{0}", "weights": weights}), "name"),
        ("POST", "/api/strategies", json!({"id": "s2", "description": "\u{0}", "weights": weights}), "description"),
        ("PUT", "/api/workspaces/team/strategy", json!({"strategy": "balanced\u{0}"}), "strategy"),
        ("POST", "/api/chat", chat(json!({"model": "gpt-4o\u{0}"})), "model"),
        ("POST", "/api/chat", chat(json!({"preferences": {"strategy": "x\u{0}"}})), "preferences.strategy"),
        (
            "POST",
            "/api/chat",
            chat(json!({"context": {"files": [{"path": "a\u{0}.txt", "content": "fine \u{0} here"}]}})),
            "context.files[0].path",
        ),
        ("POST", "/api/chat", chat(json!({"workspace": "team\u{0}"})), "workspace"),
        (
            "POST",
            "/api/economics/simulate",
            json!({"prices": {"gpt\u{0}": {"inputPerMtok": 1.0, "outputPerMtok": 1.0}}}),
            "prices.gpt\\0",
        ),
        ("POST", "/api/traces/00000000-0000-0000-0000-000000000000/replay", json!({"model": "m\u{0}"}), "model"),
    ];
    for (method, path, body, field) in &bodies {
        let (s, v) = gw.admin(method, path, Some(body.clone())).await;
        refused(&format!("{method} {path} {body}"), s, &v, field);
    }
    // A workspace key is refused the same way.
    let (s, _, v) = gw.call("POST", "/api/chat", Some(&key), Some(chat(json!({"model": "\u{0}"})))).await;
    refused("workspace key", s, &v, "model");

    // Tabs and line breaks are fine in a description; names and ids get none of them.
    let (s, v) = gw
        .admin("POST", "/api/workspaces", Some(json!({"slug": "ws-ok", "description": "line one\nline two\ttab"})))
        .await;
    assert_eq!(s, 201, "{v}");

    // Path and query parameters (%00, %0A, %7F): ids, slugs, cursors, filters.
    let params: Vec<(&str, &str, &str)> = vec![
        ("GET", "/api/workspaces/te%00am", "slug"),
        ("GET", "/api/workspaces/team%0A", "slug"),
        ("DELETE", "/api/workspaces/team/keys/k%00", "key_id"),
        ("GET", "/api/providers/oa%00", "id"),
        ("GET", "/api/strategies/x%7F", "id"),
        ("GET", "/api/traces/%00", "id"),
        ("GET", "/api/traces/a/compare/b%00", "id2"),
        ("GET", "/api/conversations/%00", "id"),
        ("GET", "/api/economics/simulate/%00", "id"),
        ("GET", "/v1/models/gpt%00", "model"),
        ("GET", "/api/traces?workspace=%00", "workspace"),
        ("GET", "/api/traces?cursor=1%00", "cursor"),
        ("GET", "/api/admin/audit?actor=%00", "actor"),
        ("GET", "/api/admin/audit?action=Created%00", "action"),
        ("GET", "/api/conversations?workspace=team%00", "workspace"),
        ("GET", "/api/economics/summary?workspace=%00", "workspace"),
        ("GET", "/api/providers?workspace=%00", "workspace"),
        ("GET", "/v1/models?workspace=%00", "workspace"),
    ];
    for (method, path, field) in &params {
        let (s, v) = gw.admin(method, path, None).await;
        refused(&format!("{method} {path}"), s, &v, field);
    }
    let (s, _, v) = gw.call("GET", "/api/traces/%00", Some(&key), None).await;
    refused("workspace key, path", s, &v, "id");

    // Nothing of the refused requests reached the store: no such workspace, no such provider.
    let (_, v) = gw.admin("GET", "/api/workspaces?limit=200", None).await;
    let slugs: Vec<&str> = v["data"].as_array().unwrap().iter().map(|w| w["slug"].as_str().unwrap()).collect();
    assert!(slugs.iter().all(|s| !s.starts_with("ws-") || *s == "ws-ok"), "{slugs:?}");
    let (s, _) = gw.admin("GET", "/api/providers/p2", None).await;
    assert_eq!(s, 404);
    gw.stop().await;
}

// -------------------------------------------------------------------------------------------------
// U+0000 in message content: accepted, forwarded, stored.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_message_content_is_accepted_and_stored_on_sqlite() {
    nul_content_stored(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_message_content_is_accepted_and_stored_on_postgres() {
    nul_content_stored(Kind::Postgres).await;
}

async fn nul_content_stored(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let mock = mock_provider(&gw).await;
    let key = gw.workspace("team", "enterprise").await;
    let (s, v) = gw.admin("PATCH", "/api/workspaces/team/runtime", Some(json!({"contentCapture": "full"}))).await;
    assert_eq!(s, 200, "{v}");
    let text = "before\u{0}after";

    // /api/chat: the answer, the upstream got the text as sent, the conversation is stored.
    let body = json!({"messages": [{"role": "user", "content": text}],
                      "context": {"files": [{"path": "notes.txt", "content": "file \u{0} text"}]}});
    let (s, _, v) = gw.call("POST", "/api/chat", Some(&key), Some(body)).await;
    assert_eq!(s, 200, "{v}");
    let id = v["data"]["conversationId"].as_str().expect("a conversation id").to_string();
    let sent = serde_json::to_string(&mock.requests().last().unwrap().body).unwrap();
    assert!(sent.contains("before\\u0000after"), "the upstream got the text as sent: {sent}");

    // Read back exactly (the conversation is loaded from its events).
    let (s, _, v) = gw.call("GET", &format!("/api/conversations/{id}"), Some(&key), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["messages"][0]["content"], text, "{v}");

    // Listed (the read model holds it, U+0000 shown as U+FFFD), and a later one too: the
    // projection did not stop on it.
    let listed = wait::get(&gw, ADMIN_KEY, "/api/conversations?workspace=team", |v| {
        v["data"].as_array().is_some_and(|a| a.iter().any(|c| c["id"] == id.as_str()))
    })
    .await;
    let row = listed["data"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["title"], "before\u{FFFD}after", "{row}");
    assert_eq!(row["messageCount"], 2, "{row}");
    let (s, _, v) = gw
        .call("POST", "/api/chat", Some(&key), Some(json!({"messages": [{"role": "user", "content": "plain"}]})))
        .await;
    assert_eq!(s, 200, "{v}");
    let second = v["data"]["conversationId"].as_str().unwrap().to_string();
    // The turn's user message then the answer: a message whose content holds U+0000, continued.
    let (s, _, v) = gw
        .call(
            "POST",
            &format!("/api/conversations/{second}/messages"),
            Some(&key),
            Some(json!({"messages": [{"role": "user", "content": "again \u{0}"}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait::get(&gw, ADMIN_KEY, "/api/conversations?workspace=team", |v| {
        v["data"].as_array().is_some_and(|a| a.iter().any(|c| c["id"] == second.as_str() && c["messageCount"] == 4))
    })
    .await;

    // /v1: the message text, the `user` and an unknown model name with U+0000.
    let (s, h, v) = gw
        .call(
            "POST",
            "/v1/chat/completions",
            Some(&key),
            Some(json!({"model": "gpt-4o-mini", "user": "u\u{0}", "messages": [{"role": "user", "content": text}]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let trace = h["x-layerr-trace-id"].to_str().unwrap().to_string();
    let (s, _, v) = gw
        .call(
            "POST",
            "/v1/chat/completions",
            Some(&key),
            Some(json!({"model": "nope\u{0}", "messages": [{"role": "user", "content": "x"}]})),
        )
        .await;
    assert!((400..500).contains(&s), "{s} {v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    // The `layerr` extension names a strategy or a workspace: no such one, a 4xx, nothing stuck.
    for layerr in [json!({"strategy": "cheap\u{0}"}), json!({"workspace": "team\u{0}"})] {
        let body = json!({"model": "gpt-4o-mini", "layerr": layerr, "messages": [{"role": "user", "content": "x"}]});
        let (s, _, v) = gw.call("POST", "/v1/chat/completions", Some(ADMIN_KEY), Some(body)).await;
        assert!((400..500).contains(&s), "{layerr}: {s} {v}");
    }

    // The trace is in its read model with the content captured exactly.
    wait::get(&gw, ADMIN_KEY, &format!("/api/traces/{trace}"), |_| true).await;
    let views = gw.started.state.store.db.all_trace_views().await.unwrap();
    let view = views.iter().find(|t| t.trace_id == trace).expect("the trace is stored");
    let view = serde_json::to_string(view).unwrap();
    assert!(view.contains("before\\u0000after"), "captured content keeps U+0000: {view}");

    // The events keep the text exactly (on Postgres, a `json` payload keeps the escape).
    let mut cursor = layerr_projections::Cursor::default();
    let mut found = false;
    loop {
        let batch = gw.started.state.store.db.read_feed(cursor, 1000).await.unwrap();
        let Some(last) = batch.last() else { break };
        cursor = last.cursor;
        found |= batch.iter().any(|e| e.payload.to_string().contains("before\\u0000after"));
    }
    assert!(found, "no event holds the text as sent");

    // Every read model is caught up: none is stuck retrying a batch it cannot store.
    wait::get(&gw, ADMIN_KEY, "/api/health/detailed", |v| {
        v["data"]["projections"].as_array().is_some_and(|p| p.iter().all(|x| x["lag"] == 0))
    })
    .await;
    let (s, v) = gw.admin("GET", "/api/admin/audit?limit=5", None).await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}

// -------------------------------------------------------------------------------------------------
// Answers sent before the body was read keep the connection usable or say `Connection: close`.

/// One HTTP/1.1 response off a raw connection.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Reads one response (Content-Length framed: every answer of this API is).
async fn read_response(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<RawResponse> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before a response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed inside a body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    Ok(RawResponse { status, headers, body })
}

/// Sends a POST whose body follows its head after `pause` (as clients that write them separately
/// do), reads the answer, then sends a GET on the same connection. Returns the first answer and,
/// unless it said `Connection: close`, the second's status (or the error reading it).
async fn post_then_reuse(
    base: &str,
    path: &str,
    key: Option<&str>,
    body: &[u8],
    pause: Duration,
) -> (RawResponse, Option<Result<u16, String>>) {
    let addr = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(pause).await;
    // The server may have answered and closed already: a failed write is what is being tested.
    let _ = conn.write_all(body).await;
    let mut buf = Vec::new();
    let first = tokio::time::timeout(Duration::from_secs(10), read_response(&mut conn, &mut buf))
        .await
        .expect("an answer within 10 s")
        .expect("an answer to the POST");
    if first.closes() {
        return (first, None);
    }
    let second = async {
        conn.write_all(format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut conn, &mut buf))
            .await
            .map_err(|_| "no second answer within 10 s".to_string())?
            .map_err(|e| format!("read: {e}"))?;
        Ok(r.status)
    }
    .await;
    (first, Some(second))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_before_the_body_keep_the_connection_usable_on_sqlite() {
    answers_before_the_body(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_before_the_body_keep_the_connection_usable_on_postgres() {
    answers_before_the_body(Kind::Postgres).await;
}

async fn answers_before_the_body(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let key = gw.workspace("tight", "free").await;
    let (s, v) = gw
        .admin(
            "PATCH",
            "/api/workspaces/tight/limits",
            Some(json!({"overrides": {"requestsPerMinute": 1, "burst": 1}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Spend the one request the burst allows.
    let (s, _, v) = gw.call("GET", "/api/workspaces/tight/runtime", Some(&key), None).await;
    assert_eq!(s, 200, "{v}");

    let body = serde_json::to_vec(&json!({"slug": "x", "name": "a name long enough to be a separate write"})).unwrap();
    let cases: Vec<(&str, Option<&str>, u16)> = vec![
        ("/api/workspaces", None, 401),
        ("/api/workspaces", Some("lyr_not_a_key"), 401),
        ("/api/no-such-route", Some(ADMIN_KEY), 404),
        ("/api/health", Some(ADMIN_KEY), 405),
        ("/api/providers/a%00b/test", Some(ADMIN_KEY), 400),
        ("/api/workspaces/tight/keys", Some(key.as_str()), 429),
    ];
    for (path, key, want) in &cases {
        for pause in [Duration::ZERO, Duration::from_millis(150)] {
            let (first, second) = post_then_reuse(&gw.base, path, *key, &body, pause).await;
            assert_eq!(first.status, *want, "POST {path}: {}", String::from_utf8_lossy(&first.body));
            let envelope: Value = serde_json::from_slice(&first.body).unwrap();
            assert!(envelope["error"]["code"].is_string(), "{envelope}");
            // A body that arrives in time is read and thrown away: the connection stays usable.
            assert!(!first.closes(), "POST {path} (body after {pause:?}) closed the connection");
            assert_eq!(second, Some(Ok(200)), "POST {path} (body after {pause:?}): the connection was not reusable");
        }
    }

    // A body that never comes: the answer does not wait for it past the drain timeout, and says
    // `Connection: close`.
    let addr = gw.base.trim_start_matches("http://").to_string();
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!("POST /api/workspaces HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\r\n{{\"slug\":");
    conn.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut conn, &mut buf)).await.unwrap().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.closes(), "an unread body is announced: {:?}", r.headers);
    assert!(started.elapsed() < Duration::from_secs(5), "answered after {:?}", started.elapsed());

    // A client waiting for `100 Continue` is not asked for a body nobody will read.
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head =
        format!("POST /api/workspaces HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut conn, &mut buf)).await.unwrap().unwrap();
    assert_eq!(r.status, 401);
    assert!(r.closes(), "{:?}", r.headers);

    // Beyond the body limit: 413, and the connection is closed with notice.
    let big = gw.started.state.config.server.max_body_bytes + (2 << 20);
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/workspaces HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_KEY}\r\nContent-Length: {big}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut conn, &mut buf)).await.unwrap().unwrap();
    assert_eq!(r.status, 413);
    assert!(r.closes(), "{:?}", r.headers);

    // A pooling client: many refused POSTs with bodies, then ordinary requests, never a
    // "connection closed" error.
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    for i in 0..40 {
        let r = client
            .post(format!("{}/api/workspaces", gw.base))
            .json(&json!({"slug": format!("s{i}"), "pad": "x".repeat(i * 100)}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} failed: {e}"));
        assert_eq!(r.status(), 401);
        let r = client.get(format!("{}/api/health", gw.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Envelopes, request ids, bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_on_every_response_and_echoed() {
    let gw = Gateway::start(Kind::Sqlite).await;
    // A sane incoming id is kept, in the header and in meta.
    let r = send_headers(
        &gw,
        "GET",
        "/api/workspaces/default",
        Some(ADMIN_KEY),
        &[("x-request-id", "trace-abc_1.2:3")],
        None,
    )
    .await;
    r.ok(200, Some("default"));
    assert_eq!(r.header("x-request-id"), Some("trace-abc_1.2:3"));
    // Errors keep it too.
    let r = send_headers(&gw, "GET", "/api/workspaces/ghost", Some(ADMIN_KEY), &[("x-request-id", "trace-404")], None)
        .await;
    r.err(404, "WORKSPACE_NOT_FOUND");
    assert_eq!(r.header("x-request-id"), Some("trace-404"));
    let r = send_headers(&gw, "GET", "/api/workspaces", None, &[("x-request-id", "trace-401")], None).await;
    r.err(401, "UNAUTHORIZED");
    assert_eq!(r.header("x-request-id"), Some("trace-401"));
    // An unusable one is replaced.
    let long = "x".repeat(200);
    for bad in ["has space", "semi;colon", long.as_str()] {
        let r = send_headers(&gw, "GET", "/api/health", None, &[("x-request-id", bad)], None).await;
        let id = r.header("x-request-id").unwrap().to_string();
        assert_ne!(id, bad);
        r.ok(200, None);
    }
    // Fresh ids differ per request.
    let a = send(&gw, "GET", "/api/health", None, None).await;
    let b = send(&gw, "GET", "/api/health", None, None).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    // Unknown routes and wrong methods get one too (send_with asserts the header on every response).
    send(&gw, "GET", "/nope", None, None).await.err(404, "NOT_FOUND");
    send(&gw, "PUT", "/api/workspaces", Some(ADMIN_KEY), None).await.err(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_answer_the_envelope() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for path in [
        "/",
        "/nope",
        "/api",
        "/api/nope",
        "/api/workspace",
        "/api/workspaces/",
        "/api/workspaces/default/nope",
        "/api/workspaces/default/keys/",
        "/api/admin",
        "/api/admin/audit/1",
    ] {
        for key in [None, Some(ADMIN_KEY)] {
            let r = send(&gw, "GET", path, key, None).await;
            r.err(404, "NOT_FOUND");
        }
    }
    for (method, path) in [
        ("PUT", "/api/workspaces"),
        ("DELETE", "/api/workspaces"),
        ("POST", "/api/workspaces/default"),
        ("PUT", "/api/workspaces/default"),
        ("POST", "/api/workspaces/default/health"),
        ("PUT", "/api/workspaces/default/limits"),
        ("DELETE", "/api/workspaces/default/runtime"),
        ("POST", "/api/workspaces/default/restrictions"),
        ("DELETE", "/api/workspaces/default/keys"),
        ("GET", "/api/workspaces/default/keys/key_x"),
        ("POST", "/api/admin/audit"),
        ("POST", "/api/health"),
        ("DELETE", "/api/health/detailed"),
    ] {
        let r = send(&gw, method, path, Some(ADMIN_KEY), None).await;
        r.err(405, "METHOD_NOT_ALLOWED");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_paths_never_fail_inside() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let long = format!("/api/workspaces/{}", "a".repeat(4000));
    for path in [
        "/api/workspaces/%FF",
        "/api/workspaces/%FF/runtime",
        "/api/workspaces/default%2Fkeys",
        long.as_str(),
        "/api/workspaces/..%2F..%2Fetc",
    ] {
        let r = admin(&gw, "GET", path, None).await;
        assert!(matches!(r.status, 400 | 404), "{path}: {}", r.body);
        assert!(r.body["error"]["code"].as_str().is_some(), "{path}: {}", r.body);
    }
    // A key id that is not one, or is the operator's.
    for id in ["env-admin", "%FF", "x"] {
        let r = admin(&gw, "DELETE", &format!("/api/workspaces/default/keys/{id}"), None).await;
        assert!(matches!(r.status, 400 | 404), "{id}: {}", r.body);
    }
    admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default"));
}

/// RFC 9110 §15.5.6: a 405 must list the allowed methods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_not_allowed_lists_the_allowed_methods() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = send(&gw, "PUT", "/api/workspaces", Some(ADMIN_KEY), None).await;
    r.err(405, "METHOD_NOT_ALLOWED");
    let allow = r.header("allow").unwrap_or_else(|| panic!("no Allow header: {:?}", r.headers));
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_mistyped_bodies_are_400() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let routes = [
        ("POST", "/api/workspaces"),
        ("PATCH", "/api/workspaces/default"),
        ("PATCH", "/api/workspaces/default/limits"),
        ("PATCH", "/api/workspaces/default/runtime"),
        ("PATCH", "/api/workspaces/default/restrictions"),
        ("POST", "/api/workspaces/default/keys"),
    ];
    let not_objects = [
        "",
        "   ",
        "\n",
        "{",
        "}",
        "{\"name\": \"x\"",
        "{\"name\": \"x\",}",
        "{'name': 'x'}",
        "not json",
        "null",
        "42",
        "\"str\"",
        "[{}]",
        "{\"name\" \"x\"}",
    ];
    for (method, path) in routes {
        // Issuing a key is the one POST whose body is optional (see keys_issue_list_and_revoke).
        let optional_body = path.ends_with("/keys");
        for body in not_objects {
            if optional_body && body.trim().is_empty() {
                continue;
            }
            let r = send_raw(&gw, method, path, Some(ADMIN_KEY), body).await;
            r.err(400, "VALIDATION_ERROR");
        }
        if !optional_body {
            // No body at all.
            send(&gw, method, path, Some(ADMIN_KEY), None).await.err(400, "VALIDATION_ERROR");
        }
    }
    for (method, path, body, field) in [
        ("POST", "/api/workspaces", json!({"slug": 5}), "slug"),
        ("POST", "/api/workspaces", json!({"slug": null}), "slug"),
        ("POST", "/api/workspaces", json!({"slug": "ok-1", "tier": "gold"}), "tier"),
        ("POST", "/api/workspaces", json!({"slug": "ok-2", "bogus": 1}), "bogus"),
        ("POST", "/api/workspaces", json!({"slug": "ok-3", "name": ["x"]}), "name"),
        ("POST", "/api/workspaces", json!({"slug": "ok-4", "keyName": {}}), "keyName"),
        ("POST", "/api/workspaces", json!({"slug": "ok-5", "key_name": "k"}), "key_name"),
        ("PATCH", "/api/workspaces/default", json!({"description": 5}), "description"),
        ("PATCH", "/api/workspaces/default/runtime", json!({"timeouts": {"bogus": 1}}), "timeouts.bogus"),
        ("PATCH", "/api/workspaces/default/runtime", json!({"retries": {"maxAttempts": "3"}}), "retries.maxAttempts"),
        ("PATCH", "/api/workspaces/default/runtime", json!({"retries": 3}), "retries"),
        ("PATCH", "/api/workspaces/default/limits", json!({"overrides": {"x": 1}}), "overrides.x"),
        ("PATCH", "/api/workspaces/default/limits", json!({"overrides": {"burst": 1.5}}), "overrides.burst"),
        ("PATCH", "/api/workspaces/default/restrictions", json!({"allowedModels": [1]}), "allowedModels[0]"),
        ("POST", "/api/workspaces/default/keys", json!({"name": 5}), "name"),
    ] {
        let r = admin(&gw, method, path, Some(body.clone())).await;
        r.invalid_field(field);
        assert_eq!(r.body["error"]["type"], "invalid_request_error", "{}", r.body);
    }
    // Duplicate fields are refused, not silently resolved.
    let r = send_raw(&gw, "POST", "/api/workspaces", Some(ADMIN_KEY), r#"{"slug": "dupe-a", "slug": "dupe-b"}"#).await;
    r.err(400, "VALIDATION_ERROR");

    // Nothing was created or changed by any of it.
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)), ["default"]);
    let d = admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default")).clone();
    assert_eq!(d["name"], "Default");
    let keys = admin(&gw, "GET", "/api/workspaces/default/keys", None).await;
    assert_eq!(keys.ok(200, Some("default")), &json!([]));
}

/// A body with anything after the JSON value is malformed and must be refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_garbage_after_the_json_is_refused() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for body in
        [r#"{"name": "Changed"} trailing"#, r#"{"name": "Changed"}{"name": "Again"}"#, r#"{"name": "Changed"},"#]
    {
        let r = send_raw(&gw, "PATCH", "/api/workspaces/default", Some(ADMIN_KEY), body).await;
        r.err(400, "VALIDATION_ERROR");
    }
    let r = send_raw(&gw, "POST", "/api/workspaces", Some(ADMIN_KEY), r#"{"slug": "tg"} x"#).await;
    r.err(400, "VALIDATION_ERROR");
    assert_eq!(admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default"))["name"], "Default");
    admin(&gw, "GET", "/api/workspaces/tg", None).await.err(404, "WORKSPACE_NOT_FOUND");
}

/// `details.field` must name a field of the request; for malformed JSON there is none to name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_does_not_name_a_bogus_field() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for body in [r#"{"name": "x""#, r#"{"name": "x","#, r#"{"name""#, "{"] {
        let r = send_raw(&gw, "PATCH", "/api/workspaces/default", Some(ADMIN_KEY), body).await;
        let e = r.err(400, "VALIDATION_ERROR");
        let field = e["details"]["field"].as_str();
        assert!(field.is_none() || field == Some("name"), "{body:?} names field {field:?}: {e}");
        assert_ne!(e["param"], "?", "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let backing = common::backing(Kind::Sqlite).await;
    let mut config = common::config_for(&backing);
    config.server.max_body_bytes = 1024;
    let gw = Gateway::start_with(backing, config).await;

    // Just under the limit is fine.
    let body = json!({"description": "d".repeat(900)}).to_string();
    assert!(body.len() < 1024);
    send_raw(&gw, "PATCH", "/api/workspaces/default", Some(ADMIN_KEY), body).await.ok(200, Some("default"));

    let big = json!({"description": "d".repeat(2000)}).to_string();
    for (method, path) in [
        ("PATCH", "/api/workspaces/default"),
        ("PATCH", "/api/workspaces/default/runtime"),
        ("PATCH", "/api/workspaces/default/restrictions"),
        ("PATCH", "/api/workspaces/default/limits"),
        ("POST", "/api/workspaces/default/keys"),
    ] {
        let r = send_raw(&gw, method, path, Some(ADMIN_KEY), big.clone()).await;
        let e = r.err(413, "PAYLOAD_TOO_LARGE");
        assert!(e["message"].as_str().unwrap().contains("1024"), "{e}");
    }
    let big_create = json!({"slug": "big", "description": "d".repeat(5000)}).to_string();
    send_raw(&gw, "POST", "/api/workspaces", Some(ADMIN_KEY), big_create).await.err(413, "PAYLOAD_TOO_LARGE");
    // Even when it is not JSON at all.
    send_raw(&gw, "POST", "/api/workspaces", Some(ADMIN_KEY), "x".repeat(100_000)).await.err(413, "PAYLOAD_TOO_LARGE");

    admin(&gw, "GET", "/api/workspaces/big", None).await.err(404, "WORKSPACE_NOT_FOUND");
    let d = admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default")).clone();
    assert_eq!(d["description"].as_str().map(str::len), Some(900));
    assert_eq!(admin(&gw, "GET", "/api/workspaces/default/keys", None).await.ok(200, Some("default")), &json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_400() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for q in ["limit=abc", "limit=-1", "limit=1.5", "limit=", "limit=1&limit=2", "foo=1", "cursor=a&page=2"] {
        let r = admin(&gw, "GET", &format!("/api/workspaces?{q}"), None).await;
        r.err(400, "VALIDATION_ERROR");
    }
    for q in ["limit=0", "limit=501"] {
        admin(&gw, "GET", &format!("/api/workspaces?{q}"), None).await.invalid_field("limit");
    }
    for q in ["limit=abc", "bogus=1", "workspace=a&workspace=b"] {
        let r = admin(&gw, "GET", &format!("/api/admin/audit?{q}"), None).await;
        r.err(400, "VALIDATION_ERROR");
    }
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("from=yesterday", "from"),
        ("from=2026-01-15", "from"),
        ("from=1700000000", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("cursor=zzz", "cursor"),
        ("cursor=1_x", "cursor"),
    ] {
        admin(&gw, "GET", &format!("/api/admin/audit?{q}"), None).await.invalid_field(field);
    }
    // Boundaries that are fine.
    admin(&gw, "GET", "/api/workspaces?limit=500", None).await.ok(200, None);
    admin(&gw, "GET", "/api/admin/audit?limit=1000", None).await.ok(200, None);
}

/// A request body is a JSON object. serde's derive also accepts a struct written as a JSON array
/// of its fields in declaration order, so positional arrays slip through and are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_arrays_are_not_accepted_as_objects() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mut accepted = Vec::new();
    for (method, path, body) in [
        ("PATCH", "/api/workspaces/default/limits", "[]"),
        ("PATCH", "/api/workspaces/default/limits", r#"["enterprise"]"#),
        ("PATCH", "/api/workspaces/default/limits", r#"[null, {"burst": 1}]"#),
        ("PATCH", "/api/workspaces/default", r#"["Renamed"]"#),
        ("PATCH", "/api/workspaces/default/runtime", r#"[null, null, "strict", null]"#),
        ("PATCH", "/api/workspaces/default/restrictions", r#"[["openai"], null, null, null]"#),
        ("POST", "/api/workspaces", r#"["arr", null, null, null, null]"#),
        ("POST", "/api/workspaces/default/keys", r#"["k"]"#),
    ] {
        let r = send_raw(&gw, method, path, Some(ADMIN_KEY), body).await;
        if r.status != 400 {
            accepted.push(format!("{method} {path} {body} -> {}", r.status));
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default")).clone();
    let created = admin(&gw, "GET", "/api/workspaces/arr", None).await.status;
    assert!(accepted.is_empty(), "accepted: {accepted:#?}\nnow: {d}\narr: {created}");
    let d = admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default")).clone();
    assert_eq!((d["name"].as_str(), d["tier"].as_str()), (Some("Default"), Some("standard")));
    assert_eq!(d["limits"]["overrides"], json!({}));
    assert_eq!(d["runtime"]["fallback"], "relaxed");
    assert_eq!(d["restrictions"]["allowedProviders"], json!([]));
    admin(&gw, "GET", "/api/workspaces/arr", None).await.err(404, "WORKSPACE_NOT_FOUND");
}
