//! The relay: a projector whose sink is a Kafka topic. It reads the global feed after its
//! checkpoint (`kafka-relay` in `projection_checkpoints`), publishes each event as a versioned
//! envelope keyed by aggregate id, awaits every delivery report of the batch, and only then moves
//! the checkpoint (at-least-once: consumers dedupe on `eventId`). A broker outage pauses it with
//! a capped exponential backoff; it resumes from the checkpoint. It never blocks the gateway:
//! nothing here runs on the request path, and start-up does not wait for a broker.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio::sync::Notify;

use layerr_projections::runner::load_checkpoint;
use layerr_projections::{Cursor, Db, DbError, StoredEvent};

use crate::status::{RelayStatus, Transition};
use crate::{Envelope, CHECKPOINT_NAME, ENVELOPE_VERSION};

/// Message headers (besides the key and the JSON value).
pub const HEADER_EVENT_TYPE: &str = "layerr-event-type";
pub const HEADER_EVENT_VERSION: &str = "layerr-event-version";
pub const HEADER_GLOBAL_POSITION: &str = "layerr-global-position";
pub const HEADER_EVENT_ID: &str = "layerr-event-id";
pub const HEADER_ENVELOPE_VERSION: &str = "layerr-envelope-version";

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// After a wake-up, wait this long so one batch covers many commits.
const COALESCE: Duration = Duration::from_millis(20);
/// A batch waiting this long for its delivery reports marks the broker unreachable.
const STALL_AFTER: Duration = Duration::from_secs(5);
/// On shutdown, how long an in-flight batch may still take to be confirmed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Comma-separated bootstrap brokers.
    pub brokers: String,
    pub topic: String,
    pub client_id: String,
    /// Used only when the relay creates the topic.
    pub partitions: i32,
    pub replication_factor: i32,
    /// How long librdkafka keeps trying to deliver one message before reporting a failure.
    pub message_timeout: Duration,
    /// Events read and published per batch.
    pub batch_size: usize,
    /// How often to look for new events when nothing wakes the relay.
    pub poll_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("invalid Kafka client configuration: {0}")]
    Config(#[from] KafkaError),
}

/// Routes librdkafka's own log lines to `tracing` (debug: the relay logs outages itself, once)
/// and turns its "all brokers down" signal into the status, so health shows an outage even while
/// the relay is idle.
#[derive(Clone)]
pub struct RelayContext {
    status: Arc<RelayStatus>,
}

impl ClientContext for RelayContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", ?level, facility = fac, "{message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            note_down(&self.status, format!("all brokers are down: {reason}"));
        } else {
            tracing::debug!(target: "librdkafka", error = %error, "{reason}");
        }
    }
}

type Publisher = FutureProducer<RelayContext>;

pub struct Relay {
    db: Db,
    config: RelayConfig,
    wake: Arc<Notify>,
    status: Arc<RelayStatus>,
    context: RelayContext,
    /// A refused topic creation is logged once, not on every retry.
    refusal_logged: AtomicBool,
}

impl Relay {
    /// Checks the client configuration (no connection is made here).
    pub fn new(db: Db, config: RelayConfig, wake: Arc<Notify>) -> Result<Relay, RelayError> {
        let status = Arc::new(RelayStatus::new(config.topic.clone()));
        let context = RelayContext { status: status.clone() };
        let relay = Relay { db, config, wake, status, context, refusal_logged: AtomicBool::new(false) };
        // Fail start-up on a configuration librdkafka rejects, not later in the background.
        drop(relay.producer()?);
        Ok(relay)
    }

    pub fn status(&self) -> Arc<RelayStatus> {
        self.status.clone()
    }

    fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.config.brokers)
            .set("client.id", &self.config.client_id)
            .set_log_level(RDKafkaLogLevel::Warning);
        c
    }

    fn producer(&self) -> Result<Publisher, KafkaError> {
        let mut c = self.client_config();
        c.set("enable.idempotence", "true")
            // A message that fails after a later one of its partition succeeded would leave a
            // gap (and a re-send out of order): librdkafka raises a fatal error instead, and the
            // relay starts a new producer from its checkpoint.
            .set("enable.gapless.guarantee", "true")
            .set("acks", "all")
            .set("message.timeout.ms", self.config.message_timeout.as_millis().to_string())
            .set("linger.ms", "5")
            // The relay creates the topic itself, with the configured partitions; a metadata
            // request must never auto-create it with the broker's defaults.
            .set("allow.auto.create.topics", "false")
            // The same key lands on the same partition as with the Java client's default.
            .set("partitioner", "murmur2_random");
        c.create_with_context(self.context.clone())
    }

    fn admin(&self) -> Result<AdminClient<RelayContext>, KafkaError> {
        self.client_config().create_with_context(self.context.clone())
    }

    /// Runs until `stop` completes. The batch in flight when it does gets a short grace period to
    /// be confirmed (and checkpointed); anything unconfirmed is published again on the next start.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut state = LoopState { producer: None, cursor: None, topic_ready: false };
        let mut backoff = BACKOFF_START;
        loop {
            // Register before reading so a commit during the batch is not missed.
            let notified = self.wake.notified();
            let step = self.step(&mut state, &mut stop).await;
            let wait = match step {
                Step::Stopped => break,
                Step::More => continue,
                Step::Idle => {
                    backoff = BACKOFF_START;
                    self.config.poll_interval
                }
                Step::Failed => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    wait
                }
            };
            tokio::select! {
                _ = &mut stop => break,
                _ = notified, if step == Step::Idle => {
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(COALESCE) => {}
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        retire(state.producer.take()).await;
        tracing::info!(topic = %self.config.topic, "kafka relay stopped");
    }

    /// One turn: make sure the topic is there, read a batch, publish it, checkpoint it.
    async fn step(&self, state: &mut LoopState, stop: &mut Pin<&mut impl Future<Output = ()>>) -> Step {
        let from = match state.cursor {
            Some(c) => c,
            None => match load_checkpoint(&self.db, CHECKPOINT_NAME).await {
                Ok(c) => {
                    self.status.set_checkpoint(c);
                    state.cursor = Some(c);
                    c
                }
                Err(e) => return self.store_failed(e),
            },
        };
        // At start and after any failure (or a broker-down signal) the topic may be gone: a
        // broker with ephemeral storage comes back empty.
        if !state.topic_ready || !self.status.is_connected() {
            let ensured = tokio::select! {
                r = self.ensure_topic() => r,
                _ = stop.as_mut() => return Step::Stopped,
            };
            match ensured {
                Ok(()) => {
                    state.topic_ready = true;
                    if !self.status.is_connected() {
                        // Back from an outage: a producer from before it may hold state the
                        // broker no longer has (idempotent producer id and sequences, stale
                        // metadata) and would only time out. Start with a fresh one.
                        retire(state.producer.take()).await;
                    }
                }
                Err(e) => {
                    note_down(&self.status, e);
                    return Step::Failed;
                }
            }
        }
        let batch = match self.db.read_feed(from, self.config.batch_size as i64).await {
            Ok(b) => b,
            Err(e) => return self.store_failed(e),
        };
        let Some(last) = batch.last().map(|e| e.cursor) else {
            // Reachable and nothing owed.
            note_up(&self.status, &self.config.topic);
            return Step::Idle;
        };
        let p = match &state.producer {
            Some(p) => p.clone(),
            None => match self.producer() {
                Ok(p) => state.producer.insert(p).clone(),
                Err(e) => {
                    note_down(&self.status, format!("cannot create the producer: {e}"));
                    return Step::Failed;
                }
            },
        };

        let mut stopping = false;
        let outcome = {
            let publish = publish(&p, &self.config.topic, &batch);
            tokio::pin!(publish);
            // A frozen broker accepts the connection and never confirms: nothing fails until the
            // message timeout. A batch unconfirmed for STALL_AFTER already marks the link down,
            // so health says degraded while it waits.
            let stall = tokio::time::sleep(STALL_AFTER);
            tokio::pin!(stall);
            let mut stalled = false;
            loop {
                tokio::select! {
                    o = &mut publish => break o,
                    _ = &mut stall, if !stalled => {
                        stalled = true;
                        note_down(
                            &self.status,
                            format!("no delivery confirmed for {} s: the broker is not answering", STALL_AFTER.as_secs()),
                        );
                    }
                    _ = stop.as_mut() => {
                        stopping = true;
                        match tokio::time::timeout(SHUTDOWN_GRACE, &mut publish).await {
                            Ok(o) => break o,
                            Err(_) => {
                                tracing::warn!("kafka relay stopped with a batch unconfirmed; it is published again on the next start");
                                return Step::Stopped;
                            }
                        }
                    }
                }
            }
        };
        self.status.add_delivered(outcome.delivered);
        if let Some(error) = outcome.error {
            note_down(&self.status, error);
            state.topic_ready = false;
            if let Some((code, reason)) = p.client().fatal_error() {
                tracing::debug!(?code, %reason, "kafka producer hit a fatal error");
            }
            // Start the retry with a fresh producer: after an outage the old one may hold state
            // the broker no longer has (idempotent producer id and sequences, a fatal error,
            // stale metadata). Nothing of it is in flight: every report was awaited.
            retire(state.producer.take()).await;
            retire(Some(p)).await;
            return if stopping { Step::Stopped } else { Step::Failed };
        }
        // Every message of the batch is acknowledged: only now may the checkpoint move.
        if let Err(e) = save_checkpoint(&self.db, last).await {
            // Not advancing is safe: the batch is published again (consumers dedupe).
            return self.store_failed(e);
        }
        state.cursor = Some(last);
        self.status.set_checkpoint(last);
        note_up(&self.status, &self.config.topic);
        if stopping {
            Step::Stopped
        } else if batch.len() >= self.config.batch_size {
            Step::More
        } else {
            Step::Idle
        }
    }

    fn store_failed(&self, e: DbError) -> Step {
        tracing::warn!(error = %e, "kafka relay cannot read or checkpoint the event store; retrying");
        Step::Failed
    }

    /// Creates the topic unless it exists. A broker that is reachable but refuses (policy,
    /// authorization, replication factor) is logged and the relay goes on: the topic may be
    /// managed elsewhere, and a real problem shows up as delivery errors.
    async fn ensure_topic(&self) -> Result<(), String> {
        let admin = self.admin().map_err(|e| format!("cannot create the admin client: {e}"))?;
        let timeout = self.config.message_timeout.min(Duration::from_secs(10));
        let opts = AdminOptions::new().request_timeout(Some(timeout)).operation_timeout(Some(timeout));
        let topic = NewTopic::new(
            &self.config.topic,
            self.config.partitions,
            TopicReplication::Fixed(self.config.replication_factor),
        );
        let result = admin.create_topics([&topic], &opts).await;
        let admin_drop = tokio::task::spawn_blocking(move || drop(admin));
        let outcome = match result {
            Err(e) => Err(format!("cannot create topic '{}': {e}", self.config.topic)),
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) => {
                    tracing::info!(topic = %self.config.topic, partitions = self.config.partitions,
                        replication = self.config.replication_factor, "created kafka topic");
                    Ok(())
                }
                Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => Ok(()),
                Some(Err((_, code))) if is_refusal(code) => {
                    if !self.refusal_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(topic = %self.config.topic, error = %code,
                            "the broker refused to create the kafka topic; publishing anyway");
                    }
                    // Reachable, but whether the topic is usable only delivery can tell.
                    Ok(())
                }
                Some(Err((_, code))) => Err(format!("cannot create topic '{}': {code}", self.config.topic)),
            },
        };
        let _ = admin_drop.await;
        outcome
    }
}

struct LoopState {
    producer: Option<Publisher>,
    /// The cursor up to which delivery is confirmed (loaded once, then kept here).
    cursor: Option<Cursor>,
    /// The topic was found or created since the last failure.
    topic_ready: bool,
}

/// Drops a producer off the async workers (dropping purges and joins librdkafka's threads).
async fn retire(producer: Option<Publisher>) {
    if let Some(p) = producer {
        let _ = tokio::task::spawn_blocking(move || drop(p)).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A full batch went out: read the next one at once.
    More,
    /// Caught up: wait for a wake-up or the poll interval.
    Idle,
    /// Broker or store trouble: back off, then retry from the checkpoint.
    Failed,
    Stopped,
}

/// Answers from a broker that is up but says no (as opposed to one that cannot be reached).
fn is_refusal(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        code,
        C::PolicyViolation
            | C::InvalidReplicationFactor
            | C::InvalidPartitions
            | C::InvalidReplicaAssignment
            | C::InvalidConfig
            | C::InvalidTopic
            | C::TopicAuthorizationFailed
            | C::ClusterAuthorizationFailed
            | C::UnsupportedVersion
            | C::InvalidRequest
    )
}

struct Outcome {
    delivered: u64,
    error: Option<String>,
}

/// Enqueues the whole batch, then awaits every delivery report (also after a failure, so nothing
/// of this batch is still in flight when it is retried).
async fn publish(producer: &Publisher, topic: &str, batch: &[StoredEvent]) -> Outcome {
    let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(batch.len());
    let mut error = None;
    for event in batch {
        let envelope = Envelope::from(event);
        let value = match serde_json::to_vec(&envelope) {
            Ok(v) => v,
            Err(e) => {
                error = Some(format!("event {} does not serialise: {e}", event.position()));
                break;
            }
        };
        let position = event.position().to_string();
        let headers = OwnedHeaders::new_with_capacity(5)
            .insert(Header { key: HEADER_EVENT_TYPE, value: Some(envelope.event_type.as_str()) })
            .insert(Header { key: HEADER_EVENT_VERSION, value: Some(envelope.event_version.as_str()) })
            .insert(Header { key: HEADER_GLOBAL_POSITION, value: Some(position.as_str()) })
            .insert(Header { key: HEADER_EVENT_ID, value: Some(envelope.event_id.as_str()) })
            .insert(Header { key: HEADER_ENVELOPE_VERSION, value: Some(ENVELOPE_VERSION) });
        let record = FutureRecord::to(topic)
            .key(event.aggregate_id.as_str())
            .payload(value.as_slice())
            .headers(headers)
            .timestamp(event.recorded_at.timestamp_millis());
        match producer.send_result(record) {
            Ok(delivery) => pending.push(delivery),
            Err((e, _)) => {
                error = Some(format!("cannot enqueue to '{topic}': {e}"));
                break;
            }
        }
    }
    let mut delivered = 0;
    for delivery in pending {
        match delivery.await {
            Ok(Ok(_)) => delivered += 1,
            Ok(Err((e, _))) => {
                error.get_or_insert_with(|| format!("delivery to '{topic}' failed: {e}"));
            }
            Err(_) => {
                error.get_or_insert_with(|| "the producer was dropped before confirming delivery".into());
            }
        }
    }
    Outcome { delivered, error }
}

fn note_down(status: &RelayStatus, error: impl Into<String>) {
    let error = error.into();
    if status.mark_down(error.clone()) == Transition::WentDown {
        tracing::warn!(%error, "kafka relay paused: the broker is unreachable or refused delivery; retrying from the checkpoint");
    }
}

fn note_up(status: &RelayStatus, topic: &str) {
    match status.mark_up() {
        Transition::Connected => tracing::info!(%topic, "kafka relay connected"),
        Transition::Recovered => tracing::info!(%topic, "kafka relay recovered; resuming from the checkpoint"),
        _ => {}
    }
}

async fn save_checkpoint(db: &Db, c: Cursor) -> Result<(), DbError> {
    let mut conn = db.any.acquire().await?;
    layerr_projections::runner::save_checkpoint(&mut conn, CHECKPOINT_NAME, c).await
}
