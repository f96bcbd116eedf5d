//! `/docs`: the OpenAPI document as one HTML page, rendered here from the document itself
//! (operations grouped by tag, with parameters, bodies and responses; then every schema). No
//! script, font or stylesheet comes from elsewhere, so the page works offline.

use std::fmt::Write;

use serde_json::Value;

pub fn render(doc: &Value) -> String {
    let mut h = String::with_capacity(256 * 1024);
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let version = doc["info"]["version"].as_str().unwrap_or("");
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} {} API</title><style>{}</style></head><body><header><h1>{} <small>{}</small></h1><p>{}</p>\
         <p>The machine-readable document: <a href=\"/api/openapi.json\"><code>/api/openapi.json</code></a> (OpenAPI {}).</p></header><nav><ul>",
        esc(title),
        esc(version),
        STYLE,
        esc(title),
        esc(version),
        text(doc["info"]["description"].as_str().unwrap_or("")),
        esc(doc["openapi"].as_str().unwrap_or("")),
    );
    let tags: Vec<(&str, &str)> = doc["tags"]
        .as_array()
        .map(|t| {
            t.iter().map(|t| (t["name"].as_str().unwrap_or(""), t["description"].as_str().unwrap_or(""))).collect()
        })
        .unwrap_or_default();
    for (tag, _) in &tags {
        let _ = write!(h, "<li><a href=\"#tag-{0}\">{0}</a></li>", esc(tag));
    }
    h.push_str("<li><a href=\"#schemas\">schemas</a></li></ul></nav><main>");
    let paths = doc["paths"].as_object();
    for (tag, description) in &tags {
        let _ = write!(h, "<section id=\"tag-{0}\"><h2>{0}</h2><p>{1}</p>", esc(tag), text(description));
        for (path, item) in paths.into_iter().flatten() {
            for (method, o) in item.as_object().into_iter().flatten() {
                if o["tags"].as_array().is_some_and(|t| t.iter().any(|x| x.as_str() == Some(tag))) {
                    operation(&mut h, method, path, o);
                }
            }
        }
        h.push_str("</section>");
    }
    h.push_str("<section id=\"schemas\"><h2>schemas</h2>");
    for (name, schema) in doc["components"]["schemas"].as_object().into_iter().flatten() {
        let _ = write!(h, "<div class=\"schema\" id=\"schema-{0}\"><h3>{0}</h3>", esc(name));
        schema_block(&mut h, schema);
        h.push_str("</div>");
    }
    h.push_str("</section></main></body></html>");
    h
}

fn operation(h: &mut String, method: &str, path: &str, o: &Value) {
    let id = o["operationId"].as_str().unwrap_or("");
    let access = match (o.get("security"), o["x-layerr-access"].as_str()) {
        (Some(Value::Array(a)), _) if a.is_empty() => "public",
        (_, Some("admin")) => "admin key",
        _ => "any key",
    };
    let _ = write!(
        h,
        "<article class=\"op\" id=\"op-{}\"><h3><span class=\"m m-{}\">{}</span> <code>{}</code> <span class=\"access\">{}</span></h3><p>{}</p>",
        esc(id),
        esc(method),
        esc(&method.to_uppercase()),
        esc(path),
        access,
        text(o["summary"].as_str().unwrap_or("")),
    );
    if let Some(d) = o["description"].as_str() {
        let _ = write!(h, "<p class=\"desc\">{}</p>", text(d));
    }
    if let Some(params) = o["parameters"].as_array() {
        h.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>schema</th><th></th></tr>");
        for p in params {
            let _ = write!(
                h,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(p["name"].as_str().unwrap_or("")),
                if p["required"].as_bool() == Some(true) { " <b>required</b>" } else { "" },
                esc(p["in"].as_str().unwrap_or("")),
                inline(&p["schema"]),
                text(p["description"].as_str().unwrap_or("")),
            );
        }
        h.push_str("</table>");
    }
    if let Some(body) = o.get("requestBody") {
        let _ = write!(h, "<h4>Body{}</h4>", if body["required"].as_bool() == Some(true) { "" } else { " (optional)" });
        for (ct, c) in body["content"].as_object().into_iter().flatten() {
            let _ = write!(h, "<p><code>{}</code>: {}</p>", esc(ct), inline(&c["schema"]));
            for (name, ex) in c["examples"].as_object().into_iter().flatten() {
                let pretty = serde_json::to_string_pretty(&ex["value"]).unwrap_or_default();
                let _ = write!(h, "<p class=\"desc\">Example <i>{}</i>:</p><pre>{}</pre>", esc(name), esc(&pretty));
            }
        }
    }
    h.push_str("<h4>Responses</h4><table>");
    for (status, resp) in o["responses"].as_object().into_iter().flatten() {
        let (description, content) = match resp["$ref"].as_str() {
            Some(rf) => {
                let name = rf.rsplit('/').next().unwrap_or("");
                let shape = if name.starts_with("Anthropic") { "AnthropicError" } else { "ErrorEnvelope" };
                (error_description(status), format!("<code>application/json</code>: {}", link(shape)))
            }
            None => {
                let content = resp["content"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(ct, c)| format!("<code>{}</code>: {}", esc(ct), inline(&c["schema"])))
                    .collect::<Vec<_>>()
                    .join("<br>");
                (resp["description"].as_str().unwrap_or("").to_string(), content)
            }
        };
        let _ = write!(
            h,
            "<tr><td class=\"st\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(status),
            text(&description),
            content
        );
    }
    h.push_str("</table></article>");
}

fn error_description(status: &str) -> String {
    super::ERRORS.iter().find(|(s, _)| s.to_string() == status).map(|(_, d)| d.to_string()).unwrap_or_default()
}

/// A schema on one line: a link for a reference, the type otherwise (objects list their keys).
fn inline(s: &Value) -> String {
    if let Some(rf) = s["$ref"].as_str() {
        return link(rf.rsplit('/').next().unwrap_or(""));
    }
    for k in ["oneOf", "anyOf", "allOf"] {
        if let Some(items) = s[k].as_array() {
            let sep = if k == "allOf" { " &amp; " } else { " | " };
            return items.iter().map(inline).collect::<Vec<_>>().join(sep);
        }
    }
    let ty = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "any".to_string(),
    };
    let props = &s["properties"];
    if props.get("data").is_some() && props.get("meta").is_some() {
        let meta =
            if props["meta"]["$ref"].as_str().is_some_and(|m| m.ends_with("PageMeta")) { "PageMeta" } else { "Meta" };
        return format!("envelope {{data: {}, meta: {}}}", inline(&props["data"]), link(meta));
    }
    let mut out = if ty.starts_with("array") {
        format!("array of {}", inline(&s["items"]))
    } else if ty.starts_with("object") && s["properties"].is_object() {
        let keys: Vec<String> = s["properties"].as_object().into_iter().flatten().map(|(k, _)| esc(k)).collect();
        format!("object {{{}}}", keys.join(", "))
    } else {
        esc(&ty)
    };
    if let Some(e) = s["enum"].as_array() {
        let values: Vec<String> = e.iter().map(|v| esc(&v.to_string())).collect();
        let _ = write!(out, " ({})", values.join(", "));
    }
    if let Some(f) = s["format"].as_str() {
        let _ = write!(out, " <i>{}</i>", esc(f));
    }
    out
}

fn schema_block(h: &mut String, s: &Value) {
    if let Some(d) = s["description"].as_str() {
        let _ = write!(h, "<p>{}</p>", text(d));
    }
    match s["properties"].as_object() {
        Some(props) => {
            let required: Vec<&str> =
                s["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            h.push_str("<table><tr><th>property</th><th>schema</th><th></th></tr>");
            for (k, v) in props {
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(k),
                    if required.contains(&k.as_str()) { " <b>required</b>" } else { "" },
                    inline(v),
                    text(v["description"].as_str().unwrap_or("")),
                );
            }
            h.push_str("</table>");
            if s["additionalProperties"] == Value::Bool(false) {
                h.push_str("<p class=\"desc\">No other properties are accepted.</p>");
            }
        }
        None => {
            let _ = write!(h, "<p>{}</p>", inline(s));
        }
    }
}

/// Escaped text with its `code` spans shown as code.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            out.push_str(&esc(part));
        }
    }
    out
}

fn link(name: &str) -> String {
    format!("<a href=\"#schema-{0}\">{0}</a>", esc(name))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#fbfbfd}\
header,main{max-width:1100px;margin:0 auto;padding:0 24px}header{padding-top:16px}\
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #e3e6ee;z-index:1}nav ul{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;margin:0 auto;max-width:1100px;padding:10px 24px}\
nav a{color:#3451b2;text-decoration:none}h1 small{font-weight:400;color:#6a7180;font-size:60%}h2{margin-top:36px;border-bottom:2px solid #e3e6ee;padding-bottom:4px}\
.op,.schema{background:#fff;border:1px solid #e3e6ee;border-radius:8px;padding:4px 16px 12px;margin:14px 0}.op h3{font-size:16px}\
.m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:2px 6px;background:#6a7180}\
.m-get{background:#1f7a4d}.m-post{background:#2f5bb7}.m-patch{background:#a05a00}.m-put{background:#7b4bb7}.m-delete{background:#b3261e}.m-head{background:#4b5563}\
.access{font-size:12px;color:#6a7180;font-weight:400;margin-left:8px}.desc{color:#4b5263}table{border-collapse:collapse;width:100%;font-size:14px;margin:4px 0 8px}\
th,td{text-align:left;border-top:1px solid #eef0f5;padding:4px 8px;vertical-align:top}th{color:#6a7180;font-weight:500}td.st{font-weight:600;width:48px}\
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f2f4f8;padding:1px 4px;border-radius:3px}h4{margin:10px 0 2px;font-size:14px}\
pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f2f4f8;padding:8px;border-radius:6px;overflow:auto}";
