//! The Responses API's stored responses are events: `previous_response_id` continues a
//! conversation after the gateway restarts (on SQLite and Postgres), the history reaches the
//! upstream, a deleted response cannot be continued, and another workspace cannot see one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::upstream::mock_provider;
use common::{config_for, on_both_stores, Gateway, Kind, ADMIN_KEY};
use serde_json::{json, Value};

async fn respond(gw: &Gateway, key: &str, body: Value) -> (u16, Value) {
    let r = gw.client.post(format!("{}/v1/responses", gw.base)).bearer_auth(key).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

async fn continues_after_a_restart(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let mock = mock_provider(&gw).await;
    let (s, first) = respond(&gw, ADMIN_KEY, json!({"model": "gpt-4o-mini", "input": "My name is Ada"})).await;
    assert_eq!(s, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_string();

    let backing = gw.stop().await;
    let config = config_for(&backing);
    let gw = Gateway::start_with(backing, config).await;
    mock.clear();
    let (s, second) = respond(
        &gw,
        ADMIN_KEY,
        json!({"model": "gpt-4o-mini", "input": "What is my name?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["previous_response_id"], id.as_str());
    // The upstream got the whole conversation: the first turn, its answer, the new turn.
    let sent = mock.requests();
    let messages = sent.last().unwrap().body["messages"].as_array().unwrap().clone();
    let texts: Vec<&str> = messages.iter().map(|m| m["content"].as_str().unwrap_or_default()).collect();
    assert_eq!(texts.len(), 3, "{messages:?}");
    assert_eq!(texts[0], "My name is Ada");
    assert!(texts[1].starts_with("mock reply to: "), "{texts:?}");
    assert_eq!(texts[2], "What is my name?");
    assert_eq!(messages[1]["role"], "assistant");

    // Another workspace cannot see it, or continue it.
    let other = gw.workspace("other", "standard").await;
    let r = gw.client.get(format!("{}/v1/responses/{id}", gw.base)).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (s, v) = respond(&gw, &other, json!({"model": "gpt-4o-mini", "input": "hi", "previous_response_id": id})).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "previous_response_id");

    // Deleted: gone for good, and not continuable.
    let r = gw.client.delete(format!("{}/v1/responses/{id}", gw.base)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, _) =
        respond(&gw, ADMIN_KEY, json!({"model": "gpt-4o-mini", "input": "hi", "previous_response_id": id})).await;
    assert_eq!(s, 400);
    gw.stop().await;
}
on_both_stores!(continues_after_a_restart);
