//! Black-box tests of the workspace routes (`/api/workspaces/...`), of how the HTTP edge answers
//! bad input (malformed or mistyped JSON, unknown fields, empty and oversized bodies, unknown
//! routes and methods, bad query parameters), and of the audit log (`/api/admin/audit`) that
//! every configuration change lands in. Everything goes over HTTP against a real gateway; the
//! assertions are what a client sees: status, envelope, error code, headers.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{assert_error, Gateway, Kind, ADMIN_KEY};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One response as a client sees it.
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the success envelope (`data` + `meta.requestId/timestamp/workspaceId`) and returns `data`.
    fn ok(&self, status: u16, workspace: Option<&str>) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.body.get("error").is_none(), "{}", self.body);
        assert!(self.body.get("data").is_some(), "{}", self.body);
        let meta = &self.body["meta"];
        assert_eq!(
            meta["requestId"].as_str(),
            self.header("x-request-id"),
            "meta.requestId = x-request-id: {}",
            self.body
        );
        let ts = meta["timestamp"].as_str().unwrap_or_else(|| panic!("meta.timestamp: {}", self.body));
        DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("meta.timestamp {ts:?} is not RFC 3339: {e}"));
        assert!(meta.as_object().is_some_and(|m| m.contains_key("workspaceId")), "meta.workspaceId: {}", self.body);
        assert_eq!(meta["workspaceId"], workspace.map_or(Value::Null, |w| json!(w)), "{}", self.body);
        &self.body["data"]
    }

    /// Asserts the error envelope with this status and code and returns the error object.
    fn err(&self, status: u16, code: &str) -> Value {
        assert_error(self.status, &self.body, status, code)
    }

    /// Asserts a 400 VALIDATION_ERROR whose `details.field` is `field`.
    fn invalid_field(&self, field: &str) {
        let e = self.err(400, "VALIDATION_ERROR");
        assert_eq!(e["details"]["field"], field, "{}", self.body);
    }

    fn text(&self) -> String {
        self.body.to_string()
    }
}

async fn send_with(
    gw: &Gateway,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = gw.client.request(m, format!("{}{}", gw.base, path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert!(status < 500, "{method} {path} answered {status} (never a 5xx here): {text}");
    assert!(
        headers.get("x-request-id").is_some_and(|v| !v.is_empty()),
        "{method} {path} ({status}) has no x-request-id header"
    );
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path} ({status}) body is not JSON: {text}"));
    Resp { status, headers, body }
}

/// A request whose body is exactly `body` (not necessarily JSON).
async fn send_raw(gw: &Gateway, method: &str, path: &str, key: Option<&str>, body: impl Into<String>) -> Resp {
    send_with(gw, method, path, key, &[], Some(body.into())).await
}

async fn send(gw: &Gateway, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Resp {
    send_with(gw, method, path, key, &[], body.map(|b| b.to_string())).await
}

async fn admin(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> Resp {
    send(gw, method, path, Some(ADMIN_KEY), body).await
}

/// Creates a workspace and returns (its first key's id, the key).
async fn create_ws(gw: &Gateway, slug: &str, tier: &str) -> (String, String) {
    let r = admin(gw, "POST", "/api/workspaces", Some(json!({"slug": slug, "tier": tier}))).await;
    let d = r.ok(201, Some(slug));
    (d["apiKey"]["id"].as_str().unwrap().to_string(), d["apiKey"]["key"].as_str().unwrap().to_string())
}

fn key_hash(key: &str) -> String {
    hex::encode(layerr::keys::hash_key(key))
}

/// A key must never be shown again after its creation, neither in clear nor as its hash.
fn assert_no_secret(text: &str, key: &str) {
    assert!(!text.contains(key), "the API key leaked: {text}");
    assert!(!text.contains(&key_hash(key)), "the API key's hash leaked: {text}");
    assert!(!text.contains(&key[4..]), "the API key's secret part leaked: {text}");
}

/// True when some object in `v` has a field named `name`.
fn has_field(v: &Value, name: &str) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k == name || has_field(v, name)),
        Value::Array(a) => a.iter().any(|v| has_field(v, name)),
        _ => false,
    }
}

fn slugs(data: &Value) -> Vec<String> {
    data.as_array().unwrap().iter().map(|w| w["slug"].as_str().unwrap().to_string()).collect()
}

fn entries(audit: &Value) -> &Vec<Value> {
    audit["data"].as_array().unwrap()
}

fn actions(audit: &Value) -> Vec<String> {
    entries(audit).iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

fn has_action(audit: &Value, action: &str) -> bool {
    entries(audit).iter().any(|e| e["action"] == action)
}

fn at_of(entry: &Value) -> DateTime<Utc> {
    entry["at"].as_str().unwrap().parse().unwrap()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Runs a scenario on SQLite and on Postgres.
macro_rules! on_both_stores {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Kind::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Kind::Postgres).await
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Create, list, get
// ---------------------------------------------------------------------------------------------

on_both_stores!(create_returns_the_key_once);
async fn create_returns_the_key_once(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let r = admin(
        &gw,
        "POST",
        "/api/workspaces",
        Some(json!({"slug": "acme", "name": "Acme Corp", "description": "the first", "tier": "enterprise", "keyName": "ci"})),
    )
    .await;
    let d = r.ok(201, Some("acme")).clone();
    assert_eq!(d["slug"], "acme");
    assert_eq!(d["id"], "acme");
    assert_eq!(d["name"], "Acme Corp");
    assert_eq!(d["description"], "the first");
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["limits"]["tier"], "enterprise");
    assert_eq!(d["limits"]["effective"], json!({"requestsPerMinute": 2000, "burst": 200}));
    assert_eq!(d["limits"]["overrides"], json!({}));
    assert_eq!(d["runtime"]["timeouts"], json!({"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 120000}));
    assert_eq!(d["restrictions"]["allowedProviders"], json!([]));
    assert!(d["createdAt"].as_str().is_some() && d["updatedAt"].as_str().is_some(), "{d}");

    let k = &d["apiKey"];
    let key = k["key"].as_str().unwrap().to_string();
    let key_id = k["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("lyr_") && key.len() > 30, "{k}");
    assert_eq!(k["prefix"].as_str().unwrap(), &key[..12]);
    assert_eq!(k["name"], "ci");
    assert_eq!(k["workspace"], "acme");
    assert!(k.get("hash").is_none(), "{k}");

    // The key works at once.
    send(&gw, "GET", "/api/workspaces/acme", Some(&key), None).await.ok(200, Some("acme"));

    // And is never shown again: not by the workspace, the list, the keys, the health or the audit.
    let mut seen = Vec::new();
    for path in ["/api/workspaces/acme", "/api/workspaces", "/api/workspaces/acme/keys", "/api/workspaces/acme/health"]
    {
        for k in [ADMIN_KEY, key.as_str()] {
            let r = send(&gw, "GET", path, Some(k), None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert!(!has_field(&r.body["data"], "key") && !has_field(&r.body["data"], "hash"), "{path}: {}", r.body);
            seen.push(r.text());
        }
    }
    let audit = gw.wait_for_audit("?workspace=acme", |v| has_action(v, "ApiKeyIssued")).await;
    seen.push(audit.to_string());
    for text in &seen {
        assert_no_secret(text, &key);
    }
    let listed = admin(&gw, "GET", "/api/workspaces/acme/keys", None).await;
    let listed = listed.ok(200, Some("acme"));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], key_id.as_str());
    assert_eq!(listed[0]["prefix"].as_str().unwrap(), &key[..12]);
    assert_eq!(listed[0]["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_applies_defaults() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "minimal"}))).await;
    let d = r.ok(201, Some("minimal"));
    assert_eq!(d["name"], "minimal");
    assert_eq!(d["description"], Value::Null);
    assert_eq!(d["tier"], "standard");
    assert_eq!(d["limits"]["effective"], json!({"requestsPerMinute": 300, "burst": 50}));
    assert_eq!(d["apiKey"]["name"], "default");
    // Each tier has the spec's quota.
    for (slug, tier, rpm, burst) in [("t-free", "free", 60, 10), ("t-ent", "enterprise", 2000, 200)] {
        let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": slug, "tier": tier}))).await;
        let d = r.ok(201, Some(slug));
        assert_eq!(d["limits"]["effective"], json!({"requestsPerMinute": rpm, "burst": burst}), "{tier}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_duplicate_slug_is_a_conflict_and_changes_nothing() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "dup", "name": "Original"}))).await;
    let key = r.ok(201, Some("dup"))["apiKey"]["key"].as_str().unwrap().to_string();
    for body in [json!({"slug": "dup", "name": "Impostor", "tier": "free"}), json!({"slug": "default"})] {
        let r = admin(&gw, "POST", "/api/workspaces", Some(body)).await;
        r.err(409, "CONFLICT");
    }
    let r = admin(&gw, "GET", "/api/workspaces/dup", None).await;
    let d = r.ok(200, Some("dup"));
    assert_eq!(d["name"], "Original");
    assert_eq!(d["tier"], "standard");
    // No second key was issued and the first still works.
    let keys = admin(&gw, "GET", "/api/workspaces/dup/keys", None).await;
    assert_eq!(keys.ok(200, Some("dup")).as_array().unwrap().len(), 1);
    send(&gw, "GET", "/api/workspaces/dup", Some(&key), None).await.ok(200, Some("dup"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_rejects_bad_slugs_names_and_tiers() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let too_long = "a".repeat(64);
    for slug in ["", "a", "Upper", "has space", "-lead", "trail-", "under_score", "dot.ted", "sl/ash", "ünï", &too_long]
    {
        let r = admin(&gw, "POST", "/api/workspaces", Some(json!({ "slug": slug }))).await;
        let e = r.err(400, "VALIDATION_ERROR");
        assert!(e["message"].as_str().unwrap().contains("slug"), "{slug:?}: {e}");
    }
    // Bounds that are fine.
    for slug in ["ab".to_string(), "a".repeat(63), "a-1-b".to_string(), "123".to_string()] {
        admin(&gw, "POST", "/api/workspaces", Some(json!({ "slug": slug }))).await.ok(201, Some(&slug));
    }
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t1", "tier": "gold"}))).await;
    r.invalid_field("tier");
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t2", "tier": "Free"}))).await;
    r.invalid_field("tier");
    for name in [json!(""), json!("   "), json!("n".repeat(101))] {
        let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t3", "name": name}))).await;
        r.err(400, "VALIDATION_ERROR");
    }
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t4", "description": "d".repeat(1001)}))).await;
    r.err(400, "VALIDATION_ERROR");
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"name": "no slug"}))).await;
    let e = r.err(400, "VALIDATION_ERROR");
    assert!(e["message"].as_str().unwrap().contains("slug"), "{e}");

    // None of the refused workspaces exists.
    let list = admin(&gw, "GET", "/api/workspaces", None).await;
    let mut want = vec!["123".to_string(), "a".repeat(63), "a-1-b".into(), "ab".into(), "default".into()];
    want.sort();
    assert_eq!(slugs(list.ok(200, None)), want);
}

/// A refused create must have no effect: a 400 must not leave a workspace behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_an_invalid_key_name_creates_nothing() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "kn", "keyName": "k".repeat(101)}))).await;
    r.err(400, "VALIDATION_ERROR");
    admin(&gw, "GET", "/api/workspaces/kn", None).await.err(404, "WORKSPACE_NOT_FOUND");
    // Retrying with a good name must then succeed, not answer 409.
    admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "kn", "keyName": "ok"}))).await.ok(201, Some("kn"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_limit_and_cursor() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for s in ["ws-g", "ws-a", "ws-e", "ws-c", "ws-b", "ws-f", "ws-d"] {
        create_ws(&gw, s, "standard").await;
    }
    let mut all: Vec<String> =
        ["default", "ws-a", "ws-b", "ws-c", "ws-d", "ws-e", "ws-f", "ws-g"].map(String::from).into();
    all.sort();

    // Default page: everything, sorted by slug, no next page.
    let r = admin(&gw, "GET", "/api/workspaces", None).await;
    assert_eq!(slugs(r.ok(200, None)), all);
    assert_eq!(r.body["meta"]["page"], json!({"limit": 50, "nextCursor": null}));

    for limit in [1usize, 3, 7, 8, 500] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/workspaces?limit={limit}&cursor={c}"),
                None => format!("/api/workspaces?limit={limit}"),
            };
            let r = admin(&gw, "GET", &path, None).await;
            let page = slugs(r.ok(200, None));
            assert!(page.len() <= limit, "{path}: {page:?}");
            assert_eq!(r.body["meta"]["page"]["limit"], limit);
            seen.extend(page);
            pages += 1;
            match r.body["meta"]["page"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(pages <= all.len(), "paging does not end");
        }
        assert_eq!(seen, all, "limit {limit}: every workspace once, in order");
        assert_eq!(pages, all.len().div_ceil(limit), "limit {limit}: no empty trailing page");
    }

    // A cursor past the end is an empty page.
    let r = admin(&gw, "GET", "/api/workspaces?cursor=zzz", None).await;
    assert_eq!(r.ok(200, None), &json!([]));
    assert_eq!(r.body["meta"]["page"]["nextCursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_unknown_workspace_is_workspace_not_found() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "GET", "/api/workspaces/default", None).await;
    let d = r.ok(200, Some("default"));
    assert_eq!(d["slug"], "default");
    assert_eq!(d["tier"], "standard");
    for sub in ["", "/health", "/limits", "/runtime", "/restrictions", "/keys"] {
        let r = admin(&gw, "GET", &format!("/api/workspaces/ghost{sub}"), None).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
        // Slugs are case-sensitive.
        let r = admin(&gw, "GET", &format!("/api/workspaces/DEFAULT{sub}"), None).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
    }
    for (method, sub, body) in [
        ("PATCH", "", json!({"name": "x"})),
        ("PATCH", "/limits", json!({"tier": "free"})),
        ("PATCH", "/runtime", json!({"fallback": "strict"})),
        ("PATCH", "/restrictions", json!({"allowedModels": ["m"]})),
        ("POST", "/keys", json!({"name": "k"})),
    ] {
        let r = admin(&gw, method, &format!("/api/workspaces/ghost{sub}"), Some(body)).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
    }
    admin(&gw, "DELETE", "/api/workspaces/ghost", None).await.err(404, "WORKSPACE_NOT_FOUND");
    admin(&gw, "DELETE", "/api/workspaces/ghost/keys/key_x", None).await.err(404, "WORKSPACE_NOT_FOUND");
    // Nothing was created by any of that.
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)), ["default"]);
}

// ---------------------------------------------------------------------------------------------
// Patch profile, delete
// ---------------------------------------------------------------------------------------------

on_both_stores!(patch_every_setting);
async fn patch_every_setting(kind: Kind) {
    let gw = Gateway::start(kind).await;
    create_ws(&gw, "tune", "standard").await;
    let before = admin(&gw, "GET", "/api/workspaces/tune", None).await.ok(200, Some("tune")).clone();

    // Profile.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = admin(&gw, "PATCH", "/api/workspaces/tune", Some(json!({"name": "Tuned", "description": "desc"}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!((d["name"].as_str(), d["description"].as_str()), (Some("Tuned"), Some("desc")));
    assert_eq!(d["createdAt"], before["createdAt"]);
    assert!(at_of(&json!({"at": d["updatedAt"]})) > at_of(&json!({"at": before["updatedAt"]})), "{d}");
    let r = admin(&gw, "PATCH", "/api/workspaces/tune", Some(json!({"description": null}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!((d["name"].as_str(), &d["description"]), (Some("Tuned"), &Value::Null));
    let r = admin(&gw, "PATCH", "/api/workspaces/tune", Some(json!({}))).await;
    assert_eq!(r.ok(200, Some("tune"))["name"], "Tuned");

    // Limits.
    let r = admin(&gw, "PATCH", "/api/workspaces/tune/limits", Some(json!({"tier": "enterprise"}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["effective"], json!({"requestsPerMinute": 2000, "burst": 200}));

    // Runtime (nested).
    let r = admin(&gw, "PATCH", "/api/workspaces/tune/runtime", Some(json!({"timeouts": {"totalMs": 60000}}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!(d["timeouts"], json!({"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 60000}));

    // Restrictions.
    let r =
        admin(&gw, "PATCH", "/api/workspaces/tune/restrictions", Some(json!({"blockedProviders": ["ollama"]}))).await;
    assert_eq!(r.ok(200, Some("tune"))["blockedProviders"], json!(["ollama"]));

    // All of it shows on the workspace.
    let d = admin(&gw, "GET", "/api/workspaces/tune", None).await.ok(200, Some("tune")).clone();
    assert_eq!(d["name"], "Tuned");
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["limits"]["effective"]["burst"], 200);
    assert_eq!(d["runtime"]["timeouts"]["totalMs"], 60000);
    assert_eq!(d["restrictions"]["blockedProviders"], json!(["ollama"]));
}

/// The workspace and its keys as the admin sees them.
async fn snapshot(gw: &Gateway, slug: &str) -> Value {
    let mut ws = admin(gw, "GET", &format!("/api/workspaces/{slug}"), None).await.ok(200, Some(slug)).clone();
    ws["keys"] = admin(gw, "GET", &format!("/api/workspaces/{slug}/keys"), None).await.ok(200, Some(slug)).clone();
    ws
}

/// Every change acknowledged before a restart is in force as soon as the gateway serves again:
/// workspaces exist, settings hold, revoked keys stay revoked, deleted workspaces stay deleted.
async fn restart_keeps_every_acknowledged_change(kind: Kind, other_transaction_open: bool) {
    let gw = Gateway::start(kind).await;
    let (early_id, early_key) = create_ws(&gw, "early", "free").await;
    let (_, doomed_key) = create_ws(&gw, "doomed", "free").await;
    // Elsewhere in the Postgres cluster (another database, another application: a report, a
    // backup), a transaction that began before the changes below and is still open.
    let blocker = if other_transaction_open {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&common::pg_url()).await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT pg_current_xact_id();").execute(&mut conn).await.unwrap();
        Some(conn)
    } else {
        None
    };
    create_ws(&gw, "late", "enterprise").await;
    admin(&gw, "PATCH", "/api/workspaces/early/runtime", Some(json!({"fallback": "none"})))
        .await
        .ok(200, Some("early"));
    admin(&gw, "PATCH", "/api/workspaces/late/limits", Some(json!({"overrides": {"burst": 7}})))
        .await
        .ok(200, Some("late"));
    admin(&gw, "DELETE", &format!("/api/workspaces/early/keys/{early_id}"), None).await.ok(200, Some("early"));
    admin(&gw, "DELETE", "/api/workspaces/doomed", None).await.ok(200, Some("doomed"));
    let (early, late) = (snapshot(&gw, "early").await, snapshot(&gw, "late").await);

    let backing = gw.stop().await;
    let config = common::config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    let r = admin(&gw, "GET", "/api/workspaces", None).await;
    assert_eq!(slugs(r.ok(200, None)), ["default", "early", "late"]);
    assert_eq!(snapshot(&gw, "early").await, early);
    assert_eq!(snapshot(&gw, "late").await, late);
    send(&gw, "GET", "/api/workspaces/early", Some(&early_key), None).await.err(401, "UNAUTHORIZED");
    send(&gw, "GET", "/api/workspaces/doomed", Some(&doomed_key), None).await.err(401, "UNAUTHORIZED");
    admin(&gw, "GET", "/api/workspaces/doomed", None).await.err(404, "WORKSPACE_NOT_FOUND");
    if let Some(mut conn) = blocker {
        sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_every_acknowledged_change_sqlite() {
    restart_keeps_every_acknowledged_change(Kind::Sqlite, false).await
}

/// The same on Postgres, made deterministic by holding an unrelated transaction open in the
/// cluster (without it the outcome depends on whatever else runs on the cluster: any open
/// transaction, e.g. a concurrently running test, hides the tail). The feed only returns events of
/// transactions below the cluster-wide snapshot xmin, and `server::start` serves as soon as its
/// catch-up read of that visible part returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_every_acknowledged_change_postgres_with_a_long_transaction_open() {
    restart_keeps_every_acknowledged_change(Kind::Postgres, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_profile_validates() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "prof", "standard").await;
    for (body, field) in [
        (json!({"name": 5}), Some("name")),
        (json!({"description": ["x"]}), Some("description")),
        (json!({"tier": "free"}), Some("tier")),
        (json!({"slug": "other"}), Some("slug")),
        (json!({"name": ""}), None),
        (json!({"name": "   "}), None),
        (json!({"name": "n".repeat(101)}), None),
        (json!({"description": "d".repeat(1001)}), None),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/prof", Some(body.clone())).await;
        match field {
            Some(f) => r.invalid_field(f),
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/prof", None).await.ok(200, Some("prof")).clone();
    assert_eq!(
        (d["name"].as_str(), &d["description"], d["tier"].as_str()),
        (Some("prof"), &Value::Null, Some("standard"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_workspace_then_recreate() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (old_id, old_key) = create_ws(&gw, "doomed", "free").await;
    let r = admin(&gw, "POST", "/api/workspaces/doomed/keys", Some(json!({"name": "second"}))).await;
    let second = r.ok(201, Some("doomed"))["key"].as_str().unwrap().to_string();
    admin(&gw, "PATCH", "/api/workspaces/doomed/runtime", Some(json!({"fallback": "none"})))
        .await
        .ok(200, Some("doomed"));
    send(&gw, "GET", "/api/workspaces/doomed", Some(&old_key), None).await.ok(200, Some("doomed"));

    let r = admin(&gw, "DELETE", "/api/workspaces/doomed", None).await;
    assert_eq!(
        r.ok(200, Some("doomed")),
        &json!({"slug": "doomed", "deleted": true, "removed": {"providers": 0, "strategies": 0}})
    );

    // Gone from every route.
    for sub in ["", "/health", "/limits", "/runtime", "/restrictions", "/keys"] {
        admin(&gw, "GET", &format!("/api/workspaces/doomed{sub}"), None).await.err(404, "WORKSPACE_NOT_FOUND");
    }
    for (method, sub, body) in [
        ("PATCH", "", Some(json!({"name": "x"}))),
        ("PATCH", "/limits", Some(json!({"tier": "free"}))),
        ("PATCH", "/runtime", Some(json!({"fallback": "strict"}))),
        ("PATCH", "/restrictions", Some(json!({"allowedModels": ["m"]}))),
        ("POST", "/keys", Some(json!({}))),
        ("DELETE", "", None),
    ] {
        admin(&gw, method, &format!("/api/workspaces/doomed{sub}"), body).await.err(404, "WORKSPACE_NOT_FOUND");
    }
    admin(&gw, "DELETE", &format!("/api/workspaces/doomed/keys/{old_id}"), None).await.err(404, "WORKSPACE_NOT_FOUND");
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)), ["default"]);

    // Its keys stop working at once.
    for key in [&old_key, &second] {
        send(&gw, "GET", "/api/workspaces/doomed", Some(key), None).await.err(401, "UNAUTHORIZED");
        send(&gw, "GET", "/api/workspaces", Some(key), None).await.err(401, "UNAUTHORIZED");
    }

    // The slug can be created again: a new life with default settings and only new keys.
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "doomed", "tier": "enterprise"}))).await;
    let d = r.ok(201, Some("doomed")).clone();
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["runtime"]["fallback"], "relaxed");
    let new_key = d["apiKey"]["key"].as_str().unwrap();
    let new_id = d["apiKey"]["id"].as_str().unwrap();
    send(&gw, "GET", "/api/workspaces/doomed", Some(new_key), None).await.ok(200, Some("doomed"));
    for key in [&old_key, &second] {
        send(&gw, "GET", "/api/workspaces/doomed", Some(key), None).await.err(401, "UNAUTHORIZED");
    }
    let keys = admin(&gw, "GET", "/api/workspaces/doomed/keys", None).await;
    let keys = keys.ok(200, Some("doomed")).as_array().unwrap().clone();
    let active: Vec<_> = keys.iter().filter(|k| k["status"] == "active").map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(active, [new_id], "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_workspace_cannot_be_deleted() {
    let gw = Gateway::start(Kind::Sqlite).await;
    admin(&gw, "DELETE", "/api/workspaces/default", None).await.err(409, "CONFLICT");
    admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default"));
}

// ---------------------------------------------------------------------------------------------
// Health, limits, runtime, restrictions
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_health_reports_keys_and_rate_limit_state() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_id, key) = create_ws(&gw, "hl", "free").await;
    let d = admin(&gw, "GET", "/api/workspaces/hl/health", None).await.ok(200, Some("hl")).clone();
    assert_eq!(d["slug"], "hl");
    assert_eq!(d["status"], "healthy");
    assert_eq!(d["keys"], json!({"active": 1, "revoked": 0}));
    assert_eq!(d["rateLimit"]["status"], "ok");
    assert_eq!(d["rateLimit"]["limit"], json!({"requestsPerMinute": 60, "burst": 10}));
    assert_eq!(d["rateLimit"]["usage"]["remainingBurst"], 10);
    assert_eq!(d["runtime"]["fallback"], "relaxed");
    assert_eq!(d["restrictions"]["blockedProviders"], 0);

    // Exhaust the burst with the workspace's key: the admin sees it throttled.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(send(&gw, "GET", "/api/workspaces/hl/runtime", Some(&key), None).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    let d = admin(&gw, "GET", "/api/workspaces/hl/health", None).await.ok(200, Some("hl")).clone();
    assert_eq!(d["rateLimit"]["status"], "throttled", "{d}");
    assert_eq!(d["status"], "degraded", "{d}");
    assert_eq!(d["rateLimit"]["usage"]["remainingBurst"], 0, "{d}");
    let limits = admin(&gw, "GET", "/api/workspaces/hl/limits", None).await.ok(200, Some("hl")).clone();
    assert_eq!(
        limits["usage"]["requestsThisMinute"].as_u64().unwrap()
            + limits["usage"]["rejectedThisMinute"].as_u64().unwrap(),
        11,
        "{limits}"
    );

    // With its only key revoked it has no active keys.
    admin(&gw, "DELETE", &format!("/api/workspaces/hl/keys/{key_id}"), None).await.ok(200, Some("hl"));
    let d = admin(&gw, "GET", "/api/workspaces/hl/health", None).await.ok(200, Some("hl")).clone();
    assert_eq!(d["status"], "no_active_keys");
    assert_eq!(d["keys"], json!({"active": 0, "revoked": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_tier_and_overrides() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "lim", "standard").await;
    let d = admin(&gw, "GET", "/api/workspaces/lim/limits", None).await.ok(200, Some("lim")).clone();
    assert_eq!(d["tier"], "standard");
    assert_eq!(d["effective"], json!({"requestsPerMinute": 300, "burst": 50}));
    assert_eq!(d["overrides"], json!({}));
    assert_eq!(d["usage"], json!({"requestsThisMinute": 0, "rejectedThisMinute": 0, "remainingBurst": 50}));

    let steps = [
        (json!({"tier": "free"}), "free", json!({}), (60, 10)),
        (json!({"tier": "enterprise"}), "enterprise", json!({}), (2000, 200)),
        (json!({"overrides": {"burst": 7}}), "enterprise", json!({"burst": 7}), (2000, 7)),
        (
            json!({"overrides": {"requestsPerMinute": 120}}),
            "enterprise",
            json!({"burst": 7, "requestsPerMinute": 120}),
            (120, 7),
        ),
        (json!({"tier": "free"}), "free", json!({"burst": 7, "requestsPerMinute": 120}), (120, 7)),
        (json!({"overrides": {"burst": null}}), "free", json!({"requestsPerMinute": 120}), (120, 10)),
        (json!({"overrides": {}}), "free", json!({"requestsPerMinute": 120}), (120, 10)),
        (json!({"overrides": {"requestsPerMinute": null}}), "free", json!({}), (60, 10)),
        (json!({}), "free", json!({}), (60, 10)),
    ];
    for (patch, tier, overrides, (rpm, burst)) in steps {
        let r = admin(&gw, "PATCH", "/api/workspaces/lim/limits", Some(patch.clone())).await;
        let d = r.ok(200, Some("lim")).clone();
        let effective = json!({"requestsPerMinute": rpm, "burst": burst});
        assert_eq!((&d["tier"], &d["overrides"], &d["effective"]), (&json!(tier), &overrides, &effective), "{patch}");
        let got = admin(&gw, "GET", "/api/workspaces/lim/limits", None).await.ok(200, Some("lim")).clone();
        assert_eq!(got["effective"], effective, "{patch}");
        let ws = admin(&gw, "GET", "/api/workspaces/lim", None).await.ok(200, Some("lim")).clone();
        assert_eq!((&ws["tier"], &ws["limits"]["effective"]), (&json!(tier), &effective), "{patch}");
    }

    for (patch, field) in [
        (json!({"tier": "gold"}), Some("tier")),
        (json!({"tier": 1}), Some("tier")),
        (json!({"overrides": {"burst": -1}}), Some("overrides.burst")),
        (json!({"overrides": {"burst": 1.5}}), Some("overrides.burst")),
        (json!({"overrides": {"burst": "5"}}), Some("overrides.burst")),
        (json!({"overrides": {"rpm": 5}}), Some("overrides.rpm")),
        (json!({"overrides": 5}), Some("overrides")),
        (json!({"burst": 5}), Some("burst")),
        (json!({"overrides": {"burst": 0}}), None),
        (json!({"overrides": {"requestsPerMinute": 0}}), None),
        (json!({"overrides": {"burst": 1_000_001}}), None),
        (json!({"overrides": {"requestsPerMinute": 10_000_001}}), None),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/lim/limits", Some(patch.clone())).await;
        match field {
            Some(f) => r.invalid_field(f),
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/lim/limits", None).await.ok(200, Some("lim")).clone();
    assert_eq!((&d["tier"], &d["overrides"]), (&json!("free"), &json!({})), "refused patches change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_nested_patch_and_invalid_combinations() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "rt", "standard").await;
    let d = admin(&gw, "GET", "/api/workspaces/rt/runtime", None).await.ok(200, Some("rt")).clone();
    assert_eq!(
        d,
        json!({
            "timeouts": {"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 120000},
            "retries": {"maxAttempts": 2, "backoffBaseMs": 100, "backoffMaxMs": 2000},
            "fallback": "relaxed",
            "contentCapture": "metadata"
        })
    );

    let r = admin(&gw, "PATCH", "/api/workspaces/rt/runtime", Some(json!({"timeouts": {"totalMs": 60000}}))).await;
    assert_eq!(r.ok(200, Some("rt"))["timeouts"], json!({"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 60000}));
    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/rt/runtime",
        Some(json!({"retries": {"maxAttempts": 5}, "fallback": "strict", "contentCapture": "full"})),
    )
    .await;
    let want = json!({
        "timeouts": {"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 60000},
        "retries": {"maxAttempts": 5, "backoffBaseMs": 100, "backoffMaxMs": 2000},
        "fallback": "strict",
        "contentCapture": "full"
    });
    assert_eq!(r.ok(200, Some("rt")), &want);

    for (patch, field) in [
        // Invalid combinations and ranges.
        (json!({"timeouts": {"connectMs": 70000}}), None),
        (json!({"timeouts": {"firstTokenMs": 60001}}), None),
        (json!({"timeouts": {"totalMs": 4000}}), None),
        (json!({"timeouts": {"totalMs": 0}}), None),
        (json!({"timeouts": {"totalMs": 3_600_001}}), None),
        (json!({"timeouts": {"connectMs": 0}}), None),
        (json!({"retries": {"maxAttempts": 0}}), None),
        (json!({"retries": {"maxAttempts": 11}}), None),
        (json!({"retries": {"backoffBaseMs": 3000}}), None),
        (json!({"retries": {"backoffBaseMs": 60001, "backoffMaxMs": 600000}}), None),
        (json!({"retries": {"backoffMaxMs": 600001}}), None),
        // Wrong types and unknown fields, nested too.
        (json!({"timeouts": {"bogus": 1}}), Some("timeouts.bogus")),
        (json!({"timeouts": {"totalMs": "60000"}}), Some("timeouts.totalMs")),
        (json!({"timeouts": {"totalMs": -1}}), Some("timeouts.totalMs")),
        (json!({"timeouts": 5}), Some("timeouts")),
        (json!({"retries": {"maxAttempts": true}}), Some("retries.maxAttempts")),
        (json!({"retries": {"jitter": true}}), Some("retries.jitter")),
        (json!({"fallback": "sometimes"}), Some("fallback")),
        (json!({"contentCapture": "all"}), Some("contentCapture")),
        (json!({"strategy": "quality"}), Some("strategy")),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/rt/runtime", Some(patch.clone())).await;
        match field {
            Some(f) => r.invalid_field(f),
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/rt/runtime", None).await.ok(200, Some("rt")).clone();
    assert_eq!(d, want, "refused patches change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restrictions_lists_replace_and_validate() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "rs", "standard").await;
    let empty = json!({"allowedProviders": [], "blockedProviders": [], "allowedModels": [], "blockedModels": []});
    assert_eq!(admin(&gw, "GET", "/api/workspaces/rs/restrictions", None).await.ok(200, Some("rs")), &empty);

    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/rs/restrictions",
        Some(json!({"allowedProviders": ["openai", "anthropic"], "blockedModels": ["gpt-3.5"]})),
    )
    .await;
    let want = json!({"allowedProviders": ["openai", "anthropic"], "blockedProviders": [], "allowedModels": [], "blockedModels": ["gpt-3.5"]});
    assert_eq!(r.ok(200, Some("rs")), &want);
    // A list given replaces the old one; lists not given stay.
    let r = admin(&gw, "PATCH", "/api/workspaces/rs/restrictions", Some(json!({"allowedProviders": ["ollama"]}))).await;
    let want = json!({"allowedProviders": ["ollama"], "blockedProviders": [], "allowedModels": [], "blockedModels": ["gpt-3.5"]});
    assert_eq!(r.ok(200, Some("rs")), &want);

    let many: Vec<String> = (0..501).map(|i| format!("m{i}")).collect();
    for (patch, field) in [
        (json!({"blockedProviders": ["ollama"]}), None),
        (json!({"allowedModels": ["m", "m"]}), None),
        (json!({"allowedModels": ["  "]}), None),
        (json!({"allowedModels": [""]}), None),
        (json!({"blockedModels": ["x".repeat(201)]}), None),
        (json!({"blockedModels": many}), None),
        (json!({"allowedModels": ["a"], "blockedModels": ["a"]}), None),
        (json!({"allowedProviders": "openai"}), Some("allowedProviders")),
        (json!({"allowedModels": [1]}), Some("allowedModels[0]")),
        (json!({"blockedModel": ["x"]}), Some("blockedModel")),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/rs/restrictions", Some(patch.clone())).await;
        match field {
            Some(f) => r.invalid_field(f),
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    assert_eq!(admin(&gw, "GET", "/api/workspaces/rs/restrictions", None).await.ok(200, Some("rs")), &want);
    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/rs/restrictions",
        Some(json!({"allowedProviders": [], "blockedModels": []})),
    )
    .await;
    assert_eq!(r.ok(200, Some("rs")), &empty);
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_issue_list_and_revoke() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (first_id, first) = create_ws(&gw, "keys", "enterprise").await;
    let (other_id, other) = create_ws(&gw, "other", "enterprise").await;

    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": "ci"}))).await;
    let k = r.ok(201, Some("keys")).clone();
    let ci = k["key"].as_str().unwrap().to_string();
    let ci_id = k["id"].as_str().unwrap().to_string();
    assert!(ci.starts_with("lyr_") && ci != first, "{k}");
    assert_eq!((k["name"].as_str(), k["workspace"].as_str()), (Some("ci"), Some("keys")));
    assert_eq!(k["prefix"].as_str().unwrap(), &ci[..12]);
    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({}))).await;
    let unnamed = r.ok(201, Some("keys")).clone();
    assert_eq!(unnamed["name"], "default");
    send(&gw, "GET", "/api/workspaces/keys", Some(&ci), None).await.ok(200, Some("keys"));

    // The list: ids, names, prefixes and status; never a key or a hash.
    let r = admin(&gw, "GET", "/api/workspaces/keys/keys", None).await;
    let list = r.ok(200, Some("keys")).as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    let ids: Vec<_> = list.iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first_id.as_str(), ci_id.as_str(), unnamed["id"].as_str().unwrap()]);
    for k in &list {
        assert_eq!(k["status"], "active");
        assert_eq!(k["workspace"], "keys");
        assert_eq!(k["revokedAt"], Value::Null);
        assert!(k["prefix"].as_str().unwrap().starts_with("lyr_"), "{k}");
        assert!(k["createdAt"].as_str().is_some(), "{k}");
        assert!(k.get("key").is_none() && k.get("hash").is_none(), "{k}");
    }
    for key in [first.as_str(), ci.as_str(), unnamed["key"].as_str().unwrap()] {
        assert_no_secret(&r.text(), key);
    }

    // Revocation takes effect for the very next request.
    let r = admin(&gw, "DELETE", &format!("/api/workspaces/keys/keys/{ci_id}"), None).await;
    let d = r.ok(200, Some("keys")).clone();
    assert_eq!((d["id"].as_str(), d["status"].as_str()), (Some(ci_id.as_str()), Some("revoked")));
    assert!(d["revokedAt"].as_str().is_some(), "{d}");
    assert!(d.get("key").is_none() && d.get("hash").is_none(), "{d}");
    send(&gw, "GET", "/api/workspaces/keys", Some(&ci), None).await.err(401, "UNAUTHORIZED");
    send(&gw, "GET", "/api/workspaces/keys", Some(&first), None).await.ok(200, Some("keys"));
    let list = admin(&gw, "GET", "/api/workspaces/keys/keys", None).await;
    let list = list.ok(200, Some("keys")).as_array().unwrap().clone();
    let status: Vec<_> = list.iter().map(|k| (k["id"].as_str().unwrap(), k["status"].as_str().unwrap())).collect();
    assert!(
        status.contains(&(ci_id.as_str(), "revoked")) && status.contains(&(first_id.as_str(), "active")),
        "{status:?}"
    );

    // Revoking twice is harmless; unknown ids and other workspaces' keys are not found here.
    admin(&gw, "DELETE", &format!("/api/workspaces/keys/keys/{ci_id}"), None).await.ok(200, Some("keys"));
    send(&gw, "GET", "/api/workspaces/keys", Some(&ci), None).await.err(401, "UNAUTHORIZED");
    admin(&gw, "DELETE", "/api/workspaces/keys/keys/key_nope", None).await.err(404, "NOT_FOUND");
    admin(&gw, "DELETE", &format!("/api/workspaces/keys/keys/{other_id}"), None).await.err(404, "NOT_FOUND");
    send(&gw, "GET", "/api/workspaces/other", Some(&other), None).await.ok(200, Some("other"));

    // Bad key bodies.
    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": 5}))).await;
    r.invalid_field("name");
    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": "k", "scope": "all"}))).await;
    r.invalid_field("scope");
    admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": "k".repeat(101)})))
        .await
        .err(400, "VALIDATION_ERROR");
    send_raw(&gw, "POST", "/api/workspaces/keys/keys", Some(ADMIN_KEY), "{").await.err(400, "VALIDATION_ERROR");
    let list = admin(&gw, "GET", "/api/workspaces/keys/keys", None).await;
    assert_eq!(list.ok(200, Some("keys")).as_array().unwrap().len(), 3, "refused requests issue no key");

    // The body is optional: none at all issues a key named "default".
    let r = send(&gw, "POST", "/api/workspaces/keys/keys", Some(ADMIN_KEY), None).await;
    let k = r.ok(201, Some("keys")).clone();
    assert_eq!(k["name"], "default");
    send(&gw, "GET", "/api/workspaces/keys", k["key"].as_str(), None).await.ok(200, Some("keys"));
}

// ---------------------------------------------------------------------------------------------
// Envelopes, request ids, bad input
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_on_every_response_and_echoed() {
    let gw = Gateway::start(Kind::Sqlite).await;
    // A sane incoming id is kept, in the header and in meta.
    let r =
        send_with(&gw, "GET", "/api/workspaces/default", Some(ADMIN_KEY), &[("x-request-id", "trace-abc_1.2:3")], None)
            .await;
    r.ok(200, Some("default"));
    assert_eq!(r.header("x-request-id"), Some("trace-abc_1.2:3"));
    // Errors keep it too.
    let r =
        send_with(&gw, "GET", "/api/workspaces/ghost", Some(ADMIN_KEY), &[("x-request-id", "trace-404")], None).await;
    r.err(404, "WORKSPACE_NOT_FOUND");
    assert_eq!(r.header("x-request-id"), Some("trace-404"));
    let r = send_with(&gw, "GET", "/api/workspaces", None, &[("x-request-id", "trace-401")], None).await;
    r.err(401, "UNAUTHORIZED");
    assert_eq!(r.header("x-request-id"), Some("trace-401"));
    // An unusable one is replaced.
    let long = "x".repeat(200);
    for bad in ["has space", "semi;colon", long.as_str()] {
        let r = send_with(&gw, "GET", "/api/health", None, &[("x-request-id", bad)], None).await;
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

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_slug_admit_exactly_one() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let results = futures::future::join_all(
        (0..8).map(|i| admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "race", "name": format!("n{i}")})))),
    )
    .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        r.err(409, "CONFLICT");
    }
    assert_eq!(created, 1);
    let keys = admin(&gw, "GET", "/api/workspaces/race/keys", None).await;
    assert_eq!(keys.ok(200, Some("race")).as_array().unwrap().len(), 1, "one key, for the one create that won");

    // Distinct slugs at once all succeed.
    let results = futures::future::join_all(
        (0..8).map(|i| admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": format!("par-{i}")})))),
    )
    .await;
    for r in &results {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_one_workspace_never_fail_inside() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "busy", "standard").await;
    let results = futures::future::join_all((0..10u64).map(|i| {
        let gw = &gw;
        async move {
            let body = json!({"timeouts": {"totalMs": 60_000 + i}});
            (i, admin(gw, "PATCH", "/api/workspaces/busy/runtime", Some(body)).await)
        }
    }))
    .await;
    let mut applied = HashSet::new();
    for (i, r) in &results {
        match r.status {
            200 => {
                applied.insert(60_000 + i);
            }
            _ => {
                r.err(409, "CONFLICT");
            }
        }
    }
    assert!(!applied.is_empty());
    let d = admin(&gw, "GET", "/api/workspaces/busy/runtime", None).await.ok(200, Some("busy")).clone();
    assert!(applied.contains(&d["timeouts"]["totalMs"].as_u64().unwrap()), "{d} not one of {applied:?}");
}

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

on_both_stores!(audit_records_every_change);
async fn audit_records_every_change(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "aud", "tier": "standard"}))).await;
    let created_rid = r.header("x-request-id").unwrap().to_string();
    let d = r.ok(201, Some("aud")).clone();
    let (key_id, key) =
        (d["apiKey"]["id"].as_str().unwrap().to_string(), d["apiKey"]["key"].as_str().unwrap().to_string());

    // A change made with the workspace's own key is attributed to that key.
    let r =
        send(&gw, "PATCH", "/api/workspaces/aud/runtime", Some(&key), Some(json!({"timeouts": {"totalMs": 60000}})))
            .await;
    r.ok(200, Some("aud"));
    let runtime_rid = r.header("x-request-id").unwrap().to_string();
    send(&gw, "PATCH", "/api/workspaces/aud", Some(&key), Some(json!({"name": "Audited"}))).await.ok(200, Some("aud"));
    admin(&gw, "PATCH", "/api/workspaces/aud/limits", Some(json!({"tier": "free", "overrides": {"burst": 3}})))
        .await
        .ok(200, Some("aud"));
    admin(&gw, "PATCH", "/api/workspaces/aud/restrictions", Some(json!({"blockedModels": ["m1"]})))
        .await
        .ok(200, Some("aud"));
    let r = admin(&gw, "POST", "/api/workspaces/aud/keys", Some(json!({"name": "second"}))).await;
    let k2 = r.ok(201, Some("aud")).clone();
    let (k2_id, k2_key) = (k2["id"].as_str().unwrap().to_string(), k2["key"].as_str().unwrap().to_string());
    admin(&gw, "DELETE", &format!("/api/workspaces/aud/keys/{k2_id}"), None).await.ok(200, Some("aud"));
    admin(&gw, "DELETE", "/api/workspaces/aud", None).await.ok(200, Some("aud"));
    // Refused and no-op changes leave no trace.
    admin(&gw, "PATCH", "/api/workspaces/default/runtime", Some(json!({"retries": {"maxAttempts": 0}})))
        .await
        .err(400, "VALIDATION_ERROR");
    admin(&gw, "PATCH", "/api/workspaces/default/runtime", Some(json!({"fallback": "relaxed"})))
        .await
        .ok(200, Some("default"));
    admin(&gw, "PATCH", "/api/workspaces/default/runtime", Some(json!({"fallback": "strict"})))
        .await
        .ok(200, Some("default"));

    let audit = gw
        .wait_for_audit("", |v| {
            entries(v).iter().any(|e| e["workspace"] == "default" && e["action"] == "RuntimeProfileChanged")
        })
        .await;
    let audit = &audit;
    let mine = gw.wait_for_audit("?workspace=aud", |v| has_action(v, "WorkspaceDeleted")).await;
    assert_eq!(mine["meta"]["workspaceId"], "aud");
    assert_eq!(
        actions(&mine),
        [
            "WorkspaceDeleted",
            "ApiKeyRevoked",
            "ApiKeyIssued",
            "RestrictionsChanged",
            "LimitsChanged",
            "ProfileUpdated",
            "RuntimeProfileChanged",
            "ApiKeyIssued",
            "WorkspaceCreated",
        ],
        "newest first, one entry per change"
    );
    let by =
        |action: &str| -> Vec<Value> { entries(&mine).iter().filter(|e| e["action"] == action).cloned().collect() };
    for e in entries(&mine) {
        assert_eq!(e["workspace"], "aud", "{e}");
        assert_eq!(e["aggregateType"], "Workspace", "{e}");
        assert_eq!(e["aggregateId"], "aud", "{e}");
        assert!(e["id"].as_i64().is_some() && e["at"].as_str().is_some(), "{e}");
        let actor = if matches!(e["action"].as_str(), Some("RuntimeProfileChanged" | "ProfileUpdated")) {
            key_id.as_str()
        } else {
            "env-admin"
        };
        assert_eq!(e["actor"], actor, "{e}");
    }

    let created = &by("WorkspaceCreated")[0];
    assert_eq!(created["before"], Value::Null);
    assert_eq!(created["after"]["slug"], "aud");
    assert_eq!(created["after"]["limits"]["tier"], "standard");
    assert_eq!(created["requestId"], created_rid.as_str());

    let rt = &by("RuntimeProfileChanged")[0];
    assert_eq!(rt["before"]["timeouts"]["totalMs"], 120000);
    assert_eq!(rt["after"]["timeouts"]["totalMs"], 60000);
    assert_eq!(rt["after"]["fallback"], "relaxed");
    assert_eq!(rt["requestId"], runtime_rid.as_str(), "the entry names the request that made the change");

    let prof = &by("ProfileUpdated")[0];
    assert_eq!((&prof["before"]["name"], &prof["after"]["name"]), (&json!("aud"), &json!("Audited")));

    let lim = &by("LimitsChanged")[0];
    assert_eq!(lim["before"], json!({"tier": "standard", "overrides": {}}));
    assert_eq!(lim["after"], json!({"tier": "free", "overrides": {"burst": 3}}));

    let rs = &by("RestrictionsChanged")[0];
    assert_eq!(rs["before"]["blockedModels"], json!([]));
    assert_eq!(rs["after"]["blockedModels"], json!(["m1"]));

    // Key entries show the key's id and prefix, never the key or its hash.
    let issued = by("ApiKeyIssued");
    let issued_ids: BTreeSet<_> =
        issued.iter().map(|e| e["after"]["key"]["keyId"].as_str().unwrap().to_string()).collect();
    assert_eq!(issued_ids, BTreeSet::from([key_id.clone(), k2_id.clone()]));
    for e in &issued {
        assert!(!has_field(e, "hash"), "{e}");
        assert!(e["after"]["key"]["prefix"].as_str().unwrap().starts_with("lyr_"), "{e}");
    }
    for k in [&key, &k2_key] {
        assert_no_secret(&mine.to_string(), k);
        assert_no_secret(&audit.to_string(), k);
    }
    assert_eq!(by("ApiKeyRevoked")[0]["after"], json!({"keyId": k2_id}));

    // On default: exactly one runtime change (the refused and the no-op patches left none).
    let default_rt: Vec<_> = entries(audit)
        .iter()
        .filter(|e| e["workspace"] == "default" && e["action"] == "RuntimeProfileChanged")
        .collect();
    assert_eq!(default_rt.len(), 1, "{default_rt:?}");
    assert_eq!(default_rt[0]["after"]["fallback"], "strict");
    // The default workspace was created by the system at first start.
    let first = entries(audit).last().unwrap();
    assert_eq!(
        (first["action"].as_str(), first["actor"].as_str(), first["workspace"].as_str()),
        (Some("WorkspaceCreated"), Some("system"), Some("default"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_by_workspace_actor_action_and_time() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_a_id, key_a) = create_ws(&gw, "fa", "standard").await;
    create_ws(&gw, "fb", "standard").await;
    send(&gw, "PATCH", "/api/workspaces/fa/runtime", Some(&key_a), Some(json!({"fallback": "none"})))
        .await
        .ok(200, Some("fa"));
    admin(&gw, "PATCH", "/api/workspaces/fb/limits", Some(json!({"tier": "enterprise"}))).await.ok(200, Some("fb"));
    gw.wait_for_audit("", |v| has_action(v, "LimitsChanged")).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    admin(&gw, "PATCH", "/api/workspaces/fa", Some(json!({"name": "Later"}))).await.ok(200, Some("fa"));
    let all = gw.wait_for_audit("?limit=1000", |v| has_action(v, "ProfileUpdated")).await;
    let all = entries(&all).clone();
    assert_eq!(all.len(), 8, "{all:?}");

    let get = |q: String| {
        let gw = &gw;
        async move {
            let r = admin(gw, "GET", &format!("/api/admin/audit?{q}"), None).await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.body
        }
    };
    let ids = |v: &Value| -> Vec<i64> { entries(v).iter().map(|e| e["id"].as_i64().unwrap()).collect() };
    let want = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        all.iter().filter(|e| pred(e)).map(|e| e["id"].as_i64().unwrap()).collect()
    };

    let v = get("workspace=fa".into()).await;
    assert_eq!(v["meta"]["workspaceId"], "fa");
    assert_eq!(ids(&v), want(&|e| e["workspace"] == "fa"));
    assert_eq!(actions(&v), ["ProfileUpdated", "RuntimeProfileChanged", "ApiKeyIssued", "WorkspaceCreated"]);

    let v = get(format!("actor={key_a_id}")).await;
    assert_eq!(actions(&v), ["RuntimeProfileChanged"]);
    assert_eq!(entries(&v)[0]["workspace"], "fa");

    let v = get("actor=env-admin".into()).await;
    assert_eq!(ids(&v), want(&|e| e["actor"] == "env-admin"));
    assert_eq!(ids(&v).len(), 6);

    let v = get("action=LimitsChanged".into()).await;
    assert_eq!(ids(&v), want(&|e| e["action"] == "LimitsChanged"));
    assert_eq!(entries(&v)[0]["workspace"], "fb");

    let v = get("workspace=fb&action=ApiKeyIssued&actor=env-admin".into()).await;
    assert_eq!(ids(&v), want(&|e| e["workspace"] == "fb" && e["action"] == "ApiKeyIssued"));
    assert_eq!(ids(&v).len(), 1);
    for q in ["workspace=fb&action=RuntimeProfileChanged", "workspace=nope", "actor=nobody", "action=Nothing"] {
        assert_eq!(entries(&get(q.into()).await).len(), 0, "{q}");
    }

    // Time bounds are inclusive, to the millisecond.
    let later = at_of(all.iter().find(|e| e["action"] == "ProfileUpdated").unwrap());
    let earlier = all.iter().filter(|e| e["action"] != "ProfileUpdated").map(at_of).max().unwrap();
    assert!(earlier < later);
    type Pred = Box<dyn Fn(DateTime<Utc>) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (format!("from={}", rfc3339(later)), Box::new(move |t: DateTime<Utc>| t >= later)),
        (format!("to={}", rfc3339(earlier)), Box::new(move |t: DateTime<Utc>| t <= earlier)),
        (
            format!("from={}&to={}", rfc3339(earlier), rfc3339(later)),
            Box::new(move |t: DateTime<Utc>| earlier <= t && t <= later),
        ),
        (
            format!("to={}", rfc3339(later - chrono::Duration::milliseconds(1))),
            Box::new(move |t: DateTime<Utc>| t < later),
        ),
        ("from=2000-01-01T00:00:00%2B01:00".to_string(), Box::new(|_: DateTime<Utc>| true)),
        ("from=2999-01-01T00:00:00Z".to_string(), Box::new(|_: DateTime<Utc>| false)),
        ("to=2000-01-01T00:00:00Z".to_string(), Box::new(|_: DateTime<Utc>| false)),
    ];
    for (q, pred) in cases {
        let v = get(q.clone()).await;
        assert_eq!(ids(&v), want(&|e| pred(at_of(e))), "{q}");
    }
    let v = get(format!("workspace=fa&from={}", rfc3339(later))).await;
    assert_eq!(actions(&v), ["ProfileUpdated"]);

    admin(&gw, "GET", "/api/admin/audit?from=not-a-time", None).await.invalid_field("from");
    admin(&gw, "GET", "/api/admin/audit?to=2026-01-15T25:00:00Z", None).await.invalid_field("to");
}

on_both_stores!(audit_paging_walks_every_entry_once);
async fn audit_paging_walks_every_entry_once(kind: Kind) {
    let gw = Gateway::start(kind).await;
    for i in 0..4 {
        let slug = format!("pg-{i}");
        create_ws(&gw, &slug, "standard").await;
        for total in [50_000, 60_000] {
            let body = json!({"timeouts": {"totalMs": total + i}});
            admin(&gw, "PATCH", &format!("/api/workspaces/{slug}/runtime"), Some(body)).await.ok(200, Some(&slug));
        }
    }
    // 1 (default) + 4 × (created, key issued, 2 runtime changes)
    let total = 17;
    let all = gw.wait_for_audit("?limit=1000", |v| entries(v).len() >= total).await;
    let all: Vec<i64> = entries(&all).iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(all.len(), total);
    assert_eq!(
        admin(&gw, "GET", "/api/admin/audit", None).await.ok(200, None).as_array().unwrap().len(),
        total,
        "default limit 100"
    );

    for limit in [1usize, 4, 16, 17, 100] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut last_at: Option<DateTime<Utc>> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("/api/admin/audit?limit={limit}&cursor={c}"),
                None => format!("/api/admin/audit?limit={limit}"),
            };
            let r = admin(&gw, "GET", &q, None).await;
            let page = r.ok(200, None).as_array().unwrap().clone();
            assert!(page.len() <= limit && !page.is_empty(), "{q}: {page:?}");
            assert_eq!(r.body["meta"]["page"]["limit"], limit);
            for e in &page {
                let at = at_of(e);
                assert!(last_at.is_none_or(|l| at <= l), "newest first");
                last_at = Some(at);
                seen.push(e["id"].as_i64().unwrap());
            }
            match r.body["meta"]["page"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(seen.len() <= total, "paging does not end");
        }
        assert_eq!(seen, all, "limit {limit}: every entry exactly once, in order");
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), total);
    }

    // Paging composes with filters.
    let mut seen = Vec::new();
    let mut q = "/api/admin/audit?workspace=pg-2&limit=1".to_string();
    loop {
        let r = admin(&gw, "GET", &q, None).await;
        let page = r.ok(200, Some("pg-2")).as_array().unwrap().clone();
        seen.extend(page.iter().map(|e| e["action"].as_str().unwrap().to_string()));
        match r.body["meta"]["page"]["nextCursor"].as_str() {
            Some(c) => q = format!("/api/admin/audit?workspace=pg-2&limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["RuntimeProfileChanged", "RuntimeProfileChanged", "ApiKeyIssued", "WorkspaceCreated"]);
}

/// The API speaks camelCase everywhere (`after.key.keyId` for an issued key); the audit entry of a
/// revoked key should too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_use_camel_case_field_names() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_id, _) = create_ws(&gw, "cc", "standard").await;
    admin(&gw, "DELETE", &format!("/api/workspaces/cc/keys/{key_id}"), None).await.ok(200, Some("cc"));
    let audit = gw.wait_for_audit("?action=ApiKeyRevoked", |v| !entries(v).is_empty()).await;
    let after = &entries(&audit)[0]["after"];
    assert_eq!(after, &json!({"keyId": key_id}));
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
