//! The chat service behind `/v1/chat/completions` (and later `/api/chat`): classify, route,
//! execute down the fallback chain with retries and timeouts, answer, and record the trace.

mod attempts;
pub mod embed;
pub mod facts;
pub mod record;
pub mod replay;
mod stream;

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use rand::Rng;

use layerr_domain::trace::{Attempt, Charge, Decision, Received, Scores, TraceCommand};

use crate::http::error::ApiError;
use crate::http::AppState;
use crate::llm::{ChatRequest, ChatResponse, Usage};
use crate::providers::{self, ErrorKind, ProviderError, ProviderKind, Upstream};
use crate::routing::{self, intent, strategy, RouteInput, Target};
use crate::state::WorkspaceView;
use layerr_domain::workspace::types::FallbackMode;
use record::Recorder;
pub use stream::SseBody;

pub struct ChatCtx {
    pub key_id: String,
    pub workspace: WorkspaceView,
    pub request_id: String,
    pub endpoint: &'static str,
}

/// Per-request choices: the OpenAI route's `layerr` extension, `/api/chat` preferences, replay.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    pub strategy: Option<String>,
    pub fallback: Option<FallbackMode>,
    pub explain: bool,
    /// A hard ceiling on a candidate's estimated cost, in micro-dollars.
    pub max_cost_micros: Option<i64>,
    /// The request's time budget: candidates expected to be slower are excluded, and the
    /// request's deadline is the tighter of this and the workspace's total timeout.
    pub max_latency_ms: Option<u64>,
    /// The trace this request replays (a live replay).
    pub replay_of: Option<String>,
}

impl From<&crate::api::openai::LayerrOptions> for ChatOptions {
    fn from(o: &crate::api::openai::LayerrOptions) -> Self {
        ChatOptions {
            strategy: o.strategy.clone(),
            fallback: o.fallback,
            explain: o.explain.unwrap_or(false),
            ..ChatOptions::default()
        }
    }
}

/// What the explain headers say.
#[derive(Debug, Clone, Default)]
pub struct Explain {
    pub trace_id: String,
    pub enabled: bool,
    pub intent: String,
    pub confidence: f64,
    pub strategy: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub attempts: Vec<AttemptNote>,
    pub scores: Option<Scores>,
    pub summary: String,
}

/// One attempt as the explain headers and `/api/chat` report it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptNote {
    pub provider: String,
    pub model: String,
    /// `None`: it answered.
    pub failure: Option<(ErrorKind, Option<u16>)>,
}

impl AttemptNote {
    /// `ok`, or the error kind with the upstream status, e.g. `server(503)`.
    pub fn outcome(&self) -> String {
        match self.failure {
            None => "ok".to_string(),
            Some((kind, Some(status))) => format!("{}({status})", kind.as_str()),
            Some((kind, None)) => kind.as_str().to_string(),
        }
    }
}

impl std::fmt::Display for AttemptNote {
    /// `provider:model:outcome` (the `x-layerr-fallback-attempts` form).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.provider, self.model, self.outcome())
    }
}

fn ascii(s: &str) -> HeaderValue {
    let clean: String =
        s.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).take(900).collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

impl Explain {
    pub fn apply(&self, h: &mut HeaderMap) {
        h.insert("x-layerr-trace-id", ascii(&self.trace_id));
        if !self.enabled {
            return;
        }
        h.insert("x-layerr-intent", ascii(&self.intent));
        h.insert("x-layerr-intent-confidence", ascii(&format!("{:.2}", self.confidence)));
        h.insert("x-layerr-strategy", ascii(&self.strategy));
        if let Some(p) = &self.provider {
            h.insert("x-layerr-provider", ascii(p));
        }
        if let Some(m) = &self.model {
            h.insert("x-layerr-model", ascii(m));
        }
        h.insert("x-layerr-attempts", ascii(&self.attempts.len().to_string()));
        if !self.attempts.is_empty() {
            let notes: Vec<String> = self.attempts.iter().map(ToString::to_string).collect();
            h.insert("x-layerr-fallback-attempts", ascii(&notes.join("; ")));
        }
        if let Some(s) = &self.scores {
            h.insert(
                "x-layerr-scores",
                ascii(&format!(
                    "quality={:.2}; speed={:.2}; cost={:.2}; total={:.2}",
                    s.quality, s.speed, s.cost, s.total
                )),
            );
        }
        h.insert("x-layerr-summary", ascii(&self.summary));
    }
}

pub enum Reply {
    Full(ChatResponse),
    Stream(SseBody),
}

/// Everything the attempt loop needs, owned so a stream can carry it past the handler.
pub(crate) struct Run {
    pub app: AppState,
    pub req: ChatRequest,
    pub chain: Vec<Target>,
    pub recorder: Recorder,
    pub explain: Explain,
    pub started: Instant,
    pub deadline: Instant,
    pub first_token: Duration,
    /// The workspace's cap on one attempt (`timeouts.attemptMs`), if it set one.
    pub attempt_cap: Option<Duration>,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub attempt_no: u32,
    /// The workspace captures `full` content: the answer is recorded too.
    pub capture: bool,
    pub failures: Vec<(String, String, ProviderError)>,
    /// Set by the streaming path once an upstream has started answering.
    pub(crate) live: Option<Box<stream::Live>>,
}

/// The strategy a request of `ws` runs under (its own choice or the workspace default), as `hot`
/// knows it.
pub fn strategy_in(
    hot: &crate::state::HotState,
    ws: &WorkspaceView,
    requested: Option<&str>,
) -> Result<strategy::Strategy, ApiError> {
    let id = requested.unwrap_or(ws.default_strategy.as_str());
    match strategy::builtin(id) {
        Some(mut s) => {
            s.calibration = hot.calibration(id);
            Ok(s)
        }
        None => hot
            .strategy(id, &ws.slug)
            .ok_or_else(|| ApiError::InvalidStrategy(format!("strategy '{id}' does not exist"))),
    }
}

pub async fn chat(
    app: &AppState,
    ctx: ChatCtx,
    mut req: ChatRequest,
    opts: &ChatOptions,
    content: Option<serde_json::Value>,
) -> (Result<Reply, ApiError>, Explain) {
    let started = Instant::now();
    let trace_id = uuid::Uuid::now_v7().to_string();
    let mut explain = Explain { trace_id: trace_id.clone(), enabled: opts.explain, ..Default::default() };
    let system = req.system_text();
    let class = intent::classify_messages(system.as_deref(), &req.last_user_text());
    explain.intent = class.intent.as_str().to_string();
    explain.confidence = f64::from(class.confidence);
    // Refused before any provider is called while the event store fails or its queue is full.
    if let Err(shed) = app.appender.admit() {
        return (Err(shed.into()), explain);
    }
    let strategy = match strategy_in(&app.hot, &ctx.workspace, opts.strategy.as_deref()) {
        Ok(s) => s,
        Err(e) => return (Err(e), explain),
    };
    explain.strategy = strategy.id.clone();
    let runtime = &ctx.workspace.runtime;
    let fallback = opts.fallback.unwrap_or(runtime.fallback);
    let needs = routing::Needs::of(&req);
    let mut recorder = Recorder::new(app, trace_id, &ctx.key_id, &ctx.request_id, &ctx.workspace);
    let capture = matches!(runtime.content_capture, layerr_domain::workspace::types::ContentCapture::Full);
    recorder.push(TraceCommand::Receive {
        received: Received {
            workspace: ctx.workspace.slug.clone(),
            key_id: ctx.key_id.clone(),
            endpoint: ctx.endpoint.to_string(),
            requested_model: req.model.clone(),
            stream: req.stream,
            intent: explain.intent.clone(),
            intent_confidence: explain.confidence,
            strategy: strategy.id.clone(),
            fallback_mode: fallback,
            message_count: req.messages.len() as u32,
            estimated_prompt_tokens: needs.prompt_tokens,
            max_tokens: req.max_tokens,
            needs_tools: needs.tools,
            needs_vision: needs.vision,
            needs_json: needs.json,
            max_cost_micros: opts.max_cost_micros,
            max_latency_ms: opts.max_latency_ms,
            content: if capture { content } else { None },
            replay_of: opts.replay_of.clone(),
        },
        at: Recorder::now(),
    });

    let providers = app.hot.providers(Some(&ctx.workspace.slug));
    let requested_model = (req.model != routing::AUTO_MODEL).then_some(req.model.as_str());
    let route = routing::decide(&RouteInput {
        needs,
        intent: class.intent.as_str(),
        strategy: &strategy,
        fallback,
        restrictions: &ctx.workspace.restrictions,
        providers: &providers,
        health: &app.health,
        facts: &facts::facts,
        requested_model,
        max_cost_micros: opts.max_cost_micros,
        max_latency_ms: opts.max_latency_ms,
        recorded: None,
    });
    explain.summary = route.summary.clone();
    explain.scores = route.chain.first().and_then(|t| {
        route
            .candidates
            .iter()
            .find(|c| c.provider == t.provider.id && c.model == t.model)
            .and_then(|c| c.scores.clone())
    });
    recorder.push(TraceCommand::DecideRoute {
        decision: Decision {
            weights: strategy.weights.clone(),
            candidates: route.candidates.clone(),
            chain: route.chain.iter().map(|t| (t.provider.id.clone(), t.model.clone())).collect(),
            summary: route.summary.clone(),
        },
        at: Recorder::now(),
    });
    if route.chain.is_empty() {
        let err = if route.candidates.is_empty() {
            match requested_model {
                Some(m) => ApiError::ModelNotFound(format!(
                    "The model '{m}' is not served by any provider available to workspace '{}'",
                    ctx.workspace.slug
                )),
                None => ApiError::ProviderUnavailable {
                    message: "No provider is configured for this workspace".into(),
                    details: serde_json::json!({ "attempts": 0, "providers": [] }),
                },
            }
        } else {
            let reasons: Vec<serde_json::Value> = route
                .candidates
                .iter()
                .map(|c| serde_json::json!({"provider": c.provider, "model": c.model, "excluded": c.excluded.as_ref().map(ToString::to_string)}))
                .collect();
            ApiError::ProviderUnavailable {
                message: "No candidate provider can serve this request".into(),
                details: serde_json::json!({ "attempts": 0, "providers": [], "candidates": reasons }),
            }
        };
        finish_failed(recorder, &err, started).await;
        return (Err(err), explain);
    }

    // Admission: hold the worst case of the chain against the monthly budget before any call.
    let budget = ctx.workspace.budget;
    if budget.monthly_micros.is_some() {
        // The hold covers this many output tokens, so the upstream is told not to exceed them.
        let max_tokens = *req.max_tokens.get_or_insert(budget.reserve_output_tokens);
        let output = u64::from(max_tokens) * u64::from(req.n.max(1));
        let prompt = req.prompt_token_ceiling();
        let worst = route
            .chain
            .iter()
            .map(|t| facts::worst_case_micros(&t.provider, &t.model, prompt, output))
            .max()
            .unwrap_or(0);
        match app.ledger.reserve(&ctx.workspace.slug, &budget, worst, chrono::Utc::now()) {
            Ok(()) => recorder.reserved(worst),
            Err(r) => {
                let usd = |m: i64| m as f64 / 1_000_000.0;
                let err = ApiError::BudgetExceeded(format!(
                    "Workspace '{}' has exceeded its budget: ${:.6} spent and ${:.6} held by requests in flight of ${:.2} this month; this request may cost up to ${:.6}",
                    ctx.workspace.slug,
                    usd(r.spent),
                    usd(r.reserved),
                    usd(r.budget),
                    usd(r.wanted)
                ));
                finish_failed(recorder, &err, started).await;
                return (Err(err), explain);
            }
        }
    }

    let total_ms = opts.max_latency_ms.map_or(runtime.timeouts.total_ms, |m| m.min(runtime.timeouts.total_ms));
    let total = Duration::from_millis(total_ms);
    let mut run = Run::new(app, req, route.chain, recorder, explain, started, total, runtime);
    run.capture = capture;
    if run.req.stream {
        let result = stream::start(&mut run).await;
        match result {
            Ok(()) => {
                let explain = run.explain.clone();
                (Ok(Reply::Stream(SseBody::new(run))), explain)
            }
            Err(e) => {
                let explain = run.explain.clone();
                finish_failed(run.recorder, &e, started).await;
                (Err(e), explain)
            }
        }
    } else {
        // The attempts run as their own task: a client that hangs up does not cancel a call
        // the provider is already answering (and billing), so its usage is still charged.
        let explain = run.explain.clone();
        let task = app.tracker.spawn(async move {
            let result = complete(&mut run).await;
            let explain = run.explain.clone();
            match result {
                Ok(resp) => {
                    let latency = started.elapsed().as_millis() as u64;
                    let finish = resp.choices.first().and_then(|c| c.finish_reason).map(|f| f.as_str().to_string());
                    let provider = run.explain.provider.clone().unwrap_or_default();
                    let model = run.explain.model.clone().unwrap_or_default();
                    let output = run
                        .capture
                        .then(|| resp.choices.iter().map(|c| c.message.content_text()).collect::<Vec<_>>().join("\n"));
                    run.recorder.push(TraceCommand::Complete {
                        provider,
                        model,
                        latency_ms: latency,
                        finish_reason: finish,
                        output,
                        at: Recorder::now(),
                    });
                    run.recorder.finish().await;
                    (Ok(Reply::Full(resp)), explain)
                }
                Err(e) => {
                    finish_failed(run.recorder, &e, started).await;
                    (Err(e), explain)
                }
            }
        });
        task.await.unwrap_or_else(|e| (Err(ApiError::internal(format!("the request task failed: {e}"))), explain))
    }
}

pub(crate) async fn finish_failed(mut recorder: Recorder, err: &ApiError, started: Instant) {
    let (_, code, _) = err.parts();
    recorder.push(TraceCommand::Fail {
        code: code.to_string(),
        message: err.to_string(),
        latency_ms: started.elapsed().as_millis() as u64,
        at: Recorder::now(),
    });
    recorder.finish().await;
}

pub(crate) fn upstream<'a>(
    app: &'a AppState,
    t: &'a Target,
    key: Option<&'a str>,
    timeout: Duration,
) -> Option<Upstream<'a>> {
    let kind = ProviderKind::parse(&t.provider.settings.kind)?;
    Some(Upstream { client: &app.http, kind, base_url: &t.provider.settings.base_url, api_key: key, timeout })
}

pub(crate) fn api_key(app: &AppState, t: &Target) -> Option<secrecy::SecretString> {
    t.provider.settings.credential.as_ref().and_then(|c| app.secrets.get(&c.secret_id))
}

impl Run {
    /// A run of `chain` under the workspace's runtime profile, within `total` of `started`.
    #[allow(clippy::too_many_arguments, reason = "one constructor for every kind of call")]
    pub(crate) fn new(
        app: &AppState,
        req: ChatRequest,
        chain: Vec<Target>,
        recorder: Recorder,
        explain: Explain,
        started: Instant,
        total: Duration,
        runtime: &layerr_domain::workspace::types::RuntimeProfile,
    ) -> Run {
        Run {
            app: app.clone(),
            req,
            chain,
            recorder,
            explain,
            started,
            deadline: started + total,
            first_token: Duration::from_millis(runtime.timeouts.first_token_ms),
            attempt_cap: runtime.timeouts.attempt_ms.map(Duration::from_millis),
            max_attempts: runtime.retries.max_attempts.max(1),
            backoff_base: Duration::from_millis(runtime.retries.backoff_base_ms),
            backoff_max: Duration::from_millis(runtime.retries.backoff_max_ms),
            attempt_no: 0,
            capture: false,
            failures: Vec::new(),
            live: None,
        }
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// When the provider at `index` of the chain must have answered: its tries together get an
    /// equal share of the time left among it and the providers after it (the last one gets all
    /// of it), so a provider that hangs or crawls cannot use up the deadline before the fallback
    /// is tried.
    pub fn provider_deadline(&self, index: usize) -> Instant {
        let left = self.chain.len().saturating_sub(index).max(1) as u32;
        Instant::now() + self.remaining() / left
    }

    /// The time one attempt may take: what is left of its provider's share, capped by the
    /// workspace's `timeouts.attemptMs`.
    pub fn attempt_timeout(&self, provider_deadline: Instant) -> Duration {
        let share = provider_deadline.min(self.deadline).saturating_duration_since(Instant::now());
        self.attempt_cap.map_or(share, |cap| share.min(cap))
    }

    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self.backoff_base.saturating_mul(1u32 << retry.min(10));
        let capped = exp.min(self.backoff_max);
        // Full jitter: anywhere in [capped/2, capped].
        let half = capped.as_millis() as u64 / 2;
        Duration::from_millis(half + rand::thread_rng().gen_range(0..=half))
    }

    pub fn record_attempt(
        &mut self,
        t: &Target,
        latency: Duration,
        ttft: Option<Duration>,
        err: Option<&ProviderError>,
    ) {
        self.attempt_no += 1;
        self.explain.attempts.push(AttemptNote {
            provider: t.provider.id.clone(),
            model: t.model.clone(),
            failure: err.map(|e| (e.kind, e.status)),
        });
        self.recorder.push(TraceCommand::RecordAttempt {
            attempt: Attempt {
                attempt: self.attempt_no,
                provider: t.provider.id.clone(),
                model: t.model.clone(),
                latency_ms: latency.as_millis() as u64,
                ttft_ms: ttft.map(|d| d.as_millis() as u64),
                error_kind: err.map(|e| e.kind.as_str().to_string()),
                status: err.and_then(|e| e.status),
                message: err.map(|e| e.message.chars().take(300).collect()),
            },
            succeeded: err.is_none(),
            at: Recorder::now(),
        });
        match err {
            None => self.app.health.record_success(&t.provider.id, latency, ttft),
            Some(e) if attempts::counts_against_health(e.kind) => self.app.health.record_failure(&t.provider.id),
            // A rate limit, the client's own mistake or its departure says nothing about health.
            Some(_) => {}
        }
        if let Some(e) = err {
            self.failures.push((t.provider.id.clone(), t.model.clone(), e.clone()));
        }
    }

    pub fn charge(&mut self, t: &Target, usage: &Usage) {
        let (cost, version) = facts::charge_micros(&t.provider, &t.model, usage);
        self.recorder.push(TraceCommand::ChargeCost {
            charge: Charge {
                provider: t.provider.id.clone(),
                model: t.model.clone(),
                tokens_in: usage.prompt_tokens,
                tokens_out: usage.completion_tokens,
                cached_tokens: usage.cached_tokens,
                cache_write_tokens: usage.cache_write_tokens,
                reasoning_tokens: usage.reasoning_tokens,
                cost_micros: cost,
                price_version: version,
                estimated: usage.estimated,
            },
            at: Recorder::now(),
        });
    }

    /// The error for a request whose whole chain failed.
    pub fn exhausted(&self) -> ApiError {
        if let Some((_, _, e)) = self.failures.iter().find(|(_, _, e)| e.kind == ErrorKind::BadRequest) {
            return ApiError::UpstreamRejected(e.message.clone());
        }
        // Every target said it is busy: the client is told to come back, when the soonest will
        // take it, instead of a 502.
        if !self.failures.is_empty() && self.failures.iter().all(|(_, _, e)| e.kind == ErrorKind::RateLimited) {
            let retry_after = self.failures.iter().filter_map(|(_, _, e)| e.retry_after).min();
            return ApiError::UpstreamRateLimited {
                message: format!(
                    "Every provider in the fallback chain is rate limited ({} attempt(s)); retry later",
                    self.failures.len()
                ),
                retry_after,
            };
        }
        let timed_out = self.remaining().is_zero()
            || (!self.failures.is_empty() && self.failures.iter().all(|(_, _, e)| e.kind == ErrorKind::Timeout));
        if timed_out {
            return ApiError::Timeout(format!(
                "The request exceeded its timeout profile ({} attempt(s))",
                self.failures.len()
            ));
        }
        let mut providers: Vec<String> = Vec::new();
        for (p, _, _) in &self.failures {
            if !providers.contains(p) {
                providers.push(p.clone());
            }
        }
        let errors: Vec<serde_json::Value> = self
            .failures
            .iter()
            .map(
                |(p, m, e)| serde_json::json!({"provider": p, "model": m, "kind": e.kind.as_str(), "status": e.status}),
            )
            .collect();
        ApiError::ProviderUnavailable {
            message: "All providers in fallback chain exhausted".into(),
            details: serde_json::json!({ "attempts": self.failures.len(), "providers": providers, "errors": errors }),
        }
    }
}

async fn complete(run: &mut Run) -> Result<ChatResponse, ApiError> {
    // The request stays on the run for the trace; the executor's calls borrow it from here.
    let req = std::mem::take(&mut run.req);
    let won = run.execute(attempts::Limit::Whole, |up, t, _| Box::pin(providers::chat(up, &req, &t.model))).await;
    run.req = req;
    let attempts::Won { target: t, value: mut resp, t0 } = won?;
    run.record_attempt(&t, t0.elapsed(), None, None);
    let usage = resp.usage.unwrap_or_else(|| estimate_usage(&run.req, &resp));
    resp.usage = Some(usage);
    run.charge(&t, &usage);
    run.explain.provider = Some(t.provider.id.clone());
    run.explain.model = Some(t.model.clone());
    resp.id = format!("chatcmpl-{}", run.explain.trace_id.replace('-', ""));
    if resp.model.is_empty() {
        resp.model = t.model.clone();
    }
    if resp.created == 0 {
        resp.created = chrono::Utc::now().timestamp();
    }
    Ok(resp)
}

fn estimate_usage(req: &ChatRequest, resp: &ChatResponse) -> Usage {
    let out: usize = resp
        .choices
        .iter()
        .map(|c| {
            c.message.content_text().len()
                + c.message.tool_calls.iter().map(|t| t.arguments.len() + t.name.len()).sum::<usize>()
        })
        .sum();
    Usage {
        prompt_tokens: req.estimate_prompt_tokens(),
        completion_tokens: (out as u64).div_ceil(4),
        estimated: true,
        ..Usage::default()
    }
}
