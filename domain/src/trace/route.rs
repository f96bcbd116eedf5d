//! A reference to one route: a provider and one of its models. The fallback chain of
//! `RouteDecided` is a list of them since version 1.2 (objects `{"provider", "model"}`; versions
//! 1.0 and 1.1 wrote `["provider", "model"]` pairs, upcast on read).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteRef {
    pub provider: String,
    pub model: String,
}

impl RouteRef {
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> RouteRef {
        RouteRef { provider: provider.into(), model: model.into() }
    }

    /// Whether this is the route of `provider` serving `model`.
    pub fn is(&self, provider: &str, model: &str) -> bool {
        self.provider == provider && self.model == model
    }
}

impl fmt::Display for RouteRef {
    /// `model/provider`, the form replay's differences use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.model, self.provider)
    }
}
