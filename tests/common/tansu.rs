//! The Kafka side of the relay tests: a real Kafka-protocol broker (`tansu`, started on a free port
//! so it can be killed and restarted), a gateway config with the relay on, the store's events read
//! with SQL, and a consumer that reads every partition of the topic from the beginning.
//!
//! Not declared in `mod.rs` (which every test binary includes): only the Kafka test binaries
//! link rdkafka's consumer, with `#[path = "common/tansu.rs"] mod tansu;` next to `mod common;`.
#![allow(dead_code, reason = "each Kafka test binary uses a different part of the harness")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;
use sqlx::Row as _;

use crate::common::{self, Backing, Gateway};

pub const TOPIC: &str = "layerr.events";

// ------------------------------------------------------------------------------------------
// The broker
// ------------------------------------------------------------------------------------------

/// `LAYERR_TEST_TANSU_BIN`, else `tansu` on PATH, else `~/.cargo/bin/tansu`. Missing is a
/// failure, not a skip: CI installs it (scripts/test.sh).
pub fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("LAYERR_TEST_TANSU_BIN") {
        if !p.is_empty() {
            assert!(PathBuf::from(&p).is_file(), "LAYERR_TEST_TANSU_BIN={p} is not a file (the tansu broker binary)");
            return PathBuf::from(p);
        }
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("tansu"))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return p;
    }
    let home = PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo/bin/tansu");
    assert!(
        home.is_file(),
        "the tansu broker is required for the Kafka relay tests: set LAYERR_TEST_TANSU_BIN, put `tansu` on PATH, \
         or run `cargo install tansu --version 0.6.0 --locked --features dynostore` (scripts/test.sh does)"
    );
    home
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A tansu broker with in-memory storage, killed when dropped.
pub struct Tansu {
    pub port: u16,
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl Tansu {
    pub fn start() -> Tansu {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Tansu {
        let log = tempfile::NamedTempFile::new().unwrap();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("tansu starts");
        let mut broker = Tansu { port, child: Some(child), log };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tansu exited early ({status}): {}", self.log_text());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "tansu never listened: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        let text = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// SIGSTOP / SIGCONT: a frozen broker keeps its connections open and answers nothing.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = self.child.as_ref().expect("running").id() as libc::pid_t;
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "signal {sig} to tansu");
    }

    /// SIGKILL: the broker gets no chance to say goodbye (memory storage: everything is gone).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn kafka_config(backing: &Backing, brokers: Option<&str>) -> layerr::config::Config {
    let mut config = common::config_for(backing);
    config.kafka.brokers = brokers.map(str::to_string);
    // Short, so an outage shows up (and is retried) within the test's time.
    config.kafka.message_timeout_ms = 3_000;
    config
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
}

/// Every event in the store, by global position (straight from SQL, not through the feed).
pub async fn stored(gw: &Gateway) -> BTreeMap<i64, Row> {
    let rows = sqlx::query(
        "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type, event_version FROM events",
    )
    .fetch_all(&gw.started.state.store.db.any)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get::<i64, _>("global_position"),
                Row {
                    aggregate_type: r.get("aggregate_type"),
                    aggregate_id: r.get("aggregate_id"),
                    sequence: r.get("sequence"),
                    event_type: r.get("event_type"),
                    event_version: r.get("event_version"),
                },
            )
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub headers: HashMap<String, String>,
    /// The value as it came (the bytes the envelope was parsed from).
    pub payload: Vec<u8>,
    pub envelope: Value,
}

impl Received {
    pub fn position(&self) -> i64 {
        self.envelope["globalPosition"].as_i64().expect("globalPosition is an integer")
    }

    pub fn event_id(&self) -> &str {
        self.envelope["eventId"].as_str().expect("eventId is a string")
    }
}

/// Reads every partition of the topic from the beginning (no consumer group).
pub struct TopicReader {
    consumer: StreamConsumer,
    pub received: Vec<Received>,
}

impl TopicReader {
    pub async fn open(brokers: &str) -> TopicReader {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("layerr-test-{}", uuid::Uuid::now_v7()))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_uncommitted")
            .create()
            .expect("consumer");
        // The relay creates the topic (in the background): wait for it to exist.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let partitions = loop {
            let meta = tokio::task::block_in_place(|| consumer.fetch_metadata(Some(TOPIC), Duration::from_secs(5)));
            let found = meta.ok().and_then(|m| {
                m.topics()
                    .iter()
                    .find(|t| t.name() == TOPIC && t.error().is_none() && !t.partitions().is_empty())
                    .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
            });
            if let Some(p) = found {
                break p;
            }
            assert!(std::time::Instant::now() < deadline, "topic {TOPIC} never appeared on {brokers}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(partitions.len(), 3, "the relay creates the topic with kafka.partitions (3) partitions");
        let mut assignment = TopicPartitionList::new();
        for p in partitions {
            assignment.add_partition_offset(TOPIC, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&assignment).unwrap();
        TopicReader { consumer, received: Vec::new() }
    }

    /// Reads until every position in `want` has been seen (panics after the deadline, naming
    /// what is missing), then for `linger` more to catch any duplicates.
    pub async fn read_until(&mut self, want: &BTreeSet<i64>, linger: Duration) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        let mut done_at: Option<tokio::time::Instant> = None;
        loop {
            let seen: BTreeSet<i64> = self.received.iter().map(Received::position).collect();
            if done_at.is_none() && want.is_subset(&seen) {
                done_at = Some(tokio::time::Instant::now() + linger);
            }
            let until = done_at.unwrap_or(deadline);
            if tokio::time::Instant::now() >= until {
                let missing: Vec<_> = want.difference(&seen).take(20).collect();
                assert!(missing.is_empty(), "positions never arrived on the topic (first 20): {missing:?}");
                return;
            }
            match tokio::time::timeout(until - tokio::time::Instant::now(), self.consumer.recv()).await {
                Err(_) => continue,
                Ok(Err(e)) => panic!("consumer error: {e}"),
                Ok(Ok(m)) => {
                    let headers = m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    let v = h.value.map(|v| String::from_utf8(v.to_vec()).unwrap()).unwrap_or_default();
                                    (h.key.to_string(), v)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let key = String::from_utf8(m.key().expect("every message has a key").to_vec()).unwrap();
                    let payload = m.payload().expect("every message has a value").to_vec();
                    let envelope: Value = serde_json::from_slice(&payload).expect("the value is the JSON envelope");
                    self.received.push(Received {
                        partition: m.partition(),
                        offset: m.offset(),
                        key,
                        headers,
                        payload,
                        envelope,
                    });
                }
            }
        }
    }
}

/// Reads until everything the store holds (now and after the load settles) is on the topic.
pub async fn read_all_stored(gw: &Gateway, reader: &mut TopicReader, already: &BTreeSet<i64>) -> BTreeMap<i64, Row> {
    loop {
        let rows = stored(gw).await;
        let want: BTreeSet<i64> = rows.keys().copied().filter(|p| !already.contains(p)).collect();
        reader.read_until(&want, Duration::from_millis(1500)).await;
        // Trace events are appended after the response: only stop once the store is still.
        if stored(gw).await.len() == rows.len() {
            return rows;
        }
    }
}
