//! Named secrets (issue 15, secrets): `GET/POST /api/admin/secrets`, `POST .../{id}/rotate`,
//! `DELETE .../{id}` and `POST /api/admin/master-key/rotate`, admin only; strict input; providers
//! referencing a secret (`secretRef`) send its current value upstream (seen by a recording
//! upstream), follow a rotation from the next request on with no request failing meanwhile, and
//! keep it from being deleted; a master-key rotation re-wraps every data key and a restart on the
//! same store still opens them (with the old key gone from the key file); a second node on the same
//! Postgres store follows both rotations from the feed, without a restart. Every test plants secret
//! values and finds none of them in the event rows, the audit read model, the `secrets` table, the
//! logs (debug level) or any answer it received.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use common::upstream::ask;
use common::{assert_error, config_for, on_both_stores, Backing, Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};
use sqlx::Row;

const FIRST: &str = "sk-planted-first-value-4f1c9a7e";
const SECOND: &str = "sk-planted-second-value-b83d2c15";
const OWN: &str = "sk-planted-own-provider-key-77aa";

/// An OpenAI-format upstream that records the bearer token of every chat request it answers,
/// with the request's first message.
struct KeyedUpstream {
    base: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl KeyedUpstream {
    async fn start(delay: Duration) -> KeyedUpstream {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                let log = log.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
                    let text = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
                    log.lock().unwrap().push((text, auth.strip_prefix("Bearer ").unwrap_or(auth).to_string()));
                    tokio::time::sleep(delay).await;
                    axum::Json(json!({
                        "id": "chatcmpl-keyed", "object": "chat.completion", "created": 1_700_000_000,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
                    }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        KeyedUpstream { base, seen }
    }

    /// The keys received, in order.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(_, k)| k.clone()).collect()
    }

    /// The key the request whose message was `text` carried.
    fn key_for(&self, text: &str) -> Option<String> {
        self.seen.lock().unwrap().iter().find(|(t, _)| t == text).map(|(_, k)| k.clone())
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

/// Every answer a test received (status, headers and body as text), for the planted-secret scan.
#[derive(Clone, Default)]
struct Answers(Arc<Mutex<Vec<String>>>);

impl Answers {
    async fn call(&self, gw: &Gateway, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let (s, h, v) = gw.call(method, path, Some(key), body).await;
        let headers: Vec<String> = h.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default())).collect();
        self.0.lock().unwrap().push(format!("{s} {}\n{v}", headers.join("\n")));
        (s, v)
    }

    async fn admin(&self, gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(gw, method, path, ADMIN_KEY, body).await
    }

    async fn chat(&self, gw: &Gateway, model: &str) -> (u16, Value) {
        self.admin(gw, "POST", "/v1/chat/completions", Some(ask(model, None, "hello"))).await
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The gateway's log lines (debug level for Layerr's crates, info for the libraries: sqlx logs
/// statements without their values, and at debug its volume slows the store enough to stall the
/// appender), captured for the scan. Installed before the first gateway starts (whose own
/// `try_init` then does nothing); nextest runs each test in a process of its own, so each test
/// installs it, and the line it logs shows the capture works.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    let logs = LOGS
        .get_or_init(|| {
            let buf = Arc::new(Mutex::new(Vec::new()));
            let sink = Sink(buf.clone());
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,layerr=debug,layerr_projections=debug,layerr_domain=debug,layerr_kafka=debug")
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .try_init();
            buf
        })
        .clone();
    tracing::info!("secrets_api: log capture on");
    logs
}

/// None of `planted` (nor its hex form) in the event rows, the audit read model, the `secrets`
/// table, the logs or any answer received; `control` (a secret's id, which events and answers do carry)
/// is found, so the scan reads what it should.
async fn assert_nowhere(gw: &Gateway, answers: &Answers, planted: &[&str], control: &str) {
    let db = &gw.started.state.store.db;
    let mut texts: Vec<String> = Vec::new();
    for r in sqlx::query("SELECT CAST(payload AS TEXT) AS p, CAST(metadata AS TEXT) AS m FROM events")
        .fetch_all(&db.any)
        .await
        .unwrap()
    {
        texts.push(r.try_get::<String, _>("p").unwrap());
        texts.push(r.try_get::<String, _>("m").unwrap());
    }
    assert!(texts.len() > 10, "the scan reads the event rows");
    // The audit model is asynchronous: wait until it has caught up with the secret events.
    common::wait::until(Duration::from_secs(10), Duration::from_millis(50), async || {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit_log WHERE aggregate_type = 'Secret'")
            .fetch_one(&db.any)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        if n > 0 {
            Ok(())
        } else {
            Err("the audit log holds no secret event yet".to_string())
        }
    })
    .await;
    for r in sqlx::query("SELECT COALESCE(before_json, '') AS b, COALESCE(after_json, '') AS a FROM audit_log")
        .fetch_all(&db.any)
        .await
        .unwrap()
    {
        texts.push(r.try_get::<String, _>("b").unwrap());
        texts.push(r.try_get::<String, _>("a").unwrap());
    }
    for r in sqlx::query("SELECT id, nonce, ciphertext, fingerprint, COALESCE(wrapped_key, '') AS w FROM secrets")
        .fetch_all(&db.any)
        .await
        .unwrap()
    {
        for c in ["id", "nonce", "ciphertext", "fingerprint", "w"] {
            texts.push(r.try_get::<String, _>(c).unwrap());
        }
    }
    let bodies = answers.all();
    assert!(!bodies.is_empty());
    texts.extend(bodies);
    let logs = String::from_utf8_lossy(&capture_logs().lock().unwrap()).into_owned();
    assert!(logs.contains("secrets_api: log capture on"), "the logs were not captured");
    texts.push(logs);
    assert!(texts.iter().filter(|t| t.contains(control)).count() >= 3, "the scan does not see {control:?}");
    for p in planted {
        let hexed = hex::encode(p);
        let hits = texts.iter().filter(|t| t.contains(p) || t.contains(&hexed)).count();
        assert_eq!(hits, 0, "planted secret {p:?} found {hits} time(s)");
    }
}

/// The Secret events, once at least `n` are readable (or after 10 s, whatever is there).
async fn secret_events(gw: &Gateway, n: usize) -> Vec<layerr_projections::StoredEvent> {
    let db = &gw.started.state.store.db;
    common::events::read_feed_until(db, 1000, Duration::from_secs(10), n, |e| e.aggregate_type == "Secret").await
}

fn provider_with_ref(id: &str, base: &str, secret: &str) -> Value {
    json!({"id": id, "name": id, "type": "openai", "baseUrl": base, "models": [format!("{id}-model")], "secretRef": secret})
}

async fn secrets_lifecycle(kind: Kind) {
    capture_logs();
    let gw = Gateway::start(kind).await;
    let a = Answers::default();
    let up = KeyedUpstream::start(Duration::ZERO).await;

    // Create: metadata and a fingerprint, never the value.
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets", Some(json!({"name": "openai-key", "value": FIRST}))).await;
    assert_eq!(s, 201, "{v}");
    let first = v["data"].clone();
    assert_eq!(first["id"], "openai-key");
    assert_eq!(first["name"], "openai-key");
    assert_eq!(first["version"], 1);
    assert_eq!(first["fingerprint"].as_str().unwrap().len(), 12);
    assert!(first["masterKeyId"].as_str().unwrap().starts_with("mk-"));
    assert_eq!(first["referencedBy"], json!([]));
    assert!(first["rotatedAt"].is_null());
    let (s, v) =
        a.admin(&gw, "POST", "/api/admin/secrets", Some(json!({"name": "openai-key", "value": "x-other"}))).await;
    assert_error(s, &v, 409, "CONFLICT");

    // Strict input.
    for (body, field) in [
        (json!({"name": "Bad Name", "value": "v"}), "name"),
        (json!({"name": "a", "value": "v"}), "name"),
        (json!({"name": "ok-name", "value": ""}), "value"),
        (json!({"name": "ok-name", "value": "   "}), "value"),
        (json!({"name": "ok-name", "value": "line\nbreak"}), "value"),
        (json!({"name": "ok-name", "value": "x".repeat(16 * 1024 + 1)}), "value"),
    ] {
        let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets", Some(body)).await;
        let e = assert_error(s, &v, 400, "VALIDATION_ERROR");
        assert_eq!(e["details"]["field"], field, "{v}");
    }
    let (s, v) = a
        .admin(&gw, "POST", "/api/admin/secrets", Some(json!({"name": "ok-name", "value": "v", "scope": "all"})))
        .await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets", Some(json!({"name": "ok-name"}))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets/nope/rotate", Some(json!({"value": "v"}))).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets/openai-key/rotate", Some(json!({"value": 5}))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = a.admin(&gw, "DELETE", "/api/admin/secrets/nope", None).await;
    assert_error(s, &v, 404, "NOT_FOUND");

    // A workspace key: 403 on every route, and it may not reference a secret.
    let ws = gw.workspace("acme", "standard").await;
    for (m, p, b) in [
        ("GET", "/api/admin/secrets", None),
        ("POST", "/api/admin/secrets", Some(json!({"name": "mine", "value": "v"}))),
        ("POST", "/api/admin/secrets/openai-key/rotate", Some(json!({"value": "v"}))),
        ("DELETE", "/api/admin/secrets/openai-key", None),
        ("POST", "/api/admin/master-key/rotate", None),
    ] {
        let (s, v) = a.call(&gw, m, p, &ws, b).await;
        assert_error(s, &v, 403, "FORBIDDEN");
    }
    let (s, v) =
        a.call(&gw, "POST", "/api/providers", &ws, Some(provider_with_ref("mine", &up.base, "openai-key"))).await;
    assert_error(s, &v, 403, "FORBIDDEN");

    // A provider referencing the secret: the upstream receives its value.
    let (s, v) = a
        .admin(
            &gw,
            "POST",
            "/api/providers",
            Some(json!({"id": "both", "name": "both", "type": "openai",
            "baseUrl": up.base, "apiKey": OWN, "secretRef": "openai-key"})),
        )
        .await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, v) = a.admin(&gw, "POST", "/api/providers", Some(provider_with_ref("ref", &up.base, "missing"))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["details"]["field"], "secretRef");
    let (s, v) = a.admin(&gw, "POST", "/api/providers", Some(provider_with_ref("ref", &up.base, "openai-key"))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v["data"]["credential"],
        json!({"configured": true, "secretRef": "openai-key", "fingerprint": first["fingerprint"]})
    );
    let (s, v) = a.chat(&gw, "ref-model").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(up.seen(), [FIRST]);
    // A workspace key sees that the provider has a credential, not which, and cannot change it.
    let (s, v) = a.call(&gw, "GET", "/api/providers/ref", &ws, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["credential"], json!({"configured": true}));
    let (s, v) =
        a.call(&gw, "PATCH", "/api/providers/ref", &ws, Some(json!({"baseUrl": "https://example.com/v1"}))).await;
    assert_error(s, &v, 403, "FORBIDDEN");

    // Rotate: the next request carries the new value.
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets/openai-key/rotate", Some(json!({"value": SECOND}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["version"], 2);
    assert_ne!(v["data"]["fingerprint"], first["fingerprint"]);
    assert!(v["data"]["rotatedAt"].is_string());
    assert_eq!(v["data"]["referencedBy"], json!(["ref"]));
    let (s, v) = a.chat(&gw, "ref-model").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(up.seen(), [FIRST, SECOND]);

    // Listed: metadata only.
    let (s, v) = a.admin(&gw, "GET", "/api/admin/secrets", None).await;
    assert_eq!(s, 200, "{v}");
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let mut keys: Vec<&str> = list[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["createdAt", "fingerprint", "id", "masterKeyId", "name", "referencedBy", "rotatedAt", "updatedAt", "version"]
    );

    // Referenced: not deleted. Once the provider uses its own key: deleted, and gone.
    let (s, v) = a.admin(&gw, "DELETE", "/api/admin/secrets/openai-key", None).await;
    assert!(assert_error(s, &v, 409, "CONFLICT")["message"].as_str().unwrap().contains("ref"), "{v}");
    let (s, v) = a.admin(&gw, "PATCH", "/api/providers/ref", Some(json!({"apiKey": OWN}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = a.chat(&gw, "ref-model").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(up.seen().last().map(String::as_str), Some(OWN));
    let (s, v) = a.admin(&gw, "DELETE", "/api/admin/secrets/openai-key", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"], json!({"id": "openai-key", "deleted": true}));
    let (_, v) = a.admin(&gw, "GET", "/api/admin/secrets", None).await;
    assert_eq!(v["data"], json!([]));
    let (s, v) = a.admin(&gw, "POST", "/api/providers", Some(provider_with_ref("ref2", &up.base, "openai-key"))).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    // Its value rows are gone from the table too (the provider's own key stays).
    let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM secrets")
        .fetch_one(&gw.started.state.store.db.any)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(rows, 1);

    // The events: typed, 1.0, ids and fingerprints only.
    // On Postgres the feed serves what lies below the cluster's oldest open transaction: wait.
    let events = secret_events(&gw, 3).await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["SecretCreated", "SecretRotated", "SecretDeleted"]);
    assert!(events.iter().all(|e| e.event_version == "1.0"));
    assert_eq!(events[1].payload["SecretRotated"]["after"]["version"], 2);

    assert!(a.len() > 30);
    assert_nowhere(&gw, &a, &[FIRST, SECOND, OWN], "openai-key").await;
    let _ = gw.stop().await;
}

on_both_stores!(secrets_lifecycle);

async fn rotation_under_load(kind: Kind) {
    capture_logs();
    let gw = Arc::new(Gateway::start(kind).await);
    let a = Answers::default();
    let up = KeyedUpstream::start(Duration::from_millis(30)).await;
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets", Some(json!({"name": "hot", "value": FIRST}))).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = a.admin(&gw, "POST", "/api/providers", Some(provider_with_ref("hot", &up.base, "hot"))).await;
    assert_eq!(s, 201, "{v}");

    // 50 clients send requests back to back; the secret rotates once 50 have been answered, and
    // each client stops after its first request begun after the rotation answered.
    let rotated = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..50 {
        let (gw, a, rotated, answered) = (gw.clone(), a.clone(), rotated.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for n in 0.. {
                let after = rotated.load(std::sync::atomic::Ordering::SeqCst);
                let text = format!("client {c} request {n}");
                let (s, v) = a.admin(&gw, "POST", "/v1/chat/completions", Some(ask("hot-model", None, &text))).await;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                sent.push((text, after, s, v));
                if after {
                    return sent;
                }
            }
            unreachable!()
        }));
    }
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets/hot/rotate", Some(json!({"value": SECOND}))).await;
    assert_eq!(s, 200, "{v}");
    rotated.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut sent = Vec::new();
    for c in clients {
        sent.extend(c.await.unwrap());
    }
    let failed: Vec<String> = sent.iter().filter(|r| r.2 != 200).map(|r| format!("{} {}", r.2, r.3)).collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert!(sent.len() >= 100, "{} requests", sent.len());
    let keys = up.seen();
    assert_eq!(keys.len(), sent.len());
    assert!(keys.iter().all(|k| k == FIRST || k == SECOND), "only the two values were ever sent");
    assert!(keys.iter().any(|k| k == FIRST), "requests before the rotation used the first value");
    // Every request begun after the rotation answered carried the new value.
    let after: Vec<&String> = sent.iter().filter(|r| r.1).map(|r| &r.0).collect();
    assert_eq!(after.len(), 50);
    for text in after {
        assert_eq!(up.key_for(text).as_deref(), Some(SECOND), "{text}");
    }
    up.clear();
    let (s, v) = a.chat(&gw, "hot-model").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(up.seen(), [SECOND]);
    assert_nowhere(&gw, &a, &[FIRST, SECOND], "hot").await;
    let gw = Arc::into_inner(gw).expect("every request task has finished");
    let _ = gw.stop().await;
}

on_both_stores!(rotation_under_load);

/// The key file's keys (non-comment lines).
fn key_lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("master.key"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

async fn master_key_rotation_survives_restart(kind: Kind) {
    capture_logs();
    let backing = common::backing(kind).await;
    // The key file lives in a directory of this test's own (on Postgres too).
    let keys = tempfile::tempdir().unwrap();
    let config = |b: &Backing| {
        let mut c = config_for(b);
        c.store.data_dir = match b {
            Backing::Sqlite(dir) => dir.path().to_path_buf(),
            _ => keys.path().to_path_buf(),
        };
        c
    };
    let dir = |b: &Backing| match b {
        Backing::Sqlite(d) => d.path().to_path_buf(),
        _ => keys.path().to_path_buf(),
    };
    let cfg = config(&backing);
    let gw = Gateway::start_with(backing, cfg).await;
    let a = Answers::default();
    let up = KeyedUpstream::start(Duration::ZERO).await;
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets", Some(json!({"name": "named", "value": FIRST}))).await;
    assert_eq!(s, 201, "{v}");
    let old_key = v["data"]["masterKeyId"].as_str().unwrap().to_string();
    let (s, v) = a.admin(&gw, "POST", "/api/providers", Some(provider_with_ref("named", &up.base, "named"))).await;
    assert_eq!(s, 201, "{v}");
    let own = json!({"id": "own", "name": "own", "type": "openai", "baseUrl": up.base, "models": ["own-model"], "apiKey": OWN});
    let (s, v) = a.admin(&gw, "POST", "/api/providers", Some(own)).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(key_lines(&dir(&gw.backing)).len(), 1);

    let (s, v) = a.admin(&gw, "POST", "/api/admin/master-key/rotate", None).await;
    assert_eq!(s, 200, "{v}");
    let r = &v["data"];
    assert_eq!(r["source"], "file");
    assert_eq!(r["generated"], true);
    assert_ne!(r["masterKeyId"], old_key.as_str());
    assert_eq!(r["rotatedFrom"], json!([old_key]));
    assert_eq!(r["rewrapped"], 2, "the named secret's value and the provider's own key");
    assert_eq!(r["unreadable"], 0);
    let new_key = r["masterKeyId"].as_str().unwrap().to_string();
    assert_eq!(r["masterKeyIds"], json!([new_key, old_key]));
    let (_, v) = a.admin(&gw, "GET", "/api/admin/secrets", None).await;
    assert_eq!(v["data"][0]["masterKeyId"], new_key.as_str());
    assert_eq!(v["data"][0]["version"], 1, "the value did not change");
    // Service continues, with the same values.
    assert_eq!(a.chat(&gw, "named-model").await.0, 200);
    assert_eq!(a.chat(&gw, "own-model").await.0, 200);
    assert_eq!(up.seen(), [FIRST, OWN]);
    let installation =
        common::events::read_feed_until(&gw.started.state.store.db, 1000, Duration::from_secs(10), 1, |e| {
            e.event_type == "MasterKeyRotated"
        })
        .await;
    let rotated = installation.iter().find(|e| e.event_type == "MasterKeyRotated").expect("the rotation is an event");
    assert_eq!(rotated.payload["MasterKeyRotated"]["after"], new_key.as_str());
    let events = secret_events(&gw, 2).await;
    assert_eq!(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>(), ["SecretCreated", "SecretRewrapped"]);

    // Restart on the same store with only the new key in the file: everything still opens.
    let backing = gw.stop().await;
    let lines = key_lines(&dir(&backing));
    assert_eq!(lines.len(), 2);
    std::fs::write(dir(&backing).join("master.key"), format!("{}\n", lines[0])).unwrap();
    let cfg = config(&backing);
    let gw = Gateway::start_with(backing, cfg).await;
    up.clear();
    assert_eq!(a.chat(&gw, "named-model").await.0, 200);
    assert_eq!(a.chat(&gw, "own-model").await.0, 200);
    assert_eq!(up.seen(), [FIRST, OWN]);
    // And rotating the secret after the restart still works under the new master key.
    let (s, v) = a.admin(&gw, "POST", "/api/admin/secrets/named/rotate", Some(json!({"value": SECOND}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["masterKeyId"], new_key.as_str());
    assert_eq!(a.chat(&gw, "named-model").await.0, 200);
    assert_eq!(up.seen().last().map(String::as_str), Some(SECOND));
    assert_nowhere(&gw, &a, &[FIRST, SECOND, OWN], "named").await;
    let _ = gw.stop().await;
}

on_both_stores!(master_key_rotation_survives_restart);

/// Two nodes on one Postgres store sharing a key file: node B follows node A's secret rotation
/// from the feed (its requests carry the new value without a restart), and follows A's master-key
/// rotation (it reads the key file again, and opens a secret A stored under the new key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_follows_rotations() {
    const THIRD: &str = "sk-planted-third-value-5e6f7a8b";
    capture_logs();
    let db = common::PgDatabase::create().await;
    let url = db.url.clone();
    let keys = tempfile::tempdir().unwrap();
    let cfg = |b: &Backing| {
        let mut c = config_for(b);
        c.store.data_dir = keys.path().to_path_buf();
        c
    };
    let a_backing = Backing::Postgres(db);
    let a_cfg = cfg(&a_backing);
    let node_a = Gateway::start_with(a_backing, a_cfg).await;
    let b_backing = Backing::SharedPostgres(url);
    let b_cfg = cfg(&b_backing);
    let node_b = Gateway::start_with(b_backing, b_cfg).await;
    let ans = Answers::default();
    let up = KeyedUpstream::start(Duration::ZERO).await;

    let (s, v) =
        ans.admin(&node_a, "POST", "/api/admin/secrets", Some(json!({"name": "shared", "value": FIRST}))).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) =
        ans.admin(&node_a, "POST", "/api/providers", Some(provider_with_ref("shared", &up.base, "shared"))).await;
    assert_eq!(s, 201, "{v}");

    // Node B's requests carry what the secret holds, once its feed follower has applied `want`.
    let b_sends = async |want: &str, model: &str| {
        common::wait::until(Duration::from_secs(10), Duration::from_millis(20), async || {
            let (s, v) = ans.chat(&node_b, model).await;
            match up.seen().last() {
                Some(k) if s == 200 && k == want => Ok(()),
                _ => Err(format!("node B did not send the expected value: {s} {v}")),
            }
        })
        .await
    };
    b_sends(FIRST, "shared-model").await;
    let (s, v) = ans.admin(&node_a, "POST", "/api/admin/secrets/shared/rotate", Some(json!({"value": SECOND}))).await;
    assert_eq!(s, 200, "{v}");
    b_sends(SECOND, "shared-model").await;
    up.clear();
    for _ in 0..3 {
        assert_eq!(ans.chat(&node_b, "shared-model").await.0, 200);
    }
    assert_eq!(up.seen(), vec![SECOND; 3], "once followed, node B never goes back");

    // Master-key rotation on A; a secret stored afterwards (under the new key) opens on B.
    let (s, v) = ans.admin(&node_a, "POST", "/api/admin/master-key/rotate", None).await;
    assert_eq!(s, 200, "{v}");
    let new_key = v["data"]["masterKeyId"].as_str().unwrap().to_string();
    common::wait::until(Duration::from_secs(10), Duration::from_millis(20), async || {
        let current = node_b.started.state.secrets.current_key_id();
        if current == new_key {
            Ok(())
        } else {
            Err(format!("node B still uses {current}, not {new_key}"))
        }
    })
    .await;
    let (s, v) = ans.admin(&node_a, "POST", "/api/admin/secrets", Some(json!({"name": "later", "value": THIRD}))).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["masterKeyId"], new_key.as_str());
    let (s, v) =
        ans.admin(&node_a, "POST", "/api/providers", Some(provider_with_ref("later", &up.base, "later"))).await;
    assert_eq!(s, 201, "{v}");
    b_sends(THIRD, "later-model").await;
    b_sends(SECOND, "shared-model").await;
    assert_nowhere(&node_b, &ans, &[FIRST, SECOND, THIRD], "shared").await;
    let _ = node_b.stop().await;
    let _ = node_a.stop().await;
}
