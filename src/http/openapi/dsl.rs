//! A small vocabulary for JSON Schema 2020-12 fragments (what OpenAPI 3.1 embeds) and for
//! operations, so each route's description in `paths.rs` reads as one short block. The document
//! is assembled as JSON here and then typed by `utoipa`'s OpenAPI 3.1 model (`super::document`).

use serde_json::{json, Map, Value};

pub fn s() -> Value {
    json!({"type": "string"})
}

pub fn sd(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// An RFC 3339 timestamp.
pub fn dt() -> Value {
    json!({"type": "string", "format": "date-time"})
}

pub fn int() -> Value {
    json!({"type": "integer"})
}

/// A whole number of at least 0.
pub fn uint() -> Value {
    json!({"type": "integer", "minimum": 0})
}

pub fn num() -> Value {
    json!({"type": "number"})
}

pub fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// One of these strings.
pub fn en(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// Any JSON value (documented where it is a caller's own data, such as a JSON Schema).
pub fn any(description: &str) -> Value {
    // `type: null` is how utoipa's model reads a schema without a type (it serialises none).
    json!({"type": null, "description": description})
}

/// A free-form object (documented with what it holds).
pub fn free(description: &str) -> Value {
    json!({"type": "object", "description": description})
}

/// An object whose values all have one schema.
pub fn map(values: Value) -> Value {
    json!({"type": "object", "additionalProperties": values})
}

pub fn arr(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// A reference to a component schema.
pub fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The schema, or `null`.
pub fn n(v: Value) -> Value {
    match v.get("type").cloned() {
        Some(Value::String(t)) if v.get("$ref").is_none() => {
            let mut v = v;
            v["type"] = json!([t, "null"]);
            if let Some(Value::Array(e)) = v.get_mut("enum") {
                e.push(Value::Null);
            }
            v
        }
        _ => json!({"oneOf": [v, {"type": "null"}]}),
    }
}

/// One of several shapes.
pub fn one_of(items: Vec<Value>) -> Value {
    json!({"oneOf": items})
}

/// Adds a description to a schema.
pub fn doc(mut v: Value, description: &str) -> Value {
    v["description"] = json!(description);
    v
}

/// An object. A property whose name starts with `?` may be absent; the others are required.
/// More properties may appear (answers grow compatibly).
pub fn obj(props: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema) in props {
        match name.strip_prefix('?') {
            Some(optional) => {
                properties.insert(optional.to_string(), schema.clone());
            }
            None => {
                properties.insert(name.to_string(), schema.clone());
                required.push(json!(name));
            }
        }
    }
    let mut v = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        v["required"] = Value::Array(required);
    }
    v
}

/// A request object that refuses unknown fields (the `/api` bodies are `deny_unknown_fields`).
pub fn strict(props: &[(&str, Value)]) -> Value {
    let mut v = obj(props);
    v["additionalProperties"] = json!(false);
    v
}

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No key needed.
    Public,
    /// Any valid key (admin or workspace).
    Key,
    /// An admin key; a workspace key gets 403.
    Admin,
}

/// One operation: method, path, what it takes and every status it can answer.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub auth: Auth,
    pub params: Vec<Value>,
    pub body: Option<(Value, bool)>,
    /// Named examples of the body (also what schemathesis' examples phase sends).
    pub examples: Vec<(&'static str, Value)>,
    /// (status, description, content type, schema)
    pub ok: Vec<(u16, &'static str, &'static str, Option<Value>)>,
    pub errors: Vec<u16>,
    /// The error body's component: `ErrorEnvelope`, or `AnthropicError` on `/v1/messages`.
    pub error_shape: &'static str,
}

pub fn op(method: &'static str, path: &'static str, tag: &'static str, id: &'static str, summary: &'static str) -> Op {
    let mut o = Op {
        method,
        path,
        tag,
        id,
        summary,
        description: None,
        auth: Auth::Key,
        params: Vec::new(),
        body: None,
        examples: Vec::new(),
        ok: Vec::new(),
        errors: vec![401, 429, 503],
        error_shape: "ErrorEnvelope",
    };
    // Path parameters come from the path: `{name}` (and `{*name}`, axum's catch-all).
    for seg in path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            o = o.path_param(name.trim_start_matches('*'));
        }
    }
    o
}

impl Op {
    pub fn describe(mut self, d: &'static str) -> Self {
        self.description = Some(d);
        self
    }

    pub fn public(mut self) -> Self {
        self.auth = Auth::Public;
        self.errors.clear();
        self
    }

    /// Admin keys only: a workspace key gets 403.
    pub fn admin(mut self) -> Self {
        self.auth = Auth::Admin;
        self.errors(&[403])
    }

    fn path_param(mut self, name: &str) -> Self {
        self.params.push(json!({
            "name": name, "in": "path", "required": true,
            "schema": {"type": "string", "minLength": 1},
        }));
        self.errors(&[400, 404])
    }

    /// An optional query parameter.
    pub fn q(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params.push(
            json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description}),
        );
        self.errors(&[400])
    }

    /// `?workspace=`: admin keys choose the workspace; a workspace key may name only its own.
    pub fn ws(self) -> Self {
        self.q(
            "workspace",
            s(),
            "Admin keys: the workspace to act on (default `default`). A workspace key may only name its own.",
        )
        .errors(&[404])
    }

    /// An optional request header.
    pub fn header(mut self, name: &str, description: &str) -> Self {
        self.params
            .push(json!({"name": name, "in": "header", "required": false, "schema": s(), "description": description}));
        self
    }

    /// A JSON body (required).
    pub fn body(mut self, schema: Value) -> Self {
        self.body = Some((schema, true));
        self.errors(&[400, 413])
    }

    /// A JSON body that may be left out.
    pub fn body_optional(mut self, schema: Value) -> Self {
        self.body = Some((schema, false));
        self.errors(&[400, 413])
    }

    /// A named example of the body.
    pub fn example(mut self, name: &'static str, value: Value) -> Self {
        self.examples.push((name, value));
        self
    }

    /// A success answer in the envelope (`data` + `meta`).
    pub fn ok(mut self, status: u16, description: &'static str, data: Value) -> Self {
        let env = obj(&[("data", data), ("meta", r("Meta"))]);
        self.ok.push((status, description, "application/json", Some(env)));
        self
    }

    /// A page of a list in the envelope (`meta.page` holds the next cursor).
    pub fn page(mut self, description: &'static str, item: Value) -> Self {
        let env = obj(&[("data", arr(item)), ("meta", r("PageMeta"))]);
        self.ok.push((200, description, "application/json", Some(env)));
        self
    }

    /// A success answer with its own shape (the `/v1` wire formats).
    pub fn raw(mut self, status: u16, description: &'static str, content_type: &'static str, schema: Value) -> Self {
        self.ok.push((status, description, content_type, Some(schema)));
        self
    }

    /// An answer without a body.
    pub fn empty(mut self, status: u16, description: &'static str) -> Self {
        self.ok.push((status, description, "", None));
        self
    }

    pub fn errors(mut self, more: &[u16]) -> Self {
        for e in more {
            if !self.errors.contains(e) {
                self.errors.push(*e);
            }
        }
        self
    }

    pub fn anthropic_errors(mut self) -> Self {
        self.error_shape = "AnthropicError";
        self
    }
}
