//! Pollers for what becomes true asynchronously (read models, traces, health, simulations): one
//! loop, [`until`], and the waits the tests share, built on it. Each fails the test, naming what it
//! last saw, when its time is up.

use std::time::Duration;

use serde_json::Value;

use super::{Gateway, ADMIN_KEY};

/// Runs `probe` every `every` until it answers `Ok`; once `timeout` has passed, the next `Err`
/// fails the test with its text (what the probe last saw). A probe may also assert: what must hold
/// at every poll fails at once.
pub async fn until<T>(timeout: Duration, every: Duration, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(t) => return t,
            Err(seen) => assert!(tokio::time::Instant::now() < deadline, "{seen}"),
        }
        tokio::time::sleep(every).await;
    }
}

/// Polls `GET path` with `key` until it answers 200 and `pred` holds on the body (within 15 s).
pub async fn get(gw: &Gateway, key: &str, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
    until(Duration::from_secs(15), Duration::from_millis(50), async || {
        let (s, _, v) = gw.call("GET", path, Some(key), None).await;
        if s == 200 && pred(&v) {
            Ok(v)
        } else {
            Err(format!("GET {path} never satisfied the condition: {s} {v}"))
        }
    })
    .await
}

/// A finished trace's detail (`data` of `GET /api/traces/{id}`, once its status is no longer
/// `running`).
pub async fn trace(gw: &Gateway, id: &str) -> Value {
    until(Duration::from_secs(10), Duration::from_millis(50), async || {
        let (s, v) = gw.admin("GET", &format!("/api/traces/{id}"), None).await;
        if s == 200 && v["data"]["status"] != "running" {
            Ok(v["data"].clone())
        } else {
            Err(format!("trace {id} never finished: {s} {v}"))
        }
    })
    .await
}

/// Waits until the traces read model holds at least `n` finished traces.
pub async fn finished_traces(gw: &Gateway, n: usize) {
    until(Duration::from_secs(20), Duration::from_millis(50), async || {
        let views = gw.started.state.store.db.all_trace_views().await.unwrap();
        if views.iter().filter(|v| v.outcome.is_some()).count() >= n {
            Ok(())
        } else {
            Err(format!("only {} of {n} traces finished", views.len()))
        }
    })
    .await
}

/// Waits until the economics read model (and the traces one) hold `n` finished requests of
/// `workspace`.
pub async fn economics_requests(gw: &Gateway, workspace: &str, n: i64) {
    until(Duration::from_secs(20), Duration::from_millis(50), async || {
        let (s, _, v) =
            gw.call("GET", &format!("/api/economics/summary?workspace={workspace}"), Some(ADMIN_KEY), None).await;
        assert_eq!(s, 200, "{v}");
        let traces = gw.started.state.store.db.all_trace_views().await.unwrap();
        let finished = traces
            .iter()
            .filter(|t| t.outcome.is_some() && t.received.as_ref().is_some_and(|r| r.workspace == workspace))
            .count() as i64;
        if v["data"]["requests"].as_i64() == Some(n) && finished == n {
            Ok(())
        } else {
            Err(format!("economics never reached {n} requests: {v}"))
        }
    })
    .await
}

/// A simulation's final state (`GET /api/economics/simulate/{id}` until it is no longer running).
pub async fn simulation(gw: &Gateway, key: &str, id: &str) -> Value {
    until(Duration::from_secs(30), Duration::from_millis(50), async || {
        let (s, _, v) = gw.call("GET", &format!("/api/economics/simulate/{id}"), Some(key), None).await;
        assert_eq!(s, 200, "{v}");
        if v["data"]["status"] != "running" {
            Ok(v["data"].clone())
        } else {
            Err(format!("simulation never finished: {v}"))
        }
    })
    .await
}

/// `data` of `GET /api/health/detailed` (admin), which must answer 200.
pub async fn detailed_health(gw: &Gateway) -> Value {
    let (s, v) = gw.admin("GET", "/api/health/detailed", None).await;
    assert_eq!(s, 200, "{v}");
    v["data"].clone()
}

/// Polls the detailed health (within 60 s) until `pred` holds; `what` names the condition.
pub async fn health(gw: &Gateway, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    until(Duration::from_secs(60), Duration::from_millis(100), async || {
        let h = detailed_health(gw).await;
        if pred(&h) {
            Ok(h)
        } else {
            Err(format!("health never showed {what}: {h}"))
        }
    })
    .await
}

/// Waits (10 s) until a gateway started as a process (`layerr serve`) answers `GET /api/health`.
pub async fn serving(client: &reqwest::Client, base: &str) {
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/api/health")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "gateway did not start");
}
