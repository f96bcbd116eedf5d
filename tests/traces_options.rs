//! The trace routes' closed-set options (`status`, `groupBy`, replay's `mode` and `against`) are
//! enums: an unknown value is a 400 `VALIDATION_ERROR` whose `details.field` names the option and
//! whose message lists the values it takes, in the query string and in the replay body alike;
//! every listed value is accepted and answered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::resp::{admin, Resp};
use common::upstream::{admin_chat, ask, mock_provider, trace_id};
use common::{wait, Gateway, Kind};
use serde_json::json;

/// A refusal naming `field` and listing every one of `allowed`.
fn refused(r: &Resp, field: &str, allowed: &[&str]) {
    let e = r.invalid_field(field);
    let message = e["message"].as_str().unwrap_or_default();
    for value in allowed {
        assert!(message.contains(&format!("`{value}`")), "{field}: {value} should be listed: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_and_analytics_options_name_the_field_and_the_values_it_takes() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let _mock = mock_provider(&gw).await;
    let (s, _, v) = admin_chat(&gw, ask("gpt-4o-mini", None, "hello there")).await;
    assert_eq!(s, 200, "{v}");
    wait::finished_traces(&gw, 1).await;

    let statuses = ["running", "completed", "failed"];
    for path in ["/api/traces?status=weird", "/api/traces/recent?status=Completed", "/api/traces/analytics?status="] {
        refused(&admin(&gw, "GET", path, None).await, "status", &statuses);
    }
    let counts: Vec<usize> = {
        let mut out = Vec::new();
        for s in statuses {
            let r = admin(&gw, "GET", &format!("/api/traces?status={s}"), None).await;
            out.push(r.ok(200, None).as_array().unwrap().len());
        }
        out
    };
    assert_eq!(counts, [0, 1, 0], "one completed trace");

    let groups = ["provider", "model", "intent", "strategy", "none"];
    refused(&admin(&gw, "GET", "/api/traces/analytics?groupBy=color", None).await, "groupBy", &groups);
    let mut seen = Vec::new();
    for g in groups {
        let r = admin(&gw, "GET", &format!("/api/traces/analytics?groupBy={g}"), None).await;
        let data = r.ok(200, None);
        assert_eq!(data["groupBy"], g, "{data}");
        assert_eq!(data["overall"]["requests"], 1, "{data}");
        seen.push(data["groups"][0]["group"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ["oa", "gpt-4o-mini", "chat", "balanced", "all"]);
    // The default is by provider.
    let r = admin(&gw, "GET", "/api/traces/analytics", None).await;
    assert_eq!(r.ok(200, None)["groupBy"], "provider");

    // Other query values that do not parse name their field too.
    admin(&gw, "GET", "/api/traces?limit=abc", None).await.invalid_field("limit");
    admin(&gw, "GET", "/api/traces?minCost=cheap", None).await.invalid_field("minCost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_mode_and_against_name_the_field_and_the_values_they_take() {
    let gw = Gateway::start(Kind::Sqlite).await;
    let _mock = mock_provider(&gw).await;
    let (s, h, v) = admin_chat(&gw, ask("gpt-4o-mini", None, "hello there")).await;
    assert_eq!(s, 200, "{v}");
    let id = trace_id(&h);
    wait::trace(&gw, &id).await;
    let path = format!("/api/traces/{id}/replay");

    let modes = ["dry-run", "live"];
    refused(&admin(&gw, "POST", &path, Some(json!({"mode": "rewind"}))).await, "mode", &modes);
    refused(&admin(&gw, "POST", &path, Some(json!({"mode": "DRY-RUN"}))).await, "mode", &modes);
    let againsts = ["then", "now", "both"];
    refused(&admin(&gw, "POST", &path, Some(json!({"against": "later"}))).await, "against", &againsts);
    // The body is read before the trace is looked up.
    let missing = admin(&gw, "POST", "/api/traces/missing/replay", Some(json!({"mode": "rewind"}))).await;
    refused(&missing, "mode", &modes);

    for (against, then, now) in [("then", true, false), ("now", false, true), ("both", true, true)] {
        let r = admin(&gw, "POST", &path, Some(json!({"mode": "dry-run", "against": against}))).await;
        let data = r.ok(200, Some("default"));
        assert_eq!(data["mode"], "dry-run", "{data}");
        assert_eq!(data["then"].is_object(), then, "{against}: {data}");
        assert_eq!(data["now"].is_object(), now, "{against}: {data}");
    }
    // No body is a dry run against both.
    let r = admin(&gw, "POST", &path, None).await;
    let data = r.ok(200, Some("default"));
    assert_eq!(data["mode"], "dry-run");
    assert_eq!(data["then"]["reproducesRecorded"], true, "{data}");

    // Options of the other mode are refused by name.
    admin(&gw, "POST", &path, Some(json!({"mode": "live", "against": "now"}))).await.invalid_field("against");
    admin(&gw, "POST", &path, Some(json!({"mode": "dry-run", "model": "gpt-4o"}))).await.invalid_field("model");
}
