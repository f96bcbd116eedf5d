//! The Secret aggregate (id = the secret's name): a named, installation-level secret that provider
//! credentials may reference (`secretRef`). Admin-managed; a workspace never sees one. Its value
//! never enters an event: only the version, a fingerprint, the id of the encrypted row that holds
//! it (`storageId`) and the id of the master key that wraps that row's data key.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

pub const ID_RULE: &str = "id must be 2..=63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit";

/// A secret's id: `[a-z0-9][a-z0-9_-]{1,62}`.
pub fn validate_id(id: &str) -> Result<(), String> {
    let ok = (2..=63).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ID_RULE.into())
    }
}

/// One value of a secret, as events describe it (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    /// 1 at creation, +1 per rotation.
    pub version: u32,
    /// A short, non-reversible hash of the value.
    pub fingerprint: String,
    /// The row of the `secrets` table holding the value, encrypted.
    pub storage_id: String,
    /// The master key that wraps the row's data key.
    pub master_key_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum SecretCommand {
    /// A new secret whose value is already stored in row `storage_id`.
    CreateSecret {
        id: String,
        fingerprint: String,
        storage_id: String,
        master_key_id: String,
        at: DateTime<Utc>,
    },
    /// A new value, already stored in row `storage_id`.
    RotateSecret {
        fingerprint: String,
        storage_id: String,
        master_key_id: String,
        at: DateTime<Utc>,
    },
    /// The current value's data key is now wrapped by another master key (same value).
    RecordRewrap {
        storage_id: String,
        master_key_id: String,
        at: DateTime<Utc>,
    },
    DeleteSecret {
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum SecretEvent {
    SecretCreated { id: String, current: SecretVersion, at: DateTime<Utc> },
    SecretRotated { before: SecretVersion, after: SecretVersion, at: DateTime<Utc> },
    SecretRewrapped { version: u32, before: String, after: String, at: DateTime<Utc> },
    SecretDeleted { at: DateTime<Utc> },
}

impl DomainEvent for SecretEvent {
    fn event_type(&self) -> String {
        match self {
            SecretEvent::SecretCreated { .. } => "SecretCreated",
            SecretEvent::SecretRotated { .. } => "SecretRotated",
            SecretEvent::SecretRewrapped { .. } => "SecretRewrapped",
            SecretEvent::SecretDeleted { .. } => "SecretDeleted",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}

impl SecretEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            SecretEvent::SecretCreated { at, .. }
            | SecretEvent::SecretRotated { at, .. }
            | SecretEvent::SecretRewrapped { at, .. }
            | SecretEvent::SecretDeleted { at } => *at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret '{0}' already exists")]
    AlreadyExists(String),
    #[error("secret does not exist")]
    NotFound,
    /// A re-wrap recorded for a value that is no longer current (rotated meanwhile).
    #[error("the secret was rotated meanwhile")]
    Moved,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Secret {
    pub id: String,
    /// `None`: never created, or deleted.
    pub current: Option<SecretVersion>,
    /// The last version this id had (a secret created again after a deletion continues from it,
    /// so a version number never names two values).
    pub last_version: u32,
}

fn check_fingerprint(fp: &str) -> Result<(), SecretError> {
    if fp.len() == 12 && fp.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(SecretError::Invalid("fingerprint must be 12 hex digits".into()))
    }
}

impl Aggregate for Secret {
    const TYPE: &'static str = "Secret";
    type Command = SecretCommand;
    type Event = SecretEvent;
    type Error = SecretError;
    type Services = ();

    async fn handle(&mut self, command: Self::Command, _: &(), sink: &EventSink<Self>) -> Result<(), Self::Error> {
        use SecretCommand as C;
        use SecretEvent as E;
        let event = match command {
            C::CreateSecret { id, fingerprint, storage_id, master_key_id, at } => {
                validate_id(&id).map_err(SecretError::Invalid)?;
                check_fingerprint(&fingerprint)?;
                if self.current.is_some() {
                    return Err(SecretError::AlreadyExists(id));
                }
                let current = SecretVersion { version: self.last_version + 1, fingerprint, storage_id, master_key_id };
                E::SecretCreated { id, current, at }
            }
            C::RotateSecret { fingerprint, storage_id, master_key_id, at } => {
                check_fingerprint(&fingerprint)?;
                let before = self.current.clone().ok_or(SecretError::NotFound)?;
                let after = SecretVersion { version: before.version + 1, fingerprint, storage_id, master_key_id };
                E::SecretRotated { before, after, at }
            }
            C::RecordRewrap { storage_id, master_key_id, at } => {
                let current = self.current.as_ref().ok_or(SecretError::NotFound)?;
                if current.storage_id != storage_id {
                    return Err(SecretError::Moved);
                }
                if current.master_key_id == master_key_id {
                    return Ok(());
                }
                E::SecretRewrapped {
                    version: current.version,
                    before: current.master_key_id.clone(),
                    after: master_key_id,
                    at,
                }
            }
            C::DeleteSecret { at } => {
                self.current.as_ref().ok_or(SecretError::NotFound)?;
                E::SecretDeleted { at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            SecretEvent::SecretCreated { id, current, .. } => {
                self.id = id;
                self.last_version = current.version;
                self.current = Some(current);
            }
            SecretEvent::SecretRotated { after, .. } => {
                self.last_version = after.version;
                self.current = Some(after);
            }
            SecretEvent::SecretRewrapped { after, .. } => {
                if let Some(c) = &mut self.current {
                    c.master_key_id = after;
                }
            }
            SecretEvent::SecretDeleted { .. } => self.current = None,
        }
    }
}
