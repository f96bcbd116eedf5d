//! What every inbound LLM API (chat completions, legacy completions, Responses, Messages) does
//! alike: reads the `layerr` extension from the body, completed by `x-layerr-*` headers for
//! clients that cannot add body fields (Claude Code, Codex, Cursor), and reports the parameters
//! the answering upstream did not receive in `x-layerr-dropped-params`.

use axum::http::{HeaderMap, HeaderValue};
use serde_json::Value;

use layerr_domain::workspace::types::FallbackMode;

use super::error::ApiError;
use crate::api::openai::LayerrOptions;
use crate::gateway::{ChatError, ChatOptions, Reply};
use crate::providers::passthrough::header_value;

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

/// What the upstream that answered did not receive of the request, as the service worked it out
/// for that upstream's attempt (the inbound format's drops included); nothing when none
/// answered.
pub(super) fn dropped_params(result: &Result<Reply, ChatError>) -> Vec<String> {
    match result {
        Ok(Reply::Full(_, outcome)) => outcome.dropped_params.clone(),
        Ok(Reply::Stream(s)) => s.info.dropped_params.clone(),
        Err(_) => Vec::new(),
    }
}

/// `x-layerr-dropped-params: a, b`, when anything was dropped.
pub(super) fn dropped_header(dropped: &[String], h: &mut HeaderMap) {
    if let Some(v) = header_value(dropped).and_then(|v| HeaderValue::from_str(&v).ok()) {
        h.insert("x-layerr-dropped-params", v);
    }
}
