//! The provider probes: `GET /api/providers/{id}/health`, `POST /api/providers/{id}/test` (a real
//! minimal call, recorded as an event), `GET /api/providers/discover` (local servers, held to the
//! egress policy for workspace keys) and `GET /api/providers/capabilities`.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use layerr_domain::provider::{ProviderCommand, TestOutcome};

use super::{exec, may_manage, visible};
use crate::app::AppState;
use crate::egress::Checked;
use crate::gateway::facts;
use crate::http::auth::key_scope;
use crate::http::envelope::{envelope, RequestId};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJsonOrDefault, ApiPath, ApiQuery};
use crate::llm::{ChatRequest, Message, Role};
use crate::providers::{self, ProviderKind, Upstream};
use crate::secrets::SecretBox;
use crate::state::Principal;

pub(super) async fn health(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let v = visible(&app, &p, &id)?;
    let report = app.health.report(&id);
    Ok(envelope(
        &rid,
        v.settings.workspace.as_deref(),
        json!({
            "id": id,
            "health": report,
            "lastTest": v.last_test.as_ref().map(|(o, at)| json!({ "outcome": o, "at": at })),
        }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TestBody {
    model: Option<String>,
}

pub(super) async fn test(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiPath(id): ApiPath<String>,
    ApiJsonOrDefault(b): ApiJsonOrDefault<TestBody>,
) -> Result<Response, ApiError> {
    let v = visible(&app, &p, &id)?;
    may_manage(&p, &v)?;
    // A URL a workspace key set is checked again now (DNS may answer differently than it did at
    // registration); the connection itself is checked too (`egress::Resolver`).
    if !app.hot.provider_egress(&id).url_trusted {
        app.hot
            .egress_policy()
            .check_url(&v.settings.base_url)
            .await
            .map_err(|r| ApiError::field("baseUrl", r.to_string()))?;
    }
    let model = b.model.or_else(|| v.settings.models.first().cloned());
    let key = facts::api_key(&app.secrets, &v);
    let up = facts::upstream(&app.http, &v, key.as_ref().map(SecretBox::expose), Duration::from_secs(20))
        .ok_or_else(|| ApiError::internal("stored provider type is unknown"))?;
    let t0 = Instant::now();
    // A real minimal call: a one-token chat when a model is known, else the model list.
    let result = match &model {
        Some(m) => {
            let req = ChatRequest {
                model: m.clone(),
                messages: vec![Message::text(Role::User, "ping")],
                n: 1,
                max_tokens: Some(1),
                ..Default::default()
            };
            providers::chat(&up, &req, m).await.map(|_| ())
        }
        None => providers::models(&up).await.map(|_| ()),
    };
    let latency = t0.elapsed();
    let outcome = TestOutcome {
        ok: result.is_ok(),
        model: model.clone(),
        latency_ms: latency.as_millis() as u64,
        error_kind: result.as_ref().err().map(|e| e.kind.as_str().to_string()),
        message: result.as_ref().err().map(|e| e.message.chars().take(300).collect()),
    };
    match &result {
        Ok(()) => app.health.record_success(&id, latency, None),
        Err(_) => app.health.record_failure(&id),
    }
    let ws = v.settings.workspace.clone();
    exec(&app, &p, &rid, &id, ws.as_deref(), ProviderCommand::RecordTest { outcome: outcome.clone(), at: Utc::now() })
        .await?;
    Ok(envelope(&rid, ws.as_deref(), json!({ "id": id, "result": outcome })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DiscoverQuery {
    /// Extra comma-separated base URLs to probe.
    urls: Option<String>,
}

pub(super) async fn discover(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
    ApiQuery(q): ApiQuery<DiscoverQuery>,
) -> Result<Response, ApiError> {
    // (kind, base URL, server label, named by the caller)
    let mut targets: Vec<(ProviderKind, String, &'static str, bool)> = vec![
        (ProviderKind::Ollama, "http://127.0.0.1:11434".into(), "ollama", false),
        (ProviderKind::OpenAiCompatible, "http://127.0.0.1:1234/v1".into(), "lm-studio", false),
        (ProviderKind::OpenAiCompatible, "http://127.0.0.1:8000/v1".into(), "vllm", false),
    ];
    let requested: Vec<String> =
        q.urls.iter().flat_map(|u| u.split(',').map(|s| s.trim().to_string())).filter(|s| !s.is_empty()).collect();
    let configured = app.config.gateway.discover_urls.iter().map(|u| (u, false));
    for (u, named) in configured.chain(requested.iter().map(|u| (u, true))) {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(ApiError::field("urls", format!("'{u}' is not an http(s) URL")));
        }
        targets.push((ProviderKind::Ollama, u.clone(), "custom", named));
        targets.push((ProviderKind::OpenAiCompatible, format!("{}/v1", u.trim_end_matches('/')), "custom", named));
    }
    // A workspace key probes only what the egress policy lets it reach: not the gateway host's
    // own ports, nor the operator's network. The addresses checked are the ones connected to.
    let mut client = app.http.clone();
    if !p.is_admin() {
        let policy = app.hot.egress_policy();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(app.config.gateway.connect_timeout_ms));
        let mut allowed = Vec::new();
        for t in targets {
            match policy.check_url(&t.1).await {
                Ok(Checked::Literal(_)) => allowed.push(t),
                Ok(Checked::Resolved { host, addrs }) => {
                    builder = builder.resolve_to_addrs(&host, &addrs);
                    allowed.push(t);
                }
                // Not resolvable now: nothing checked to pin the connection to, so not probed.
                Ok(Checked::Unresolved) => {}
                Err(r) if t.3 => return Err(ApiError::field("urls", r.to_string())),
                // Built-in and configured targets the policy refuses are skipped.
                Err(_) => {}
            }
        }
        targets = allowed;
        client = builder.build().map_err(ApiError::internal)?;
    }
    let probes = targets.iter().map(|(kind, url, label, _)| {
        let client = client.clone();
        async move {
            let up = Upstream::new(&client, *kind, url, None, Duration::from_millis(1500));
            let t0 = Instant::now();
            let r = providers::models(&up).await;
            json!({
                "type": kind.as_str(), "server": label, "baseUrl": url,
                "reachable": r.is_ok(),
                "latencyMs": t0.elapsed().as_millis() as u64,
                "models": r.as_ref().map(|ms| ms.iter().map(|m| m.id.clone()).collect::<Vec<_>>()).unwrap_or_default(),
                "error": r.err().map(|e| e.kind.as_str()),
            })
        }
    });
    let found: Vec<serde_json::Value> = futures::future::join_all(probes).await;
    Ok(envelope(&rid, None, found))
}

pub(super) async fn capabilities(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(rid): Extension<RequestId>,
) -> Result<Response, ApiError> {
    let mut rows = Vec::new();
    for v in app.hot.providers(key_scope(&p)) {
        for m in &v.settings.models {
            rows.push(match v.resolved.model(m) {
                Some(i) => json!({
                    "provider": v.id, "model": m, "catalogued": true,
                    "streaming": i.streaming, "tools": i.tools, "vision": i.vision, "jsonMode": i.json_mode,
                    "contextWindow": i.context_window, "maxOutputTokens": i.max_output_tokens,
                    "price": {
                        "inputPerMTokUsd": i.input_per_mtok as f64 / 1e6,
                        "outputPerMTokUsd": i.output_per_mtok as f64 / 1e6,
                        "cachedInputPerMTokUsd": i.cached_input_per_mtok.map(|x| x as f64 / 1e6),
                    },
                    "category": i.category, "status": i.status,
                }),
                None => json!({ "provider": v.id, "model": m, "catalogued": false }),
            });
        }
    }
    Ok(envelope(
        &rid,
        key_scope(&p),
        json!({ "priceVersion": crate::catalog::Catalog::builtin().version, "models": rows }),
    ))
}
