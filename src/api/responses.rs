//! The inbound OpenAI Responses API (`POST /v1/responses`): its request as OpenAI documents it,
//! converted to the canonical request (any provider can answer it), and the answer converted to
//! Responses output items. Stored items are the domain's typed `response::Item`s.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use layerr_domain::response::{Item, ItemRole};

use super::openai::LayerrOptions;
use crate::llm::{self, Content, Part, Role};

pub type FieldError = (String, String);

fn bad(field: impl Into<String>, msg: impl Into<String>) -> FieldError {
    (field.into(), msg.into())
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default)]
    pub input: Option<Value>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub text: Option<TextOptions>,
    #[serde(default)]
    pub reasoning: Option<Reasoning>,
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default)]
    pub store: Option<bool>,
    #[serde(default)]
    pub previous_response_id: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub layerr: Option<LayerrOptions>,
    /// Responses-only parameters with no Chat Completions counterpart: never forwarded as
    /// extras (a Chat Completions upstream refuses an unknown parameter); a value that asks for
    /// something no upstream here can do is reported as dropped ([`Self::dropped`]).
    #[serde(default)]
    pub include: Option<Vec<String>>,
    #[serde(default)]
    pub truncation: Option<String>,
    #[serde(default)]
    pub max_tool_calls: Option<u64>,
    /// `include_obfuscation`: the gateway's stream events carry no obfuscation padding anyway.
    #[serde(default)]
    pub stream_options: Option<Value>,
    /// Everything else: forwarded to OpenAI-format upstreams as extras, reported for others.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct TextOptions {
    #[serde(default)]
    pub format: Option<Value>,
    #[serde(default)]
    pub verbosity: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Reasoning {
    #[serde(default)]
    pub effort: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
}

/// The `include` entry that asks for the output text's log probabilities.
pub const LOGPROBS: &str = "message.output_text.logprobs";

/// The per-token entries of an OpenAI-format choice's `logprobs` (`{"content": [...]}`), which
/// are what a Responses `output_text` part carries as its `logprobs`.
pub fn token_logprobs(v: Option<&Value>) -> Vec<Value> {
    v.and_then(|l| l.get("content")).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The id of an input item the client gave without one: provisional until the response is
/// stored, when [`name_input_items`] names it after its response.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{PROVISIONAL}{}", uuid::Uuid::now_v7().simple())
}

const PROVISIONAL: &str = "new_";

/// Names the input items of the response of trace `trace` (32 hex digits) that got a
/// provisional id: `{prefix}_in{n}_{trace}`, `n` their place in the input, so an
/// `item_reference` to one finds its response as it finds an output item.
pub fn name_input_items(items: &mut [Item], trace: &str) {
    for (n, item) in items.iter_mut().enumerate() {
        let id = match item {
            Item::Message { id, .. } | Item::FunctionCall { id, .. } | Item::FunctionCallOutput { id, .. } => id,
        };
        if let Some((prefix, _)) = id.split_once('_').filter(|(_, rest)| rest.starts_with(PROVISIONAL)) {
            *id = format!("{prefix}_in{n}_{trace}");
        }
    }
}

fn role(s: &str, field: &str) -> Result<ItemRole, FieldError> {
    match s {
        "user" => Ok(ItemRole::User),
        "assistant" => Ok(ItemRole::Assistant),
        "system" => Ok(ItemRole::System),
        "developer" => Ok(ItemRole::Developer),
        other => Err(bad(field, format!("unknown role '{other}'"))),
    }
}

fn str_field<'v>(v: &'v Value, key: &str, field: &str) -> Result<&'v str, FieldError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| bad(format!("{field}.{key}"), format!("{key} is required")))
}

/// One entry of a request's `input`: an item given in full, or an `item_reference` to an item
/// of a stored response (by its id), which the handler resolves.
#[derive(Debug, Clone, PartialEq)]
pub enum InputItem {
    Given(Item),
    Reference(String),
}

/// The stored response an item belongs to: output items are named `msg_{trace}` and
/// `fc_{n}_{trace}`, input items `{msg|fc|fco}_in{n}_{trace}`, their response `resp_{trace}` (the
/// trace id's 32 hex digits).
pub fn response_of_item(id: &str) -> Option<String> {
    let (head, trace) = id.rsplit_once('_')?;
    if trace.len() != 32 || !trace.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    let input = |h: &str| ["msg_in", "fc_in", "fco_in"].iter().any(|p| h.strip_prefix(p).is_some_and(digits));
    let known = head == "msg" || head.strip_prefix("fc_").is_some_and(digits) || input(head);
    known.then(|| format!("resp_{trace}"))
}

/// The request's own input as typed items (`input` a string is one user message).
pub fn input_items(input: Option<&Value>) -> Result<Vec<InputItem>, FieldError> {
    let items = match input {
        None => return Err(bad("input", "input is required")),
        Some(Value::String(s)) => {
            let item = Item::Message { id: new_id("msg"), role: ItemRole::User, text: s.clone(), images: vec![] };
            return Ok(vec![InputItem::Given(item)]);
        }
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("input", "input must be a string or an array of items")),
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let field = format!("input[{i}]");
        let kind =
            it.get("type").and_then(Value::as_str).unwrap_or(if it.get("role").is_some() { "message" } else { "" });
        let id = it.get("id").and_then(Value::as_str).map(str::to_string);
        match kind {
            "message" => {
                let r = role(str_field(it, "role", &field)?, &format!("{field}.role"))?;
                let (mut text, mut images) = (Vec::new(), Vec::new());
                match it.get("content") {
                    Some(Value::String(s)) => text.push(s.clone()),
                    Some(Value::Array(parts)) => {
                        for (j, p) in parts.iter().enumerate() {
                            let pf = format!("{field}.content[{j}]");
                            match p.get("type").and_then(Value::as_str).unwrap_or_default() {
                                "input_text" | "output_text" | "text" => {
                                    text.push(str_field(p, "text", &pf)?.to_string())
                                }
                                "refusal" => text.push(str_field(p, "refusal", &pf)?.to_string()),
                                "input_image" => match p.get("image_url").and_then(Value::as_str) {
                                    Some(url) => images.push(url.to_string()),
                                    None => {
                                        return Err(bad(pf, "only input_image parts with an image_url are supported"))
                                    }
                                },
                                other => {
                                    return Err(bad(pf, format!("content parts of type '{other}' are not supported")))
                                }
                            }
                        }
                    }
                    _ => return Err(bad(format!("{field}.content"), "content must be a string or an array of parts")),
                }
                out.push(InputItem::Given(Item::Message {
                    id: id.unwrap_or_else(|| new_id("msg")),
                    role: r,
                    text: text.join("\n"),
                    images,
                }));
            }
            "function_call" => out.push(InputItem::Given(Item::FunctionCall {
                id: id.unwrap_or_else(|| new_id("fc")),
                call_id: str_field(it, "call_id", &field)?.to_string(),
                name: str_field(it, "name", &field)?.to_string(),
                arguments: str_field(it, "arguments", &field)?.to_string(),
            })),
            "function_call_output" => {
                let output = match it.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(v @ Value::Array(_)) => v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => return Err(bad(format!("{field}.output"), "output is required")),
                };
                out.push(InputItem::Given(Item::FunctionCallOutput {
                    id: id.unwrap_or_else(|| new_id("fco")),
                    call_id: str_field(it, "call_id", &field)?.to_string(),
                    output,
                }));
            }
            "item_reference" => out.push(InputItem::Reference(str_field(it, "id", &field)?.to_string())),
            // The upstream's own reasoning from an earlier turn: no canonical form carries it.
            "reasoning" => {}
            other => {
                return Err(bad(format!("{field}.type"), format!("input items of type '{other}' are not supported")))
            }
        }
    }
    Ok(out)
}

/// Items as canonical messages: consecutive function calls join one assistant message.
pub fn to_messages(items: &[Item], out: &mut Vec<llm::Message>) {
    for item in items {
        match item {
            Item::Message { role, text, images, .. } => {
                let r = match role {
                    ItemRole::User => Role::User,
                    ItemRole::Assistant => Role::Assistant,
                    ItemRole::System => Role::System,
                    ItemRole::Developer => Role::Developer,
                };
                let content = if images.is_empty() {
                    Content::Text(text.clone())
                } else {
                    let mut parts = vec![Part::Text { text: text.clone(), cache_control: None }];
                    parts.extend(
                        images
                            .iter()
                            .map(|u| Part::ImageUrl { image_url: llm::ImageUrl { url: u.clone(), detail: None } }),
                    );
                    Content::Parts(parts)
                };
                out.push(llm::Message { content: Some(content), ..llm::Message::text(r, "") });
            }
            Item::FunctionCall { call_id, name, arguments, .. } => {
                let call = llm::ToolCall { id: call_id.clone(), name: name.clone(), arguments: arguments.clone() };
                match out.last_mut() {
                    Some(m) if m.role == Role::Assistant => m.tool_calls.push(call),
                    _ => out.push(llm::Message {
                        content: None,
                        tool_calls: vec![call],
                        ..llm::Message::text(Role::Assistant, "")
                    }),
                }
            }
            Item::FunctionCallOutput { call_id, output, .. } => out.push(llm::Message {
                tool_call_id: Some(call_id.clone()),
                ..llm::Message::text(Role::Tool, output.clone())
            }),
        }
    }
}

fn tools(tools: &[Value]) -> Result<Vec<llm::Tool>, FieldError> {
    tools
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("tools[{i}]");
            match t.get("type").and_then(Value::as_str) {
                Some("function") => Ok(llm::Tool {
                    name: str_field(t, "name", &field)?.to_string(),
                    description: t.get("description").and_then(Value::as_str).map(str::to_string),
                    parameters: t.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    strict: t.get("strict").and_then(Value::as_bool),
                }),
                Some(other) => Err(bad(
                    format!("{field}.type"),
                    format!("the hosted tool '{other}' cannot be run by this gateway's upstreams; only function tools are supported"),
                )),
                None => Err(bad(format!("{field}.type"), "type is required")),
            }
        })
        .collect()
}

fn tool_choice(v: &Value) -> Result<llm::ToolChoice, FieldError> {
    match v {
        Value::String(s) if s == "auto" => Ok(llm::ToolChoice::Auto),
        Value::String(s) if s == "none" => Ok(llm::ToolChoice::None),
        Value::String(s) if s == "required" => Ok(llm::ToolChoice::Required),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => o
            .get("name")
            .and_then(Value::as_str)
            .map(|n| llm::ToolChoice::Function(n.to_string()))
            .ok_or_else(|| bad("tool_choice.name", "name is required")),
        _ => Err(bad(
            "tool_choice",
            "tool_choice must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}",
        )),
    }
}

fn format(v: &Value) -> Result<Option<llm::ResponseFormat>, FieldError> {
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(llm::ResponseFormat::JsonObject)),
        Some("json_schema") => Ok(Some(llm::ResponseFormat::JsonSchema {
            name: str_field(v, "name", "text.format")?.to_string(),
            schema: v.get("schema").cloned().ok_or_else(|| bad("text.format.schema", "schema is required"))?,
            strict: v.get("strict").and_then(Value::as_bool),
        })),
        _ => Err(bad("text.format.type", "text.format.type must be 'text', 'json_object' or 'json_schema'")),
    }
}

impl ResponsesRequest {
    /// Whether the answer's text should carry its token log probabilities
    /// (`include: ["message.output_text.logprobs"]`).
    pub fn wants_logprobs(&self) -> bool {
        self.include.iter().flatten().any(|i| i == LOGPROBS)
    }

    /// The parameters this request sets that no canonical request carries, in the client's
    /// names: an `include` entry other than [`LOGPROBS`], `truncation: "auto"`,
    /// `max_tool_calls`, `reasoning.summary`.
    /// `include: []` and `truncation: "disabled"` (the defaults) ask for nothing.
    pub fn dropped(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.include.iter().flatten().any(|i| i != LOGPROBS) {
            out.push("include".to_string());
        }
        if self.truncation.as_deref().is_some_and(|t| t != "disabled") {
            out.push("truncation".to_string());
        }
        if self.max_tool_calls.is_some() {
            out.push("max_tool_calls".to_string());
        }
        if self.reasoning.as_ref().is_some_and(|r| r.summary.is_some()) {
            out.push("reasoning.summary".to_string());
        }
        out
    }

    /// The canonical request for `history` (the items of the previous responses) and `input`.
    pub fn to_canonical(&self, history: &[Item], input: &[Item]) -> Result<llm::ChatRequest, FieldError> {
        if self.model.trim().is_empty() {
            return Err(bad("model", "model must not be empty"));
        }
        if let Some(m) = &self.metadata {
            if m.len() > 16 || m.values().any(|v| !v.is_string()) {
                return Err(bad("metadata", "metadata holds at most 16 string values"));
            }
        }
        let mut messages = Vec::new();
        if let Some(i) = &self.instructions {
            messages.push(llm::Message::text(Role::System, i.clone()));
        }
        to_messages(history, &mut messages);
        to_messages(input, &mut messages);
        let mut extra = self.extra.clone();
        if let Some(v) = self.text.as_ref().and_then(|t| t.verbosity.clone()) {
            extra.insert("verbosity".into(), Value::String(v));
        }
        // Chat Completions asks for log probabilities with `logprobs: true` (and refuses
        // `top_logprobs` without it); Responses with the include entry and `top_logprobs`.
        if self.wants_logprobs() || extra.get("top_logprobs").is_some_and(|v| !v.is_null()) {
            extra.insert("logprobs".into(), Value::Bool(true));
        }
        Ok(llm::ChatRequest {
            model: self.model.clone(),
            messages,
            stream: self.stream.unwrap_or(false),
            include_usage: true,
            tools: tools(self.tools.as_deref().unwrap_or_default())?,
            tool_choice: self.tool_choice.as_ref().map(tool_choice).transpose()?,
            parallel_tool_calls: self.parallel_tool_calls,
            response_format: match self.text.as_ref().and_then(|t| t.format.as_ref()) {
                Some(f) => format(f)?,
                None => None,
            },
            n: 1,
            max_tokens: self.max_output_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            user: self.user.clone(),
            reasoning_effort: self.reasoning.as_ref().and_then(|r| r.effort.clone()),
            metadata: self.metadata.clone(),
            extra,
            ..llm::ChatRequest::default()
        })
    }
}

/// The answer's output items: its text as one message, then each tool call.
pub fn output_items(r: &llm::ChatResponse, trace: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let Some(c) = r.choices.first() else { return out };
    let text = c.message.content_text();
    if !text.is_empty() || c.message.tool_calls.is_empty() {
        out.push(Item::Message { id: format!("msg_{trace}"), role: ItemRole::Assistant, text, images: vec![] });
    }
    for (i, t) in c.message.tool_calls.iter().enumerate() {
        out.push(Item::FunctionCall {
            id: format!("fc_{i}_{trace}"),
            call_id: t.id.clone(),
            name: t.name.clone(),
            arguments: t.arguments.clone(),
        });
    }
    out
}

/// An item as the Responses API shows it.
pub fn item_json(item: &Item) -> Value {
    match item {
        Item::Message { id, role, text, images } if *role == ItemRole::Assistant && images.is_empty() => json!({
            "id": id, "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
        }),
        Item::Message { id, role, text, images } => {
            let mut content = vec![json!({"type": "input_text", "text": text})];
            content.extend(images.iter().map(|u| json!({"type": "input_image", "image_url": u, "detail": "auto"})));
            json!({"id": id, "type": "message", "status": "completed", "role": role, "content": content})
        }
        Item::FunctionCall { id, call_id, name, arguments } => json!({
            "id": id, "type": "function_call", "status": "completed",
            "call_id": call_id, "name": name, "arguments": arguments,
        }),
        Item::FunctionCallOutput { id, call_id, output } => json!({
            "id": id, "type": "function_call_output", "status": "completed", "call_id": call_id, "output": output,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_of_every_kind_become_canonical_messages() {
        let items = input_items(Some(&json!([
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "thanks"},
                                                             {"type": "input_image", "image_url": "https://x/y.png"}]}
        ])))
        .unwrap();
        let items: Vec<Item> = items
            .into_iter()
            .map(|i| match i {
                InputItem::Given(item) => item,
                InputItem::Reference(id) => panic!("no reference here: {id}"),
            })
            .collect();
        let mut msgs = Vec::new();
        to_messages(&items, &mut msgs);
        assert_eq!(msgs.len(), 4);
        assert_eq!(msgs[1].role, Role::Assistant);
        assert_eq!(msgs[1].tool_calls[0].id, "c1");
        assert_eq!(msgs[2].tool_call_id.as_deref(), Some("c1"));
        assert!(msgs[3].content.as_ref().unwrap().has_image());
        assert_eq!(input_items(Some(&json!([{"type": "web_search_call"}]))).unwrap_err().0, "input[0].type");
        assert_eq!(tools(&[json!({"type": "web_search"})]).unwrap_err().0, "tools[0].type");
    }

    #[test]
    fn responses_only_parameters_are_never_extras() {
        let req: ResponsesRequest = serde_json::from_value(json!({
            "model": "m", "input": "hi", "include": [], "truncation": "disabled",
            "stream_options": {"include_obfuscation": false}, "prompt_cache_key": "k"
        }))
        .unwrap();
        let canonical = req.to_canonical(&[], &[]).unwrap();
        assert_eq!(canonical.extra.keys().collect::<Vec<_>>(), ["prompt_cache_key"]);
        assert!(req.dropped().is_empty());
        let req: ResponsesRequest = serde_json::from_value(json!({
            "model": "m", "input": "hi", "include": ["reasoning.encrypted_content"], "truncation": "auto",
            "max_tool_calls": 3, "reasoning": {"effort": "low", "summary": "auto"}
        }))
        .unwrap();
        assert!(req.to_canonical(&[], &[]).unwrap().extra.is_empty());
        assert_eq!(req.dropped(), ["include", "truncation", "max_tool_calls", "reasoning.summary"]);
        // Log probabilities are asked for the Chat Completions way.
        let req: ResponsesRequest = serde_json::from_value(json!({
            "model": "m", "input": "hi", "include": [LOGPROBS], "top_logprobs": 2
        }))
        .unwrap();
        assert!(req.wants_logprobs() && req.dropped().is_empty());
        let extra = req.to_canonical(&[], &[]).unwrap().extra;
        assert_eq!((extra["logprobs"].clone(), extra["top_logprobs"].clone()), (json!(true), json!(2)));
        assert_eq!(token_logprobs(Some(&json!({"content": [{"token": "a"}]}))), [json!({"token": "a"})]);
    }

    #[test]
    fn input_items_given_without_an_id_are_named_after_their_response_when_stored() {
        let trace = "0192f0c1a2b34c5d8e9f00112233aabb";
        let given = input_items(Some(&json!([
            {"role": "user", "content": "hi"},
            {"type": "message", "id": "msg_client", "role": "user", "content": "mine"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"}
        ])))
        .unwrap();
        let mut items: Vec<Item> = given
            .into_iter()
            .map(|i| match i {
                InputItem::Given(item) => item,
                InputItem::Reference(id) => panic!("no reference here: {id}"),
            })
            .collect();
        name_input_items(&mut items, trace);
        let ids: Vec<&str> = items
            .iter()
            .map(|i| match i {
                Item::Message { id, .. } | Item::FunctionCall { id, .. } | Item::FunctionCallOutput { id, .. } => {
                    id.as_str()
                }
            })
            .collect();
        assert_eq!(ids, [format!("msg_in0_{trace}"), "msg_client".into(), format!("fco_in2_{trace}")]);
        for id in [&ids[0], &ids[2]] {
            assert_eq!(response_of_item(id), Some(format!("resp_{trace}")), "{id}");
        }
    }

    #[test]
    fn item_references_name_their_stored_response() {
        let trace = "0192f0c1a2b34c5d8e9f00112233aabb";
        let items = input_items(Some(&json!([
            {"type": "item_reference", "id": format!("msg_{trace}")},
            {"role": "user", "content": "and now?"}
        ])))
        .unwrap();
        assert_eq!(items[0], InputItem::Reference(format!("msg_{trace}")));
        assert!(matches!(items[1], InputItem::Given(Item::Message { .. })));
        assert_eq!(input_items(Some(&json!([{"type": "item_reference"}]))).unwrap_err().0, "input[0].id");
        assert_eq!(response_of_item(&format!("msg_{trace}")), Some(format!("resp_{trace}")));
        assert_eq!(response_of_item(&format!("fc_3_{trace}")), Some(format!("resp_{trace}")));
        assert_eq!(response_of_item(&format!("fco_in2_{trace}")), Some(format!("resp_{trace}")));
        assert_eq!(response_of_item(&format!("msg_in0_{trace}")), Some(format!("resp_{trace}")));
        for other in [
            "msg_",
            "msg_xyz",
            "fco_0192f0c1a2b34c5d8e9f00112233aabb",
            "fc__0192f0c1a2b34c5d8e9f00112233aabb",
            "msg_in_0192f0c1a2b34c5d8e9f00112233aabb",
            "resp",
        ] {
            assert_eq!(response_of_item(other), None, "{other}");
        }
    }
}
