//! The embeddings service behind `/v1/embeddings`: the providers that serve the requested model
//! (no routing: the model is named), tried through the one attempt executor with the same
//! retries, breakers, deadline and rate-limit handling as chat; the trace records every attempt
//! and the charge.

use std::time::{Duration, Instant};

use layerr_domain::trace::{Received, TraceCommand};

use super::attempts::{Limit, Won};
use super::error::ChatError;
use super::record::Recorder;
use super::{facts, finish_failed, ChatCtx, Explain, Run};
use crate::app::AppState;
use crate::llm::{ChatRequest, EmbeddingRequest, EmbeddingResponse};
use crate::providers;
use crate::routing::Target;

pub async fn embed(
    app: &AppState,
    ctx: ChatCtx,
    req: EmbeddingRequest,
    trace_id: String,
) -> Result<EmbeddingResponse, ChatError> {
    // Refused before any provider is called while the event store fails or its queue is full.
    app.appender.admit_waiting().await?;
    let started = Instant::now();
    let ws = &ctx.workspace;
    let mut recorder = Recorder::new(app, trace_id.clone(), &ctx.key_id, &ctx.request_id, ws);
    recorder.push(TraceCommand::Receive {
        received: Received {
            workspace: ws.slug.clone(),
            key_id: ctx.key_id.clone(),
            endpoint: ctx.endpoint.to_string(),
            requested_model: req.model.clone(),
            stream: false,
            intent: layerr_domain::trace::Intent::Embedding,
            intent_confidence: 1.0,
            strategy: "direct".into(),
            fallback_mode: layerr_domain::workspace::types::FallbackMode::Strict,
            message_count: req.inputs.len() as u32,
            estimated_prompt_tokens: req.inputs.iter().map(|s| s.len() as u64).sum::<u64>().div_ceil(4),
            max_tokens: None,
            needs_tools: false,
            needs_vision: false,
            needs_json: false,
            max_cost_micros: None,
            max_latency_ms: None,
            content: None,
            replay_of: None,
        },
        at: Recorder::now(),
    });
    let serving: Vec<_> = app
        .hot
        .providers(Some(&ws.slug))
        .into_iter()
        .filter(|pv| {
            pv.settings.status == layerr_domain::provider::ProviderStatus::Active
                && ws.restrictions.permits_provider(&pv.id)
                && ws.restrictions.permits_model(&req.model)
                && pv.settings.models.iter().any(|m| m == &req.model)
        })
        .collect();
    // A model served only by providers without an embeddings API is the client's mistake.
    let (serving, no_api): (Vec<_>, Vec<_>) =
        serving.into_iter().partition(|pv| pv.resolved.kind().is_some_and(|k| k.has_embeddings()));
    if serving.is_empty() {
        let err = if no_api.is_empty() {
            ChatError::ModelNotFound(format!(
                "The model '{}' is not served by any provider available to this workspace",
                req.model
            ))
        } else {
            ChatError::UpstreamRejected(format!(
                "The model '{}' is served only by providers without an embeddings API ({})",
                req.model,
                no_api.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
            ))
        };
        finish_failed(recorder, &err, started).await;
        return Err(err);
    }
    let chain: Vec<Target> = serving
        .into_iter()
        .map(|p| {
            let f = facts::facts(&p, &req.model, "embedding");
            Target { provider: p, model: req.model.clone(), facts: f, estimated_cost_micros: 0 }
        })
        .collect();
    let runtime = &ws.runtime;
    let explain = Explain { trace_id, strategy: "direct".into(), ..Explain::default() };
    let total = Duration::from_millis(runtime.timeouts.total_ms);
    let mut run = Run::new(app, ChatRequest::default(), chain, recorder, explain, started, total, runtime);
    let won = run.execute(Limit::Whole, |up, t, _| Box::pin(providers::embed(up, &req, &t.model))).await;
    let Won { target: t, value: out, t0 } = match won {
        Ok(w) => w,
        Err(e) => {
            finish_failed(run.recorder, &e, started).await;
            return Err(e);
        }
    };
    run.record_attempt(&t, t0.elapsed(), None, None);
    let mut usage = out.usage;
    usage.completion_tokens = 0;
    run.charge(&t, &usage);
    run.recorder.push(TraceCommand::Complete {
        provider: t.provider.id.clone(),
        model: t.model.clone(),
        latency_ms: started.elapsed().as_millis() as u64,
        finish_reason: None,
        output: None,
        at: Recorder::now(),
    });
    run.recorder.finish().await;
    Ok(out)
}
