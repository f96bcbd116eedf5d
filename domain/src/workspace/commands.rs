//! Commands on the Workspace aggregate. Times and key material come in on the command.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{LimitsPatch, Profile, RestrictionsPatch, RuntimePatch, Tier};
use crate::keys::KeyRecord;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all_fields = "camelCase")]
pub enum WorkspaceCommand {
    CreateWorkspace {
        slug: String,
        profile: Profile,
        tier: Tier,
        at: DateTime<Utc>,
    },
    UpdateProfile {
        name: Option<String>,
        description: Option<Option<String>>,
        at: DateTime<Utc>,
    },
    DeleteWorkspace {
        at: DateTime<Utc>,
    },
    ChangeLimits {
        patch: LimitsPatch,
        at: DateTime<Utc>,
    },
    ChangeRuntimeProfile {
        patch: RuntimePatch,
        at: DateTime<Utc>,
    },
    ChangeRestrictions {
        patch: RestrictionsPatch,
        at: DateTime<Utc>,
    },
    IssueKey {
        key: KeyRecord,
        at: DateTime<Utc>,
    },
    RevokeKey {
        key_id: String,
        at: DateTime<Utc>,
    },
    /// The strategy the workspace's requests use when they name none (existence is checked by
    /// the caller, which knows the built-in and custom strategies).
    SetDefaultStrategy {
        strategy: String,
        at: DateTime<Utc>,
    },
    /// The workspace's own guardrail policy; `None` falls back to the installation's default.
    /// Compiled and checked against the installation's limits by the caller (the engine is not
    /// part of the domain).
    SetGuardrails {
        policy: Option<crate::guardrails::Policy>,
        at: DateTime<Utc>,
    },
    ChangeBudget {
        patch: super::budget::BudgetPatch,
        at: DateTime<Utc>,
    },
    /// The week's spend crossed the alert threshold (recorded once per week).
    RecordBudgetAlert {
        week_start: DateTime<Utc>,
        spent_micros: i64,
        threshold_micros: i64,
        at: DateTime<Utc>,
    },
}
