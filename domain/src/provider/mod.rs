//! The Provider aggregate: one upstream connection (type, base URL, models, scope, credential
//! reference, status) and its recorded connectivity tests. Global providers (no workspace) are
//! managed by admins; a workspace may add providers scoped to itself. Credentials never enter an
//! event: only the id and fingerprint of an encrypted secret.

#[cfg(test)]
mod tests;
pub mod url;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

pub const PROVIDER_TYPES: &[&str] = &["openai", "anthropic", "ollama", "gemini", "openai-compatible"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRef {
    pub secret_id: String,
    /// A short hash of the secret, so a rotation is visible without the secret.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatus {
    #[default]
    Active,
    Disabled,
}

/// Per-model overrides of the catalog (prices, context window, capabilities), kept as JSON that
/// the gateway validates against its catalog schema.
pub type ModelOverrides = serde_json::Value;

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
    #[serde(default)]
    pub model_overrides: Vec<ModelOverrides>,
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
    pub model_overrides: Option<Vec<ModelOverrides>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum ProviderCommand {
    RegisterProvider {
        id: String,
        settings: ProviderSettings,
        at: DateTime<Utc>,
    },
    UpdateProvider {
        patch: ProviderPatch,
        at: DateTime<Utc>,
    },
    /// A new credential (or none) for the provider.
    SetCredential {
        credential: Option<CredentialRef>,
        at: DateTime<Utc>,
    },
    RemoveProvider {
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
    ProviderRegistered { id: String, settings: ProviderSettings, at: DateTime<Utc> },
    ProviderUpdated { before: ProviderSettings, after: ProviderSettings, at: DateTime<Utc> },
    ProviderCredentialChanged { before: Option<CredentialRef>, after: Option<CredentialRef>, at: DateTime<Utc> },
    ProviderRemoved { at: DateTime<Utc> },
    ProviderTested { outcome: TestOutcome, at: DateTime<Utc> },
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
        "1.0".to_string()
    }
}

impl ProviderEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ProviderEvent::ProviderRegistered { at, .. }
            | ProviderEvent::ProviderUpdated { at, .. }
            | ProviderEvent::ProviderCredentialChanged { at, .. }
            | ProviderEvent::ProviderRemoved { at }
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
}

pub fn validate_id(id: &str) -> Result<(), String> {
    let ok = (2..=63).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err("id must be 2..=63 characters of a-z, 0-9, '-' and '_'".into())
    }
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
            C::RegisterProvider { id, settings, at } => {
                if self.settings.is_some() {
                    return Err(ProviderError::AlreadyExists(id));
                }
                validate_id(&id).map_err(ProviderError::Invalid)?;
                settings.validate().map_err(ProviderError::Invalid)?;
                E::ProviderRegistered { id, settings, at }
            }
            C::UpdateProvider { patch, at } => {
                let before = self.settings.clone().ok_or(ProviderError::NotFound)?;
                let mut after = before.clone();
                if let Some(v) = patch.name {
                    after.name = v;
                }
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
                if after == before {
                    return Ok(());
                }
                E::ProviderUpdated { before, after, at }
            }
            C::SetCredential { credential, at } => {
                let current = self.settings.as_ref().ok_or(ProviderError::NotFound)?;
                if current.credential == credential {
                    return Ok(());
                }
                E::ProviderCredentialChanged { before: current.credential.clone(), after: credential, at }
            }
            C::RemoveProvider { at } => {
                self.settings.as_ref().ok_or(ProviderError::NotFound)?;
                E::ProviderRemoved { at }
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
            ProviderEvent::ProviderRegistered { id, settings, .. } => {
                self.id = id;
                self.settings = Some(settings);
            }
            ProviderEvent::ProviderUpdated { after, .. } => self.settings = Some(after),
            ProviderEvent::ProviderCredentialChanged { after, .. } => {
                if let Some(s) = &mut self.settings {
                    s.credential = after;
                }
            }
            ProviderEvent::ProviderRemoved { .. } => self.settings = None,
            ProviderEvent::ProviderTested { .. } => {}
        }
    }
}
