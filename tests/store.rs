//! The event store on both backends: one suite, run against SQLite and Postgres. Migrations,
//! commands through cqrs-es, optimistic concurrency, the global feed (order, cursor, metadata),
//! its high-water mark under concurrent writers, and a rebuild reproducing a read model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{backing, config_for, events, Backing, Kind};
use layerr::state::HotState;
use layerr::store::{CommandContext, EventStore};
use layerr_domain::keys::KeyRecord;
use layerr_domain::workspace::types::{Profile, Tier};
use layerr_domain::workspace::{WorkspaceCommand, WorkspaceEvent};
use layerr_projections::audit_log::{self, AuditFilter};
use layerr_projections::{Cursor, Db, ProjectionRunner};

async fn open(kind: Kind) -> (Backing, Db, EventStore, Arc<HotState>) {
    let backing = backing(kind).await;
    let db = layerr::server::open_store(&config_for(&backing)).await.unwrap();
    let hot = HotState::new();
    let store = EventStore::new(db.clone(), hot.clone());
    (backing, db, store, hot)
}

fn ctx(actor: &str, ws: &str) -> CommandContext {
    CommandContext { actor: actor.into(), request_id: Some("req-1".into()), workspace: Some(ws.into()) }
}

fn create(slug: &str) -> WorkspaceCommand {
    WorkspaceCommand::CreateWorkspace {
        slug: slug.into(),
        profile: Profile { name: slug.into(), description: None },
        tier: Tier::Free,
        at: Utc::now(),
    }
}

fn issue(i: usize) -> WorkspaceCommand {
    let key = layerr::keys::generate(&format!("k{i}"));
    WorkspaceCommand::IssueKey { key: key.record, at: Utc::now() }
}

/// Reads the feed (7 events a batch, so that reads page) until it holds `n` events. On Postgres
/// the feed stops at the oldest running transaction of the whole cluster, so another test's open
/// transaction may hold it back a while.
async fn read_settled(db: &Db, n: usize) -> Vec<layerr_projections::StoredEvent> {
    events::read_feed_until(db, 7, Duration::from_secs(20), n, |_| true).await
}

async fn suite(kind: Kind) {
    let (_backing, db, store, hot) = open(kind).await;
    assert_eq!(db.migrate().await.unwrap(), 0, "migrations are idempotent");

    store.execute(&store.workspaces, "acme", create("acme"), &ctx("admin-1", "acme")).await.unwrap();
    for i in 0..3 {
        store.execute(&store.workspaces, "acme", issue(i), &ctx("admin-1", "acme")).await.unwrap();
    }
    // A command the aggregate refuses writes nothing.
    let err = store.execute(&store.workspaces, "acme", create("acme"), &ctx("admin-1", "acme")).await.unwrap_err();
    assert_eq!(err.to_string(), "workspace 'acme' already exists");

    let events = read_settled(&db, 4).await;
    assert_eq!(events.len(), 4);
    let positions: Vec<i64> = events.iter().map(|e| e.position()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(events.iter().map(|e| e.sequence).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(events[0].event_type, "WorkspaceCreated");
    assert_eq!(events[0].event_version, "1.0");
    assert_eq!(events[1].meta("actor"), Some("admin-1"));
    assert_eq!(events[1].meta("requestId"), Some("req-1"));
    let decoded: WorkspaceEvent = events[1].decode().unwrap();
    assert!(matches!(decoded, WorkspaceEvent::ApiKeyIssued { .. }));
    assert_eq!(db.feed_head().await.unwrap(), (positions[3], 4));
    assert_eq!(db.events_after(events[1].cursor).await.unwrap(), 2);
    // Reading after the last cursor yields nothing; reading after the first skips exactly one.
    assert!(db.read_feed(events[3].cursor, 10).await.unwrap().is_empty());
    assert_eq!(db.read_feed(events[0].cursor, 10).await.unwrap().len(), 3);

    // The post-commit path already brought the in-memory state up to date.
    assert_eq!(hot.keys_of(Some("acme")).len(), 3);
    // A fresh in-memory state rebuilt from the feed agrees.
    let rebuilt = HotState::new();
    assert_eq!(rebuilt.catch_up(&db).await.unwrap(), 4);
    assert_eq!(rebuilt.keys_of(Some("acme")).len(), 3);
    assert_eq!(rebuilt.workspace("acme").unwrap().limits.tier, Tier::Free);

    // Concurrent commands on one aggregate: optimistic locking plus retry loses none.
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.execute(&store.workspaces, "acme", issue(100 + i), &ctx("admin-2", "acme")).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let events = read_settled(&db, 12).await;
    assert_eq!(events.len(), 12);
    let seqs: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite_on_sqlite() {
    suite(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite_on_postgres() {
    suite(Kind::Postgres).await;
}

/// Many writers on many aggregates while a reader tails the feed: the reader sees every event
/// exactly once, in an order that never goes back, and ends with exactly the table's contents.
async fn concurrent_writers_never_skip(kind: Kind) {
    let (_backing, db, store, _hot) = open(kind).await;
    let store = Arc::new(store);
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 25;
    let total = WRITERS * (PER_WRITER + 1);

    let reader_db = db.clone();
    let reader = tokio::spawn(async move {
        let mut cursor = Cursor::default();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while seen.len() < total {
            assert!(tokio::time::Instant::now() < deadline, "reader stalled at {} of {total}", seen.len());
            let batch = reader_db.read_feed(cursor, 16).await.unwrap();
            for e in &batch {
                assert!(e.cursor > cursor, "cursor went back: {:?} after {:?}", e.cursor, cursor);
                cursor = e.cursor;
                seen.push(e.position());
            }
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        seen
    });

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let slug = format!("ws-{w}");
            store.execute(&store.workspaces, &slug, create(&slug), &ctx("w", &slug)).await.unwrap();
            for i in 0..PER_WRITER {
                store.execute(&store.workspaces, &slug, issue(i), &ctx("w", &slug)).await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "an event was delivered twice");
    let all: HashSet<i64> = read_settled(&db, total).await.iter().map(|e| e.position()).collect();
    assert_eq!(all.len(), total);
    assert_eq!(unique, all, "the tailing reader skipped events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_skip_on_sqlite() {
    concurrent_writers_never_skip(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_skip_on_postgres() {
    concurrent_writers_never_skip(Kind::Postgres).await;
}

/// The Postgres case that paging by position alone gets wrong: a transaction that took a lower
/// position commits after one with a higher position. The feed must not pass the open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_waits_for_an_earlier_open_transaction_on_postgres() {
    use sqlx::Connection;
    let (backing, db, _store, _hot) = open(Kind::Postgres).await;
    let Backing::Postgres(pg) = &backing else { unreachable!() };
    let insert =
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                  VALUES ('Test', $1, 1, 'Happened', '1.0', '{\"Happened\":{}}', '{}') RETURNING global_position";

    let mut slow = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let mut fast = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let mut slow_tx = slow.begin().await.unwrap();
    let p_slow: i64 = sqlx::query_scalar(insert).bind("slow").fetch_one(&mut *slow_tx).await.unwrap();
    let mut fast_tx = fast.begin().await.unwrap();
    let p_fast: i64 = sqlx::query_scalar(insert).bind("fast").fetch_one(&mut *fast_tx).await.unwrap();
    fast_tx.commit().await.unwrap();
    assert!(p_slow < p_fast);

    // The later transaction has committed, but an earlier one is still open: nothing is served
    // past the high-water mark, so a reader cannot move its cursor beyond the open one.
    let visible = db.read_feed(Cursor::default(), 10).await.unwrap();
    assert!(visible.is_empty(), "feed passed an open transaction: {visible:?}");

    slow_tx.commit().await.unwrap();
    // Other tests' transactions elsewhere in the cluster may hold the mark a moment longer.
    let visible = read_settled(&db, 2).await;
    let ids: Vec<&str> = visible.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(ids, vec!["slow", "fast"], "commit order by transaction id");
}

async fn rebuild_reproduces_the_audit_log(kind: Kind) {
    let (_backing, db, store, _hot) = open(kind).await;
    for slug in ["a1", "b2", "c3"] {
        store.execute(&store.workspaces, slug, create(slug), &ctx("admin", slug)).await.unwrap();
        store.execute(&store.workspaces, slug, issue(1), &ctx("admin", slug)).await.unwrap();
    }
    let runner =
        ProjectionRunner::new(db.clone(), Arc::new(audit_log::AuditLog), Default::default(), Duration::from_secs(1));
    assert_eq!(runner.catch_up().await.unwrap(), 6);
    assert_eq!(runner.catch_up().await.unwrap(), 0, "a caught-up projector applies nothing");
    let filter = AuditFilter { limit: 100, ..Default::default() };
    let live = audit_log::list(&db, &filter).await.unwrap();
    assert_eq!(live.len(), 6);
    let mut progress = Vec::new();
    let applied = runner.rebuild(|done, total| progress.push((done, total))).await.unwrap();
    assert_eq!(applied, 6);
    assert_eq!(progress.last(), Some(&(6, 6)));
    assert_eq!(audit_log::list(&db, &filter).await.unwrap(), live);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_reproduces_the_audit_log_on_sqlite() {
    rebuild_reproduces_the_audit_log(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_reproduces_the_audit_log_on_postgres() {
    rebuild_reproduces_the_audit_log(Kind::Postgres).await;
}

#[tokio::test]
async fn key_records_in_events_never_hold_the_key() {
    let (_backing, db, store, _hot) = open(Kind::Sqlite).await;
    store.execute(&store.workspaces, "acme", create("acme"), &ctx("a", "acme")).await.unwrap();
    let key = layerr::keys::generate("secret-test");
    let record: KeyRecord = key.record.clone();
    store
        .execute(
            &store.workspaces,
            "acme",
            WorkspaceCommand::IssueKey { key: record, at: Utc::now() },
            &ctx("a", "acme"),
        )
        .await
        .unwrap();
    let secret_part = &key.plaintext[12..];
    for e in read_settled(&db, 3).await {
        let text = format!("{} {}", e.payload, e.metadata);
        assert!(!text.contains(secret_part), "event {} holds key material", e.position());
    }
}
