//! Cross-node wake-ups (Postgres only): listens on the `layerr_events` channel, which a trigger on
//! `events` notifies when a transaction that inserted events commits
//! (`migrations/postgres/0006_notify.sql`), and wakes this node's feed consumers (the in-memory
//! state follower and the projection runners), so changes made by another node or the CLI arrive
//! at once rather than at the next poll. It only wakes: it never reads the feed, and nothing on
//! the request path waits for it. Polling stays the fallback while it is disconnected.

use std::convert::Infallible;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The channel the trigger notifies.
pub const CHANNEL: &str = "layerr_events";
/// Shown in `pg_stat_activity`, so an operator can tell the listening connection apart.
pub const APPLICATION_NAME: &str = "layerr-notify";
/// After waking the consumers, further notifications within this window are folded into one
/// trailing wake-up: a busy cluster commits hundreds of times a second, and the consumers only
/// need to know that something is new.
const COALESCE: Duration = Duration::from_millis(50);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Runs until `cancel` fires. Each notification calls `notify_waiters` on every `wakes` entry
/// (the consumers register with `notified()` before they read the feed, so none is missed).
pub async fn run(url: String, wakes: Vec<Arc<Notify>>, cancel: CancellationToken) {
    // `notify_one` stores a permit: notifications arriving while `deliver` sleeps leave one
    // permit behind, which becomes the trailing wake-up.
    let pending = Notify::new();
    let deliver = async {
        loop {
            pending.notified().await;
            for wake in &wakes {
                wake.notify_waiters();
            }
            tokio::time::sleep(COALESCE).await;
        }
    };
    // Both futures run to the end of the task; only shutdown drops them (the listener's receive
    // is never cancelled half-way and then reused).
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = receive(&url, &pending) => {}
        _ = deliver => {}
    }
}

async fn receive(url: &str, pending: &Notify) -> Infallible {
    let mut backoff = BACKOFF_MIN;
    // When the current outage began; `None` while listening.
    let mut outage: Option<Instant> = None;
    loop {
        let mut listener = match listen(url).await {
            Ok(l) => l,
            Err(e) => {
                if outage.is_none() {
                    tracing::warn!(error = %e, "cannot listen for store notifications; polling until it can");
                    outage = Some(Instant::now());
                } else {
                    tracing::debug!(error = %e, retry_in_ms = backoff.as_millis() as u64, "still cannot listen");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        if let Some(since) = outage.take() {
            tracing::info!(after_ms = since.elapsed().as_millis() as u64, "listening for store notifications again");
        }
        backoff = BACKOFF_MIN;
        // Commits made while nobody listened were announced to no one: catch up now. (Only
        // after LISTEN: a commit after it is notified, one before it is read by this catch-up.)
        pending.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => pending.notify_one(),
                // The connection dropped and sqlx re-established it and listens again; what
                // was committed in between was not announced.
                Ok(None) => {
                    tracing::warn!("store notification connection was lost and has been re-established");
                    pending.notify_one();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the store notification connection; polling until it is back");
                    outage = Some(Instant::now());
                    break;
                }
            }
        }
        // Start over with a new connection (sqlx's own reconnect has failed by now).
        drop(listener);
        tokio::time::sleep(backoff).await;
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let opts = PgConnectOptions::from_str(url)?.application_name(APPLICATION_NAME);
    // One long-lived connection, as `PgListener::connect` makes, plus a name and a bounded wait.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(opts);
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
