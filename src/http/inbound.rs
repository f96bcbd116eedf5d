//! What every inbound LLM API (chat completions, legacy completions, Responses, Messages) reads
//! alike: the `layerr` extension from the body, completed by `x-layerr-*` headers for clients that
//! cannot add body fields (Claude Code, Codex, Cursor).

use axum::http::HeaderMap;
use serde_json::Value;

use layerr_domain::workspace::types::FallbackMode;

use super::error::ApiError;
use crate::api::openai::LayerrOptions;
use crate::gateway::ChatOptions;

/// The routing options of one request: the body's `layerr` field wins over a header.
/// `x-layerr-strategy` names a strategy, `x-layerr-fallback` a fallback mode (`strict`,
/// `relaxed`, `none`), `x-layerr-explain` (`1`, `true`, `yes`) asks for the explain headers.
pub(super) fn options(body: Option<&LayerrOptions>, h: &HeaderMap) -> Result<ChatOptions, ApiError> {
    let mut opts = body.map(ChatOptions::from).unwrap_or_default();
    let header = |name: &str| -> Result<Option<String>, ApiError> {
        h.get(name)
            .map(|v| v.to_str().map(str::to_string).map_err(|_| ApiError::field(name, format!("{name} is not text"))))
            .transpose()
    };
    if let Some(s) = header("x-layerr-strategy")? {
        opts.strategy.get_or_insert(s);
    }
    if let Some(f) = header("x-layerr-fallback")? {
        let mode: FallbackMode = serde_json::from_value(Value::String(f.clone()))
            .map_err(|_| ApiError::field("x-layerr-fallback", format!("unknown fallback mode '{f}'")))?;
        opts.fallback.get_or_insert(mode);
    }
    if let Some(e) = header("x-layerr-explain")? {
        opts.explain |= matches!(e.to_ascii_lowercase().as_str(), "1" | "true" | "yes");
    }
    Ok(opts)
}
