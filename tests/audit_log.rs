//! Black-box tests of the audit log (`/api/admin/audit`) that every configuration change lands
//! in: what each change records, the filters, paging, and the field names. Everything goes over
//! HTTP against a real gateway.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::on_both_stores;
use common::resp::{admin, create_ws, send};
use common::workspaces::{actions, assert_no_secret, at_of, entries, has_action, has_field, rfc3339};
use common::{Gateway, Kind};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------------

on_both_stores!(audit_records_every_change);
async fn audit_records_every_change(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let r = admin(&gw, "POST", "/api/workspaces", Some(json!({"slug": "aud", "tier": "standard"}))).await;
    let created_rid = r.header("x-request-id").unwrap().to_string();
    let d = r.ok(201, Some("aud")).clone();
    let (key_id, key) =
        (d["apiKey"]["id"].as_str().unwrap().to_string(), d["apiKey"]["key"].as_str().unwrap().to_string());

    // A change made with the workspace's own key is attributed to that key.
    let r =
        send(&gw, "PATCH", "/api/workspaces/aud/runtime", Some(&key), Some(json!({"timeouts": {"totalMs": 60000}})))
            .await;
    r.ok(200, Some("aud"));
    let runtime_rid = r.header("x-request-id").unwrap().to_string();
    send(&gw, "PATCH", "/api/workspaces/aud", Some(&key), Some(json!({"name": "Audited"}))).await.ok(200, Some("aud"));
    admin(&gw, "PATCH", "/api/workspaces/aud/limits", Some(json!({"tier": "free", "overrides": {"burst": 3}})))
        .await
        .ok(200, Some("aud"));
    admin(&gw, "PATCH", "/api/workspaces/aud/restrictions", Some(json!({"blockedModels": ["m1"]})))
        .await
        .ok(200, Some("aud"));
    let r = admin(&gw, "POST", "/api/workspaces/aud/keys", Some(json!({"name": "second"}))).await;
    let k2 = r.ok(201, Some("aud")).clone();
    let (k2_id, k2_key) = (k2["id"].as_str().unwrap().to_string(), k2["key"].as_str().unwrap().to_string());
    admin(&gw, "DELETE", &format!("/api/workspaces/aud/keys/{k2_id}"), None).await.ok(200, Some("aud"));
    admin(&gw, "DELETE", "/api/workspaces/aud", None).await.ok(200, Some("aud"));
    // Refused and no-op changes leave no trace.
    admin(&gw, "PATCH", "/api/workspaces/default/runtime", Some(json!({"retries": {"maxAttempts": 0}})))
        .await
        .err(400, "VALIDATION_ERROR");
    admin(&gw, "PATCH", "/api/workspaces/default/runtime", Some(json!({"fallback": "relaxed"})))
        .await
        .ok(200, Some("default"));
    admin(&gw, "PATCH", "/api/workspaces/default/runtime", Some(json!({"fallback": "strict"})))
        .await
        .ok(200, Some("default"));

    let audit = gw
        .wait_for_audit("", |v| {
            entries(v).iter().any(|e| e["workspace"] == "default" && e["action"] == "RuntimeProfileChanged")
        })
        .await;
    let audit = &audit;
    let mine = gw.wait_for_audit("?workspace=aud", |v| has_action(v, "WorkspaceDeleted")).await;
    assert_eq!(mine["meta"]["workspaceId"], "aud");
    assert_eq!(
        actions(&mine),
        [
            "WorkspaceDeleted",
            "ApiKeyRevoked",
            "ApiKeyIssued",
            "RestrictionsChanged",
            "LimitsChanged",
            "ProfileUpdated",
            "RuntimeProfileChanged",
            "ApiKeyIssued",
            "WorkspaceCreated",
        ],
        "newest first, one entry per change"
    );
    let by =
        |action: &str| -> Vec<Value> { entries(&mine).iter().filter(|e| e["action"] == action).cloned().collect() };
    for e in entries(&mine) {
        assert_eq!(e["workspace"], "aud", "{e}");
        assert_eq!(e["aggregateType"], "Workspace", "{e}");
        assert_eq!(e["aggregateId"], "aud", "{e}");
        assert!(e["id"].as_i64().is_some() && e["at"].as_str().is_some(), "{e}");
        let actor = if matches!(e["action"].as_str(), Some("RuntimeProfileChanged" | "ProfileUpdated")) {
            key_id.as_str()
        } else {
            "env-admin"
        };
        assert_eq!(e["actor"], actor, "{e}");
    }

    let created = &by("WorkspaceCreated")[0];
    assert_eq!(created["before"], Value::Null);
    assert_eq!(created["after"]["slug"], "aud");
    assert_eq!(created["after"]["limits"]["tier"], "standard");
    assert_eq!(created["requestId"], created_rid.as_str());

    let rt = &by("RuntimeProfileChanged")[0];
    assert_eq!(rt["before"]["timeouts"]["totalMs"], 120000);
    assert_eq!(rt["after"]["timeouts"]["totalMs"], 60000);
    assert_eq!(rt["after"]["fallback"], "relaxed");
    assert_eq!(rt["requestId"], runtime_rid.as_str(), "the entry names the request that made the change");

    let prof = &by("ProfileUpdated")[0];
    assert_eq!((&prof["before"]["name"], &prof["after"]["name"]), (&json!("aud"), &json!("Audited")));

    let lim = &by("LimitsChanged")[0];
    assert_eq!(lim["before"], json!({"tier": "standard", "overrides": {}}));
    assert_eq!(lim["after"], json!({"tier": "free", "overrides": {"burst": 3}}));

    let rs = &by("RestrictionsChanged")[0];
    assert_eq!(rs["before"]["blockedModels"], json!([]));
    assert_eq!(rs["after"]["blockedModels"], json!(["m1"]));

    // Key entries show the key's id and prefix, never the key or its hash.
    let issued = by("ApiKeyIssued");
    let issued_ids: BTreeSet<_> =
        issued.iter().map(|e| e["after"]["key"]["keyId"].as_str().unwrap().to_string()).collect();
    assert_eq!(issued_ids, BTreeSet::from([key_id.clone(), k2_id.clone()]));
    for e in &issued {
        assert!(!has_field(e, "hash"), "{e}");
        assert!(e["after"]["key"]["prefix"].as_str().unwrap().starts_with("lyr_"), "{e}");
    }
    for k in [&key, &k2_key] {
        assert_no_secret(&mine.to_string(), k);
        assert_no_secret(&audit.to_string(), k);
    }
    assert_eq!(by("ApiKeyRevoked")[0]["after"], json!({"keyId": k2_id}));

    // On default: exactly one runtime change (the refused and the no-op patches left none).
    let default_rt: Vec<_> = entries(audit)
        .iter()
        .filter(|e| e["workspace"] == "default" && e["action"] == "RuntimeProfileChanged")
        .collect();
    assert_eq!(default_rt.len(), 1, "{default_rt:?}");
    assert_eq!(default_rt[0]["after"]["fallback"], "strict");
    // The default workspace was created by the system at first start.
    let first = entries(audit).last().unwrap();
    assert_eq!(
        (first["action"].as_str(), first["actor"].as_str(), first["workspace"].as_str()),
        (Some("WorkspaceCreated"), Some("system"), Some("default"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_filters_by_workspace_actor_action_and_time() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_a_id, key_a) = create_ws(&gw, "fa", "standard").await;
    create_ws(&gw, "fb", "standard").await;
    send(&gw, "PATCH", "/api/workspaces/fa/runtime", Some(&key_a), Some(json!({"fallback": "none"})))
        .await
        .ok(200, Some("fa"));
    admin(&gw, "PATCH", "/api/workspaces/fb/limits", Some(json!({"tier": "enterprise"}))).await.ok(200, Some("fb"));
    gw.wait_for_audit("", |v| has_action(v, "LimitsChanged")).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    admin(&gw, "PATCH", "/api/workspaces/fa", Some(json!({"name": "Later"}))).await.ok(200, Some("fa"));
    let all = gw.wait_for_audit("?limit=1000", |v| has_action(v, "ProfileUpdated")).await;
    let all = entries(&all).clone();
    assert_eq!(all.len(), 8, "{all:?}");

    let get = |q: String| {
        let gw = &gw;
        async move {
            let r = admin(gw, "GET", &format!("/api/admin/audit?{q}"), None).await;
            assert_eq!(r.status, 200, "{q}: {}", r.body);
            r.body
        }
    };
    let ids = |v: &Value| -> Vec<i64> { entries(v).iter().map(|e| e["id"].as_i64().unwrap()).collect() };
    let want = |pred: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        all.iter().filter(|e| pred(e)).map(|e| e["id"].as_i64().unwrap()).collect()
    };

    let v = get("workspace=fa".into()).await;
    assert_eq!(v["meta"]["workspaceId"], "fa");
    assert_eq!(ids(&v), want(&|e| e["workspace"] == "fa"));
    assert_eq!(actions(&v), ["ProfileUpdated", "RuntimeProfileChanged", "ApiKeyIssued", "WorkspaceCreated"]);

    let v = get(format!("actor={key_a_id}")).await;
    assert_eq!(actions(&v), ["RuntimeProfileChanged"]);
    assert_eq!(entries(&v)[0]["workspace"], "fa");

    let v = get("actor=env-admin".into()).await;
    assert_eq!(ids(&v), want(&|e| e["actor"] == "env-admin"));
    assert_eq!(ids(&v).len(), 6);

    let v = get("action=LimitsChanged".into()).await;
    assert_eq!(ids(&v), want(&|e| e["action"] == "LimitsChanged"));
    assert_eq!(entries(&v)[0]["workspace"], "fb");

    let v = get("workspace=fb&action=ApiKeyIssued&actor=env-admin".into()).await;
    assert_eq!(ids(&v), want(&|e| e["workspace"] == "fb" && e["action"] == "ApiKeyIssued"));
    assert_eq!(ids(&v).len(), 1);
    for q in ["workspace=fb&action=RuntimeProfileChanged", "workspace=nope", "actor=nobody", "action=Nothing"] {
        assert_eq!(entries(&get(q.into()).await).len(), 0, "{q}");
    }

    // Time bounds are inclusive, to the millisecond.
    let later = at_of(all.iter().find(|e| e["action"] == "ProfileUpdated").unwrap());
    let earlier = all.iter().filter(|e| e["action"] != "ProfileUpdated").map(at_of).max().unwrap();
    assert!(earlier < later);
    type Pred = Box<dyn Fn(DateTime<Utc>) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (format!("from={}", rfc3339(later)), Box::new(move |t: DateTime<Utc>| t >= later)),
        (format!("to={}", rfc3339(earlier)), Box::new(move |t: DateTime<Utc>| t <= earlier)),
        (
            format!("from={}&to={}", rfc3339(earlier), rfc3339(later)),
            Box::new(move |t: DateTime<Utc>| earlier <= t && t <= later),
        ),
        (
            format!("to={}", rfc3339(later - chrono::Duration::milliseconds(1))),
            Box::new(move |t: DateTime<Utc>| t < later),
        ),
        ("from=2000-01-01T00:00:00%2B01:00".to_string(), Box::new(|_: DateTime<Utc>| true)),
        ("from=2999-01-01T00:00:00Z".to_string(), Box::new(|_: DateTime<Utc>| false)),
        ("to=2000-01-01T00:00:00Z".to_string(), Box::new(|_: DateTime<Utc>| false)),
    ];
    for (q, pred) in cases {
        let v = get(q.clone()).await;
        assert_eq!(ids(&v), want(&|e| pred(at_of(e))), "{q}");
    }
    let v = get(format!("workspace=fa&from={}", rfc3339(later))).await;
    assert_eq!(actions(&v), ["ProfileUpdated"]);

    admin(&gw, "GET", "/api/admin/audit?from=not-a-time", None).await.invalid_field("from");
    admin(&gw, "GET", "/api/admin/audit?to=2026-01-15T25:00:00Z", None).await.invalid_field("to");
}

on_both_stores!(audit_paging_walks_every_entry_once);
async fn audit_paging_walks_every_entry_once(kind: Kind) {
    let gw = Gateway::start(kind).await;
    for i in 0..4 {
        let slug = format!("pg-{i}");
        create_ws(&gw, &slug, "standard").await;
        for total in [50_000, 60_000] {
            let body = json!({"timeouts": {"totalMs": total + i}});
            admin(&gw, "PATCH", &format!("/api/workspaces/{slug}/runtime"), Some(body)).await.ok(200, Some(&slug));
        }
    }
    // 1 (default) + 4 × (created, key issued, 2 runtime changes)
    let total = 17;
    let all = gw.wait_for_audit("?limit=1000", |v| entries(v).len() >= total).await;
    let all: Vec<i64> = entries(&all).iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(all.len(), total);
    assert_eq!(
        admin(&gw, "GET", "/api/admin/audit", None).await.ok(200, None).as_array().unwrap().len(),
        total,
        "default limit 100"
    );

    for limit in [1usize, 4, 16, 17, 100] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut last_at: Option<DateTime<Utc>> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("/api/admin/audit?limit={limit}&cursor={c}"),
                None => format!("/api/admin/audit?limit={limit}"),
            };
            let r = admin(&gw, "GET", &q, None).await;
            let page = r.ok(200, None).as_array().unwrap().clone();
            assert!(page.len() <= limit && !page.is_empty(), "{q}: {page:?}");
            assert_eq!(r.body["meta"]["page"]["limit"], limit);
            for e in &page {
                let at = at_of(e);
                assert!(last_at.is_none_or(|l| at <= l), "newest first");
                last_at = Some(at);
                seen.push(e["id"].as_i64().unwrap());
            }
            match r.body["meta"]["page"]["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(seen.len() <= total, "paging does not end");
        }
        assert_eq!(seen, all, "limit {limit}: every entry exactly once, in order");
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), total);
    }

    // Paging composes with filters.
    let mut seen = Vec::new();
    let mut q = "/api/admin/audit?workspace=pg-2&limit=1".to_string();
    loop {
        let r = admin(&gw, "GET", &q, None).await;
        let page = r.ok(200, Some("pg-2")).as_array().unwrap().clone();
        seen.extend(page.iter().map(|e| e["action"].as_str().unwrap().to_string()));
        match r.body["meta"]["page"]["nextCursor"].as_str() {
            Some(c) => q = format!("/api/admin/audit?workspace=pg-2&limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["RuntimeProfileChanged", "RuntimeProfileChanged", "ApiKeyIssued", "WorkspaceCreated"]);
}

/// The API speaks camelCase everywhere (`after.key.keyId` for an issued key); the audit entry of a
/// revoked key should too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_use_camel_case_field_names() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let (key_id, _) = create_ws(&gw, "cc", "standard").await;
    admin(&gw, "DELETE", &format!("/api/workspaces/cc/keys/{key_id}"), None).await.ok(200, Some("cc"));
    let audit = gw.wait_for_audit("?action=ApiKeyRevoked", |v| !entries(v).is_empty()).await;
    let after = &entries(&audit)[0]["after"];
    assert_eq!(after, &json!({"keyId": key_id}));
}
