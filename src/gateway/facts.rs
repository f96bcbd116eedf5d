//! Model facts for routing and charging: the catalog entry (with the provider's overrides), or
//! neutral assumptions for a model the catalog does not know.

use crate::catalog::{Catalog, ModelInfo, ModelOverride, ModelStatus};
use crate::llm::Usage;
use crate::routing::ModelFacts;
use crate::state::ProviderView;

/// The catalog entry for a model as this provider serves it.
pub fn model_info(p: &ProviderView, model: &str) -> Option<ModelInfo> {
    let base = Catalog::builtin();
    if p.settings.model_overrides.is_empty() {
        return base.get(model).cloned();
    }
    let overrides: Vec<ModelOverride> =
        p.settings.model_overrides.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect();
    base.with_overrides(&overrides).get(model).cloned()
}

/// Runs `f` on the model's catalog entry without copying it when the provider overrides nothing
/// (the hot path).
fn with_info<R>(p: &ProviderView, model: &str, f: impl FnOnce(Option<&ModelInfo>) -> R) -> R {
    if p.settings.model_overrides.is_empty() {
        f(Catalog::builtin().get(model))
    } else {
        f(model_info(p, model).as_ref())
    }
}

pub fn facts(p: &ProviderView, model: &str, intent: &str) -> ModelFacts {
    with_info(p, model, |m| facts_of(m, intent))
}

fn facts_of(m: Option<&ModelInfo>, intent: &str) -> ModelFacts {
    match m {
        Some(m) => ModelFacts {
            catalogued: true,
            unusable: if !m.is_chat() {
                Some("not a chat model")
            } else if m.status == ModelStatus::Retired {
                Some("model retired")
            } else {
                None
            },
            quality: f64::from(m.quality_for(intent)),
            input_per_mtok: m.input_per_mtok as i64,
            output_per_mtok: m.output_per_mtok as i64,
            context_window: m.context_window,
            tools: m.tools,
            vision: m.vision,
            json: m.json_mode,
            streaming: m.streaming,
            ttft_ms: m.ttft_ms as f64,
            tokens_per_sec: m.tokens_per_sec as f64,
        },
        // Unknown model: allow every capability (the upstream will say no), price it at zero and
        // give it a middling quality, so known models win on quality unless it is all there is.
        None => ModelFacts {
            catalogued: false,
            unusable: None,
            quality: 0.5,
            input_per_mtok: 0,
            output_per_mtok: 0,
            context_window: 0,
            tools: true,
            vision: true,
            json: true,
            streaming: true,
            ttft_ms: 500.0,
            tokens_per_sec: 50.0,
        },
    }
}

/// The most a call can cost: every prompt token at the dearer of the input and cache-write
/// prices, every output token at the output price, rounded up. Unpriced models cost nothing.
pub fn worst_case_micros(p: &ProviderView, model: &str, prompt_tokens: u64, output_tokens: u64) -> i64 {
    with_info(p, model, |m| match m {
        Some(m) => {
            let input = m.input_per_mtok.max(m.effective_cache_write_per_mtok()) as u128;
            let numerator = prompt_tokens as u128 * input + output_tokens as u128 * m.output_per_mtok as u128;
            i64::try_from(numerator.div_ceil(1_000_000)).unwrap_or(i64::MAX)
        }
        None => 0,
    })
}

/// The exact charge for a usage on a model, and the price-table version it used.
pub fn charge_micros(p: &ProviderView, model: &str, usage: &Usage) -> (i64, String) {
    let version = &Catalog::builtin().version;
    with_info(p, model, |m| match m {
        Some(m) => {
            let uncached = usage.prompt_tokens.saturating_sub(usage.cached_tokens + usage.cache_write_tokens);
            let cost = m.cost_micros(uncached, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens);
            // An overridden price is not the table's: say so in the recorded version.
            (cost, if m.overridden { format!("{version}+override") } else { version.clone() })
        }
        None => (0, format!("{version}+unpriced")),
    })
}
