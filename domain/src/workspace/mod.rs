//! The Workspace aggregate: profile, tier and limits, runtime profile, restrictions and API keys.
//! The aggregate id is the slug. A deleted workspace may be created again (a new life, no keys).

pub mod budget;
mod commands;
mod error;
mod events;
#[cfg(test)]
mod tests;
pub mod types;

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

pub use commands::WorkspaceCommand;
pub use error::WorkspaceError;
pub use events::WorkspaceEvent;
use types::{validate_slug, Limits, Profile, Restrictions, RuntimeProfile};

/// The workspace every installation has from its first start.
pub const DEFAULT_WORKSPACE: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Lifecycle {
    #[default]
    Absent,
    Active,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Workspace {
    pub lifecycle: Lifecycle,
    pub slug: String,
    pub profile: Profile,
    pub limits: Limits,
    pub runtime: RuntimeProfile,
    pub restrictions: Restrictions,
    /// key id -> revoked?
    pub keys: BTreeMap<String, bool>,
    /// Empty means the built-in default, `balanced`.
    #[serde(default)]
    pub default_strategy: String,
    #[serde(default)]
    pub budget: budget::Budget,
    /// The start of the last week whose alert threshold was crossed (one alert per week).
    #[serde(default)]
    pub alerted_week: Option<chrono::DateTime<chrono::Utc>>,
    /// The workspace's own guardrail policy (`None`: the installation's default applies).
    #[serde(default)]
    pub guardrails: Option<crate::guardrails::Policy>,
}

pub const DEFAULT_STRATEGY: &str = "balanced";

impl Workspace {
    fn active(&self) -> Result<(), WorkspaceError> {
        match self.lifecycle {
            Lifecycle::Active => Ok(()),
            _ => Err(WorkspaceError::NotFound),
        }
    }
}

impl Aggregate for Workspace {
    const TYPE: &'static str = "Workspace";
    type Command = WorkspaceCommand;
    type Event = WorkspaceEvent;
    type Error = WorkspaceError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        use WorkspaceCommand as C;
        use WorkspaceEvent as E;
        let event = match command {
            C::CreateWorkspace { slug, profile, tier, at } => {
                if self.lifecycle == Lifecycle::Active {
                    return Err(WorkspaceError::AlreadyExists(slug));
                }
                validate_slug(&slug).map_err(WorkspaceError::Invalid)?;
                profile.validate().map_err(WorkspaceError::Invalid)?;
                E::WorkspaceCreated {
                    slug,
                    profile,
                    limits: Limits { tier, overrides: Default::default() },
                    runtime: RuntimeProfile::default(),
                    restrictions: Restrictions::default(),
                    at,
                }
            }
            C::UpdateProfile { name, description, at } => {
                self.active()?;
                let after = Profile {
                    name: name.unwrap_or_else(|| self.profile.name.clone()),
                    description: description.unwrap_or_else(|| self.profile.description.clone()),
                };
                after.validate().map_err(WorkspaceError::Invalid)?;
                if after == self.profile {
                    return Ok(());
                }
                E::ProfileUpdated { before: self.profile.clone(), after, at }
            }
            C::DeleteWorkspace { at } => {
                self.active()?;
                if self.slug == DEFAULT_WORKSPACE {
                    return Err(WorkspaceError::DefaultUndeletable);
                }
                E::WorkspaceDeleted { at }
            }
            C::ChangeLimits { patch, at } => {
                self.active()?;
                let after = patch.apply(&self.limits);
                after.validate().map_err(WorkspaceError::Invalid)?;
                if after == self.limits {
                    return Ok(());
                }
                E::LimitsChanged { before: self.limits, after, at }
            }
            C::ChangeRuntimeProfile { patch, at } => {
                self.active()?;
                let after = patch.apply(&self.runtime);
                after.validate().map_err(WorkspaceError::Invalid)?;
                if after == self.runtime {
                    return Ok(());
                }
                E::RuntimeProfileChanged { before: self.runtime.clone(), after, at }
            }
            C::ChangeRestrictions { patch, at } => {
                self.active()?;
                let after = patch.apply(&self.restrictions);
                after.validate().map_err(WorkspaceError::Invalid)?;
                if after == self.restrictions {
                    return Ok(());
                }
                E::RestrictionsChanged { before: self.restrictions.clone(), after, at }
            }
            C::IssueKey { key, at } => {
                self.active()?;
                key.validate().map_err(WorkspaceError::Invalid)?;
                if self.keys.contains_key(&key.key_id) {
                    return Err(WorkspaceError::KeyExists(key.key_id));
                }
                E::ApiKeyIssued { key, at }
            }
            C::SetDefaultStrategy { strategy, at } => {
                self.active()?;
                if strategy.trim().is_empty() || strategy.len() > 63 {
                    return Err(WorkspaceError::Invalid("strategy must be 1..=63 characters".into()));
                }
                let before = if self.default_strategy.is_empty() {
                    DEFAULT_STRATEGY.to_string()
                } else {
                    self.default_strategy.clone()
                };
                if before == strategy {
                    return Ok(());
                }
                E::DefaultStrategyChanged { before, after: strategy, at }
            }
            C::SetGuardrails { policy, at } => {
                self.active()?;
                if policy == self.guardrails {
                    return Ok(());
                }
                E::GuardrailsChanged { before: self.guardrails.clone(), after: policy, at }
            }
            C::ChangeBudget { patch, at } => {
                self.active()?;
                let after = patch.apply(&self.budget);
                after.validate().map_err(WorkspaceError::Invalid)?;
                if after == self.budget {
                    return Ok(());
                }
                E::BudgetChanged { before: self.budget, after, at }
            }
            C::RecordBudgetAlert { week_start, spent_micros, threshold_micros, at } => {
                self.active()?;
                // One alert per week, however many nodes saw the crossing.
                if self.alerted_week.is_some_and(|w| w >= week_start) {
                    return Ok(());
                }
                E::BudgetAlertTriggered { week_start, spent_micros, threshold_micros, at }
            }
            C::RevokeKey { key_id, at } => {
                self.active()?;
                match self.keys.get(&key_id) {
                    None => return Err(WorkspaceError::KeyNotFound(key_id)),
                    // Revoking twice is a no-op, not an error: the caller's intent holds.
                    Some(true) => return Ok(()),
                    Some(false) => E::ApiKeyRevoked { key_id, at },
                }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        use WorkspaceEvent as E;
        match event {
            E::WorkspaceCreated { slug, profile, limits, runtime, restrictions, .. } => {
                *self = Workspace {
                    lifecycle: Lifecycle::Active,
                    slug,
                    profile,
                    limits,
                    runtime,
                    restrictions,
                    keys: self.keys.clone(),
                    default_strategy: String::new(),
                    budget: budget::Budget::default(),
                    alerted_week: None,
                    guardrails: None,
                };
            }
            E::ProfileUpdated { after, .. } => self.profile = after,
            E::WorkspaceDeleted { .. } => {
                self.lifecycle = Lifecycle::Deleted;
                // Every key of a deleted workspace stops working, and stays dead if the slug is
                // created again.
                for revoked in self.keys.values_mut() {
                    *revoked = true;
                }
            }
            E::LimitsChanged { after, .. } => self.limits = after,
            E::RuntimeProfileChanged { after, .. } => self.runtime = after,
            E::RestrictionsChanged { after, .. } => self.restrictions = after,
            E::ApiKeyIssued { key, .. } => {
                self.keys.insert(key.key_id, false);
            }
            E::ApiKeyRevoked { key_id, .. } => {
                self.keys.insert(key_id, true);
            }
            E::DefaultStrategyChanged { after, .. } => self.default_strategy = after,
            E::BudgetChanged { after, .. } => self.budget = after,
            E::GuardrailsChanged { after, .. } => self.guardrails = after,
            E::BudgetAlertTriggered { week_start, .. } => self.alerted_week = Some(week_start),
        }
    }
}
