//! The group-commit appender: the hot path's events reach the store through one writer task that
//! takes batches from many requests off a bounded channel and writes them in one multi-row insert
//! per transaction. A failed write is retried (each attempt bounded in time, backoff up to a
//! second) and never dropped while the process runs.
//!
//! Durability: `batched` (default) returns once the events are queued; a crash in the window
//! between queueing and commit loses them. `sync` waits for the commit.
//!
//! Faults: while the store is failing (a write failed and none has succeeded since), while a write
//! has been stuck for `STALL`, or while the queue is full, `admit` refuses: the gateway asks it
//! before any provider is called and answers 503 with `Retry-After`, so what is answered but not
//! yet stored stays what was queued or in flight when the outage began, however long it lasts.
//! Admission resumes by itself at the first write that succeeds. Shutdown drains the queue, but
//! gives a failing store `DRAIN_BOUND` from the start of shutdown; then it writes off what it
//! could not store, says how much, and lets the process exit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use layerr_projections::db::begin_write;
use layerr_projections::{Backend, Db, DbError};

/// Rows per INSERT statement (7 parameters each, under both backends' parameter limits).
const ROWS_PER_STATEMENT: usize = 500;
/// Events per transaction at most.
const MAX_BATCH: usize = 4096;
/// One write attempt at most (a store that accepts connections but never answers).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write running this long counts as failing for admission, before its attempt times out (a
/// stopped Postgres refuses connections, and the pool retries those until its acquire timeout).
/// A healthy group commit takes milliseconds.
const STALL: Duration = Duration::from_secs(1);
/// How long a request waits for room in a full queue before it is refused.
const QUEUE_WAIT: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long shutdown keeps trying a failing store before it writes the rest off.
pub const DRAIN_BOUND: Duration = Duration::from_secs(10);
/// While an outage lasts, a reminder at warn level this often (each attempt is logged at debug).
const STILL_FAILING_EVERY: Duration = Duration::from_secs(30);

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

/// Why `admit` refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// The last write failed and none has succeeded since, or one has been stuck for `STALL`.
    StoreFailing,
    /// Every slot of the queue is taken: the store is slower than the traffic.
    QueueFull,
}

impl Shed {
    /// What the client is told to wait before trying again.
    pub fn retry_after(self) -> Duration {
        match self {
            Shed::StoreFailing => Duration::from_secs(5),
            Shed::QueueFull => Duration::from_secs(1),
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Shed::StoreFailing => "storeFailing",
            Shed::QueueFull => "queueFull",
        }
    }
}

impl std::fmt::Display for Shed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Shed::StoreFailing => "the event store is not accepting writes; the request was not started, retry shortly",
            Shed::QueueFull => "the event queue is full; the request was not started, retry shortly",
        })
    }
}

/// What health and metrics show of the appender.
#[derive(Debug, Clone, Copy)]
pub struct AppenderStatus {
    pub durability: Durability,
    pub queued: usize,
    pub capacity: usize,
    /// How long writes have been failing, or the write in progress has been stuck for `STALL`
    /// or more (None while they succeed).
    pub failing_for: Option<Duration>,
    /// Write attempts that failed since the start.
    pub failed_writes: u64,
    /// Requests refused by `admit` since the start.
    pub shed: u64,
    /// Events (and the requests they belong to) written off at shutdown.
    pub lost_events: u64,
    pub lost_requests: u64,
}

/// Shared between the handles (admission, status) and the writer task. Times are milliseconds
/// since `epoch`, plus one, so that 0 means "not set".
struct Health {
    epoch: Instant,
    failing_since: AtomicU64,
    writing_since: AtomicU64,
    stopping_since: AtomicU64,
    failed_writes: AtomicU64,
    shed: AtomicU64,
    lost_events: AtomicU64,
    lost_requests: AtomicU64,
}

impl Health {
    fn new() -> Health {
        Health {
            epoch: Instant::now(),
            failing_since: AtomicU64::new(0),
            writing_since: AtomicU64::new(0),
            stopping_since: AtomicU64::new(0),
            failed_writes: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            lost_events: AtomicU64::new(0),
            lost_requests: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn since(&self, mark: &AtomicU64) -> Option<Duration> {
        match mark.load(Ordering::Acquire) {
            0 => None,
            t => Some(Duration::from_millis(self.now().saturating_sub(t))),
        }
    }

    fn begin_stopping(&self) {
        let _ = self.stopping_since.compare_exchange(0, self.now(), Ordering::AcqRel, Ordering::Acquire);
    }

    fn write_off(&self, batches: &mut Vec<Batch>, error: &str) -> (u64, u64) {
        let events: usize = batches.iter().map(|b| b.events.len()).sum();
        let requests = batches.len() as u64;
        for b in batches.drain(..) {
            if let Some(done) = b.done {
                let _ = done.send(Err(error.to_string()));
            }
        }
        self.lost_events.fetch_add(events as u64, Ordering::AcqRel);
        self.lost_requests.fetch_add(requests, Ordering::AcqRel);
        (events as u64, requests)
    }
}

struct Batch {
    events: Vec<NewEvent>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

#[derive(Clone)]
pub struct Appender {
    tx: mpsc::Sender<Batch>,
    durability: Durability,
    health: Arc<Health>,
}

impl Appender {
    /// Starts the writer task. `capacity` is in batches (one per request, typically).
    pub fn spawn(
        db: Db,
        wake: Arc<Notify>,
        durability: Durability,
        capacity: usize,
        tracker: &tokio_util::task::TaskTracker,
        cancel: CancellationToken,
    ) -> Appender {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let health = Arc::new(Health::new());
        tracker.spawn(writer(db, wake, rx, cancel, health.clone()));
        Appender { tx, durability, health }
    }

    /// [`Appender::admit`], but a full queue is first waited on (for at most [`QUEUE_WAIT`]):
    /// under a burst the writer drains the queue in milliseconds, and backpressure there is
    /// better than a 503. A failing store is refused at once.
    pub async fn admit_waiting(&self) -> Result<(), Shed> {
        if self.tx.capacity() == 0 && !self.failing() {
            // A permit is dropped at once: this only waits for room, it reserves none.
            let _ = tokio::time::timeout(QUEUE_WAIT, self.tx.reserve()).await;
        }
        self.admit()
    }

    /// Writes fail, or the one in progress has been stuck for [`STALL`].
    fn failing(&self) -> bool {
        let h = &self.health;
        h.failing_since.load(Ordering::Acquire) != 0 || h.since(&h.writing_since).is_some_and(|d| d >= STALL)
    }

    /// Whether a new request that will record events may start: refused while the store is
    /// failing or the queue is full. Cheap (a few atomic loads); the refusal is counted.
    pub fn admit(&self) -> Result<(), Shed> {
        let h = &self.health;
        let refused = if self.failing() {
            Shed::StoreFailing
        } else if self.tx.capacity() == 0 {
            Shed::QueueFull
        } else {
            return Ok(());
        };
        h.shed.fetch_add(1, Ordering::Relaxed);
        Err(refused)
    }

    pub async fn append(&self, events: Vec<NewEvent>) -> Result<(), AppendError> {
        if events.is_empty() {
            return Ok(());
        }
        let n = events.len() as u64;
        let closed = |_| {
            // Only after shutdown wrote off what it could not store.
            self.health.lost_events.fetch_add(n, Ordering::AcqRel);
            self.health.lost_requests.fetch_add(1, Ordering::AcqRel);
            AppendError::Closed
        };
        match self.durability {
            Durability::Batched => self.tx.send(Batch { events, done: None }).await.map_err(closed),
            Durability::Sync => {
                let (done, wait) = oneshot::channel();
                self.tx.send(Batch { events, done: Some(done) }).await.map_err(closed)?;
                wait.await.map_err(|_| AppendError::Closed)?.map_err(AppendError::Failed)
            }
        }
    }

    /// Queued batches not yet taken by the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Starts the shutdown clock (at the signal, while requests still finish): from now on a
    /// failing store gets `DRAIN_BOUND` before what it cannot take is written off.
    pub fn begin_shutdown(&self) {
        self.health.begin_stopping();
    }

    pub fn status(&self) -> AppenderStatus {
        let h = &self.health;
        AppenderStatus {
            durability: self.durability,
            queued: self.queued(),
            capacity: self.tx.max_capacity(),
            failing_for: h.since(&h.failing_since).or_else(|| h.since(&h.writing_since).filter(|d| *d >= STALL)),
            failed_writes: h.failed_writes.load(Ordering::Relaxed),
            shed: h.shed.load(Ordering::Relaxed),
            lost_events: h.lost_events.load(Ordering::Acquire),
            lost_requests: h.lost_requests.load(Ordering::Acquire),
        }
    }
}

async fn writer(
    db: Db,
    wake: Arc<Notify>,
    mut rx: mpsc::Receiver<Batch>,
    cancel: CancellationToken,
    health: Arc<Health>,
) {
    let mut w = Writer { db, wake, health, cancel, outage: None, gave_up: false };
    let mut pending: Vec<Batch> = Vec::new();
    loop {
        if pending.is_empty() {
            tokio::select! {
                biased;
                got = rx.recv() => match got {
                    Some(b) => pending.push(b),
                    None => return,
                },
                _ = w.cancel.cancelled() => break,
            }
        }
        take_queued(&mut rx, &mut pending);
        w.flush(&mut pending).await;
    }
    // Shutdown: every request has finished; store what is queued (and what tasks still finishing
    // send meanwhile), within the bound when the store fails, then refuse the rest.
    w.health.begin_stopping();
    loop {
        take_queued(&mut rx, &mut pending);
        if pending.is_empty() {
            rx.close();
            take_queued(&mut rx, &mut pending);
            if pending.is_empty() {
                break;
            }
        }
        w.flush(&mut pending).await;
    }
    let status = (w.health.lost_events.load(Ordering::Acquire), w.health.lost_requests.load(Ordering::Acquire));
    if status.0 > 0 {
        tracing::error!(
            events = status.0,
            requests = status.1,
            "event appender stopped: {} events of {} requests could not be stored",
            status.0,
            status.1
        );
    }
}

/// Group commit: takes everything that queued up while the last transaction ran.
fn take_queued(rx: &mut mpsc::Receiver<Batch>, pending: &mut Vec<Batch>) {
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
}

struct Writer {
    db: Db,
    wake: Arc<Notify>,
    health: Arc<Health>,
    cancel: CancellationToken,
    /// The outage in progress: when it began, failed attempts, when it was last logged at warn.
    outage: Option<(Instant, u64, Instant)>,
    /// Shutdown's bound has passed with the store still failing: one attempt per batch, then
    /// written off.
    gave_up: bool,
}

impl Writer {
    /// Writes `pending` in one transaction, retrying until it succeeds; at shutdown, until
    /// `DRAIN_BOUND` has passed, when `pending` is written off (and counted).
    async fn flush(&mut self, pending: &mut Vec<Batch>) {
        let mut backoff = Duration::from_millis(10);
        let mut retry = false;
        loop {
            let h = self.health.clone();
            let remaining = h.since(&h.stopping_since).map(|d| DRAIN_BOUND.saturating_sub(d));
            let limit = match remaining {
                Some(r) if self.gave_up || r < ATTEMPT_TIMEOUT => r.max(Duration::from_millis(500)),
                _ => ATTEMPT_TIMEOUT,
            };
            let count: usize = pending.iter().map(|b| b.events.len()).sum();
            h.writing_since.store(h.now(), Ordering::Release);
            let outcome = {
                let events: Vec<&NewEvent> = pending.iter().flat_map(|b| b.events.iter()).collect();
                let attempt = tokio::time::timeout(limit, write(&self.db, &events, retry));
                tokio::pin!(attempt);
                loop {
                    tokio::select! {
                        outcome = &mut attempt => break outcome,
                        // Shutdown's clock starts now, even while an attempt hangs.
                        _ = self.cancel.cancelled(), if h.stopping_since.load(Ordering::Acquire) == 0 => {
                            h.begin_stopping()
                        }
                    }
                }
            };
            let result = match outcome {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer from the event store within {} ms", limit.as_millis())),
            };
            let took = h.since(&h.writing_since).unwrap_or_default();
            h.writing_since.store(0, Ordering::Release);
            match result {
                Ok(stored) => {
                    if took >= STALL {
                        // Admission counted it as a stalled store and refused requests meanwhile.
                        tracing::warn!(
                            events = count,
                            took_ms = took.as_millis() as u64,
                            "a slow event-store write held up admission"
                        );
                    }
                    if stored < count as u64 {
                        // A commit whose acknowledgement was lost: its rows are already there.
                        tracing::warn!(
                            events = count,
                            already_stored = count as u64 - stored,
                            "events found already stored on retry"
                        );
                    }
                    for b in pending.drain(..) {
                        if let Some(done) = b.done {
                            let _ = done.send(Ok(()));
                        }
                    }
                    if let Some((since, attempts, _)) = self.outage.take() {
                        tracing::info!(
                            after_ms = since.elapsed().as_millis() as u64,
                            failed_attempts = attempts,
                            "event store writes recovered; admitting requests again"
                        );
                    }
                    self.gave_up = false;
                    h.failing_since.store(0, Ordering::Release);
                    self.wake.notify_waiters();
                    return;
                }
                Err(e) => {
                    h.failed_writes.fetch_add(1, Ordering::Relaxed);
                    let _ = h.failing_since.compare_exchange(0, h.now(), Ordering::AcqRel, Ordering::Acquire);
                    self.note_failure(&e, count);
                    if self.cancel.is_cancelled() {
                        h.begin_stopping();
                    }
                    let remaining = h.since(&h.stopping_since).map(|d| DRAIN_BOUND.saturating_sub(d));
                    if self.gave_up || remaining.is_some_and(|r| r.is_zero()) {
                        self.gave_up = true;
                        let (events, requests) = h.write_off(pending, &e);
                        tracing::error!(
                            error = %e,
                            events,
                            requests,
                            "shutting down: {events} events of {requests} requests could not be stored"
                        );
                        return;
                    }
                    retry = true;
                    let pause = remaining.map_or(backoff, |r| backoff.min(r));
                    tokio::time::sleep(pause).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The first failure of an outage is a warning, as is a reminder every
    /// `STILL_FAILING_EVERY`; every attempt in between is at debug.
    fn note_failure(&mut self, error: &str, events: usize) {
        let now = Instant::now();
        match &mut self.outage {
            None => {
                self.outage = Some((now, 1, now));
                tracing::warn!(
                    %error,
                    events,
                    "event append failed; retrying, and refusing new requests until the store takes writes again"
                );
            }
            Some((since, attempts, warned)) => {
                *attempts += 1;
                if warned.elapsed() >= STILL_FAILING_EVERY {
                    *warned = now;
                    tracing::warn!(
                        %error,
                        events,
                        failing_for_s = since.elapsed().as_secs(),
                        failed_attempts = *attempts,
                        "event store still failing"
                    );
                } else {
                    tracing::debug!(%error, events, "event append failed; retrying");
                }
            }
        }
    }
}

/// One transaction. A retry skips rows already present (a commit that landed but whose
/// acknowledgement was lost would otherwise fail every retry on the primary key). Returns the
/// rows inserted.
async fn write(db: &Db, events: &[&NewEvent], retry: bool) -> Result<u64, DbError> {
    let json_cast = if db.backend() == Backend::Postgres { "::json" } else { "" };
    let mut conn = db.writer.acquire().await?;
    // SQLite: `BEGIN IMMEDIATE`, so the position read below and the insert see the same state
    // (another writer waits for the lock instead of committing in between).
    let mut tx = begin_write(&mut conn).await?;
    let sqlite = db.backend() == Backend::Sqlite;
    // SQLite: the positions are numbered here, once per transaction, instead of by the table's
    // per-row trigger (which rewrote every row it numbered); the unique index backs it up.
    let mut next_position: i64 = if sqlite {
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(global_position), 0) FROM events").fetch_one(&mut *tx).await?
    } else {
        0
    };
    let mut inserted = 0;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        // Written by hand: the Any driver's query builder writes `?`, which Postgres does not accept.
        let mut sql = String::with_capacity(150 + chunk.len() * 60);
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
        if retry {
            sql.push_str(" ON CONFLICT DO NOTHING");
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
        inserted += q.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(inserted)
}
