//! Guardrail policies in the in-memory state: the installation's default and each workspace's
//! own, compiled once when their event is applied, under the installation's limits
//! (`[guardrails]` in the configuration). A stored policy that no longer compiles (the limits
//! were lowered since it was written) is kept as broken: its fail mode decides what requests meet
//! (`gateway::guard`). The request path only clones an `Arc`.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use layerr_domain::guardrails::{FailMode, Policy};
use layerr_guardrails::{compile, Compiled, Limits};

/// A policy as the gateway runs it.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// The compiled policy, or why it does not compile under the current limits.
    pub compiled: Result<Arc<Compiled>, String>,
    pub changed_at: DateTime<Utc>,
}

impl LoadedPolicy {
    pub fn load(policy: &Policy, limits: &Limits, changed_at: DateTime<Utc>) -> Arc<LoadedPolicy> {
        let compiled = compile(policy, limits).map(Arc::new).map_err(|e| e.to_string());
        if let Err(e) = &compiled {
            tracing::error!(error = %e, "a stored guardrail policy does not compile under this node's limits");
        }
        Arc::new(LoadedPolicy { policy: policy.clone(), compiled, changed_at })
    }

    pub fn fail_mode(&self) -> FailMode {
        self.policy.fail_mode
    }
}
