//! Per-provider overrides applied to the catalog: [`Catalog::with_overrides`] (lenient, what the
//! gateway resolves once per provider change) and [`Catalog::try_with_overrides`] (strict, what
//! the API checks a provider's `modelOverrides` with). Rules in docs/CATALOG.md.

use std::collections::HashMap;

use layerr_domain::money::MAX_PRICE_PER_MTOK;

use super::{
    Catalog, CatalogError, Category, ModelInfo, ModelKind, ModelOverride, ModelStatus, QualityPriors, INTENTS,
};

/// Defaults for a model added by an override that does not say (documented in docs/CATALOG.md).
const NEW_MODEL_CONTEXT: u64 = 8_192;
const NEW_MODEL_MAX_OUTPUT: u64 = 4_096;
const NEW_MODEL_TTFT_MS: u64 = 1_000;
const NEW_MODEL_TOKENS_PER_SEC: u64 = 50;

impl Catalog {
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
                    // Priors are f32 in the table: judged as they will be used.
                    let v = *v as f32;
                    if !INTENTS.contains(&intent.as_str()) {
                        return Err(CatalogError::model(id, format!("quality.{intent}"), "unknown intent"));
                    }
                    if !(0.0..=1.0).contains(&v) {
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
            let v = *v as f32;
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
