//! A run of one request down its chain: the deadline and its shares, the retry budget and
//! backoff, the attempts recorded on the trace and the health book, the charge, and the error
//! for a chain that failed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;

use layerr_domain::trace::{Attempt, Charge, TraceCommand};

use super::error::{ChatError, Failed};
use super::record::Recorder;
use super::{facts, AttemptNote, Explain};
use crate::app::AppState;
use crate::llm::{ChatRequest, Usage};
use crate::providers::{passthrough, ErrorKind, ProviderError};
use crate::routing::Target;

/// Everything the attempt loop needs, owned so a stream can carry it past the handler.
pub(crate) struct Run {
    pub app: AppState,
    /// Shared with the calls in flight, so an attempt's record can still read it.
    pub req: Arc<ChatRequest>,
    /// What the inbound format could not carry into the canonical request (reported with every
    /// attempt's own drops).
    pub inbound_dropped: Vec<String>,
    /// Canonical names not to report (`ChatOptions::unreported`).
    pub unreported: Vec<String>,
    /// Per provider and model tried so far: what it does not receive of `req`.
    dropped: Vec<((String, String), Vec<String>)>,
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
    /// The guardrail policy the answer is checked against.
    pub guard: Option<Arc<layerr_guardrails::Compiled>>,
    pub failures: Vec<(String, String, ProviderError)>,
    /// Targets skipped because they answered 429 recently, with how long until their
    /// `Retry-After` ends.
    pub cooling: Vec<(String, Duration)>,
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
            req: Arc::new(req),
            inbound_dropped: Vec::new(),
            unreported: Vec::new(),
            dropped: Vec::new(),
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
            guard: None,
            failures: Vec::new(),
            cooling: Vec::new(),
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

    /// The parameters of the request an attempt on `t` does not deliver: the inbound format's
    /// drops, then what the adapter of `t`'s provider kind cannot translate for `t`'s model
    /// (whether it reasons decides what becomes of `thinking`), worked out once per target.
    pub fn dropped_for(&mut self, t: &Target) -> Vec<String> {
        let mut out = self.inbound_dropped.clone();
        let Some(kind) = t.provider.resolved.kind() else { return out };
        let key = (t.provider.id.clone(), t.model.clone());
        let at = match self.dropped.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let model = passthrough::Model { name: &t.model, reasoning: facts::reasons(&t.provider, &t.model) };
                self.dropped.push((key, passthrough::dropped(kind, model, &self.req)));
                self.dropped.len() - 1
            }
        };
        for d in &self.dropped[at].1 {
            if !out.contains(d) && !self.unreported.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }

    /// Records one attempt on the trace, the explanation and the health book; returns the
    /// parameters its upstream did not receive (as recorded).
    pub fn record_attempt(
        &mut self,
        t: &Target,
        latency: Duration,
        ttft: Option<Duration>,
        err: Option<&ProviderError>,
    ) -> Vec<String> {
        let dropped_params = self.dropped_for(t);
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
                error_kind: err.map(|e| e.kind),
                status: err.and_then(|e| e.status),
                message: err.map(|e| e.message.chars().take(300).collect()),
                dropped_params: dropped_params.clone(),
            },
            succeeded: err.is_none(),
            at: Recorder::now(),
        });
        match err {
            None => self.app.health.record_success(&t.provider.id, latency, ttft),
            Some(e) if e.kind.is_health_failure() => self.app.health.record_failure(&t.provider.id),
            // Busy: not asked again before its Retry-After, but its breaker is untouched.
            Some(e) if e.kind == ErrorKind::RateLimited => {
                self.app.health.record_rate_limit(&t.provider.id, &t.model, e.retry_after)
            }
            // A rate limit, the client's own mistake or its departure says nothing about health.
            Some(_) => {}
        }
        if let Some(e) = err {
            self.failures.push((t.provider.id.clone(), t.model.clone(), e.clone()));
        }
        dropped_params
    }

    /// Prices `usage` on `t` and records the charge; returns the cost in micro-dollars.
    pub fn charge(&mut self, t: &Target, usage: &Usage) -> i64 {
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
        cost
    }

    /// The error for a request whose whole chain failed.
    pub fn exhausted(&self) -> ChatError {
        if let Some((_, _, e)) = self.failures.iter().find(|(_, _, e)| e.kind == ErrorKind::BadRequest) {
            return ChatError::UpstreamRejected(e.message.clone());
        }
        // Every target said it is busy (or is still cooling down from saying so): the client is
        // told to come back, when the soonest will take it, instead of a 502.
        let busy = self.failures.iter().all(|(_, _, e)| e.kind == ErrorKind::RateLimited);
        if busy && (!self.failures.is_empty() || !self.cooling.is_empty()) {
            let retry_after = self
                .failures
                .iter()
                .filter_map(|(_, _, e)| e.retry_after)
                .chain(self.cooling.iter().map(|(_, d)| *d))
                .min();
            return ChatError::RateLimited {
                message: format!(
                    "Every provider in the fallback chain is rate limited ({} attempt(s), {} cooling down); retry later",
                    self.failures.len(),
                    self.cooling.len()
                ),
                retry_after,
            };
        }
        let timed_out = self.remaining().is_zero()
            || (!self.failures.is_empty() && self.failures.iter().all(|(_, _, e)| e.kind == ErrorKind::Timeout));
        if timed_out {
            return ChatError::Timeout(format!(
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
        let failures = self
            .failures
            .iter()
            .map(|(p, m, e)| Failed { provider: p.clone(), model: m.clone(), kind: e.kind, status: e.status })
            .collect();
        ChatError::Exhausted { providers, failures }
    }
}
