//! Postgres outages, simulated by a TCP proxy between the gateway and the machine's Postgres that
//! the test cuts (every connection dropped, new ones refused) and restores: new requests are
//! refused fast with a 503 `STORE_UNAVAILABLE` and `Retry-After` before any provider is called,
//! so only what was in flight at the cut is answered without being stored; health answers within
//! a second with an error envelope; store errors on reads and commands are 503s without internal
//! text; writes and admission recover without a restart; SIGTERM during an outage exits within
//! the drain bound and says how much it could not store. Also: what `/api/health/detailed`
//! shows a workspace key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{outage_setup, through};
use common::upstream::provider_body;
use common::{assert_error, config_for, events, provider, wait, Backing, Gateway, PgDatabase, ADMIN_KEY};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn chat_body(i: usize) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("hello {i}")}]})
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
    took: Duration,
}

/// One request, with a client timeout so that a hang fails the test instead of stalling it.
async fn send(client: &reqwest::Client, base: &str, method: &str, path: &str, body: Option<Value>) -> Answer {
    let t0 = Instant::now();
    let mut req = client
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("{base}{path}"))
        .bearer_auth(ADMIN_KEY)
        .timeout(Duration::from_secs(15));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path} got no answer in 15 s: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON ({status}): {text}"));
    Answer { status, headers, body, took: t0.elapsed() }
}

/// A 503 `STORE_UNAVAILABLE` in the envelope, with `Retry-After`, telling nothing of the database.
fn assert_store_unavailable(a: &Answer) {
    let err = assert_error(a.status, &a.body, 503, "STORE_UNAVAILABLE");
    let retry: u64 = a
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on {}", a.body));
    assert!((1..=60).contains(&retry), "{retry}");
    let message = err["message"].as_str().unwrap().to_lowercase();
    for internal in ["sqlx", "pool", "connection", "database error", "postgres", "io error", "timed out"] {
        assert!(!message.contains(internal), "the 503 tells internals ({internal}): {}", a.body);
    }
}

/// The cut: the requests already answered are stored once the store is back; after the first
/// failed write, new chat requests are refused at once, without calling the provider; health and
/// store errors are prompt enveloped 503s; everything recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_sheds_new_requests_fast_and_recovers_without_a_restart() {
    let (pg, proxy, url) = outage_setup().await;
    let backing = Backing::SharedPostgres(url.clone());
    let mut config = config_for(&backing);
    // A small queue: before shedding, a full queue made requests hang for the whole outage.
    config.store.queue_capacity = 8;
    let gw = Gateway::start_with(backing, config).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    let client = reqwest::Client::new();
    let a = send(&client, &gw.base, "POST", "/v1/chat/completions", Some(chat_body(0))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let mut answered = 1;

    proxy.cut();
    let cut = Instant::now();
    let upstream_before = mock.requests().len();
    let (mut answered_in_outage, mut shed, mut last) = (0, 0, Value::Null);
    while cut.elapsed() < Duration::from_secs(3) {
        let a = send(&client, &gw.base, "POST", "/v1/chat/completions", Some(chat_body(1))).await;
        match a.status {
            200 => {
                assert_eq!(shed, 0, "a request was answered after the first refusal");
                answered_in_outage += 1;
            }
            503 => {
                assert_store_unavailable(&a);
                // A full queue is waited on for up to 500 ms before the refusal (queueFull); a
                // failing store is refused at once. Either is far from the outage's length.
                assert!(a.took < Duration::from_millis(1000), "a refusal took {:?}", a.took);
                shed += 1;
                last = a.body;
            }
            _ => panic!("a request in the outage: {} {}", a.status, a.body),
        }
    }
    // Answered without being stored: what the writer held and the queue took (its capacity)
    // when the outage began; then a full queue and, a second into the stuck write, the failing
    // store close admission.
    assert!(answered_in_outage <= 8 + 2, "{answered_in_outage} requests answered during the outage");
    assert!(shed > 0);
    assert_eq!(last["error"]["details"]["reason"], "storeFailing", "{last}");
    assert_eq!(mock.requests().len() - upstream_before, answered_in_outage, "a refused request reached the provider");
    answered += answered_in_outage;
    // Embeddings record a trace too: refused the same way.
    let e =
        send(&client, &gw.base, "POST", "/v1/embeddings", Some(json!({"model": "gpt-4o-mini", "input": "hi"}))).await;
    assert_store_unavailable(&e);
    assert_eq!(mock.requests().len() - upstream_before, answered_in_outage, "a refused embedding reached the provider");

    // Health: prompt, enveloped, with the appender's state for the admin.
    let h = send(&client, &gw.base, "GET", "/api/health/detailed", None).await;
    assert!(h.took < Duration::from_millis(1500), "health took {:?}", h.took);
    let err = assert_error(h.status, &h.body, 503, "STORE_UNAVAILABLE");
    assert_eq!(err["details"]["status"], "unhealthy", "{}", h.body);
    assert_eq!(err["details"]["appender"]["failing"], true, "{}", h.body);
    assert!(h.headers.get("retry-after").is_some());

    // A read and a command: 503 `STORE_UNAVAILABLE` (a command was a 500), no database text.
    let (read, command) = tokio::join!(
        send(&client, &gw.base, "GET", "/api/admin/audit", None),
        send(&client, &gw.base, "POST", "/api/workspaces", Some(json!({"slug": "during-outage", "tier": "free"}))),
    );
    assert_store_unavailable(&read);
    assert_store_unavailable(&command);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = send(&client, &gw.base, "POST", "/v1/chat/completions", Some(chat_body(100))).await;
        if a.status == 200 {
            answered += 1;
            break;
        }
        assert_store_unavailable(&a);
        assert!(Instant::now() < deadline, "admission never recovered: {}", a.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every answered request is stored, once.
    events::wait_stored(&pg.url, "RequestCompleted", answered as i64).await;
    let h = send(&client, &gw.base, "GET", "/api/health/detailed", None).await;
    assert_eq!(h.status, 200, "{}", h.body);
    assert_eq!(h.body["data"]["appender"]["failing"], false, "{}", h.body);
    assert!(h.body["data"]["appender"]["shed"].as_u64().unwrap() >= shed as u64, "{}", h.body);
    gw.stop().await;
    drop(pg);
}

/// A write that hangs (the store accepts connections and never answers) closes admission too,
/// before the attempt times out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_store_is_shed_and_health_answers_within_a_second() {
    let db = PgDatabase::create().await;
    let (_, target) = through(&db.url, 0);
    // A proxy that, once frozen, holds connections open without passing a byte.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let frozen = Arc::new(AtomicBool::new(false));
    let (gen_tx, _) = watch::channel(0u64);
    let (flag, gen) = (frozen.clone(), gen_tx.clone());
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { return };
            if flag.load(Ordering::SeqCst) {
                held.push(inbound);
                continue;
            }
            let mut freeze = gen.subscribe();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    // Frozen: keep both ends open, pass nothing.
                    _ = freeze.changed() => std::future::pending::<()>().await,
                }
            });
        }
    });
    let (url, _) = through(&db.url, port);
    let backing = Backing::SharedPostgres(url);
    let config = config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    let mock = layerr_mock::spawn().await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]).await;
    let client = reqwest::Client::new();
    assert_eq!(send(&client, &gw.base, "POST", "/v1/chat/completions", Some(chat_body(0))).await.status, 200);

    frozen.store(true, Ordering::SeqCst);
    gen_tx.send_modify(|g| *g += 1);
    // One answered request gives the writer something to write; it hangs.
    let a = send(&client, &gw.base, "POST", "/v1/chat/completions", Some(chat_body(1))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let h = send(&client, &gw.base, "GET", "/api/health/detailed", None).await;
    assert!(h.took < Duration::from_millis(1500), "health took {:?}", h.took);
    assert_error(h.status, &h.body, 503, "STORE_UNAVAILABLE");
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let a = send(&client, &gw.base, "POST", "/v1/chat/completions", Some(chat_body(2))).await;
        if a.status == 503 {
            assert_store_unavailable(&a);
            break;
        }
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(Instant::now() < deadline, "a hanging store was never shed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Shutdown without the signal path: the writer gives up within its bound.
    let t0 = Instant::now();
    let state = gw.started.state.clone();
    tokio::time::timeout(Duration::from_secs(30), gw.stop()).await.expect("stop finishes during the hang");
    assert!(t0.elapsed() < Duration::from_secs(20), "stop took {:?}", t0.elapsed());
    assert!(state.appender.status().lost_requests >= 1);
    drop(db);
}

/// SIGTERM during an outage: the process exits within the drain bound (it used to retry
/// forever) and logs how many events and requests it could not store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_outage_exits_within_the_bound_and_says_what_it_lost() {
    let (pg, proxy, url) = outage_setup().await;
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let log = dir.path().join("stderr.log");
    std::fs::write(dir.path().join("layerr.toml"), "[store]\nqueue_capacity = 8\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_layerr"))
        .env("LAYERR_DATA_DIR", dir.path())
        .env("LAYERR_DATABASE_URL", &url)
        .env("LAYERR_ADMIN_KEY", ADMIN_KEY)
        .env("LAYERR_LOG", "info")
        .env_remove("LAYERR_CONFIG")
        .current_dir(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait::serving(&client, &base).await;
    let mock = layerr_mock::spawn().await;
    let oa = provider_body("oa", "openai", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini"]);
    assert_eq!(send(&client, &base, "POST", "/api/providers", Some(oa)).await.status, 201);
    assert_eq!(send(&client, &base, "POST", "/v1/chat/completions", Some(chat_body(0))).await.status, 200);
    events::wait_stored(&pg.url, "RequestCompleted", 1).await;

    proxy.cut();
    let mut answered_in_outage = 0;
    loop {
        let a = send(&client, &base, "POST", "/v1/chat/completions", Some(chat_body(1))).await;
        if a.status == 503 {
            assert_store_unavailable(&a);
            break;
        }
        assert_eq!(a.status, 200, "{}", a.body);
        answered_in_outage += 1;
        assert!(answered_in_outage <= 8 + 2, "admission never closed");
    }

    let t0 = Instant::now();
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("SIGTERM during the outage: still running after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = t0.elapsed();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(took < Duration::from_secs(20), "shutdown took {took:?}");
    assert!(took >= Duration::from_secs(9), "gave the store its drain bound: {took:?}");
    let line = stderr
        .lines()
        .find(|l| l.contains("requests not stored"))
        .unwrap_or_else(|| panic!("no account of what was lost: {stderr}"));
    assert!(line.contains(&format!("of {answered_in_outage} requests")), "{line}");
    assert!(!stderr.contains("sk-test-secret-value"), "a secret in the log");
    drop(pg);
}

/// Admin keys see the installation's figures; a workspace key sees status, version and store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detailed_health_shows_installation_figures_to_admin_keys_only() {
    let gw = Gateway::start(common::Kind::Sqlite).await;
    let key = gw.workspace("hw", "free").await;
    let (s, _, v) = gw.call("GET", "/api/health/detailed", Some(&key), None).await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    assert_eq!(d["status"], "healthy", "{v}");
    assert_eq!(d["store"]["reachable"], true, "{v}");
    assert!(d["version"].is_string(), "{v}");
    for hidden in ["feed", "projections", "hotState", "kafka", "appender"] {
        assert!(d.get(hidden).is_none(), "a workspace key sees {hidden}: {v}");
    }
    let (s, v) = gw.admin("GET", "/api/health/detailed", None).await;
    assert_eq!(s, 200, "{v}");
    for shown in ["feed", "projections", "hotState", "kafka", "appender"] {
        assert!(v["data"].get(shown).is_some(), "an admin key misses {shown}: {v}");
    }
    assert_eq!(v["data"]["appender"]["failing"], false, "{v}");
    gw.stop().await;
}
