//! Black-box tests of authentication and authorisation (bearer keys, admin-only routes, workspace
//! isolation), of the health routes, and of the per-workspace rate limits by tier. Everything goes
//! over HTTP against a real gateway; the assertions are what a client sees.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::on_both_stores;
use common::resp::{admin, create_ws, send, send_with, slugs, snapshot};
use common::{Gateway, Kind, Resp, ADMIN_KEY};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

/// Every route a workspace key may call on its own workspace: (method, path under
/// `/api/workspaces/{slug}`, body).
fn readable_routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "", None),
        ("GET", "/health", None),
        ("GET", "/limits", None),
        ("GET", "/runtime", None),
        ("GET", "/restrictions", None),
        ("GET", "/keys", None),
        ("PATCH", "", Some(json!({"name": "Changed by a neighbour"}))),
        (
            "PATCH",
            "/runtime",
            Some(json!({"fallback": "none", "timeouts": {"totalMs": 1000, "connectMs": 500, "firstTokenMs": 500}})),
        ),
    ]
}

/// The routes only an admin key may call: (method, path under `/api/workspaces/{slug}`, body).
fn admin_only_routes(key_id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("DELETE", String::new(), None),
        ("PATCH", "/limits".into(), Some(json!({"tier": "enterprise", "overrides": {"burst": 1000}}))),
        ("PATCH", "/restrictions".into(), Some(json!({"blockedProviders": ["openai"]}))),
        ("POST", "/keys".into(), Some(json!({"name": "stolen"}))),
        ("DELETE", format!("/keys/{key_id}"), None),
    ]
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_bad_credentials_are_401() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "real", "enterprise").await;
    let basic = format!("Basic {key}");
    let token = format!("Token {key}");
    let bare = key.clone();
    let joined = format!("Bearer{key}");
    let upper_key = format!("Bearer {}", ADMIN_KEY.to_uppercase());
    let truncated = format!("Bearer {}", &key[..key.len() - 1]);
    let extended = format!("Bearer {key}x");
    let bad: Vec<Option<&str>> = vec![
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearer    "),
        Some(basic.as_str()),
        Some(token.as_str()),
        Some(bare.as_str()),
        Some(joined.as_str()),
        Some("Bearer lyr_unknownkey0000000000000000000000000000"),
        Some(upper_key.as_str()),
        Some(truncated.as_str()),
        Some(extended.as_str()),
    ];
    let routes: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/workspaces", None),
        ("POST", "/api/workspaces", Some(json!({"slug": "sneaky"}))),
        ("GET", "/api/workspaces/real", None),
        ("PATCH", "/api/workspaces/real", Some(json!({"name": "hacked"}))),
        ("DELETE", "/api/workspaces/real", None),
        ("GET", "/api/workspaces/real/health", None),
        ("GET", "/api/workspaces/real/limits", None),
        ("PATCH", "/api/workspaces/real/limits", Some(json!({"tier": "free"}))),
        ("GET", "/api/workspaces/real/runtime", None),
        ("PATCH", "/api/workspaces/real/runtime", Some(json!({"fallback": "none"}))),
        ("GET", "/api/workspaces/real/restrictions", None),
        ("PATCH", "/api/workspaces/real/restrictions", Some(json!({"blockedModels": ["x"]}))),
        ("GET", "/api/workspaces/real/keys", None),
        ("POST", "/api/workspaces/real/keys", Some(json!({}))),
        ("DELETE", "/api/workspaces/real/keys/key_x", None),
        ("GET", "/api/workspaces/ghost", None),
        ("GET", "/api/admin/audit", None),
        ("GET", "/api/health/detailed", None),
    ];
    let before = snapshot(&gw, "real").await;
    for (method, path, body) in &routes {
        for auth in &bad {
            let r = send_with(&gw, &gw.client, method, path, *auth, &[], body.as_ref().map(Value::to_string)).await;
            let e = r.err(401, "UNAUTHORIZED");
            assert_eq!(e["type"], "authentication_error", "{e}");
        }
    }
    // Nothing happened.
    assert_eq!(snapshot(&gw, "real").await, before);
    admin(&gw, "GET", "/api/workspaces/sneaky", None).await.err(404, "WORKSPACE_NOT_FOUND");

    // The scheme is case-insensitive (RFC 9110 §11.1); the key is not.
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let r = send_with(&gw, &gw.client, "GET", "/api/workspaces/real", Some(&format!("{scheme} {key}")), &[], None)
            .await;
        r.ok(200, Some("real"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_immediate_every_time() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "rev", "enterprise").await;
    for i in 0..10 {
        let r = admin(&gw, "POST", "/api/workspaces/rev/keys", Some(json!({"name": format!("k{i}")}))).await;
        let k = r.ok(201, Some("rev")).clone();
        let (id, key) = (k["id"].as_str().unwrap(), k["key"].as_str().unwrap());
        send(&gw, "GET", "/api/workspaces/rev/runtime", Some(key), None).await.ok(200, Some("rev"));
        admin(&gw, "DELETE", &format!("/api/workspaces/rev/keys/{id}"), None).await.ok(200, Some("rev"));
        // The very next request with it, on any route, is refused.
        send(&gw, "GET", "/api/workspaces/rev/runtime", Some(key), None).await.err(401, "UNAUTHORIZED");
        send(&gw, "GET", "/api/health/detailed", Some(key), None).await.err(401, "UNAUTHORIZED");
        send(&gw, "PATCH", "/api/workspaces/rev", Some(key), Some(json!({"name": "late"})))
            .await
            .err(401, "UNAUTHORIZED");
    }
    assert_eq!(admin(&gw, "GET", "/api/workspaces/rev", None).await.ok(200, Some("rev"))["name"], "rev");
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

on_both_stores!(health_is_public_and_detailed_health_needs_a_key);
async fn health_is_public_and_detailed_health_needs_a_key(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let (_, key) = create_ws(&gw, "hw", "free").await;
    for auth in [None, Some("Bearer nonsense"), Some("Basic abc")] {
        let r = send_with(&gw, &gw.client, "GET", "/api/health", auth, &[], None).await;
        let d = r.ok(200, None);
        assert_eq!(d["status"], "ok");
        assert!(d["version"].as_str().is_some_and(|v| !v.is_empty()), "{d}");
        assert!(d["uptimeSeconds"].as_u64().is_some(), "{d}");
    }
    // The public health check is not rate limited, even with a workspace key.
    for _ in 0..30 {
        let r = send(&gw, "GET", "/api/health", Some(&key), None).await;
        assert_eq!(r.status, 200);
        assert!(r.header("x-ratelimit-limit").is_none());
    }

    send(&gw, "GET", "/api/health/detailed", None, None).await.err(401, "UNAUTHORIZED");
    send(&gw, "GET", "/api/health/detailed", Some("lyr_nope"), None).await.err(401, "UNAUTHORIZED");

    let backend = match kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    // Projections catch up asynchronously: poll until the audit projection has no lag.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let d = loop {
        let d = admin(&gw, "GET", "/api/health/detailed", None).await.ok(200, None).clone();
        // Lag counts the events a projector reads; its checkpoint also moves past the others
        // (on its next wake-up), so wait for both.
        let caught_up = |p: &Value| p["lag"] == 0 && p["position"] == d["feed"]["position"];
        if d["projections"].as_array().is_some_and(|p| p.iter().all(caught_up)) && d["hotState"]["lag"] == 0 {
            break d;
        }
        assert!(tokio::time::Instant::now() < deadline, "projections never caught up: {d}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(d["status"], "healthy");
    assert_eq!(d["store"]["backend"], backend);
    assert_eq!(d["store"]["reachable"], true);
    assert!(d["store"]["latencyMs"].as_f64().is_some(), "{d}");
    // default created, hw created, hw's key issued.
    assert!(d["feed"]["position"].as_i64().is_some_and(|p| p >= 3), "{d}");
    assert_eq!(d["feed"]["events"], 3, "{d}");
    let projections = d["projections"].as_array().unwrap();
    assert!(projections.iter().any(|p| p["name"] == "audit_log"), "{d}");
    for p in projections {
        assert_eq!(p["lag"], 0, "{d}");
        assert_eq!(p["position"], d["feed"]["position"], "{d}");
    }
    assert_eq!(d["hotState"]["position"], d["feed"]["position"], "{d}");

    // A change moves the feed; the projection follows.
    admin(&gw, "PATCH", "/api/workspaces/hw/runtime", Some(json!({"fallback": "strict"}))).await.ok(200, Some("hw"));
    gw.wait_for_audit("?action=RuntimeProfileChanged", |v| !v["data"].as_array().unwrap().is_empty()).await;
    // The installation's figures are for admin keys (a workspace key sees status and store).
    let d2 = admin(&gw, "GET", "/api/health/detailed", None).await.ok(200, None).clone();
    assert_eq!(d2["feed"]["events"], 4, "{d2}");
    assert!(d2["feed"]["position"].as_i64() > d["feed"]["position"].as_i64(), "{d2}");
}

// ---------------------------------------------------------------------------------------------
// Authorisation
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_keys_are_forbidden_on_admin_only_routes() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_id, key) = create_ws(&gw, "mine", "enterprise").await;
    let before = snapshot(&gw, "mine").await;

    let r = send(&gw, "POST", "/api/workspaces", Some(&key), Some(json!({"slug": "spawned"}))).await;
    assert_eq!(r.err(403, "FORBIDDEN")["type"], "permission_error");
    for (method, sub, body) in admin_only_routes(&key_id) {
        let r = send(&gw, method, &format!("/api/workspaces/mine{sub}"), Some(&key), body).await;
        r.err(403, "FORBIDDEN");
    }
    for q in ["", "?workspace=mine", "?limit=1"] {
        send(&gw, "GET", &format!("/api/admin/audit{q}"), Some(&key), None).await.err(403, "FORBIDDEN");
    }

    // Nothing changed, the key still works, and nothing was created.
    assert_eq!(snapshot(&gw, "mine").await, before);
    send(&gw, "GET", "/api/workspaces/mine", Some(&key), None).await.ok(200, Some("mine"));
    admin(&gw, "GET", "/api/workspaces/spawned", None).await.err(404, "WORKSPACE_NOT_FOUND");
    // The admin can do all of it.
    admin(&gw, "PATCH", "/api/workspaces/mine/limits", Some(json!({"tier": "free"}))).await.ok(200, Some("mine"));
    admin(&gw, "GET", "/api/admin/audit", None).await.ok(200, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_keys_can_read_and_tune_their_own_workspace() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_id, key) = create_ws(&gw, "own", "enterprise").await;
    for (method, sub, body) in readable_routes() {
        let r = send(&gw, method, &format!("/api/workspaces/own{sub}"), Some(&key), body).await;
        let d = r.ok(200, Some("own"));
        assert_eq!(r.header("x-ratelimit-limit"), Some("200"), "{method} {sub}");
        assert_eq!(r.header("x-ratelimit-limit-per-minute"), Some("2000"), "{method} {sub}");
        if sub == "/keys" {
            let listed = d.as_array().unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0]["id"], key_id.as_str());
            assert!(!r.body.to_string().contains(&key), "the key leaked: {}", r.body);
        }
    }
    let d = snapshot(&gw, "own").await;
    assert_eq!(d["name"], "Changed by a neighbour");
    assert_eq!(d["runtime"]["fallback"], "none");
    assert_eq!(d["runtime"]["timeouts"]["totalMs"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_keys_list_only_their_own_workspace() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key_b) = create_ws(&gw, "b-ws", "enterprise").await;
    create_ws(&gw, "a-ws", "enterprise").await;
    create_ws(&gw, "c-ws", "enterprise").await;
    let r = send(&gw, "GET", "/api/workspaces", Some(&key_b), None).await;
    assert_eq!(slugs(r.ok(200, None)), ["b-ws"]);
    assert_eq!(r.body["meta"]["page"]["nextCursor"], Value::Null);
    for q in ["?limit=1", "?cursor=a", "?limit=500&cursor=a-ws"] {
        let r = send(&gw, "GET", &format!("/api/workspaces{q}"), Some(&key_b), None).await;
        assert_eq!(slugs(r.ok(200, None)), ["b-ws"], "{q}");
        assert_eq!(r.body["meta"]["page"]["nextCursor"], Value::Null, "{q}");
    }
    let r = send(&gw, "GET", "/api/workspaces?cursor=b-ws", Some(&key_b), None).await;
    assert_eq!(r.ok(200, None), &json!([]));
    let r = admin(&gw, "GET", "/api/workspaces", None).await;
    assert_eq!(slugs(r.ok(200, None)), ["a-ws", "b-ws", "c-ws", "default"]);
}

on_both_stores!(workspace_keys_cannot_reach_other_workspaces);
async fn workspace_keys_cannot_reach_other_workspaces(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let (_, key_a) = create_ws(&gw, "alpha", "enterprise").await;
    let (b_key_id, key_b) = create_ws(&gw, "beta", "enterprise").await;
    admin(&gw, "PATCH", "/api/workspaces/beta/restrictions", Some(json!({"allowedModels": ["m"]})))
        .await
        .ok(200, Some("beta"));
    let before_b = snapshot(&gw, "beta").await;
    let before_default = snapshot(&gw, "default").await;

    // Another workspace's routes answer exactly as a workspace that does not exist.
    for target in ["beta", "default", "ghost", "gamma-never-made"] {
        for (method, sub, body) in readable_routes() {
            let path = format!("/api/workspaces/{target}{sub}");
            let r = send(&gw, method, &path, Some(&key_a), body).await;
            let e = r.err(404, "WORKSPACE_NOT_FOUND");
            assert_eq!(e["message"], format!("workspace '{target}' does not exist"), "{method} {path}");
        }
    }
    // Admin-only routes of another workspace: refused, and identically whether it exists or not
    // (no way to probe for a neighbour's existence).
    for (method, sub, body) in admin_only_routes(&b_key_id) {
        let there = send(&gw, method, &format!("/api/workspaces/beta{sub}"), Some(&key_a), body.clone()).await;
        let ghost = send(&gw, method, &format!("/api/workspaces/ghost{sub}"), Some(&key_a), body).await;
        assert!(matches!(there.status, 403 | 404), "{method} {sub}: {}", there.body);
        assert_eq!(
            (there.status, &there.body["error"]["code"]),
            (ghost.status, &ghost.body["error"]["code"]),
            "{method} {sub}"
        );
    }

    // Nothing changed there: verified with the admin key.
    assert_eq!(snapshot(&gw, "beta").await, before_b);
    assert_eq!(snapshot(&gw, "default").await, before_default);
    admin(&gw, "GET", "/api/workspaces/ghost", None).await.err(404, "WORKSPACE_NOT_FOUND");
    send(&gw, "GET", "/api/workspaces/beta", Some(&key_b), None).await.ok(200, Some("beta"));
    send(&gw, "GET", "/api/workspaces/alpha", Some(&key_a), None).await.ok(200, Some("alpha"));
    // And alpha's key made no audited change anywhere.
    let alpha_id = admin(&gw, "GET", "/api/workspaces/alpha/keys", None).await.ok(200, Some("alpha"))[0]["id"].clone();
    let audit = gw.wait_for_audit("?workspace=beta", |v| v["data"].as_array().unwrap().len() >= 3).await;
    assert!(audit["data"].as_array().unwrap().iter().all(|e| e["actor"] == "env-admin"), "{audit}");
    let by_alpha = admin(&gw, "GET", &format!("/api/admin/audit?actor={}", alpha_id.as_str().unwrap()), None).await;
    assert_eq!(by_alpha.ok(200, None), &json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_workspaces_keys_are_refused_everywhere() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "gone", "enterprise").await;
    send(&gw, "GET", "/api/health/detailed", Some(&key), None).await.ok(200, None);
    admin(&gw, "DELETE", "/api/workspaces/gone", None).await.ok(200, Some("gone"));
    for (method, path) in [
        ("GET", "/api/workspaces"),
        ("GET", "/api/workspaces/gone"),
        ("GET", "/api/workspaces/gone/runtime"),
        ("GET", "/api/workspaces/default"),
        ("GET", "/api/health/detailed"),
    ] {
        send(&gw, method, path, Some(&key), None).await.err(401, "UNAUTHORIZED");
    }
    // Re-creating the slug does not bring the old key back.
    admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "gone"}))).await.ok(201, Some("gone"));
    send(&gw, "GET", "/api/workspaces/gone", Some(&key), None).await.err(401, "UNAUTHORIZED");
}

// ---------------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------------

/// Sends `n` requests with `key` at once and returns the responses and how long they took. HTTP clients in a debug build
/// are slow enough to spread a burst over tens of milliseconds (GCRA would rightly refill during
/// it), so this opens `n` connections first, then writes every request in one tight loop.
async fn burst(gw: &Gateway, key: &str, path: &str, n: usize) -> (Vec<Resp>, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = gw.base.trim_start_matches("http://").to_string();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        conns.push(s);
    }
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n");
    let started = std::time::Instant::now();
    for c in &mut conns {
        c.write_all(request.as_bytes()).await.unwrap();
    }
    let raw = futures::future::join_all(conns.into_iter().map(|mut c| async move {
        let mut buf = Vec::new();
        c.read_to_end(&mut buf).await.unwrap();
        buf
    }))
    .await;
    let elapsed = started.elapsed();
    eprintln!("burst of {n}: all answered after {elapsed:?}");
    (raw.iter().map(|b| parse_http(b)).collect(), elapsed)
}

/// Parses one HTTP/1.1 response (Content-Length framed, as the gateway answers).
fn parse_http(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    assert!(status < 500, "{status}: {body}");
    assert!(headers.get("x-request-id").is_some(), "no x-request-id: {head}");
    let body = serde_json::from_str(body).unwrap_or_else(|_| panic!("body is not JSON ({status}): {body}"));
    Resp { status, headers, body }
}

/// Asserts what a refused request shows: 429 RATE_LIMITED, Retry-After and the rate-limit headers.
fn assert_limited(r: &Resp, rpm: u64, burst: u64) {
    let e = r.err(429, "RATE_LIMITED");
    assert_eq!(e["type"], "rate_limit_error", "{e}");
    assert_eq!((e["details"]["limit"].as_u64(), e["details"]["burst"].as_u64()), (Some(rpm), Some(burst)), "{e}");
    assert!(e["details"]["retryAfterMs"].as_u64().is_some(), "{e}");
    assert!(r.header_num("retry-after") >= 1, "Retry-After: {:?}", r.headers);
    assert_eq!(r.header_num("x-ratelimit-limit"), burst);
    assert_eq!(r.header_num("x-ratelimit-limit-per-minute"), rpm);
    assert_eq!(r.header_num("x-ratelimit-remaining"), 0);
    assert!(r.header_num("x-ratelimit-reset") >= 1, "{:?}", r.headers);
}

fn count_admitted(responses: &[Resp], rpm: u64, burst: u64) -> usize {
    let mut admitted = 0;
    for r in responses {
        if r.status == 200 {
            admitted += 1;
            // The pair counts one thing (issue 9: it was 2000 per minute beside 199 of the burst).
            assert_eq!(r.header_num("x-ratelimit-limit"), burst);
            assert_eq!(r.header_num("x-ratelimit-limit-per-minute"), rpm);
            assert!(r.header_num("x-ratelimit-remaining") < burst);
            assert!(r.header("retry-after").is_none());
        } else {
            assert_limited(r, rpm, burst);
        }
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_tier_admits_a_burst_of_10_then_429() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "free-ws", "free").await;
    let mut responses = Vec::new();
    for _ in 0..15 {
        responses.push(send(&gw, "GET", "/api/workspaces/free-ws/runtime", Some(&key), None).await);
    }
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [[200; 10].as_slice(), [429; 5].as_slice()].concat(), "exactly the burst, then refused");
    for (i, r) in responses[..10].iter().enumerate() {
        r.ok(200, Some("free-ws"));
        assert_eq!(r.header_num("x-ratelimit-limit"), 10);
        assert_eq!(r.header_num("x-ratelimit-limit-per-minute"), 60);
        assert_eq!(r.header_num("x-ratelimit-remaining"), 9 - i as u64, "request {i}");
        let reset = r.header_num("x-ratelimit-reset");
        assert!((1..=10).contains(&reset), "x-ratelimit-reset {reset}");
    }
    for r in &responses[10..] {
        assert_limited(r, 60, 10);
        // One request frees up every second; the bucket is full again ten seconds on.
        assert_eq!(r.header_num("retry-after"), 1);
        assert_eq!(r.header_num("x-ratelimit-reset"), 10);
        assert_eq!(r.body["error"]["details"]["retryAfterMs"].as_u64().map(|ms| ms <= 1000), Some(true));
    }
    // Refused on every route, including writes, which then change nothing.
    let r = send(&gw, "PATCH", "/api/workspaces/free-ws/runtime", Some(&key), Some(json!({"fallback": "none"}))).await;
    assert_limited(&r, 60, 10);
    assert_limited(&send(&gw, "GET", "/api/workspaces", Some(&key), None).await, 60, 10);
    assert_limited(&send(&gw, "GET", "/api/health/detailed", Some(&key), None).await, 60, 10);
    assert_eq!(
        admin(&gw, "GET", "/api/workspaces/free-ws/runtime", None).await.ok(200, Some("free-ws"))["fallback"],
        "relaxed"
    );
    let usage =
        admin(&gw, "GET", "/api/workspaces/free-ws/limits", None).await.ok(200, Some("free-ws"))["usage"].clone();
    assert_eq!(usage["requestsThisMinute"], 10, "{usage}");
    assert_eq!(usage["rejectedThisMinute"], 8, "{usage}");

    // After Retry-After, one more request is admitted.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    send(&gw, "GET", "/api/workspaces/free-ws/runtime", Some(&key), None).await.ok(200, Some("free-ws"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_tier_burst_holds_under_concurrency() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "free-par", "free").await;
    let (responses, _) = burst(&gw, &key, "/api/workspaces/free-par/runtime", 40).await;
    assert_eq!(count_admitted(&responses, 60, 10), 10);
}

/// GCRA admits exactly the burst at once, then one more per emission interval (60 s / rpm) that
/// passes. A debug build on a small machine takes tens of milliseconds to serve a few hundred
/// requests, so the exact bound is the burst plus one per interval elapsed during the burst.
fn assert_burst(admitted: usize, n: usize, burst: usize, rpm: u64, elapsed: std::time::Duration) {
    let interval_ms = 60_000 / rpm as u128;
    let refills = (elapsed.as_millis() / interval_ms) as usize;
    assert!(
        (burst..=burst + refills + 1).contains(&admitted),
        "admitted {admitted} of {n}; want {burst} + at most {refills}+1 refills in {elapsed:?}"
    );
    assert!(admitted < n, "some requests must be refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_tier_admits_a_burst_of_50() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "std-ws", "standard").await;
    let (responses, elapsed) = burst(&gw, &key, "/api/workspaces/std-ws/runtime", 80).await;
    let admitted = count_admitted(&responses, 300, 50);
    assert_burst(admitted, 80, 50, 300, elapsed);
    // One refill every 200 ms: within a burst served in well under that, 50 or 51.
    if elapsed.as_millis() < 200 {
        assert!((50..=51).contains(&admitted), "admitted {admitted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enterprise_tier_admits_a_burst_of_200() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "ent-ws", "enterprise").await;
    let (responses, elapsed) = burst(&gw, &key, "/api/workspaces/ent-ws/runtime", 260).await;
    let admitted = count_admitted(&responses, 2000, 200);
    // One refill every 30 ms.
    assert_burst(admitted, 260, 200, 2000, elapsed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_overrides_take_effect_at_once() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "ovr", "free").await;
    let path = "/api/workspaces/ovr/runtime";

    // Tighter: 6 per minute with a burst of 3.
    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/ovr/limits",
        Some(json!({"overrides": {"requestsPerMinute": 6, "burst": 3}})),
    )
    .await;
    assert_eq!(r.ok(200, Some("ovr"))["effective"], json!({"requestsPerMinute": 6, "burst": 3}));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = send(&gw, "GET", path, Some(&key), None).await;
        if r.status == 200 {
            assert_eq!(r.header_num("x-ratelimit-limit"), 3);
            assert_eq!(r.header_num("x-ratelimit-limit-per-minute"), 6);
        } else {
            assert_limited(&r, 6, 3);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);

    // A bigger burst at the same rate: two more at once.
    admin(&gw, "PATCH", "/api/workspaces/ovr/limits", Some(json!({"overrides": {"burst": 5}})))
        .await
        .ok(200, Some("ovr"));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(send(&gw, "GET", path, Some(&key), None).await.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);

    // Back to a tight burst: refused at once.
    admin(&gw, "PATCH", "/api/workspaces/ovr/limits", Some(json!({"overrides": {"burst": 1}})))
        .await
        .ok(200, Some("ovr"));
    assert_limited(&send(&gw, "GET", path, Some(&key), None).await, 6, 1);
}

/// Raising a workspace's limits must let it through at once: a throttled free workspace that is
/// upgraded to enterprise (burst 200) may send requests straight away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_a_throttled_workspace_takes_effect_at_once() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "upg", "free").await;
    let path = "/api/workspaces/upg/runtime";
    let admitted = {
        let mut n = 0;
        for _ in 0..11 {
            n += usize::from(send(&gw, "GET", path, Some(&key), None).await.status == 200);
        }
        n
    };
    assert_eq!(admitted, 10);
    let r = admin(&gw, "PATCH", "/api/workspaces/upg/limits", Some(json!({"tier": "enterprise"}))).await;
    assert_eq!(r.ok(200, Some("upg"))["effective"], json!({"requestsPerMinute": 2000, "burst": 200}));
    // 11 requests so far against a burst of 200: the next ones are within the new quota.
    for i in 0..20 {
        let r = send(&gw, "GET", path, Some(&key), None).await;
        assert_eq!(r.status, 200, "request {i} after the upgrade: {} {:?}", r.body, r.headers);
        assert_eq!(r.header_num("x-ratelimit-limit"), 200);
        assert_eq!(r.header_num("x-ratelimit-limit-per-minute"), 2000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_key_is_not_rate_limited() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "adm", "free").await;
    let (responses, _) = burst(&gw, ADMIN_KEY, "/api/workspaces/adm/runtime", 120).await;
    for r in &responses {
        r.ok(200, Some("adm"));
        assert!(r.header("x-ratelimit-limit").is_none() && r.header("retry-after").is_none(), "{:?}", r.headers);
    }
    for _ in 0..100 {
        assert_eq!(admin(&gw, "GET", "/api/workspaces/adm", None).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_workspaces_exhaustion_does_not_affect_another() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key_a) = create_ws(&gw, "noisy", "free").await;
    let (_, key_b) = create_ws(&gw, "quiet", "free").await;
    // A second key of the same workspace shares its bucket.
    let r = admin(&gw, "POST", "/api/workspaces/noisy/keys", Some(json!({"name": "second"}))).await;
    let key_a2 = r.ok(201, Some("noisy"))["key"].as_str().unwrap().to_string();

    let (responses, _) = burst(&gw, &key_a, "/api/workspaces/noisy/runtime", 30).await;
    assert_eq!(count_admitted(&responses, 60, 10), 10);
    assert_limited(&send(&gw, "GET", "/api/workspaces/noisy", Some(&key_a2), None).await, 60, 10);

    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(send(&gw, "GET", "/api/workspaces/quiet", Some(&key_b), None).await.status);
    }
    assert_eq!(statuses, [[200; 10].as_slice(), [429].as_slice()].concat());
    // The admin can still fix the noisy workspace.
    admin(&gw, "GET", "/api/workspaces/noisy/health", None).await.ok(200, Some("noisy"));
    // Unknown keys do not consume anyone's budget.
    let usage = |d: &Value| (d["usage"]["requestsThisMinute"].clone(), d["usage"]["rejectedThisMinute"].clone());
    let before = usage(admin(&gw, "GET", "/api/workspaces/quiet/limits", None).await.ok(200, Some("quiet")));
    for _ in 0..5 {
        send(&gw, "GET", "/api/workspaces/quiet", Some("lyr_nothing"), None).await.err(401, "UNAUTHORIZED");
    }
    let after = usage(admin(&gw, "GET", "/api/workspaces/quiet/limits", None).await.ok(200, Some("quiet")));
    assert_eq!(after, before);
    assert_eq!(after, (json!(10), json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_follow_the_tier() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for (slug, tier, rpm, burst) in
        [("h-free", "free", 60, 10), ("h-std", "standard", 300, 50), ("h-ent", "enterprise", 2000, 200)]
    {
        let (_, key) = create_ws(&gw, slug, tier).await;
        let r = send(&gw, "GET", &format!("/api/workspaces/{slug}"), Some(&key), None).await;
        r.ok(200, Some(slug));
        // limit and remaining count the same allowance: the burst.
        assert_eq!(r.header_num("x-ratelimit-limit"), burst, "{tier}");
        assert_eq!(r.header_num("x-ratelimit-limit-per-minute"), rpm, "{tier}");
        assert_eq!(r.header_num("x-ratelimit-remaining"), burst - 1, "{tier}");
        assert_eq!(r.header_num("x-ratelimit-reset"), 1, "{tier}");
        // Errors answered to a workspace key carry them too.
        let r = send(&gw, "GET", "/api/workspaces/not-mine", Some(&key), None).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
        assert_eq!(r.header_num("x-ratelimit-limit"), burst, "{tier}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_for_admins_only() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (_, key) = create_ws(&gw, "mx", "free").await;
    let get = |k: Option<String>| {
        let mut r = gw.client.get(format!("{}/metrics", gw.base));
        if let Some(k) = k {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some(key)).await.unwrap().status(), 403);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = get(Some(ADMIN_KEY.to_string())).await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let text = r.text().await.unwrap();
        let value = |prefix: &str| -> Option<f64> {
            text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
        };
        assert!(text.contains("# TYPE layerr_projection_lag_events gauge"), "{text}");
        assert_eq!(value("layerr_up "), Some(1.0));
        assert!(value("layerr_feed_events ").is_some_and(|n| n >= 3.0), "{text}");
        let audit = value("layerr_projection_lag_events{projection=\"audit_log\"}").expect("audit_log lag");
        let head = value("layerr_feed_head_position ").unwrap();
        let pos = value("layerr_projection_position{projection=\"audit_log\"}").unwrap();
        if audit == 0.0 && pos == head {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "audit_log never caught up: {text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
