//! One answer as a client sees it ([`Resp`]: status, headers, JSON body, with the envelope checks),
//! and the strict client of the `/api` tests: every answer it reads must be below 500, carry an
//! `x-request-id` and be JSON.

use chrono::DateTime;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::{assert_error, Gateway, ADMIN_KEY};

/// One response as a client sees it.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header that must be there and be a whole number.
    pub fn header_num(&self, name: &str) -> u64 {
        let v = self.header(name).unwrap_or_else(|| panic!("no {name} header ({}): {:?}", self.status, self.headers));
        v.parse().unwrap_or_else(|_| panic!("{name}: {v:?} is not a whole number"))
    }

    /// Asserts the success envelope (`data` + `meta.requestId/timestamp/workspaceId`) and returns `data`.
    pub fn ok(&self, status: u16, workspace: Option<&str>) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert!(self.body.get("error").is_none(), "{}", self.body);
        assert!(self.body.get("data").is_some(), "{}", self.body);
        let meta = &self.body["meta"];
        assert_eq!(
            meta["requestId"].as_str(),
            self.header("x-request-id"),
            "meta.requestId = x-request-id: {}",
            self.body
        );
        let ts = meta["timestamp"].as_str().unwrap_or_else(|| panic!("meta.timestamp: {}", self.body));
        DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("meta.timestamp {ts:?} is not RFC 3339: {e}"));
        assert!(meta.as_object().is_some_and(|m| m.contains_key("workspaceId")), "meta.workspaceId: {}", self.body);
        assert_eq!(meta["workspaceId"], workspace.map_or(Value::Null, |w| json!(w)), "{}", self.body);
        &self.body["data"]
    }

    /// Asserts a 200 and returns `data`.
    pub fn data(&self) -> &Value {
        assert_eq!(self.status, 200, "{}", self.body);
        &self.body["data"]
    }

    /// Asserts the error envelope with this status and code and returns the error object.
    pub fn err(&self, status: u16, code: &str) -> Value {
        assert_error(self.status, &self.body, status, code)
    }

    /// Asserts a 400 VALIDATION_ERROR whose `details.field` is `field` and returns the error object.
    pub fn invalid_field(&self, field: &str) -> Value {
        let e = self.err(400, "VALIDATION_ERROR");
        assert_eq!(e["details"]["field"], field, "{}", self.body);
        e
    }

    pub fn text(&self) -> String {
        self.body.to_string()
    }
}

/// A request as a client sends it: `authorization` is the whole header value (or none), `body`
/// the exact body text (sent as `application/json`). The answer must be below 500, carry an
/// `x-request-id` and be JSON.
pub async fn send_with(
    gw: &Gateway,
    client: &reqwest::Client,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(m, format!("{}{}", gw.base, path));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert!(status < 500, "{method} {path} answered {status} (never a 5xx here): {text}");
    assert!(
        headers.get("x-request-id").is_some_and(|v| !v.is_empty()),
        "{method} {path} ({status}) has no x-request-id header"
    );
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path} ({status}) body is not JSON: {text}"));
    Resp { status, headers, body }
}

/// [`send_with`] the gateway's client, `Authorization: Bearer <key>` (or none) and extra `headers`.
pub async fn send_headers(
    gw: &Gateway,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Resp {
    let auth = key.map(|k| format!("Bearer {k}"));
    send_with(gw, &gw.client, method, path, auth.as_deref(), headers, body).await
}

/// A request whose body is exactly `body` (not necessarily JSON).
pub async fn send_raw(gw: &Gateway, method: &str, path: &str, key: Option<&str>, body: impl Into<String>) -> Resp {
    send_headers(gw, method, path, key, &[], Some(body.into())).await
}

/// A request with `Authorization: Bearer <key>` (or none) and a JSON body (or none).
pub async fn send(gw: &Gateway, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> Resp {
    send_headers(gw, method, path, key, &[], body.map(|b| b.to_string())).await
}

/// [`send`] with the admin key.
pub async fn admin(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> Resp {
    send(gw, method, path, Some(ADMIN_KEY), body).await
}

/// Creates a workspace and returns (its first key's id, the key).
pub async fn create_ws(gw: &Gateway, slug: &str, tier: &str) -> (String, String) {
    let r = admin(gw, "POST", "/api/workspaces", Some(json!({"slug": slug, "tier": tier}))).await;
    let d = r.ok(201, Some(slug));
    (d["apiKey"]["id"].as_str().unwrap().to_string(), d["apiKey"]["key"].as_str().unwrap().to_string())
}

/// The workspace as the admin sees it: profile, limits, runtime, restrictions and keys.
pub async fn snapshot(gw: &Gateway, slug: &str) -> Value {
    let mut ws = admin(gw, "GET", &format!("/api/workspaces/{slug}"), None).await.ok(200, Some(slug)).clone();
    let keys = admin(gw, "GET", &format!("/api/workspaces/{slug}/keys"), None).await.ok(200, Some(slug)).clone();
    ws["keys"] = keys;
    ws
}

/// The `slug` of every workspace in a list's `data`.
pub fn slugs(data: &Value) -> Vec<String> {
    data.as_array().unwrap().iter().map(|w| w["slug"].as_str().unwrap().to_string()).collect()
}
