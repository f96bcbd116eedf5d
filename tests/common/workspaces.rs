//! What the workspace and audit tests read from their answers: secrets that must never show
//! again, field names, audit entries and their times.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// The hex SHA-256 the gateway keeps of a key.
pub fn key_hash(key: &str) -> String {
    hex::encode(layerr::keys::hash_key(key))
}

/// A key must never be shown again after its creation, neither in clear nor as its hash.
pub fn assert_no_secret(text: &str, key: &str) {
    assert!(!text.contains(key), "the API key leaked: {text}");
    assert!(!text.contains(&key_hash(key)), "the API key's hash leaked: {text}");
    assert!(!text.contains(&key[4..]), "the API key's secret part leaked: {text}");
}

/// True when some object in `v` has a field named `name`.
pub fn has_field(v: &Value, name: &str) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k == name || has_field(v, name)),
        Value::Array(a) => a.iter().any(|v| has_field(v, name)),
        _ => false,
    }
}

/// The entries of an audit answer (`data`).
pub fn entries(audit: &Value) -> &Vec<Value> {
    audit["data"].as_array().unwrap()
}

/// The `action` of every audit entry, in order.
pub fn actions(audit: &Value) -> Vec<String> {
    entries(audit).iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

pub fn has_action(audit: &Value, action: &str) -> bool {
    entries(audit).iter().any(|e| e["action"] == action)
}

/// When an audit entry happened.
pub fn at_of(entry: &Value) -> DateTime<Utc> {
    entry["at"].as_str().unwrap().parse().unwrap()
}

/// A time as the API writes it (RFC 3339, milliseconds, `Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
