//! The application state: everything a request needs (the store, the in-memory state, the
//! limiter, the upstream client, the health book, the budget ledger, ...). The HTTP edge and
//! the services below it (`gateway`, `routing`, `providers`) share it; it knows nothing of HTTP.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::ratelimit::RateLimiter;
use crate::state::HotState;
use crate::store::EventStore;

pub struct AppInner {
    pub store: EventStore,
    pub hot: Arc<HotState>,
    pub limiter: RateLimiter,
    pub config: Config,
    pub started: Instant,
    /// Names of the SQL projectors this node runs (for lag reporting).
    pub projectors: Vec<&'static str>,
    /// One pooled client for every upstream.
    pub http: reqwest::Client,
    pub health: crate::routing::health::HealthBook,
    /// Shared with the task that loads the credentials of providers registered elsewhere.
    pub secrets: Arc<crate::secrets::SecretBox>,
    pub ledger: crate::budget::Ledger,
    pub appender: crate::appender::Appender,
    /// Owns background work started by requests (e.g. recording a finished stream).
    pub tracker: tokio_util::task::TaskTracker,
    /// The Kafka relay's status when `kafka.brokers` is set (for `/api/health/detailed`).
    pub kafka: Option<Arc<layerr_kafka::RelayStatus>>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}
