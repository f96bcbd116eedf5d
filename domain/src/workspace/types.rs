//! Workspace value types: tier and rate limits, runtime profile, provider restrictions, and the
//! patches that change them. Validation lives here so every path (HTTP, CLI, replay) shares it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Free,
    #[default]
    Standard,
    Enterprise,
}

impl Tier {
    /// The spec's tier table: requests per minute and burst.
    pub fn quota(self) -> Quota {
        match self {
            Tier::Free => Quota { requests_per_minute: 60, burst: 10 },
            Tier::Standard => Quota { requests_per_minute: 300, burst: 50 },
            Tier::Enterprise => Quota { requests_per_minute: 2000, burst: 200 },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub requests_per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub tier: Tier,
    pub overrides: LimitOverrides,
}

impl Limits {
    /// The quota in force: the tier's, with any override on top.
    pub fn effective(&self) -> Quota {
        let base = self.tier.quota();
        Quota {
            requests_per_minute: self.overrides.requests_per_minute.unwrap_or(base.requests_per_minute),
            burst: self.overrides.burst.unwrap_or(base.burst),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if let Some(rpm) = self.overrides.requests_per_minute {
            if !(1..=10_000_000).contains(&rpm) {
                return Err("overrides.requestsPerMinute must be between 1 and 10000000".into());
            }
        }
        if let Some(burst) = self.overrides.burst {
            if !(1..=1_000_000).contains(&burst) {
                return Err("overrides.burst must be between 1 and 1000000".into());
            }
        }
        Ok(())
    }
}

/// Absent fields leave a setting as it is; `overrides: {"burst": null}` clears one override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsPatch {
    #[serde(default)]
    pub tier: Option<Tier>,
    #[serde(default)]
    pub overrides: Option<OverridesPatch>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OverridesPatch {
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<Option<u32>>,
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub burst: Option<Option<u32>>,
}

impl LimitsPatch {
    pub fn apply(&self, base: &Limits) -> Limits {
        let mut out = *base;
        if let Some(tier) = self.tier {
            out.tier = tier;
        }
        if let Some(o) = &self.overrides {
            if let Some(v) = o.requests_per_minute {
                out.overrides.requests_per_minute = v;
            }
            if let Some(v) = o.burst {
                out.overrides.burst = v;
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FallbackMode {
    Strict,
    #[default]
    Relaxed,
    None,
}

impl FallbackMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackMode::Strict => "strict",
            FallbackMode::Relaxed => "relaxed",
            FallbackMode::None => "none",
        }
    }
}

/// What of a request's content is kept in its trace (replay needs `full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ContentCapture {
    None,
    #[default]
    Metadata,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    pub connect_ms: u64,
    pub first_token_ms: u64,
    pub total_ms: u64,
    /// A cap on one attempt (one call to one provider). Unset: each provider of the chain gets
    /// an equal share of the time left, so a hanging provider cannot use up the whole deadline
    /// before the fallback is tried. Absent from events recorded before the field existed, and
    /// omitted when unset, so those payloads keep their shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retries {
    /// Attempts per provider before moving down the chain (1 = no retry).
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeProfile {
    pub timeouts: Timeouts,
    pub retries: Retries,
    pub fallback: FallbackMode,
    pub content_capture: ContentCapture,
    /// The directory `/api/chat` resolves `context.files` paths in (absolute; unset: only inline
    /// files are accepted). Absent from events recorded before the field existed, and omitted
    /// when unset, so those payloads keep their shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_root: Option<String>,
}

impl Default for RuntimeProfile {
    fn default() -> Self {
        RuntimeProfile {
            timeouts: Timeouts { connect_ms: 5_000, first_token_ms: 30_000, total_ms: 120_000, attempt_ms: None },
            retries: Retries { max_attempts: 2, backoff_base_ms: 100, backoff_max_ms: 2_000 },
            fallback: FallbackMode::Relaxed,
            content_capture: ContentCapture::Metadata,
            files_root: None,
        }
    }
}

impl RuntimeProfile {
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.timeouts;
        for (name, v) in [
            ("timeouts.connectMs", t.connect_ms),
            ("timeouts.firstTokenMs", t.first_token_ms),
            ("timeouts.totalMs", t.total_ms),
            ("timeouts.attemptMs", t.attempt_ms.unwrap_or(1)),
        ] {
            if !(1..=3_600_000).contains(&v) {
                return Err(format!("{name} must be between 1 and 3600000"));
            }
        }
        if t.connect_ms > t.total_ms {
            return Err("timeouts.connectMs must not exceed timeouts.totalMs".into());
        }
        if t.first_token_ms > t.total_ms {
            return Err("timeouts.firstTokenMs must not exceed timeouts.totalMs".into());
        }
        let r = &self.retries;
        if !(1..=10).contains(&r.max_attempts) {
            return Err("retries.maxAttempts must be between 1 and 10".into());
        }
        if r.backoff_base_ms > 60_000 || r.backoff_max_ms > 600_000 {
            return Err("retries backoff must be at most 60000 (base) and 600000 (max) ms".into());
        }
        if r.backoff_base_ms > r.backoff_max_ms {
            return Err("retries.backoffBaseMs must not exceed retries.backoffMaxMs".into());
        }
        if let Some(root) = &self.files_root {
            validate_files_root(root)?;
        }
        Ok(())
    }
}

/// The shape of a `filesRoot`: an absolute, normalised path (whether it exists is the edge's
/// concern; the domain does no IO).
pub fn validate_files_root(root: &str) -> Result<(), String> {
    if root.is_empty() || root.len() > 4096 || root.contains('\0') {
        return Err("filesRoot must be 1..=4096 bytes without NUL".into());
    }
    if !root.starts_with('/') {
        return Err("filesRoot must be an absolute path".into());
    }
    if root.split('/').any(|c| c == ".." || c == ".") {
        return Err("filesRoot must not contain '.' or '..' components".into());
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeoutsPatch {
    pub connect_ms: Option<u64>,
    pub first_token_ms: Option<u64>,
    pub total_ms: Option<u64>,
    /// `null` clears it (back to an equal share of the time left per provider).
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub attempt_ms: Option<Option<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetriesPatch {
    pub max_attempts: Option<u32>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimePatch {
    pub timeouts: Option<TimeoutsPatch>,
    pub retries: Option<RetriesPatch>,
    pub fallback: Option<FallbackMode>,
    pub content_capture: Option<ContentCapture>,
    /// `null` clears it.
    #[serde(default, with = "double_option", skip_serializing_if = "Option::is_none")]
    pub files_root: Option<Option<String>>,
}

impl RuntimePatch {
    pub fn apply(&self, base: &RuntimeProfile) -> RuntimeProfile {
        let mut out = base.clone();
        if let Some(t) = &self.timeouts {
            out.timeouts.connect_ms = t.connect_ms.unwrap_or(out.timeouts.connect_ms);
            out.timeouts.first_token_ms = t.first_token_ms.unwrap_or(out.timeouts.first_token_ms);
            out.timeouts.total_ms = t.total_ms.unwrap_or(out.timeouts.total_ms);
            if let Some(a) = t.attempt_ms {
                out.timeouts.attempt_ms = a;
            }
        }
        if let Some(r) = &self.retries {
            out.retries.max_attempts = r.max_attempts.unwrap_or(out.retries.max_attempts);
            out.retries.backoff_base_ms = r.backoff_base_ms.unwrap_or(out.retries.backoff_base_ms);
            out.retries.backoff_max_ms = r.backoff_max_ms.unwrap_or(out.retries.backoff_max_ms);
        }
        out.fallback = self.fallback.unwrap_or(out.fallback);
        out.content_capture = self.content_capture.unwrap_or(out.content_capture);
        if let Some(root) = &self.files_root {
            out.files_root = root.clone();
        }
        out
    }
}

/// Which providers and models a workspace may use. Empty allow-lists mean "all".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Restrictions {
    pub allowed_providers: Vec<String>,
    pub blocked_providers: Vec<String>,
    pub allowed_models: Vec<String>,
    pub blocked_models: Vec<String>,
}

impl Restrictions {
    pub fn validate(&self) -> Result<(), String> {
        for (field, list) in [
            ("allowedProviders", &self.allowed_providers),
            ("blockedProviders", &self.blocked_providers),
            ("allowedModels", &self.allowed_models),
            ("blockedModels", &self.blocked_models),
        ] {
            if list.len() > 500 {
                return Err(format!("{field} may hold at most 500 entries"));
            }
            for (i, name) in list.iter().enumerate() {
                if name.trim().is_empty() || name.chars().count() > 200 {
                    return Err(format!("{field}[{i}] must be 1..=200 non-blank characters"));
                }
                if list[..i].contains(name) {
                    return Err(format!("{field}[{i}] repeats '{name}'"));
                }
            }
        }
        for p in &self.allowed_providers {
            if self.blocked_providers.contains(p) {
                return Err(format!("provider '{p}' is both allowed and blocked"));
            }
        }
        for m in &self.allowed_models {
            if self.blocked_models.contains(m) {
                return Err(format!("model '{m}' is both allowed and blocked"));
            }
        }
        Ok(())
    }

    pub fn permits_provider(&self, provider: &str) -> bool {
        !self.blocked_providers.iter().any(|p| p == provider)
            && (self.allowed_providers.is_empty() || self.allowed_providers.iter().any(|p| p == provider))
    }

    pub fn permits_model(&self, model: &str) -> bool {
        !self.blocked_models.iter().any(|m| m == model)
            && (self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model))
    }
}

/// Each list given replaces the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestrictionsPatch {
    pub allowed_providers: Option<Vec<String>>,
    pub blocked_providers: Option<Vec<String>>,
    pub allowed_models: Option<Vec<String>>,
    pub blocked_models: Option<Vec<String>>,
}

impl RestrictionsPatch {
    pub fn apply(&self, base: &Restrictions) -> Restrictions {
        Restrictions {
            allowed_providers: self.allowed_providers.clone().unwrap_or_else(|| base.allowed_providers.clone()),
            blocked_providers: self.blocked_providers.clone().unwrap_or_else(|| base.blocked_providers.clone()),
            allowed_models: self.allowed_models.clone().unwrap_or_else(|| base.allowed_models.clone()),
            blocked_models: self.blocked_models.clone().unwrap_or_else(|| base.blocked_models.clone()),
        }
    }
}

/// Name and description, the workspace's descriptive settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
}

impl Profile {
    pub fn validate(&self) -> Result<(), String> {
        let n = self.name.trim().chars().count();
        if n == 0 || self.name.chars().count() > 100 {
            return Err("name must be 1..=100 non-blank characters".into());
        }
        if self.description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
            return Err("description must be at most 1000 characters".into());
        }
        Ok(())
    }
}

pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok = (2..=63).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("slug must be 2..=63 characters of a-z, 0-9 and '-', not starting or ending with '-'".into())
    }
}

/// `Some(None)` for an explicit null, `None` for an absent field.
pub mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(inner) => inner.serialize(s),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
