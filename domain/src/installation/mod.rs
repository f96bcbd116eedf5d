//! The Installation aggregate (one per deployment, id `installation`): admin keys, and the record
//! of master-key rotations (key ids only). The bootstrap key is issued at most once, so two nodes
//! starting together cannot both mint one.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::keys::KeyRecord;

pub const INSTALLATION_ID: &str = "installation";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum InstallationCommand {
    /// Issue the first admin key; refused once any admin key exists.
    BootstrapAdminKey {
        key: KeyRecord,
        at: DateTime<Utc>,
    },
    IssueAdminKey {
        key: KeyRecord,
        at: DateTime<Utc>,
    },
    RevokeAdminKey {
        key_id: String,
        at: DateTime<Utc>,
    },
    /// Every stored data key is now wrapped by master key `to` (ids only, never key material).
    RecordMasterKeyRotation {
        from: Vec<String>,
        to: String,
        rewrapped: u32,
        at: DateTime<Utc>,
    },
    /// The guardrail policy of every workspace that has none of its own (`None`: no default).
    SetGuardrails {
        policy: Option<crate::guardrails::Policy>,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum InstallationEvent {
    AdminKeyIssued {
        key: KeyRecord,
        bootstrap: bool,
        at: DateTime<Utc>,
    },
    AdminKeyRevoked {
        key_id: String,
        at: DateTime<Utc>,
    },
    /// `before`: the master keys that wrapped data keys until now; `after`: the one that wraps
    /// them all now; `rewrapped`: how many data keys moved.
    MasterKeyRotated {
        before: Vec<String>,
        after: String,
        rewrapped: u32,
        at: DateTime<Utc>,
    },
    GuardrailsChanged {
        before: Option<crate::guardrails::Policy>,
        after: Option<crate::guardrails::Policy>,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for InstallationEvent {
    fn event_type(&self) -> String {
        match self {
            InstallationEvent::AdminKeyIssued { .. } => "AdminKeyIssued",
            InstallationEvent::AdminKeyRevoked { .. } => "AdminKeyRevoked",
            InstallationEvent::MasterKeyRotated { .. } => "MasterKeyRotated",
            InstallationEvent::GuardrailsChanged { .. } => "GuardrailsChanged",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallationError {
    #[error("an admin key already exists")]
    AlreadyBootstrapped,
    #[error("admin key '{0}' already exists")]
    KeyExists(String),
    #[error("admin key '{0}' does not exist")]
    KeyNotFound(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Installation {
    /// key id -> revoked?
    pub admin_keys: BTreeMap<String, bool>,
    /// The default guardrail policy.
    #[serde(default)]
    pub guardrails: Option<crate::guardrails::Policy>,
}

impl Aggregate for Installation {
    const TYPE: &'static str = "Installation";
    type Command = InstallationCommand;
    type Event = InstallationEvent;
    type Error = InstallationError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = match command {
            InstallationCommand::BootstrapAdminKey { key, at } => {
                if !self.admin_keys.is_empty() {
                    return Err(InstallationError::AlreadyBootstrapped);
                }
                key.validate().map_err(InstallationError::Invalid)?;
                InstallationEvent::AdminKeyIssued { key, bootstrap: true, at }
            }
            InstallationCommand::IssueAdminKey { key, at } => {
                key.validate().map_err(InstallationError::Invalid)?;
                if self.admin_keys.contains_key(&key.key_id) {
                    return Err(InstallationError::KeyExists(key.key_id));
                }
                InstallationEvent::AdminKeyIssued { key, bootstrap: false, at }
            }
            InstallationCommand::RevokeAdminKey { key_id, at } => match self.admin_keys.get(&key_id) {
                None => return Err(InstallationError::KeyNotFound(key_id)),
                Some(true) => return Ok(()),
                Some(false) => InstallationEvent::AdminKeyRevoked { key_id, at },
            },
            InstallationCommand::RecordMasterKeyRotation { from, to, rewrapped, at } => {
                if to.is_empty() || from.iter().any(String::is_empty) {
                    return Err(InstallationError::Invalid("master key ids must not be empty".into()));
                }
                InstallationEvent::MasterKeyRotated { before: from, after: to, rewrapped, at }
            }
            InstallationCommand::SetGuardrails { policy, at } => {
                if policy == self.guardrails {
                    return Ok(());
                }
                InstallationEvent::GuardrailsChanged { before: self.guardrails.clone(), after: policy, at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            InstallationEvent::AdminKeyIssued { key, .. } => {
                self.admin_keys.insert(key.key_id, false);
            }
            InstallationEvent::AdminKeyRevoked { key_id, .. } => {
                self.admin_keys.insert(key_id, true);
            }
            InstallationEvent::MasterKeyRotated { .. } => {}
            InstallationEvent::GuardrailsChanged { after, .. } => self.guardrails = after,
        }
    }
}
