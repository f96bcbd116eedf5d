//! Black-box tests of a workspace's settings and keys: health, limits (tier and overrides),
//! runtime, restrictions, and API keys issued, listed and revoked. Everything goes over HTTP
//! against a real gateway; the assertions are what a client sees: status, envelope, error code,
//! headers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::resp::{admin, create_ws, send, send_raw};
use common::workspaces::assert_no_secret;
use common::{Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Health, limits, runtime, restrictions
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_health_reports_keys_and_rate_limit_state() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_id, key) = create_ws(&gw, "hl", "free").await;
    let d = admin(&gw, "GET", "/api/workspaces/hl/health", None).await.ok(200, Some("hl")).clone();
    assert_eq!(d["slug"], "hl");
    assert_eq!(d["status"], "healthy");
    assert_eq!(d["keys"], json!({"active": 1, "revoked": 0}));
    assert_eq!(d["rateLimit"]["status"], "ok");
    assert_eq!(d["rateLimit"]["limit"], json!({"requestsPerMinute": 60, "burst": 10}));
    assert_eq!(d["rateLimit"]["usage"]["remainingBurst"], 10);
    assert_eq!(d["runtime"]["fallback"], "relaxed");
    assert_eq!(d["restrictions"]["blockedProviders"], 0);

    // Exhaust the burst with the workspace's key: the admin sees it throttled.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(send(&gw, "GET", "/api/workspaces/hl/runtime", Some(&key), None).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    let d = admin(&gw, "GET", "/api/workspaces/hl/health", None).await.ok(200, Some("hl")).clone();
    assert_eq!(d["rateLimit"]["status"], "throttled", "{d}");
    assert_eq!(d["status"], "degraded", "{d}");
    assert_eq!(d["rateLimit"]["usage"]["remainingBurst"], 0, "{d}");
    let limits = admin(&gw, "GET", "/api/workspaces/hl/limits", None).await.ok(200, Some("hl")).clone();
    assert_eq!(
        limits["usage"]["requestsThisMinute"].as_u64().unwrap()
            + limits["usage"]["rejectedThisMinute"].as_u64().unwrap(),
        11,
        "{limits}"
    );

    // With its only key revoked it has no active keys.
    admin(&gw, "DELETE", &format!("/api/workspaces/hl/keys/{key_id}"), None).await.ok(200, Some("hl"));
    let d = admin(&gw, "GET", "/api/workspaces/hl/health", None).await.ok(200, Some("hl")).clone();
    assert_eq!(d["status"], "no_active_keys");
    assert_eq!(d["keys"], json!({"active": 0, "revoked": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_tier_and_overrides() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "lim", "standard").await;
    let d = admin(&gw, "GET", "/api/workspaces/lim/limits", None).await.ok(200, Some("lim")).clone();
    assert_eq!(d["tier"], "standard");
    assert_eq!(d["effective"], json!({"requestsPerMinute": 300, "burst": 50}));
    assert_eq!(d["overrides"], json!({}));
    assert_eq!(d["usage"], json!({"requestsThisMinute": 0, "rejectedThisMinute": 0, "remainingBurst": 50}));

    let steps = [
        (json!({"tier": "free"}), "free", json!({}), (60, 10)),
        (json!({"tier": "enterprise"}), "enterprise", json!({}), (2000, 200)),
        (json!({"overrides": {"burst": 7}}), "enterprise", json!({"burst": 7}), (2000, 7)),
        (
            json!({"overrides": {"requestsPerMinute": 120}}),
            "enterprise",
            json!({"burst": 7, "requestsPerMinute": 120}),
            (120, 7),
        ),
        (json!({"tier": "free"}), "free", json!({"burst": 7, "requestsPerMinute": 120}), (120, 7)),
        (json!({"overrides": {"burst": null}}), "free", json!({"requestsPerMinute": 120}), (120, 10)),
        (json!({"overrides": {}}), "free", json!({"requestsPerMinute": 120}), (120, 10)),
        (json!({"overrides": {"requestsPerMinute": null}}), "free", json!({}), (60, 10)),
        (json!({}), "free", json!({}), (60, 10)),
    ];
    for (patch, tier, overrides, (rpm, burst)) in steps {
        let r = admin(&gw, "PATCH", "/api/workspaces/lim/limits", Some(patch.clone())).await;
        let d = r.ok(200, Some("lim")).clone();
        let effective = json!({"requestsPerMinute": rpm, "burst": burst});
        assert_eq!((&d["tier"], &d["overrides"], &d["effective"]), (&json!(tier), &overrides, &effective), "{patch}");
        let got = admin(&gw, "GET", "/api/workspaces/lim/limits", None).await.ok(200, Some("lim")).clone();
        assert_eq!(got["effective"], effective, "{patch}");
        let ws = admin(&gw, "GET", "/api/workspaces/lim", None).await.ok(200, Some("lim")).clone();
        assert_eq!((&ws["tier"], &ws["limits"]["effective"]), (&json!(tier), &effective), "{patch}");
    }

    for (patch, field) in [
        (json!({"tier": "gold"}), Some("tier")),
        (json!({"tier": 1}), Some("tier")),
        (json!({"overrides": {"burst": -1}}), Some("overrides.burst")),
        (json!({"overrides": {"burst": 1.5}}), Some("overrides.burst")),
        (json!({"overrides": {"burst": "5"}}), Some("overrides.burst")),
        (json!({"overrides": {"rpm": 5}}), Some("overrides.rpm")),
        (json!({"overrides": 5}), Some("overrides")),
        (json!({"burst": 5}), Some("burst")),
        (json!({"overrides": {"burst": 0}}), None),
        (json!({"overrides": {"requestsPerMinute": 0}}), None),
        (json!({"overrides": {"burst": 1_000_001}}), None),
        (json!({"overrides": {"requestsPerMinute": 10_000_001}}), None),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/lim/limits", Some(patch.clone())).await;
        match field {
            Some(f) => {
                r.invalid_field(f);
            }
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/lim/limits", None).await.ok(200, Some("lim")).clone();
    assert_eq!((&d["tier"], &d["overrides"]), (&json!("free"), &json!({})), "refused patches change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_nested_patch_and_invalid_combinations() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "rt", "standard").await;
    let d = admin(&gw, "GET", "/api/workspaces/rt/runtime", None).await.ok(200, Some("rt")).clone();
    assert_eq!(
        d,
        json!({
            "timeouts": {"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 120000},
            "retries": {"maxAttempts": 2, "backoffBaseMs": 100, "backoffMaxMs": 2000},
            "fallback": "relaxed",
            "contentCapture": "metadata"
        })
    );

    let r = admin(&gw, "PATCH", "/api/workspaces/rt/runtime", Some(json!({"timeouts": {"totalMs": 60000}}))).await;
    assert_eq!(r.ok(200, Some("rt"))["timeouts"], json!({"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 60000}));
    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/rt/runtime",
        Some(json!({"retries": {"maxAttempts": 5}, "fallback": "strict", "contentCapture": "full"})),
    )
    .await;
    let want = json!({
        "timeouts": {"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 60000},
        "retries": {"maxAttempts": 5, "backoffBaseMs": 100, "backoffMaxMs": 2000},
        "fallback": "strict",
        "contentCapture": "full"
    });
    assert_eq!(r.ok(200, Some("rt")), &want);

    for (patch, field) in [
        // Invalid combinations and ranges.
        (json!({"timeouts": {"connectMs": 70000}}), None),
        (json!({"timeouts": {"firstTokenMs": 60001}}), None),
        (json!({"timeouts": {"totalMs": 4000}}), None),
        (json!({"timeouts": {"totalMs": 0}}), None),
        (json!({"timeouts": {"totalMs": 3_600_001}}), None),
        (json!({"timeouts": {"connectMs": 0}}), None),
        (json!({"retries": {"maxAttempts": 0}}), None),
        (json!({"retries": {"maxAttempts": 11}}), None),
        (json!({"retries": {"backoffBaseMs": 3000}}), None),
        (json!({"retries": {"backoffBaseMs": 60001, "backoffMaxMs": 600000}}), None),
        (json!({"retries": {"backoffMaxMs": 600001}}), None),
        // Wrong types and unknown fields, nested too.
        (json!({"timeouts": {"bogus": 1}}), Some("timeouts.bogus")),
        (json!({"timeouts": {"totalMs": "60000"}}), Some("timeouts.totalMs")),
        (json!({"timeouts": {"totalMs": -1}}), Some("timeouts.totalMs")),
        (json!({"timeouts": 5}), Some("timeouts")),
        (json!({"retries": {"maxAttempts": true}}), Some("retries.maxAttempts")),
        (json!({"retries": {"jitter": true}}), Some("retries.jitter")),
        (json!({"fallback": "sometimes"}), Some("fallback")),
        (json!({"contentCapture": "all"}), Some("contentCapture")),
        (json!({"strategy": "quality"}), Some("strategy")),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/rt/runtime", Some(patch.clone())).await;
        match field {
            Some(f) => {
                r.invalid_field(f);
            }
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/rt/runtime", None).await.ok(200, Some("rt")).clone();
    assert_eq!(d, want, "refused patches change nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restrictions_lists_replace_and_validate() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "rs", "standard").await;
    let empty = json!({"allowedProviders": [], "blockedProviders": [], "allowedModels": [], "blockedModels": []});
    assert_eq!(admin(&gw, "GET", "/api/workspaces/rs/restrictions", None).await.ok(200, Some("rs")), &empty);

    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/rs/restrictions",
        Some(json!({"allowedProviders": ["openai", "anthropic"], "blockedModels": ["gpt-3.5"]})),
    )
    .await;
    let want = json!({"allowedProviders": ["openai", "anthropic"], "blockedProviders": [], "allowedModels": [], "blockedModels": ["gpt-3.5"]});
    assert_eq!(r.ok(200, Some("rs")), &want);
    // A list given replaces the old one; lists not given stay.
    let r = admin(&gw, "PATCH", "/api/workspaces/rs/restrictions", Some(json!({"allowedProviders": ["ollama"]}))).await;
    let want = json!({"allowedProviders": ["ollama"], "blockedProviders": [], "allowedModels": [], "blockedModels": ["gpt-3.5"]});
    assert_eq!(r.ok(200, Some("rs")), &want);

    let many: Vec<String> = (0..501).map(|i| format!("m{i}")).collect();
    for (patch, field) in [
        (json!({"blockedProviders": ["ollama"]}), None),
        (json!({"allowedModels": ["m", "m"]}), None),
        (json!({"allowedModels": ["  "]}), None),
        (json!({"allowedModels": [""]}), None),
        (json!({"blockedModels": ["x".repeat(201)]}), None),
        (json!({"blockedModels": many}), None),
        (json!({"allowedModels": ["a"], "blockedModels": ["a"]}), None),
        (json!({"allowedProviders": "openai"}), Some("allowedProviders")),
        (json!({"allowedModels": [1]}), Some("allowedModels[0]")),
        (json!({"blockedModel": ["x"]}), Some("blockedModel")),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/rs/restrictions", Some(patch.clone())).await;
        match field {
            Some(f) => {
                r.invalid_field(f);
            }
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    assert_eq!(admin(&gw, "GET", "/api/workspaces/rs/restrictions", None).await.ok(200, Some("rs")), &want);
    let r = admin(
        &gw,
        "PATCH",
        "/api/workspaces/rs/restrictions",
        Some(json!({"allowedProviders": [], "blockedModels": []})),
    )
    .await;
    assert_eq!(r.ok(200, Some("rs")), &empty);
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_issue_list_and_revoke() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (first_id, first) = create_ws(&gw, "keys", "enterprise").await;
    let (other_id, other) = create_ws(&gw, "other", "enterprise").await;

    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": "ci"}))).await;
    let k = r.ok(201, Some("keys")).clone();
    let ci = k["key"].as_str().unwrap().to_string();
    let ci_id = k["id"].as_str().unwrap().to_string();
    assert!(ci.starts_with("lyr_") && ci != first, "{k}");
    assert_eq!((k["name"].as_str(), k["workspace"].as_str()), (Some("ci"), Some("keys")));
    assert_eq!(k["prefix"].as_str().unwrap(), &ci[..12]);
    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({}))).await;
    let unnamed = r.ok(201, Some("keys")).clone();
    assert_eq!(unnamed["name"], "default");
    send(&gw, "GET", "/api/workspaces/keys", Some(&ci), None).await.ok(200, Some("keys"));

    // The list: ids, names, prefixes and status; never a key or a hash.
    let r = admin(&gw, "GET", "/api/workspaces/keys/keys", None).await;
    let list = r.ok(200, Some("keys")).as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    let ids: Vec<_> = list.iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [first_id.as_str(), ci_id.as_str(), unnamed["id"].as_str().unwrap()]);
    for k in &list {
        assert_eq!(k["status"], "active");
        assert_eq!(k["workspace"], "keys");
        assert_eq!(k["revokedAt"], Value::Null);
        assert!(k["prefix"].as_str().unwrap().starts_with("lyr_"), "{k}");
        assert!(k["createdAt"].as_str().is_some(), "{k}");
        assert!(k.get("key").is_none() && k.get("hash").is_none(), "{k}");
    }
    for key in [first.as_str(), ci.as_str(), unnamed["key"].as_str().unwrap()] {
        assert_no_secret(&r.text(), key);
    }

    // Revocation takes effect for the very next request.
    let r = admin(&gw, "DELETE", &format!("/api/workspaces/keys/keys/{ci_id}"), None).await;
    let d = r.ok(200, Some("keys")).clone();
    assert_eq!((d["id"].as_str(), d["status"].as_str()), (Some(ci_id.as_str()), Some("revoked")));
    assert!(d["revokedAt"].as_str().is_some(), "{d}");
    assert!(d.get("key").is_none() && d.get("hash").is_none(), "{d}");
    send(&gw, "GET", "/api/workspaces/keys", Some(&ci), None).await.err(401, "UNAUTHORIZED");
    send(&gw, "GET", "/api/workspaces/keys", Some(&first), None).await.ok(200, Some("keys"));
    let list = admin(&gw, "GET", "/api/workspaces/keys/keys", None).await;
    let list = list.ok(200, Some("keys")).as_array().unwrap().clone();
    let status: Vec<_> = list.iter().map(|k| (k["id"].as_str().unwrap(), k["status"].as_str().unwrap())).collect();
    assert!(
        status.contains(&(ci_id.as_str(), "revoked")) && status.contains(&(first_id.as_str(), "active")),
        "{status:?}"
    );

    // Revoking twice is harmless; unknown ids and other workspaces' keys are not found here.
    admin(&gw, "DELETE", &format!("/api/workspaces/keys/keys/{ci_id}"), None).await.ok(200, Some("keys"));
    send(&gw, "GET", "/api/workspaces/keys", Some(&ci), None).await.err(401, "UNAUTHORIZED");
    admin(&gw, "DELETE", "/api/workspaces/keys/keys/key_nope", None).await.err(404, "NOT_FOUND");
    admin(&gw, "DELETE", &format!("/api/workspaces/keys/keys/{other_id}"), None).await.err(404, "NOT_FOUND");
    send(&gw, "GET", "/api/workspaces/other", Some(&other), None).await.ok(200, Some("other"));

    // Bad key bodies.
    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": 5}))).await;
    r.invalid_field("name");
    let r = admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": "k", "scope": "all"}))).await;
    r.invalid_field("scope");
    admin(&gw, "POST", "/api/workspaces/keys/keys", Some(json!({"name": "k".repeat(101)})))
        .await
        .err(400, "VALIDATION_ERROR");
    send_raw(&gw, "POST", "/api/workspaces/keys/keys", Some(ADMIN_KEY), "{").await.err(400, "VALIDATION_ERROR");
    let list = admin(&gw, "GET", "/api/workspaces/keys/keys", None).await;
    assert_eq!(list.ok(200, Some("keys")).as_array().unwrap().len(), 3, "refused requests issue no key");

    // The body is optional: none at all issues a key named "default".
    let r = send(&gw, "POST", "/api/workspaces/keys/keys", Some(ADMIN_KEY), None).await;
    let k = r.ok(201, Some("keys")).clone();
    assert_eq!(k["name"], "default");
    send(&gw, "GET", "/api/workspaces/keys", k["key"].as_str(), None).await.ok(200, Some("keys"));
}

// ---------------------------------------------------------------------------------------------
