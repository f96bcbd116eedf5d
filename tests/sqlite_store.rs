//! The embedded SQLite store: writers queue on the write lock (`BEGIN IMMEDIATE`) instead of
//! failing with `SQLITE_BUSY`/`SQLITE_BUSY_SNAPSHOT` when another commits in between (the
//! appender and the projection runners), the database files are readable by their owner only,
//! and `sync` durability commits with `synchronous = FULL` on every connection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{AnyConnection, Connection};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use common::{config_for, Backing, Gateway, Kind};
use layerr::appender::{Appender, Durability, NewEvent};
use layerr_projections::db::TypedPool;
use layerr_projections::{Db, DbError, Interest, ProjectionRunner, Projector, StoredEvent};

async fn sqlite_db(dir: &tempfile::TempDir) -> Db {
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("layerr.db").display())).await.unwrap();
    db.migrate().await.unwrap();
    db
}

fn trace_events(id: &str, n: i64) -> Vec<NewEvent> {
    (1..=n)
        .map(|sequence| NewEvent {
            aggregate_type: "Trace",
            aggregate_id: id.to_string(),
            sequence,
            event_type: "TestEvent".into(),
            event_version: "1.0".into(),
            payload: "{}".into(),
            metadata: "{}".into(),
        })
        .collect()
}

/// Another writer holds the write lock (a projection committing its batch): the appender waits
/// for it instead of failing its transaction and retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appender_waits_for_the_write_lock_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(&dir).await;
    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    let appender = Appender::spawn(db.clone(), Arc::new(Notify::new()), Durability::Sync, 64, &tracker, cancel.clone());
    appender.append(trace_events("warm-up", 2)).await.unwrap();

    for round in 0..5 {
        let mut other = db.any.acquire().await.unwrap();
        let mut tx = other.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO projection_checkpoints (name, tx_id, position, updated_at_ms) VALUES ($1, 0, 0, 0)")
            .bind(format!("holder-{round}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let a = appender.clone();
        let id = format!("t-{round}");
        let write = tokio::spawn(async move { a.append(trace_events(&id, 3)).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        tx.commit().await.unwrap();
        write.await.unwrap().expect("the events are stored");
    }
    let status = appender.status();
    assert_eq!(status.failed_writes, 0, "the appender failed writes on a held lock: {status:?}");
    assert!(status.failing_for.is_none());
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_type = 'TestEvent'")
        .fetch_one(&db.any)
        .await
        .unwrap();
    assert_eq!(stored, 2 + 5 * 3);
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

/// Reads the store, pauses, then writes: the shape of a read model's batch.
struct ReadThenWrite;

#[async_trait]
impl Projector for ReadThenWrite {
    fn name(&self) -> &'static str {
        "read_then_write"
    }

    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
        let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(&mut *conn).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("INSERT INTO scratch (n) VALUES ($1)").bind(events.len() as i64).execute(&mut *conn).await?;
        Ok(())
    }

    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        sqlx::query("DELETE FROM scratch").execute(conn).await?;
        Ok(())
    }

    fn interest(&self) -> Interest {
        Interest { column: "aggregate_type", values: &["Trace"] }
    }
}

/// A commit elsewhere between a projection batch's read and its write: the batch used to fail
/// (`SQLITE_BUSY_SNAPSHOT`, "projection batch failed; retrying"); now the other writer waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_batch_holds_the_write_lock_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(&dir).await;
    sqlx::raw_sql("CREATE TABLE scratch (n bigint)").execute(&db.any).await.unwrap();
    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    let appender = Appender::spawn(db.clone(), Arc::new(Notify::new()), Durability::Sync, 64, &tracker, cancel.clone());
    appender.append(trace_events("a", 2)).await.unwrap();

    let runner = ProjectionRunner::new(db.clone(), Arc::new(ReadThenWrite), Arc::new(Notify::new()), Duration::MAX);
    let other = {
        let db = db.clone();
        tokio::spawn(async move {
            // Lands between the batch's read and its write.
            tokio::time::sleep(Duration::from_millis(80)).await;
            sqlx::query(
                "INSERT INTO projection_checkpoints (name, tx_id, position, updated_at_ms) VALUES ('x', 0, 0, 0)",
            )
            .execute(&db.any)
            .await
        })
    };
    let applied = runner.catch_up().await.expect("the projection batch commits");
    assert_eq!(applied, 2);
    other.await.unwrap().expect("the other writer waited for the lock and committed");
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
}

/// The database and its WAL and shared-memory files are created 0600, like `master.key`.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let backing = Backing::Sqlite(dir);
    let config = config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    let (s, v) = gw.admin("GET", "/api/workspaces", None).await;
    assert_eq!(s, 200, "{v}");
    for name in ["layerr.db", "layerr.db-wal", "layerr.db-shm", "master.key"] {
        let mode = std::fs::metadata(path.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
    drop(gw.stop().await);
}

/// `sync` answers once the commit is on the disk: `synchronous = FULL` on both pools; `batched`
/// runs both at NORMAL (a commit survives a crash of the process, not a power loss).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_durability_commits_with_synchronous_full() {
    for (durability, want) in [(Durability::Sync, 2i64), (Durability::Batched, 1i64)] {
        let backing = common::backing(Kind::Sqlite).await;
        let mut config = config_for(&backing);
        config.store.durability = durability;
        let gw = Gateway::start_with(backing, config).await;
        let db = &gw.started.state.store.db;
        let any: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&db.any).await.unwrap();
        let TypedPool::Sqlite(pool) = &db.typed else { unreachable!() };
        let typed: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap();
        assert_eq!((any, typed), (want, want), "{durability:?}");
        gw.stop().await;
    }
}
