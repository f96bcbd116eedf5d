//! Black-box tests of the workspace routes' life cycle (`/api/workspaces`, `/api/workspaces/{slug}`):
//! create (the key shown once, defaults, conflicts, validation), list and paging, get, patch the
//! profile, delete and re-create, a restart that keeps every acknowledged change, and concurrent
//! writers. Everything goes over HTTP against a real gateway; the assertions are what a client
//! sees: status, envelope, error code, headers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::on_both_stores;
use common::resp::{admin, create_ws, send, slugs, snapshot};
use common::workspaces::{assert_no_secret, at_of, has_action, has_field};
use common::{Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Create, list, get
// ---------------------------------------------------------------------------------------------

on_both_stores!(create_returns_the_key_once);
async fn create_returns_the_key_once(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let r = admin(
        &gw,
        "POST",
        "/api/workspaces",
        Some(json!({"slug": "acme", "name": "Acme Corp", "description": "the first", "tier": "enterprise", "keyName": "ci"})),
    )
    .await;
    let d = r.ok(201, Some("acme")).clone();
    assert_eq!(d["slug"], "acme");
    assert_eq!(d["id"], "acme");
    assert_eq!(d["name"], "Acme Corp");
    assert_eq!(d["description"], "the first");
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["limits"]["tier"], "enterprise");
    assert_eq!(d["limits"]["effective"], json!({"requestsPerMinute": 2000, "burst": 200}));
    assert_eq!(d["limits"]["overrides"], json!({}));
    assert_eq!(d["runtime"]["timeouts"], json!({"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 120000}));
    assert_eq!(d["restrictions"]["allowedProviders"], json!([]));
    assert!(d["createdAt"].as_str().is_some() && d["updatedAt"].as_str().is_some(), "{d}");

    let k = &d["apiKey"];
    let key = k["key"].as_str().unwrap().to_string();
    let key_id = k["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("lyr_") && key.len() > 30, "{k}");
    assert_eq!(k["prefix"].as_str().unwrap(), &key[..12]);
    assert_eq!(k["name"], "ci");
    assert_eq!(k["workspace"], "acme");
    assert!(k.get("hash").is_none(), "{k}");

    // The key works at once.
    send(&gw, "GET", "/api/workspaces/acme", Some(&key), None).await.ok(200, Some("acme"));

    // And is never shown again: not by the workspace, the list, the keys, the health or the audit.
    let mut seen = Vec::new();
    for path in ["/api/workspaces/acme", "/api/workspaces", "/api/workspaces/acme/keys", "/api/workspaces/acme/health"]
    {
        for k in [ADMIN_KEY, key.as_str()] {
            let r = send(&gw, "GET", path, Some(k), None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert!(!has_field(&r.body["data"], "key") && !has_field(&r.body["data"], "hash"), "{path}: {}", r.body);
            seen.push(r.text());
        }
    }
    let audit = gw.wait_for_audit("?workspace=acme", |v| has_action(v, "ApiKeyIssued")).await;
    seen.push(audit.to_string());
    for text in &seen {
        assert_no_secret(text, &key);
    }
    let listed = admin(&gw, "GET", "/api/workspaces/acme/keys", None).await;
    let listed = listed.ok(200, Some("acme"));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], key_id.as_str());
    assert_eq!(listed[0]["prefix"].as_str().unwrap(), &key[..12]);
    assert_eq!(listed[0]["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_applies_defaults() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "minimal"}))).await;
    let d = r.ok(201, Some("minimal"));
    assert_eq!(d["name"], "minimal");
    assert_eq!(d["description"], Value::Null);
    assert_eq!(d["tier"], "standard");
    assert_eq!(d["limits"]["effective"], json!({"requestsPerMinute": 300, "burst": 50}));
    assert_eq!(d["apiKey"]["name"], "default");
    // Each tier has the spec's quota.
    for (slug, tier, rpm, burst) in [("t-free", "free", 60, 10), ("t-ent", "enterprise", 2000, 200)] {
        let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": slug, "tier": tier}))).await;
        let d = r.ok(201, Some(slug));
        assert_eq!(d["limits"]["effective"], json!({"requestsPerMinute": rpm, "burst": burst}), "{tier}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_duplicate_slug_is_a_conflict_and_changes_nothing() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "dup", "name": "Original"}))).await;
    let key = r.ok(201, Some("dup"))["apiKey"]["key"].as_str().unwrap().to_string();
    for body in [json!({"slug": "dup", "name": "Impostor", "tier": "free"}), json!({"slug": "default"})] {
        let r = admin(&gw, "POST", "/api/workspaces", Some(body)).await;
        r.err(409, "CONFLICT");
    }
    let r = admin(&gw, "GET", "/api/workspaces/dup", None).await;
    let d = r.ok(200, Some("dup"));
    assert_eq!(d["name"], "Original");
    assert_eq!(d["tier"], "standard");
    // No second key was issued and the first still works.
    let keys = admin(&gw, "GET", "/api/workspaces/dup/keys", None).await;
    assert_eq!(keys.ok(200, Some("dup")).as_array().unwrap().len(), 1);
    send(&gw, "GET", "/api/workspaces/dup", Some(&key), None).await.ok(200, Some("dup"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_rejects_bad_slugs_names_and_tiers() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let too_long = "a".repeat(64);
    for slug in ["", "a", "Upper", "has space", "-lead", "trail-", "under_score", "dot.ted", "sl/ash", "ünï", &too_long]
    {
        let r = admin(&gw, "POST", "/api/workspaces", Some(json!({ "slug": slug }))).await;
        let e = r.err(400, "VALIDATION_ERROR");
        assert!(e["message"].as_str().unwrap().contains("slug"), "{slug:?}: {e}");
    }
    // Bounds that are fine.
    for slug in ["ab".to_string(), "a".repeat(63), "a-1-b".to_string(), "123".to_string()] {
        admin(&gw, "POST", "/api/workspaces", Some(json!({ "slug": slug }))).await.ok(201, Some(&slug));
    }
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t1", "tier": "gold"}))).await;
    r.invalid_field("tier");
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t2", "tier": "Free"}))).await;
    r.invalid_field("tier");
    for name in [json!(""), json!("   "), json!("n".repeat(101))] {
        let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t3", "name": name}))).await;
        r.err(400, "VALIDATION_ERROR");
    }
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "t4", "description": "d".repeat(1001)}))).await;
    r.err(400, "VALIDATION_ERROR");
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"name": "no slug"}))).await;
    let e = r.err(400, "VALIDATION_ERROR");
    assert!(e["message"].as_str().unwrap().contains("slug"), "{e}");

    // None of the refused workspaces exists.
    let list = admin(&gw, "GET", "/api/workspaces", None).await;
    let mut want = vec!["123".to_string(), "a".repeat(63), "a-1-b".into(), "ab".into(), "default".into()];
    want.sort();
    assert_eq!(slugs(list.ok(200, None)), want);
}

/// A refused create must have no effect: a 400 must not leave a workspace behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_an_invalid_key_name_creates_nothing() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "kn", "keyName": "k".repeat(101)}))).await;
    r.err(400, "VALIDATION_ERROR");
    admin(&gw, "GET", "/api/workspaces/kn", None).await.err(404, "WORKSPACE_NOT_FOUND");
    // Retrying with a good name must then succeed, not answer 409.
    admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "kn", "keyName": "ok"}))).await.ok(201, Some("kn"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_with_limit_and_cursor() {
    let gw = Gateway::start(Kind::Sqlite).await;
    for s in ["ws-g", "ws-a", "ws-e", "ws-c", "ws-b", "ws-f", "ws-d"] {
        create_ws(&gw, s, "standard").await;
    }
    let mut all: Vec<String> =
        ["default", "ws-a", "ws-b", "ws-c", "ws-d", "ws-e", "ws-f", "ws-g"].map(String::from).into();
    all.sort();

    // Default page: everything, sorted by slug, no next page.
    let r = admin(&gw, "GET", "/api/workspaces", None).await;
    assert_eq!(slugs(r.ok(200, None)), all);
    assert_eq!(r.body["meta"]["page"], json!({"limit": 50, "nextCursor": null}));

    for limit in [1usize, 3, 7, 8, 500] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/workspaces?limit={limit}&cursor={c}"),
                None => format!("/api/workspaces?limit={limit}"),
            };
            let r = admin(&gw, "GET", &path, None).await;
            let page = slugs(r.ok(200, None));
            assert!(page.len() <= limit, "{path}: {page:?}");
            assert_eq!(r.body["meta"]["page"]["limit"], limit);
            seen.extend(page);
            pages += 1;
            match r.body["meta"]["page"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(pages <= all.len(), "paging does not end");
        }
        assert_eq!(seen, all, "limit {limit}: every workspace once, in order");
        assert_eq!(pages, all.len().div_ceil(limit), "limit {limit}: no empty trailing page");
    }

    // A cursor past the end is an empty page.
    let r = admin(&gw, "GET", "/api/workspaces?cursor=zzz", None).await;
    assert_eq!(r.ok(200, None), &json!([]));
    assert_eq!(r.body["meta"]["page"]["nextCursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_unknown_workspace_is_workspace_not_found() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let r = admin(&gw, "GET", "/api/workspaces/default", None).await;
    let d = r.ok(200, Some("default"));
    assert_eq!(d["slug"], "default");
    assert_eq!(d["tier"], "standard");
    for sub in ["", "/health", "/limits", "/runtime", "/restrictions", "/keys"] {
        let r = admin(&gw, "GET", &format!("/api/workspaces/ghost{sub}"), None).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
        // Slugs are case-sensitive.
        let r = admin(&gw, "GET", &format!("/api/workspaces/DEFAULT{sub}"), None).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
    }
    for (method, sub, body) in [
        ("PATCH", "", json!({"name": "x"})),
        ("PATCH", "/limits", json!({"tier": "free"})),
        ("PATCH", "/runtime", json!({"fallback": "strict"})),
        ("PATCH", "/restrictions", json!({"allowedModels": ["m"]})),
        ("POST", "/keys", json!({"name": "k"})),
    ] {
        let r = admin(&gw, method, &format!("/api/workspaces/ghost{sub}"), Some(body)).await;
        r.err(404, "WORKSPACE_NOT_FOUND");
    }
    admin(&gw, "DELETE", "/api/workspaces/ghost", None).await.err(404, "WORKSPACE_NOT_FOUND");
    admin(&gw, "DELETE", "/api/workspaces/ghost/keys/key_x", None).await.err(404, "WORKSPACE_NOT_FOUND");
    // Nothing was created by any of that.
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)), ["default"]);
}

// ---------------------------------------------------------------------------------------------
// Patch profile, delete
// ---------------------------------------------------------------------------------------------

on_both_stores!(patch_every_setting);
async fn patch_every_setting(kind: Kind) {
    let gw = Gateway::start(kind).await;
    create_ws(&gw, "tune", "standard").await;
    let before = admin(&gw, "GET", "/api/workspaces/tune", None).await.ok(200, Some("tune")).clone();

    // Profile.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = admin(&gw, "PATCH", "/api/workspaces/tune", Some(json!({"name": "Tuned", "description": "desc"}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!((d["name"].as_str(), d["description"].as_str()), (Some("Tuned"), Some("desc")));
    assert_eq!(d["createdAt"], before["createdAt"]);
    assert!(at_of(&json!({"at": d["updatedAt"]})) > at_of(&json!({"at": before["updatedAt"]})), "{d}");
    let r = admin(&gw, "PATCH", "/api/workspaces/tune", Some(json!({"description": null}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!((d["name"].as_str(), &d["description"]), (Some("Tuned"), &Value::Null));
    let r = admin(&gw, "PATCH", "/api/workspaces/tune", Some(json!({}))).await;
    assert_eq!(r.ok(200, Some("tune"))["name"], "Tuned");

    // Limits.
    let r = admin(&gw, "PATCH", "/api/workspaces/tune/limits", Some(json!({"tier": "enterprise"}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["effective"], json!({"requestsPerMinute": 2000, "burst": 200}));

    // Runtime (nested).
    let r = admin(&gw, "PATCH", "/api/workspaces/tune/runtime", Some(json!({"timeouts": {"totalMs": 60000}}))).await;
    let d = r.ok(200, Some("tune"));
    assert_eq!(d["timeouts"], json!({"connectMs": 5000, "firstTokenMs": 30000, "totalMs": 60000}));

    // Restrictions.
    let r =
        admin(&gw, "PATCH", "/api/workspaces/tune/restrictions", Some(json!({"blockedProviders": ["ollama"]}))).await;
    assert_eq!(r.ok(200, Some("tune"))["blockedProviders"], json!(["ollama"]));

    // All of it shows on the workspace.
    let d = admin(&gw, "GET", "/api/workspaces/tune", None).await.ok(200, Some("tune")).clone();
    assert_eq!(d["name"], "Tuned");
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["limits"]["effective"]["burst"], 200);
    assert_eq!(d["runtime"]["timeouts"]["totalMs"], 60000);
    assert_eq!(d["restrictions"]["blockedProviders"], json!(["ollama"]));
}

/// Every change acknowledged before a restart is in force as soon as the gateway serves again:
/// workspaces exist, settings hold, revoked keys stay revoked, deleted workspaces stay deleted.
async fn restart_keeps_every_acknowledged_change(kind: Kind, other_transaction_open: bool) {
    let gw = Gateway::start(kind).await;
    let (early_id, early_key) = create_ws(&gw, "early", "free").await;
    let (_, doomed_key) = create_ws(&gw, "doomed", "free").await;
    // Elsewhere in the Postgres cluster (another database, another application: a report, a
    // backup), a transaction that began before the changes below and is still open.
    let blocker = if other_transaction_open {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&common::pg_url()).await.unwrap();
        sqlx::raw_sql("BEGIN; SELECT pg_current_xact_id();").execute(&mut conn).await.unwrap();
        Some(conn)
    } else {
        None
    };
    create_ws(&gw, "late", "enterprise").await;
    admin(&gw, "PATCH", "/api/workspaces/early/runtime", Some(json!({"fallback": "none"})))
        .await
        .ok(200, Some("early"));
    admin(&gw, "PATCH", "/api/workspaces/late/limits", Some(json!({"overrides": {"burst": 7}})))
        .await
        .ok(200, Some("late"));
    admin(&gw, "DELETE", &format!("/api/workspaces/early/keys/{early_id}"), None).await.ok(200, Some("early"));
    admin(&gw, "DELETE", "/api/workspaces/doomed", None).await.ok(200, Some("doomed"));
    let (early, late) = (snapshot(&gw, "early").await, snapshot(&gw, "late").await);

    let backing = gw.stop().await;
    let config = common::config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    let r = admin(&gw, "GET", "/api/workspaces", None).await;
    assert_eq!(slugs(r.ok(200, None)), ["default", "early", "late"]);
    assert_eq!(snapshot(&gw, "early").await, early);
    assert_eq!(snapshot(&gw, "late").await, late);
    send(&gw, "GET", "/api/workspaces/early", Some(&early_key), None).await.err(401, "UNAUTHORIZED");
    send(&gw, "GET", "/api/workspaces/doomed", Some(&doomed_key), None).await.err(401, "UNAUTHORIZED");
    admin(&gw, "GET", "/api/workspaces/doomed", None).await.err(404, "WORKSPACE_NOT_FOUND");
    if let Some(mut conn) = blocker {
        sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_every_acknowledged_change_sqlite() {
    restart_keeps_every_acknowledged_change(Kind::Sqlite, false).await
}

/// The same on Postgres, made deterministic by holding an unrelated transaction open in the
/// cluster (without it the outcome depends on whatever else runs on the cluster: any open
/// transaction, e.g. a concurrently running test, hides the tail). The feed only returns events of
/// transactions below the cluster-wide snapshot xmin, and `server::start` serves as soon as its
/// catch-up read of that visible part returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_every_acknowledged_change_postgres_with_a_long_transaction_open() {
    restart_keeps_every_acknowledged_change(Kind::Postgres, true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_profile_validates() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "prof", "standard").await;
    for (body, field) in [
        (json!({"name": 5}), Some("name")),
        (json!({"description": ["x"]}), Some("description")),
        (json!({"tier": "free"}), Some("tier")),
        (json!({"slug": "other"}), Some("slug")),
        (json!({"name": ""}), None),
        (json!({"name": "   "}), None),
        (json!({"name": "n".repeat(101)}), None),
        (json!({"description": "d".repeat(1001)}), None),
    ] {
        let r = admin(&gw, "PATCH", "/api/workspaces/prof", Some(body.clone())).await;
        match field {
            Some(f) => {
                r.invalid_field(f);
            }
            None => {
                r.err(400, "VALIDATION_ERROR");
            }
        }
    }
    let d = admin(&gw, "GET", "/api/workspaces/prof", None).await.ok(200, Some("prof")).clone();
    assert_eq!(
        (d["name"].as_str(), &d["description"], d["tier"].as_str()),
        (Some("prof"), &Value::Null, Some("standard"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_workspace_then_recreate() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (old_id, old_key) = create_ws(&gw, "doomed", "free").await;
    let r = admin(&gw, "POST", "/api/workspaces/doomed/keys", Some(json!({"name": "second"}))).await;
    let second = r.ok(201, Some("doomed"))["key"].as_str().unwrap().to_string();
    admin(&gw, "PATCH", "/api/workspaces/doomed/runtime", Some(json!({"fallback": "none"})))
        .await
        .ok(200, Some("doomed"));
    send(&gw, "GET", "/api/workspaces/doomed", Some(&old_key), None).await.ok(200, Some("doomed"));

    let r = admin(&gw, "DELETE", "/api/workspaces/doomed", None).await;
    assert_eq!(
        r.ok(200, Some("doomed")),
        &json!({"slug": "doomed", "deleted": true, "removed": {"providers": 0, "strategies": 0}})
    );

    // Gone from every route.
    for sub in ["", "/health", "/limits", "/runtime", "/restrictions", "/keys"] {
        admin(&gw, "GET", &format!("/api/workspaces/doomed{sub}"), None).await.err(404, "WORKSPACE_NOT_FOUND");
    }
    for (method, sub, body) in [
        ("PATCH", "", Some(json!({"name": "x"}))),
        ("PATCH", "/limits", Some(json!({"tier": "free"}))),
        ("PATCH", "/runtime", Some(json!({"fallback": "strict"}))),
        ("PATCH", "/restrictions", Some(json!({"allowedModels": ["m"]}))),
        ("POST", "/keys", Some(json!({}))),
        ("DELETE", "", None),
    ] {
        admin(&gw, method, &format!("/api/workspaces/doomed{sub}"), body).await.err(404, "WORKSPACE_NOT_FOUND");
    }
    admin(&gw, "DELETE", &format!("/api/workspaces/doomed/keys/{old_id}"), None).await.err(404, "WORKSPACE_NOT_FOUND");
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)), ["default"]);

    // Its keys stop working at once.
    for key in [&old_key, &second] {
        send(&gw, "GET", "/api/workspaces/doomed", Some(key), None).await.err(401, "UNAUTHORIZED");
        send(&gw, "GET", "/api/workspaces", Some(key), None).await.err(401, "UNAUTHORIZED");
    }

    // The slug can be created again: a new life with default settings and only new keys.
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "doomed", "tier": "enterprise"}))).await;
    let d = r.ok(201, Some("doomed")).clone();
    assert_eq!(d["tier"], "enterprise");
    assert_eq!(d["runtime"]["fallback"], "relaxed");
    let new_key = d["apiKey"]["key"].as_str().unwrap();
    let new_id = d["apiKey"]["id"].as_str().unwrap();
    send(&gw, "GET", "/api/workspaces/doomed", Some(new_key), None).await.ok(200, Some("doomed"));
    for key in [&old_key, &second] {
        send(&gw, "GET", "/api/workspaces/doomed", Some(key), None).await.err(401, "UNAUTHORIZED");
    }
    let keys = admin(&gw, "GET", "/api/workspaces/doomed/keys", None).await;
    let keys = keys.ok(200, Some("doomed")).as_array().unwrap().clone();
    let active: Vec<_> = keys.iter().filter(|k| k["status"] == "active").map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(active, [new_id], "{keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_workspace_cannot_be_deleted() {
    let gw = Gateway::start(Kind::Sqlite).await;
    admin(&gw, "DELETE", "/api/workspaces/default", None).await.err(409, "CONFLICT");
    admin(&gw, "GET", "/api/workspaces/default", None).await.ok(200, Some("default"));
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_slug_admit_exactly_one() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let results = futures::future::join_all(
        (0..8).map(|i| admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "race", "name": format!("n{i}")})))),
    )
    .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    for r in results.iter().filter(|r| r.status != 201) {
        r.err(409, "CONFLICT");
    }
    assert_eq!(created, 1);
    let keys = admin(&gw, "GET", "/api/workspaces/race/keys", None).await;
    assert_eq!(keys.ok(200, Some("race")).as_array().unwrap().len(), 1, "one key, for the one create that won");

    // Distinct slugs at once all succeed.
    let results = futures::future::join_all(
        (0..8).map(|i| admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": format!("par-{i}")})))),
    )
    .await;
    for r in &results {
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(slugs(admin(&gw, "GET", "/api/workspaces", None).await.ok(200, None)).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_one_workspace_never_fail_inside() {
    let gw = Gateway::start(Kind::Sqlite).await;
    create_ws(&gw, "busy", "standard").await;
    let results = futures::future::join_all((0..10u64).map(|i| {
        let gw = &gw;
        async move {
            let body = json!({"timeouts": {"totalMs": 60_000 + i}});
            (i, admin(gw, "PATCH", "/api/workspaces/busy/runtime", Some(body)).await)
        }
    }))
    .await;
    let mut applied = HashSet::new();
    for (i, r) in &results {
        match r.status {
            200 => {
                applied.insert(60_000 + i);
            }
            _ => {
                r.err(409, "CONFLICT");
            }
        }
    }
    assert!(!applied.is_empty());
    let d = admin(&gw, "GET", "/api/workspaces/busy/runtime", None).await.ok(200, Some("busy")).clone();
    assert!(applied.contains(&d["timeouts"]["totalMs"].as_u64().unwrap()), "{d} not one of {applied:?}");
}
