//! The planted-secret scan, on the Kafka topic: a gateway relaying to a real Kafka-protocol broker
//! (`tansu`) is given secrets of every kind it holds (a provider's API key, then its rotation; a
//! named secret's value behind a `secretRef` provider, then its rotation; a workspace key from the
//! workspace's creation and one issued and revoked later; the configured admin key) and serves
//! chat requests with them; once the relay has delivered every stored event, the whole topic is
//! read and none of those values (nor their hex or base64 forms) is in any message's key, value,
//! header name or header value. SQLite only: the relay reads the same feed on both stores.
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

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine as _;
use common::upstream::ask;
use common::workspaces::key_hash;
use common::{wait, Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};
use tansu::{kafka_config, read_all_stored, Received, Tansu, TopicReader};

const PROVIDER_KEY: &str = "sk-planted-kafka-provider-key-5e1f";
const ROTATED_PROVIDER_KEY: &str = "sk-planted-kafka-rotated-key-9c2d";
const SECRET_VALUE: &str = "sk-planted-kafka-secret-value-a47b";
const ROTATED_SECRET_VALUE: &str = "sk-planted-kafka-secret-rotated-3d8e";

async fn ok(gw: &Gateway, method: &str, path: &str, key: &str, body: Value, status: u16) -> Value {
    let (s, _, v) = gw.call(method, path, Some(key), Some(body)).await;
    assert_eq!(s, status, "{method} {path}: {v}");
    v
}

/// Chat requests with `key` through both providers (one model each).
async fn chats(gw: &Gateway, key: &str, tag: &str) {
    for model in ["gpt-4o-mini", "gpt-4o"] {
        ok(gw, "POST", "/v1/chat/completions", key, ask(model, None, &format!("{tag} through {model}")), 200).await;
    }
}

/// Every form a planted value could travel in.
fn forms(value: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    vec![value.to_string(), hex::encode(value), b64.encode(value), url.encode(value)]
}

/// Each message as the texts a consumer sees: its key, its value (as sent), every header's name
/// and value.
fn texts(m: &Received) -> Vec<String> {
    let mut out = vec![m.key.clone(), String::from_utf8_lossy(&m.payload).into_owned()];
    for (name, value) in &m.headers {
        out.push(name.clone());
        out.push(value.clone());
    }
    out
}

async fn scenario() {
    let broker = Tansu::start();
    let backing = common::backing(Kind::Sqlite).await;
    let config = kafka_config(&backing, Some(&broker.brokers()));
    let gw = Gateway::start_with(backing, config).await;
    let mock = layerr_mock::spawn().await;
    let base = format!("{}/v1", mock.base_url());

    // A provider with its own key, and one whose key is a named secret.
    let keyed = json!({"id": "keyed", "name": "keyed", "type": "openai", "baseUrl": base,
                       "models": ["gpt-4o-mini"], "apiKey": PROVIDER_KEY});
    ok(&gw, "POST", "/api/providers", ADMIN_KEY, keyed, 201).await;
    ok(&gw, "POST", "/api/admin/secrets", ADMIN_KEY, json!({"name": "kafka-secret", "value": SECRET_VALUE}), 201).await;
    let referenced = json!({"id": "referenced", "name": "referenced", "type": "openai", "baseUrl": base,
                            "models": ["gpt-4o"], "secretRef": "kafka-secret"});
    ok(&gw, "POST", "/api/providers", ADMIN_KEY, referenced, 201).await;

    // A workspace key from the workspace's creation, and one issued later.
    let v = ok(&gw, "POST", "/api/workspaces", ADMIN_KEY, json!({"slug": "planted", "tier": "standard"}), 201).await;
    let ws_key = v["data"]["apiKey"]["key"].as_str().unwrap().to_string();
    let v = ok(&gw, "POST", "/api/workspaces/planted/keys", ADMIN_KEY, json!({"name": "second"}), 201).await;
    let second_key = v["data"]["key"].as_str().unwrap().to_string();
    let second_id = v["data"]["id"].as_str().unwrap().to_string();

    chats(&gw, &ws_key, "first").await;
    chats(&gw, &second_key, "second").await;
    chats(&gw, ADMIN_KEY, "admin").await;

    // Both provider credentials rotated, used again; the second key revoked.
    ok(&gw, "PATCH", "/api/providers/keyed", ADMIN_KEY, json!({"apiKey": ROTATED_PROVIDER_KEY}), 200).await;
    ok(&gw, "POST", "/api/admin/secrets/kafka-secret/rotate", ADMIN_KEY, json!({"value": ROTATED_SECRET_VALUE}), 200)
        .await;
    chats(&gw, &ws_key, "rotated").await;
    let (s, _, v) =
        gw.call("DELETE", &format!("/api/workspaces/planted/keys/{second_id}"), Some(ADMIN_KEY), None).await;
    assert_eq!(s, 200, "{v}");
    assert!(mock.requests().len() >= 8, "the chats reached the upstream: {}", mock.requests().len());

    // Everything the store holds reaches the topic.
    let mut reader = TopicReader::open(&broker.brokers()).await;
    let rows = read_all_stored(&gw, &mut reader, &BTreeSet::new()).await;
    let seen: BTreeSet<i64> = reader.received.iter().map(Received::position).collect();
    assert_eq!(seen, rows.keys().copied().collect::<BTreeSet<_>>(), "the topic holds every stored event");
    for event in [
        "ProviderRegistered",
        "ProviderCredentialChanged",
        "SecretCreated",
        "SecretRotated",
        "WorkspaceCreated",
        "ApiKeyIssued",
        "ApiKeyRevoked",
    ] {
        assert!(rows.values().any(|r| r.event_type == event), "no {event} event: the plants did not happen");
    }
    wait::health(&gw, "the relay caught up", |h| h["kafka"]["lag"] == 0).await;

    // The scan: it reads what it should (ids and hashes the events do carry are found) ...
    let all: Vec<Vec<String>> = reader.received.iter().map(texts).collect();
    let hits = |needle: &str| all.iter().filter(|m| m.iter().any(|t| t.contains(needle))).count();
    for control in ["kafka-secret", "referenced", "planted", &key_hash(&ws_key), "layerr-event-type"] {
        assert!(hits(control) > 0, "the scan does not see {control:?}");
    }
    // ... and finds none of the planted values.
    let planted = [
        PROVIDER_KEY,
        ROTATED_PROVIDER_KEY,
        SECRET_VALUE,
        ROTATED_SECRET_VALUE,
        ws_key.as_str(),
        &ws_key[4..],
        second_key.as_str(),
        &second_key[4..],
        ADMIN_KEY,
    ];
    let mut found = Vec::new();
    for p in planted {
        for form in forms(p) {
            let n = hits(&form);
            if n > 0 {
                found.push(format!("{p:?} (as {form:?}) in {n} message(s)"));
            }
        }
    }
    assert!(found.is_empty(), "planted secrets on the topic ({} messages read):\n{}", all.len(), found.join("\n"));
    eprintln!("kafka_planted: {} messages scanned, {} planted values in 4 forms each", all.len(), planted.len());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_reaches_the_topic() {
    tokio::time::timeout(Duration::from_secs(240), scenario()).await.expect("the scenario finishes within 4 minutes");
}
