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

pub async fn save_checkpoint(conn: &mut AnyConnection, name: &str, c: Cursor) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO projection_checkpoints (name, tx_id, position, updated_at_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, position = excluded.position,
                                          updated_at_ms = excluded.updated_at_ms",
    )
    .bind(name)
    .bind(c.tx_id)
    .bind(c.position)
    .bind(chrono::Utc::now().timestamp_millis())
    .execute(conn)
    .await?;
    Ok(())
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
            save_checkpoint(&mut tx, self.projector.name(), covered).await?;
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
