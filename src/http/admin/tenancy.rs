//! `GET /api/admin/tenancy` (admin only): per workspace its keys, scoped providers and
//! strategies, the data it holds, its limits and budget, and live isolation self-checks; plus
//! installation-wide figures. Configuration comes from the in-memory state; the data held from
//! one grouped query per read model (never one per workspace). Ids and figures only: no key
//! hash, key material, credential or secret reaches the answer.
//!
//! The self-checks read the real state, so each can fail:
//! - `keys-resolve-here`: every live key of the slug, looked up by its stored hash through the
//!   edge's own lookup, is this workspace's key (not another's, not an admin key) and was issued
//!   in its current life; every revoked key resolves to nothing;
//! - `providers-own-or-global`: what the router may use for the workspace is its own or global;
//! - `strategies-own-or-global`: no other workspace's custom strategy resolves for it;
//! - `no-earlier-life-resources`: no provider or strategy of an ended life of the slug is left;
//! - `traces-current-life` / `conversations-current-life`: the read models hold no row of the
//!   slug older than the workspace (rows of an ended life are dropped at its deletion).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use layerr_domain::workspace::budget::month_start;
use layerr_domain::workspace::types::{LimitOverrides, Quota, Tier};
use layerr_projections::tenancy::Held;

use super::super::auth::AdminOnly;
use super::super::envelope::{envelope, usd, RequestId};
use super::super::error::{unavailable, ApiError};
use super::super::extract::ApiQuery;
use super::super::AppState;
use crate::state::{HotState, Principal, Scoped, WorkspaceView};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/admin/tenancy", get(tenancy))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenancyQuery {
    workspace: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tenancy {
    workspaces: Vec<WorkspaceTenancy>,
    installation: Installation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceTenancy {
    slug: String,
    name: String,
    created_at: DateTime<Utc>,
    keys: Keys,
    providers: Vec<String>,
    strategies: Vec<String>,
    data: Data,
    limits: LimitsBody,
    budget: BudgetBody,
    isolation: Isolation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Keys {
    active: usize,
    revoked: usize,
    /// The latest request the traces read model holds for the workspace.
    last_used_at: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct Data {
    traces: i64,
    conversations: i64,
    events: i64,
}

#[derive(Serialize)]
struct LimitsBody {
    tier: Tier,
    effective: Quota,
    overrides: LimitOverrides,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BudgetBody {
    monthly_budget: Option<f64>,
    weekly_alert_threshold: Option<f64>,
    spent_this_month: f64,
    reserved_in_flight: f64,
    requests_in_flight: u32,
}

#[derive(Serialize)]
struct Isolation {
    passed: bool,
    checks: Vec<Check>,
}

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    passed: bool,
    detail: String,
}

#[derive(Serialize)]
struct Installation {
    workspaces: usize,
    keys: KeyTotals,
    providers: usize,
    events: i64,
    traces: i64,
}

#[derive(Serialize)]
struct KeyTotals {
    active: usize,
    revoked: usize,
}

async fn tenancy(
    State(app): State<AppState>,
    _admin: AdminOnly,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<TenancyQuery>,
) -> Result<Response, ApiError> {
    let hot = &app.hot;
    let all = hot.workspaces();
    let chosen: Vec<&WorkspaceView> = match &q.workspace {
        Some(slug) => {
            vec![all.iter().find(|w| &w.slug == slug).ok_or_else(|| ApiError::WorkspaceNotFound(slug.clone()))?]
        }
        None => all.iter().collect(),
    };
    let db = &app.store.db;
    let now = Utc::now();
    let traces = db.traces_by_workspace().await.map_err(unavailable)?;
    let conversations = db.conversations_by_workspace().await.map_err(unavailable)?;
    let (events, events_total) = db.events_by_workspace().await.map_err(unavailable)?;
    let spent: HashMap<String, i64> =
        db.spend_by_workspace(month_start(now).timestamp_millis()).await.map_err(unavailable)?.into_iter().collect();

    let workspaces = chosen
        .into_iter()
        .map(|w| {
            let t = traces.get(&w.slug).copied().unwrap_or_default();
            let c = conversations.get(&w.slug).copied().unwrap_or_default();
            let standing = app.ledger.standing(&w.slug, now);
            let current: Vec<_> =
                hot.keys_of(Some(&w.slug)).into_iter().filter(|k| k.created_at >= w.created_at).collect();
            WorkspaceTenancy {
                slug: w.slug.clone(),
                name: w.profile.name.clone(),
                created_at: w.created_at,
                keys: Keys {
                    active: current.iter().filter(|k| k.revoked_at.is_none()).count(),
                    revoked: current.iter().filter(|k| k.revoked_at.is_some()).count(),
                    last_used_at: t.newest_ms.and_then(at_ms),
                },
                providers: hot
                    .providers(None)
                    .iter()
                    .filter(|p| p.settings.workspace.as_deref() == Some(w.slug.as_str()))
                    .map(|p| p.id.clone())
                    .collect(),
                strategies: hot
                    .strategy_views()
                    .into_iter()
                    .filter(|v| v.spec.as_ref().is_some_and(|s| s.workspace.as_deref() == Some(w.slug.as_str())))
                    .map(|v| v.id)
                    .collect(),
                data: Data {
                    traces: t.count,
                    conversations: c.count,
                    events: events.get(&w.slug).copied().unwrap_or(0),
                },
                limits: LimitsBody {
                    tier: w.limits.tier,
                    effective: w.limits.effective(),
                    overrides: w.limits.overrides,
                },
                budget: BudgetBody {
                    monthly_budget: w.budget.monthly_micros.map(usd),
                    weekly_alert_threshold: w.budget.weekly_alert_micros.map(usd),
                    spent_this_month: usd(spent.get(&w.slug).copied().unwrap_or(0)),
                    reserved_in_flight: usd(standing.reserved),
                    requests_in_flight: standing.in_flight,
                },
                isolation: isolation(hot, w, t, c),
            }
        })
        .collect();

    let mut keys = hot.keys_of(None);
    for w in &all {
        keys.extend(hot.keys_of(Some(&w.slug)));
    }
    let installation = Installation {
        workspaces: all.len(),
        keys: KeyTotals {
            active: keys.iter().filter(|k| k.revoked_at.is_none()).count(),
            revoked: keys.iter().filter(|k| k.revoked_at.is_some()).count(),
        },
        providers: hot.providers(None).len(),
        events: events_total,
        traces: traces.values().map(|h| h.count).sum(),
    };
    Ok(envelope(&rid, q.workspace.as_deref(), Tenancy { workspaces, installation }))
}

fn at_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Runs every self-check of `w` against the live state and the read models' figures.
fn isolation(hot: &HotState, w: &WorkspaceView, traces: Held, conversations: Held) -> Isolation {
    let probes: Vec<KeyProbe> = hot
        .keys_of(Some(&w.slug))
        .into_iter()
        .map(|k| KeyProbe {
            resolves_to: hot.resolve_key(&k.id),
            revoked: k.revoked_at.is_some(),
            earlier_life: k.created_at < w.created_at,
            id: k.id,
        })
        .collect();
    let routable: Vec<(String, Option<String>)> =
        hot.providers(Some(&w.slug)).iter().map(|p| (p.id.clone(), p.settings.workspace.clone())).collect();
    let foreign_strategies: Vec<(String, bool)> = hot
        .strategy_views()
        .into_iter()
        .filter(|v| v.spec.as_ref().is_some_and(|s| s.workspace.as_deref().is_some_and(|o| o != w.slug)))
        .map(|v| {
            let visible = hot.strategy(&v.id, &w.slug).is_some();
            (v.id, visible)
        })
        .collect();
    let created_ms = w.created_at.timestamp_millis();
    let checks = vec![
        check_keys(&w.slug, &probes),
        check_providers(&w.slug, &routable),
        check_strategies(&foreign_strategies),
        check_leftovers(&hot.disowned_of(&w.slug)),
        check_rows("traces-current-life", "trace", created_ms, traces),
        check_rows("conversations-current-life", "conversation", created_ms, conversations),
    ];
    Isolation { passed: checks.iter().all(|c| c.passed), checks }
}

/// One key of the slug as the edge's lookup sees it.
struct KeyProbe {
    id: String,
    revoked: bool,
    /// Issued before the workspace's current life began.
    earlier_life: bool,
    /// What the lookup by the key's stored hash answers.
    resolves_to: Option<Principal>,
}

fn check(name: &'static str, faults: Vec<String>, ok: String) -> Check {
    if faults.is_empty() {
        Check { name, passed: true, detail: ok }
    } else {
        Check { name, passed: false, detail: faults.join("; ") }
    }
}

fn check_keys(slug: &str, keys: &[KeyProbe]) -> Check {
    let mut faults = Vec::new();
    for k in keys {
        match (&k.resolves_to, k.revoked) {
            (None, true) => {}
            (Some(_), true) => faults.push(format!("revoked key {} still authenticates", k.id)),
            (None, false) => faults.push(format!("live key {} does not authenticate", k.id)),
            (Some(Principal::Workspace { key_id, slug: s }), false) if key_id == &k.id && s == slug => {
                if k.earlier_life {
                    faults.push(format!("key {} of an earlier life of {slug} still authenticates", k.id));
                }
            }
            (Some(Principal::Workspace { key_id, slug: s }), false) => {
                faults.push(format!("key {} resolves to key {key_id} of workspace {s}", k.id))
            }
            (Some(Principal::Admin { key_id }), false) => {
                faults.push(format!("key {} resolves to admin key {key_id}", k.id))
            }
        }
    }
    let live = keys.iter().filter(|k| !k.revoked).count();
    let ok =
        format!("{live} live keys resolve to this workspace only; {} revoked keys resolve to none", keys.len() - live);
    check("keys-resolve-here", faults, ok)
}

fn check_providers(slug: &str, routable: &[(String, Option<String>)]) -> Check {
    let faults = routable
        .iter()
        .filter_map(|(id, scope)| {
            scope.as_deref().filter(|s| *s != slug).map(|s| format!("provider {id} of workspace {s} is routable"))
        })
        .collect();
    let ok = format!("{} routable providers are this workspace's or global", routable.len());
    check("providers-own-or-global", faults, ok)
}

/// `foreign`: (id, whether it resolves for this workspace) of every other workspace's strategy.
fn check_strategies(foreign: &[(String, bool)]) -> Check {
    let faults = foreign
        .iter()
        .filter(|(_, visible)| *visible)
        .map(|(id, _)| format!("another workspace's strategy {id} resolves here"))
        .collect();
    let ok = format!("none of {} other workspaces' strategies resolves here", foreign.len());
    check("strategies-own-or-global", faults, ok)
}

fn check_leftovers(left: &Scoped) -> Check {
    let mut faults: Vec<String> =
        left.providers.iter().map(|(id, _)| format!("provider {id} of an earlier life is left")).collect();
    faults.extend(left.strategies.iter().map(|id| format!("strategy {id} of an earlier life is left")));
    check("no-earlier-life-resources", faults, "no provider or strategy of an earlier life is left".into())
}

fn check_rows(name: &'static str, what: &str, created_ms: i64, held: Held) -> Check {
    let faults = match held.oldest_ms {
        Some(oldest) if oldest < created_ms => {
            vec![format!("a {what} of {oldest} (epoch ms) predates this workspace's life ({created_ms})")]
        }
        _ => Vec::new(),
    };
    check(name, faults, format!("every {what} held belongs to this workspace's current life"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(id: &str, revoked: bool, earlier_life: bool, to: Option<Principal>) -> KeyProbe {
        KeyProbe { id: id.into(), revoked, earlier_life, resolves_to: to }
    }

    fn ws_key(id: &str, slug: &str) -> Option<Principal> {
        Some(Principal::Workspace { key_id: id.into(), slug: slug.into() })
    }

    #[test]
    fn keys_check_passes_only_when_every_key_resolves_here() {
        let good = [probe("k1", false, false, ws_key("k1", "a")), probe("k2", true, true, None)];
        assert!(check_keys("a", &good).passed);
        let bad: [(KeyProbe, &str); 5] = [
            (probe("k1", false, false, ws_key("k1", "b")), "workspace b"),
            (probe("k1", false, false, ws_key("k9", "a")), "key k9"),
            (probe("k1", false, false, Some(Principal::Admin { key_id: "adm".into() })), "admin key adm"),
            (probe("k1", true, false, ws_key("k1", "a")), "revoked key k1 still authenticates"),
            (probe("k1", false, true, ws_key("k1", "a")), "earlier life"),
        ];
        for (p, says) in bad {
            let c = check_keys("a", &[p]);
            assert!(!c.passed && c.detail.contains(says), "{c:?}");
        }
        let c = check_keys("a", &[probe("k1", false, false, None)]);
        assert!(!c.passed && c.detail.contains("does not authenticate"), "{c:?}");
    }

    #[test]
    fn providers_check_fails_on_another_workspace_provider() {
        let ok = [("g".to_string(), None), ("mine".to_string(), Some("a".to_string()))];
        assert!(check_providers("a", &ok).passed);
        let c = check_providers("a", &[("theirs".to_string(), Some("b".to_string()))]);
        assert!(!c.passed && c.detail.contains("theirs") && c.detail.contains("workspace b"), "{c:?}");
    }

    #[test]
    fn strategies_check_fails_when_a_foreign_strategy_resolves() {
        assert!(check_strategies(&[("s".into(), false)]).passed);
        let c = check_strategies(&[("s".into(), false), ("leak".into(), true)]);
        assert!(!c.passed && c.detail.contains("leak"), "{c:?}");
    }

    #[test]
    fn leftovers_check_fails_on_an_earlier_life_resource() {
        assert!(check_leftovers(&Scoped::default()).passed);
        let c = check_leftovers(&Scoped { providers: vec![("old".into(), Some("sec".into()))], strategies: vec![] });
        assert!(!c.passed && c.detail.contains("provider old") && !c.detail.contains("sec"), "{c:?}");
        let c = check_leftovers(&Scoped { providers: vec![], strategies: vec!["olds".into()] });
        assert!(!c.passed && c.detail.contains("strategy olds"), "{c:?}");
    }

    #[test]
    fn rows_check_fails_on_a_row_older_than_the_workspace() {
        let held = |oldest| Held { count: 1, oldest_ms: Some(oldest), newest_ms: Some(oldest) };
        assert!(check_rows("t", "trace", 1000, Held::default()).passed);
        assert!(check_rows("t", "trace", 1000, held(1000)).passed);
        let c = check_rows("t", "trace", 1000, held(999));
        assert!(!c.passed && c.detail.contains("999"), "{c:?}");
    }
}
