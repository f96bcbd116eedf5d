//! The economics read routes: `summary` (this month's spend, its linear projection, by day),
//! `providers` (per provider and model), `categories` (by catalog category and by intent),
//! `savings` (against a reference model the caller names) and `insights` (re-routing
//! recommendations computed from recorded volumes and the catalog). Every figure comes from the
//! `economics_requests` read model in integer micro-dollars; USD appears only in the JSON. The
//! simulation routes live in `economics/simulate.rs`. The budget routes are `budget.rs`.

mod insights;
mod simulate;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use layerr_projections::economics::{Dim, Rates, SpendFilter, SpendRow, Tokens, DAY_MS};

use super::auth::read_scope;
pub(crate) use super::envelope::usd;
use super::envelope::{envelope, RequestId};
use super::error::{unavailable, ApiError};
pub(crate) use super::extract::parse_time;
use super::extract::ApiQuery;
use super::AppState;
use crate::catalog::{Catalog, ModelInfo};
use crate::gateway::facts;
use crate::state::Principal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/economics/summary", get(summary))
        .route("/api/economics/providers", get(providers))
        .route("/api/economics/categories", get(categories))
        .route("/api/economics/savings", get(savings))
        .route("/api/economics/insights", get(insights::insights))
        .merge(simulate::router())
}

fn iso(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms)
}

/// Midnight UTC on the first of `t`'s month, and of the month after.
fn month_bounds(t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(t.year(), t.month(), 1, 0, 0, 0).single().unwrap_or(t);
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    let end = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(t);
    (start, end)
}

/// `[from, to)` from the query, defaulting to this calendar month (UTC) up to now.
fn range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), ApiError> {
    let now = Utc::now();
    let from_ms = parse_time("from", from)?.unwrap_or_else(|| month_bounds(now).0.timestamp_millis());
    let to_ms = parse_time("to", to)?.unwrap_or_else(|| now.timestamp_millis() + 1);
    if from_ms >= to_ms {
        return Err(ApiError::field("from", "from must be before to"));
    }
    Ok((from_ms, to_ms))
}

async fn spend(app: &AppState, f: &SpendFilter, dims: &[Dim]) -> Result<Vec<SpendRow>, ApiError> {
    app.store.db.spend_by(f, dims).await.map_err(unavailable)
}

fn tokens_json(t: &Tokens) -> Value {
    json!({
        "in": t.tokens_in, "out": t.tokens_out, "cached": t.cached, "cacheWrite": t.cache_write,
        "reasoning": t.reasoning,
    })
}

fn avg_usd(cost: i64, requests: i64) -> Option<f64> {
    (requests > 0).then(|| usd(cost) / requests as f64)
}

fn share(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0
}

/// The catalog entry of a model as the provider serves it now (its overrides applied), else the
/// shipped table's.
pub(crate) fn model_info(app: &AppState, provider: &str, model: &str) -> Option<ModelInfo> {
    match app.hot.provider(provider) {
        Some(p) => facts::model_info(&p, model),
        None => Catalog::builtin().get(model).cloned(),
    }
}

/// The price of a usage on a model, exactly as a charge computes it.
pub(crate) fn price_on(m: &ModelInfo, t: &Tokens) -> i64 {
    let n = |x: i64| x.max(0) as u64;
    m.cost_micros(n(t.uncached_in()), n(t.tokens_out), n(t.cached), n(t.cache_write))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryQuery {
    workspace: Option<String>,
    /// `YYYY-MM`, default this month.
    month: Option<String>,
}

async fn summary(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<Response, ApiError> {
    let workspace = read_scope(&p, q.workspace.as_deref())?;
    let now = Utc::now();
    let (start, end) = match &q.month {
        None => month_bounds(now),
        Some(m) => {
            let bad = || ApiError::field("month", "month must be YYYY-MM, e.g. 2026-01");
            let (y, mo) = m.split_once('-').ok_or_else(bad)?;
            let (y, mo): (i32, u32) = (y.parse().map_err(|_| bad())?, mo.parse().map_err(|_| bad())?);
            if m.len() != 7 || !(1..=12).contains(&mo) || !(2000..=9999).contains(&y) {
                return Err(bad());
            }
            let first = Utc.with_ymd_and_hms(y, mo, 1, 0, 0, 0).single().ok_or_else(bad)?;
            if first > now {
                return Err(ApiError::field("month", "month must not be in the future"));
            }
            month_bounds(first)
        }
    };
    let (start_ms, end_ms) = (start.timestamp_millis(), end.timestamp_millis());
    // The month so far: up to now (inclusive) for the current month, the whole month otherwise.
    let upto_ms = end_ms.min(now.timestamp_millis() + 1);
    let f = SpendFilter { workspace: workspace.clone(), from_ms: start_ms, to_ms: upto_ms, charged_only: false };
    let total = spend(&app, &f, &[]).await?.into_iter().next().unwrap_or_default();
    let days = spend(&app, &f, &[Dim::Day]).await?;
    // Linear: month-to-date spend over the elapsed fraction of the month.
    let elapsed = (upto_ms - start_ms).max(1);
    let projected = if upto_ms >= end_ms {
        total.cost_micros
    } else {
        i64::try_from(i128::from(total.cost_micros) * i128::from(end_ms - start_ms) / i128::from(elapsed))
            .unwrap_or(i64::MAX)
    };
    let mut by_day = Vec::new();
    let mut day = start_ms;
    while day < upto_ms {
        let row = days.iter().find(|r| r.day_ms == Some(day));
        let (cost, requests, t) = row.map_or((0, 0, Tokens::default()), |r| (r.cost_micros, r.requests, r.tokens));
        by_day.push(json!({
            "date": iso(day).map(|d| d.format("%Y-%m-%d").to_string()),
            "costUsd": usd(cost),
            "costMicros": cost,
            "requests": requests,
            "tokensIn": t.tokens_in,
            "tokensOut": t.tokens_out,
        }));
        day += DAY_MS;
    }
    Ok(envelope(
        &rid,
        workspace.as_deref(),
        json!({
            "workspaceId": workspace,
            "month": start.format("%Y-%m").to_string(),
            "from": start,
            "to": iso(upto_ms),
            "spentThisMonth": usd(total.cost_micros),
            "spentThisMonthMicros": total.cost_micros,
            "projectedSpend": usd(projected),
            "projectedSpendMicros": projected,
            "requests": total.requests,
            "completed": total.completed,
            "failed": total.failed,
            "estimatedUsageRequests": total.estimated,
            "avgCostPerRequestUsd": avg_usd(total.cost_micros, total.requests),
            "tokens": tokens_json(&total.tokens),
            "byDay": by_day,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    workspace: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn cell(r: &SpendRow, total: i64) -> Value {
    json!({
        "costUsd": usd(r.cost_micros),
        "costMicros": r.cost_micros,
        "requests": r.requests,
        "tokensIn": r.tokens.tokens_in,
        "tokensOut": r.tokens.tokens_out,
        "cachedTokens": r.tokens.cached,
        "avgCostPerRequestUsd": avg_usd(r.cost_micros, r.requests),
        "share": share(r.cost_micros, total),
    })
}

fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

async fn providers(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let workspace = read_scope(&p, q.workspace.as_deref())?;
    let (from_ms, to_ms) = range(q.from.as_deref(), q.to.as_deref())?;
    let f = SpendFilter { workspace: workspace.clone(), from_ms, to_ms, charged_only: true };
    let by_provider = spend(&app, &f, &[Dim::Provider]).await?;
    let by_model = spend(&app, &f, &[Dim::Provider, Dim::Model]).await?;
    let total: i64 = by_provider.iter().map(|r| r.cost_micros).fold(0, i64::saturating_add);
    let requests: i64 = by_provider.iter().map(|r| r.requests).fold(0, i64::saturating_add);
    let mut rows: Vec<&SpendRow> = by_provider.iter().collect();
    rows.sort_by(|a, b| b.cost_micros.cmp(&a.cost_micros).then_with(|| a.provider.cmp(&b.provider)));
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let models: Vec<Value> = by_model
                .iter()
                .filter(|m| m.provider == r.provider)
                .map(|m| merge(json!({"model": m.model}), cell(m, r.cost_micros)))
                .collect();
            merge(json!({"provider": r.provider}), merge(cell(r, total), json!({"models": models})))
        })
        .collect();
    Ok(envelope(
        &rid,
        workspace.as_deref(),
        json!({
            "workspaceId": workspace,
            "from": iso(from_ms),
            "to": iso(to_ms),
            "totalCostUsd": usd(total),
            "totalCostMicros": total,
            "requests": requests,
            "providers": list,
        }),
    ))
}

/// The catalog category of a served model (`uncatalogued` for a model the table does not know).
fn category_of(app: &AppState, provider: &str, model: &str) -> String {
    model_info(app, provider, model)
        .and_then(|m| serde_json::to_value(m.category).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "uncatalogued".into())
}

async fn categories(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Response, ApiError> {
    let workspace = read_scope(&p, q.workspace.as_deref())?;
    let (from_ms, to_ms) = range(q.from.as_deref(), q.to.as_deref())?;
    let f = SpendFilter { workspace: workspace.clone(), from_ms, to_ms, charged_only: true };
    let by_model = spend(&app, &f, &[Dim::Provider, Dim::Model]).await?;
    let by_intent = spend(&app, &f, &[Dim::Intent]).await?;
    let total: i64 = by_model.iter().map(|r| r.cost_micros).fold(0, i64::saturating_add);
    let mut cats: std::collections::BTreeMap<String, (SpendRow, Vec<String>)> = Default::default();
    for r in &by_model {
        let (Some(pv), Some(m)) = (&r.provider, &r.model) else { continue };
        let (acc, models) = cats.entry(category_of(&app, pv, m)).or_default();
        acc.requests = acc.requests.saturating_add(r.requests);
        acc.cost_micros = acc.cost_micros.saturating_add(r.cost_micros);
        acc.tokens.tokens_in = acc.tokens.tokens_in.saturating_add(r.tokens.tokens_in);
        acc.tokens.tokens_out = acc.tokens.tokens_out.saturating_add(r.tokens.tokens_out);
        acc.tokens.cached = acc.tokens.cached.saturating_add(r.tokens.cached);
        if !models.contains(m) {
            models.push(m.clone());
        }
    }
    let mut by_category: Vec<(String, SpendRow, Vec<String>)> =
        cats.into_iter().map(|(k, (row, models))| (k, row, models)).collect();
    by_category.sort_by(|a, b| b.1.cost_micros.cmp(&a.1.cost_micros).then_with(|| a.0.cmp(&b.0)));
    let mut intents: Vec<&SpendRow> = by_intent.iter().collect();
    intents.sort_by(|a, b| b.cost_micros.cmp(&a.cost_micros).then_with(|| a.intent.cmp(&b.intent)));
    Ok(envelope(
        &rid,
        workspace.as_deref(),
        json!({
            "workspaceId": workspace,
            "from": iso(from_ms),
            "to": iso(to_ms),
            "totalCostUsd": usd(total),
            "totalCostMicros": total,
            "byCategory": by_category
                .iter()
                .map(|(c, r, models)| merge(json!({"category": c, "models": models}), cell(r, total)))
                .collect::<Vec<_>>(),
            "byIntent": intents.iter().map(|r| merge(json!({"intent": r.intent}), cell(r, total))).collect::<Vec<_>>(),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SavingsQuery {
    workspace: Option<String>,
    from: Option<String>,
    to: Option<String>,
    baseline: Option<String>,
}

/// The reference model, which must be a chat model of the price table.
fn baseline_model(name: Option<&str>) -> Result<&'static ModelInfo, ApiError> {
    let catalog = Catalog::builtin();
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return Err(ApiError::field("baseline", "baseline is required: a model id of the price table, e.g. gpt-4o"));
    };
    match catalog.get(name) {
        Some(m) if m.is_chat() => Ok(m),
        Some(_) => Err(ApiError::field("baseline", format!("'{name}' is not a chat model"))),
        None => Err(ApiError::field(
            "baseline",
            format!("'{name}' is not in the price table (version {})", catalog.version),
        )),
    }
}

#[derive(Default)]
struct Saved {
    requests: i64,
    actual: i64,
    baseline: i64,
}

impl Saved {
    fn json(&self) -> Value {
        let saved = self.baseline - self.actual;
        json!({
            "requests": self.requests,
            "actualUsd": usd(self.actual),
            "actualMicros": self.actual,
            "baselineUsd": usd(self.baseline),
            "baselineMicros": self.baseline,
            "savingsUsd": usd(saved),
            "savingsMicros": saved,
            "savingsPercent": (self.baseline > 0).then(|| (saved as f64 / self.baseline as f64 * 10_000.0).round() / 100.0),
        })
    }
}

async fn savings(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<SavingsQuery>,
) -> Result<Response, ApiError> {
    let workspace = read_scope(&p, q.workspace.as_deref())?;
    let base = baseline_model(q.baseline.as_deref())?;
    let (from_ms, to_ms) = range(q.from.as_deref(), q.to.as_deref())?;
    let f = SpendFilter { workspace: workspace.clone(), from_ms, to_ms, charged_only: false };
    // Each request priced on the baseline as its charge would have been (rounded per request).
    let rates = Rates {
        input: base.input_per_mtok as i64,
        output: base.output_per_mtok as i64,
        cached: base.effective_cached_input_per_mtok() as i64,
        cache_write: base.effective_cache_write_per_mtok() as i64,
    };
    let cells = app.store.db.spend_priced(&f, &[Dim::Strategy, Dim::Intent], rates).await.map_err(unavailable)?;
    let mut total = Saved::default();
    let mut by_strategy: std::collections::BTreeMap<String, Saved> = Default::default();
    let mut by_intent: std::collections::BTreeMap<String, Saved> = Default::default();
    for c in &cells {
        let baseline = c.priced_micros.unwrap_or(0);
        for s in [
            &mut total,
            by_strategy.entry(c.strategy.clone().unwrap_or_default()).or_default(),
            by_intent.entry(c.intent.clone().unwrap_or_default()).or_default(),
        ] {
            s.requests = s.requests.saturating_add(c.requests);
            s.actual = s.actual.saturating_add(c.cost_micros);
            s.baseline = s.baseline.saturating_add(baseline);
        }
    }
    let per = |m: &std::collections::BTreeMap<String, Saved>, key: &str| -> Vec<Value> {
        m.iter().map(|(k, s)| merge(json!({ key: k }), s.json())).collect()
    };
    let mut data = merge(
        json!({
            "workspaceId": workspace,
            "from": iso(from_ms),
            "to": iso(to_ms),
            "baseline": {
                "model": base.id,
                "priceVersion": Catalog::builtin().version,
                "inputPerMtokUsd": usd(base.input_per_mtok as i64),
                "outputPerMtokUsd": usd(base.output_per_mtok as i64),
                "cachedInputPerMtokUsd": usd(base.effective_cached_input_per_mtok() as i64),
                "cacheWritePerMtokUsd": usd(base.effective_cache_write_per_mtok() as i64),
            },
            "method": "every request's recorded tokens (uncached, cached and cache-write input, output) priced at the baseline model's rates, per strategy and intent",
        }),
        total.json(),
    );
    data["byStrategy"] = json!(per(&by_strategy, "strategy"));
    data["byIntent"] = json!(per(&by_intent, "intent"));
    Ok(envelope(&rid, workspace.as_deref(), data))
}
