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

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use layerr_domain::money::MAX_PRICE_PER_MTOK;
use serde::{Deserialize, Deserializer, Serialize};

/// The catalog shipped with the binary.
pub const BUILTIN_TOML: &str = include_str!("../data/catalog.toml");

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Chat,
    Embedding,
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

/// A per-provider change to the catalog: patch prices, limits or capabilities of an existing id
/// (or alias), or add a model the table does not know (a custom provider's model).
/// Field names are camelCase; unknown fields are rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelOverride {
    pub id: String,
    pub provider_type: Option<String>,
    pub family: Option<String>,
    pub kind: Option<ModelKind>,
    pub category: Option<Category>,
    pub status: Option<ModelStatus>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub streaming: Option<bool>,
    pub tools: Option<bool>,
    pub vision: Option<bool>,
    pub json_mode: Option<bool>,
    pub reasoning: Option<bool>,
    pub input_per_mtok: Option<u64>,
    pub output_per_mtok: Option<u64>,
    pub cached_input_per_mtok: Option<u64>,
    pub cache_write_per_mtok: Option<u64>,
    pub ttft_ms: Option<u64>,
    pub tokens_per_sec: Option<u64>,
    /// Added to the model's aliases (an alias already naming another model is skipped).
    pub aliases: Option<Vec<String>>,
    /// Per-intent priors to set; values are clamped to [0, 1] by `with_overrides`.
    pub quality: Option<HashMap<String, f32>>,
    pub note: Option<String>,
}

/// Defaults for a model added by an override that does not say (documented in docs/CATALOG.md).
const NEW_MODEL_CONTEXT: u64 = 8_192;
const NEW_MODEL_MAX_OUTPUT: u64 = 4_096;
const NEW_MODEL_TTFT_MS: u64 = 1_000;
const NEW_MODEL_TOKENS_PER_SEC: u64 = 50;

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

    /// A copy with the overrides applied in order. Lenient by design (never fails): an override
    /// naming an id or alias patches that model; any other id adds a model, with documented
    /// defaults for what it leaves out (provider type `openai-compatible`, chat, `balanced`,
    /// price 0, the category's default priors). Priors are clamped to [0, 1], unknown intents
    /// and aliases that already name another model are skipped. `version` is kept; touched
    /// models get `overridden = true`. Use [`Catalog::try_with_overrides`] to reject bad input.
    pub fn with_overrides(&self, overrides: &[ModelOverride]) -> Catalog {
        let mut models = self.models.clone();
        for o in overrides {
            let pos = models.iter().position(|m| m.answers_to(&o.id));
            let i = match pos {
                Some(i) => i,
                None => {
                    models.push(new_model(o));
                    models.len() - 1
                }
            };
            apply(&mut models[i], o);
            if let Some(aliases) = &o.aliases {
                for alias in aliases {
                    let taken = models.iter().enumerate().any(|(j, m)| j != i && m.answers_to(alias));
                    if !taken && !models[i].answers_to(alias) && !alias.is_empty() {
                        models[i].aliases.push(alias.clone());
                    }
                }
            }
            fill_chat_priors(&mut models[i]);
        }
        let mut out =
            Catalog { version: self.version.clone(), currency: self.currency.clone(), models, index: HashMap::new() };
        out.reindex();
        out
    }

    /// Like [`Catalog::with_overrides`], but rejects what it would silently fix: priors outside
    /// [0, 1] or for unknown intents, aliases that already name another model, and new models
    /// without `providerType`, `contextWindow`, `inputPerMtok` and `outputPerMtok`.
    pub fn try_with_overrides(&self, overrides: &[ModelOverride]) -> Result<Catalog, CatalogError> {
        let mut known: Vec<String> = self.models.iter().map(|m| m.id.clone()).collect();
        for o in overrides {
            let id = o.id.as_str();
            if id.is_empty() {
                return Err(CatalogError::model("", "id", "must not be empty"));
            }
            let existing = self.models.iter().find(|m| m.answers_to(id));
            if existing.is_none() && !known.iter().any(|k| k == id) {
                for (field, present) in [
                    ("providerType", o.provider_type.is_some()),
                    ("contextWindow", o.context_window.is_some()),
                    ("inputPerMtok", o.input_per_mtok.is_some()),
                    ("outputPerMtok", o.output_per_mtok.is_some()),
                ] {
                    if !present {
                        return Err(CatalogError::model(id, field, "required when the override adds a new model"));
                    }
                }
                known.push(id.to_string());
            }
            for (field, price) in [
                ("inputPerMtok", o.input_per_mtok),
                ("outputPerMtok", o.output_per_mtok),
                ("cachedInputPerMtok", o.cached_input_per_mtok),
                ("cacheWritePerMtok", o.cache_write_per_mtok),
            ] {
                if price.is_some_and(|p| p > MAX_PRICE_PER_MTOK) {
                    return Err(CatalogError::model(
                        id,
                        field,
                        format!("must be at most {MAX_PRICE_PER_MTOK} micro-dollars per million tokens ($10,000)"),
                    ));
                }
            }
            if let Some(q) = &o.quality {
                for (intent, v) in q {
                    if !INTENTS.contains(&intent.as_str()) {
                        return Err(CatalogError::model(id, format!("quality.{intent}"), "unknown intent"));
                    }
                    if !(0.0..=1.0).contains(v) {
                        return Err(CatalogError::model(
                            id,
                            format!("quality.{intent}"),
                            format!("{v} is outside [0, 1]"),
                        ));
                    }
                }
            }
            for alias in o.aliases.iter().flatten() {
                let owner = self.models.iter().find(|m| m.answers_to(alias));
                if let Some(owner) = owner {
                    if !owner.answers_to(id) {
                        return Err(CatalogError::model(
                            id,
                            "aliases",
                            format!("`{alias}` already names model `{}`", owner.id),
                        ));
                    }
                }
            }
        }
        self.with_overrides(overrides).validated()
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

fn new_model(o: &ModelOverride) -> ModelInfo {
    let kind = o.kind.unwrap_or(ModelKind::Chat);
    let category = o.category.unwrap_or(match kind {
        ModelKind::Chat => Category::Balanced,
        ModelKind::Embedding => Category::Embedding,
    });
    ModelInfo {
        id: o.id.clone(),
        provider_type: "openai-compatible".into(),
        family: o.id.clone(),
        kind,
        category,
        status: ModelStatus::Active,
        context_window: NEW_MODEL_CONTEXT,
        max_output_tokens: if kind == ModelKind::Chat { NEW_MODEL_MAX_OUTPUT } else { 0 },
        streaming: kind == ModelKind::Chat,
        tools: false,
        vision: false,
        json_mode: false,
        reasoning: false,
        input_per_mtok: 0,
        output_per_mtok: 0,
        cached_input_per_mtok: None,
        cache_write_per_mtok: None,
        ttft_ms: NEW_MODEL_TTFT_MS,
        tokens_per_sec: if kind == ModelKind::Chat { NEW_MODEL_TOKENS_PER_SEC } else { 0 },
        aliases: Vec::new(),
        note: Some("added by a provider override".into()),
        quality: None,
        quality_sources: Vec::new(),
        quality_derived: Vec::new(),
        benchmarks: None,
        overridden: true,
    }
}

fn apply(m: &mut ModelInfo, o: &ModelOverride) {
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = &o.$field { m.$field = v.clone(); } )* };
    }
    set!(
        provider_type,
        family,
        kind,
        category,
        status,
        context_window,
        max_output_tokens,
        streaming,
        tools,
        vision,
        json_mode,
        reasoning,
        input_per_mtok,
        output_per_mtok,
        ttft_ms,
        tokens_per_sec
    );
    if o.cached_input_per_mtok.is_some() {
        m.cached_input_per_mtok = o.cached_input_per_mtok;
    }
    if o.cache_write_per_mtok.is_some() {
        m.cache_write_per_mtok = o.cache_write_per_mtok;
    }
    // An override stored before prices were bounded cannot price beyond the bound.
    m.input_per_mtok = m.input_per_mtok.min(MAX_PRICE_PER_MTOK);
    m.output_per_mtok = m.output_per_mtok.min(MAX_PRICE_PER_MTOK);
    m.cached_input_per_mtok = m.cached_input_per_mtok.map(|p| p.min(MAX_PRICE_PER_MTOK));
    m.cache_write_per_mtok = m.cache_write_per_mtok.map(|p| p.min(MAX_PRICE_PER_MTOK));
    if o.note.is_some() {
        m.note = o.note.clone();
    }
    // Keep kind and category consistent whichever one the override changed.
    if m.kind == ModelKind::Embedding {
        m.category = Category::Embedding;
        m.max_output_tokens = 0;
    } else if m.category == Category::Embedding {
        m.category = Category::Balanced;
    }
    if m.kind == ModelKind::Chat {
        m.max_output_tokens = m.max_output_tokens.clamp(1, m.context_window.max(1));
        m.context_window = m.context_window.max(1);
        if m.tokens_per_sec == 0 {
            m.tokens_per_sec = NEW_MODEL_TOKENS_PER_SEC;
        }
    }
    if let Some(q) = &o.quality {
        let mut priors = match m.quality {
            Some(q) => q,
            None => {
                m.quality_derived = INTENTS.iter().map(|s| s.to_string()).collect();
                QualityPriors::uniform(m.category.default_prior())
            }
        };
        for (intent, v) in q {
            if let Some(slot) = priors.slot(intent) {
                *slot = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
                m.quality_derived.retain(|d| d != intent);
            }
        }
        m.quality = Some(priors);
    }
    m.overridden = true;
}

/// A chat model without priors (new, or turned into chat) gets its category's default, all derived.
fn fill_chat_priors(m: &mut ModelInfo) {
    if m.kind == ModelKind::Chat && m.quality.is_none() {
        m.quality = Some(QualityPriors::uniform(m.category.default_prior()));
        m.quality_derived = INTENTS.iter().map(|s| s.to_string()).collect();
    }
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

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> &'static Catalog {
        Catalog::builtin()
    }

    /// A minimal valid chat entry; `extra` lines are appended inside the same `[[models]]` table.
    fn one_model(id: &str, extra: &str) -> String {
        format!(
            r#"version = "t"
currency = "USD"
[[models]]
id = "{id}"
provider_type = "custom"
family = "f"
kind = "chat"
category = "balanced"
context_window = 1000
max_output_tokens = 100
streaming = true
tools = false
vision = false
json_mode = false
reasoning = false
input_per_mtok = 3_000_000
output_per_mtok = 15_000_000
ttft_ms = 100
tokens_per_sec = 10
quality = {{ coding = 0.5, reasoning = 0.5, math = 0.5, creative = 0.5, summarization = 0.5, extraction = 0.5, translation = 0.5, classification = 0.5, chat = 0.5 }}
{extra}
"#
        )
    }

    fn model_err(text: &str) -> (String, String, String) {
        match Catalog::from_toml(text) {
            Err(CatalogError::Model { model, field, message }) => (model, field, message),
            other => panic!("expected a model error, got {other:?}"),
        }
    }

    #[test]
    fn builtin_loads_and_validates() {
        let c = builtin();
        assert_eq!(c.version, "2026-11-01");
        assert_eq!(c.currency, "USD");
        assert_eq!(c.len(), 26);
        for pt in ["openai", "anthropic", "gemini", "ollama", "openai-compatible"] {
            assert!(c.by_provider_type(pt).count() >= 3, "{pt}");
        }
        for m in c.models() {
            assert!(!m.overridden);
            if m.is_chat() {
                let q = m.quality.expect("chat priors");
                assert!(q.iter().all(|(_, v)| (0.0..=1.0).contains(&v)), "{}", m.id);
                assert!(!m.quality_derived.is_empty(), "{}: creative/summarization are always derived", m.id);
            } else {
                assert_eq!(m.max_output_tokens, 0, "{}", m.id);
                assert_eq!(m.output_per_mtok, 0, "{}", m.id);
            }
            if m.provider_type == "ollama" {
                assert_eq!((m.input_per_mtok, m.output_per_mtok), (0, 0), "{}", m.id);
            }
        }
        // The same text parses to the same table (builtin() is not special-cased).
        assert_eq!(&Catalog::from_toml(BUILTIN_TOML).unwrap(), c);
    }

    #[test]
    fn cost_matches_hand_computed_figures() {
        // $3 / $15 per MTok: 1,240 in + 892 out = 3,720 + 13,380 = 17,100 micro-dollars.
        let sonnet = builtin().get("claude-sonnet-4").unwrap();
        assert_eq!((sonnet.input_per_mtok, sonnet.output_per_mtok), (3_000_000, 15_000_000));
        assert_eq!(sonnet.cost_micros(1_240, 892, 0, 0), 17_100);
        // gpt-4.1 at $2 / $8: 10,000 in + 2,000 out = 20,000 + 16,000.
        assert_eq!(builtin().get("gpt-4.1").unwrap().cost_micros(10_000, 2_000, 0, 0), 36_000);
        assert_eq!(sonnet.cost_micros(0, 0, 0, 0), 0);
        // Local models are free.
        assert_eq!(builtin().get("llama3.1:8b").unwrap().cost_micros(1_000_000, 1_000_000, 0, 0), 0);
    }

    #[test]
    fn anthropic_cache_reads_are_ten_percent_and_writes_125_percent() {
        for m in builtin().by_provider_type("anthropic") {
            assert_eq!(m.cached_input_per_mtok.unwrap() * 10, m.input_per_mtok, "{}", m.id);
            assert_eq!(m.cache_write_per_mtok.unwrap() * 4, m.input_per_mtok * 5, "{}", m.id);
        }
        let sonnet = builtin().get("claude-sonnet-4").unwrap();
        // 100,000 cache reads at $0.30 = 30,000; 100,000 cache writes at $3.75 = 375,000.
        assert_eq!(sonnet.cost_micros(0, 0, 100_000, 0), 30_000);
        assert_eq!(sonnet.cost_micros(0, 0, 0, 100_000), 375_000);
        // A realistic turn: 1,240 fresh + 20,000 cached + 5,000 written + 892 out.
        // 3,720 + 6,000 + 18,750 + 13,380 = 41,850.
        assert_eq!(sonnet.cost_micros(1_240, 892, 20_000, 5_000), 41_850);
    }

    #[test]
    fn missing_cache_rates_fall_back_to_the_input_rate() {
        let m = builtin().get("mistral-large-latest").unwrap();
        assert_eq!(m.cached_input_per_mtok, None);
        assert_eq!(m.cost_micros(0, 0, 1_000_000, 1_000_000), 2 * m.input_per_mtok as i64);
        // OpenAI has a cache-read price but no cache-write price.
        let g = builtin().get("gpt-4.1-mini").unwrap();
        assert_eq!(g.cost_micros(0, 0, 1_000_000, 0), 100_000);
        assert_eq!(g.cost_micros(0, 0, 0, 1_000_000), 400_000);
    }

    #[test]
    fn rounding_is_half_up_once_per_charge() {
        let nano = builtin().get("gpt-4.1-nano").unwrap(); // $0.10 in, $0.40 out
        assert_eq!(nano.cost_micros(4, 0, 0, 0), 0); // 0.4
        assert_eq!(nano.cost_micros(5, 0, 0, 0), 1); // 0.5 -> 1
        assert_eq!(nano.cost_micros(14, 0, 0, 0), 1); // 1.4
        assert_eq!(nano.cost_micros(15, 0, 0, 0), 2); // 1.5 -> 2
                                                      // Rounded once on the sum, not per kind: 0.4 + 0.4 = 0.8 -> 1 (per-kind rounding gives 0).
        assert_eq!(nano.cost_micros(4, 1, 0, 0), 1);
        // DeepSeek's sub-cent cache rate: 2,800 micro-dollars per MTok.
        let ds = builtin().get("deepseek-chat").unwrap();
        assert_eq!(ds.cost_micros(0, 0, 1_000, 0), 3); // 2.8
        assert_eq!(ds.cost_micros(0, 0, 178, 0), 0); // 0.4984
        assert_eq!(ds.cost_micros(0, 0, 179, 0), 1); // 0.5012
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let opus = builtin().get("claude-opus-4").unwrap();
        assert_eq!(opus.cost_micros(u64::MAX, u64::MAX, u64::MAX, u64::MAX), i64::MAX);
        // 1e12 tokens at $75/MTok = $75M = 7.5e13 micro-dollars, well inside i64.
        assert_eq!(opus.cost_micros(0, 1_000_000_000_000, 0, 0), 75_000_000_000_000);
    }

    #[test]
    fn lookup_by_id_and_alias() {
        let c = builtin();
        assert_eq!(c.get("claude-sonnet-4-20250514").unwrap().id, "claude-sonnet-4");
        assert_eq!(c.get("gpt-4o-2024-08-06").unwrap().id, "gpt-4o");
        assert_eq!(c.get("deepseek-chat").unwrap().id, "deepseek-v4-flash");
        assert_eq!(c.get("deepseek-reasoner").unwrap().id, "deepseek-v4-flash");
        assert_eq!(c.get("claude-3-5-haiku-latest").unwrap().id, "claude-3-5-haiku");
        assert_eq!(c.get("llama3.1").unwrap().id, "llama3.1:8b");
        assert!(c.get("gpt-4o").unwrap().answers_to("gpt-4o-2024-11-20"));
        assert!(c.get("no-such-model").is_none());
        assert!(c.get("GPT-4O").is_none(), "lookups are exact");
    }

    #[test]
    fn quality_lookup() {
        let c = builtin();
        let o4 = c.get("o4-mini").unwrap();
        assert_eq!(o4.quality_for("math"), o4.quality.unwrap().math);
        assert_eq!(o4.quality_for("poetry-slam"), o4.quality.unwrap().chat);
        assert_eq!(c.get("text-embedding-3-small").unwrap().quality_for("chat"), 0.0);
        // Coding priors order the frontier above the small models.
        assert!(
            c.get("claude-sonnet-4").unwrap().quality_for("coding")
                > c.get("gpt-4.1-mini").unwrap().quality_for("coding")
        );
    }

    /// Recompute every prior from `benchmarks` with the rule in docs/CATALOG.md.
    #[test]
    fn priors_follow_the_documented_normalisation() {
        fn r2(x: f64) -> f64 {
            (x * 100.0 + 0.5).floor() / 100.0
        }
        type Pick = fn(&Benchmarks) -> Option<f64>;
        let mapped: [(&str, Pick); 7] = [
            ("coding", |b| b.swe_bench_verified),
            ("reasoning", |b| b.gpqa_diamond),
            ("math", |b| b.math),
            ("classification", |b| b.mmlu),
            ("extraction", |b| b.drop),
            ("translation", |b| b.mgsm),
            ("chat", |b| b.arena_delta),
        ];
        let chat: Vec<&ModelInfo> = builtin().models().iter().filter(|m| m.is_chat()).collect();
        let best =
            |pick: Pick| chat.iter().filter_map(|m| m.benchmarks.as_ref().and_then(pick)).fold(f64::MIN, f64::max);
        let sourced = |m: &ModelInfo| -> HashMap<&'static str, f64> {
            let mut out = HashMap::new();
            for (intent, pick) in mapped {
                if let Some(v) = m.benchmarks.as_ref().and_then(pick) {
                    let b = best(pick);
                    let p = if intent == "chat" { (2.0 / (1.0 + 10f64.powf((b - v) / 400.0))).min(1.0) } else { v / b };
                    out.insert(intent, r2(p));
                }
            }
            out
        };
        let src: Vec<HashMap<&str, f64>> = chat.iter().map(|m| sourced(m)).collect();
        let median = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        };
        let k: HashMap<&str, f64> = mapped
            .iter()
            .filter(|(i, _)| *i != "reasoning")
            .map(|(i, _)| {
                let ratios = src.iter().filter_map(|s| Some(s.get(i)? / s.get("reasoning")?)).collect::<Vec<f64>>();
                (*i, median(ratios))
            })
            .collect();
        for (m, s) in chat.iter().zip(&src) {
            let mut q: HashMap<&str, f64> = s.clone();
            let mut derived: Vec<&str> = Vec::new();
            for (intent, _) in mapped {
                if q.contains_key(intent) {
                    continue;
                }
                let v = match s.get("reasoning") {
                    Some(r) => r2((r * k[intent]).min(1.0)),
                    None => m.category.default_prior() as f64,
                };
                q.insert(intent, v);
                derived.push(intent);
            }
            q.insert("creative", q["chat"]);
            q.insert("summarization", r2((q["extraction"] + q["classification"]) / 2.0));
            derived.extend(["creative", "summarization"]);
            let table = m.quality.unwrap();
            for intent in INTENTS {
                let want = q[intent];
                let got = table.get(intent).unwrap() as f64;
                assert!((want - got).abs() < 0.005, "{}: {intent}: table {got}, rule {want}", m.id);
            }
            let mut want_derived: Vec<&str> = INTENTS.iter().copied().filter(|i| derived.contains(i)).collect();
            let mut got_derived: Vec<&str> = m.quality_derived.iter().map(String::as_str).collect();
            want_derived.sort();
            got_derived.sort();
            assert_eq!(got_derived, want_derived, "{}: quality_derived", m.id);
            assert_eq!(m.quality_sources.is_empty(), m.benchmarks.is_none(), "{}: sources vs benchmarks", m.id);
        }
    }

    #[test]
    fn minimal_table_parses() {
        let c = Catalog::from_toml(&one_model("m1", "aliases = [\"m1-2025\"]")).unwrap();
        assert_eq!(c.get("m1-2025").unwrap().status, ModelStatus::Active);
        assert_eq!(c.get("m1").unwrap().cost_micros(1_240, 892, 0, 0), 17_100);
    }

    #[test]
    fn unknown_field_is_rejected_naming_model_and_field() {
        let (model, field, message) = model_err(&one_model("m1", "prise = 3"));
        assert_eq!(model, "m1");
        assert!(field == "prise" || message.contains("prise"), "{field}: {message}");
        assert!(message.contains("unknown field"), "{message}");
        // Unknown intent inside the quality table.
        let text = one_model("m1", "").replace("chat = 0.5 }", "chat = 0.5, poetry = 0.5 }");
        let (model, field, message) = model_err(&text);
        assert_eq!(model, "m1");
        assert!(field.starts_with("quality"), "{field}");
        assert!(message.contains("poetry"), "{message}");
    }

    #[test]
    fn negative_price_is_rejected() {
        let text = one_model("m1", "").replace("input_per_mtok = 3_000_000", "input_per_mtok = -1");
        let (model, field, message) = model_err(&text);
        assert_eq!((model.as_str(), field.as_str()), ("m1", "input_per_mtok"));
        assert!(message.contains(">= 0"), "{message}");
        let text = one_model("m1", "cached_input_per_mtok = -5");
        assert_eq!(model_err(&text).1, "cached_input_per_mtok");
    }

    #[test]
    fn prior_out_of_range_is_rejected() {
        let text = one_model("m1", "").replace("coding = 0.5", "coding = 1.5");
        let (model, field, message) = model_err(&text);
        assert_eq!((model.as_str(), field.as_str()), ("m1", "quality.coding"));
        assert!(message.contains("outside"), "{message}");
        let text = one_model("m1", "").replace("math = 0.5", "math = -0.1");
        assert_eq!(model_err(&text).1, "quality.math");
        let text = one_model("m1", "").replace("math = 0.5", "math = nan");
        assert_eq!(model_err(&text).1, "quality.math");
    }

    #[test]
    fn chat_models_need_every_intent() {
        let text = one_model("m1", "").replace("translation = 0.5, ", "");
        let (model, field, message) = model_err(&text);
        assert_eq!(model, "m1");
        assert!(field.starts_with("quality"), "{field}");
        assert!(message.contains("translation"), "{message}");
        // And the whole table.
        let no_quality: String =
            one_model("m1", "").lines().filter(|l| !l.starts_with("quality")).collect::<Vec<_>>().join("\n");
        assert_eq!(model_err(&no_quality).1, "quality");
    }

    #[test]
    fn duplicate_ids_and_aliases_are_rejected() {
        let dup_id =
            format!("{}[[models]]{}", one_model("m1", ""), one_model("m1", "").split_once("[[models]]").unwrap().1);
        let (model, field, message) = model_err(&dup_id);
        assert_eq!((model.as_str(), field.as_str()), ("m1", "id"));
        assert!(message.contains("already"), "{message}");

        let alias_clash = format!(
            "{}[[models]]{}",
            one_model("m1", ""),
            one_model("m2", "aliases = [\"m1\"]").split_once("[[models]]").unwrap().1
        );
        let (model, field, message) = model_err(&alias_clash);
        assert_eq!((model.as_str(), field.as_str()), ("m2", "aliases"));
        assert!(message.contains("`m1`"), "{message}");

        let self_alias = one_model("m1", "aliases = [\"m1\"]");
        assert_eq!(model_err(&self_alias).1, "aliases");
    }

    #[test]
    fn other_invalid_tables() {
        // Missing version.
        let text = one_model("m1", "").replace("version = \"t\"\n", "");
        match Catalog::from_toml(&text) {
            Err(CatalogError::Table { message, .. }) => assert!(message.contains("version"), "{message}"),
            other => panic!("{other:?}"),
        }
        // Unknown top-level key.
        let text = format!("colour = 1\n{}", one_model("m1", ""));
        assert!(matches!(Catalog::from_toml(&text), Err(CatalogError::Table { .. })));
        // Syntax error.
        assert!(matches!(Catalog::from_toml("version = "), Err(CatalogError::Syntax(_))));
        // Kind and category must agree.
        let text = one_model("m1", "").replace("category = \"balanced\"", "category = \"embedding\"");
        assert_eq!(model_err(&text).1, "category");
        // Bad enum value names the field.
        let text = one_model("m1", "").replace("kind = \"chat\"", "kind = \"vision\"");
        assert_eq!(model_err(&text).1, "kind");
        // Output limit above the context window.
        let text = one_model("m1", "").replace("max_output_tokens = 100", "max_output_tokens = 5000");
        assert_eq!(model_err(&text).1, "max_output_tokens");
        // A model without an id is named by position.
        let text = one_model("m1", "").replace("id = \"m1\"\n", "");
        assert_eq!(model_err(&text).0, "models[0]");
        // quality_derived may only name intents.
        let text = one_model("m1", "quality_derived = [\"vibes\"]");
        assert_eq!(model_err(&text).1, "quality_derived");
    }

    #[test]
    fn overrides_patch_prices_and_capabilities() {
        let base = builtin();
        let o = ModelOverride {
            id: "gpt-4o-2024-08-06".into(), // by alias
            input_per_mtok: Some(2_750_000),
            context_window: Some(64_000),
            max_output_tokens: Some(8_000),
            tools: Some(false),
            quality: Some(HashMap::from([("coding".to_string(), 1.7)])),
            ..Default::default()
        };
        let c = base.with_overrides(&[o]);
        let m = c.get("gpt-4o").unwrap();
        assert!(m.overridden);
        assert_eq!(m.input_per_mtok, 2_750_000);
        assert_eq!(m.output_per_mtok, 10_000_000, "untouched fields stay");
        assert_eq!((m.context_window, m.max_output_tokens, m.tools), (64_000, 8_000, false));
        assert_eq!(m.quality_for("coding"), 1.0, "clamped");
        assert_eq!(m.cost_micros(1_000, 0, 0, 0), 2_750);
        assert_eq!(c.version, base.version);
        assert_eq!(c.len(), base.len());
        // The base is untouched.
        assert_eq!(base.get("gpt-4o").unwrap().input_per_mtok, 2_500_000);
        assert!(!c.get("gpt-4.1").unwrap().overridden);
    }

    #[test]
    fn overrides_add_models_for_custom_providers() {
        let text = r#"
id = "acme-large"
providerType = "openai-compatible"
contextWindow = 32000
maxOutputTokens = 4000
inputPerMtok = 1_000_000
outputPerMtok = 2_000_000
cachedInputPerMtok = 250_000
tools = true
aliases = ["acme/large", "gpt-4.1"]
quality = { coding = 0.6 }
"#;
        let o: ModelOverride = toml::from_str(text).unwrap();
        let c = Catalog::builtin().with_overrides(std::slice::from_ref(&o));
        assert_eq!(c.len(), 27);
        let m = c.get("acme/large").unwrap();
        assert_eq!(m.id, "acme-large");
        assert_eq!((m.kind, m.category), (ModelKind::Chat, Category::Balanced));
        assert_eq!(m.cost_micros(1_000, 1_000, 1_000, 0), 3_250);
        assert_eq!(m.quality_for("coding"), 0.6);
        assert_eq!(m.quality_for("math"), Category::Balanced.default_prior());
        assert!(!m.quality_derived.contains(&"coding".to_string()));
        assert_eq!(m.quality_derived.len(), 8);
        assert_eq!(c.get("gpt-4.1").unwrap().id, "gpt-4.1", "an alias naming another model is skipped");
        // The lenient result is itself a valid catalog.
        assert!(c.clone().validated().is_ok());
        // The strict variant rejects that alias.
        match Catalog::builtin().try_with_overrides(&[o]) {
            Err(CatalogError::Model { model, field, message }) => {
                assert_eq!((model.as_str(), field.as_str()), ("acme-large", "aliases"));
                assert!(message.contains("gpt-4.1"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strict_overrides_reject_bad_input() {
        let base = builtin();
        let missing_price = ModelOverride {
            id: "acme-small".into(),
            provider_type: Some("acme".into()),
            context_window: Some(8_000),
            input_per_mtok: Some(1),
            ..Default::default()
        };
        let e = base.try_with_overrides(std::slice::from_ref(&missing_price)).unwrap_err();
        assert_eq!(
            e,
            CatalogError::model("acme-small", "outputPerMtok", "required when the override adds a new model")
        );
        let ok = ModelOverride { output_per_mtok: Some(2), ..missing_price };
        assert_eq!(base.try_with_overrides(&[ok]).unwrap().get("acme-small").unwrap().provider_type, "acme");

        let bad_prior = ModelOverride {
            id: "gpt-4o".into(),
            quality: Some(HashMap::from([("math".to_string(), -0.2)])),
            ..Default::default()
        };
        let e = base.try_with_overrides(&[bad_prior]).unwrap_err();
        assert!(
            matches!(&e, CatalogError::Model { model, field, .. } if model == "gpt-4o" && field == "quality.math"),
            "{e}"
        );
        let bad_intent = ModelOverride {
            id: "gpt-4o".into(),
            quality: Some(HashMap::from([("vibes".to_string(), 0.2)])),
            ..Default::default()
        };
        assert!(base.try_with_overrides(&[bad_intent]).is_err());
        // Patching an existing model needs no price.
        let patch = ModelOverride { id: "o4-mini".into(), vision: Some(false), ..Default::default() };
        assert!(!base.try_with_overrides(&[patch]).unwrap().get("o4-mini").unwrap().vision);
    }

    #[test]
    fn model_override_is_strict_camel_case() {
        let e = toml::from_str::<ModelOverride>("id = \"x\"\ninput_per_mtok = 5").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let o: ModelOverride = toml::from_str("id = \"x\"\ninputPerMtok = 5\njsonMode = true").unwrap();
        assert_eq!((o.input_per_mtok, o.json_mode), (Some(5), Some(true)));
        assert!(toml::from_str::<ModelOverride>("id = \"x\"\ninputPerMtok = -5").is_err());
    }

    #[test]
    fn error_messages_read_well() {
        let e = CatalogError::model("gpt-4o", "input_per_mtok", "price must be >= 0 micro-dollars, got -1");
        assert_eq!(e.to_string(), "model `gpt-4o`: field `input_per_mtok`: price must be >= 0 micro-dollars, got -1");
    }
}
