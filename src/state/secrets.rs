//! Named secrets in the in-memory state: metadata only (version, fingerprint, the row holding the
//! value, the master key wrapping it), never a value. The values are `crate::secrets`'s; the feed
//! follower points them at the rows this state names. Also the master key the latest rotation
//! moved every data key to, so a node can follow another's rotation.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use layerr_domain::secret::{Secret, SecretEvent, SecretVersion};

use super::HotState;

#[derive(Debug, Clone)]
pub struct SecretView {
    pub id: String,
    pub current: SecretVersion,
    pub created_at: DateTime<Utc>,
    /// The latest rotation of its value (`None` until it is rotated).
    pub rotated_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Deleted: kept (hidden from every accessor but [`HotState::secret_rows`]) so a pointer
    /// sees the deletion's version.
    deleted: bool,
}

/// Where a named secret's current value is: its version, and the row (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretPointer {
    pub id: String,
    pub version: u32,
    pub row: Option<String>,
}

impl HotState {
    pub fn apply_secret(&self, id: &str, seq: i64, event: &SecretEvent) {
        let mut guard = self.inner.write();
        let inner = &mut *guard;
        if !Self::claim(inner, Secret::TYPE, id, seq) {
            return;
        }
        let at = event.at();
        match event {
            SecretEvent::SecretCreated { current, .. } => {
                let view = SecretView {
                    id: id.to_string(),
                    current: current.clone(),
                    created_at: at,
                    rotated_at: None,
                    updated_at: at,
                    deleted: false,
                };
                inner.secrets.insert(id.to_string(), view);
            }
            SecretEvent::SecretRotated { after, .. } => {
                if let Some(v) = inner.secrets.get_mut(id) {
                    v.current = after.clone();
                    v.rotated_at = Some(at);
                    v.updated_at = at;
                }
            }
            SecretEvent::SecretRewrapped { after, .. } => {
                if let Some(v) = inner.secrets.get_mut(id) {
                    v.current.master_key_id = after.clone();
                    v.updated_at = at;
                }
            }
            SecretEvent::SecretDeleted { .. } => {
                if let Some(v) = inner.secrets.get_mut(id) {
                    v.deleted = true;
                    v.updated_at = at;
                }
            }
        }
    }

    pub fn secret(&self, id: &str) -> Option<SecretView> {
        self.inner.read().secrets.get(id).filter(|v| !v.deleted).cloned()
    }

    /// Every named secret, by id.
    pub fn secrets(&self) -> Vec<SecretView> {
        self.inner.read().secrets.values().filter(|v| !v.deleted).cloned().collect()
    }

    /// Where every named secret's value is (deleted ones too, as `row: None`), with its version:
    /// `SecretBox::sync_named` moves a pointer forward only, so a stale copy of this list never
    /// undoes a newer one.
    pub fn secret_rows(&self) -> Vec<SecretPointer> {
        let inner = self.inner.read();
        inner
            .secrets
            .values()
            .map(|v| SecretPointer {
                id: v.id.clone(),
                version: v.current.version,
                row: (!v.deleted).then(|| v.current.storage_id.clone()),
            })
            .collect()
    }

    /// The providers whose credential is the named secret `id` (disowned ones included: their
    /// events still name it until they are removed).
    pub fn secret_referenced_by(&self, id: &str) -> Vec<String> {
        let inner = self.inner.read();
        inner
            .providers
            .values()
            .filter(|p| p.settings.credential.as_ref().is_some_and(|c| c.named && c.secret_id == id))
            .map(|p| p.id.clone())
            .collect()
    }

    /// The master key the latest rotation moved every data key to.
    pub fn master_key_rotated_to(&self) -> Option<String> {
        self.inner.read().master_key.clone()
    }
}
