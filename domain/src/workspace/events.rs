//! Events of the Workspace aggregate: past-tense facts, each carrying what changed (before and
//! after for settings) so the audit trail needs no other state.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::types::{Limits, Profile, Restrictions, RuntimeProfile};
use crate::keys::KeyRecord;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum WorkspaceEvent {
    WorkspaceCreated {
        slug: String,
        profile: Profile,
        limits: Limits,
        runtime: RuntimeProfile,
        restrictions: Restrictions,
        at: DateTime<Utc>,
    },
    ProfileUpdated {
        before: Profile,
        after: Profile,
        at: DateTime<Utc>,
    },
    WorkspaceDeleted {
        at: DateTime<Utc>,
    },
    LimitsChanged {
        before: Limits,
        after: Limits,
        at: DateTime<Utc>,
    },
    RuntimeProfileChanged {
        before: RuntimeProfile,
        after: RuntimeProfile,
        at: DateTime<Utc>,
    },
    RestrictionsChanged {
        before: Restrictions,
        after: Restrictions,
        at: DateTime<Utc>,
    },
    ApiKeyIssued {
        key: KeyRecord,
        at: DateTime<Utc>,
    },
    ApiKeyRevoked {
        key_id: String,
        at: DateTime<Utc>,
    },
    DefaultStrategyChanged {
        before: String,
        after: String,
        at: DateTime<Utc>,
    },
    BudgetChanged {
        before: super::budget::Budget,
        after: super::budget::Budget,
        at: DateTime<Utc>,
    },
    GuardrailsChanged {
        before: Option<crate::guardrails::Policy>,
        after: Option<crate::guardrails::Policy>,
        at: DateTime<Utc>,
    },
    BudgetAlertTriggered {
        week_start: DateTime<Utc>,
        spent_micros: i64,
        threshold_micros: i64,
        at: DateTime<Utc>,
    },
}

impl WorkspaceEvent {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            WorkspaceEvent::WorkspaceCreated { at, .. }
            | WorkspaceEvent::ProfileUpdated { at, .. }
            | WorkspaceEvent::WorkspaceDeleted { at }
            | WorkspaceEvent::LimitsChanged { at, .. }
            | WorkspaceEvent::RuntimeProfileChanged { at, .. }
            | WorkspaceEvent::RestrictionsChanged { at, .. }
            | WorkspaceEvent::ApiKeyIssued { at, .. }
            | WorkspaceEvent::ApiKeyRevoked { at, .. }
            | WorkspaceEvent::DefaultStrategyChanged { at, .. }
            | WorkspaceEvent::BudgetChanged { at, .. }
            | WorkspaceEvent::GuardrailsChanged { at, .. }
            | WorkspaceEvent::BudgetAlertTriggered { at, .. } => *at,
        }
    }
}

impl DomainEvent for WorkspaceEvent {
    fn event_type(&self) -> String {
        match self {
            WorkspaceEvent::WorkspaceCreated { .. } => "WorkspaceCreated",
            WorkspaceEvent::ProfileUpdated { .. } => "ProfileUpdated",
            WorkspaceEvent::WorkspaceDeleted { .. } => "WorkspaceDeleted",
            WorkspaceEvent::LimitsChanged { .. } => "LimitsChanged",
            WorkspaceEvent::RuntimeProfileChanged { .. } => "RuntimeProfileChanged",
            WorkspaceEvent::RestrictionsChanged { .. } => "RestrictionsChanged",
            WorkspaceEvent::ApiKeyIssued { .. } => "ApiKeyIssued",
            WorkspaceEvent::ApiKeyRevoked { .. } => "ApiKeyRevoked",
            WorkspaceEvent::DefaultStrategyChanged { .. } => "DefaultStrategyChanged",
            WorkspaceEvent::BudgetChanged { .. } => "BudgetChanged",
            WorkspaceEvent::GuardrailsChanged { .. } => "GuardrailsChanged",
            WorkspaceEvent::BudgetAlertTriggered { .. } => "BudgetAlertTriggered",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}
