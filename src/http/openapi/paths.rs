//! Every operation the router serves, one block each: its parameters, body and the statuses it
//! answers (the error statuses reference the component responses, in the error envelope).
//! `tests/openapi.rs` compares this list with the routes of `src/http`, so a route added without
//! a description here fails the test.

use serde_json::json;

use super::dsl::{arr, dt, en, num, op, r, s, sd, uint, Op};

/// A whole number in `min..=max`.
fn range(min: u64, max: u64) -> serde_json::Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

pub const TAGS: &[(&str, &str)] = &[
    ("health", "Liveness, the store's health and Prometheus metrics."),
    ("docs", "This document and its page."),
    ("workspaces", "Workspaces, their limits, runtime profile, restrictions and API keys."),
    ("providers", "Upstream LLM providers: registration, credentials, health, tests, discovery."),
    ("strategies", "Routing strategies and each workspace's default."),
    ("chat", "The native chat endpoint and conversations."),
    ("traces", "One trace per request: list, detail, explanation, economics, replay, comparison."),
    ("economics", "Spend, budgets, savings, insights and simulations."),
    ("admin", "The audit log, the tenancy diagnostics, named secrets and master-key rotation."),
    ("openai", "The OpenAI wire: chat completions, completions, embeddings, models, Responses."),
    ("anthropic", "The Anthropic Messages wire."),
];

const LIMIT: &str = "Page size.";
const CURSOR: &str = "The `meta.page.nextCursor` of the previous page.";
const FROM: &str = "RFC 3339 start (inclusive).";
const TO: &str = "RFC 3339 end.";

fn time_range(o: Op) -> Op {
    o.q("from", dt(), FROM).q("to", dt(), TO)
}

fn trace_filters(o: Op) -> Op {
    o.ws()
        .q("provider", s(), "Only traces answered by this provider.")
        .q("model", s(), "Only this model.")
        .q("intent", s(), "Only this classified intent.")
        .q("strategy", s(), "Only this strategy.")
        .q("status", en(&["running", "completed", "failed"]), "Only traces in this state.")
        .q("minCost", num(), "USD.")
        .q("maxCost", num(), "USD.")
        .q("minLatency", uint(), "Milliseconds.")
        .q("maxLatency", uint(), "Milliseconds.")
        .q("replayOf", s(), "Only replays of this trace.")
}

/// Headers the `/v1` chat routes read.
fn layerr_headers(o: Op) -> Op {
    o.header("x-layerr-strategy", "The strategy, for clients that cannot add a `layerr` body field.")
        .header("x-layerr-fallback", "`strict`, `relaxed` or `none`.")
        .header("x-layerr-explain", "`true`: add the routing explanation headers.")
}

/// The statuses of a request that routes to providers.
const CHAT_ERRORS: &[u16] = &[400, 402, 404, 409, 502, 504];

pub fn operations() -> Vec<Op> {
    let sse = "text/event-stream";
    let json = "application/json";
    vec![
        // ---- health, metrics, docs -----------------------------------------------------------
        op("get", "/api/health", "health", "health", "Is the process up").public().ok(200, "Up.", r("Health")),
        op("get", "/api/health/detailed", "health", "healthDetailed", "The store's health and the pipeline's lags")
            .describe("Admin keys see the installation's figures (feed, projections, in-memory state, appender, Kafka relay); a workspace key sees status, version and store reachability. An unhealthy store answers 503 `STORE_UNAVAILABLE` with `details.status: unhealthy`.")
            .ok(200, "Healthy or degraded.", r("HealthDetailed")),
        op("get", "/metrics", "health", "metrics", "Prometheus metrics")
            .admin()
            .raw(200, "Prometheus text exposition format.", "text/plain", sd("Prometheus text format 0.0.4.")),
        op("head", "/", "health", "probe", "The gateway is there (Claude Code checks it)").public().empty(200, "Up."),
        op("get", "/api/openapi.json", "docs", "openapi", "This OpenAPI 3.1 document")
            .public()
            .raw(200, "The document.", json, sd("An OpenAPI 3.1 document.")),
        op("get", "/docs", "docs", "docs", "This document as a page").public().raw(200, "HTML.", "text/html", s()),
        // ---- workspaces ----------------------------------------------------------------------
        op("get", "/api/workspaces", "workspaces", "listWorkspaces", "List workspaces")
            .describe("Admin keys: every workspace; a workspace key: its own.")
            .q("limit", range(1, 500), "Page size (default 50).")
            .q("cursor", s(), CURSOR)
            .page("Workspaces.", r("Workspace")),
        op("post", "/api/workspaces", "workspaces", "createWorkspace", "Create a workspace and its first key")
            .admin()
            .body(r("WorkspaceCreate"))
            .example("one", json!({"slug": "my-project", "name": "My project", "tier": "standard"}))
            .ok(201, "Created; `apiKey.key` is shown this once.", r("WorkspaceCreated"))
            .errors(&[409]),
        op("get", "/api/workspaces/{slug}", "workspaces", "getWorkspace", "A workspace").ok(200, "The workspace.", r("Workspace")),
        op("patch", "/api/workspaces/{slug}", "workspaces", "updateWorkspace", "Change a workspace's name or description")
            .body(r("WorkspaceUpdate"))
            .ok(200, "The workspace.", r("Workspace"))
            .errors(&[409]),
        op("delete", "/api/workspaces/{slug}", "workspaces", "deleteWorkspace", "Delete a workspace and what is scoped to it")
            .describe("`default` cannot be deleted (409). The slug can be created again; the old keys stay dead.")
            .admin()
            .ok(200, "Deleted.", r("WorkspaceDeleted"))
            .errors(&[409]),
        op("get", "/api/workspaces/{slug}/health", "workspaces", "workspaceHealth", "A workspace's health dashboard")
            .ok(200, "Rate-limit standing, keys and settings.", r("WorkspaceHealth")),
        op("get", "/api/workspaces/{slug}/limits", "workspaces", "getLimits", "Rate limits and their usage")
            .ok(200, "Tier, effective quota, overrides and usage.", r("Limits")),
        op("patch", "/api/workspaces/{slug}/limits", "workspaces", "changeLimits", "Change the tier or the overrides")
            .admin()
            .body(r("LimitsPatch"))
            .ok(200, "The limits.", r("Limits"))
            .errors(&[409]),
        op("get", "/api/workspaces/{slug}/runtime", "workspaces", "getRuntime", "The runtime profile")
            .ok(200, "Timeouts, retries, fallback, content capture.", r("RuntimeProfile")),
        op("patch", "/api/workspaces/{slug}/runtime", "workspaces", "changeRuntime", "Change the runtime profile")
            .body(r("RuntimePatch"))
            .ok(200, "The runtime profile.", r("RuntimeProfile"))
            .errors(&[409]),
        op("get", "/api/workspaces/{slug}/restrictions", "workspaces", "getRestrictions", "Provider and model restrictions")
            .ok(200, "The restrictions.", r("Restrictions")),
        op("patch", "/api/workspaces/{slug}/restrictions", "workspaces", "changeRestrictions", "Change the restrictions")
            .admin()
            .body(r("RestrictionsPatch"))
            .ok(200, "The restrictions.", r("Restrictions"))
            .errors(&[409]),
        op("get", "/api/workspaces/{slug}/keys", "workspaces", "listKeys", "The workspace's API keys (never the keys themselves)")
            .ok(200, "Keys.", arr(r("KeyListing"))),
        op("post", "/api/workspaces/{slug}/keys", "workspaces", "createKey", "Issue an API key")
            .admin()
            .body_optional(r("KeyCreate"))
            .ok(201, "The key, shown this once.", r("IssuedKey"))
            .errors(&[409]),
        op("delete", "/api/workspaces/{slug}/keys/{key_id}", "workspaces", "revokeKey", "Revoke an API key")
            .admin()
            .ok(200, "Revoked.", r("KeyListing"))
            .errors(&[409]),
        op("get", "/api/workspaces/{slug}/strategy", "strategies", "getWorkspaceStrategy", "The workspace's default strategy")
            .ok(200, "The default strategy.", r("WorkspaceStrategy")),
        op("put", "/api/workspaces/{slug}/strategy", "strategies", "setWorkspaceStrategy", "Set the workspace's default strategy")
            .body(r("WorkspaceStrategySet"))
            .ok(200, "The default strategy.", r("WorkspaceStrategy"))
            .errors(&[409]),
        // ---- providers -----------------------------------------------------------------------
        op("get", "/api/providers", "providers", "listProviders", "List providers")
            .describe("Admin keys: all (or `?workspace=`'s and the global ones); a workspace key: the global ones and its own.")
            .ws()
            .ok(200, "Providers.", arr(r("Provider"))),
        op("post", "/api/providers", "providers", "createProvider", "Register a provider")
            .describe("A workspace key registers a provider scoped to its workspace (its id qualified as `slug.id`). A base URL may not carry credentials; a workspace key's may not reach private or loopback addresses (egress policy).")
            .body(r("ProviderCreate"))
            .example("one", json!({"id": "openai-prod", "name": "OpenAI Production", "type": "openai",
                "baseUrl": "https://api.openai.com/v1", "models": ["gpt-4o", "gpt-4o-mini"], "apiKey": "sk-..."}))
            .example("secretRef", json!({"id": "openai-prod", "name": "OpenAI Production", "type": "openai",
                "models": ["gpt-4o"], "secretRef": "openai-prod-key"}))
            .ok(201, "Registered.", r("Provider"))
            .errors(&[403, 404, 409]),
        op("get", "/api/providers/discover", "providers", "discoverProviders", "Probe local servers (Ollama, LM Studio, vLLM)")
            .q("urls", s(), "Extra comma-separated base URLs to probe.")
            .ok(200, "What answered.", arr(r("DiscoveredServer"))),
        op("get", "/api/providers/capabilities", "providers", "providerCapabilities", "The capability matrix of every visible model")
            .ok(200, "Capabilities and prices.", r("Capabilities")),
        op("get", "/api/providers/{id}", "providers", "getProvider", "A provider").ok(200, "The provider.", r("Provider")),
        op("patch", "/api/providers/{id}", "providers", "updateProvider", "Change a provider (or rotate its key)")
            .body(r("ProviderUpdate"))
            .ok(200, "The provider.", r("Provider"))
            .errors(&[403, 409]),
        op("delete", "/api/providers/{id}", "providers", "deleteProvider", "Remove a provider")
            .ok(200, "Removed.", r("Deleted"))
            .errors(&[403, 409]),
        op("get", "/api/providers/{id}/health", "providers", "providerHealth", "A provider's health")
            .ok(200, "Latencies, error rate, breaker.", r("ProviderHealthReport")),
        op("post", "/api/providers/{id}/test", "providers", "testProvider", "A real one-token call to the provider")
            .body_optional(r("ProviderTest"))
            .ok(200, "The outcome (a failed call is `result.ok: false`, not an error).", r("ProviderTestResult"))
            .errors(&[403, 409]),
        // ---- strategies ----------------------------------------------------------------------
        op("get", "/api/strategies", "strategies", "listStrategies", "Built-in and custom strategies")
            .ok(200, "Strategies.", arr(r("Strategy"))),
        op("post", "/api/strategies", "strategies", "createStrategy", "Create a custom strategy")
            .body(r("StrategyCreate"))
            .example("one", json!({"id": "thrifty", "name": "Thrifty", "weights": {"quality": 0.2, "speed": 0.2, "cost": 0.6}}))
            .ok(201, "Created.", r("Strategy"))
            .errors(&[403, 404, 409]),
        op("get", "/api/strategies/{id}", "strategies", "getStrategy", "A strategy").ok(200, "The strategy.", r("Strategy")),
        op("patch", "/api/strategies/{id}", "strategies", "updateStrategy", "Change a custom strategy")
            .body(r("StrategyUpdate"))
            .ok(200, "The strategy.", r("Strategy"))
            .errors(&[403, 409]),
        op("delete", "/api/strategies/{id}", "strategies", "deleteStrategy", "Delete a custom strategy")
            .ok(200, "Deleted.", r("Deleted"))
            .errors(&[403, 409]),
        op("post", "/api/strategies/{id}/calibrate", "strategies", "calibrateStrategy", "Recalibrate from recorded traffic")
            .q("days", uint(), "Days of recorded traffic to use (default 7).")
            .ok(200, "The calibration report.", r("Calibration"))
            .errors(&[403, 409]),
        // ---- chat and conversations ----------------------------------------------------------
        op("post", "/api/chat", "chat", "chat", "A native chat turn (routing, fallback, a conversation)")
            .body(r("ChatTurn"))
            .example("whole", json!({"messages": [{"role": "user", "content": "Refactor this to TypeScript"}],
                "preferences": {"strategy": "quality", "maxCost": 0.5, "maxLatency": 30000}}))
            .example("streamed", json!({"messages": [{"role": "user", "content": "Hello"}], "stream": true}))
            .ok(200, "The answer, with its routing.", r("ChatReply"))
            .errors(CHAT_ERRORS),
        op("post", "/api/conversations/{id}/messages", "chat", "addMessages", "Continue a conversation")
            .body(r("ChatTurn"))
            .ok(200, "The answer, with its routing.", r("ChatReply"))
            .errors(CHAT_ERRORS),
        op("get", "/api/conversations", "chat", "listConversations", "Conversations, newest first")
            .ws()
            .q("limit", range(1, 200), "Page size (default 50).")
            .q("cursor", s(), CURSOR)
            .page("Conversations.", r("ConversationSummary")),
        op("get", "/api/conversations/{id}", "chat", "getConversation", "A conversation with its messages")
            .ws()
            .ok(200, "The conversation.", r("Conversation")),
        op("delete", "/api/conversations/{id}", "chat", "deleteConversation", "Delete a conversation")
            .ws()
            .ok(200, "Deleted.", r("Deleted"))
            .errors(&[409]),
        // ---- traces --------------------------------------------------------------------------
        trace_filters(time_range(op("get", "/api/traces", "traces", "listTraces", "Traces, newest first")))
            .q("limit", uint(), LIMIT)
            .q("cursor", s(), CURSOR)
            .page("Trace summaries.", r("TraceSummary")),
        trace_filters(op("get", "/api/traces/recent", "traces", "recentTraces", "Traces of a recent window"))
            .q("window", s(), "How far back, e.g. `15m`, `2h`, `1d` (default 15m).")
            .q("limit", uint(), LIMIT)
            .ok(200, "The window's traces.", r("RecentTraces")),
        time_range(op("get", "/api/traces/analytics", "traces", "traceAnalytics", "Trace analytics in time buckets"))
            .ws()
            .q("window", s(), "How far back when `from` is absent (default 24h).")
            .q("interval", s(), "Bucket size (default 1h).")
            .q("groupBy", en(&["provider", "model", "intent", "strategy", "none"]), "How to group.")
            .ok(200, "Figures overall, per group and per bucket.", r("TraceAnalytics")),
        op("get", "/api/traces/{id}", "traces", "getTrace", "A trace (the spec's shape plus the attempt log)")
            .ok(200, "The trace.", r("Trace")),
        op("get", "/api/traces/{id}/explain", "traces", "explainTrace", "Why the router chose what it chose")
            .ok(200, "Every candidate, its scores and why it was passed over.", r("TraceExplanation")),
        op("get", "/api/traces/{id}/economics", "traces", "traceEconomics", "What the trace cost, and would have on the others")
            .ok(200, "Charges and alternatives.", r("TraceEconomics")),
        op("post", "/api/traces/{id}/replay", "traces", "replayTrace", "Replay a trace (dry run or live)")
            .describe("A live replay needs the trace's content (`contentCapture: full`), else 409.")
            .body_optional(r("ReplayRequest"))
            .ok(200, "The replay.", r("Replay"))
            .errors(CHAT_ERRORS),
        op("get", "/api/traces/{id}/compare/{id2}", "traces", "compareTraces", "Two traces field by field")
            .ok(200, "The comparison.", r("TraceComparison")),
        // ---- economics -----------------------------------------------------------------------
        op("get", "/api/economics/summary", "economics", "economicsSummary", "Spend this month, projected to month end")
            .ws()
            .q("month", json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}), "`YYYY-MM` (default this UTC month).")
            .ok(200, "The month's figures.", r("EconomicsSummary")),
        time_range(op("get", "/api/economics/providers", "economics", "economicsProviders", "Spend per provider and model"))
            .ws()
            .ok(200, "Per provider and model.", r("EconomicsProviders")),
        time_range(op("get", "/api/economics/categories", "economics", "economicsCategories", "Spend per catalog category and intent"))
            .ws()
            .ok(200, "Per category and intent.", r("EconomicsCategories")),
        time_range(op("get", "/api/economics/savings", "economics", "economicsSavings", "Actual spend against a baseline model"))
            .ws()
            .q("baseline", s(), "A chat model of the price table (default gpt-4o).")
            .ok(200, "Savings by strategy and intent.", r("EconomicsSavings")),
        time_range(op("get", "/api/economics/insights", "economics", "economicsInsights", "Re-routing recommendations"))
            .ws()
            .q("maxQualityDrop", num(), "Largest quality-prior drop a recommendation may cost (default 0.05).")
            .q("limit", range(1, 100), "Most recommendations (default 20).")
            .ok(200, "Recommendations.", r("EconomicsInsights")),
        op("get", "/api/economics/budget", "economics", "getBudget", "The budget and where spend stands")
            .ws()
            .ok(200, "The budget.", r("Budget")),
        op("patch", "/api/economics/budget", "economics", "changeBudget", "Change the budget (USD; null clears)")
            .admin()
            .ws()
            .body(r("BudgetPatch"))
            .ok(200, "The budget.", r("Budget"))
            .errors(&[409]),
        op("post", "/api/economics/simulate", "economics", "startSimulation", "Simulate a period under other settings")
            .body(r("SimulationRequest"))
            .example("one", json!({"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "strategy": "cost"}))
            .ok(202, "Started; poll `location`.", r("SimulationStarted"))
            .errors(&[404, 409]),
        op("get", "/api/economics/simulate/{id}", "economics", "getSimulation", "A simulation's progress and result")
            .ok(200, "The simulation.", r("Simulation")),
        // ---- admin ---------------------------------------------------------------------------
        time_range(op("get", "/api/admin/audit", "admin", "audit", "The audit log of configuration changes"))
            .admin()
            .q("workspace", s(), "Only this workspace's changes.")
            .q("actor", s(), "Only this key id's changes.")
            .q("action", s(), "Only this event type.")
            .q("cursor", s(), CURSOR)
            .q("limit", range(1, 1000), "Page size (default 100).")
            .page("Entries, newest first.", r("AuditEntry")),
        op("get", "/api/admin/tenancy", "admin", "tenancy", "Per workspace: keys, scoped resources, data held, limits, budget and isolation self-checks")
            .admin()
            .q("workspace", s(), "Only this workspace (the installation figures stay whole).")
            .errors(&[404])
            .ok(200, "The workspaces and the installation.", r("Tenancy")),
        // ---- OpenAI wire ---------------------------------------------------------------------
        layerr_headers(op("post", "/v1/chat/completions", "openai", "createChatCompletion", "OpenAI Chat Completions"))
            .ws()
            .body(r("ChatCompletionRequest"))
            .example("whole", json!({"model": "layerr-auto", "messages": [{"role": "user", "content": "Write a haiku about routers."}]}))
            .example("streamed", json!({"model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
                "layerr": {"strategy": "cost", "explain": true}}))
            .raw(200, "The completion, or with `stream: true` its chunks.", json, r("ChatCompletion"))
            .errors(CHAT_ERRORS),
        layerr_headers(op("post", "/v1/completions", "openai", "createCompletion", "OpenAI legacy text completions"))
            .ws()
            .body(r("CompletionRequest"))
            .example("whole", json!({"model": "gpt-4o-mini", "prompt": "Say this is a test", "max_tokens": 16}))
            .example("streamed", json!({"model": "gpt-4o-mini", "prompt": ["Once upon a time"], "stream": true}))
            .raw(200, "The completion, or with `stream: true` its chunks.", json, r("TextCompletion"))
            .errors(CHAT_ERRORS),
        op("post", "/v1/embeddings", "openai", "createEmbeddings", "OpenAI embeddings")
            .ws()
            .body(r("EmbeddingsRequest"))
            .example("one", json!({"model": "text-embedding-3-small", "input": "The food was delicious."}))
            .example("many", json!({"model": "text-embedding-3-small", "input": ["a", "b"]}))
            .raw(200, "The vectors.", json, r("Embeddings"))
            .errors(CHAT_ERRORS),
        op("get", "/v1/models", "openai", "listModels", "The models the workspace can reach (`layerr-auto` first)")
            .describe("With an `anthropic-version` header the answer is Anthropic's list shape (paged by `limit`, `after_id`, `before_id`). Unknown query parameters are ignored.")
            .ws()
            .header("anthropic-version", "Answer in Anthropic's list shape.")
            .q("limit", s(), "Anthropic clients: page size, 1 to 1000.")
            .q("after_id", s(), "Anthropic clients: the page after this model.")
            .q("before_id", s(), "Anthropic clients: the page before this model.")
            .raw(200, "The models.", json, super::dsl::one_of(vec![r("ModelList"), r("AnthropicModelList")])),
        op("get", "/v1/models/{model}", "openai", "getModel", "One model")
            .ws()
            .header("anthropic-version", "Answer in Anthropic's model shape.")
            .raw(200, "The model.", json, super::dsl::one_of(vec![r("Model"), r("AnthropicModel")])),
        layerr_headers(op("post", "/v1/responses", "openai", "createResponse", "OpenAI Responses"))
            .ws()
            .body(r("ResponseCreate"))
            .example("text", json!({"model": "gpt-4o-mini", "input": "Tell me a three sentence bedtime story.", "store": false}))
            .example("streamed", json!({"model": "gpt-4o-mini", "instructions": "Be brief.", "stream": true,
                "input": [{"role": "user", "content": "Hello"}]}))
            .raw(200, "The response, or with `stream: true` its events.", json, r("Response"))
            .errors(CHAT_ERRORS),
        op("get", "/v1/responses/{id}", "openai", "getResponse", "A stored response").ws().raw(200, "The response.", json, r("Response")),
        op("delete", "/v1/responses/{id}", "openai", "deleteResponse", "Delete a stored response")
            .ws()
            .raw(200, "Deleted.", json, r("ResponseDeleted"))
            .errors(&[409]),
        op("get", "/v1/responses/{id}/input_items", "openai", "listResponseInputItems", "A stored response's input items")
            .ws()
            .q("limit", uint(), "Page size (1 to 100, default 20).")
            .q("order", en(&["asc", "desc"]), "Order (default desc).")
            .q("after", s(), "The item id to list after.")
            .raw(200, "The items.", json, r("ResponseInputItems")),
        // ---- Anthropic wire ------------------------------------------------------------------
        layerr_headers(op("post", "/v1/messages", "anthropic", "createMessage", "Anthropic Messages"))
            .describe("Errors are in Anthropic's error shape. `anthropic-version` and `anthropic-beta` are forwarded to Anthropic upstreams. Unknown query parameters (`?beta=true`) are ignored.")
            .anthropic_errors()
            .header("anthropic-version", "Forwarded to Anthropic upstreams.")
            .header("anthropic-beta", "Forwarded to Anthropic upstreams.")
            .q("workspace", s(), "Admin keys: the workspace to act on.")
            .body(r("MessagesRequest"))
            .example("whole", json!({"model": "gpt-4o-mini", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello, Claude"}]}))
            .example("streamed", json!({"model": "gpt-4o-mini", "max_tokens": 64, "stream": true, "system": "Be brief.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}))
            .raw(200, "The message, or with `stream: true` its events.", json, r("MessagesResponse"))
            .errors(CHAT_ERRORS),
        op("post", "/v1/messages/count_tokens", "anthropic", "countTokens", "Estimate a Messages request's input tokens")
            .describe("The gateway's own estimate (about four characters a token plus framing), not a provider's tokenizer.")
            .anthropic_errors()
            .header("anthropic-version", "Accepted.")
            .q("workspace", s(), "Admin keys: the workspace to act on.")
            .body(r("CountTokensRequest"))
            .example("one", json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello, world"}]}))
            .raw(200, "The estimate.", json, r("CountTokens"))
            .errors(&[404]),
    ]
    .into_iter()
    .map(|o| stream_variants(o, sse))
    .collect()
}

/// Streamed answers of the `/v1` and `/api/chat` routes: the same 200, as server-sent events.
fn stream_variants(mut o: Op, sse: &'static str) -> Op {
    let events = match o.id {
        "createChatCompletion" | "createCompletion" | "chat" | "addMessages" => Some("ChatCompletionChunks"),
        "createResponse" => Some("ResponseEvents"),
        "createMessage" => Some("MessagesEvents"),
        _ => None,
    };
    if let Some(events) = events {
        if let Some(first) = o.ok.iter().position(|(status, ..)| *status == 200) {
            let (status, description, _, _) = o.ok[first];
            o.ok.push((status, description, sse, Some(r(events))));
        }
    }
    o
}
