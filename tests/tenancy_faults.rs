//! Tenancy under hostile tenants and faults (issue 9, defects 4, 7, 8 and part of 10):
//!
//! - a workspace deleted and created again under the same slug inherits nothing: not the old
//!   life's providers (nor their stored keys), not its custom strategies or default strategy,
//!   whether the deletion's cascade ran, never ran (a crash between the deletion and the cascade),
//!   or the state was rebuilt from the feed;
//! - credentials in a provider's `baseUrl` are refused, and ones stored before that rule are shown
//!   redacted;
//! - the egress policy keeps URLs a workspace key sets away from loopback, private and link-local
//!   destinations (at registration, at test, at discover, and at call time for a tightened
//!   policy or a host name);
//! - ids live in per-workspace namespaces: a conflict never reveals a neighbour's id, and another
//!   workspace's strategy is a `404` like a missing one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use chrono::Utc;
use common::events::of_aggregate as events_of;
use common::upstream::ask;
use common::{assert_error, chat, on_both_stores, Backing, Gateway, Kind};
use layerr::config::Config;
use layerr::store::CommandContext;
use layerr_domain::workspace::types::{Profile, Tier};
use layerr_domain::workspace::WorkspaceCommand;
use serde_json::{json, Value};

/// A gateway whose operator lets workspace keys reach the loopback mock upstream (the tests below
/// that are about tenancy, not egress, register providers there with workspace keys).
async fn start_allowing_loopback(kind: Kind) -> (Gateway, Config) {
    let backing = common::backing(kind).await;
    let mut config = common::config_for(&backing);
    config.egress.allow_cidrs = vec!["127.0.0.1/32".into()];
    (Gateway::start_with(backing, config.clone()).await, config)
}

async fn restart(gw: Gateway, config: Config) -> Gateway {
    let backing: Backing = gw.stop().await;
    Gateway::start_with(backing, config).await
}

async fn call(gw: &Gateway, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let (s, _, v) = gw.call(method, path, Some(key), body).await;
    (s, v)
}

fn ids(v: &Value) -> Vec<String> {
    v["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

async fn secrets_of(gw: &Gateway, workspace: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE workspace = $1")
        .bind(workspace)
        .fetch_one(&gw.started.state.store.db.any)
        .await
        .unwrap()
}

/// What the old tenant leaves behind: a provider it registered itself (with its own key), one an
/// admin scoped to it, a custom strategy, and that strategy as the workspace default, all on the
/// old tenant's own upstream (`mock`: what reaches it was served through the old providers).
async fn old_tenant(gw: &Gateway, mock: &layerr_mock::MockServer) -> String {
    let old = gw.workspace("acme", "standard").await;
    let base = format!("{}/v1", mock.base_url());
    let (s, v) = call(
        gw,
        "POST",
        "/api/providers",
        &old,
        Some(json!({"id": "private", "name": "Private", "type": "openai", "baseUrl": base,
                    "models": ["gpt-4o-mini"], "apiKey": "sk-old-tenant-key-111"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["id"], "acme.private");
    let (s, v) = gw
        .admin(
            "POST",
            "/api/providers",
            Some(json!({"id": "acme-managed", "name": "Managed", "type": "openai", "baseUrl": base,
                        "models": ["gpt-4o"], "apiKey": "sk-old-managed-key-222", "workspace": "acme"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        gw,
        "POST",
        "/api/strategies",
        &old,
        Some(json!({"id": "mine", "weights": {"quality": 0.0, "speed": 0.0, "cost": 1.0}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["id"], "acme.mine");
    let (s, v) = call(gw, "PUT", "/api/workspaces/acme/strategy", &old, Some(json!({"strategy": "acme.mine"}))).await;
    assert_eq!(s, 200, "{v}");
    let before = mock.requests().len();
    let (s, _, v) = chat(gw, &old, ask("gpt-4o-mini", None, "hello")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(mock.requests().len(), before + 1);
    assert_eq!(secrets_of(gw, "acme").await, 2);
    old
}

/// The new owner of the slug sees and can use none of it (`mock` is the old tenant's upstream).
async fn new_owner_inherits_nothing(gw: &Gateway, mock: &layerr_mock::MockServer, key: &str) {
    let (s, v) = call(gw, "GET", "/api/providers", key, None).await;
    assert_eq!(s, 200, "{v}");
    assert!(ids(&v).is_empty(), "{v}");
    for id in ["acme.private", "acme-managed"] {
        let (s, v) = call(gw, "GET", &format!("/api/providers/{id}"), key, None).await;
        assert_error(s, &v, 404, "NOT_FOUND");
    }
    let (s, v) = call(gw, "GET", "/api/strategies/acme.mine", key, None).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let (s, v) = call(gw, "GET", "/api/strategies", key, None).await;
    assert_eq!(s, 200);
    assert_eq!(ids(&v), ["cost", "speed", "quality", "balanced"], "{v}");
    let (_, v) = call(gw, "GET", "/api/workspaces/acme/strategy", key, None).await;
    assert_eq!(v["data"]["strategy"], "balanced", "{v}");
    let (s, _, v) = chat(gw, key, ask("layerr-auto", Some("acme.mine"), "hello")).await;
    assert_error(s, &v, 400, "INVALID_STRATEGY");

    // No request is served through the old tenant's providers or with their keys.
    let before = mock.requests().len();
    for model in ["gpt-4o-mini", "gpt-4o", "layerr-auto"] {
        let (s, _, v) = chat(gw, key, ask(model, None, "hello")).await;
        assert_ne!(s, 200, "{model}: {v}");
    }
    assert_eq!(mock.requests().len(), before, "an upstream was called");
    // The admin view has forgotten them too.
    let (_, v) = gw.admin("GET", "/api/providers", None).await;
    assert!(ids(&v).is_empty(), "{v}");
    // Nothing the old tenant stored stays loaded.
    let loaded = gw.started.state.hot.credential_ids();
    assert!(loaded.is_empty(), "{loaded:?}");
}

on_both_stores!(a_recreated_slug_inherits_nothing);
async fn a_recreated_slug_inherits_nothing(kind: Kind) {
    let (gw, config) = start_allowing_loopback(kind).await;
    let mock = layerr_mock::spawn().await;
    let own = layerr_mock::spawn().await;
    old_tenant(&gw, &mock).await;

    let (s, v) = gw.admin("DELETE", "/api/workspaces/acme", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["removed"], json!({"providers": 2, "strategies": 1}));
    // The stored keys are deleted, not only unreferenced.
    assert_eq!(secrets_of(&gw, "acme").await, 0);
    let removed = events_of(&gw, "acme.private", 2).await;
    let last = removed.last().unwrap();
    assert_eq!((last.event_type.as_str(), &last.body()["reason"]), ("ProviderRemoved", &json!("workspaceDeleted")));

    let new = gw.workspace("acme", "standard").await;
    new_owner_inherits_nothing(&gw, &mock, &new).await;

    // The id is free for the new owner, and what it registers is its own.
    let (s, v) = call(
        &gw,
        "POST",
        "/api/providers",
        &new,
        Some(json!({"id": "private", "name": "Mine", "type": "openai", "baseUrl": format!("{}/v1", own.base_url()),
                    "models": ["gpt-4o-mini"], "apiKey": "sk-new-owner-key-333"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    // A state rebuilt from the feed answers the same.
    let gw = restart(gw, config).await;
    let (_, v) = call(&gw, "GET", "/api/providers", &new, None).await;
    assert_eq!(ids(&v), ["acme.private"]);
    assert_eq!(v["data"][0]["name"], "Mine");
    let old_calls = mock.requests().len();
    let (s, _, v) = chat(&gw, &new, ask("gpt-4o-mini", None, "hello")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((own.requests().len(), mock.requests().len()), (1, old_calls), "served by the new owner's own");
    let (s, v) = call(&gw, "GET", "/api/strategies/acme.mine", &new, None).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    gw.stop().await;
}

on_both_stores!(a_deletion_whose_cascade_never_ran);
/// The deletion is recorded but its cascade never runs (the process died in between): the old
/// life's resources are disowned by the events alone, live and after a rebuild; the new owner can
/// take the ids over; creating the slug again through the API sweeps what is left.
async fn a_deletion_whose_cascade_never_ran(kind: Kind) {
    let (gw, config) = start_allowing_loopback(kind).await;
    let mock = layerr_mock::spawn().await;
    let own = layerr_mock::spawn().await;
    old_tenant(&gw, &mock).await;

    // Straight to the store: a deletion and a new life, with no cascade and no sweep.
    let app = &gw.started.state;
    let ctx = CommandContext { actor: "test".into(), request_id: None, workspace: Some("acme".into()) };
    app.store
        .execute(&app.store.workspaces, "acme", WorkspaceCommand::DeleteWorkspace { at: Utc::now() }, &ctx)
        .await
        .unwrap();
    let create = WorkspaceCommand::CreateWorkspace {
        slug: "acme".into(),
        profile: Profile { name: "acme".into(), description: None },
        tier: Tier::Standard,
        at: Utc::now(),
    };
    app.store.execute(&app.store.workspaces, "acme", create, &ctx).await.unwrap();
    let (s, v) = gw.admin("POST", "/api/workspaces/acme/keys", Some(json!({"name": "new owner"}))).await;
    assert_eq!(s, 201, "{v}");
    let new = v["data"]["key"].as_str().unwrap().to_string();
    new_owner_inherits_nothing(&gw, &mock, &new).await;

    let gw = restart(gw, config.clone()).await;
    new_owner_inherits_nothing(&gw, &mock, &new).await;

    // The new owner registers the id the old life left behind: it supersedes the leftover.
    let (s, v) = call(
        &gw,
        "POST",
        "/api/providers",
        &new,
        Some(json!({"id": "private", "name": "Mine", "type": "openai", "baseUrl": format!("{}/v1", own.base_url()),
                    "models": ["gpt-4o-mini"]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let types: Vec<String> = events_of(&gw, "acme.private", 3).await.iter().map(|e| e.event_type.clone()).collect();
    assert_eq!(types, ["ProviderRegistered", "ProviderRemoved", "ProviderRegistered"]);
    let (s, v) = call(
        &gw,
        "POST",
        "/api/strategies",
        &new,
        Some(json!({"id": "mine", "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["weights"]["quality"], 1.0);

    // Deleted again, this time without a cascade either; creating it through the API sweeps the
    // leftovers (events with the reason, and the stored keys).
    let app = &gw.started.state;
    app.store
        .execute(&app.store.workspaces, "acme", WorkspaceCommand::DeleteWorkspace { at: Utc::now() }, &ctx)
        .await
        .unwrap();
    let (s, v) = gw.admin("POST", "/api/workspaces", Some(json!({"slug": "acme"}))).await;
    assert_eq!(s, 201, "{v}");
    let newest = v["data"]["apiKey"]["key"].as_str().unwrap().to_string();
    assert_eq!(secrets_of(&gw, "acme").await, 0);
    let managed = events_of(&gw, "acme-managed", 2).await;
    let last = managed.last().unwrap();
    assert_eq!((last.event_type.as_str(), &last.body()["reason"]), ("ProviderRemoved", &json!("workspaceDeleted")));
    new_owner_inherits_nothing(&gw, &mock, &newest).await;
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Credentials in base URLs
// ---------------------------------------------------------------------------------------------

on_both_stores!(credentials_in_base_urls_are_refused_and_old_ones_redacted);
async fn credentials_in_base_urls_are_refused_and_old_ones_redacted(kind: Kind) {
    let (gw, config) = start_allowing_loopback(kind).await;
    let ws = gw.workspace("acme", "standard").await;
    for url in [
        "https://user:sk-planted-secret-1@api.example.com/v1",
        "https://sk-planted-secret-1@api.example.com/v1",
        "https://api.example.com/v1?api_key=sk-planted-secret-1",
        "https://api.example.com/v1?key=sk-planted-secret-1",
        "https://api.example.com/v1?x=1&access_token=sk-planted-secret-1",
    ] {
        let body = json!({"id": "leaky", "name": "Leaky", "type": "openai-compatible", "baseUrl": url});
        let (s, v) = gw.admin("POST", "/api/providers", Some(body.clone())).await;
        let err = assert_error(s, &v, 400, "VALIDATION_ERROR");
        assert_eq!(err["param"], "baseUrl", "{url}");
        assert!(err["message"].as_str().unwrap().contains("apiKey"), "{err}");
        assert!(!v.to_string().contains("sk-planted"), "{v}");
        let (s, v) = call(&gw, "POST", "/api/providers", &ws, Some(body)).await;
        assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "baseUrl");
    }
    let (s, v) = gw
        .admin(
            "POST",
            "/api/providers",
            Some(json!({"id": "ok", "name": "Ok", "type": "openai-compatible", "baseUrl": "https://api.example.com/v1?api-version=2024-06-01"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = gw
        .admin("PATCH", "/api/providers/ok", Some(json!({"baseUrl": "https://u:sk-planted-secret-1@api.example.com"})))
        .await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "baseUrl");
    // Nothing refused reached the store.
    let count = match kind {
        Kind::Sqlite => "SELECT COUNT(*) FROM events WHERE payload LIKE '%sk-planted%'",
        Kind::Postgres => "SELECT COUNT(*) FROM events WHERE payload::text LIKE '%sk-planted%'",
    };
    let planted: i64 = sqlx::query_scalar(count).fetch_one(&gw.started.state.store.db.any).await.unwrap();
    assert_eq!(planted, 0);

    // A global provider stored before the rule, with a key in its URL (written as a 1.0 event).
    let payload = json!({"ProviderRegistered": {"id": "legacy", "settings": {
        "name": "Legacy", "type": "openai-compatible",
        "baseUrl": "https://svc:sk-legacy-secret-9@api.example.com/v1?api_key=sk-legacy-secret-9&region=eu",
        "models": ["m"], "status": "active", "workspace": null, "credential": null}, "at": "2026-01-01T00:00:00Z"}})
    .to_string();
    let sql = match kind {
        Kind::Sqlite => "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                         VALUES ('Provider', 'legacy', 1, 'ProviderRegistered', '1.0', $1, '{\"actor\":\"env-admin\"}')",
        Kind::Postgres => "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                         VALUES ('Provider', 'legacy', 1, 'ProviderRegistered', '1.0', $1::json, '{\"actor\":\"env-admin\"}')",
    };
    sqlx::query(sql).bind(payload).execute(&gw.started.state.store.db.any).await.unwrap();
    let gw = restart(gw, config).await;
    let (s, v) = call(&gw, "GET", "/api/providers/legacy", &ws, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["baseUrl"], "https://***@api.example.com/v1?api_key=***&region=eu");
    let (_, v) = call(&gw, "GET", "/api/providers", &ws, None).await;
    assert!(!v.to_string().contains("sk-legacy"), "{v}");
    let audit = gw
        .wait_for_audit("?action=ProviderRegistered", |v| {
            v["data"].as_array().is_some_and(|a| a.iter().any(|e| e["aggregateId"] == "legacy"))
        })
        .await;
    assert!(!audit.to_string().contains("sk-legacy"), "{audit}");
    assert!(audit.to_string().contains("https://***@api.example.com/v1?api_key=***&region=eu"), "{audit}");
    // A command on it loads the 1.0 event through the same upcaster the read models use (the
    // fix its owner is told to make: the key out of the URL).
    let (s, v) =
        gw.admin("PATCH", "/api/providers/legacy", Some(json!({"baseUrl": "https://api.example.com/v1"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["baseUrl"], "https://api.example.com/v1");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Egress
// ---------------------------------------------------------------------------------------------

on_both_stores!(workspace_keys_cannot_point_providers_at_private_addresses);
async fn workspace_keys_cannot_point_providers_at_private_addresses(kind: Kind) {
    // The default policy.
    let gw = Gateway::start(kind).await;
    let mock = layerr_mock::spawn().await;
    let port = mock.addr().port();
    let ws = gw.workspace("acme", "standard").await;
    for url in [
        format!("http://127.0.0.1:{port}/v1"),
        format!("http://localhost:{port}/v1"),
        format!("http://[::1]:{port}/v1"),
        format!("http://2130706433:{port}/v1"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.7:8000/v1".to_string(),
        "http://192.168.1.10/v1".to_string(),
        "http://100.64.0.1/v1".to_string(),
        "http://[fd00::1]/v1".to_string(),
        "http://0.0.0.0:8000/v1".to_string(),
    ] {
        let (s, v) = call(
            &gw,
            "POST",
            "/api/providers",
            &ws,
            Some(json!({"id": "probe", "name": "Probe", "type": "openai-compatible", "baseUrl": url})),
        )
        .await;
        let err = assert_error(s, &v, 400, "VALIDATION_ERROR");
        assert_eq!(err["param"], "baseUrl", "{url}: {v}");
        assert!(err["message"].as_str().unwrap().contains("egress"), "{err}");
    }
    // Ollama's default base URL is the gateway host's own port.
    let (s, v) = call(&gw, "POST", "/api/providers", &ws, Some(json!({"name": "Local", "type": "ollama"}))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "baseUrl");
    assert!(mock.requests().is_empty(), "an upstream was called");

    // An admin's URL is the operator's word; a workspace key may not re-point it.
    let (s, v) = gw
        .admin(
            "POST",
            "/api/providers",
            Some(
                json!({"id": "lan", "name": "LAN", "type": "openai", "baseUrl": format!("http://127.0.0.1:{port}/v1"),
                        "models": ["gpt-4o-mini"], "workspace": "acme"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["egress"]["urlSetBy"], "admin");
    let (s, v) = call(&gw, "POST", "/api/providers/lan/test", &ws, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["result"]["ok"], true);
    let (s, v) =
        call(&gw, "PATCH", "/api/providers/lan", &ws, Some(json!({"baseUrl": "http://169.254.169.254/v1"}))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "baseUrl");
    let (s, v) = call(&gw, "PATCH", "/api/providers/lan", &ws, Some(json!({"name": "renamed"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["egress"]["urlSetBy"], "admin", "a rename keeps the admin's URL");

    // Discover with a workspace key probes none of the gateway host's ports and refuses to probe
    // a private address it names.
    let calls = mock.requests().len();
    let (s, v) = call(&gw, "GET", "/api/providers/discover", &ws, None).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"].as_array().unwrap().iter().all(|d| !d["baseUrl"].as_str().unwrap().contains("127.0.0.1")), "{v}");
    let (s, v) = call(&gw, "GET", &format!("/api/providers/discover?urls={}", mock.base_url()), &ws, None).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "urls");
    assert_eq!(mock.requests().len(), calls, "discover reached the loopback mock");
    // An admin still discovers local servers.
    let (s, v) = gw.admin("GET", &format!("/api/providers/discover?urls={}", mock.base_url()), None).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["data"].as_array().unwrap().iter().any(|d| d["reachable"] == true), "{v}");
    gw.stop().await;
}

on_both_stores!(a_tightened_policy_applies_to_providers_already_registered);
/// Providers a workspace key pointed at loopback while the operator allowed it (or before the
/// policy existed) are held to the policy once it is tightened: an IP literal is not routed to,
/// a host name is refused when the connection is made (what also stops DNS rebinding), and a test
/// is refused before any call.
async fn a_tightened_policy_applies_to_providers_already_registered(kind: Kind) {
    let backing = common::backing(kind).await;
    let mut config = common::config_for(&backing);
    config.egress.allow_private = true;
    let gw = Gateway::start_with(backing, config.clone()).await;
    let mock = layerr_mock::spawn().await;
    let port = mock.addr().port();
    let ws = gw.workspace("acme", "standard").await;
    for (id, host, model) in [("literal", "127.0.0.1", "gpt-4o-mini"), ("named", "localhost", "gpt-4o")] {
        let (s, v) = call(
            &gw,
            "POST",
            "/api/providers",
            &ws,
            Some(json!({"id": id, "name": id, "type": "openai", "baseUrl": format!("http://{host}:{port}/v1"),
                        "models": [model], "apiKey": "sk-test"})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let (s, _, v) = chat(&gw, &ws, ask(model, None, "hello")).await;
        assert_eq!(s, 200, "allowed while the operator allows it: {v}");
    }

    config.egress.allow_private = false;
    let gw = restart(gw, config).await;
    let calls = mock.requests().len();
    for (id, model) in [("acme.literal", "gpt-4o-mini"), ("acme.named", "gpt-4o")] {
        let (s, v) = call(&gw, "POST", &format!("/api/providers/{id}/test"), &ws, None).await;
        assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "baseUrl", "{id}");
        let (s, _, v) = chat(&gw, &ws, ask(model, None, "hello")).await;
        assert_ne!(s, 200, "{id}: {v}");
    }
    assert_eq!(mock.requests().len(), calls, "a refused destination was called");
    let (_, v) = call(&gw, "GET", "/api/providers/acme.literal", &ws, None).await;
    assert!(v["data"]["egress"]["refused"].as_str().unwrap().contains("loopback"), "{v}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Id namespaces
// ---------------------------------------------------------------------------------------------

on_both_stores!(ids_are_per_workspace_and_conflicts_reveal_nothing);
async fn ids_are_per_workspace_and_conflicts_reveal_nothing(kind: Kind) {
    let (gw, _) = start_allowing_loopback(kind).await;
    let mock = layerr_mock::spawn().await;
    let base = format!("{}/v1", mock.base_url());
    let acme = gw.workspace("acme", "standard").await;
    let beta = gw.workspace("beta", "standard").await;
    let provider =
        |id: &str| json!({"id": id, "name": id, "type": "openai", "baseUrl": base, "models": ["gpt-4o-mini"]});
    let strategy = |id: &str| json!({"id": id, "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}});

    // What beta is told about "acme.shared" is the same before and after acme creates it.
    let before = probe(&gw, &beta, &base).await;

    for key in [&acme, &beta] {
        let (s, v) = call(&gw, "POST", "/api/providers", key, Some(provider("shared"))).await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = call(&gw, "POST", "/api/strategies", key, Some(strategy("shared"))).await;
        assert_eq!(s, 201, "{v}");
    }
    let after = probe(&gw, &beta, &base).await;
    assert_eq!(before, after, "beta learns nothing about acme's ids");
    assert_eq!(after[0], (400, json!("VALIDATION_ERROR"), json!("id")));
    assert_eq!(after[2].0, 404);
    assert_eq!(after[2].1, json!("NOT_FOUND"));
    assert_eq!(after[6], (400, json!("VALIDATION_ERROR"), json!("constraints.allowedProviders")));

    // Each sees its own; a conflict arises only with what the caller can see.
    let (_, v) = call(&gw, "GET", "/api/providers", &acme, None).await;
    assert_eq!(ids(&v), ["acme.shared"]);
    let (_, v) = call(&gw, "GET", "/api/providers", &beta, None).await;
    assert_eq!(ids(&v), ["beta.shared"]);
    let (s, v) = call(&gw, "POST", "/api/providers", &acme, Some(provider("shared"))).await;
    assert_error(s, &v, 409, "CONFLICT");
    let (s, v) = call(&gw, "POST", "/api/strategies", &acme, Some(strategy("shared"))).await;
    assert_error(s, &v, 409, "CONFLICT");
    // Both serve their own workspace's requests.
    for key in [&acme, &beta] {
        let (s, _, v) = chat(&gw, key, ask("gpt-4o-mini", None, "hello")).await;
        assert_eq!(s, 200, "{v}");
    }
    // Global ids are bare names; a qualified id belongs to its workspace.
    let (s, v) = gw.admin("POST", "/api/providers", Some(provider("acme.global"))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "id");
    let (s, v) = gw.admin("GET", "/api/strategies/beta.shared", None).await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}

/// Everything beta can do with the id "acme.shared": (status, code, param) of each answer.
async fn probe(gw: &Gateway, beta: &str, base: &str) -> Vec<(u16, Value, Value)> {
    let provider =
        json!({"id": "acme.shared", "name": "x", "type": "openai", "baseUrl": base, "models": ["gpt-4o-mini"]});
    let strategy = json!({"id": "acme.shared", "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}});
    let pinned = json!({"id": "pin", "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0},
                        "constraints": {"allowedProviders": ["acme.shared"]}});
    let answers = [
        call(gw, "POST", "/api/providers", beta, Some(provider)).await,
        call(gw, "POST", "/api/strategies", beta, Some(strategy)).await,
        call(gw, "GET", "/api/strategies/acme.shared", beta, None).await,
        call(gw, "GET", "/api/providers/acme.shared", beta, None).await,
        call(gw, "PATCH", "/api/strategies/acme.shared", beta, Some(json!({"name": "x"}))).await,
        call(gw, "DELETE", "/api/strategies/acme.shared", beta, None).await,
        call(gw, "POST", "/api/strategies", beta, Some(pinned)).await,
    ];
    answers.into_iter().map(|(s, v)| (s, v["error"]["code"].clone(), v["error"]["param"].clone())).collect()
}
