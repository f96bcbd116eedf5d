//! The group-commit appender: the hot path's events reach the store through one writer task that
//! takes batches from many requests off a bounded channel and writes them in one multi-row insert
//! per transaction. A full channel backpressures requests; events are never dropped: a failed
//! write is retried until it succeeds, and shutdown drains the channel before the task ends.
//!
//! Durability: `batched` (default) returns once the events are queued; a crash in the window
//! between queueing and commit (a few milliseconds under load) loses them. `sync` waits for the
//! commit.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Acquire;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

use layerr_projections::{Backend, Db, DbError};

/// Rows per INSERT statement (7 parameters each, under both backends' parameter limits).
const ROWS_PER_STATEMENT: usize = 500;
/// Events per transaction at most.
const MAX_BATCH: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    #[default]
    Batched,
    Sync,
}

#[derive(Debug, Clone)]
pub struct NewEvent {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("the event appender has shut down")]
    Closed,
    #[error("the events could not be stored: {0}")]
    Failed(String),
}

struct Batch {
    events: Vec<NewEvent>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<Batch>,
    durability: Durability,
}

impl Appender {
    /// Starts the writer task. `capacity` is in batches (one per request, typically).
    pub fn spawn(
        db: Db,
        wake: std::sync::Arc<Notify>,
        durability: Durability,
        capacity: usize,
        tracker: &tokio_util::task::TaskTracker,
        cancel: CancellationToken,
    ) -> Appender {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tracker.spawn(writer(db, wake, rx, cancel));
        Appender { tx, durability }
    }

    pub async fn append(&self, events: Vec<NewEvent>) -> Result<(), AppendError> {
        if events.is_empty() {
            return Ok(());
        }
        match self.durability {
            Durability::Batched => self.tx.send(Batch { events, done: None }).await.map_err(|_| AppendError::Closed),
            Durability::Sync => {
                let (done, wait) = oneshot::channel();
                self.tx.send(Batch { events, done: Some(done) }).await.map_err(|_| AppendError::Closed)?;
                wait.await.map_err(|_| AppendError::Closed)?.map_err(AppendError::Failed)
            }
        }
    }

    /// Queued batches not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn writer(db: Db, wake: std::sync::Arc<Notify>, mut rx: mpsc::Receiver<Batch>, cancel: CancellationToken) {
    let mut pending: Vec<Batch> = Vec::new();
    loop {
        if pending.is_empty() {
            tokio::select! {
                biased;
                got = rx.recv() => match got {
                    Some(b) => pending.push(b),
                    None => return,
                },
                _ = cancel.cancelled() => {
                    // Stop accepting, then drain what is already queued.
                    rx.close();
                    while let Some(b) = rx.recv().await {
                        pending.push(b);
                    }
                    if !pending.is_empty() {
                        flush_until_stored(&db, &wake, &mut pending, Duration::from_secs(30)).await;
                    }
                    return;
                }
            }
        }
        // Group commit: take everything that queued up while the last transaction ran.
        let mut n: usize = pending.iter().map(|b| b.events.len()).sum();
        while n < MAX_BATCH {
            match rx.try_recv() {
                Ok(b) => {
                    n += b.events.len();
                    pending.push(b);
                }
                Err(_) => break,
            }
        }
        flush_until_stored(&db, &wake, &mut pending, Duration::MAX).await;
    }
}

/// Writes `pending` in one transaction, retrying with backoff until it succeeds (or `give_up`
/// passes, only at shutdown, when the loss is logged loudly).
async fn flush_until_stored(db: &Db, wake: &Notify, pending: &mut Vec<Batch>, give_up: Duration) {
    let started = tokio::time::Instant::now();
    let mut backoff = Duration::from_millis(10);
    loop {
        let events: Vec<&NewEvent> = pending.iter().flat_map(|b| b.events.iter()).collect();
        match write(db, &events).await {
            Ok(()) => {
                for b in pending.drain(..) {
                    if let Some(done) = b.done {
                        let _ = done.send(Ok(()));
                    }
                }
                wake.notify_waiters();
                return;
            }
            Err(e) => {
                if started.elapsed() >= give_up {
                    tracing::error!(error = %e, events = events.len(), "shutting down with events that could not be stored");
                    for b in pending.drain(..) {
                        if let Some(done) = b.done {
                            let _ = done.send(Err(e.to_string()));
                        }
                    }
                    return;
                }
                tracing::warn!(error = %e, events = events.len(), retry_in_ms = backoff.as_millis() as u64, "event append failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn write(db: &Db, events: &[&NewEvent]) -> Result<(), DbError> {
    let json_cast = if db.backend() == Backend::Postgres { "::json" } else { "" };
    let mut conn = db.any.acquire().await?;
    let mut tx = conn.begin().await?;
    let sqlite = db.backend() == Backend::Sqlite;
    // SQLite: the positions are numbered here, once per transaction, instead of by the table's
    // per-row trigger (which rewrote every row it numbered). SQLite has one writer: should another
    // connection commit between this read and the insert, the insert fails (a stale snapshot) and
    // the whole write is retried; the unique index on the position backs that up.
    let mut next_position: i64 = if sqlite {
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(global_position), 0) FROM events").fetch_one(&mut *tx).await?
    } else {
        0
    };
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        // Written by hand: the Any driver's query builder writes `?`, which Postgres does not accept.
        let mut sql = String::with_capacity(120 + chunk.len() * 60);
        if sqlite {
            sql.push_str(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
                 metadata, global_position) VALUES ",
            );
        } else {
            sql.push_str(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
                 metadata) VALUES ",
            );
        }
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            if sqlite {
                // Anonymous placeholders: SQLite looks a named one up by a linear scan, which
                // made binding a large batch quadratic.
                sql.push_str("(?,?,?,?,?,?,?,?)");
                continue;
            }
            let n = i * 7;
            use std::fmt::Write;
            let _ = write!(
                sql,
                "(${},${},${},${},${},${}{json_cast},${}{json_cast})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            );
        }
        // Not cached: batch sizes vary, and every cached prepared statement of a large batch
        // holds a big compiled program per connection (it was most of the heap under load).
        let mut q = sqlx::query(&sql).persistent(false);
        for e in chunk {
            q = q
                .bind(e.aggregate_type)
                .bind(e.aggregate_id.as_str())
                .bind(e.sequence)
                .bind(e.event_type.as_str())
                .bind(e.event_version.as_str())
                .bind(e.payload.as_str())
                .bind(e.metadata.as_str());
            if sqlite {
                next_position += 1;
                q = q.bind(next_position);
            }
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
