//! The model catalog: a versioned price / limit / capability table with routing priors, shipped as
//! data in `data/catalog.toml` and documented (sources, method, raw numbers) in `docs/CATALOG.md`.
//!
//! * Prices are integer micro-dollars (1e-6 USD) per million tokens. [`ModelInfo::cost_micros`]
//!   computes a charge exactly in integers and rounds once per charge, half up, to the nearest
//!   micro-dollar.
//! * `ttft_ms` / `tokens_per_sec` are priors (rough public figures) that the router replaces with
//!   measured EWMAs at run time.
//! * `quality` holds priors in [0, 1] per intent (see [`INTENTS`]), derived from public benchmark
//!   results by the rule in `docs/CATALOG.md`; the unit tests recompute them from the raw figures.
//!
//! Loading is strict: unknown keys are errors, and every error names the model and the field.

mod overrides;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::OnceLock;

use layerr_domain::money::MAX_PRICE_PER_MTOK;
use serde::{Deserialize, Deserializer, Serialize};

/// The model vocabulary and the typed per-provider override live in the domain (a provider's
/// settings record overrides in its events); the catalog applies them.
pub use layerr_domain::provider::model::{Category, ModelKind, ModelOverride, ModelStatus};

/// The catalog shipped with the binary.
pub const BUILTIN_TOML: &str = include_str!("../../data/catalog.toml");

/// The routing intents every chat model carries a quality prior for.
pub const INTENTS: [&str; 9] =
    ["coding", "reasoning", "math", "creative", "summarization", "extraction", "translation", "classification", "chat"];

/// Micro-dollars per million tokens: the unit of every price in the catalog.
const TOKENS_PER_PRICE_UNIT: u128 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// The text is not valid TOML.
    #[error("catalog is not valid TOML: {0}")]
    Syntax(String),
    /// A top-level key (`version`, `currency`, `models`) is missing, unknown or wrong.
    #[error("catalog field `{field}`: {message}")]
    Table { field: String, message: String },
    /// One model entry (or override) is wrong; `model` is its id, or `models[i]` when it has none.
    #[error("model `{model}`: field `{field}`: {message}")]
    Model { model: String, field: String, message: String },
}

impl CatalogError {
    fn model(model: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        CatalogError::Model { model: model.to_string(), field: field.into(), message: message.into() }
    }
}

/// Quality priors in [0, 1], one per intent. All nine are required for chat models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityPriors {
    pub coding: f32,
    pub reasoning: f32,
    pub math: f32,
    pub creative: f32,
    pub summarization: f32,
    pub extraction: f32,
    pub translation: f32,
    pub classification: f32,
    pub chat: f32,
}

impl QualityPriors {
    /// Every intent at the same value.
    pub fn uniform(v: f32) -> Self {
        QualityPriors {
            coding: v,
            reasoning: v,
            math: v,
            creative: v,
            summarization: v,
            extraction: v,
            translation: v,
            classification: v,
            chat: v,
        }
    }

    pub fn get(&self, intent: &str) -> Option<f32> {
        Some(match intent {
            "coding" => self.coding,
            "reasoning" => self.reasoning,
            "math" => self.math,
            "creative" => self.creative,
            "summarization" => self.summarization,
            "extraction" => self.extraction,
            "translation" => self.translation,
            "classification" => self.classification,
            "chat" => self.chat,
            _ => return None,
        })
    }

    fn slot(&mut self, intent: &str) -> Option<&mut f32> {
        Some(match intent {
            "coding" => &mut self.coding,
            "reasoning" => &mut self.reasoning,
            "math" => &mut self.math,
            "creative" => &mut self.creative,
            "summarization" => &mut self.summarization,
            "extraction" => &mut self.extraction,
            "translation" => &mut self.translation,
            "classification" => &mut self.classification,
            "chat" => &mut self.chat,
            _ => return None,
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f32)> + '_ {
        INTENTS.iter().map(move |i| (*i, self.get(i).unwrap_or(0.0)))
    }
}

/// Raw public benchmark figures the priors are computed from (percent, except `arena_delta`:
/// LMArena/Chatbot Arena Elo minus GPT-4.1's Elo in the same snapshot). See docs/CATALOG.md.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benchmarks {
    pub swe_bench_verified: Option<f64>,
    pub gpqa_diamond: Option<f64>,
    pub math: Option<f64>,
    pub mmlu: Option<f64>,
    pub drop: Option<f64>,
    pub mgsm: Option<f64>,
    pub arena_delta: Option<f64>,
}

/// One model as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    pub id: String,
    /// `openai`, `anthropic`, `gemini`, `ollama`, `openai-compatible`, or a custom provider's type.
    pub provider_type: String,
    pub family: String,
    pub kind: ModelKind,
    pub category: Category,
    #[serde(default)]
    pub status: ModelStatus,
    pub context_window: u64,
    /// 0 for embedding models.
    pub max_output_tokens: u64,
    pub streaming: bool,
    pub tools: bool,
    pub vision: bool,
    pub json_mode: bool,
    /// Produces reasoning / thinking tokens (by default or on request), billed as output tokens.
    pub reasoning: bool,
    /// Micro-dollars per million uncached input tokens.
    #[serde(deserialize_with = "de_price")]
    pub input_per_mtok: u64,
    /// Micro-dollars per million output tokens (reasoning tokens included).
    #[serde(deserialize_with = "de_price")]
    pub output_per_mtok: u64,
    /// Cache-read price; `None` means no discount (cached tokens bill at the input rate).
    #[serde(default, deserialize_with = "de_opt_price", skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<u64>,
    /// Cache-creation price (Anthropic); `None` means cache writes bill at the input rate.
    #[serde(default, deserialize_with = "de_opt_price", skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<u64>,
    /// Prior: typical time to first token. Replaced by a measured EWMA at run time.
    pub ttft_ms: u64,
    /// Prior: typical output speed. Replaced by a measured EWMA at run time. 0 for embeddings.
    pub tokens_per_sec: u64,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Required for chat models; absent for embedding models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityPriors>,
    #[serde(default)]
    pub quality_sources: Vec<String>,
    /// Intents whose prior had no mapped benchmark figure and was derived by rule.
    #[serde(default)]
    pub quality_derived: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmarks: Option<Benchmarks>,
    /// Set when a [`ModelOverride`] touched or added this entry (its figures are not the table's).
    #[serde(skip)]
    pub overridden: bool,
}

fn de_price<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = i64::deserialize(d)?;
    u64::try_from(v).map_err(|_| serde::de::Error::custom(format!("price must be >= 0 micro-dollars, got {v}")))
}

fn de_opt_price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_price(d).map(Some)
}

impl ModelInfo {
    pub fn is_chat(&self) -> bool {
        self.kind == ModelKind::Chat
    }

    /// True if `name` is this model's id or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }

    /// The rate applied to cache-read tokens (the input rate when no discount is published).
    pub fn effective_cached_input_per_mtok(&self) -> u64 {
        self.cached_input_per_mtok.unwrap_or(self.input_per_mtok)
    }

    /// The rate applied to cache-write tokens (the input rate when no separate rate exists).
    pub fn effective_cache_write_per_mtok(&self) -> u64 {
        self.cache_write_per_mtok.unwrap_or(self.input_per_mtok)
    }

    /// Cost of one charge in micro-dollars, exact in integers (u128 intermediate).
    ///
    /// The four token counts are disjoint: `input_tokens` are uncached input tokens only (an
    /// OpenAI `prompt_tokens` must have its `cached_tokens` subtracted first; Anthropic's
    /// `input_tokens` already excludes cache reads and writes), `output_tokens` include reasoning
    /// tokens. The sum of `tokens x price` over the four kinds is divided by 1,000,000 once and
    /// rounded half up to the nearest micro-dollar. Saturates at `i64::MAX`.
    pub fn cost_micros(
        &self,
        input_tokens: u64,
        output_tokens: u64,
        cached_input_tokens: u64,
        cache_write_tokens: u64,
    ) -> i64 {
        let terms = [
            (input_tokens, self.input_per_mtok),
            (output_tokens, self.output_per_mtok),
            (cached_input_tokens, self.effective_cached_input_per_mtok()),
            (cache_write_tokens, self.effective_cache_write_per_mtok()),
        ];
        let numerator =
            terms.iter().fold(0u128, |acc, (tokens, price)| acc.saturating_add(*tokens as u128 * *price as u128));
        let micros = numerator.saturating_add(TOKENS_PER_PRICE_UNIT / 2) / TOKENS_PER_PRICE_UNIT;
        i64::try_from(micros).unwrap_or(i64::MAX)
    }

    /// The quality prior for an intent. An unknown intent gets the `chat` prior; a model without
    /// priors (embeddings) gets 0.0.
    pub fn quality_for(&self, intent: &str) -> f32 {
        match &self.quality {
            None => 0.0,
            Some(q) => q.get(intent).unwrap_or(q.chat),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// The table version every cost charge records.
    pub version: String,
    pub currency: String,
    models: Vec<ModelInfo>,
    index: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: String,
    currency: String,
    models: Vec<ModelInfo>,
}

impl Catalog {
    /// The catalog compiled into the binary, parsed and validated once.
    pub fn builtin() -> &'static Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN.get_or_init(|| match Catalog::from_toml(BUILTIN_TOML) {
            Ok(c) => c,
            // The unit tests load this same text, so this cannot fire in a tested build.
            Err(e) => panic!("built-in data/catalog.toml is invalid: {e}"),
        })
    }

    /// Parse and validate a catalog. Strict: unknown keys, negative prices, priors outside [0, 1],
    /// missing intents on chat models, duplicate ids or aliases are all errors naming the model
    /// and the field.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| CatalogError::Syntax(e.to_string()))?;
        let value = toml::Value::Table(table);
        let file: CatalogFile = serde_path_to_error::deserialize(value.clone()).map_err(|e| path_error(&value, e))?;
        let catalog =
            Catalog { version: file.version, currency: file.currency, models: file.models, index: HashMap::new() };
        catalog.validated()
    }

    /// Look a model up by id or alias (exact match).
    pub fn get(&self, id_or_alias: &str) -> Option<&ModelInfo> {
        self.index.get(id_or_alias).map(|&i| &self.models[i])
    }

    pub fn models(&self) -> &[ModelInfo] {
        &self.models
    }

    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    pub fn by_provider_type<'a>(&'a self, provider_type: &'a str) -> impl Iterator<Item = &'a ModelInfo> + 'a {
        self.models.iter().filter(move |m| m.provider_type == provider_type)
    }
    fn reindex(&mut self) {
        self.index.clear();
        for (i, m) in self.models.iter().enumerate() {
            self.index.entry(m.id.clone()).or_insert(i);
            for a in &m.aliases {
                self.index.entry(a.clone()).or_insert(i);
            }
        }
    }

    fn validated(mut self) -> Result<Catalog, CatalogError> {
        if self.version.trim().is_empty() {
            return Err(CatalogError::Table { field: "version".into(), message: "must not be empty".into() });
        }
        if self.currency.trim().is_empty() {
            return Err(CatalogError::Table { field: "currency".into(), message: "must not be empty".into() });
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (i, m) in self.models.iter().enumerate() {
            let label = if m.id.is_empty() { format!("models[{i}]") } else { m.id.clone() };
            validate_model(&label, m)?;
            for (field, name) in std::iter::once(("id", &m.id)).chain(m.aliases.iter().map(|a| ("aliases", a))) {
                if name.is_empty() {
                    return Err(CatalogError::model(&label, field, "names must not be empty"));
                }
                if let Some(owner) = names.insert(name, i) {
                    let msg = if owner == i {
                        format!("`{name}` is listed twice for this model")
                    } else {
                        format!("`{name}` is already the id or an alias of model `{}`", self.models[owner].id)
                    };
                    return Err(CatalogError::model(&label, field, msg));
                }
            }
        }
        self.reindex();
        Ok(self)
    }
}

fn validate_model(label: &str, m: &ModelInfo) -> Result<(), CatalogError> {
    let err = |field: &str, msg: String| Err(CatalogError::model(label, field, msg));
    if m.provider_type.trim().is_empty() {
        return err("provider_type", "must not be empty".into());
    }
    if m.family.trim().is_empty() {
        return err("family", "must not be empty".into());
    }
    for (field, price) in [
        ("inputPerMtok", Some(m.input_per_mtok)),
        ("outputPerMtok", Some(m.output_per_mtok)),
        ("cachedInputPerMtok", m.cached_input_per_mtok),
        ("cacheWritePerMtok", m.cache_write_per_mtok),
    ] {
        if price.is_some_and(|p| p > MAX_PRICE_PER_MTOK) {
            return err(
                field,
                format!("must be at most {MAX_PRICE_PER_MTOK} micro-dollars per million tokens ($10,000)"),
            );
        }
    }
    if (m.kind == ModelKind::Embedding) != (m.category == Category::Embedding) {
        return err("category", format!("{:?} does not fit kind {:?}", m.category, m.kind).to_lowercase());
    }
    if m.context_window == 0 {
        return err("context_window", "must be > 0".into());
    }
    for (field, v) in [("quality_derived", &m.quality_derived)] {
        if let Some(bad) = v.iter().find(|i| !INTENTS.contains(&i.as_str())) {
            return err(field, format!("`{bad}` is not an intent"));
        }
    }
    match (m.kind, &m.quality) {
        (ModelKind::Chat, None) => return err("quality", "chat models need a prior for every intent".into()),
        (_, Some(q)) => {
            for (intent, v) in q.iter() {
                if !v.is_finite() || !(0.0..=1.0).contains(&v) {
                    return err(&format!("quality.{intent}"), format!("{v} is outside [0, 1]"));
                }
            }
        }
        (ModelKind::Embedding, None) => {}
    }
    if m.kind == ModelKind::Chat {
        if m.max_output_tokens == 0 {
            return err("max_output_tokens", "must be > 0 for chat models".into());
        }
        if m.max_output_tokens > m.context_window {
            return err(
                "max_output_tokens",
                format!("{} exceeds context_window {}", m.max_output_tokens, m.context_window),
            );
        }
        if m.tokens_per_sec == 0 {
            return err("tokens_per_sec", "must be > 0 for chat models".into());
        }
    }
    Ok(())
}

/// Turn a deserialisation error into one naming the model (by id when it has one) and the field.
fn path_error(value: &toml::Value, e: serde_path_to_error::Error<toml::de::Error>) -> CatalogError {
    use serde_path_to_error::Segment;
    let message = e.inner().message().to_string();
    let segments: Vec<&Segment> = e.path().iter().collect();
    match segments.as_slice() {
        [Segment::Map { key }, Segment::Seq { index }, rest @ ..] if key == "models" => {
            let model = value
                .get("models")
                .and_then(|m| m.get(*index))
                .and_then(|m| m.get("id"))
                .and_then(|id| id.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("models[{index}]"));
            let field = rest.iter().map(|s| segment_name(s)).collect::<Vec<_>>().join(".");
            CatalogError::Model { model, field: if field.is_empty() { "?".into() } else { field }, message }
        }
        _ => {
            let field = segments.iter().map(|s| segment_name(s)).collect::<Vec<_>>().join(".");
            CatalogError::Table { field: if field.is_empty() { "?".into() } else { field }, message }
        }
    }
}

fn segment_name(s: &serde_path_to_error::Segment) -> String {
    use serde_path_to_error::Segment;
    match s {
        Segment::Map { key } => key.clone(),
        Segment::Seq { index } => format!("[{index}]"),
        Segment::Enum { variant } => variant.clone(),
        Segment::Unknown => "?".into(),
    }
}
