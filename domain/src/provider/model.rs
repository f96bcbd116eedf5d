//! The catalog's model vocabulary as a provider's settings record it: a model's kind, category
//! and lifecycle, and the typed per-model override a provider carries (`modelOverrides`). The
//! gateway's catalog (`src/catalog/`) applies overrides; this module only says what one is.
//!
//! `ProviderRegistered` and `ProviderUpdated` carry overrides as [`ModelOverride`] from version
//! 1.2; earlier versions held them as free JSON, brought up by [`upcast`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Chat,
    Embedding,
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Frontier,
    Balanced,
    Fast,
    Local,
    Reasoning,
    Embedding,
}

impl Category {
    /// The prior used for an intent that has no benchmark figure and no anchor (docs/CATALOG.md).
    pub fn default_prior(self) -> f32 {
        match self {
            Category::Frontier => 0.85,
            Category::Reasoning => 0.80,
            Category::Balanced => 0.70,
            Category::Fast => 0.55,
            Category::Local => 0.35,
            Category::Embedding => 0.0,
        }
    }
}

/// Lifecycle at the table's date. Retired models stay so historical usage can still be priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    #[default]
    Active,
    Deprecated,
    Retired,
}

/// A per-provider change to the catalog: patch prices, limits or capabilities of an existing id
/// (or alias), or add a model the table does not know (a custom provider's model). Field names
/// are camelCase; unknown fields are rejected. Absent fields are left out when written, so an
/// override reads back as it was given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelOverride {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModelKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ModelStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vision: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_mode: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    /// Micro-dollars per million tokens, like every catalog price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_mtok: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_mtok: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_sec: Option<u64>,
    /// Added to the model's aliases (an alias already naming another model is skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<String>>,
    /// Per-intent priors to set (the catalog clamps them to [0, 1], or refuses them strictly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The version `ProviderRegistered` and `ProviderUpdated` are written at: 1.3 added the optional
/// `credential.named` (a `secretRef`), 1.2 holds `modelOverrides` as typed [`ModelOverride`]s
/// (1.1 added `incarnation` and `urlSource`).
pub const SETTINGS_EVENT_VERSION: &str = "1.3";

/// Brings a stored provider event's payload up to the version this code reads. Versions 1.0 and
/// 1.1 of `ProviderRegistered` and `ProviderUpdated` held `modelOverrides` as free JSON, which the
/// gateway read leniently: an entry that was not an override was ignored. It is dropped here, so
/// the typed settings decode and mean what they meant. Returns whether it changed anything.
pub fn upcast(event_type: &str, version: &str, payload: &mut serde_json::Value) -> bool {
    if !matches!(version, "1.0" | "1.1") {
        return false;
    }
    let settings: &[&str] = match event_type {
        "ProviderRegistered" => &["/ProviderRegistered/settings"],
        "ProviderUpdated" => &["/ProviderUpdated/before", "/ProviderUpdated/after"],
        _ => return false,
    };
    let mut changed = false;
    for pointer in settings {
        let Some(list) = payload.pointer_mut(&format!("{pointer}/modelOverrides")).and_then(|v| v.as_array_mut())
        else {
            continue;
        };
        let before = list.len();
        list.retain(|o| serde_json::from_value::<ModelOverride>(o.clone()).is_ok());
        changed |= list.len() != before;
    }
    changed
}
