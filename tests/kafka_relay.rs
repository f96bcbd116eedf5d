//! The Kafka relay against a real Kafka-protocol broker (`tansu`, started here on a free port so
//! it can be killed and restarted): every stored event reaches the topic once per position with
//! the documented envelope, key and headers; a broker outage loses nothing; a relay restart
//! resumes from its checkpoint. Consumers read every partition from the beginning. The broker, the
//! consumer and the store reader are `common/tansu.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]
#![cfg(feature = "kafka")]

mod common;
#[path = "common/tansu.rs"]
mod tansu;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use common::upstream::mock_provider;
use common::{provider, wait, Gateway, Kind, ADMIN_KEY};
use serde_json::json;
use tansu::{free_port, kafka_config, read_all_stored, stored, Received, Row, Tansu, TopicReader, TOPIC};

// ------------------------------------------------------------------------------------------
// The load
// ------------------------------------------------------------------------------------------

/// Workspaces (admin commands) and concurrent chat requests (trace events through the appender).
async fn load(gw: &Gateway, tag: &str, workspaces: usize, chats: usize) {
    for i in 0..workspaces {
        gw.workspace(&format!("{tag}-{i}"), "standard").await;
    }
    let requests = (0..chats).map(|i| async move {
        let body = json!({"model": "layerr-auto",
                          "messages": [{"role": "user", "content": format!("Summarize this text: {tag} request {i}")}]});
        gw.call("POST", "/v1/chat/completions", Some(ADMIN_KEY), Some(body)).await
    });
    for (s, _, v) in futures::future::join_all(requests).await {
        assert_eq!(s, 200, "the gateway serves chat whatever the broker does: {v}");
    }
}

// ------------------------------------------------------------------------------------------
// Checks
// ------------------------------------------------------------------------------------------

/// Every message is the documented envelope of the stored event at its position, with the key and
/// headers that go with it.
fn check_messages(received: &[Received], rows: &BTreeMap<i64, Row>) {
    for m in received {
        let pos = m.position();
        let row = rows.get(&pos).unwrap_or_else(|| panic!("position {pos} on the topic is not in the store"));
        let e = &m.envelope;
        let event_id = format!("{}:{}:{}", row.aggregate_type, row.aggregate_id, row.sequence);
        assert_eq!(e["envelopeVersion"], "1", "{e}");
        assert_eq!(e["eventId"], event_id.as_str(), "{e}");
        assert_eq!(e["aggregateType"], row.aggregate_type.as_str(), "{e}");
        assert_eq!(e["aggregateId"], row.aggregate_id.as_str(), "{e}");
        assert_eq!(e["sequence"], row.sequence, "{e}");
        assert_eq!(e["eventType"], row.event_type.as_str(), "{e}");
        assert_eq!(e["eventVersion"], row.event_version.as_str(), "{e}");
        assert!(e["occurredAt"].as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()), "{e}");
        assert!(e["payload"].is_object(), "{e}");
        assert!(e["workspaceId"].is_string() || e["workspaceId"].is_null(), "{e}");
        if row.aggregate_type == "Workspace" {
            assert_eq!(e["workspaceId"], row.aggregate_id.as_str(), "{e}");
        }
        assert_eq!(m.key, row.aggregate_id, "the key is the aggregate id");
        let h = &m.headers;
        assert_eq!(h.get("layerr-event-type"), Some(&row.event_type), "{h:?}");
        assert_eq!(h.get("layerr-event-version"), Some(&row.event_version), "{h:?}");
        assert_eq!(h.get("layerr-global-position"), Some(&pos.to_string()), "{h:?}");
        assert_eq!(h.get("layerr-event-id"), Some(&event_id), "{h:?}");
        assert_eq!(h.get("layerr-envelope-version").map(String::as_str), Some("1"), "{h:?}");
    }
    let text = serde_json::to_string(&received.iter().map(|m| &m.envelope).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains("sk-test-secret-value"), "no secret reaches the topic");
}

/// One message per event id (the first copy); copies of one position must be the same event.
fn dedupe(received: &[Received]) -> Vec<Received> {
    let mut first: HashMap<String, &Received> = HashMap::new();
    let mut by_position: HashMap<i64, &str> = HashMap::new();
    let mut out = Vec::new();
    for m in received {
        let id = by_position.entry(m.position()).or_insert_with(|| m.event_id());
        assert_eq!(*id, m.event_id(), "two events claim position {}", m.position());
        match first.get(m.event_id()) {
            Some(f) => assert_eq!(f.envelope, m.envelope, "a redelivered event must be identical"),
            None => {
                first.insert(m.event_id().to_string(), m);
                out.push(m.clone());
            }
        }
    }
    out
}

/// Exactly one message per stored position, and each aggregate's events in sequence order
/// within its partition.
fn assert_exactly_once(unique: &[Received], rows: &BTreeMap<i64, Row>) {
    let mut count: BTreeMap<i64, usize> = BTreeMap::new();
    for m in unique {
        *count.entry(m.position()).or_default() += 1;
    }
    let dupes: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "positions delivered more than once: {dupes:?}");
    let got: BTreeSet<i64> = count.keys().copied().collect();
    let want: BTreeSet<i64> = rows.keys().copied().collect();
    assert_eq!(got, want, "the topic holds exactly the store's positions");

    let mut sorted = unique.to_vec();
    sorted.sort_by_key(|m| (m.partition, m.offset));
    let mut partition_of: HashMap<&str, i32> = HashMap::new();
    let mut last_seq: HashMap<&str, i64> = HashMap::new();
    for m in &sorted {
        let agg = m.envelope["aggregateId"].as_str().unwrap();
        let p = *partition_of.entry(agg).or_insert(m.partition);
        assert_eq!(p, m.partition, "aggregate {agg} spans partitions");
        let seq = m.envelope["sequence"].as_i64().unwrap();
        if let Some(prev) = last_seq.insert(agg, seq) {
            assert!(seq > prev, "aggregate {agg}: sequence {seq} after {prev}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_event_reaches_the_topic_exactly_once_on_postgres() {
    every_event_once(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_event_reaches_the_topic_exactly_once_on_sqlite() {
    every_event_once(Kind::Sqlite).await;
}

async fn every_event_once(kind: Kind) {
    let broker = Tansu::start();
    let backing = common::backing(kind).await;
    let config = kafka_config(&backing, Some(&broker.brokers()));
    let gw = Gateway::start_with(backing, config).await;
    let _mock = mock_provider(&gw).await;
    load(&gw, "load", 4, 40).await;

    let mut reader = TopicReader::open(&broker.brokers()).await;
    let rows = read_all_stored(&gw, &mut reader, &BTreeSet::new()).await;
    assert!(rows.len() > 200, "the load wrote {} events", rows.len());
    check_messages(&reader.received, &rows);
    // No relay restart and no outage here: not even a duplicate is acceptable.
    assert_eq!(reader.received.len(), rows.len(), "no duplicates without an outage or restart");
    assert_exactly_once(&dedupe(&reader.received), &rows);

    let h = wait::health(&gw, "the relay caught up", |h| h["kafka"]["lag"] == 0).await;
    let k = &h["kafka"];
    assert_eq!(k["enabled"], true, "{h}");
    assert_eq!(k["topic"], TOPIC, "{h}");
    assert_eq!(k["connected"], true, "{h}");
    assert_eq!(k["position"], *rows.keys().last().unwrap(), "{h}");
    assert_eq!(k["delivered"], rows.len() as u64, "{h}");
    assert!(k["lastError"].is_null(), "{h}");
    assert_eq!(h["status"], "healthy", "{h}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_pauses_the_relay_and_loses_nothing() {
    let mut broker = Tansu::start();
    let backing = common::backing(Kind::Postgres).await;
    let config = kafka_config(&backing, Some(&broker.brokers()));
    let gw = Gateway::start_with(backing, config).await;
    let _mock = mock_provider(&gw).await;
    load(&gw, "before", 2, 15).await;

    // Everything delivered before the outage is read before it: the broker keeps nothing.
    let mut before = TopicReader::open(&broker.brokers()).await;
    let rows_before = read_all_stored(&gw, &mut before, &BTreeSet::new()).await;
    let head_before = *rows_before.keys().last().unwrap();
    wait::health(&gw, "the relay caught up", |h| h["kafka"]["lag"] == 0 && h["kafka"]["position"] == head_before).await;
    check_messages(&before.received, &rows_before);
    let seen_before: BTreeSet<i64> = before.received.iter().map(Received::position).collect();
    drop(before);

    broker.kill();
    // The gateway keeps serving and recording while the broker is down.
    load(&gw, "during", 2, 15).await;
    let h = wait::health(&gw, "the outage", |h| {
        h["kafka"]["connected"] == false && h["kafka"]["lag"].as_i64().unwrap_or(0) > 0
    })
    .await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["kafka"]["lastError"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    // Stay down past the message timeout, so deliveries are attempted and fail, and the
    // checkpoint still does not move.
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    let h = wait::health(&gw, "the outage", |h| h["kafka"]["connected"] == false).await;
    assert_eq!(h["kafka"]["position"], head_before, "the checkpoint does not move without delivery: {h}");

    // Same port, empty broker: the relay re-creates the topic and resumes from its checkpoint.
    let port = broker.port;
    drop(broker);
    let broker = Tansu::start_on(port);
    let mut after = TopicReader::open(&broker.brokers()).await;
    let already: BTreeSet<i64> = rows_before.keys().copied().collect();
    let rows = read_all_stored(&gw, &mut after, &already).await;
    check_messages(&after.received, &rows);

    // Copies are allowed only for what was retried around the outage, and must be the same event.
    let unique = dedupe(&after.received);
    assert!(
        unique.iter().all(|m| m.position() > head_before),
        "the relay resumed from its checkpoint, not from the beginning"
    );
    let mut union = seen_before;
    union.extend(unique.iter().map(Received::position));
    assert_eq!(union, rows.keys().copied().collect::<BTreeSet<_>>(), "nothing was lost across the outage");
    let rows_after: BTreeMap<i64, Row> =
        rows.iter().filter(|(p, _)| **p > head_before).map(|(p, r)| (*p, r.clone())).collect();
    assert_exactly_once(&unique, &rows_after);

    let h = wait::health(&gw, "the recovery", |h| h["kafka"]["connected"] == true && h["kafka"]["lag"] == 0).await;
    assert!(h["kafka"]["lastError"].is_null(), "{h}");
    assert_eq!(h["status"], "healthy", "{h}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_makes_the_node_degraded_and_loses_nothing() {
    // Regression (issue 9): with the broker frozen the relay reported healthy until its lag
    // passed 10,000, as nothing failed before the message timeout.
    let broker = Tansu::start();
    let backing = common::backing(Kind::Sqlite).await;
    let mut config = kafka_config(&backing, Some(&broker.brokers()));
    // Longer than the test: only the stall detection can notice the frozen broker.
    config.kafka.message_timeout_ms = 120_000;
    let gw = Gateway::start_with(backing, config).await;
    let _mock = mock_provider(&gw).await;
    load(&gw, "before", 1, 5).await;
    wait::health(&gw, "the relay caught up", |h| h["kafka"]["lag"] == 0 && h["kafka"]["connected"] == true).await;

    broker.signal(libc::SIGSTOP);
    load(&gw, "frozen", 1, 5).await;
    let h = wait::health(&gw, "the frozen broker", |h| h["kafka"]["connected"] == false).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["kafka"]["lag"].as_i64().unwrap() < 10_000, "degraded long before the lag threshold: {h}");
    assert!(h["kafka"]["lastError"].as_str().is_some_and(|e| e.contains("not answering")), "{h}");

    broker.signal(libc::SIGCONT);
    let mut reader = TopicReader::open(&broker.brokers()).await;
    let rows = read_all_stored(&gw, &mut reader, &BTreeSet::new()).await;
    let unique = dedupe(&reader.received);
    let got: BTreeSet<i64> = unique.iter().map(Received::position).collect();
    assert_eq!(got, rows.keys().copied().collect::<BTreeSet<_>>(), "no gap after the broker thawed");
    let h = wait::health(&gw, "the recovery", |h| h["kafka"]["connected"] == true && h["kafka"]["lag"] == 0).await;
    assert_eq!(h["status"], "healthy", "{h}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_relay_resumes_from_its_checkpoint() {
    let broker = Tansu::start();
    let mock = layerr_mock::spawn().await;

    // A backlog written while no relay runs.
    let backing = common::backing(Kind::Sqlite).await;
    let quiet = kafka_config(&backing, None);
    let gw = Gateway::start_with(backing, quiet).await;
    provider(&gw, "oa", &format!("{}/v1", mock.base_url()), &["gpt-4o-mini", "gpt-4o"]).await;
    load(&gw, "backlog", 3, 50).await;
    let backing = gw.stop().await;

    // A relay publishing one event per batch, stopped part-way through the backlog.
    let mut slow = kafka_config(&backing, Some(&broker.brokers()));
    slow.kafka.batch_size = 1;
    let gw = Gateway::start_with(backing, slow).await;
    let head = *stored(&gw).await.keys().last().unwrap();
    let h = wait::health(&gw, "the relay part-way", |h| h["kafka"]["position"].as_i64().unwrap_or(0) > 0).await;
    let backing = gw.stop().await;
    assert!(h["kafka"]["position"].as_i64().unwrap() < head, "stopped mid-stream: {h}");

    // A new relay on the same store picks up at the checkpoint.
    let config = kafka_config(&backing, Some(&broker.brokers()));
    let gw = Gateway::start_with(backing, config).await;
    let cp = wait::detailed_health(&gw).await["kafka"]["position"].as_i64().unwrap();
    assert!(cp > 0 && cp <= head, "the checkpoint survived the restart: {cp}");
    load(&gw, "after", 1, 10).await;
    let mut reader = TopicReader::open(&broker.brokers()).await;
    let rows = read_all_stored(&gw, &mut reader, &BTreeSet::new()).await;
    check_messages(&reader.received, &rows);
    let unique = dedupe(&reader.received);
    assert_exactly_once(&unique, &rows);
    let h = wait::health(&gw, "the relay caught up", |h| h["kafka"]["lag"] == 0).await;
    // The second relay published only what lay after the checkpoint (plus at most the one-event
    // batch whose confirmation the first relay might not have seen). SQLite positions are dense.
    let after_cp = rows.keys().filter(|p| **p > cp).count() as u64;
    let delivered = h["kafka"]["delivered"].as_u64().unwrap();
    assert!(
        (after_cp..=after_cp + 1).contains(&delivered),
        "delivered {delivered}, {after_cp} after the checkpoint: {h}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_without_a_broker_and_relays_once_one_appears() {
    // Nothing listens on the configured port yet.
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let backing = common::backing(Kind::Sqlite).await;
    let config = kafka_config(&backing, Some(&brokers));
    let gw = Gateway::start_with(backing, config).await;
    gw.workspace("no-broker", "standard").await;
    let h = wait::health(&gw, "the missing broker", |h| {
        h["kafka"]["connected"] == false && h["kafka"]["lag"].as_i64().unwrap_or(0) > 0
    })
    .await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["kafka"]["position"], 0, "{h}");
    assert_eq!(h["kafka"]["delivered"], 0, "{h}");
    assert!(h["kafka"]["lastError"].as_str().is_some_and(|e| !e.is_empty()), "{h}");
    assert!(!h["kafka"].to_string().contains("sk-"), "{h}");

    // The broker appears: the relay creates the topic and delivers the backlog.
    let broker = Tansu::start_on(port);
    let mut reader = TopicReader::open(&broker.brokers()).await;
    let rows = read_all_stored(&gw, &mut reader, &BTreeSet::new()).await;
    check_messages(&reader.received, &rows);
    assert_exactly_once(&dedupe(&reader.received), &rows);
    let h =
        wait::health(&gw, "the relay connected", |h| h["kafka"]["connected"] == true && h["kafka"]["lag"] == 0).await;
    assert_eq!(h["status"], "healthy", "{h}");
    gw.stop().await;
}
