//! The Kafka side of Layerr: the versioned wire envelope every event is published in, the relay
//! (feed -> topic, at-least-once; behind the `relay` feature, which compiles librdkafka) and the
//! status it reports. The gateway never needs a broker to run.

#[cfg(feature = "relay")]
pub mod relay;
pub mod status;

#[cfg(feature = "relay")]
pub use relay::{Relay, RelayConfig, RelayError};
pub use status::{RelaySnapshot, RelayStatus};

use chrono::{DateTime, Utc};
use layerr_projections::StoredEvent;
use serde::{Deserialize, Serialize};

/// The envelope's own version; bump it (and document it in docs/EVENTS.md) on a shape change.
pub const ENVELOPE_VERSION: &str = "1";

/// The relay's row in `projection_checkpoints`. It is not a SQL projector: `projections rebuild`
/// does not know it.
pub const CHECKPOINT_NAME: &str = "kafka-relay";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub envelope_version: String,
    /// Stable across redeliveries: consumers dedupe on it.
    pub event_id: String,
    pub global_position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub occurred_at: DateTime<Utc>,
    pub workspace_id: Option<String>,
    pub payload: serde_json::Value,
}

impl From<&StoredEvent> for Envelope {
    fn from(e: &StoredEvent) -> Self {
        Envelope {
            envelope_version: ENVELOPE_VERSION.to_string(),
            event_id: format!("{}:{}:{}", e.aggregate_type, e.aggregate_id, e.sequence),
            global_position: e.position(),
            aggregate_type: e.aggregate_type.clone(),
            aggregate_id: e.aggregate_id.clone(),
            sequence: e.sequence,
            event_type: e.event_type.clone(),
            event_version: e.event_version.clone(),
            occurred_at: e.recorded_at,
            workspace_id: e
                .meta("workspace")
                .map(str::to_string)
                .or_else(|| (e.aggregate_type == "Workspace").then(|| e.aggregate_id.clone())),
            payload: e.body().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layerr_projections::Cursor;

    #[test]
    fn envelope_carries_identity_position_and_workspace() {
        let e = StoredEvent {
            cursor: Cursor { tx_id: 9, position: 42 },
            aggregate_type: "Workspace".into(),
            aggregate_id: "acme".into(),
            sequence: 3,
            event_type: "LimitsChanged".into(),
            event_version: "1.0".into(),
            payload: serde_json::json!({"LimitsChanged": {"at": "2026-01-01T00:00:00Z"}}),
            metadata: serde_json::json!({"actor": "k1"}),
            recorded_at: DateTime::from_timestamp_millis(1_767_225_600_000).unwrap(),
        };
        let env = Envelope::from(&e);
        assert_eq!(env.event_id, "Workspace:acme:3");
        assert_eq!(env.global_position, 42);
        assert_eq!(env.workspace_id.as_deref(), Some("acme"));
        assert_eq!(env.payload, serde_json::json!({"at": "2026-01-01T00:00:00Z"}));
        let json = serde_json::to_value(&env).unwrap();
        assert_eq!(json["eventType"], "LimitsChanged");
        assert_eq!(json["globalPosition"], 42);
    }
}
