//! Reading the store's events the way a read model does: through the feed, from the start, in feed
//! order. On Postgres the feed serves only what lies below the cluster's oldest open transaction, so
//! the readers that expect something wait for it.

use std::time::Duration;

use layerr_projections::{Cursor, Db, StoredEvent};
use serde_json::{json, Value};

use super::{wait, Gateway};

/// Every event the feed serves now, read `batch` at a time.
pub async fn read_feed(db: &Db, batch: i64) -> Vec<StoredEvent> {
    let mut cursor = Cursor::default();
    let mut out = Vec::new();
    loop {
        let events = db.read_feed(cursor, batch).await.unwrap();
        let Some(last) = events.last() else { return out };
        cursor = last.cursor;
        out.extend(events);
    }
}

/// Reads the feed until it holds `n` events that `keep` selects, or `timeout` has passed, and
/// returns those it selects (fewer than `n` then: the caller's assertions say what is missing).
pub async fn read_feed_until(
    db: &Db,
    batch: i64,
    timeout: Duration,
    n: usize,
    keep: impl Fn(&StoredEvent) -> bool,
) -> Vec<StoredEvent> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let out: Vec<StoredEvent> = read_feed(db, batch).await.into_iter().filter(|e| keep(e)).collect();
        if out.len() >= n || tokio::time::Instant::now() > deadline {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event in the gateway's store, in feed order.
pub async fn all(gw: &Gateway) -> Vec<StoredEvent> {
    read_feed(&gw.started.state.store.db, 1000).await
}

/// Every event of one aggregate type (`"Trace"`, `"Workspace"`, …), in feed order.
pub async fn of_type(gw: &Gateway, aggregate_type: &str) -> Vec<StoredEvent> {
    all(gw).await.into_iter().filter(|e| e.aggregate_type == aggregate_type).collect()
}

/// The events of one aggregate, once at least `n` are readable (or after 5 s, whatever is there).
pub async fn of_aggregate(gw: &Gateway, aggregate_id: &str, n: usize) -> Vec<StoredEvent> {
    read_feed_until(&gw.started.state.store.db, 1000, Duration::from_secs(5), n, |e| e.aggregate_id == aggregate_id)
        .await
}

/// The first `event_type` event of aggregate `aggregate_id`, once the appender has committed it.
pub async fn wait_for(gw: &Gateway, aggregate_id: &str, event_type: &str) -> StoredEvent {
    wait::until(Duration::from_secs(10), Duration::from_millis(20), async || {
        all(gw)
            .await
            .into_iter()
            .find(|e| e.aggregate_id == aggregate_id && e.event_type == event_type)
            .ok_or_else(|| format!("{aggregate_id} has no {event_type}"))
    })
    .await
}

/// A trace's events as `{"type", "body"}`, in order, once one of them is a `last` (waits for the
/// appender to commit them).
pub async fn of_trace_until(gw: &Gateway, trace_id: &str, last: &str) -> Vec<Value> {
    wait::until(Duration::from_secs(10), Duration::from_millis(20), async || {
        let out: Vec<Value> = all(gw)
            .await
            .into_iter()
            .filter(|e| e.aggregate_id == trace_id)
            .map(|e| json!({"type": e.event_type, "body": e.body()}))
            .collect();
        if out.iter().any(|e| e["type"] == last) {
            Ok(out)
        } else {
            Err(format!("trace {trace_id} never reached {last}: {out:?}"))
        }
    })
    .await
}

/// The types of events shaped as [`of_trace_until`] returns them.
pub fn types(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect()
}

/// The sum of `CostCharged.costMicros` over `events` for one workspace.
pub fn charged(events: &[StoredEvent], workspace: &str) -> i64 {
    events
        .iter()
        .filter(|e| e.event_type == "CostCharged" && e.meta("workspace") == Some(workspace))
        .map(|e| e.body()["charge"]["costMicros"].as_i64().unwrap())
        .sum()
}

/// How many events of `event_type` the store at `url` holds, read with SQL on a connection of
/// its own (not through the gateway's pools, nor through a proxy in front of them).
pub async fn count_stored(url: &str, event_type: &str) -> i64 {
    let db = Db::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = $1")
        .bind(event_type)
        .fetch_one(&db.any)
        .await
        .unwrap()
}

/// Waits (15 s) until the store at `url` holds exactly `want` events of `event_type`; more than
/// `want` fails at once.
pub async fn wait_stored(url: &str, event_type: &str, want: i64) {
    wait::until(Duration::from_secs(15), Duration::from_millis(100), async || {
        let n = count_stored(url, event_type).await;
        assert!(n <= want, "{n} {event_type} events stored, want {want}");
        if n == want {
            Ok(())
        } else {
            Err(format!("{n} {event_type} events stored, want {want}"))
        }
    })
    .await
}
