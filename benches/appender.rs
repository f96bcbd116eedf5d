//! Throughput of the group-commit appender (`src/appender.rs`) on SQLite and Postgres: C
//! concurrent producers each append trace-shaped batches (the six events of a request that fell
//! back once: received, route decided, attempt failed, attempt succeeded, cost charged,
//! completed) until N requests are stored; prints events/s, requests/s and the append latency a
//! request waits for, as a markdown table. Each run uses a fresh store and checks afterwards that
//! it holds exactly the events appended.
//!
//! `cargo bench --bench appender [-- OPTIONS]`:
//!   --requests N            requests per run (default 20000)
//!   --producers 1,16,64     concurrent producers
//!   --backends sqlite,postgres
//!   --durability batched,sync
//!   --notify on,off         Postgres: `off` drops the NOTIFY trigger, to measure its cost
//! Postgres: a database is created and dropped per run on LAYERR_BENCH_PG_URL (default
//! postgres://postgres@127.0.0.1:5432/postgres).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use cqrs_es::DomainEvent;
use sqlx::Connection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use layerr::appender::{Appender, Durability, NewEvent};
use layerr_domain::trace::TraceEvent;
use layerr_projections::Db;

const EVENTS_PER_REQUEST: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Options {
    requests: usize,
    producers: Vec<usize>,
    backends: Vec<Backend>,
    durability: Vec<Durability>,
    notify: Vec<bool>,
    pg_url: String,
}

fn list<T>(v: &str, parse: impl Fn(&str) -> anyhow::Result<T>) -> anyhow::Result<Vec<T>> {
    v.split(',').map(|s| parse(s.trim())).collect()
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        requests: 20_000,
        producers: vec![1, 16, 64],
        backends: vec![Backend::Sqlite, Backend::Postgres],
        durability: vec![Durability::Batched, Durability::Sync],
        notify: vec![true, false],
        pg_url: std::env::var("LAYERR_BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        // `cargo bench` passes `--bench` to every bench binary.
        if a == "--bench" {
            continue;
        }
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--requests" => o.requests = value()?.parse().context("--requests")?,
            "--producers" => o.producers = list(&value()?, |s| Ok(s.parse::<usize>()?))?,
            "--backends" => {
                o.backends = list(&value()?, |s| match s {
                    "sqlite" => Ok(Backend::Sqlite),
                    "postgres" => Ok(Backend::Postgres),
                    _ => bail!("unknown backend {s}"),
                })?
            }
            "--durability" => {
                o.durability = list(&value()?, |s| match s {
                    "batched" => Ok(Durability::Batched),
                    "sync" => Ok(Durability::Sync),
                    _ => bail!("unknown durability {s}"),
                })?
            }
            "--notify" => {
                o.notify = list(&value()?, |s| match s {
                    "on" => Ok(true),
                    "off" => Ok(false),
                    _ => bail!("--notify takes on,off"),
                })?
            }
            other => bail!("unknown option {other}"),
        }
    }
    if o.requests == 0 || o.producers.contains(&0) {
        bail!("--requests and --producers must be positive");
    }
    Ok(o)
}

/// The payloads of one request's trace, serialised once (the request path serialises them in
/// the request's own task, before the appender sees them). Written as JSON and read through the
/// real `TraceEvent` type, so the payloads are exactly what the gateway stores (fields added
/// later with defaults included) and a shape change fails here loudly.
fn trace_payloads() -> Vec<(String, String)> {
    use serde_json::json;
    let at = Utc::now();
    let candidate = |provider: &str, model: &str, total: f64| {
        json!({"provider": provider, "model": model,
               "scores": {"quality": 0.82, "speed": 0.64, "cost": 0.91, "total": total},
               "qualityPrior": 0.82, "expectedLatencyMs": 640.0, "estimatedCostMicros": 1250, "excluded": null})
    };
    let events = [
        json!({"RequestReceived": {"at": at, "received": {
            "workspace": "bench", "keyId": "key_0192f1c3a7b84e2f", "endpoint": "/v1/chat/completions",
            "requestedModel": "layerr-auto", "stream": false, "intent": "coding", "intentConfidence": 0.87,
            "strategy": "balanced", "fallbackMode": "relaxed", "messageCount": 3, "estimatedPromptTokens": 412,
            "maxTokens": 1024, "content": null, "replayOf": null}}}),
        json!({"RouteDecided": {"at": at, "decision": {
            "weights": {"quality": 0.4, "speed": 0.3, "cost": 0.3},
            "candidates": [candidate("openai-main", "gpt-4o-mini", 0.79),
                           candidate("anthropic-main", "claude-3-5-haiku", 0.77),
                           candidate("openai-main", "gpt-4o", 0.71)],
            "chain": [["openai-main", "gpt-4o-mini"], ["anthropic-main", "claude-3-5-haiku"], ["openai-main", "gpt-4o"]],
            "summary": "coding (0.87) via balanced: openai-main/gpt-4o-mini scored 0.79 of 3 candidates"}}}),
        json!({"AttemptFailed": {"at": at, "attempt": {
            "attempt": 1, "provider": "openai-main", "model": "gpt-4o-mini", "latencyMs": 31, "ttftMs": null,
            "errorKind": "server", "status": 503, "message": "upstream returned 503 Service Unavailable"}}}),
        json!({"AttemptSucceeded": {"at": at, "attempt": {
            "attempt": 2, "provider": "anthropic-main", "model": "claude-3-5-haiku", "latencyMs": 612,
            "ttftMs": 188, "errorKind": null, "status": null, "message": null}}}),
        json!({"CostCharged": {"at": at, "charge": {
            "provider": "anthropic-main", "model": "claude-3-5-haiku", "tokensIn": 412, "tokensOut": 238,
            "cachedTokens": 0, "cacheWriteTokens": 0, "reasoningTokens": 0, "costMicros": 1282,
            "priceVersion": "2026-11-01", "estimated": false}}}),
        json!({"RequestCompleted": {"at": at, "provider": "anthropic-main", "model": "claude-3-5-haiku",
            "latencyMs": 651, "finishReason": "stop"}}),
    ];
    assert_eq!(events.len(), EVENTS_PER_REQUEST);
    events
        .into_iter()
        .map(|v| {
            let e: TraceEvent =
                serde_json::from_value(v.clone()).unwrap_or_else(|err| panic!("not a TraceEvent ({err}): {v}"));
            (e.event_type(), serde_json::to_string(&e).expect("serialisable"))
        })
        .collect()
}

fn request(template: &[(String, String)], metadata: &str) -> Vec<NewEvent> {
    let id = uuid::Uuid::now_v7().to_string();
    template
        .iter()
        .enumerate()
        .map(|(i, (event_type, payload))| NewEvent {
            aggregate_type: "Trace",
            aggregate_id: id.clone(),
            sequence: i as i64 + 1,
            event_type: event_type.clone(),
            event_version: "1.0".into(),
            payload: payload.clone(),
            metadata: metadata.to_string(),
        })
        .collect()
}

/// A fresh store: a temporary SQLite file, or a new Postgres database (dropped by `cleanup`).
struct Store {
    db: Db,
    /// The Postgres database's URL.
    url: Option<String>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Store {
    async fn open(backend: Backend, pg_url: &str, notify: bool) -> anyhow::Result<Store> {
        let store = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let db = Db::connect(&format!("sqlite://{}", dir.path().join("bench.db").display())).await?;
                Store { db, url: None, _dir: Some(dir), pg: None }
            }
            Backend::Postgres => {
                let name = format!("layerr_bench_{}", uuid::Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(pg_url)
                    .await
                    .with_context(|| format!("Postgres must be reachable at {pg_url} (LAYERR_BENCH_PG_URL)"))?;
                sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
                admin.close().await?;
                let base = pg_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(pg_url);
                let url = format!("{base}/{name}");
                let db = Db::connect(&url).await?;
                Store { db, url: Some(url), _dir: None, pg: Some((pg_url.to_string(), name)) }
            }
        };
        store.db.migrate().await?;
        if backend == Backend::Postgres && !notify {
            sqlx::raw_sql("DROP TRIGGER events_notify ON events").execute(&store.db.any).await?;
        }
        Ok(store)
    }

    async fn cleanup(self) -> anyhow::Result<()> {
        self.db.any.close().await;
        if let layerr_projections::db::TypedPool::Postgres(p) = &self.db.typed {
            p.close().await;
        }
        if let Some((admin_url, name)) = self.pg {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
        }
        Ok(())
    }
}

struct Outcome {
    wall: Duration,
    latencies_us: Vec<u64>,
}

async fn run_once(db: &Db, durability: Durability, producers: usize, requests: usize) -> anyhow::Result<Outcome> {
    let template = Arc::new(trace_payloads());
    let metadata: Arc<str> =
        serde_json::json!({"actor": "key_0192f1c3a7b84e2f", "requestId": "req_bench", "workspace": "bench"})
            .to_string()
            .into();
    let tracker = TaskTracker::new();
    let cancel = CancellationToken::new();
    // Nothing listens: the gateway's feed consumers are not part of this measurement.
    let appender = Appender::spawn(db.clone(), Arc::new(Notify::new()), durability, 1024, &tracker, cancel.clone());
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(producers);
    for _ in 0..producers {
        let (appender, next, template, metadata) = (appender.clone(), next.clone(), template.clone(), metadata.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(requests / producers + 1);
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let events = request(&template, &metadata);
                let t = Instant::now();
                appender.append(events).await?;
                latencies.push(t.elapsed().as_micros() as u64);
            }
            Ok::<_, layerr::appender::AppendError>(latencies)
        }));
    }
    let mut latencies_us = Vec::with_capacity(requests);
    for t in tasks {
        latencies_us.extend(t.await??);
    }
    // Every handle dropped: the writer stores what is queued and ends. The clock stops when
    // everything is committed, whatever the durability.
    drop(appender);
    tracker.close();
    tracker.wait().await;
    let wall = start.elapsed();
    Ok(Outcome { wall, latencies_us })
}

async fn check(db: &Db, requests: usize) -> anyhow::Result<()> {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT count(*) AS n, count(DISTINCT aggregate_id) AS traces, max(sequence) AS top FROM events WHERE aggregate_type = 'Trace'",
    )
    .fetch_one(&db.any)
    .await?;
    let (n, traces, top): (i64, i64, i64) = (row.try_get("n")?, row.try_get("traces")?, row.try_get("top")?);
    let want = (requests * EVENTS_PER_REQUEST) as i64;
    if n != want || traces != requests as i64 || top != EVENTS_PER_REQUEST as i64 {
        bail!("store holds {n} trace events in {traces} traces (max sequence {top}); expected {want} in {requests}");
    }
    // The feed's positions are dense and unique: one per event.
    let positions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT global_position) FROM events WHERE aggregate_type = 'Trace'")
            .fetch_one(&db.any)
            .await?;
    if positions != want {
        bail!("{positions} distinct feed positions for {want} events");
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Postgres with the trigger on: a session listening as every gateway node does (so the server
/// signals a listener at each commit, as in production), counting the notifications. One
/// notification per transaction, so the count is the number of group commits.
struct Commits {
    count: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Commits {
    async fn listen(url: &str) -> anyhow::Result<Commits> {
        let mut listener = sqlx::postgres::PgListener::connect(url).await?;
        listener.listen(layerr::notify::CHANNEL).await?;
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let task = tokio::spawn(async move {
            while listener.recv().await.is_ok() {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Commits { count, task })
    }

    /// Notifications are delivered after the commit returns: give the last one a moment.
    async fn finish(self) -> usize {
        let mut last = usize::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.count.load(Ordering::Relaxed);
            if now == last {
                break;
            }
            last = now;
        }
        self.task.abort();
        last
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    println!("appender bench: {} requests × {EVENTS_PER_REQUEST} events per run\n", o.requests);
    println!(
        "| backend | durability | notify trigger | producers | events/s | requests/s | wall s | append p50 µs | append p99 µs | append max µs | commits (events/commit) | load (1 min) before | check |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for &backend in &o.backends {
        for &durability in &o.durability {
            for &producers in &o.producers {
                // Interleaved, so the trigger's cost is compared under the same load.
                let notify_modes: &[bool] = if backend == Backend::Postgres { &o.notify } else { &[false] };
                for &notify in notify_modes {
                    let before = load();
                    let store = Store::open(backend, &o.pg_url, notify).await?;
                    let commits = match (&store.url, notify) {
                        (Some(url), true) => Some(Commits::listen(url).await?),
                        _ => None,
                    };
                    let out = run_once(&store.db, durability, producers, o.requests).await?;
                    let commits = match commits {
                        Some(c) => Some(c.finish().await),
                        None => None,
                    };
                    let verdict = check(&store.db, o.requests).await;
                    store.cleanup().await?;
                    verdict?;
                    let events = o.requests * EVENTS_PER_REQUEST;
                    if commits == Some(0) {
                        bail!("the NOTIFY trigger is on but no notification arrived");
                    }
                    let mut lat = out.latencies_us;
                    lat.sort_unstable();
                    let secs = out.wall.as_secs_f64();
                    println!(
                        "| {} | {} | {} | {producers} | {:.0} | {:.0} | {secs:.2} | {} | {} | {} | {} | {before} | {events} events stored ✓ |",
                        match backend {
                            Backend::Sqlite => "sqlite",
                            Backend::Postgres => "postgres",
                        },
                        match durability {
                            Durability::Batched => "batched",
                            Durability::Sync => "sync",
                        },
                        match (backend, notify) {
                            (Backend::Sqlite, _) => "–",
                            (_, true) => "on",
                            (_, false) => "off",
                        },
                        events as f64 / secs,
                        o.requests as f64 / secs,
                        percentile(&lat, 0.50),
                        percentile(&lat, 0.99),
                        lat.last().copied().unwrap_or(0),
                        match commits {
                            Some(n) => format!("{n} ({:.1})", events as f64 / n as f64),
                            None => "–".into(),
                        },
                    );
                }
            }
        }
    }
    Ok(())
}
