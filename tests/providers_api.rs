//! Provider and strategy management through the API: scoping, write-only credentials,
//! rotation, the connectivity test, health from real traffic, discovery, the capability matrix,
//! custom strategies used by the router, workspace default strategies and calibration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::{assert_error, Gateway, Kind, ADMIN_KEY};
use layerr_mock::Behavior;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_scoped_and_their_credentials_write_only() {
    let backing = common::backing(Kind::Sqlite).await;
    let mut config = common::config_for(&backing);
    // A workspace key registers a provider on the mock upstream, which listens on loopback: the
    // egress policy refuses that unless the operator allows it, as here.
    config.egress.allow_cidrs = vec!["127.0.0.1/32".into()];
    let gw = Gateway::start_with(backing, config).await;
    let mock = layerr_mock::spawn().await;
    let base = format!("{}/v1", mock.base_url());
    let ws_key = gw.workspace("acme", "standard").await;
    let other_key = gw.workspace("other", "standard").await;

    let (s, v) = gw.admin("POST",
        "/api/providers",
        Some(json!({"id": "openai-prod", "name": "OpenAI", "type": "openai", "baseUrl": base, "models": ["gpt-4o"], "apiKey": "sk-live-abcdef123456"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let text = v.to_string();
    assert!(!text.contains("sk-live-abcdef123456"), "{text}");
    assert_eq!(v["data"]["credential"]["configured"], true);
    let fp1 = v["data"]["credential"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(v["data"]["health"]["status"], "unknown");

    // A workspace key adds a provider scoped to itself (its id qualified by the workspace); the
    // other workspace cannot see it.
    let (s, _, v) = gw
        .call(
            "POST",
            "/api/providers",
            Some(&ws_key),
            Some(json!({"id": "acme-local", "name": "Acme local", "type": "ollama", "baseUrl": mock.base_url(), "models": ["llama3.1:8b"]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["workspace"], "acme");
    assert_eq!(v["data"]["id"], "acme.acme-local");
    assert_eq!(v["data"]["egress"]["urlSetBy"], "workspace");
    let (_, _, v) = gw.call("GET", "/api/providers", Some(&other_key), None).await;
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["openai-prod"]);
    let (s, _, v) = gw.call("GET", "/api/providers/acme.acme-local", Some(&other_key), None).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let (s, _, v) = gw.call("PATCH", "/api/providers/openai-prod", Some(&ws_key), Some(json!({"name": "mine"}))).await;
    assert_error(s, &v, 403, "FORBIDDEN");
    let (s, _, v) = gw.call("DELETE", "/api/providers/openai-prod", Some(&ws_key), None).await;
    assert_error(s, &v, 403, "FORBIDDEN");

    // Rotation: a new fingerprint, never the key.
    let (s, v) = gw.admin("PATCH", "/api/providers/openai-prod", Some(json!({"apiKey": "sk-live-rotated-999"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["data"]["credential"]["fingerprint"], fp1.as_str());
    assert!(!v.to_string().contains("sk-live-rotated-999"));

    // Bad input.
    let (s, v) = gw.admin("POST", "/api/providers", Some(json!({"name": "x", "type": "cohere"}))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "type");
    let (s, v) = gw.admin("POST", "/api/providers", Some(json!({"name": "x", "type": "openai-compatible"}))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "baseUrl");
    let (s, v) = gw.admin("POST", "/api/providers", Some(json!({"name": "x", "type": "openai", "secret": 1}))).await;
    assert_eq!(assert_error(s, &v, 400, "VALIDATION_ERROR")["param"], "secret");
    let (s, v) =
        gw.admin("POST", "/api/providers", Some(json!({"id": "openai-prod", "name": "dup", "type": "openai"}))).await;
    assert_error(s, &v, 409, "CONFLICT");

    // The audit trail shows the credential change by fingerprint only.
    let audit = gw
        .wait_for_audit("?action=ProviderCredentialChanged", |v| v["data"].as_array().is_some_and(|a| !a.is_empty()))
        .await;
    let t = audit.to_string();
    assert!(!t.contains("sk-live") && t.contains("fingerprint"), "{t}");

    let (s, v) = gw.admin("DELETE", "/api/providers/openai-prod", None).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = gw.admin("GET", "/api/providers/openai-prod", None).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_health_discover_and_capabilities_use_real_calls() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    let (s, v) = gw.admin("POST",
        "/api/providers",
        Some(json!({"id": "oa", "name": "OA", "type": "openai", "baseUrl": format!("{}/v1", mock.base_url()), "models": ["gpt-4o-mini", "my-finetune"]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");

    let (s, v) = gw.admin("POST", "/api/providers/oa/test", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["result"]["ok"], true);
    assert_eq!(mock.requests().len(), 1, "a real call reached the upstream");
    mock.push(Behavior::status(503));
    let (_, v) = gw.admin("POST", "/api/providers/oa/test", Some(json!({"model": "gpt-4o-mini"}))).await;
    assert_eq!(v["data"]["result"]["ok"], false);
    assert_eq!(v["data"]["result"]["errorKind"], "server");

    let (s, v) = gw.admin("GET", "/api/providers/oa/health", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["health"]["requests"], 2);
    assert_eq!(v["data"]["health"]["errorRate"], 0.5);
    assert!(v["data"]["health"]["latencyP50"].as_u64().is_some());
    assert_eq!(v["data"]["lastTest"]["outcome"]["ok"], false);

    let (s, v) = gw.admin("GET", &format!("/api/providers/discover?urls={}", mock.base_url()), None).await;
    assert_eq!(s, 200, "{v}");
    let found: Vec<&Value> = v["data"].as_array().unwrap().iter().filter(|d| d["reachable"] == true).collect();
    assert!(found.iter().any(|d| d["type"] == "ollama" && d["baseUrl"] == mock.base_url()), "{v}");
    assert!(found.iter().any(|d| d["type"] == "openai-compatible"), "{v}");
    let (s, v) = gw.admin("GET", "/api/providers/discover?urls=ftp://x", None).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");

    let (s, v) = gw.admin("GET", "/api/providers/capabilities", None).await;
    assert_eq!(s, 200);
    let rows = v["data"]["models"].as_array().unwrap();
    let mini = rows.iter().find(|r| r["model"] == "gpt-4o-mini").unwrap();
    assert_eq!(mini["tools"], true);
    assert!(mini["contextWindow"].as_u64().unwrap() >= 128_000);
    assert!(mini["price"]["inputPerMTokUsd"].as_f64().unwrap() > 0.0);
    let ft = rows.iter().find(|r| r["model"] == "my-finetune").unwrap();
    assert_eq!(ft["catalogued"], false);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_strategies_steer_the_router_and_calibration_is_recorded() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let mock = layerr_mock::spawn().await;
    let base = format!("{}/v1", mock.base_url());
    let (s, v) = gw.admin("POST",
        "/api/providers",
        Some(
            json!({"id": "oa", "name": "OA", "type": "openai", "baseUrl": base, "models": ["gpt-4.1", "gpt-4.1-nano"]}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let chat = |strategy: &'static str| {
        let gw = &gw;
        async move {
            let (s, h, v) = gw
                .call(
                    "POST",
                    "/v1/chat/completions",
                    Some(ADMIN_KEY),
                    Some(json!({"model": "layerr-auto", "messages": [{"role": "user", "content": "Prove that the square root of 2 is irrational"}],
                                "layerr": {"strategy": strategy, "explain": true}})),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            h.get("x-layerr-model").unwrap().to_str().unwrap().to_string()
        }
    };
    assert_eq!(chat("cost").await, "gpt-4.1-nano");
    assert_eq!(chat("quality").await, "gpt-4.1");

    let (s, v) = gw
        .admin(
            "POST",
            "/api/strategies",
            Some(json!({"id": "frugal", "name": "Frugal", "weights": {"quality": 0.0, "speed": 0.0, "cost": 1.0}})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(chat("frugal").await, "gpt-4.1-nano");
    let (s, v) = gw
        .admin("PATCH", "/api/strategies/frugal", Some(json!({"weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(chat("frugal").await, "gpt-4.1", "the change applies to the next request");

    // Constraints: a cost ceiling below every candidate leaves nothing to route to.
    let (s, v) = gw.admin("POST",
        "/api/strategies",
        Some(json!({"id": "tight", "weights": {"quality": 1.0, "speed": 0.0, "cost": 0.0}, "constraints": {"maxCostMicros": 1}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, _, v) = gw
        .call(
            "POST",
            "/v1/chat/completions",
            Some(ADMIN_KEY),
            Some(json!({"model": "layerr-auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 1000, "layerr": {"strategy": "tight"}})),
        )
        .await;
    let err = assert_error(s, &v, 502, "PROVIDER_UNAVAILABLE");
    assert!(err["details"]["candidates"][0]["excluded"].as_str().unwrap().contains("exceeds"), "{err}");

    // The workspace default.
    let (s, v) = gw.admin("PUT", "/api/workspaces/default/strategy", Some(json!({"strategy": "nope"}))).await;
    assert_error(s, &v, 400, "INVALID_STRATEGY");
    let (s, v) = gw.admin("PUT", "/api/workspaces/default/strategy", Some(json!({"strategy": "cost"}))).await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = gw.admin("GET", "/api/workspaces/default/strategy", None).await;
    assert_eq!(v["data"]["strategy"], "cost");
    let (_, h, _) = gw
        .call("POST", "/v1/chat/completions", Some(ADMIN_KEY), Some(json!({"model": "layerr-auto", "messages": [{"role": "user", "content": "hi"}], "layerr": {"explain": true}})))
        .await;
    assert_eq!(h.get("x-layerr-strategy").unwrap(), "cost");

    // Built-ins are listed and fixed; unknown ids are INVALID_STRATEGY.
    let (_, v) = gw.admin("GET", "/api/strategies", None).await;
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cost", "speed", "quality", "balanced", "frugal", "tight"]);
    let (s, v) = gw.admin("PATCH", "/api/strategies/balanced", Some(json!({"name": "x"}))).await;
    assert_error(s, &v, 409, "CONFLICT");
    let (s, v) = gw.admin("GET", "/api/strategies/zzz", None).await;
    assert_error(s, &v, 404, "NOT_FOUND");
    let (s, v) = gw
        .admin("POST", "/api/strategies", Some(json!({"id": "bad", "weights": {"quality": 2, "speed": 0, "cost": 0}})))
        .await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");

    // Calibration recomputes inputs from the recorded attempts above (once the projection has
    // read them) and records them.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let report = loop {
        let (s, v) = gw.admin("POST", "/api/strategies/frugal/calibrate", None).await;
        assert_eq!(s, 200, "{v}");
        let attempts: i64 = v["data"]["calibration"]["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["attempts"].as_i64().unwrap())
            .sum();
        if attempts >= 5 {
            break v["data"]["calibration"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "calibration never saw the traffic: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let models = report["models"].as_array().unwrap();
    assert!(models.iter().all(|m| m["provider"] == "oa" && m["reliability"] == 1.0), "{report}");
    assert!(models.iter().any(|m| m["model"] == "gpt-4.1-nano" && m["meanLatencyMs"].as_f64().is_some()), "{report}");
    let (s, v) = gw.admin("POST", "/api/strategies/frugal/calibrate?days=0", None).await;
    assert_error(s, &v, 400, "VALIDATION_ERROR");
    let audit =
        gw.wait_for_audit("?action=StrategyCalibrated", |v| v["data"].as_array().is_some_and(|a| !a.is_empty())).await;
    assert_eq!(audit["data"][0]["aggregateId"], "frugal");
    let (s, v) = gw.admin("DELETE", "/api/strategies/frugal", None).await;
    assert_eq!(s, 200, "{v}");
    gw.stop().await;
}
