//! Ollama native API and Gemini API wire shapes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    reason = "test code: a failure is a panic"
)]

mod common;

use common::*;
use serde_json::{json, Value};

fn ollama_req() -> Value {
    json!({"model": "llama3.2", "messages": [
        {"role": "system", "content": "Answer in English."},
        {"role": "user", "content": "Why is the sky blue?"}
    ]})
}

#[tokio::test]
async fn ollama_stream_and_json() {
    let s = spawn().await;
    // Streaming is the default.
    let resp = post(&s, "/api/chat", &ollama_req()).await;
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let body = read_stream(resp).await;
    let lines = parse_ndjson(&body.text());
    assert!(body.chunks.len() > lines.len() * 3, "split into small writes");
    let (last, parts) = lines.split_last().unwrap();
    assert!(parts.iter().all(|l| l["done"] == false && l["model"] == "llama3.2" && l["created_at"].is_string()));
    assert!(parts.iter().all(|l| l["message"]["role"] == "assistant"));
    let text: String = parts.iter().map(|l| l["message"]["content"].as_str().unwrap()).collect();
    assert_eq!(text, "mock reply to: Why is the sky blue?");
    assert_eq!(last["done"], true);
    assert_eq!(last["done_reason"], "stop");
    assert_eq!(last["message"]["content"], "");
    assert_eq!(last["prompt_eval_count"], 3 + 3 + 5 + 3);
    assert_eq!(last["eval_count"], 8);
    for k in ["total_duration", "load_duration", "prompt_eval_duration", "eval_duration"] {
        assert!(last[k].as_u64().unwrap() > 0, "{k}");
    }

    let mut req = ollama_req();
    req["stream"] = json!(false);
    let v = post_json(&s, "/api/chat", &req).await;
    assert_eq!(v["done"], true);
    assert_eq!(v["message"]["content"], text);
    for k in ["prompt_eval_count", "eval_count", "total_duration", "done_reason"] {
        assert_eq!(v[k], last[k], "{k}");
    }

    req["options"] = json!({"num_predict": 2});
    let v = post_json(&s, "/api/chat", &req).await;
    assert_eq!((v["done_reason"].as_str(), v["eval_count"].as_u64()), (Some("length"), Some(2)));

    req["options"] = json!({});
    req["format"] = json!("json");
    let v = post_json(&s, "/api/chat", &req).await;
    let inner: Value = serde_json::from_str(v["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(inner["answer"], "mock reply to: Why is the sky blue?");

    let resp = post(&s, "/api/chat", &json!({"messages": []})).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.json::<Value>().await.unwrap()["error"].is_string());
}

#[tokio::test]
async fn ollama_tools_tags_embed() {
    let s = spawn().await;
    let tools = json!([{"type": "function", "function": {"name": "get_current_weather", "parameters": {}}}]);
    let mut req = json!({"model": "llama3.2", "stream": false, "tools": tools,
                         "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let v = post_json(&s, "/api/chat", &req).await;
    let call = &v["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_current_weather");
    assert_eq!(call["arguments"], json!({"location": "Paris"}));

    req["stream"] = json!(true);
    let lines = parse_ndjson(&read_stream(post(&s, "/api/chat", &req).await).await.text());
    assert_eq!(lines[0]["message"]["tool_calls"][0]["function"]["arguments"], json!({"location": "Paris"}));
    assert_eq!(lines.last().unwrap()["done"], true);

    req["stream"] = json!(false);
    req["messages"] = json!([
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "get_current_weather", "arguments": {"location": "Paris"}}}]},
        {"role": "tool", "content": "11 degrees"}
    ]);
    let v = post_json(&s, "/api/chat", &req).await;
    assert!(v["message"]["content"].as_str().unwrap().contains("11 degrees"));

    let v: Value = client().get(s.url("/api/tags")).send().await.unwrap().json().await.unwrap();
    let m = &v["models"][0];
    assert!(m["name"].is_string() && m["model"].is_string() && m["digest"].is_string() && m["size"].is_u64());
    assert_eq!(m["details"]["format"], "gguf");

    let v = post_json(&s, "/api/embed", &json!({"model": "nomic-embed-text", "input": ["one two", "three"]})).await;
    assert_eq!(v["model"], "nomic-embed-text");
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(v["embeddings"][0].as_array().unwrap().len(), 8);
    assert_eq!(v["prompt_eval_count"], 3);
}

const GEN: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";

fn gemini_req() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "Be concise."}]},
        "contents": [{"role": "user", "parts": [{"text": "Explain how AI works in a few words"}]}],
        "generationConfig": {"temperature": 0.2}
    })
}

#[tokio::test]
async fn gemini_generate_and_stream() {
    let s = spawn().await;
    let v = post_json(&s, GEN, &gemini_req()).await;
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(c["content"]["parts"], json!([{"text": "mock reply to: Explain how AI works in a few words"}]));
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["index"], 0);
    let u = &v["usageMetadata"];
    assert_eq!(u["promptTokenCount"], 2 + 3 + 8 + 3);
    assert_eq!(u["candidatesTokenCount"], 11);
    assert_eq!(u["totalTokenCount"], 27);
    assert!(u.get("cachedContentTokenCount").is_none());
    assert_eq!(v["modelVersion"], "gemini-2.0-flash");

    // alt=sse: `data:` events terminated by CRLF CRLF, the last one carrying finishReason and the final usage.
    let resp = client().post(s.url(&format!("{STREAM}?alt=sse"))).json(&gemini_req()).send().await.unwrap();
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let raw = read_stream(resp).await.text();
    assert!(raw.ends_with("}\r\n\r\n"));
    let events = parse_sse(&raw);
    assert!(events.iter().all(|e| e.event.is_none()));
    let chunks: Vec<Value> = events.iter().map(Event::json).collect();
    let text: String =
        chunks.iter().map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap()).collect();
    assert_eq!(text, c["content"]["parts"][0]["text"].as_str().unwrap());
    let (last, rest) = chunks.split_last().unwrap();
    assert!(rest.iter().all(|c| c["candidates"][0].get("finishReason").is_none()));
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"], v["usageMetadata"]);

    // Without alt=sse: one JSON array, streamed.
    let resp = client().post(s.url(STREAM)).json(&gemini_req()).send().await.unwrap();
    let body = read_stream(resp).await;
    let arr: Vec<Value> = serde_json::from_str(&body.text()).unwrap();
    assert_eq!(arr.len(), chunks.len());
    assert_eq!(arr.last().unwrap()["usageMetadata"], v["usageMetadata"]);

    // maxOutputTokens, JSON mode, cachedContent.
    let mut req = gemini_req();
    req["generationConfig"] = json!({"maxOutputTokens": 4});
    let v = post_json(&s, GEN, &req).await;
    assert_eq!(v["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 4);
    req["generationConfig"] = json!({"responseMimeType": "application/json"});
    req["cachedContent"] = json!("cachedContents/abc");
    let v = post_json(&s, GEN, &req).await;
    let t = v["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap();
    assert!(serde_json::from_str::<Value>(t).unwrap()["answer"].is_string());
    assert_eq!(v["usageMetadata"]["cachedContentTokenCount"], 8);
}

#[tokio::test]
async fn gemini_function_calls_embeddings_models_auth() {
    let s = spawn().await;
    let mut req = json!({
        "contents": [{"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}],
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]
    });
    let v = post_json(&s, GEN, &req).await;
    let part = &v["candidates"][0]["content"]["parts"][0];
    assert_eq!(part["functionCall"], json!({"name": "get_weather", "args": {"location": "Paris"}}));
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    let resp = client().post(s.url(&format!("{STREAM}?alt=sse"))).json(&req).send().await.unwrap();
    let events = parse_sse(&read_stream(resp).await.text());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].json()["candidates"][0]["content"]["parts"][0]["functionCall"]["name"], "get_weather");

    req["contents"] = json!([
        {"role": "user", "parts": [{"text": "What's the weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": "19C"}}}]}
    ]);
    let v = post_json(&s, GEN, &req).await;
    assert!(v["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap().contains("19C"));

    // Auth: x-goog-api-key header or ?key=, recorded redacted.
    s.clear();
    let url = s.url("/v1beta/models/text-embedding-004:embedContent?key=secret123");
    let body = json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "hello world"}]}});
    let v: Value = client().post(url).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 8);
    let batch = json!({"requests": [body.clone(), body.clone()]});
    let resp = client()
        .post(s.url("/v1beta/models/text-embedding-004:batchEmbedContents"))
        .header("x-goog-api-key", "secret456")
        .json(&batch)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(v["embeddings"][0]["values"], v["embeddings"][1]["values"]);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].query.as_deref(), Some("key=<redacted>"));
    assert_eq!(reqs[1].header("x-goog-api-key"), Some("<redacted>"));
    assert_eq!(reqs[1].body, batch);

    let v: Value = client().get(s.url("/v1beta/models")).send().await.unwrap().json().await.unwrap();
    let m = &v["models"][0];
    assert!(m["name"].as_str().unwrap().starts_with("models/"));
    assert!(m["supportedGenerationMethods"].as_array().unwrap().contains(&json!("generateContent")));
    assert!(m["inputTokenLimit"].is_u64() && m["displayName"].is_string());
}
