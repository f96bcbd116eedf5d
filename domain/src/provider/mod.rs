//! The Provider aggregate: one upstream connection (type, base URL, models, scope, credential
//! reference, status) and its recorded connectivity tests. Global providers (no workspace) are
//! managed by admins; a workspace may add providers scoped to itself. Credentials never enter an
//! event: only the id and fingerprint of an encrypted secret, and a base URL that carries none
//! (`url::credential_in` refuses keys in user info or the query).
//!
//! Ids: a global provider's id is a bare name; a provider a workspace key adds has an id qualified
//! by its workspace (`acme.local`), so one workspace's ids never collide with another's and a
//! conflict never reveals a neighbour's provider. A workspace-scoped provider also records the life
//! (`incarnation`) of its workspace it belongs to: a workspace deleted and created again under the
//! same slug does not inherit it.

pub mod model;
#[cfg(test)]
mod tests;
pub mod url;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

pub use model::{upcast, ModelOverride, SETTINGS_EVENT_VERSION};

pub const PROVIDER_TYPES: &[&str] = &["openai", "anthropic", "ollama", "gemini", "openai-compatible"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRef {
    /// The encrypted row of the provider's own key; for a named secret, the secret's id.
    pub secret_id: String,
    /// A short hash of the secret, so a rotation is visible without the secret (for a named
    /// secret: its fingerprint when it was referenced; its rotations are the secret's events).
    pub fingerprint: String,
    /// `secretRef`: the credential is the named secret `secret_id` (`/api/admin/secrets`), and
    /// follows its rotations. Added in 1.3 (settings events) and 1.1 (`ProviderCredentialChanged`);
    /// absent means false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named: bool,
}

/// Who set a provider's base URL: an admin (the operator vouches for wherever it points) or a
/// workspace key (held to the egress policy: no loopback, private or link-local destinations
/// unless the operator allows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UrlSource {
    Admin,
    Workspace,
}

/// Why a provider or strategy was removed, when it was not an explicit delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RemovalReason {
    /// Its workspace was deleted (the removal is part of the deletion's cascade, or of a later
    /// sweep when the slug is created again).
    WorkspaceDeleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatus {
    #[default]
    Active,
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSettings {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub base_url: String,
    pub models: Vec<String>,
    pub status: ProviderStatus,
    /// `None`: every workspace may use it (subject to its restrictions).
    pub workspace: Option<String>,
    pub credential: Option<CredentialRef>,
    /// Per-model changes to the catalog (prices, limits, capabilities, priors) for this provider.
    #[serde(default)]
    pub model_overrides: Vec<ModelOverride>,
}

impl ProviderSettings {
    pub fn validate(&self) -> Result<(), String> {
        let n = self.name.trim().chars().count();
        if n == 0 || self.name.chars().count() > 100 {
            return Err("name must be 1..=100 non-blank characters".into());
        }
        if !PROVIDER_TYPES.contains(&self.kind.as_str()) {
            return Err(format!("type must be one of {}", PROVIDER_TYPES.join(", ")));
        }
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) || self.base_url.len() > 500
        {
            return Err("baseUrl must be an http:// or https:// URL".into());
        }
        if let Some(why) = url::credential_in(&self.base_url) {
            return Err(why);
        }
        if self.models.len() > 1000 {
            return Err("models may hold at most 1000 entries".into());
        }
        for (i, m) in self.models.iter().enumerate() {
            if m.trim().is_empty() || m.chars().count() > 200 {
                return Err(format!("models[{i}] must be 1..=200 non-blank characters"));
            }
            if self.models[..i].contains(m) {
                return Err(format!("models[{i}] repeats '{m}'"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub models: Option<Vec<String>>,
    pub status: Option<ProviderStatus>,
    pub model_overrides: Option<Vec<ModelOverride>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum ProviderCommand {
    RegisterProvider {
        id: String,
        settings: ProviderSettings,
        /// The life of the provider's workspace it belongs to (`None` for a global provider).
        incarnation: Option<u32>,
        source: UrlSource,
        at: DateTime<Utc>,
    },
    UpdateProvider {
        patch: ProviderPatch,
        /// Who sets the base URL, when the patch changes it.
        source: UrlSource,
        at: DateTime<Utc>,
    },
    /// A new credential (or none) for the provider.
    SetCredential {
        credential: Option<CredentialRef>,
        at: DateTime<Utc>,
    },
    RemoveProvider {
        reason: Option<RemovalReason>,
        at: DateTime<Utc>,
    },
    RecordTest {
        outcome: TestOutcome,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestOutcome {
    pub ok: bool,
    pub model: Option<String>,
    pub latency_ms: u64,
    pub error_kind: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum ProviderEvent {
    /// 1.1 added `incarnation` and `urlSource` (absent on 1.0 events: see `Provider` for how
    /// they are read); 1.2 types `settings.modelOverrides` (older entries go through [`upcast`]).
    ProviderRegistered {
        id: String,
        settings: ProviderSettings,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incarnation: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_source: Option<UrlSource>,
        at: DateTime<Utc>,
    },
    /// 1.1 added `urlSource`: who set the base URL, present when the update set it; 1.2 types
    /// the settings' `modelOverrides`.
    ProviderUpdated {
        before: ProviderSettings,
        after: ProviderSettings,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_source: Option<UrlSource>,
        at: DateTime<Utc>,
    },
    ProviderCredentialChanged {
        before: Option<CredentialRef>,
        after: Option<CredentialRef>,
        at: DateTime<Utc>,
    },
    /// 1.1 added `reason` (absent for an explicit delete).
    ProviderRemoved {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<RemovalReason>,
        at: DateTime<Utc>,
    },
    ProviderTested {
        outcome: TestOutcome,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ProviderEvent {
    fn event_type(&self) -> String {
        match self {
            ProviderEvent::ProviderRegistered { .. } => "ProviderRegistered",
            ProviderEvent::ProviderUpdated { .. } => "ProviderUpdated",
            ProviderEvent::ProviderCredentialChanged { .. } => "ProviderCredentialChanged",
            ProviderEvent::ProviderRemoved { .. } => "ProviderRemoved",
            ProviderEvent::ProviderTested { .. } => "ProviderTested",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        match self {
            ProviderEvent::ProviderRegistered { .. } | ProviderEvent::ProviderUpdated { .. } => SETTINGS_EVENT_VERSION,
            ProviderEvent::ProviderRemoved { .. } | ProviderEvent::ProviderCredentialChanged { .. } => "1.1",
            ProviderEvent::ProviderTested { .. } => "1.0",
        }
        .to_string()
    }
}

impl ProviderEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ProviderEvent::ProviderRegistered { at, .. }
            | ProviderEvent::ProviderUpdated { at, .. }
            | ProviderEvent::ProviderCredentialChanged { at, .. }
            | ProviderEvent::ProviderRemoved { at, .. }
            | ProviderEvent::ProviderTested { at, .. } => *at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider '{0}' already exists")]
    AlreadyExists(String),
    #[error("provider does not exist")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Provider {
    pub id: String,
    pub settings: Option<ProviderSettings>,
    /// The workspace life a scoped provider belongs to; `None` for global providers and for
    /// those registered before events carried it.
    #[serde(default)]
    pub incarnation: Option<u32>,
    /// Who last set the base URL (`None` before events carried it).
    #[serde(default)]
    pub url_source: Option<UrlSource>,
}

pub const ID_RULE: &str =
    "id must be 2..=63 characters of a-z, 0-9, '-' and '_', optionally qualified by a workspace slug and '.'";

/// A bare name, or `<workspace slug>.<name>`.
pub fn validate_id(id: &str) -> Result<(), String> {
    let name_ok = |n: &str| {
        (2..=63).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !n.starts_with('-')
    };
    let ok = match id.split_once('.') {
        Some((ws, name)) => crate::workspace::types::validate_slug(ws).is_ok() && name_ok(name),
        None => name_ok(id),
    };
    if ok {
        Ok(())
    } else {
        Err(ID_RULE.into())
    }
}

/// The workspace an id is qualified by (`acme` for `acme.local`).
pub fn id_qualifier(id: &str) -> Option<&str> {
    id.split_once('.').map(|(ws, _)| ws)
}

/// An id qualified by a workspace names a provider (or strategy) scoped to that workspace.
pub fn check_qualifier(id: &str, workspace: Option<&str>) -> Result<(), String> {
    match id_qualifier(id) {
        Some(q) if workspace != Some(q) => {
            Err(format!("an id qualified with '{q}.' belongs to a provider or strategy of workspace '{q}'"))
        }
        _ => Ok(()),
    }
}

/// Whether a registration for `(workspace, incarnation)` supersedes what an aggregate holds:
/// the same workspace's scoped resource from an earlier life, left behind when a deletion's
/// cascade did not finish. Anything else keeps the id taken.
pub fn supersedes(held: (Option<&str>, Option<u32>), new: (Option<&str>, Option<u32>)) -> bool {
    matches!((held, new), ((Some(a), Some(i)), (Some(b), Some(j))) if a == b && i < j)
}

impl Aggregate for Provider {
    const TYPE: &'static str = "Provider";
    type Command = ProviderCommand;
    type Event = ProviderEvent;
    type Error = ProviderError;
    type Services = ();

    async fn handle(&mut self, command: Self::Command, _: &(), sink: &EventSink<Self>) -> Result<(), Self::Error> {
        use ProviderCommand as C;
        use ProviderEvent as E;
        let event = match command {
            C::RegisterProvider { id, settings, incarnation, source, at } => {
                validate_id(&id).map_err(ProviderError::Invalid)?;
                check_qualifier(&id, settings.workspace.as_deref()).map_err(ProviderError::Invalid)?;
                settings.validate().map_err(ProviderError::Invalid)?;
                if let Some(held) = &self.settings {
                    if !supersedes(
                        (held.workspace.as_deref(), self.incarnation),
                        (settings.workspace.as_deref(), incarnation),
                    ) {
                        return Err(ProviderError::AlreadyExists(id));
                    }
                    sink.write(E::ProviderRemoved { reason: Some(RemovalReason::WorkspaceDeleted), at }, self).await;
                }
                E::ProviderRegistered { id, settings, incarnation, url_source: Some(source), at }
            }
            C::UpdateProvider { patch, source, at } => {
                let before = self.settings.clone().ok_or(ProviderError::NotFound)?;
                let mut after = before.clone();
                if let Some(v) = patch.name {
                    after.name = v;
                }
                let url_source = patch.base_url.is_some().then_some(source);
                if let Some(v) = patch.base_url {
                    after.base_url = v;
                }
                if let Some(v) = patch.models {
                    after.models = v;
                }
                if let Some(v) = patch.status {
                    after.status = v;
                }
                if let Some(v) = patch.model_overrides {
                    after.model_overrides = v;
                }
                after.validate().map_err(ProviderError::Invalid)?;
                // Re-setting the same URL still records who vouches for it now (an admin taking
                // over a URL a workspace key set).
                let source_changed = url_source.is_some_and(|s| Some(s) != self.url_source);
                if after == before && !source_changed {
                    return Ok(());
                }
                E::ProviderUpdated { before, after, url_source, at }
            }
            C::SetCredential { credential, at } => {
                let current = self.settings.as_ref().ok_or(ProviderError::NotFound)?;
                if current.credential == credential {
                    return Ok(());
                }
                E::ProviderCredentialChanged { before: current.credential.clone(), after: credential, at }
            }
            C::RemoveProvider { reason, at } => {
                self.settings.as_ref().ok_or(ProviderError::NotFound)?;
                E::ProviderRemoved { reason, at }
            }
            C::RecordTest { outcome, at } => {
                self.settings.as_ref().ok_or(ProviderError::NotFound)?;
                E::ProviderTested { outcome, at }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ProviderEvent::ProviderRegistered { id, settings, incarnation, url_source, .. } => {
                self.id = id;
                self.settings = Some(settings);
                self.incarnation = incarnation;
                self.url_source = url_source;
            }
            ProviderEvent::ProviderUpdated { after, url_source, .. } => {
                self.settings = Some(after);
                if url_source.is_some() {
                    self.url_source = url_source;
                }
            }
            ProviderEvent::ProviderCredentialChanged { after, .. } => {
                if let Some(s) = &mut self.settings {
                    s.credential = after;
                }
            }
            ProviderEvent::ProviderRemoved { .. } => {
                self.settings = None;
                self.incarnation = None;
                self.url_source = None;
            }
            ProviderEvent::ProviderTested { .. } => {}
        }
    }
}
