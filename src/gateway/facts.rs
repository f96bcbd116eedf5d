//! Model facts for routing and charging: the catalog entry (with the provider's overrides), or
//! neutral assumptions for a model the catalog does not know.

use std::time::Duration;

use crate::catalog::{Catalog, ModelInfo, ModelStatus};
use crate::llm::Usage;
use crate::providers::Upstream;
use crate::routing::ModelFacts;
use crate::state::ProviderView;

/// The catalog entry for a model as this provider serves it (its overrides were applied once,
/// when the state took in the provider's settings).
pub fn model_info(p: &ProviderView, model: &str) -> Option<ModelInfo> {
    info(p, model).cloned()
}

fn info<'a>(p: &'a ProviderView, model: &str) -> Option<&'a ModelInfo> {
    p.resolved.model(model)
}

/// The model reasons (the catalog's `reasoning`, the provider's overrides applied); a model the
/// catalog does not know is taken not to.
pub fn reasons(p: &ProviderView, model: &str) -> bool {
    info(p, model).is_some_and(|m| m.reasoning)
}

pub fn facts(p: &ProviderView, model: &str, intent: &str) -> ModelFacts {
    facts_of(info(p, model), intent)
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
    match info(p, model) {
        Some(m) => {
            let input = m.input_per_mtok.max(m.effective_cache_write_per_mtok()) as u128;
            let numerator = prompt_tokens as u128 * input + output_tokens as u128 * m.output_per_mtok as u128;
            i64::try_from(numerator.div_ceil(1_000_000)).unwrap_or(i64::MAX)
        }
        None => 0,
    }
}

/// The exact charge for a usage on a model, and the price-table version it used.
pub fn charge_micros(p: &ProviderView, model: &str, usage: &Usage) -> (i64, String) {
    let version = &Catalog::builtin().version;
    match info(p, model) {
        Some(m) => {
            let uncached = usage.prompt_tokens.saturating_sub(usage.cached_tokens + usage.cache_write_tokens);
            let cost = m.cost_micros(uncached, usage.completion_tokens, usage.cached_tokens, usage.cache_write_tokens);
            // An overridden price is not the table's: say so in the recorded version.
            (cost, if m.overridden { format!("{version}+override") } else { version.clone() })
        }
        None => (0, format!("{version}+unpriced")),
    }
}

/// The connection to call the provider on, with its credential; `None` when its type is one
/// this build does not know.
pub fn upstream<'a>(
    client: &'a reqwest::Client,
    p: &'a ProviderView,
    api_key: Option<&'a str>,
    timeout: Duration,
) -> Option<Upstream<'a>> {
    Some(Upstream::new(client, p.resolved.kind()?, &p.settings.base_url, api_key, timeout))
}

/// The provider's credential, from the secrets held in memory.
pub fn api_key(secrets: &crate::secrets::SecretBox, p: &ProviderView) -> Option<secrecy::SecretString> {
    p.settings.credential.as_ref().and_then(|c| secrets.resolve(c))
}
