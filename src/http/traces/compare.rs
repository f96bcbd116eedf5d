//! `GET /api/traces/{id}/compare/{id2}`: two traces field by field (the same facts of each, whether
//! they agree, and for numbers the difference b − a), and how they are related.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use serde_json::Value;

use layerr_projections::traces::TraceView;

use super::super::envelope::{envelope, usd, RequestId};
use super::super::error::ApiError;
use super::super::extract::ApiPath;
use super::{visible_trace, workspace_of};
use crate::app::AppState;
use crate::state::Principal;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompareBody<'a> {
    a: &'a str,
    b: &'a str,
    relation: Relation,
    same_route: bool,
    /// The names of the fields that differ, in the order of `fields`.
    differing: Vec<&'static str>,
    fields: Vec<FieldRow>,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
enum Relation {
    #[serde(rename = "b replays a")]
    BReplaysA,
    #[serde(rename = "a replays b")]
    AReplaysB,
    #[serde(rename = "unrelated")]
    Unrelated,
}

/// One fact of both traces. The facts have different types, so their values are JSON values.
#[derive(Serialize)]
struct FieldRow {
    field: &'static str,
    a: Value,
    b: Value,
    same: bool,
    /// b − a, for numbers (rounded to 6 decimals); for `attempts` only when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<f64>,
}

fn value(x: impl Serialize) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// The facts compared, in the order they are shown.
fn facts(v: &TraceView) -> Vec<(&'static str, Value)> {
    let r = v.received.as_ref();
    let o = v.outcome.as_ref();
    let primary = v.decision.as_ref().and_then(|d| d.chain.first());
    let (final_provider, final_model) = v.final_route().unzip();
    let attempt_routes: Vec<String> = v
        .attempts
        .iter()
        .map(|x| {
            let outcome = if x.succeeded { "ok" } else { x.attempt.error_kind.map_or("failed", |k| k.as_str()) };
            format!("{}/{}:{outcome}", x.attempt.provider, x.attempt.model)
        })
        .collect();
    vec![
        ("workspaceId", value(r.map(|r| &r.workspace))),
        ("status", value(v.status())),
        ("intent", value(r.map(|r| r.intent))),
        ("strategy", value(r.map(|r| &r.strategy))),
        ("requestedModel", value(r.map(|r| &r.requested_model))),
        ("primaryProvider", value(primary.map(|p| &p.provider))),
        ("primaryModel", value(primary.map(|p| &p.model))),
        ("chain", value(v.decision.as_ref().map(|d| &d.chain))),
        ("finalProvider", value(final_provider)),
        ("finalModel", value(final_model)),
        ("attempts", value(v.attempts.len())),
        ("attemptRoutes", value(attempt_routes)),
        ("latencyMs", value(o.map(|o| o.latency_ms))),
        ("tokensIn", value(v.tokens_in())),
        ("tokensOut", value(v.tokens_out())),
        ("costUsd", value(usd(v.cost_micros()))),
        ("finishReason", value(o.and_then(|o| o.finish_reason.as_deref()))),
        ("errorCode", value(o.and_then(|o| o.error_code.as_deref()))),
        ("output", value(o.and_then(|o| o.output.as_deref()))),
    ]
}

fn rows(a: &TraceView, b: &TraceView) -> Vec<FieldRow> {
    facts(a)
        .into_iter()
        .zip(facts(b))
        .map(|((field, x), (_, y))| {
            let delta = match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) if field != "attempts" || x != y => {
                    Some(((y - x) * 1_000_000.0).round() / 1_000_000.0)
                }
                _ => None,
            };
            FieldRow { field, same: x == y, a: x, b: y, delta }
        })
        .collect()
}

fn relation(a: &TraceView, b: &TraceView) -> Relation {
    let replays = |x: &TraceView, y: &TraceView| {
        x.received.as_ref().and_then(|r| r.replay_of.as_deref()) == Some(y.trace_id.as_str())
    };
    if replays(b, a) {
        Relation::BReplaysA
    } else if replays(a, b) {
        Relation::AReplaysB
    } else {
        Relation::Unrelated
    }
}

pub(super) async fn compare(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath((id, id2)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let a = visible_trace(&app, &p, &id).await?;
    let b = visible_trace(&app, &p, &id2).await?;
    let fields = rows(&a, &b);
    let body = CompareBody {
        a: &a.trace_id,
        b: &b.trace_id,
        relation: relation(&a, &b),
        same_route: a.final_route() == b.final_route(),
        differing: fields.iter().filter(|f| !f.same).map(|f| f.field).collect(),
        fields,
    };
    Ok(envelope(&rid, workspace_of(&a), body))
}
