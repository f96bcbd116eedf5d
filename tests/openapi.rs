//! The OpenAPI document (`GET /api/openapi.json`) and its page (`GET /docs`): the document is
//! OpenAPI 3.1 in utoipa's typed model, every reference resolves, and its operations are exactly
//! the routes the router serves, both ways:
//! - every `.route(...)` of `src/http` (read from the source, with its methods) is described, so a
//!   new route without a description fails here;
//! - every described operation is served: sent without a key it meets its route (401 for a route
//!   that needs a key, never the fallback's 404 `no such route` or a 405).
//!
//! Both are public (no key), like `/api/health`. Whether the answers match the document is
//! schemathesis' part (`scripts/schemathesis.sh`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{on_both_stores, Gateway, Kind};
use serde_json::Value;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head"];

/// `(method, path)` of every route in the source of `src/http`, axum's `{*name}` as `{name}`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    collect_rs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(\"") {
            let after = &rest[at + ".route(\"".len()..];
            let end = after.find('"').unwrap();
            let path = after[..end].replace("{*", "{");
            let args = balanced(&after[end..]);
            let mut methods = methods_in(args);
            if methods.is_empty() {
                // `.route("/", ok)`: the method router is a local binding of the same function.
                let ident = args.trim_start_matches(['"', ',', ' ']).trim();
                let binding = format!("let {ident} = ");
                let start = text.find(&binding).unwrap_or_else(|| panic!("{}: route {path}: no methods", f.display()));
                let expr = &text[start..start + text[start..].find(";\n").unwrap()];
                methods = methods_in(expr);
            }
            assert!(!methods.is_empty(), "{}: route {path}: no methods found", f.display());
            for m in methods {
                out.insert((m, path.clone()));
            }
            rest = &after[end..];
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text up to the `)` closing the `.route(` call (the input starts inside it).
fn balanced(s: &str) -> &str {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..i];
                }
            }
            _ => {}
        }
    }
    s
}

/// Method-router calls in an expression: `get(`, `.post(`, ... (not `ApiError::...` or paths).
fn methods_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for m in METHODS {
        let mut from = 0;
        let needle = format!("{m}(");
        while let Some(i) = expr[from..].find(&needle) {
            let at = from + i;
            let prev = expr[..at].chars().next_back();
            if prev.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) && !out.contains(&m.to_string()) {
                out.push(m.to_string());
            }
            from = at + needle.len();
        }
    }
    out
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method} is not an operation");
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

/// Every `$ref` in the document names something that exists.
fn check_refs(doc: &Value, v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let target = r.strip_prefix("#/").unwrap_or_else(|| panic!("{at}: external $ref {r}"));
                let mut cur = doc;
                for part in target.split('/') {
                    cur = cur.get(part).unwrap_or_else(|| panic!("{at}: $ref {r} does not resolve"));
                }
            }
            for (k, x) in m {
                check_refs(doc, x, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| check_refs(doc, x, &format!("{at}/{i}"))),
        _ => {}
    }
}

#[test]
fn source_scan_finds_the_routes() {
    // The scan itself: a few routes of different shapes must be among what it finds.
    let routes = routes_in_source();
    for (m, p) in [
        ("get", "/api/workspaces"),
        ("post", "/api/workspaces"),
        ("delete", "/api/workspaces/{slug}/keys/{key_id}"),
        ("get", "/v1/models/{model}"),
        ("head", "/"),
        ("put", "/api/workspaces/{slug}/strategy"),
        ("get", "/api/openapi.json"),
    ] {
        assert!(routes.contains(&(m.to_string(), p.to_string())), "{m} {p} not found by the scan: {routes:?}");
    }
    assert!(routes.len() > 60, "{routes:?}");
}

async fn document_matches_the_router(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let resp = gw.client.get(format!("{}/api/openapi.json", gw.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let text = resp.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();

    // OpenAPI 3.1: what is served is utoipa's typed 3.1 model of the document, serialised. (The
    // model reads a schema without a type only as `type: null`, so the served text itself is not
    // read back into it.)
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    let typed: utoipa::openapi::OpenApi = layerr::http::openapi::document().expect("the document builds");
    assert_eq!(serde_json::to_value(&typed).unwrap(), doc, "the served document is the typed model's");
    assert_eq!(typed.paths.paths.len(), doc["paths"].as_object().unwrap().len());
    check_refs(&doc, &doc, "#");

    // Each operation: a unique id, a tag that is declared, every path parameter declared, at
    // least one success answer, and error answers in the envelope.
    let tags: BTreeSet<&str> = doc["tags"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, o) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            assert!(ids.insert(o["operationId"].as_str().unwrap().to_string()), "{what}: duplicate operationId");
            assert!(tags.contains(o["tags"][0].as_str().unwrap()), "{what}: undeclared tag");
            let params: Vec<&str> = o["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect())
                .unwrap_or_default();
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(['{', '}']);
                assert!(params.contains(&name), "{what}: path parameter {name} is not declared");
            }
            let responses = o["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{what}: no success answer");
            let public = o["security"].as_array().is_some_and(Vec::is_empty);
            if !public {
                // The error envelope, or Anthropic's error object on the Anthropic routes.
                let shape = if path.starts_with("/v1/messages") { "AnthropicError" } else { "Error" };
                assert_eq!(responses["401"]["$ref"], format!("#/components/responses/{shape}401"), "{what}: its 401");
            }
        }
    }
    // The error envelope is one component, with the spec's codes.
    let codes = &doc["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"]["properties"]["code"]["enum"];
    for code in ["UNAUTHORIZED", "VALIDATION_ERROR", "PROVIDER_UNAVAILABLE", "RATE_LIMITED", "CALIBRATION_PENDING"] {
        assert!(codes.as_array().unwrap().iter().any(|c| c == code), "{code} missing from {codes}");
    }

    // The router's routes and the document's operations are the same set.
    let served = routes_in_source();
    let described = documented(&doc);
    let missing: Vec<_> = served.difference(&described).collect();
    assert!(missing.is_empty(), "routes served but not described in the OpenAPI document: {missing:?}");
    let extra: Vec<_> = described.difference(&served).collect();
    assert!(extra.is_empty(), "operations described but not in the router's source: {extra:?}");

    // And each described operation really is served: without a key it meets its route.
    for (method, path) in &described {
        let url = format!("{}{}", gw.base, path.replace('{', "x").replace('}', ""));
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let resp = gw.client.request(m, &url).send().await.unwrap();
        let status = resp.status().as_u16();
        let public = doc["paths"][path][method]["security"].as_array().is_some_and(Vec::is_empty);
        let body = resp.text().await.unwrap();
        if public {
            assert!((200..300).contains(&status), "{method} {path}: public route answered {status}: {body}");
        } else {
            assert_eq!(status, 401, "{method} {path}: without a key: {status} {body}");
        }
    }

    // The page renders from the document: every operation and schema is on it, nothing loads
    // from elsewhere.
    let resp = gw.client.get(format!("{}/docs", gw.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = resp.text().await.unwrap();
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..100]);
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (_, o) in item.as_object().unwrap() {
            let id = o["operationId"].as_str().unwrap();
            assert!(html.contains(&format!("id=\"op-{id}\"")), "/docs lacks {id}");
            assert!(html.contains(&format!("<code>{path}</code>")), "/docs lacks {path}");
        }
    }
    for name in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "/docs lacks schema {name}");
    }
    for offline in ["<script", "<link", " src=", "href=\"http", "href=\"//", "@import", "url("] {
        assert!(!html.contains(offline), "/docs refers to something elsewhere ({offline})");
    }
    let _ = gw.stop().await;
}

on_both_stores!(document_matches_the_router);

/// The schema `s` with its `$ref` followed.
fn resolve<'a>(doc: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = doc;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(doc, cur)
        }
        None => s,
    }
}

/// The keys of `v` (at any depth) that `schema` does not declare, as JSON paths. An object schema
/// with `properties` declares those keys (unless it allows any with `additionalProperties`); a
/// `oneOf`/`anyOf` declares what its best-fitting variant does; `allOf` what all of them do.
fn undeclared(doc: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let s = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = s[key].as_array() {
            let best = variants
                .iter()
                .map(|variant| {
                    let mut missing = Vec::new();
                    undeclared(doc, variant, v, at, &mut missing);
                    missing
                })
                .min_by_key(Vec::len)
                .unwrap_or_default();
            out.extend(best);
            return;
        }
    }
    if let Some(parts) = s["allOf"].as_array() {
        let mut merged = serde_json::Map::new();
        for p in parts {
            if let Some(props) = resolve(doc, p)["properties"].as_object() {
                merged.extend(props.clone());
            }
        }
        let whole = serde_json::json!({"type": "object", "properties": merged});
        return undeclared(doc, &whole, v, at, out);
    }
    match v {
        Value::Object(m) => {
            let Some(props) = s["properties"].as_object() else { return };
            let open = s.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false));
            for (k, x) in m {
                match props.get(k) {
                    Some(p) => undeclared(doc, p, x, &format!("{at}.{k}"), out),
                    None if open => {}
                    None => out.push(format!("{at}.{k}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = s.get("items") {
                for (i, x) in items.iter().enumerate() {
                    undeclared(doc, item, x, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// What schemathesis cannot see (answer schemas allow more properties than they list): every
/// field that real answers carry is in the document. A field added to an answer without its
/// description fails here (the trace's per-attempt `droppedParams`, a chat message's
/// `reasoning_content`, ...).
async fn answers_carry_only_documented_fields(kind: Kind) {
    let gw = Gateway::start(kind).await;
    let mock = common::upstream::mock_provider(&gw).await;
    let doc: Value = gw.client.get(format!("{}/api/openapi.json", gw.base)).send().await.unwrap().json().await.unwrap();
    let chat = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let calls: Vec<(&str, &str, String, Option<Value>)> = vec![
        ("post", "/v1/chat/completions", "/v1/chat/completions".into(), Some(chat.clone())),
        (
            "post",
            "/v1/completions",
            "/v1/completions".into(),
            Some(serde_json::json!({"model": "gpt-4o-mini", "prompt": "hi"})),
        ),
        (
            "post",
            "/v1/responses",
            "/v1/responses".into(),
            Some(serde_json::json!({"model": "gpt-4o-mini", "input": "hi"})),
        ),
        (
            "post",
            "/v1/messages",
            "/v1/messages".into(),
            Some(
                serde_json::json!({"model": "gpt-4o-mini", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}),
            ),
        ),
        (
            "post",
            "/api/chat",
            "/api/chat".into(),
            Some(serde_json::json!({"messages": [{"role": "user", "content": "hi"}]})),
        ),
        ("get", "/v1/models", "/v1/models".into(), None),
        ("get", "/api/workspaces", "/api/workspaces".into(), None),
        ("get", "/api/providers", "/api/providers".into(), None),
        ("get", "/api/economics/summary", "/api/economics/summary".into(), None),
        ("get", "/api/health/detailed", "/api/health/detailed".into(), None),
        ("get", "/api/admin/tenancy", "/api/admin/tenancy".into(), None),
    ];
    let mut missing = Vec::new();
    let mut trace_id = None;
    for (method, doc_path, path, body) in calls {
        let mut req = if method == "post" {
            gw.client.post(format!("{}{path}", gw.base))
        } else {
            gw.client.get(format!("{}{path}", gw.base))
        };
        req = req.bearer_auth(common::ADMIN_KEY);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        trace_id =
            trace_id.or_else(|| resp.headers().get("x-layerr-trace-id").map(|h| h.to_str().unwrap().to_string()));
        let v: Value = resp.json().await.unwrap();
        assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
        let schema =
            &doc["paths"][doc_path][method]["responses"][status.to_string()]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {doc_path}: no schema for {status}");
        undeclared(&doc, schema, &v, &format!("{method} {doc_path}"), &mut missing);
    }
    let id = trace_id.expect("a chat answer names its trace");
    let trace = common::wait::trace(&gw, &id).await;
    let schema = &doc["paths"]["/api/traces/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    undeclared(&doc, schema, &serde_json::json!({"data": trace, "meta": {}}), "get /api/traces/{id}", &mut missing);
    assert!(
        trace["execution"]["attemptLog"][0].get("droppedParams").is_some(),
        "the check covers the attempt's droppedParams: {trace}"
    );
    assert!(missing.is_empty(), "answer fields the document does not describe: {missing:#?}");
    drop(mock);
}

on_both_stores!(answers_carry_only_documented_fields);
