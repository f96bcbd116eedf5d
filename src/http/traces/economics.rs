//! `GET /api/traces/{id}/economics`: what the request cost (its charges, its tokens) and what the
//! same usage would cost on every candidate the router considered, at today's prices.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;

use layerr_domain::trace::{Candidate, Charge};
use layerr_projections::traces::{explain, TraceView};

use super::super::envelope::{envelope, usd, RequestId};
use super::super::error::ApiError;
use super::super::extract::ApiPath;
use super::{visible_trace, workspace_of};
use crate::app::AppState;
use crate::gateway;
use crate::llm::Usage;
use crate::state::Principal;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EconomicsBody<'a> {
    trace_id: &'a str,
    cost_usd: f64,
    cost_micros: i64,
    /// The router's estimate for the primary.
    estimated_cost_usd: Option<f64>,
    tokens: TokensBody,
    charges: Vec<ChargeBody<'a>>,
    alternatives: Vec<AlternativeBody<'a>>,
    cheapest_eligible: Option<CheapestBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokensBody {
    #[serde(rename = "in")]
    tokens_in: u64,
    #[serde(rename = "out")]
    tokens_out: u64,
    cached: u64,
    cache_write: u64,
    reasoning: u64,
    estimated: bool,
}

impl From<&Usage> for TokensBody {
    fn from(u: &Usage) -> Self {
        TokensBody {
            tokens_in: u.prompt_tokens,
            tokens_out: u.completion_tokens,
            cached: u.cached_tokens,
            cache_write: u.cache_write_tokens,
            reasoning: u.reasoning_tokens,
            estimated: u.estimated,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChargeBody<'a> {
    provider: &'a str,
    model: &'a str,
    tokens_in: u64,
    tokens_out: u64,
    cached_tokens: u64,
    cache_write_tokens: u64,
    reasoning_tokens: u64,
    cost_usd: f64,
    cost_micros: i64,
    price_version: &'a str,
    usage_estimated: bool,
}

impl<'a> From<&'a Charge> for ChargeBody<'a> {
    fn from(c: &'a Charge) -> Self {
        ChargeBody {
            provider: &c.provider,
            model: &c.model,
            tokens_in: c.tokens_in,
            tokens_out: c.tokens_out,
            cached_tokens: c.cached_tokens,
            cache_write_tokens: c.cache_write_tokens,
            reasoning_tokens: c.reasoning_tokens,
            cost_usd: usd(c.cost_micros),
            cost_micros: c.cost_micros,
            price_version: &c.price_version,
            usage_estimated: c.estimated,
        }
    }
}

/// The trace's usage priced on one candidate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlternativeBody<'a> {
    provider: &'a str,
    model: &'a str,
    served: bool,
    eligible: bool,
    excluded: Option<String>,
    cost_usd: Option<f64>,
    cost_micros: Option<i64>,
    /// Against what the request cost.
    delta_usd: Option<f64>,
    price_version: Option<String>,
    note: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheapestBody<'a> {
    provider: &'a str,
    model: &'a str,
    cost_usd: f64,
    savings_usd: f64,
}

/// The usage of all the trace's charges together.
fn usage_of(v: &TraceView) -> Usage {
    let mut u = Usage::default();
    for c in &v.charges {
        u.prompt_tokens = u.prompt_tokens.saturating_add(c.tokens_in);
        u.completion_tokens = u.completion_tokens.saturating_add(c.tokens_out);
        u.cached_tokens = u.cached_tokens.saturating_add(c.cached_tokens);
        u.cache_write_tokens = u.cache_write_tokens.saturating_add(c.cache_write_tokens);
        u.reasoning_tokens = u.reasoning_tokens.saturating_add(c.reasoning_tokens);
        u.estimated |= c.estimated;
    }
    u
}

/// `usage` priced on `c` as the provider is configured now (`None`: it no longer is).
fn price(app: &AppState, c: &Candidate, usage: &Usage) -> Option<(i64, String)> {
    app.hot.provider(&c.provider).map(|pv| gateway::facts::charge_micros(&pv, &c.model, usage))
}

pub(super) async fn economics(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible_trace(&app, &p, &id).await?;
    let usage = usage_of(&v);
    let actual = v.cost_micros();
    let o = v.outcome.as_ref();
    let is_served = |c: &Candidate| {
        o.is_some_and(|o| o.provider.as_deref() == Some(c.provider.as_str()) && o.model.as_deref() == Some(&c.model))
    };
    let mut alternatives = Vec::new();
    let mut cheapest: Option<(i64, &Candidate)> = None;
    for c in v.decision.as_ref().map(|d| d.candidates.as_slice()).unwrap_or(&[]) {
        let priced = price(&app, c, &usage);
        if let Some((cost, _)) = &priced {
            if c.excluded.is_none() && cheapest.is_none_or(|x| *cost < x.0) {
                cheapest = Some((*cost, c));
            }
        }
        alternatives.push(AlternativeBody {
            provider: &c.provider,
            model: &c.model,
            served: is_served(c),
            eligible: c.excluded.is_none(),
            excluded: c.excluded.as_ref().map(ToString::to_string),
            cost_usd: priced.as_ref().map(|p| usd(p.0)),
            cost_micros: priced.as_ref().map(|p| p.0),
            delta_usd: priced.as_ref().map(|p| usd(p.0 - actual)),
            note: priced.is_none().then_some("provider no longer configured"),
            price_version: priced.map(|p| p.1),
        });
    }
    let body = EconomicsBody {
        trace_id: &v.trace_id,
        cost_usd: usd(actual),
        cost_micros: actual,
        estimated_cost_usd: explain::primary_candidate(&v).and_then(|c| c.estimated_cost_micros).map(usd),
        tokens: TokensBody::from(&usage),
        charges: v.charges.iter().map(ChargeBody::from).collect(),
        alternatives,
        cheapest_eligible: cheapest.map(|(cost, c)| CheapestBody {
            provider: &c.provider,
            model: &c.model,
            cost_usd: usd(cost),
            savings_usd: usd(actual - cost),
        }),
    };
    Ok(envelope(&rid, workspace_of(&v), body))
}
