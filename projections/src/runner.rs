//! The projection runner: feeds each projector batches from the global feed and stores the batch
//! and the projector's checkpoint in one transaction, so a crash or a replayed batch changes
//! nothing twice. Wakes on an in-process signal (a command committed here) or polls.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};
use tokio::sync::Notify;

use crate::db::{begin_write, Db, DbError};
use crate::feed::{Cursor, Interest, StoredEvent};

const BATCH: i64 = 500;
/// After a wake-up, a runner waits this long so one catch-up covers many commits.
const COALESCE: Duration = Duration::from_millis(50);
/// How soon a runner looks again while committed events wait behind an open transaction.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(50);

#[async_trait]
pub trait Projector: Send + Sync {
    /// Also the checkpoint key.
    fn name(&self) -> &'static str;
    /// Applies a batch inside the caller's transaction. Must not commit.
    async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError>;
    /// Empties the read model (inside the caller's transaction), for a rebuild.
    async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError>;
    /// The events it reads (the runner asks the store for these only).
    fn interest(&self) -> Interest;
}

pub async fn load_checkpoint(db: &Db, name: &str) -> Result<Cursor, DbError> {
    let row = sqlx::query("SELECT tx_id, position FROM projection_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.any)
        .await?;
    Ok(match row {
        Some(r) => Cursor { tx_id: r.try_get("tx_id")?, position: r.try_get("position")? },
        None => Cursor::default(),
    })
}

/// Moves `name`'s checkpoint to `c`, only forward: a checkpoint already at or past `c` (another
/// runner got there first, e.g. a `rebuild` racing `serve`) stays where it is.
pub async fn save_checkpoint(conn: &mut AnyConnection, name: &str, c: Cursor) -> Result<(), DbError> {
    advance_checkpoint(conn, name, c).await.map(|_| ())
}

/// [`save_checkpoint`], saying whether the checkpoint moved. The guard is in the statement
/// itself (`DO UPDATE … WHERE`), so two transactions cannot both pass it: on Postgres the second
/// waits for the first's row lock and then sees its checkpoint; SQLite has one writer.
pub async fn advance_checkpoint(conn: &mut AnyConnection, name: &str, c: Cursor) -> Result<bool, DbError> {
    let done = sqlx::query(
        "INSERT INTO projection_checkpoints (name, tx_id, position, updated_at_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position,
                                          updated_at_ms = excluded.updated_at_ms
          WHERE (excluded.tx_id, excluded.position)
              > (projection_checkpoints.tx_id, projection_checkpoints.position)",
    )
    .bind(name)
    .bind(c.tx_id)
    .bind(c.position)
    .bind(chrono::Utc::now().timestamp_millis())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub struct ProjectionRunner {
    db: Db,
    projector: Arc<dyn Projector>,
    wake: Arc<Notify>,
    poll: Duration,
}

impl ProjectionRunner {
    pub fn new(db: Db, projector: Arc<dyn Projector>, wake: Arc<Notify>, poll: Duration) -> Self {
        ProjectionRunner { db, projector, wake, poll }
    }

    /// Applies everything available now; returns how many events were applied.
    pub async fn catch_up(&self) -> Result<usize, DbError> {
        Ok(self.catch_up_to().await?.0)
    }

    /// Applies everything available now; returns how many events and the checkpoint reached.
    async fn catch_up_to(&self) -> Result<(usize, Cursor), DbError> {
        let cursor = load_checkpoint(&self.db, self.projector.name()).await?;
        let mut reached = cursor;
        let applied = self.apply_from(cursor, |_| {}, &mut reached).await?;
        Ok((applied, reached))
    }

    /// Committed events this projector reads that lie past the high-water mark (an older
    /// transaction, perhaps in another database, is still open): they become readable when it
    /// ends, which notifies nobody, so the runner looks again soon instead of at the next poll.
    async fn held_back(&self, cursor: Cursor) -> bool {
        self.db.read_beyond(cursor, 1, &self.projector.interest()).await.is_ok_and(|v| !v.is_empty())
    }

    async fn apply_from(
        &self,
        mut cursor: Cursor,
        mut progress: impl FnMut(usize),
        reached: &mut Cursor,
    ) -> Result<usize, DbError> {
        let mut applied = 0;
        loop {
            *reached = cursor;
            let (batch, covered) = self.db.read_feed_matching(cursor, BATCH, &self.projector.interest()).await?;
            if covered <= cursor {
                return Ok(applied);
            }
            let mut conn = self.db.any.acquire().await?;
            // A projector reads before it writes: on SQLite the transaction takes the write lock
            // first, or a commit between its read and its write would fail it.
            let mut tx = begin_write(&mut conn).await?;
            self.projector.apply(&mut tx, &batch).await?;
            if !advance_checkpoint(&mut tx, self.projector.name(), covered).await? {
                // Another runner already moved the checkpoint to or past this batch (a rebuild
                // racing `serve`): its read model has these events, so this batch is dropped and
                // the read goes on from where the checkpoint is now.
                tx.rollback().await?;
                drop(conn);
                cursor = load_checkpoint(&self.db, self.projector.name()).await?.max(covered);
                continue;
            }
            tx.commit().await?;
            applied += batch.len();
            cursor = covered;
            progress(applied);
        }
    }

    /// Runs until `stop` fires. Errors are logged and retried after the poll interval. A
    /// catch-up in progress is abandoned at `stop` (its transaction rolls back; the checkpoint
    /// moves only with its batch), so an unreachable store cannot hold shutdown for a pool timeout.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            // Register interest before reading, so a wake-up during catch-up is not lost.
            let notified = self.wake.notified();
            let mut wait = self.poll;
            let step = async {
                match self.catch_up_to().await {
                    Ok((_, reached)) => self.held_back(reached).await,
                    Err(e) => {
                        tracing::warn!(projector = self.projector.name(), error = %e, "projection batch failed; retrying");
                        false
                    }
                }
            };
            let held_back = tokio::select! {
                _ = &mut stop => return,
                held_back = step => held_back,
            };
            if held_back {
                wait = wait.min(HELD_BACK_RECHECK);
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = notified => {
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(COALESCE) => {}
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Truncates the read model and its checkpoint, then replays the whole feed. `progress` gets
    /// (applied so far, total events in the store).
    pub async fn rebuild(&self, mut progress: impl FnMut(usize, i64)) -> Result<usize, DbError> {
        let total = self.db.events_after_matching(Cursor::default(), &self.projector.interest()).await?;
        {
            let mut conn = self.db.any.acquire().await?;
            let mut tx = begin_write(&mut conn).await?;
            self.projector.truncate(&mut tx).await?;
            sqlx::query("DELETE FROM projection_checkpoints WHERE name = $1")
                .bind(self.projector.name())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let mut reached = Cursor::default();
        self.apply_from(Cursor::default(), |applied| progress(applied, total), &mut reached).await
    }

    pub fn name(&self) -> &'static str {
        self.projector.name()
    }

    /// Events this projector still has to read.
    pub async fn lag(&self) -> Result<i64, DbError> {
        let cp = load_checkpoint(&self.db, self.projector.name()).await?;
        self.db.events_after_matching(cp, &self.projector.interest()).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::db::Backend;

    /// Counts the events it is given in a table of its own, inside the runner's transaction.
    struct Counting;

    #[async_trait]
    impl Projector for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }

        async fn apply(&self, conn: &mut AnyConnection, events: &[StoredEvent]) -> Result<(), DbError> {
            for e in events {
                sqlx::query("INSERT INTO counted (position) VALUES ($1)")
                    .bind(e.position())
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        }

        async fn truncate(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
            sqlx::query("DELETE FROM counted").execute(conn).await?;
            Ok(())
        }

        fn interest(&self) -> Interest {
            Interest { column: "aggregate_type", values: &["Probe"] }
        }
    }

    async fn seeded(db: &Db, events: i64) {
        db.migrate().await.unwrap();
        sqlx::query("CREATE TABLE counted (position BIGINT NOT NULL)").execute(&db.any).await.unwrap();
        let insert = match db.backend() {
            Backend::Postgres => {
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES ('Probe', 'p', $1, 'Probed', '1.0', '{}'::json, '{}'::json)"
            }
            Backend::Sqlite => {
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 VALUES ('Probe', 'p', $1, 'Probed', '1.0', '{}', '{}')"
            }
        };
        for seq in 1..=events {
            sqlx::query(insert).bind(seq).execute(&db.any).await.unwrap();
        }
    }

    async fn counted(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM counted").fetch_one(&db.any).await.unwrap()
    }

    async fn save(db: &Db, name: &str, c: Cursor) -> bool {
        let mut conn = db.any.acquire().await.unwrap();
        advance_checkpoint(&mut conn, name, c).await.unwrap()
    }

    /// The checkpoint moves only forward, and a runner whose batch another runner has already
    /// applied (a rebuild racing `serve`) drops it instead of applying it twice.
    async fn checkpoints_only_move_forward(db: Db) {
        seeded(&db, 3).await;
        let head = db.settled_head().await.unwrap();
        let at = |position: i64| Cursor { tx_id: head.tx_id, position };
        assert!(save(&db, "cp", at(5)).await, "the first save inserts");
        assert!(!save(&db, "cp", at(2)).await, "backwards: refused");
        assert!(!save(&db, "cp", at(5)).await, "the same place: nothing to move");
        assert_eq!(load_checkpoint(&db, "cp").await.unwrap(), at(5));
        assert!(save(&db, "cp", at(9)).await);
        let mut conn = db.any.acquire().await.unwrap();
        save_checkpoint(&mut conn, "cp", at(1)).await.unwrap();
        drop(conn);
        assert_eq!(load_checkpoint(&db, "cp").await.unwrap(), at(9), "save_checkpoint is guarded too");

        // Another runner applied everything and checkpointed the head; this one still reads from
        // the start (it loaded its cursor before that commit).
        let runner = ProjectionRunner::new(db.clone(), Arc::new(Counting), Arc::new(Notify::new()), Duration::ZERO);
        assert_eq!(runner.catch_up().await.unwrap(), 3);
        assert_eq!(counted(&db).await, 3);
        let batches = AtomicUsize::new(0);
        let mut reached = Cursor::default();
        let applied = runner
            .apply_from(
                Cursor::default(),
                |_| {
                    batches.fetch_add(1, Ordering::Relaxed);
                },
                &mut reached,
            )
            .await
            .unwrap();
        assert_eq!((applied, batches.load(Ordering::Relaxed)), (0, 0), "the stale batch is dropped");
        assert_eq!(counted(&db).await, 3, "nothing applied twice");
        assert_eq!(reached, load_checkpoint(&db, "counting").await.unwrap());
        assert_eq!(reached, head);
    }

    #[tokio::test]
    async fn checkpoints_only_move_forward_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}/cp.db", dir.path().display())).await.unwrap();
        checkpoints_only_move_forward(db).await;
    }

    #[tokio::test]
    async fn checkpoints_only_move_forward_on_postgres() {
        use sqlx::Connection;
        let admin = std::env::var("LAYERR_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("layerr_cp_{}_{}", std::process::id(), chrono::Utc::now().timestamp_micros());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("Postgres (LAYERR_TEST_PG_URL)");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let db = Db::connect(&format!("{base}/{name}")).await.unwrap();
        checkpoints_only_move_forward(db.clone()).await;
        db.any.close().await;
        sqlx::raw_sql(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
    }
}
