//! `GET /api/admin/tenancy` (issue 15, tenancy diagnostics): per workspace its keys, scoped
//! providers and strategies, the data it holds, its limits and budget, and live isolation
//! self-checks; installation-wide figures; `?workspace=` narrowing; admin only; and no key
//! material, key hash or provider credential anywhere in the answer. The self-checks are shown
//! failing on a real leftover: a deletion whose cascade never ran (the store written directly,
//! as `tests/tenancy_faults.rs` does).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use chrono::{DateTime, Utc};
use common::upstream::{ask, PROVIDER_KEY};
use common::{assert_error, chat, on_both_stores, Gateway, Kind, ADMIN_KEY};
use layerr::store::CommandContext;
use layerr_domain::workspace::types::{Profile, Tier};
use layerr_domain::workspace::WorkspaceCommand;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const OWN_PROVIDER_KEY: &str = "sk-tenancy-acme-own-key-777";

fn of<'a>(v: &'a Value, slug: &str) -> &'a Value {
    v["data"]["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["slug"] == slug)
        .unwrap_or_else(|| panic!("{slug}: {v}"))
}

fn check<'a>(w: &'a Value, name: &str) -> &'a Value {
    w["isolation"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {w}"))
}

async fn tenancy(gw: &Gateway, query: &str) -> Value {
    let (s, v) = gw.admin("GET", &format!("/api/admin/tenancy{query}"), None).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn events_of(gw: &Gateway, slug: &str) -> i64 {
    common::events::all(gw).await.iter().filter(|e| e.meta("workspace") == Some(slug)).count() as i64
}

async fn diagnostics(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let mock = common::upstream::mock_provider(&gw).await;
    let acme = gw.workspace("acme", "standard").await;
    let beta = gw.workspace("beta", "free").await;
    let _gamma = gw.workspace("gamma", "enterprise").await;

    // acme: a second key, revoked; a provider of its own; a custom strategy; a budget.
    let (s, v) = gw.admin("POST", "/api/workspaces/acme/keys", Some(json!({"name": "second"}))).await;
    assert_eq!(s, 201, "{v}");
    let second = v["data"]["key"].as_str().unwrap().to_string();
    let second_id = v["data"]["id"].as_str().unwrap().to_string();
    let (s, v) = gw.admin("DELETE", &format!("/api/workspaces/acme/keys/{second_id}"), None).await;
    assert!((200..300).contains(&s), "{s} {v}");
    let base = format!("{}/v1", mock.base_url());
    let (s, v) = gw
        .admin(
            "POST",
            "/api/providers",
            Some(json!({"id": "acme-own", "name": "Own", "type": "openai", "baseUrl": base,
                        "models": ["gpt-4o-mini"], "apiKey": OWN_PROVIDER_KEY, "workspace": "acme"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, _, v) = gw
        .call(
            "POST",
            "/api/strategies",
            Some(&acme),
            Some(json!({"id": "mine", "weights": {"quality": 0.0, "speed": 0.0, "cost": 1.0}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = gw.admin("PATCH", "/api/economics/budget?workspace=acme", Some(json!({"monthlyBudget": 5.0}))).await;
    assert_eq!(s, 200, "{v}");

    // Requests: two completions and a native chat turn (a conversation) for acme, one for beta.
    for _ in 0..2 {
        let (s, _, v) = chat(&gw, &acme, ask("gpt-4o-mini", None, "hello")).await;
        assert_eq!(s, 200, "{v}");
    }
    let (s, _, v) =
        gw.call("POST", "/api/chat", Some(&acme), Some(json!({"messages": [{"role": "user", "content": "hi"}]}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, _, v) = chat(&gw, &beta, ask("gpt-4o-mini", None, "hello")).await;
    assert_eq!(s, 200, "{v}");
    common::wait::finished_traces(&gw, 4).await;
    let v = common::wait::get(&gw, ADMIN_KEY, "/api/admin/tenancy", |v| {
        let (a, b) = (of(v, "acme"), of(v, "beta"));
        a["data"]["traces"] == 3 && a["data"]["conversations"] == 1 && b["data"]["traces"] == 1
    })
    .await;
    let text = v.to_string();

    // acme, figure by figure.
    let a = of(&v, "acme");
    assert_eq!(a["name"], "acme", "{a}");
    let created: DateTime<Utc> = a["createdAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(a["keys"]["active"], 1, "{a}");
    assert_eq!(a["keys"]["revoked"], 1, "{a}");
    let last: DateTime<Utc> = a["keys"]["lastUsedAt"].as_str().unwrap().parse().unwrap();
    assert!(last >= created && last <= Utc::now(), "{a}");
    assert_eq!(a["providers"], json!(["acme-own"]), "{a}");
    assert_eq!(a["strategies"], json!(["acme.mine"]), "{a}");
    assert_eq!(a["data"]["traces"], 3, "{a}");
    assert_eq!(a["data"]["conversations"], 1, "{a}");
    assert_eq!(a["data"]["events"], events_of(&gw, "acme").await, "{a}");
    assert!(a["data"]["events"].as_i64().unwrap() > 0);
    let (_, lim) = gw.admin("GET", "/api/workspaces/acme/limits", None).await;
    assert_eq!(a["limits"]["tier"], "standard", "{a}");
    assert_eq!(a["limits"]["effective"], lim["data"]["effective"], "{a} {lim}");
    let (_, budget) = gw.admin("GET", "/api/economics/budget?workspace=acme", None).await;
    assert_eq!(a["budget"]["monthlyBudget"], 5.0, "{a}");
    assert_eq!(a["budget"]["spentThisMonth"], budget["data"]["spentThisMonth"], "{a} {budget}");
    assert!(a["budget"]["spentThisMonth"].as_f64().unwrap() > 0.0, "{a}");
    assert_eq!(a["budget"]["reservedInFlight"], 0.0, "{a}");
    assert_eq!(a["budget"]["requestsInFlight"], 0, "{a}");
    assert_eq!(a["isolation"]["passed"], true, "{a}");
    let names: Vec<&str> =
        a["isolation"]["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "keys-resolve-here",
            "providers-own-or-global",
            "strategies-own-or-global",
            "no-earlier-life-resources",
            "traces-current-life",
            "conversations-current-life"
        ]
    );
    assert!(a["isolation"]["checks"].as_array().unwrap().iter().all(|c| c["passed"] == true), "{a}");
    assert_eq!(
        check(a, "keys-resolve-here")["detail"],
        "1 live keys resolve to this workspace only; 1 revoked keys resolve to none"
    );
    // beta sees the global provider and acme's strategy not at all.
    let b = of(&v, "beta");
    assert_eq!((b["keys"]["active"].clone(), b["keys"]["revoked"].clone()), (json!(1), json!(0)), "{b}");
    assert_eq!(b["providers"], json!([]), "{b}");
    assert_eq!(b["strategies"], json!([]), "{b}");
    assert_eq!(b["data"]["traces"], 1, "{b}");
    assert_eq!(b["data"]["conversations"], 0, "{b}");
    assert_eq!(b["limits"]["tier"], "free", "{b}");
    assert_eq!(b["budget"]["monthlyBudget"], Value::Null, "{b}");
    assert_eq!(b["isolation"]["passed"], true, "{b}");
    assert_eq!(check(b, "providers-own-or-global")["detail"], "1 routable providers are this workspace's or global");
    assert_eq!(check(b, "strategies-own-or-global")["detail"], "none of 1 other workspaces' strategies resolves here");
    // gamma: nothing used yet.
    let g = of(&v, "gamma");
    assert_eq!(g["keys"]["lastUsedAt"], Value::Null, "{g}");
    assert_eq!(g["data"], json!({"traces": 0, "conversations": 0, "events": events_of(&gw, "gamma").await}), "{g}");

    // Installation-wide figures.
    let (_, list) = gw.admin("GET", "/api/workspaces", None).await;
    let all = v["data"]["workspaces"].as_array().unwrap();
    assert_eq!(all.len(), list["data"].as_array().unwrap().len(), "{list}");
    let inst = &v["data"]["installation"];
    assert_eq!(inst["workspaces"], all.len(), "{inst}");
    let sum = |f: &dyn Fn(&Value) -> i64| all.iter().map(f).sum::<i64>();
    assert_eq!(inst["keys"]["active"], sum(&|w| w["keys"]["active"].as_i64().unwrap()), "{inst}");
    assert_eq!(inst["keys"]["revoked"], sum(&|w| w["keys"]["revoked"].as_i64().unwrap()), "{inst}");
    assert_eq!(inst["providers"], 2, "{inst}");
    assert_eq!(inst["traces"], 4, "{inst}");
    assert_eq!(inst["traces"], sum(&|w| w["data"]["traces"].as_i64().unwrap()), "{inst}");
    assert_eq!(inst["events"], common::events::all(&gw).await.len(), "{inst}");

    // Ids and figures only: no key, key hash, key prefix or provider credential.
    for secret in [acme.as_str(), second.as_str(), beta.as_str(), PROVIDER_KEY, OWN_PROVIDER_KEY, ADMIN_KEY] {
        assert!(!text.contains(secret), "{secret} in {text}");
        let hash = hex::encode(Sha256::digest(secret.as_bytes()));
        assert!(!text.contains(&hash), "a key hash in {text}");
    }
    assert!(!text.contains("lyr_"), "a key prefix in {text}");

    // Narrowing, and an unknown workspace.
    let one = tenancy(&gw, "?workspace=beta").await;
    assert_eq!(one["meta"]["workspaceId"], "beta", "{one}");
    let slugs: Vec<&str> =
        one["data"]["workspaces"].as_array().unwrap().iter().map(|w| w["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["beta"]);
    assert_eq!(one["data"]["installation"]["workspaces"], all.len(), "{one}");
    let (s, v) = gw.admin("GET", "/api/admin/tenancy?workspace=nope", None).await;
    assert_error(s, &v, 404, "WORKSPACE_NOT_FOUND");

    // Strict query, and admin only.
    let (s, v) = gw.admin("GET", "/api/admin/tenancy?worksapce=beta", None).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let (s, _, v) = gw.call("GET", "/api/admin/tenancy", None, None).await;
    assert_error(s, &v, 401, "UNAUTHORIZED");
    let (s, _, v) = gw.call("GET", "/api/admin/tenancy", Some(&acme), None).await;
    assert_error(s, &v, 403, "FORBIDDEN");
    let (s, _, v) = gw.call("GET", "/api/admin/tenancy", Some(&second), None).await;
    assert_error(s, &v, 401, "UNAUTHORIZED");
    drop(mock);
    gw.stop().await;
}

on_both_stores!(diagnostics);

/// A deletion whose cascade never ran (the process died in between) leaves the old life's
/// provider and strategy in the store: the new life's self-check names them, and passes again
/// once the slug is swept.
async fn a_leftover_fails_its_check(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let old = gw.workspace("acme", "standard").await;
    let (s, v) = gw
        .admin(
            "POST",
            "/api/providers",
            Some(json!({"id": "acme-managed", "name": "Managed", "type": "openai",
                        "baseUrl": "https://api.openai.com/v1", "models": ["gpt-4o"],
                        "apiKey": OWN_PROVIDER_KEY, "workspace": "acme"})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, _, v) = gw
        .call(
            "POST",
            "/api/strategies",
            Some(&old),
            Some(json!({"id": "mine", "weights": {"quality": 0.0, "speed": 0.0, "cost": 1.0}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let before = tenancy(&gw, "?workspace=acme").await;
    assert_eq!(of(&before, "acme")["isolation"]["passed"], true, "{before}");

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

    let v = tenancy(&gw, "?workspace=acme").await;
    let a = of(&v, "acme");
    assert_eq!(a["isolation"]["passed"], false, "{a}");
    let c = check(a, "no-earlier-life-resources");
    assert_eq!(c["passed"], false, "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(detail.contains("provider acme-managed") && detail.contains("strategy acme.mine"), "{c}");
    // The new life shows none of it as its own, and the old key counts for nothing.
    assert_eq!(a["providers"], json!([]), "{a}");
    assert_eq!(a["strategies"], json!([]), "{a}");
    assert_eq!((a["keys"]["active"].clone(), a["keys"]["revoked"].clone()), (json!(0), json!(0)), "{a}");
    assert_eq!(check(a, "keys-resolve-here")["passed"], true, "{a}");
    assert!(!v.to_string().contains(OWN_PROVIDER_KEY) && !v.to_string().contains(&old));
    gw.stop().await;
}

on_both_stores!(a_leftover_fails_its_check);
